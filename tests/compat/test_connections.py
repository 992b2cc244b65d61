"""Hostile and broken connections: a slow-loris flood, a body that goes silent, ambiguous body
framing, and more connections than the server serves at once. Each test starts its own ferry with
short limits, on loopback only, and uses at most 200 connections for at most a minute."""

import contextlib
import socket
import threading
import time
import uuid

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, FerryServer, error_code, wait_for

MiB = 1024 * 1024


@contextlib.contextmanager
def private_server(tmp_path, *flags):
    """A server of its own, started with `flags`, stopped on the way out."""
    (tmp_path / "data").mkdir()
    server = FerryServer(tmp_path / "data", *flags).start()
    try:
        yield server
    finally:
        server.stop()


def connect(server, timeout=10):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_by_peer(sock, wait):
    """Read until the server closes the connection, for up to `wait` seconds. Returns (closed,
    bytes the server sent, seconds waited)."""
    sock.settimeout(0.2)
    started, received = time.monotonic(), b""
    while time.monotonic() - started < wait:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, received, time.monotonic() - started
        if not data:
            return True, received, time.monotonic() - started
        received += data
    return False, received, time.monotonic() - started


def signed_head(server, method, path, headers, payload):
    """A SigV4-signed request head (botocore's signer) for `payload`; the caller decides how much
    of the payload actually goes on the wire."""
    request = AWSRequest(method=method, url=f"{server.url}{path}", data=payload, headers=headers)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    prepared = request.prepare()
    target = prepared.url.split(str(server.port), 1)[1]
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{k}: {v}" for k, v in prepared.headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(response_bytes):
    return int(response_bytes.split(b" ", 2)[1]) if response_bytes.startswith(b"HTTP/1.1 ") else None


def test_slow_loris_is_cut_off_while_a_normal_client_is_served(tmp_path):
    with private_server(tmp_path, "--header-timeout", "3s") as server:
        s3 = server.client()
        s3.create_bucket(Bucket="loris")
        # 150 connections that start a request and then send one more header byte every half
        # second: trickling bytes must not keep a connection alive past the header timeout.
        socks = []
        for _ in range(150):
            s = connect(server)
            s.sendall(b"PUT /loris/k HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        opened = time.monotonic()
        closed_at = {}
        stop = threading.Event()

        def trickle():
            while not stop.is_set() and len(closed_at) < len(socks):
                for i, s in enumerate(socks):
                    if i in closed_at:
                        continue
                    try:
                        s.sendall(b"a")
                    except OSError:
                        closed_at[i] = time.monotonic() - opened
                        continue
                    s.setblocking(False)
                    try:
                        if s.recv(4096) == b"":
                            closed_at[i] = time.monotonic() - opened
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed_at[i] = time.monotonic() - opened
                    finally:
                        s.setblocking(True)
                stop.wait(0.5)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        try:
            # Meanwhile an ordinary client goes about its business without delay.
            latencies = []
            for i in range(10):
                started = time.monotonic()
                s3.put_object(Bucket="loris", Key=f"k{i}", Body=b"x" * 100_000)
                assert s3.get_object(Bucket="loris", Key=f"k{i}")["Body"].read() == b"x" * 100_000
                latencies.append(time.monotonic() - started)
            assert max(latencies) < 2.0, latencies
            assert wait_for(lambda: len(closed_at) == len(socks), timeout=20)
        finally:
            stop.set()
            t.join(timeout=5)
            for s in socks:
                s.close()
        # Closed by the server's header timeout: not before it, and not long after.
        assert min(closed_at.values()) > 2.0, sorted(closed_at.values())[:5]
        assert max(closed_at.values()) < 8.0, sorted(closed_at.values())[-5:]
        assert s3.list_objects_v2(Bucket="loris")["KeyCount"] == 10


def test_header_timeout_closes_a_connection_that_never_finishes_its_headers(tmp_path):
    with private_server(tmp_path, "--header-timeout", "2s") as server:
        with connect(server) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            closed, _, waited = closed_by_peer(s, wait=10)
        assert closed and 1.5 < waited < 5, waited
        # A connection that sends nothing at all is closed the same way.
        with connect(server) as s:
            closed, _, waited = closed_by_peer(s, wait=10)
        assert closed and 1.5 < waited < 5, waited
        # And the server still answers.
        server.client().list_buckets()


def test_stalled_part_body_is_cut_off_and_nothing_is_stored(tmp_path):
    with private_server(tmp_path, "--body-idle-timeout", "2s") as server:
        s3 = server.client()
        s3.create_bucket(Bucket="stall")
        upload = s3.create_multipart_upload(Bucket="stall", Key="big")["UploadId"]
        payload = b"p" * MiB
        head = signed_head(server, "PUT", f"/stall/big?partNumber=1&uploadId={upload}",
                           {"Content-Length": str(len(payload))}, payload)
        with connect(server) as s:
            s.sendall(head + payload[: len(payload) // 2])
            closed, answer, waited = closed_by_peer(s, wait=15)
        assert closed, "the server closes the connection of a silent body"
        assert 1.5 < waited < 10, waited
        if answer:
            assert status_of(answer) == 400 and b"IncompleteBody" in answer, answer[:300]
        assert s3.list_parts(Bucket="stall", Key="big", UploadId=upload).get("Parts", []) == []

        # The same for a whole object: nothing appears under the key.
        head = signed_head(server, "PUT", "/stall/whole", {"Content-Length": str(len(payload))}, payload)
        with connect(server) as s:
            s.sendall(head + payload[: len(payload) // 2])
            closed, _, waited = closed_by_peer(s, wait=15)
        assert closed and waited < 10
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="stall", Key="whole")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

        # A complete body through the same kind of raw request is stored: the stall, not the
        # raw client, is what was refused.
        head = signed_head(server, "PUT", f"/stall/big?partNumber=1&uploadId={upload}",
                           {"Content-Length": str(len(payload))}, payload)
        with connect(server) as s:
            s.sendall(head + payload)
            s.settimeout(10)
            assert status_of(s.recv(65536)) == 200
        assert [p["Size"] for p in s3.list_parts(Bucket="stall", Key="big", UploadId=upload)["Parts"]] == [MiB]


@pytest.mark.parametrize("order", ["cl-first", "te-first"])
def test_content_length_with_transfer_encoding_is_refused_and_closed(server, s3, bucket, order):
    key = f"smuggle-{uuid.uuid4().hex[:6]}"
    body = b"5\r\nhello\r\n0\r\n\r\n"
    # Signed, so that nothing but the framing is wrong with it.
    head = signed_head(server, "PUT", f"/{bucket}/{key}", {"Content-Length": str(len(body))}, body)
    framing = b"Transfer-Encoding: chunked\r\n"
    if order == "te-first":
        head = head.replace(b"\r\n", b"\r\n" + framing, 1)
    else:
        head = head[:-2] + framing + b"\r\n"
    assert head.count(b"Transfer-Encoding") == 1 and head.count(b"Content-Length") == 1
    with connect(server) as s:
        # A normal request first on the same connection: the refusal is of the one request.
        s.sendall(f"GET /{bucket} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        s.settimeout(5)
        first = s.recv(65536)
        assert status_of(first) == 403  # anonymous
        s.sendall(head + body + b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        closed, answer, _ = closed_by_peer(s, wait=10)
    assert status_of(answer) == 400, answer[:300]
    assert b"Content-Length and Transfer-Encoding" in answer
    assert answer.count(b"HTTP/1.1 ") == 1, "the request after it is not served"
    assert closed
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_connections_over_the_limit_are_refused_promptly(tmp_path):
    with private_server(tmp_path, "--max-connections", "8", "--header-timeout", "30s") as server:
        s3 = server.client()
        s3.list_buckets()
        idle = [connect(server) for _ in range(8)]
        try:
            # Wait until the server holds all eight (the client's own pool closed its socket).
            assert wait_for(lambda: answer(server) == "SlowDown", timeout=10)
            started = time.monotonic()
            with pytest.raises(ClientError) as e:
                server.client().list_buckets()
            assert error_code(e) == "SlowDown"
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert time.monotonic() - started < 2
        finally:
            for s in idle:
                s.close()
        # Slots free up as soon as those connections end.
        assert wait_for(lambda: answer(server) == "ok", timeout=10)


def answer(server):
    """What a fresh client's ListBuckets gets: "ok" or the error code."""
    try:
        server.client().list_buckets()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
