package ferry.compat;

import com.aliyun.oss.ClientBuilderConfiguration;
import com.aliyun.oss.OSS;
import com.aliyun.oss.OSSClientBuilder;
import com.aliyun.oss.event.ProgressEvent;
import com.aliyun.oss.event.ProgressEventType;
import com.aliyun.oss.event.ProgressListener;
import com.aliyun.oss.model.Callback;
import com.aliyun.oss.model.CompleteMultipartUploadResult;
import com.aliyun.oss.model.ObjectMetadata;
import com.aliyun.oss.model.UploadFileRequest;
import com.aliyun.oss.model.UploadFileResult;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.lang.reflect.Field;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code ossClient.uploadFile(UploadFileRequest)} with a task count, a part size, a checkpoint
 * file, a content type, an upload callback and a progress listener.
 *
 * <p>Environment: FERRY_URL, FERRY_AK, FERRY_SK, BUCKET, KEY, FILE, PART_SIZE, TASK_NUM,
 * CONTENT_TYPE, CALLBACK_URL (optional), PARK_AT (optional: once that many bytes went out, every
 * upload thread stops in the progress listener and says so, so that the test kills the JVM mid-way
 * at a moment when no thread is writing the checkpoint file).
 *
 * <p>Prints {@code {"progress": bytes}} lines while it runs and one result line at the end.
 */
public final class OssUploadFile {
    public static void main(String[] args) throws Throwable {
        String file = Out.env("FILE");
        String checkpoint = file + ".ucp";
        Map<String, Object> result = Out.map();
        result.put("checkpoint_parts_before", checkpointParts(checkpoint));

        ClientBuilderConfiguration conf = new ClientBuilderConfiguration();
        conf.setSLDEnabled(true); // path-style addressing: the bucket is not a DNS name here
        conf.setMaxErrorRetry(0);
        OSS client = new OSSClientBuilder().build(Out.env("FERRY_URL"), Out.env("FERRY_AK"), Out.env("FERRY_SK"), conf);
        try {
            UploadFileRequest req = new UploadFileRequest(Out.env("BUCKET"), Out.env("KEY"));
            req.setUploadFile(file);
            req.setTaskNum(Integer.parseInt(Out.env("TASK_NUM")));
            req.setPartSize(Long.parseLong(Out.env("PART_SIZE")));
            req.setEnableCheckpoint(true);
            req.setCheckpointFile(checkpoint);
            ObjectMetadata meta = new ObjectMetadata();
            meta.setContentType(Out.env("CONTENT_TYPE"));
            meta.addUserMetadata("origin", "java-sdk");
            req.setObjectMetadata(meta);
            String callbackUrl = System.getenv("CALLBACK_URL");
            if (callbackUrl != null && !callbackUrl.isEmpty()) {
                Callback cb = new Callback();
                cb.setCallbackUrl(callbackUrl);
                cb.setCallbackBody("bucket=${bucket}&object=${object}&size=${size}&mime=${mimeType}&v=${x:v}");
                cb.setCalbackBodyType(Callback.CalbackBodyType.URL);
                cb.addCallbackVar("x:v", "java");
                req.setCallback(cb);
            }
            long parkAt = Long.parseLong(System.getenv().getOrDefault("PARK_AT", "0"));
            AtomicLong sent = new AtomicLong();
            AtomicLong partsDone = new AtomicLong();
            AtomicLong events = new AtomicLong();
            req.setProgressListener(new ProgressListener() {
                @Override
                public void progressChanged(ProgressEvent e) {
                    events.incrementAndGet();
                    if (e.getEventType() == ProgressEventType.REQUEST_BYTE_TRANSFER_EVENT) {
                        long now = sent.addAndGet(e.getBytes());
                        if (parkAt > 0 && now >= parkAt) {
                            Map<String, Object> p = Out.map();
                            p.put("parked", Thread.currentThread().getName());
                            p.put("progress", now);
                            Out.line(p);
                            try {
                                Thread.sleep(600_000);
                            } catch (InterruptedException ie) {
                                Thread.currentThread().interrupt();
                            }
                        }
                    } else if (e.getEventType() == ProgressEventType.TRANSFER_PART_COMPLETED_EVENT) {
                        partsDone.incrementAndGet();
                    }
                }
            });
            UploadFileResult up = client.uploadFile(req);
            CompleteMultipartUploadResult done = up.getMultipartUploadResult();
            result.put("etag", done.getETag());
            result.put("crc", done.getServerCRC() == null ? null : Long.toUnsignedString(done.getServerCRC()));
            result.put("progress_bytes", sent.get());
            result.put("progress_events", events.get());
            if (done.getCallbackResponseBody() != null) {
                result.put("callback_answer", readAll(done.getCallbackResponseBody()));
            }
            result.put("checkpoint_exists", new File(checkpoint).exists());
            Out.line(result);
        } finally {
            client.shutdown();
        }
    }

    /** The parts an existing checkpoint file records as done (-1: no checkpoint file). */
    @SuppressWarnings("unchecked")
    static int checkpointParts(String path) throws Exception {
        File f = new File(path);
        if (!f.exists()) {
            return -1;
        }
        try (ObjectInputStream in = new ObjectInputStream(new FileInputStream(f))) {
            Object ucp = in.readObject();
            Field parts = ucp.getClass().getDeclaredField("partETags");
            parts.setAccessible(true);
            return ((List<Object>) parts.get(ucp)).size();
        }
    }

    static String readAll(InputStream in) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        in.transferTo(buf);
        return buf.toString("UTF-8");
    }
}
