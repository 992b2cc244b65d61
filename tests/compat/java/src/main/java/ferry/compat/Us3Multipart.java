package ferry.compat;

import cn.ucloud.ufile.UfileClient;
import cn.ucloud.ufile.api.object.ObjectApiBuilder;
import cn.ucloud.ufile.api.object.ObjectConfig;
import cn.ucloud.ufile.api.object.multi.MultiUploadInfo;
import cn.ucloud.ufile.api.object.multi.MultiUploadPartState;
import cn.ucloud.ufile.auth.UfileObjectLocalAuthorization;
import cn.ucloud.ufile.bean.MultiUploadResponse;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The US3 Java SDK's multipart upload: init, every block, finish.
 *
 * <p>Environment: FERRY_AK, FERRY_SK, US3_HOST (the bucket's own host, e.g.
 * {@code http://bkt.us3.ferry.test:1234}, resolved through {@code -Djdk.net.hosts.file}), BUCKET,
 * KEY, FILE, MIME.
 */
public final class Us3Multipart {
    public static void main(String[] args) throws Exception {
        ObjectApiBuilder api = UfileClient.object(
                new UfileObjectLocalAuthorization(Out.env("FERRY_AK"), Out.env("FERRY_SK")),
                new ObjectConfig(Out.env("US3_HOST")));
        String bucket = Out.env("BUCKET");
        MultiUploadInfo info = api.initMultiUpload(Out.env("KEY"), Out.env("MIME"), bucket).execute();
        int block = info.getBlkSize();
        List<MultiUploadPartState> states = new ArrayList<>();
        try (InputStream in = Files.newInputStream(Path.of(Out.env("FILE")))) {
            int index = 0;
            while (true) {
                byte[] buf = in.readNBytes(block);
                if (buf.length == 0) {
                    break;
                }
                states.add(api.multiUploadPart(info, buf, index++).execute());
            }
        }
        MultiUploadResponse done = api.finishMultiUpload(info, states).execute();
        Map<String, Object> out = Out.map();
        out.put("upload_id", info.getUploadId());
        out.put("block_size", block);
        out.put("parts", states.size());
        out.put("part_etags", states.stream().map(MultiUploadPartState::geteTag).toList());
        out.put("etag", done.geteTag());
        out.put("size", done.getFileSize());
        Out.line(out);
    }
}
