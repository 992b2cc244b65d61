"""Several ferry nodes sharing PostgreSQL and an S3-compatible blob store (moto's server, and a
second ferry on embedded storage): any node serves any request of any session."""

import http.client
import os
import re
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, s3_client, wait_for
from stores import MotoServer, PostgresCluster, keys_under

MiB = 1024 * 1024
BLOB_BUCKET = "ferry-blobs"


@pytest.fixture(scope="module")
def postgres():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    server.client().create_bucket(Bucket=BLOB_BUCKET)
    yield server
    server.stop()


class Cluster:
    """N ferry nodes on one database and one blob prefix."""

    def __init__(self, root, meta, blobs, store_env, nodes=3, extra=()):
        self.prefix = blobs.split("/", 3)[3]
        self.nodes = []
        for i in range(nodes):
            data = root / f"node{i}"
            data.mkdir()
            env = {k: "" for k in os.environ if k.startswith("AWS_")} | store_env
            self.nodes.append(FerryServer(data, "--meta", meta, "--blobs", blobs, *extra, env=env).start())

    def clients(self):
        return [n.client() for n in self.nodes]

    def stop(self):
        for n in self.nodes:
            if n.proc.poll() is None:
                n.stop()


@pytest.fixture
def cluster_factory(tmp_path, postgres, moto):
    made = []

    def make(nodes=3, extra=()):
        prefix = f"run-{uuid.uuid4().hex[:8]}"
        c = Cluster(tmp_path, postgres.database(), f"s3://{BLOB_BUCKET}/{prefix}", moto.env(), nodes, extra)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def metric(url, name, labels=""):
    """Sum of a metric's samples whose labels contain `labels`, read from /metrics."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)", line)
        if m and labels in (m.group(1) or ""):
            total += float(m.group(2))
    return total


def test_parts_round_robin_over_three_nodes(cluster_factory, moto):
    cluster = cluster_factory()
    clients = cluster.clients()
    clients[0].create_bucket(Bucket="shared")
    upload = clients[1].create_multipart_upload(Bucket="shared", Key="big.bin")["UploadId"]
    chunks = [os.urandom(5 * MiB) for _ in range(5)] + [os.urandom(123_456)]

    def send(i):
        node = clients[i % 3]
        return node.upload_part(Bucket="shared", Key="big.bin", UploadId=upload, PartNumber=i + 1, Body=chunks[i])["ETag"]

    with ThreadPoolExecutor(4) as pool:
        etags = list(pool.map(send, range(len(chunks))))
    listed = clients[2].list_parts(Bucket="shared", Key="big.bin", UploadId=upload)["Parts"]
    assert [p["ETag"] for p in listed] == etags, "every node sees every part"
    clients[2].complete_multipart_upload(
        Bucket="shared", Key="big.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    whole = b"".join(chunks)
    for c in clients:
        assert c.get_object(Bucket="shared", Key="big.bin")["Body"].read() == whole
    blobs = keys_under(moto.client(), BLOB_BUCKET, f"{cluster.prefix}/blobs/")
    assert len(blobs) == len(chunks), "one blob per part in the object store; the commit copied nothing"


def test_node_killed_mid_upload_client_retries_on_another(cluster_factory):
    cluster = cluster_factory()
    a, b, c = cluster.clients()
    a.create_bucket(Bucket="kill9")
    upload = a.create_multipart_upload(Bucket="kill9", Key="o")["UploadId"]
    chunks = [os.urandom(5 * MiB) for _ in range(4)]
    etags = {1: a.upload_part(Bucket="kill9", Key="o", UploadId=upload, PartNumber=1, Body=chunks[0])["ETag"]}

    # Part 2 streams slowly into node b, which is killed -9 halfway through.
    url = b.generate_presigned_url("upload_part", Params={"Bucket": "kill9", "Key": "o", "UploadId": upload, "PartNumber": 2})
    path = url.split(str(cluster.nodes[1].port), 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", cluster.nodes[1].port, timeout=30)
    conn.putrequest("PUT", path, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(len(chunks[1])))
    conn.endheaders()
    conn.send(chunks[1][: 2 * MiB])
    cluster.nodes[1].kill9()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.send(chunks[1][2 * MiB:])
        conn.getresponse()
    with pytest.raises((EndpointConnectionError, ClientError, Exception)):
        b.upload_part(Bucket="kill9", Key="o", UploadId=upload, PartNumber=2, Body=chunks[1])

    # The client retries on the surviving nodes and finishes.
    etags[2] = c.upload_part(Bucket="kill9", Key="o", UploadId=upload, PartNumber=2, Body=chunks[1])["ETag"]
    etags[3] = a.upload_part(Bucket="kill9", Key="o", UploadId=upload, PartNumber=3, Body=chunks[2])["ETag"]
    etags[4] = c.upload_part(Bucket="kill9", Key="o", UploadId=upload, PartNumber=4, Body=chunks[3])["ETag"]
    c.complete_multipart_upload(Bucket="kill9", Key="o", UploadId=upload,
                                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in sorted(etags.items())]})
    assert a.get_object(Bucket="kill9", Key="o")["Body"].read() == b"".join(chunks), "byte-identical"


def test_concurrent_complete_on_two_nodes_publishes_once(cluster_factory):
    cluster = cluster_factory()
    clients = cluster.clients()
    clients[0].create_bucket(Bucket="race")
    for round_ in range(6):
        key = f"o{round_}"
        upload = clients[0].create_multipart_upload(Bucket="race", Key=key)["UploadId"]
        parts = [os.urandom(5 * MiB), b"tail"]
        etags = [clients[0].upload_part(Bucket="race", Key=key, UploadId=upload, PartNumber=i + 1, Body=p)["ETag"]
                 for i, p in enumerate(parts)]
        spec = {"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]}
        barrier = threading.Barrier(2)

        def complete(client):
            barrier.wait()
            try:
                return client.complete_multipart_upload(Bucket="race", Key=key, UploadId=upload, MultipartUpload=spec)["ETag"]
            except ClientError as e:
                return e.response["Error"]["Code"]

        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(complete, clients[1:3]))
        # The loser waits for the winner and gets S3's answer to a repeated Complete of a
        # completed upload: the same result.
        assert all(o.startswith('"') for o in outcomes), outcomes
        assert len(set(outcomes)) == 1, "both answers name the same object"
        assert clients[0].get_object(Bucket="race", Key=key)["Body"].read() == b"".join(parts)
    published = sum(metric(n.url, "ferry_commit_duration_seconds_count", 'outcome="published"') for n in cluster.nodes)
    assert published == 6, f"each upload was published exactly once across the nodes, not {published}"
    replayed = sum(metric(n.url, "ferry_commit_duration_seconds_count", 'outcome="replayed"') for n in cluster.nodes)
    assert replayed == 6, "the other Complete of each pair replayed the published result"


def test_same_part_sent_to_two_nodes_at_once_keeps_one_version(cluster_factory, moto):
    cluster = cluster_factory(extra=("--sweep-interval", "1s", "--gc-grace", "1s"))
    clients = cluster.clients()
    clients[0].create_bucket(Bucket="dup")
    versions = [os.urandom(3 * MiB), os.urandom(3 * MiB)]
    for round_ in range(5):
        upload = clients[0].create_multipart_upload(Bucket="dup", Key="o")["UploadId"]
        barrier = threading.Barrier(2)

        def send(i):
            barrier.wait()
            return clients[i].upload_part(Bucket="dup", Key="o", UploadId=upload, PartNumber=1, Body=versions[i])["ETag"]

        with ThreadPoolExecutor(2) as pool:
            etags = list(pool.map(send, [0, 1]))
        held = clients[2].list_parts(Bucket="dup", Key="o", UploadId=upload)["Parts"]
        assert len(held) == 1 and held[0]["ETag"] in etags, "exactly one of the two versions is held"
        clients[2].complete_multipart_upload(Bucket="dup", Key="o", UploadId=upload,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": held[0]["ETag"]}]})
        got = clients[1].get_object(Bucket="dup", Key="o")["Body"].read()
        assert got == versions[etags.index(held[0]["ETag"])], "the object is that version, whole"
    # Each round left the losing version and (after the first) the overwritten object as
    # garbage; the sweepers delete exactly those, once, and nothing the object still uses.
    s3 = moto.client()
    assert wait_for(lambda: len(keys_under(s3, BLOB_BUCKET, f"{cluster.prefix}/blobs/")) == 1, timeout=30)
    deleted = sum(metric(n.url, "ferry_gc_deleted_blobs_total") for n in cluster.nodes)
    assert deleted == 9, f"garbage collected once across nodes: {deleted} deletions for 9 blobs"
    assert clients[0].get_object(Bucket="dup", Key="o")["Body"].read() in versions


def test_expiry_and_gc_run_once_across_nodes(cluster_factory, moto):
    cluster = cluster_factory(extra=("--sweep-interval", "1s", "--gc-grace", "1s", "--idle-timeout", "2s"))
    clients = cluster.clients()
    clients[0].create_bucket(Bucket="gc-test")
    kept = clients[0].create_multipart_upload(Bucket="gc-test", Key="kept")["UploadId"]
    body = os.urandom(5 * MiB)
    etag = clients[1].upload_part(Bucket="gc-test", Key="kept", UploadId=kept, PartNumber=1, Body=body)["ETag"]
    clients[2].complete_multipart_upload(Bucket="gc-test", Key="kept", UploadId=kept,
                                         MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    idle = clients[0].create_multipart_upload(Bucket="gc-test", Key="idle")["UploadId"]
    for n in (1, 2, 3):
        clients[n % 3].upload_part(Bucket="gc-test", Key="idle", UploadId=idle, PartNumber=n, Body=b"x" * 1000)
    s3 = moto.client()
    assert wait_for(lambda: len(keys_under(s3, BLOB_BUCKET, f"{cluster.prefix}/blobs/")) == 1, timeout=30)
    expired = sum(metric(n.url, "ferry_expired_sessions_total") for n in cluster.nodes)
    deleted = sum(metric(n.url, "ferry_gc_deleted_blobs_total") for n in cluster.nodes)
    assert (expired, deleted) == (1, 3), "one node expired the idle session and deleted its three blobs"
    with pytest.raises(ClientError):
        clients[1].list_parts(Bucket="gc-test", Key="idle", UploadId=idle)
    assert clients[1].get_object(Bucket="gc-test", Key="kept")["Body"].read() == body
    assert wait_for(lambda: metric(cluster.nodes[0].url, "ferry_sessions", 'state="EXPIRED"') == 1, timeout=10)


def test_graceful_shutdown_finishes_the_part_in_flight(cluster_factory):
    cluster = cluster_factory(nodes=2)
    a, b = cluster.clients()
    a.create_bucket(Bucket="drain")
    upload = a.create_multipart_upload(Bucket="drain", Key="o")["UploadId"]
    data = os.urandom(6 * MiB)
    url = a.generate_presigned_url("upload_part", Params={"Bucket": "drain", "Key": "o", "UploadId": upload, "PartNumber": 1})
    port = cluster.nodes[0].port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("PUT", url.split(str(port), 1)[1], skip_accept_encoding=True)
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders()
    conn.send(data[: 3 * MiB])
    stopper = threading.Thread(target=cluster.nodes[0].stop)
    stopper.start()
    time.sleep(0.5)
    conn.send(data[3 * MiB:])
    response = conn.getresponse()
    assert response.status == 200, response.read()
    stopper.join()
    assert cluster.nodes[0].proc.returncode == 0
    parts = b.list_parts(Bucket="drain", Key="o", UploadId=upload)["Parts"]
    assert [p["Size"] for p in parts] == [len(data)], "the part finished during shutdown is recorded"


def test_ferry_as_blob_store_and_readiness(tmp_path, postgres):
    """A second ferry on embedded storage is the blob store; readiness follows it."""
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    store = FerryServer(store_dir).start()
    try:
        store.client().create_bucket(Bucket="blobs")
        env = {"AWS_ENDPOINT_URL": store.url, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}
        cluster = Cluster(tmp_path, postgres.database(), "s3://blobs/ferry", env, nodes=2)
        try:
            one, two = cluster.clients()
            one.create_bucket(Bucket="bkt")
            data = os.urandom(2 * MiB)
            two.put_object(Bucket="bkt", Key="k", Body=data)
            assert one.get_object(Bucket="bkt", Key="k")["Body"].read() == data
            ready = urllib.request.urlopen(f"{cluster.nodes[0].url}/health/ready", timeout=10)
            assert ready.status == 200
            store.stop()
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"{cluster.nodes[0].url}/health/ready", timeout=30)
            assert err.value.code == 503 and b"blob store" in err.value.read()
        finally:
            cluster.stop()
    finally:
        store.stop()


def test_shared_metadata_needs_shared_credentials(tmp_path, postgres):
    data = tmp_path / "n"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    import subprocess
    from conftest import FERRY_BIN
    out = subprocess.run([FERRY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
                          "--meta", postgres.database()], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "FERRY_ACCESS_KEY_ID" in out.stderr
