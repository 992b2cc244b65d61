"""Access control with real clients: keys with grants (made by `ferry keys`) across the four
dialects, STS temporary credentials (boto3, awscli, oss2 StsAuth), revocation, and the master key.

Each denied cell checks the dialect's own error and that the store did not change."""

import json
import os
import socket
import subprocess
import time
import uuid

import boto3
import botocore.exceptions
import oss2
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from odps import ODPS

from conftest import ACCESS_KEY, FERRY_BIN, REGION, SECRET_KEY, FerryServer, object_exists, s3_client, wait_for

DOMAIN = "us3.ferry.test"
KiB = 1024


def ferry_keys(data_dir, *args, env=None):
    """Run `ferry keys ... --json` beside the server, on its data directory."""
    out = subprocess.run(
        [FERRY_BIN, "keys", *args, "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def client(url, key, secret, token=None, service="s3", **config):
    return boto3.client(
        service,
        endpoint_url=url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith("." + DOMAIN):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    data = tmp_path_factory.mktemp("access") / "data"
    data.mkdir()
    server = FerryServer(
        data, "--sts-min-duration", "2s", "--s3-min-part-size", str(64 * KiB), "--us3-domain", DOMAIN
    ).start()
    admin = server.client()
    admin.create_bucket(Bucket="acc")
    admin.create_bucket(Bucket="elsewhere")
    admin.put_object(Bucket="acc", Key="ci/seed", Body=b"seed")
    admin.put_object(Bucket="acc", Key="public/a", Body=b"public")
    server.keys = {
        "writer": ferry_keys(data, "create", "writer", "--grant", "acc/ci/:read,write,list"),
        "reader": ferry_keys(data, "create", "reader", "--grant", "acc:read,list"),
        "app": ferry_keys(data, "create", "app", "--grant", "acc:read,write,list,delete"),
        "analyst": ferry_keys(data, "create", "analyst", "--grant", "project:sales:read"),
    }
    # The server reads new keys within about a second.
    w = server.keys["writer"]
    wait_for(lambda: _works(server.url, w), timeout=5)
    yield server
    server.stop()
    socket.getaddrinfo = real


def _works(url, key):
    try:
        client(url, key["access_key_id"], key["secret_access_key"]).list_objects_v2(Bucket="acc", Prefix="ci/")
        return True
    except botocore.exceptions.ClientError:
        return False


def as_key(srv, name, **config):
    k = srv.keys[name]
    return client(srv.url, k["access_key_id"], k["secret_access_key"], **config)


def test_s3_grants_allow_and_deny_with_the_store_unchanged(srv):
    admin, writer, reader = srv.client(), as_key(srv, "writer"), as_key(srv, "reader")
    writer.put_object(Bucket="acc", Key="ci/build-1.tar", Body=b"artifact")
    assert writer.get_object(Bucket="acc", Key="ci/build-1.tar")["Body"].read() == b"artifact"
    assert [o["Key"] for o in writer.list_objects_v2(Bucket="acc", Prefix="ci/")["Contents"]] == [
        "ci/build-1.tar",
        "ci/seed",
    ]
    for call in (
        lambda: writer.put_object(Bucket="acc", Key="release/x", Body=b"no"),
        lambda: writer.get_object(Bucket="acc", Key="public/a"),
        lambda: writer.list_objects_v2(Bucket="acc"),
        lambda: writer.delete_object(Bucket="acc", Key="ci/seed"),
        lambda: writer.put_object(Bucket="elsewhere", Key="ci/x", Body=b"no"),
        lambda: writer.create_bucket(Bucket="writer-made"),
        lambda: writer.copy_object(Bucket="acc", Key="ci/copy", CopySource={"Bucket": "acc", "Key": "public/a"}),
        lambda: reader.put_object(Bucket="acc", Key="public/b", Body=b"no"),
        lambda: reader.delete_object(Bucket="acc", Key="public/a"),
        lambda: reader.create_multipart_upload(Bucket="acc", Key="public/mp"),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert code(e) == "AccessDenied", e.value.response
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not object_exists(admin, "acc", "release/x")
    assert not object_exists(admin, "acc", "ci/copy")
    assert not object_exists(admin, "acc", "public/b")
    assert not object_exists(admin, "elsewhere", "ci/x")
    assert object_exists(admin, "acc", "ci/seed") and object_exists(admin, "acc", "public/a")
    assert "writer-made" not in [b["Name"] for b in admin.list_buckets()["Buckets"]]
    assert admin.list_multipart_uploads(Bucket="acc").get("Uploads", []) == []
    assert reader.get_object(Bucket="acc", Key="public/a")["Body"].read() == b"public"
    # ListBuckets shows what the grants name.
    assert [b["Name"] for b in writer.list_buckets()["Buckets"]] == ["acc"]
    assert {"acc", "elsewhere"} <= {b["Name"] for b in admin.list_buckets()["Buckets"]}
    # DeleteObjects answers per key: the granted key goes, the other stays.
    app = as_key(srv, "app")
    app.put_object(Bucket="acc", Key="tmp/1", Body=b"1")
    out = writer.delete_objects(Bucket="acc", Delete={"Objects": [{"Key": "ci/build-1.tar"}, {"Key": "tmp/1"}]})
    assert [e["Key"] for e in out.get("Errors", [])] == ["ci/build-1.tar", "tmp/1"]
    out = app.delete_objects(Bucket="acc", Delete={"Objects": [{"Key": "tmp/1"}]})
    assert [d["Key"] for d in out["Deleted"]] == ["tmp/1"] and not object_exists(admin, "acc", "tmp/1")


def test_presigned_urls_carry_the_signers_grants(srv):
    import requests

    writer = as_key(srv, "writer", signature_version="s3v4")
    ok = writer.generate_presigned_url("get_object", Params={"Bucket": "acc", "Key": "ci/seed"}, ExpiresIn=60)
    assert requests.get(ok, timeout=10).content == b"seed"
    denied = writer.generate_presigned_url("get_object", Params={"Bucket": "acc", "Key": "public/a"}, ExpiresIn=60)
    r = requests.get(denied, timeout=10)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    put = writer.generate_presigned_url("put_object", Params={"Bucket": "acc", "Key": "release/p"}, ExpiresIn=60)
    assert requests.put(put, data=b"x", timeout=10).status_code == 403
    assert not object_exists(srv.client(), "acc", "release/p")


def test_bucket_creator_becomes_its_owner(srv):
    maker = ferry_keys(srv.data_dir, "create", "maker-" + uuid.uuid4().hex[:6], "--grant", "*:admin")
    s3 = client(srv.url, maker["access_key_id"], maker["secret_access_key"])
    assert wait_for(lambda: _lists(s3), timeout=5)
    name = "owned-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=name)
    shown = ferry_keys(srv.data_dir, "show", maker["name"])
    assert f"{name}:admin" in shown["grants"]
    # With the wildcard taken away, the key still owns what it created, and nothing else.
    ferry_keys(srv.data_dir, "revoke", maker["name"], "*:admin")
    assert wait_for(lambda: [b["Name"] for b in s3.list_buckets()["Buckets"]] == [name], timeout=5)
    s3.put_object(Bucket=name, Key="k", Body=b"mine")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket="acc", Key="k", Body=b"no")
    assert code(e) == "AccessDenied"


def _lists(s3):
    try:
        s3.list_buckets()
        return True
    except botocore.exceptions.ClientError:
        return False


def test_awscli_cells(srv, tmp_path):
    k = srv.keys["writer"]
    env = {kk: v for kk, v in os.environ.items() if not kk.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=k["access_key_id"],
        AWS_SECRET_ACCESS_KEY=k["secret_access_key"],
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        HOME=str(tmp_path),
    )
    src = tmp_path / "f.txt"
    src.write_bytes(b"cli bytes")
    aws = ["aws", "--endpoint-url", srv.url]
    ok = subprocess.run([*aws, "s3", "cp", str(src), "s3://acc/ci/cli.txt"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*aws, "s3", "cp", str(src), "s3://acc/cli.txt"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "AccessDenied" in bad.stderr
    assert object_exists(srv.client(), "acc", "ci/cli.txt") and not object_exists(srv.client(), "acc", "cli.txt")
    # GetSessionToken through the CLI, then the temporary credentials with the CLI.
    out = subprocess.run(
        [*aws, "sts", "get-session-token", "--duration-seconds", "900"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    creds = json.loads(out.stdout)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    env.update(
        AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
        AWS_SESSION_TOKEN=creds["SessionToken"],
    )
    ls = subprocess.run([*aws, "s3", "ls", "s3://acc/ci/"], env=env, capture_output=True, text=True)
    assert ls.returncode == 0 and "cli.txt" in ls.stdout, ls.stderr
    ls = subprocess.run([*aws, "s3", "ls", "s3://acc/"], env=env, capture_output=True, text=True)
    assert ls.returncode != 0 and "AccessDenied" in ls.stderr


def test_oss_grants(srv):
    k = srv.keys["writer"]
    b = oss2.Bucket(oss2.Auth(k["access_key_id"], k["secret_access_key"]), srv.url, "acc")
    b.put_object("ci/oss.txt", b"oss")
    assert b.get_object("ci/oss.txt").read() == b"oss"
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.put_object("release/oss.txt", b"no")
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.delete_object("ci/oss.txt")
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.batch_delete_objects(["ci/oss.txt"])
    assert not object_exists(srv.client(), "acc", "release/oss.txt") and object_exists(srv.client(), "acc", "ci/oss.txt")
    service = oss2.Service(oss2.Auth(k["access_key_id"], k["secret_access_key"]), srv.url)
    assert [x.name for x in oss2.BucketIterator(service)] == ["acc"], "ListBuckets shows granted buckets only"


def test_us3_grants(srv, tmp_path):
    from ufile import config, filemanager

    config.set_default(uploadsuffix=f".{DOMAIN}:{srv.port}", downloadsuffix=f".{DOMAIN}:{srv.port}")
    k = srv.keys["writer"]
    fm = filemanager.FileManager(k["access_key_id"], k["secret_access_key"])
    src = tmp_path / "u.txt"
    src.write_bytes(b"us3 bytes")
    ret, resp = fm.putfile("acc", "ci/u.txt", str(src))
    assert resp.status_code == 200, resp.error
    ret, resp = fm.putfile("acc", "release/u.txt", str(src))
    assert resp.status_code == 403 and "may not write" in str(resp.error)
    ret, resp = fm.deletefile("acc", "ci/u.txt")
    assert resp.status_code == 403
    assert not object_exists(srv.client(), "acc", "release/u.txt") and object_exists(srv.client(), "acc", "ci/u.txt")


def test_tunnel_project_grants(srv):
    admin = ODPS(ACCESS_KEY, SECRET_KEY, "sales", endpoint=f"{srv.url}/odps")
    k = srv.keys["analyst"]
    analyst = ODPS(k["access_key_id"], k["secret_access_key"], "sales", endpoint=f"{srv.url}/odps")
    name = "t_" + uuid.uuid4().hex[:10]
    admin.create_table(name, "id bigint")
    admin.write_table(name, [[1], [2]])
    assert sorted(r["id"] for r in analyst.read_table(name)) == [1, 2]
    with pytest.raises(Exception) as e:
        analyst.write_table(name, [[3]])
    assert "AccessDenied" in str(e.value) or "may not write" in str(e.value)
    with pytest.raises(Exception) as e:
        analyst.create_table("t_" + uuid.uuid4().hex[:10], "id bigint")
    assert "AccessDenied" in str(e.value) or "may not write" in str(e.value)
    other = ODPS(k["access_key_id"], k["secret_access_key"], "hr", endpoint=f"{srv.url}/odps")
    with pytest.raises(Exception) as e:
        list(other.read_table(name))
    assert sorted(r["id"] for r in admin.read_table(name)) == [1, 2], "the denied write stored nothing"


POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                "Resource": "arn:aws:s3:::acc/users/42/*",
            }
        ],
    }
)


def assume(srv, name, duration, policy=POLICY):
    k = srv.keys[name]
    sts = client(srv.url, k["access_key_id"], k["secret_access_key"], service="sts", parameter_validation=False)
    return sts.assume_role(
        RoleArn="arn:aws:iam::000000000000:role/uploader",
        RoleSessionName="phone-42",
        Policy=policy,
        DurationSeconds=duration,
    )


def test_sts_session_policy_narrows_to_a_prefix_and_expires(srv, tmp_path):
    out = assume(srv, "app", 6)
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and out["AssumedRoleUser"]["Arn"].endswith("/uploader/phone-42")
    s3 = client(srv.url, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(300 * KiB))
    cfg = TransferConfig(multipart_threshold=64 * KiB, multipart_chunksize=64 * KiB, max_concurrency=2)
    s3.upload_file(str(big), "acc", "users/42/big.bin", Config=cfg)
    admin = srv.client()
    head = admin.head_object(Bucket="acc", Key="users/42/big.bin")
    assert head["ContentLength"] == 300 * KiB and "-" in head["ETag"], "a multipart upload"
    assert s3.get_object(Bucket="acc", Key="users/42/big.bin")["Body"].read() == big.read_bytes()
    for call in (
        lambda: s3.put_object(Bucket="acc", Key="users/43/x", Body=b"no"),
        lambda: s3.upload_file(str(big), "acc", "users/43/big.bin", Config=cfg),
        lambda: s3.delete_object(Bucket="acc", Key="users/42/big.bin"),  # the key may, the policy not
        lambda: s3.get_object(Bucket="acc", Key="public/a"),
    ):
        with pytest.raises((botocore.exceptions.ClientError, boto3.exceptions.S3UploadFailedError)) as e:
            call()
        assert "AccessDenied" in str(e.value)
    assert not object_exists(admin, "acc", "users/43/x") and not object_exists(admin, "acc", "users/43/big.bin")
    # A session token is never a way around the parent's grants: the writer's own key cannot
    # write under users/, and neither can a session of it whatever its policy says.
    wc = assume(srv, "writer", 900)["Credentials"]
    ws = client(srv.url, wc["AccessKeyId"], wc["SecretAccessKey"], wc["SessionToken"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ws.put_object(Bucket="acc", Key="users/42/w", Body=b"no")
    assert code(e) == "AccessDenied"
    # Temporary credentials cannot mint more.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(srv.url, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], service="sts").get_session_token()
    assert code(e) == "AccessDenied"
    # A tampered token is refused.
    bad = client(srv.url, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"][:-4] + "AAAA")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.get_object(Bucket="acc", Key="users/42/big.bin")
    assert code(e) == "InvalidToken"
    # After expiry, refused.
    time.sleep(6.5)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket="acc", Key="users/42/late", Body=b"late")
    assert code(e) == "ExpiredToken"
    assert not object_exists(admin, "acc", "users/42/late")


def test_sts_durations_out_of_range_are_refused(srv):
    k = srv.keys["app"]
    sts = client(srv.url, k["access_key_id"], k["secret_access_key"], service="sts", parameter_validation=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.get_session_token(DurationSeconds=1)
    assert code(e) == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        assume(srv, "app", 900, policy='{"Statement": [{"Effect": "Maybe"}]}')
    assert code(e) == "ValidationError"


def test_oss2_sts_auth_resumable_upload(srv, tmp_path):
    c = assume(srv, "app", 900)["Credentials"]
    auth = oss2.StsAuth(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    b = oss2.Bucket(auth, srv.url, "acc")
    src = tmp_path / "phone.bin"
    src.write_bytes(os.urandom(450 * KiB))
    oss2.resumable_upload(
        b, "users/42/phone.bin", str(src), store=oss2.ResumableStore(root=str(tmp_path)),
        multipart_threshold=100 * KiB, part_size=100 * KiB, num_threads=2,
    )
    assert srv.client().get_object(Bucket="acc", Key="users/42/phone.bin")["Body"].read() == src.read_bytes()
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.put_object("users/7/x", b"no")
    # Presigned with the token (`security-token` in the query).
    url = b.sign_url("GET", "users/42/phone.bin", 60)
    import requests

    assert "security-token" in url and requests.get(url, timeout=10).content == src.read_bytes()
    assert not object_exists(srv.client(), "acc", "users/7/x")


def test_key_disabled_during_a_multipart_upload(srv):
    name = "mp-" + uuid.uuid4().hex[:6]
    k = ferry_keys(srv.data_dir, "create", name, "--grant", "acc/mp/:write,read")
    s3 = client(srv.url, k["access_key_id"], k["secret_access_key"])
    assert wait_for(lambda: _creates(s3), timeout=5)
    up = s3.create_multipart_upload(Bucket="acc", Key="mp/obj")["UploadId"]
    s3.upload_part(Bucket="acc", Key="mp/obj", UploadId=up, PartNumber=1, Body=b"a" * 64 * KiB)
    sts = client(srv.url, k["access_key_id"], k["secret_access_key"], service="sts")
    t = sts.get_session_token(DurationSeconds=900)["Credentials"]
    ts = client(srv.url, t["AccessKeyId"], t["SecretAccessKey"], t["SessionToken"])
    ts.put_object(Bucket="acc", Key="mp/by-token", Body=b"t")
    ferry_keys(srv.data_dir, "disable", name)
    started = time.time()

    def refused():
        try:
            s3.upload_part(Bucket="acc", Key="mp/obj", UploadId=up, PartNumber=2, Body=b"b" * 64 * KiB)
            return False
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidAccessKeyId"
            return True

    assert wait_for(refused, timeout=5, interval=0.2)
    assert time.time() - started < 5
    parts = srv.client().list_parts(Bucket="acc", Key="mp/obj", UploadId=up)["Parts"]
    # A part sent in the instant before the refresh may have landed; never one after.
    assert [p["PartNumber"] for p in parts] in ([1], [1, 2])
    with pytest.raises(botocore.exceptions.ClientError):
        ts.put_object(Bucket="acc", Key="mp/by-token-2", Body=b"t")
    assert not object_exists(srv.client(), "acc", "mp/by-token-2")
    ferry_keys(srv.data_dir, "enable", name)
    assert wait_for(lambda: _creates(s3), timeout=5)
    ferry_keys(srv.data_dir, "delete", name)
    assert wait_for(lambda: not _creates(s3), timeout=5)
    assert name not in [x["name"] for x in ferry_keys(srv.data_dir, "ls")]


def _creates(s3):
    try:
        s3.put_object(Bucket="acc", Key="mp/probe", Body=b"p")
        return True
    except botocore.exceptions.ClientError:
        return False


def test_missing_or_wrong_master_key_stops_startup_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    srv = FerryServer(data).start()
    srv.stop()
    key = ferry_keys(data, "create", "k1", "--grant", "b:read")
    master = (data / "master.key").read_text()
    assert oct((data / "master.key").stat().st_mode & 0o777) == "0o600"

    def start():
        env = {**os.environ, "FERRY_ACCESS_KEY_ID": ACCESS_KEY, "FERRY_SECRET_ACCESS_KEY": SECRET_KEY}
        env.pop("FERRY_MASTER_KEY", None)
        return subprocess.run(
            [FERRY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
            capture_output=True, text=True, timeout=30, env=env,
        )

    (data / "master.key").rename(tmp_path / "backup.key")
    out = start()
    assert out.returncode != 0 and "no master key" in out.stderr, out.stderr
    assert not (data / "master.key").exists(), "no new master key was generated over the keys"
    (data / "master.key").write_text("ab" * 32)
    out = start()
    assert out.returncode != 0 and "does not decrypt" in out.stderr, out.stderr
    assert (data / "master.key").read_text() == "ab" * 32, "the wrong key file is left as it was"
    (data / "master.key").write_text(master)
    assert [k["access_key_id"] for k in ferry_keys(data, "ls")] == [key["access_key_id"]]
    srv = FerryServer(data).start()
    try:
        s3 = client(srv.url, key["access_key_id"], key["secret_access_key"])
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.head_bucket(Bucket="b")
        # Authenticated (the restored master key opens the secret): the bucket is just absent.
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (403, 404)
        assert s3.list_buckets()["Buckets"] == []
    finally:
        srv.stop()


def test_tokens_and_revocation_across_nodes_sharing_postgresql(tmp_path):
    """Two nodes on one PostgreSQL database and one blob store: a token minted on one works on
    the other, and a key disabled on the shared store stops on both mid-upload."""
    from stores import MotoServer, PostgresCluster

    pg, moto = PostgresCluster().start(), MotoServer().start()
    nodes = []
    try:
        moto.client().create_bucket(Bucket="blobs")
        meta = pg.database()
        master = {"FERRY_MASTER_KEY": os.urandom(32).hex()}
        env = {k: "" for k in os.environ if k.startswith("AWS_")} | moto.env() | master
        for i in range(2):
            data = tmp_path / f"node{i}"
            data.mkdir()
            extra = ("--meta", meta, "--blobs", "s3://blobs/run", "--s3-min-part-size", str(64 * KiB))
            nodes.append(FerryServer(data, *extra, env=env).start())
        nodes[0].client().create_bucket(Bucket="shared")
        grant = ("--grant", "shared:read,write,list", "--meta", meta)
        k = ferry_keys(tmp_path, "create", "phone-app", *grant, env=master)
        a, b = (client(n.url, k["access_key_id"], k["secret_access_key"]) for n in nodes)
        assert wait_for(lambda: _lists(a) and _lists(b), timeout=5)

        sts = client(nodes[0].url, k["access_key_id"], k["secret_access_key"], service="sts")
        c = sts.assume_role(
            RoleArn="arn:aws:iam::000000000000:role/x",
            RoleSessionName="node-a",
            Policy=POLICY.replace("acc", "shared"),
        )["Credentials"]
        on_b = client(nodes[1].url, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        on_b.put_object(Bucket="shared", Key="users/42/from-b", Body=b"b")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            on_b.put_object(Bucket="shared", Key="users/1/from-b", Body=b"no")
        assert code(e) == "AccessDenied"

        up = a.create_multipart_upload(Bucket="shared", Key="mp")["UploadId"]
        a.upload_part(Bucket="shared", Key="mp", UploadId=up, PartNumber=1, Body=b"a" * 64 * KiB)
        ferry_keys(tmp_path, "disable", "phone-app", "--meta", meta, env=master)

        def refused(s3, number):
            try:
                s3.upload_part(Bucket="shared", Key="mp", UploadId=up, PartNumber=number, Body=b"b" * 64 * KiB)
                return False
            except botocore.exceptions.ClientError as err:
                return err.response["Error"]["Code"] == "InvalidAccessKeyId"

        assert wait_for(lambda: refused(b, 2), timeout=5, interval=0.2)
        assert wait_for(lambda: refused(a, 3), timeout=5, interval=0.2)
        with pytest.raises(botocore.exceptions.ClientError):
            on_b.put_object(Bucket="shared", Key="users/42/after", Body=b"no")
        admin = nodes[1].client()
        assert not object_exists(admin, "shared", "users/42/after") and not object_exists(admin, "shared", "users/1/from-b")
        assert admin.get_object(Bucket="shared", Key="users/42/from-b")["Body"].read() == b"b"
    finally:
        for n in nodes:
            n.stop()
        moto.stop()
        pg.stop()
