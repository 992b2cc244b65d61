package ferry.compat;

import com.aliyun.odps.Column;
import com.aliyun.odps.Odps;
import com.aliyun.odps.OdpsException;
import com.aliyun.odps.OdpsType;
import com.aliyun.odps.PartitionSpec;
import com.aliyun.odps.account.AliyunAccount;
import com.aliyun.odps.data.ArrayRecord;
import com.aliyun.odps.data.Binary;
import com.aliyun.odps.data.Char;
import com.aliyun.odps.data.Record;
import com.aliyun.odps.data.RecordReader;
import com.aliyun.odps.data.RecordWriter;
import com.aliyun.odps.data.Varchar;
import com.aliyun.odps.tunnel.TableTunnel;
import com.aliyun.odps.tunnel.TunnelException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * MaxCompute's {@code TableTunnel} against ferry's Tunnel dialect.
 *
 * <p>Environment: FERRY_URL, FERRY_AK, FERRY_SK, PROJECT. The first argument names the scenario:
 * <ul>
 *   <li>{@code blocks TABLE PARTSPEC IDS_FILE THREADS}: one writer per block id (ids read from a
 *       file, written by parallel threads, every other one deflate-compressed), then reattach,
 *       block list, status, a commit with a wrong list, the commit, a retried commit, and a
 *       download of everything;
 *   <li>{@code buffered TABLE PARTSPEC ROWS}: {@code openBufferedWriter()} and {@code commit()};
 *   <li>{@code write-types TABLE PARTSPEC ROWS}: a row of every column type per row, printed as
 *       written;
 *   <li>{@code read-types TABLE PARTSPEC}: every row of a table, printed;
 *   <li>{@code expired TABLE PARTSPEC SLEEP_MS}: a session with one block, then (after the sleep)
 *       every operation on it, and what the SDK reports for each.
 * </ul>
 */
public final class TunnelScenario {
    static String project;

    public static void main(String[] args) throws Exception {
        Odps odps = new Odps(new AliyunAccount(Out.env("FERRY_AK"), Out.env("FERRY_SK")));
        odps.setEndpoint(Out.env("FERRY_URL") + "/odps");
        project = Out.env("PROJECT");
        odps.setDefaultProject(project);
        TableTunnel tunnel = new TableTunnel(odps);
        String table = args[1];
        PartitionSpec spec = new PartitionSpec(args[2]);
        switch (args[0]) {
            case "blocks" -> blocks(tunnel, table, spec, Path.of(args[3]), Integer.parseInt(args[4]));
            case "buffered" -> buffered(tunnel, table, spec, Integer.parseInt(args[3]));
            case "write-types" -> writeTypes(tunnel, table, spec, Integer.parseInt(args[3]));
            case "read-types" -> readTypes(tunnel, table, spec);
            case "expired" -> expired(tunnel, table, spec, Long.parseLong(args[3]));
            default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
        }
    }

    static void blocks(TableTunnel tunnel, String table, PartitionSpec spec, Path idsFile, int threads) throws Exception {
        List<Long> ids = new ArrayList<>();
        for (String line : Files.readAllLines(idsFile)) {
            if (!line.isBlank()) {
                ids.add(Long.parseLong(line.trim()));
            }
        }
        long t0 = System.nanoTime();
        TableTunnel.UploadSession created = tunnel.createUploadSession(project, table, spec);
        String uploadId = created.getId();
        // Every thread reattaches to the session by its id, as separate workers would.
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<?>> futures = new ArrayList<>();
        int per = (ids.size() + threads - 1) / threads;
        for (int t = 0; t < threads; t++) {
            List<Long> mine = ids.subList(Math.min(ids.size(), t * per), Math.min(ids.size(), (t + 1) * per));
            futures.add(pool.submit(() -> {
                TableTunnel.UploadSession s = tunnel.getUploadSession(project, table, spec, uploadId);
                for (long id : mine) {
                    try (RecordWriter w = s.openRecordWriter(id, id % 2 == 0)) {
                        Record r = s.newRecord();
                        r.setBigint(0, id);
                        r.setString(1, "block " + id);
                        w.write(r);
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : futures) {
            f.get();
        }
        pool.shutdown();
        Map<String, Object> out = Out.map();
        out.put("write_seconds", (System.nanoTime() - t0) / 1e9);

        // A block id past the dialect's range is refused by the server.
        try (RecordWriter w = created.openRecordWriter(20000)) {
            Record r = created.newRecord();
            r.setBigint(0, 20000L);
            w.write(r);
            out.put("block_20000", "accepted");
        } catch (Exception e) {
            out.put("block_20000", describe(e));
        }

        TableTunnel.UploadSession again = tunnel.getUploadSession(project, table, spec, uploadId);
        Long[] listed = again.getBlockList();
        TreeSet<Long> sorted = new TreeSet<>(Arrays.asList(listed));
        out.put("block_count", listed.length);
        out.put("block_list_matches", sorted.equals(new TreeSet<>(ids)));
        out.put("status_before", again.getStatus().toString());

        Long[] wrong = ids.subList(1, ids.size()).toArray(new Long[0]);
        try {
            again.commit(wrong);
            out.put("wrong_commit", "accepted");
        } catch (Exception e) {
            out.put("wrong_commit", describe(e));
        }
        Long[] missing = Arrays.copyOf(wrong, wrong.length + 1);
        missing[wrong.length] = 20001L;
        try {
            again.commit(missing);
            out.put("unknown_block_commit", "accepted");
        } catch (Exception e) {
            out.put("unknown_block_commit", describe(e));
        }
        out.put("status_after_refusals", again.getStatus().toString());
        Long[] all = ids.toArray(new Long[0]);
        long c0 = System.nanoTime();
        again.commit(all);
        out.put("commit_seconds", (System.nanoTime() - c0) / 1e9);
        out.put("status_after_commit", again.getStatus().toString());
        try {
            tunnel.getUploadSession(project, table, spec, uploadId).commit(all);
            out.put("retried_commit", "ok");
        } catch (Exception e) {
            out.put("retried_commit", describe(e));
        }

        long d0 = System.nanoTime();
        TableTunnel.DownloadSession down = tunnel.createDownloadSession(project, table, spec);
        out.put("download_count", down.getRecordCount());
        out.put("download_status", down.getStatus().toString());
        long sum = 0;
        long rows = 0;
        boolean textOk = true;
        try (RecordReader reader = down.openRecordReader(0, down.getRecordCount(), true)) {
            Record r;
            while ((r = reader.read()) != null) {
                long id = r.getBigint(0);
                sum += id;
                rows++;
                textOk &= ("block " + id).equals(r.getString(1));
            }
        }
        out.put("download_seconds", (System.nanoTime() - d0) / 1e9);
        out.put("download_rows", rows);
        out.put("download_id_sum", sum);
        out.put("download_text_ok", textOk);
        out.put("upload_id", uploadId);
        Out.line(out);
    }

    static void buffered(TableTunnel tunnel, String table, PartitionSpec spec, int rows) throws Exception {
        TableTunnel.UploadSession s = tunnel.createUploadSession(project, table, spec);
        try (RecordWriter w = s.openBufferedWriter()) {
            for (long i = 0; i < rows; i++) {
                Record r = s.newRecord();
                r.setBigint(0, i);
                r.setString(1, "buffered " + i);
                w.write(r);
            }
        }
        Map<String, Object> out = Out.map();
        out.put("blocks", Arrays.asList(tunnel.getUploadSession(project, table, spec, s.getId()).getBlockList()));
        s.commit();
        out.put("upload_id", s.getId());
        out.put("status", s.getStatus().toString());
        Out.line(out);
    }

    /** A row of every type: its values as written, for the test to compare with what pyodps reads. */
    static void writeTypes(TableTunnel tunnel, String table, PartitionSpec spec, int rows) throws Exception {
        TableTunnel.UploadSession s = tunnel.createUploadSession(project, table, spec);
        List<Object> written = new ArrayList<>();
        try (RecordWriter w = s.openRecordWriter(0, true)) {
            for (int i = 0; i < rows; i++) {
                Record r = s.newRecord();
                if (i % 5 != 4) { // every fifth row is all NULLs
                    fill(r, i);
                }
                w.write(r);
                written.add(render(r));
            }
        }
        s.commit(new Long[] {0L});
        Map<String, Object> out = Out.map();
        out.put("rows", written);
        Out.line(out);
    }

    static void fill(Record record, int i) {
        ArrayRecord r = (ArrayRecord) record;
        Column[] cols = r.getColumns();
        for (int c = 0; c < cols.length; c++) {
            OdpsType t = cols[c].getTypeInfo().getOdpsType();
            switch (t) {
                case BIGINT -> r.setBigint(c, i * 1_000_000_007L - 5);
                case INT -> r.setInt(c, i * 1000 - 70000);
                case SMALLINT -> r.setSmallint(c, (short) (i * 10 - 300));
                case TINYINT -> r.setTinyint(c, (byte) (i - 100));
                case DOUBLE -> r.setDouble(c, i / 3.0);
                case FLOAT -> r.setFloat(c, i + 0.5f);
                case BOOLEAN -> r.setBoolean(c, i % 2 == 0);
                case STRING -> r.setString(c, "java row " + i + " é 中");
                case BINARY -> r.setBinary(c, new Binary(new byte[] {(byte) i, 0, (byte) 255}));
                case VARCHAR -> r.setVarchar(c, new Varchar("vc" + i));
                case CHAR -> r.setChar(c, new Char("c" + (i % 10)));
                case DATETIME -> r.setDatetime(c, new Date(1_704_110_400_000L + i * 1000L)); // 2024-01-01T12:00Z
                case DATE -> r.setDateAsLocalDate(c, LocalDate.of(2024, 2, 29).plusDays(i));
                case DECIMAL -> r.setDecimal(c, BigDecimal.valueOf(i * 7L - 300, 2));
                case TIMESTAMP -> r.setTimestampAsInstant(c, Instant.ofEpochSecond(1_709_251_200L + i, 123_456_789));
                default -> throw new IllegalArgumentException("no value for " + t);
            }
        }
    }

    /** One row as JSON-friendly values; the Python side renders pyodps values the same way. */
    static List<Object> render(Record record) {
        ArrayRecord r = (ArrayRecord) record;
        Column[] cols = r.getColumns();
        List<Object> row = new ArrayList<>();
        for (int c = 0; c < cols.length; c++) {
            if (r.get(c) == null) {
                row.add(null);
                continue;
            }
            OdpsType t = cols[c].getTypeInfo().getOdpsType();
            row.add(switch (t) {
                case BIGINT -> String.valueOf(r.getBigint(c));
                case INT -> String.valueOf(r.getInt(c));
                case SMALLINT -> String.valueOf(r.getSmallint(c));
                case TINYINT -> String.valueOf(r.getTinyint(c));
                case DOUBLE -> r.getDouble(c);
                case FLOAT -> (double) r.getFloat(c);
                case BOOLEAN -> r.getBoolean(c);
                case STRING -> r.getString(c);
                case BINARY -> Base64.getEncoder().encodeToString(r.getBinary(c).data());
                case VARCHAR -> r.getVarchar(c).getValue();
                case CHAR -> r.getChar(c).getValue();
                case DATETIME -> String.valueOf(r.getDatetime(c).getTime());
                case DATE -> r.getDateAsLocalDate(c).toString();
                case DECIMAL -> r.getDecimal(c).toPlainString();
                case TIMESTAMP -> {
                    Instant ts = r.getTimestampAsInstant(c);
                    yield ts.getEpochSecond() + "." + String.format("%09d", ts.getNano());
                }
                default -> throw new IllegalArgumentException("cannot render " + t);
            });
        }
        return row;
    }

    static void readTypes(TableTunnel tunnel, String table, PartitionSpec spec) throws Exception {
        TableTunnel.DownloadSession down = tunnel.createDownloadSession(project, table, spec);
        List<Object> rows = new ArrayList<>();
        try (RecordReader reader = down.openRecordReader(0, down.getRecordCount())) {
            Record r;
            while ((r = reader.read()) != null) {
                rows.add(render(r));
            }
        }
        Map<String, Object> out = Out.map();
        out.put("rows", rows);
        Out.line(out);
    }

    static void expired(TableTunnel tunnel, String table, PartitionSpec spec, long sleepMs) throws Exception {
        TableTunnel.UploadSession s = tunnel.createUploadSession(project, table, spec);
        try (RecordWriter w = s.openRecordWriter(0)) {
            Record r = s.newRecord();
            r.setBigint(0, 1L);
            r.setString(1, "before");
            w.write(r);
        }
        Map<String, Object> out = Out.map();
        out.put("upload_id", s.getId());
        out.put("status_before", s.getStatus().toString());
        Thread.sleep(sleepMs);
        out.put("reattach", attempt(() -> tunnel.getUploadSession(project, table, spec, s.getId()).getStatus()));
        out.put("status", attempt(s::getStatus));
        out.put("write", attempt(() -> {
            try (RecordWriter w = s.openRecordWriter(1)) {
                Record r = s.newRecord();
                r.setBigint(0, 2L);
                w.write(r);
            }
            return null;
        }));
        out.put("commit", attempt(() -> {
            s.commit(new Long[] {0L});
            return null;
        }));
        Out.line(out);
    }

    interface Call {
        Object run() throws Exception;
    }

    static Object attempt(Call call) {
        try {
            Object v = call.run();
            return "ok" + (v == null ? "" : " " + v);
        } catch (Exception e) {
            return describe(e);
        }
    }

    /** What the SDK reports: its error code, HTTP status and message, as a caller would see them. */
    static Map<String, Object> describe(Throwable e) {
        Map<String, Object> m = Out.map();
        m.put("class", e.getClass().getSimpleName());
        Throwable cur = e;
        while (cur != null) {
            if (cur instanceof OdpsException oe) {
                m.put("code", oe.getErrorCode());
                m.put("status", oe.getStatus());
                if (oe instanceof TunnelException te) {
                    m.put("error_msg", te.getErrorMsg());
                }
                break;
            }
            cur = cur.getCause();
        }
        m.put("message", String.valueOf(e.getMessage()));
        return m;
    }

}
