"""The vendors' own Java SDKs, unmodified, against a real `ferry serve`: the Aliyun OSS SDK's
`uploadFile` (checkpoint, kill -9 and rerun, callback, progress), MaxCompute's `TableTunnel`
(20000-id block range in parallel threads, buffered writer, commits, downloads, every column type
both ways with pyodps, expiry), the US3 Java SDK's multipart upload, and the AWS SDK for Java v2
`S3TransferManager` (files, directories, pause and resume through the resume token).

The scenario programs live in `tests/compat/java/` (a Maven module, no vendored code); it is built
once per run, then every scenario is a `java` process whose last stdout line is JSON. Results are
checked from Python too (boto3, oss2, pyodps), so each scenario is also a cross-language check."""

import base64
import concurrent.futures
import contextlib
import datetime
import decimal
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import oss2
import pandas as pd
import pytest
from odps.models import TableSchema
from odps.tunnel import TableTunnel
from odps.types import Column, Partition

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer
from test_tunnel import odps_for, read_all, table_name

JAVA_DIR = Path(__file__).parent / "java"
KiB, MiB = 1024, 1024 * 1024


@pytest.fixture(scope="session")
def java_cp():
    """Builds the scenario module once (dependencies come from Maven Central) and returns its classpath."""
    mvn, java = shutil.which("mvn"), shutil.which("java")
    assert mvn and java, "scripts/test.sh installs maven and a JDK"
    out = JAVA_DIR / "target" / "classpath.txt"
    subprocess.run([mvn, "-q", "-B", "-f", str(JAVA_DIR / "pom.xml"), "compile", "dependency:build-classpath",
                    f"-Dmdep.outputFile={out}"], check=True, timeout=1200)
    return os.pathsep.join([str(JAVA_DIR / "target" / "classes"), out.read_text().strip()])


def java_cmd(cp, main, *args, jvm=()):
    return [shutil.which("java"), "-Xshare:auto", "-XX:TieredStopAtLevel=1", *jvm, "-cp", cp, f"ferry.compat.{main}",
            *map(str, args)]


def java_env(server, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ALIBABA_", "OSS_"))}
    env.update({"FERRY_URL": server.url, "FERRY_AK": ACCESS_KEY, "FERRY_SK": SECRET_KEY, "PROJECT": "proj",
                "AWS_EC2_METADATA_DISABLED": "true"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_java(cp, main, *args, env, jvm=(), timeout=600):
    r = subprocess.run(java_cmd(cp, main, *args, jvm=jvm), capture_output=True, text=True, env=env, timeout=timeout)
    assert r.returncode == 0, f"{main} {args} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def metric(server, dialect, operation):
    """Requests ferry answered for one operation (any status), from its own metrics."""
    text = urllib.request.urlopen(server.url + "/metrics").read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("ferry_requests_total{") and f'dialect="{dialect}"' in line
               and f'operation="{operation}"' in line)


# ---------------------------------------------------------------------------------------- OSS


class CallbackReceiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        CallbackReceiver.received.append((self.headers.get("Content-Type"), body))
        answer = b'{"received":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def callback_url():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), CallbackReceiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    CallbackReceiver.received.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/java-cb"
    httpd.shutdown()
    httpd.server_close()


def test_oss_upload_file_killed_mid_way_resumes_from_its_checkpoint(server, s3, bucket, tmp_path, java_cp,
                                                                     callback_url):
    data = os.urandom(12 * MiB + 777)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    ucp = Path(str(src) + ".ucp")
    part_size = 100 * KiB  # the smallest part size the SDK allows
    total_parts = -(-len(data) // part_size)
    env = java_env(server, BUCKET=bucket, KEY="java/big.bin", FILE=src, PART_SIZE=part_size, TASK_NUM=3,
                   CONTENT_TYPE="application/x-ferry-java", CALLBACK_URL=callback_url)

    # First run: once a third of the bytes went out, each upload thread stops in the progress
    # listener; when all have stopped (none is writing the checkpoint), kill -9.
    proc = subprocess.Popen(java_cmd(java_cp, "OssUploadFile"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**env, "PARK_AT": str(len(data) // 3)})
    parked, progress = set(), 0
    watchdog = threading.Timer(180, proc.kill)  # a JVM that never parks must not hang the suite
    watchdog.start()
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if "parked" in event:
                parked.add(event["parked"])
                progress = max(progress, event["progress"])
            if len(parked) == 3:
                break
    finally:
        watchdog.cancel()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert len(parked) == 3, "three upload threads (setTaskNum(3))"
    assert len(data) // 3 <= progress < len(data), "killed mid-way"
    assert ucp.exists(), "the checkpoint file is there after the kill"
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, bucket)
    uploads = b.list_multipart_uploads(prefix="java/").upload_list
    assert len(uploads) == 1
    stored = len(b.list_parts("java/big.bin", uploads[0].upload_id).parts)
    assert 0 < stored < total_parts
    assert not b.object_exists("java/big.bin")

    # Second run: only the parts the checkpoint does not hold go out again.
    before = metric(server, "oss", "UploadPart")
    out = run_java(java_cp, "OssUploadFile", env=env)
    sent = metric(server, "oss", "UploadPart") - before
    in_checkpoint = out["checkpoint_parts_before"]
    assert 0 < in_checkpoint <= stored
    assert sent == total_parts - in_checkpoint, (sent, total_parts, in_checkpoint, stored)
    assert out["checkpoint_exists"] is False and not ucp.exists(), "the .ucp file is removed on success"
    assert out["progress_events"] > 0 and out["progress_bytes"] > 0

    # The object, as oss2 and boto3 see it.
    got = b.get_object("java/big.bin")
    assert got.read() == data
    head = b.head_object("java/big.bin")
    assert head.content_type == "application/x-ferry-java"
    assert head.headers["x-oss-meta-origin"] == "java-sdk"
    crc = oss2.utils.Crc64(0)
    crc.update(data)
    assert head.server_crc == crc.crc
    # With a callback the SDK keeps the callback's answer instead of parsing the CRC header.
    assert out["crc"] is None or int(out["crc"]) == crc.crc
    assert s3.get_object(Bucket=bucket, Key="java/big.bin")["Body"].read() == data

    # The callback reached the receiver once (for the completing run) and its answer the SDK.
    assert len(CallbackReceiver.received) == 1
    content_type, body = CallbackReceiver.received[0]
    assert content_type == "application/x-www-form-urlencoded"
    assert body == f"bucket={bucket}&object=java%2Fbig.bin&size={len(data)}&mime=application%2Fx-ferry-java&v=java" \
        or body == f"bucket={bucket}&object=java/big.bin&size={len(data)}&mime=application/x-ferry-java&v=java", body
    assert json.loads(out["callback_answer"]) == {"received": True}


# ------------------------------------------------------------------------------------- Tunnel

EVERY_TYPE = ["bigint", "int", "smallint", "tinyint", "double", "float", "boolean", "string", "binary",
              "varchar(20)", "char(4)", "datetime", "date", "decimal(10,2)", "timestamp"]


def every_type_table(o):
    name = table_name()
    schema = TableSchema(columns=[Column(f"c_{i}", t) for i, t in enumerate(EVERY_TYPE)],
                         partitions=[Partition("pt", "string")])
    o.create_table(name, schema)
    o.get_table(name).create_partition("pt=a")
    return name


def render(kind, v):
    """A pyodps value the way TunnelScenario.render prints the Java SDK's."""
    if v is None:
        return None
    if kind in ("bigint", "int", "smallint", "tinyint"):
        return str(v)
    if kind in ("double", "float"):
        return float(v)
    if kind == "binary":
        return base64.b64encode(v).decode()
    if kind == "datetime":  # pyodps gives local time, as the JVM does
        return str(round(v.timestamp() * 1000))
    if kind == "date":
        return v.isoformat()
    if kind.startswith("decimal"):
        return v
    if kind == "timestamp":
        seconds = int(v.to_pydatetime().replace(microsecond=0).timestamp())
        return f"{seconds}.{v.microsecond * 1000 + v.nanosecond:09d}"
    return v


def same_rows(java_rows, py_rows):
    assert len(java_rows) == len(py_rows)
    for jr, pr in zip(java_rows, py_rows):
        for kind, jv, pv in zip(EVERY_TYPE, jr, pr):
            want = render(kind, pv)
            if kind.startswith("decimal") and jv is not None:
                assert decimal.Decimal(jv) == want, (kind, jv, pv)
            else:
                assert jv == want, (kind, jv, pv)


def test_tunnel_every_type_written_by_java_is_read_by_pyodps(server, java_cp):
    o = odps_for(server)
    name = every_type_table(o)
    out = run_java(java_cp, "TunnelScenario", "write-types", name, "pt=a", 40, env=java_env(server))
    rows = read_all(o, name, "pt=a")
    same_rows(out["rows"], [[r[f"c_{i}"] for i in range(len(EVERY_TYPE))] for r in rows])
    assert sum(1 for r in out["rows"] if all(v is None for v in r)) == 8, "every fifth row is all NULLs"


def test_tunnel_every_type_written_by_pyodps_is_read_by_java(server, java_cp):
    o = odps_for(server)
    name = every_type_table(o)
    up = TableTunnel(o).create_upload_session(name, partition_spec="pt=a")
    expected = []
    with up.open_record_writer(0) as w:
        for i in range(40):
            row = [None] * len(EVERY_TYPE) if i % 5 == 4 else [
                i * 1_000_000_007 - 5, i * 1000 - 70000, i * 10 - 300, i - 100, i / 3, i + 0.5, i % 2 == 1,
                f"py row {i} é 中", bytes([i, 0, 255]), f"vc{i}", f"c{i % 10}",
                datetime.datetime(2024, 1, 1, 12, 0, 0) + datetime.timedelta(seconds=i),
                datetime.date(2024, 2, 29) + datetime.timedelta(days=i), decimal.Decimal(i * 7 - 300) / 100,
                pd.Timestamp("2024-03-01 00:00:00.123456789") + pd.Timedelta(seconds=i)]
            w.write(up.new_record(row))
            expected.append(row)
    up.commit([0])
    out = run_java(java_cp, "TunnelScenario", "read-types", name, "pt=a", env=java_env(server))
    same_rows(out["rows"], expected)


def test_tunnel_20000_block_ids_in_parallel_threads_commit_and_download(server, java_cp, tmp_path):
    o = odps_for(server)
    name = table_name()
    o.create_table(name, TableSchema(columns=[Column("id", "bigint"), Column("s", "string")],
                                     partitions=[Partition("pt", "string")]))
    o.get_table(name).create_partition("pt=blocks")
    # Every block id the dialect allows: 0..19999, one writer each.
    ids = list(range(20000))
    (tmp_path / "ids.txt").write_text("\n".join(map(str, ids)))
    out = run_java(java_cp, "TunnelScenario", "blocks", name, "pt=blocks", tmp_path / "ids.txt", 8,
                   env=java_env(server))
    print(f"{len(ids)} blocks: written in {out['write_seconds']:.1f} s, committed in {out['commit_seconds']:.1f} s, "
          f"read back in {out['download_seconds']:.1f} s")
    assert out["block_20000"]["code"] == "InvalidArgument" and "block id" in out["block_20000"]["message"]
    assert out["block_count"] == len(ids) and out["block_list_matches"] is True
    assert out["status_before"] == "NORMAL"
    assert "not match" in out["wrong_commit"]["message"].lower() or "Block" in out["wrong_commit"]["message"]
    assert out["unknown_block_commit"] != "accepted"
    assert out["status_after_refusals"] == "NORMAL", "a refused commit publishes nothing"
    assert out["status_after_commit"] == "CLOSED"
    assert out["retried_commit"] == "ok", out["retried_commit"]
    assert out["download_count"] == len(ids) and out["download_rows"] == len(ids)
    assert out["download_id_sum"] == sum(ids) and out["download_text_ok"] is True
    # The same rows through pyodps, once: the retried commit published nothing twice.
    t0 = time.monotonic()
    got = sorted(r["id"] for r in read_all(o, name, "pt=blocks"))
    print(f"pyodps read back in {time.monotonic() - t0:.1f} s")
    assert got == ids


def test_tunnel_buffered_writer_and_commit(server, java_cp):
    o = odps_for(server)
    name = table_name()
    o.create_table(name, TableSchema(columns=[Column("id", "bigint"), Column("s", "string")],
                                     partitions=[Partition("pt", "string")]))
    o.get_table(name).create_partition("pt=buf")
    out = run_java(java_cp, "TunnelScenario", "buffered", name, "pt=buf", 30000, env=java_env(server))
    assert out["status"] == "CLOSED" and len(out["blocks"]) >= 1
    rows = read_all(o, name, "pt=buf")
    assert sorted((r["id"], r["s"]) for r in rows) == [(i, f"buffered {i}") for i in range(30000)]


@contextlib.contextmanager
def private_server(tmp_path, *flags):
    (tmp_path / "data").mkdir()
    srv = FerryServer(tmp_path / "data", *flags, "--sweep-interval", "60s").start()
    try:
        yield srv
    finally:
        srv.stop()


def expired_session_report(tmp_path, java_cp, flags):
    """One server with `flags`: a Java session with one block, used again after 4.5 s."""
    with private_server(tmp_path, *flags) as srv:
        o = odps_for(srv)
        name = table_name()
        o.create_table(name, TableSchema(columns=[Column("id", "bigint"), Column("s", "string")],
                                         partitions=[Partition("pt", "string")]))
        o.get_table(name).create_partition("pt=x")
        out = run_java(java_cp, "TunnelScenario", "expired", name, "pt=x", 4500, env=java_env(srv))
        out["published"] = read_all(o, name, "pt=x")
        return out


def test_tunnel_expired_sessions_as_the_java_sdk_reports_them(tmp_path, java_cp):
    # Lifetime and idle time on two servers at once: the two waits overlap.
    cases = {"lifetime": ("--session-lifetime", "3s"), "idle": ("--idle-timeout", "2s")}
    for case in cases:
        (tmp_path / case).mkdir()
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
        futures = {case: pool.submit(expired_session_report, tmp_path / case, java_cp, flags)
                   for case, flags in cases.items()}
        reports = {case: f.result() for case, f in futures.items()}
    for case, out in reports.items():
        assert out["status_before"] == "NORMAL", case
        assert out["reattach"] == "ok EXPIRED", (case, out["reattach"])
        assert out["status"] == "ok EXPIRED", (case, out["status"])
        write = out["write"]
        assert write["code"] == "NoSuchUpload" and write["status"] == 404 and "EXPIRED" in write["message"], write
        # commit(Long[]) compares the list with the server's first: an expired session holds no
        # block, so the SDK refuses before it sends the commit.
        assert out["commit"]["class"] == "TunnelException" and "server: 0" in out["commit"]["message"], out["commit"]
        assert out["published"] == [], f"{case}: nothing was published"


# ---------------------------------------------------------------------------------------- US3

US3_DOMAIN = "us3.ferry.test"


def test_us3_java_sdk_multipart_upload(tmp_path, java_cp):
    (tmp_path / "data").mkdir()
    srv = FerryServer(tmp_path / "data", "--us3-domain", US3_DOMAIN, "--us3-block-size", str(MiB)).start()
    try:
        srv.client().create_bucket(Bucket="jbkt")
        hosts = tmp_path / "hosts"
        hosts.write_text(f"127.0.0.1 jbkt.{US3_DOMAIN}\n")
        data = os.urandom(3 * MiB + 4321)
        (tmp_path / "u.bin").write_bytes(data)
        out = run_java(java_cp, "Us3Multipart", jvm=[f"-Djdk.net.hosts.file={hosts}"],
                       env=java_env(srv, US3_HOST=f"http://jbkt.{US3_DOMAIN}:{srv.port}", BUCKET="jbkt",
                                    KEY="java/u.bin", FILE=tmp_path / "u.bin", MIME="application/x-us3-java"))
        assert out["block_size"] == MiB and out["parts"] == 4 and out["size"] == len(data)
        got = srv.client().get_object(Bucket="jbkt", Key="java/u.bin")
        assert got["Body"].read() == data
        assert got["ContentType"] == "application/x-us3-java"
    finally:
        srv.stop()


# ----------------------------------------------------------------------------------------- S3


def test_s3_transfer_manager_file_and_directory_round_trips(server, s3, bucket, tmp_path, java_cp):
    env = java_env(server, BUCKET=bucket)
    data = os.urandom(21 * MiB + 5)  # past the 8 MiB threshold: a multipart upload of 5 MiB parts
    (tmp_path / "f.bin").write_bytes(data)
    before = metric(server, "s3", "UploadPart")
    run_java(java_cp, "S3Transfer", "upload", "tm/f.bin", tmp_path / "f.bin", env=env)
    assert metric(server, "s3", "UploadPart") - before == 5
    got = s3.get_object(Bucket=bucket, Key="tm/f.bin")
    assert got["Body"].read() == data and got["ContentType"] == "application/x-java-test"

    out = run_java(java_cp, "S3Transfer", "download", "tm/f.bin", tmp_path / "back.bin", env=env)
    assert (tmp_path / "back.bin").read_bytes() == data and out["length"] in (len(data), 5 * MiB)

    src = tmp_path / "tree"
    files = {"a.txt": b"alpha", "sub/b.bin": os.urandom(9 * MiB), "sub/deeper/c.txt": b"", "d e.txt": b"space"}
    for rel, body in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(body)
    out = run_java(java_cp, "S3Transfer", "upload-dir", src, "dir", env=env)
    assert out["failed"] == []
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]}
    assert listed == {f"dir/{rel}" for rel in files}
    for rel, body in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"dir/{rel}")["Body"].read() == body

    dst = tmp_path / "down"
    out = run_java(java_cp, "S3Transfer", "download-dir", "dir", dst, env=env)
    assert out["failed"] == []
    for rel, body in files.items():
        assert (dst / rel).read_bytes() == body, rel


def test_s3_transfer_manager_pause_and_resume_through_the_token(server, s3, bucket, tmp_path, java_cp):
    env = java_env(server, BUCKET=bucket)
    data = os.urandom(80 * MiB + 3)
    (tmp_path / "p.bin").write_bytes(data)
    # The SDK reads ahead of what the server has stored, so a pause can land after every part
    # arrived: then pause earlier, with a fresh upload, until it lands mid-way.
    for attempt, fraction in enumerate((0.3, 0.2, 0.1)):
        token = tmp_path / f"resume-{attempt}.json"
        paused = run_java(java_cp, "S3Transfer", "pause", "tm/p.bin", tmp_path / "p.bin", token, fraction, env=env)
        assert paused["upload_id"] and token.exists()
        total = paused["total_parts"]
        assert total == -(-len(data) // (5 * MiB))
        stored = len(s3.list_parts(Bucket=bucket, Key="tm/p.bin", UploadId=paused["upload_id"]).get("Parts", []))
        if 0 < stored < total:
            break
        s3.abort_multipart_upload(Bucket=bucket, Key="tm/p.bin", UploadId=paused["upload_id"])
    assert 0 < stored < total, (stored, total)
    assert paused["upload_id"] in token.read_text(), "the token carries the multipart upload id"

    before = metric(server, "s3", "UploadPart")
    run_java(java_cp, "S3Transfer", "resume", token, env=env)
    sent = metric(server, "s3", "UploadPart") - before
    assert sent == total - stored, (sent, total, stored)
    assert s3.get_object(Bucket=bucket, Key="tm/p.bin")["Body"].read() == data
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket, Prefix="tm/p.bin")
