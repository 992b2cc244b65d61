package ferry.compat;

import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.transfer.s3.S3TransferManager;
import software.amazon.awssdk.transfer.s3.model.CompletedDirectoryDownload;
import software.amazon.awssdk.transfer.s3.model.CompletedDirectoryUpload;
import software.amazon.awssdk.transfer.s3.model.CompletedFileDownload;
import software.amazon.awssdk.transfer.s3.model.CompletedFileUpload;
import software.amazon.awssdk.transfer.s3.model.DownloadDirectoryRequest;
import software.amazon.awssdk.transfer.s3.model.DownloadFileRequest;
import software.amazon.awssdk.transfer.s3.model.FileUpload;
import software.amazon.awssdk.transfer.s3.model.ResumableFileUpload;
import software.amazon.awssdk.transfer.s3.model.UploadDirectoryRequest;
import software.amazon.awssdk.transfer.s3.model.UploadFileRequest;
import software.amazon.awssdk.transfer.s3.progress.TransferListener;

/**
 * The AWS SDK for Java v2 {@code S3TransferManager} over the SDK's own multipart async client.
 *
 * <p>Environment: FERRY_URL, FERRY_AK, FERRY_SK, BUCKET. Arguments:
 * <ul>
 *   <li>{@code upload KEY FILE}, {@code download KEY FILE};
 *   <li>{@code upload-dir DIR PREFIX}, {@code download-dir PREFIX DIR};
 *   <li>{@code pause KEY FILE TOKEN FRACTION}: start an upload, pause it once FRACTION of the bytes
 *       went out, and write the resume token to TOKEN;
 *   <li>{@code resume TOKEN}: resume the upload from its token (in a new JVM).
 * </ul>
 */
public final class S3Transfer {
    static final long MiB = 1024 * 1024;

    public static void main(String[] args) throws Exception {
        S3AsyncClient s3 = S3AsyncClient.builder()
                .endpointOverride(URI.create(Out.env("FERRY_URL")))
                .region(Region.US_EAST_1)
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(Out.env("FERRY_AK"), Out.env("FERRY_SK"))))
                .forcePathStyle(true)
                .multipartEnabled(true)
                .multipartConfiguration(c -> c.minimumPartSizeInBytes(5 * MiB).thresholdInBytes(8 * MiB))
                .build();
        String bucket = Out.env("BUCKET");
        Map<String, Object> out = Out.map();
        try (S3TransferManager tm = S3TransferManager.builder().s3Client(s3).build()) {
            switch (args[0]) {
                case "upload" -> {
                    CompletedFileUpload done = tm.uploadFile(UploadFileRequest.builder()
                            .putObjectRequest(b -> b.bucket(bucket).key(args[1]).contentType("application/x-java-test"))
                            .source(Path.of(args[2]))
                            .build()).completionFuture().join();
                    out.put("etag", done.response().eTag());
                }
                case "download" -> {
                    CompletedFileDownload done = tm.downloadFile(DownloadFileRequest.builder()
                            .getObjectRequest(b -> b.bucket(bucket).key(args[1]))
                            .destination(Path.of(args[2]))
                            .build()).completionFuture().join();
                    out.put("length", done.response().contentLength());
                    out.put("content_type", done.response().contentType());
                }
                case "upload-dir" -> {
                    CompletedDirectoryUpload done = tm.uploadDirectory(UploadDirectoryRequest.builder()
                            .source(Path.of(args[1])).bucket(bucket).s3Prefix(args[2]).build()).completionFuture().join();
                    out.put("failed", done.failedTransfers().stream().map(f -> String.valueOf(f.exception())).toList());
                }
                case "download-dir" -> {
                    CompletedDirectoryDownload done = tm.downloadDirectory(DownloadDirectoryRequest.builder()
                            .destination(Path.of(args[2])).bucket(bucket)
                            .listObjectsV2RequestTransformer(l -> l.prefix(args[1])).build()).completionFuture().join();
                    out.put("failed", done.failedTransfers().stream().map(f -> String.valueOf(f.exception())).toList());
                }
                case "pause" -> pause(tm, bucket, args[1], Path.of(args[2]), Path.of(args[3]), Double.parseDouble(args[4]), out);
                case "resume" -> {
                    ResumableFileUpload token = ResumableFileUpload.fromFile(Path.of(args[1]));
                    CompletedFileUpload done = tm.resumeUploadFile(token).completionFuture().join();
                    out.put("etag", done.response().eTag());
                }
                default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
            }
        }
        Out.line(out);
    }

    static void pause(S3TransferManager tm, String bucket, String key, Path file, Path token, double fraction,
                      Map<String, Object> out) throws Exception {
        long size = file.toFile().length();
        CompletableFuture<Void> reached = new CompletableFuture<>();
        AtomicReference<Long> seen = new AtomicReference<>(0L);
        FileUpload upload = tm.uploadFile(UploadFileRequest.builder()
                .putObjectRequest(b -> b.bucket(bucket).key(key))
                .source(file)
                .addTransferListener(new TransferListener() {
                    @Override
                    public void bytesTransferred(Context.BytesTransferred context) {
                        long sent = context.progressSnapshot().transferredBytes();
                        seen.set(sent);
                        if (sent >= size * fraction) {
                            reached.complete(null);
                        }
                    }
                })
                .build());
        reached.join();
        ResumableFileUpload paused = upload.pause();
        paused.serializeToFile(token);
        out.put("upload_id", paused.multipartUploadId().orElse(null));
        out.put("total_parts", paused.totalParts().isPresent() ? paused.totalParts().getAsLong() : null);
        out.put("transferred_parts", paused.transferredParts().isPresent() ? paused.transferredParts().getAsLong() : null);
        out.put("bytes_at_pause", seen.get());
    }
}
