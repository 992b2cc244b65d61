"""Bucket event notifications: boto3 configures them, a real HTTP receiver (http.server on
127.0.0.1) hears every event type — S3 put, copy, multipart, delete; OSS and US3 uploads; a
Tunnel commit through pyodps — with prefix/suffix filters and the HMAC signature verified; the
receiver goes away and comes back (nothing lost); ferry is killed with -9 between a commit and
its delivery (delivered after the restart); dead letters are listed and retried."""

import hashlib
import hmac
import http.server
import io
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid

import oss2
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, FERRY_BIN, SECRET_KEY, FerryServer, error_code, s3_client, wait_for

SECRET = "hook-secret-0123"
DOMAIN = "us3.notify.ferry.test"
MiB = 1024 * 1024
FAST_RETRIES = ["--notify-retry-base", "100ms", "--notify-retry-max", "300ms", "--notify-max-attempts", "200"]


class Receiver:
    """A webhook receiver on a loopback port that can go away and come back on the same port."""

    def __init__(self, status=200):
        self.events = []  # (headers, body bytes)
        self.lock = threading.Lock()
        self.status = status
        self.port = 0
        self.httpd = None

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.events.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def records(self, secret=SECRET):
        """Every record received, each checked: one record per POST, the HMAC header over the
        exact body, the event id header."""
        with self.lock:
            got = list(self.events)
        out = []
        for headers, body in got:
            lower = {k.lower(): v for k, v in headers.items()}
            want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert lower.get("x-ferry-signature") == want, "the signature covers the body"
            assert len(lower.get("x-ferry-event-id", "")) == 32
            assert lower.get("content-type") == "application/json"
            doc = json.loads(body)
            assert len(doc["Records"]) == 1
            record = doc["Records"][0]
            record["_id"] = lower["x-ferry-event-id"]
            out.append(record)
        return out

    def wait(self, predicate, timeout=15):
        found = []

        def check():
            found[:] = [r for r in self.records() if predicate(r)]
            return bool(found)

        wait_for(check, timeout=timeout)
        return found


def in_bucket(bucket):
    return lambda r: r["s3"]["bucket"]["name"] == bucket


def arn(name="hooks"):
    return f"arn:minio:sqs::{name}:webhook"


def configure(s3, bucket, *queues):
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": list(queues)}
    )


def queue(events, target="hooks", prefix=None, suffix=None, id=None):
    q = {"QueueArn": arn(target), "Events": events}
    rules = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v is not None]
    if rules:
        q["Filter"] = {"Key": {"FilterRules": rules}}
    if id:
        q["Id"] = id
    return q


@pytest.fixture(scope="module")
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def nserver(tmp_path_factory, receiver):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith("." + DOMAIN):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    data = tmp_path_factory.mktemp("notify") / "data"
    data.mkdir()
    srv = FerryServer(
        data, "--notify", f"hooks={receiver.url},secret={SECRET}", "--us3-domain", DOMAIN, *FAST_RETRIES
    ).start()
    yield srv
    srv.stop()
    socket.getaddrinfo = real


@pytest.fixture
def ns3(nserver):
    return nserver.client()


@pytest.fixture
def nbucket(ns3):
    name = f"n-{uuid.uuid4().hex[:12]}"
    ns3.create_bucket(Bucket=name)
    return name


def events_ls(server, *args):
    out = subprocess.run(
        [FERRY_BIN, "events", "ls", "--data-dir", str(server.data_dir), "--json", *args],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def test_configuration_round_trip_and_refusals(ns3, nbucket):
    configure(ns3, nbucket, queue(["s3:ObjectCreated:*"], prefix="in/", suffix=".csv", id="csv-in"),
              queue(["s3:ObjectRemoved:Delete", "s3:LifecycleExpiration:*"]))
    got = ns3.get_bucket_notification_configuration(Bucket=nbucket)["QueueConfigurations"]
    assert got[0]["Id"] == "csv-in" and got[0]["QueueArn"] == arn() and got[0]["Events"] == ["s3:ObjectCreated:*"]
    assert got[0]["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "in/"}, {"Name": "suffix", "Value": ".csv"}]
    assert got[1]["Events"] == ["s3:ObjectRemoved:Delete", "s3:LifecycleExpiration:*"] and got[1]["Id"]

    with pytest.raises(ClientError) as e:
        configure(ns3, nbucket, queue(["s3:ObjectCreated:*"], target="nobody"))
    assert error_code(e) == "InvalidArgument"
    assert "Unable to validate the following destination configurations" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        ns3.put_bucket_notification_configuration(Bucket=nbucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q", "Events": ["s3:ObjectCreated:*"]}]})
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        configure(ns3, nbucket, queue(["s3:ObjectRestore:Post"]))
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        ns3.put_bucket_notification_configuration(Bucket=nbucket, NotificationConfiguration={"TopicConfigurations": [
            {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Events": ["s3:ObjectCreated:*"]}]})
    assert error_code(e) == "InvalidArgument"
    # A refused configuration changed nothing.
    assert len(ns3.get_bucket_notification_configuration(Bucket=nbucket)["QueueConfigurations"]) == 2
    with pytest.raises(ClientError) as e:
        ns3.get_bucket_notification_configuration(Bucket="no-such-bucket-here")
    assert error_code(e) == "NoSuchBucket"

    # An empty configuration removes it; so does deleting the bucket.
    configure(ns3, nbucket)
    assert "QueueConfigurations" not in ns3.get_bucket_notification_configuration(Bucket=nbucket)
    configure(ns3, nbucket, queue(["s3:ObjectCreated:*"]))
    ns3.delete_bucket(Bucket=nbucket)
    ns3.create_bucket(Bucket=nbucket)
    assert "QueueConfigurations" not in ns3.get_bucket_notification_configuration(Bucket=nbucket)


def test_every_s3_event_type_signed(ns3, nbucket, receiver):
    configure(ns3, nbucket, queue(["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], id="all"))
    put = ns3.put_object(Bucket=nbucket, Key="dir/a b.txt", Body=b"hello events")
    ns3.copy_object(Bucket=nbucket, Key="copy.txt", CopySource={"Bucket": nbucket, "Key": "dir/a b.txt"})
    mp = ns3.create_multipart_upload(Bucket=nbucket, Key="mp.bin")
    parts = []
    for n, size in ((1, 5 * MiB), (2, 1000)):
        r = ns3.upload_part(Bucket=nbucket, Key="mp.bin", UploadId=mp["UploadId"], PartNumber=n, Body=os.urandom(size))
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = ns3.complete_multipart_upload(Bucket=nbucket, Key="mp.bin", UploadId=mp["UploadId"],
                                         MultipartUpload={"Parts": parts})
    ns3.delete_object(Bucket=nbucket, Key="copy.txt")
    ns3.delete_object(Bucket=nbucket, Key="never-existed")  # removes nothing: no event

    got = receiver.wait(lambda r: in_bucket(nbucket)(r) and r["eventName"] == "ObjectRemoved:Delete")
    assert got, "the delete event arrived"
    time.sleep(0.5)
    records = sorted((r for r in receiver.records() if in_bucket(nbucket)(r)), key=lambda r: r["s3"]["object"]["sequencer"])
    names = [(r["eventName"], r["s3"]["object"]["key"]) for r in records]
    assert names == [
        ("ObjectCreated:Put", "dir/a+b.txt"),
        ("ObjectCreated:Copy", "copy.txt"),
        ("ObjectCreated:CompleteMultipartUpload", "mp.bin"),
        ("ObjectRemoved:Delete", "copy.txt"),
    ]
    first = records[0]
    assert first["eventVersion"] == "2.1" and first["eventSource"] == "ferry:s3"
    assert first["s3"]["configurationId"] == "all"
    assert first["s3"]["object"]["size"] == 12
    assert first["s3"]["object"]["eTag"] == put["ETag"].strip('"')
    assert first["eventTime"].endswith("Z")
    assert records[2]["s3"]["object"]["size"] == 5 * MiB + 1000
    assert records[2]["s3"]["object"]["eTag"] == done["ETag"].strip('"')
    assert "size" not in records[3]["s3"]["object"]
    assert len({r["_id"] for r in records}) == 4


def test_prefix_and_suffix_filters(ns3, nbucket, receiver):
    configure(ns3, nbucket,
              queue(["s3:ObjectCreated:Put"], prefix="in/", suffix=".csv"),
              queue(["s3:ObjectRemoved:*"], suffix=".log"))
    for key in ("in/a.csv", "in/a.txt", "out/a.csv", "in/b.csv", "x.log", "y.txt"):
        ns3.put_object(Bucket=nbucket, Key=key, Body=b"x")
    for key in ("x.log", "y.txt", "in/a.csv"):
        ns3.delete_object(Bucket=nbucket, Key=key)
    ns3.copy_object(Bucket=nbucket, Key="in/c.csv", CopySource={"Bucket": nbucket, "Key": "in/b.csv"})  # Copy: not wanted
    receiver.wait(lambda r: in_bucket(nbucket)(r) and r["eventName"] == "ObjectRemoved:Delete")
    time.sleep(1.0)
    got = sorted((r["eventName"], r["s3"]["object"]["key"]) for r in receiver.records() if in_bucket(nbucket)(r))
    assert got == [("ObjectCreated:Put", "in/a.csv"), ("ObjectCreated:Put", "in/b.csv"), ("ObjectRemoved:Delete", "x.log")]


def test_oss_and_us3_uploads_emit_object_created(nserver, ns3, nbucket, receiver, tmp_path):
    configure(ns3, nbucket, queue(["s3:ObjectCreated:*"]))
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), nserver.url, nbucket)
    b.put_object("oss/one.txt", b"from oss")
    upload_id = b.init_multipart_upload("oss/mp.bin").upload_id
    r = b.upload_part("oss/mp.bin", upload_id, 1, b"p" * 1000)
    b.complete_multipart_upload("oss/mp.bin", upload_id, [oss2.models.PartInfo(1, r.etag)])

    from ufile import config, filemanager
    config.set_default(uploadsuffix=f".{DOMAIN}:{nserver.port}", downloadsuffix=f".{DOMAIN}:{nserver.port}")
    src = tmp_path / "u.txt"
    src.write_bytes(b"from us3")
    ret, resp = filemanager.FileManager(ACCESS_KEY, SECRET_KEY).putfile(nbucket, "us3/u.txt", str(src))
    assert resp.status_code == 200, resp.error

    receiver.wait(lambda r: in_bucket(nbucket)(r) and r["s3"]["object"]["key"] == "us3/u.txt")
    time.sleep(0.5)
    got = sorted((r["eventName"], r["s3"]["object"]["key"]) for r in receiver.records() if in_bucket(nbucket)(r))
    assert got == [
        ("ObjectCreated:CompleteMultipartUpload", "oss/mp.bin"),
        ("ObjectCreated:Put", "oss/one.txt"),
        ("ObjectCreated:Put", "us3/u.txt"),
    ]


def test_tunnel_commit_emits_table_commit(nserver, ns3, receiver):
    from odps import ODPS
    from odps.models import TableSchema
    from odps.types import Column, Partition

    o = ODPS(ACCESS_KEY, SECRET_KEY, "proj", endpoint=f"{nserver.url}/odps")
    name = "t_" + uuid.uuid4().hex[:10]
    table = o.create_table(name, TableSchema(columns=[Column("n", "bigint")], partitions=[Partition("pt", "string")]))
    configure(ns3, "ferry-tables", queue(["ferry:TableCommit"], prefix="", id="tables"))
    with table.open_writer(partition="pt=a", create_partition=True) as w:
        w.write([[1], [2], [3]])
    got = receiver.wait(lambda r: r["eventName"] == "TableCommit" and r["ferry"]["table"] == name)
    assert len(got) == 1
    record = got[0]
    assert record["eventSource"] == "ferry:tunnel"
    assert record["s3"]["bucket"]["name"] == "ferry-tables" and record["s3"]["configurationId"] == "tables"
    assert record["ferry"]["project"] == "proj" and record["ferry"]["partition"] == "pt=a"
    assert record["ferry"]["files"] and all(f.endswith(".parquet") for f in record["ferry"]["files"])
    prefix = urllib.parse.unquote_plus(record["s3"]["object"]["key"])  # keys are URL-encoded, as S3's are
    assert prefix.endswith("/") and all(f.startswith(prefix) for f in record["ferry"]["files"])
    assert record["s3"]["object"]["size"] > 0
    # The files the event names are there to read.
    for f in record["ferry"]["files"]:
        assert ns3.head_object(Bucket="ferry-tables", Key=f)["ContentLength"] > 0
    configure(ns3, "ferry-tables")


def test_receiver_down_for_a_while_then_up_loses_nothing(nserver, ns3, nbucket, receiver):
    configure(ns3, nbucket, queue(["s3:ObjectCreated:*"]))
    receiver.stop()
    try:
        keys = [f"k{i}" for i in range(6)]
        for key in keys:
            ns3.put_object(Bucket=nbucket, Key=key, Body=key.encode())
        time.sleep(1.5)
        waiting = [e for e in events_ls(nserver) if e["bucket"] == nbucket]
        assert sorted(e["key"] for e in waiting) == keys
        assert all(e["state"] == "pending" for e in waiting)
        assert any(e["attempts"] >= 1 and e["last_error"] for e in waiting), "delivery was tried and failed"
    finally:
        receiver.start()
    wait_for(lambda: len([r for r in receiver.records() if in_bucket(nbucket)(r)]) >= 6, timeout=15)
    got = [r["s3"]["object"]["key"] for r in receiver.records() if in_bucket(nbucket)(r)]
    assert sorted(set(got)) == keys
    assert wait_for(lambda: not [e for e in events_ls(nserver) if e["bucket"] == nbucket]), "the outbox drained"
    metrics = urllib.request.urlopen(nserver.url + "/metrics").read().decode()
    delivered = [l for l in metrics.splitlines() if l.startswith("ferry_events_delivered_total ")]
    assert delivered and float(delivered[0].split()[1]) >= 6
    assert any(l.startswith('ferry_events_failed_total{outcome="retry"}') for l in metrics.splitlines())
    assert any(l.startswith("ferry_events_backlog") for l in metrics.splitlines())


def test_kill9_between_commit_and_delivery(tmp_path):
    receiver = Receiver().start()
    receiver.stop()  # keeps its port: down while ferry commits
    data = tmp_path / "data"
    data.mkdir()
    args = ("--notify", f"hooks={receiver.url},secret={SECRET}", *FAST_RETRIES)
    srv = FerryServer(data, *args).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="crash")
        configure(s3, "crash", queue(["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]))
        mp = s3.create_multipart_upload(Bucket="crash", Key="big.bin")
        r = s3.upload_part(Bucket="crash", Key="big.bin", UploadId=mp["UploadId"], PartNumber=1, Body=b"x" * 1000)
        s3.complete_multipart_upload(Bucket="crash", Key="big.bin", UploadId=mp["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
        s3.put_object(Bucket="crash", Key="small", Body=b"y")
        s3.delete_object(Bucket="crash", Key="small")
        time.sleep(0.5)
    finally:
        srv.kill9()
    restarted = FerryServer(data, *args)
    try:
        receiver.start()
        restarted.start()
        wait_for(lambda: len(receiver.records()) >= 3, timeout=15)
        got = sorted((r["eventName"], r["s3"]["object"]["key"]) for r in receiver.records())
        assert sorted(set(got)) == [
            ("ObjectCreated:CompleteMultipartUpload", "big.bin"),
            ("ObjectCreated:Put", "small"),
            ("ObjectRemoved:Delete", "small"),
        ]
        assert wait_for(lambda: events_ls(restarted) == [])
    finally:
        restarted.stop()
        receiver.stop()


def test_dead_letters_are_listed_and_retried(tmp_path):
    receiver = Receiver(status=500).start()
    data = tmp_path / "data"
    data.mkdir()
    srv = FerryServer(data, "--notify", f"hooks={receiver.url},secret={SECRET}", "--notify-max-attempts", "2",
                      "--notify-retry-base", "100ms").start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="dead")
        configure(s3, "dead", queue(["s3:ObjectCreated:*"]))
        s3.put_object(Bucket="dead", Key="lost?", Body=b"z")
        assert wait_for(lambda: events_ls(srv, "--failed") != [], timeout=10)
        [dead] = events_ls(srv, "--failed")
        assert dead["key"] == "lost?" and dead["attempts"] == 2 and "500" in dead["last_error"]
        assert len(receiver.records()) == 2, "two attempts, then a dead letter"
        text = subprocess.run([FERRY_BIN, "events", "ls", "--failed", "--data-dir", str(data)],
                              capture_output=True, text=True, timeout=30).stdout
        assert dead["id"] in text and "ObjectCreated:Put" in text
        metrics = urllib.request.urlopen(srv.url + "/metrics").read().decode()
        assert any(l.startswith('ferry_events_failed_total{outcome="dead"} 1') for l in metrics.splitlines())

        receiver.status = 204
        out = subprocess.run([FERRY_BIN, "events", "retry", "--data-dir", str(data)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.startswith("1 event"), out.stderr
        assert wait_for(lambda: events_ls(srv) == [], timeout=10)
        records = receiver.records()
        assert len(records) == 3 and len({r["_id"] for r in records}) == 1, "every attempt carries the same id"
    finally:
        srv.stop()
        receiver.stop()
