"""SigV4 signed aws-chunked bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, as the Java SDK v1 and
MinIO clients send them) and header UNSIGNED-PAYLOAD, signed here step by step per AWS's spec."""

import datetime
import hashlib
import hmac
import http.client

from conftest import ACCESS_KEY, SECRET_KEY

EMPTY = hashlib.sha256(b"").hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(date):
    k = _hmac(("AWS4" + SECRET_KEY).encode(), date)
    for part in ("us-east-1", "s3", "aws4_request"):
        k = _hmac(k, part)
    return k


def sign_headers(method, host, path, headers, payload):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {**headers, "host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload}
    names = sorted(headers)
    canonical = "\n".join([method, path, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload])
    scope = f"{date}/us-east-1/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(date)
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return headers, key, amz_date, scope, signature


def chunked_body(data, chunk, key, amz_date, scope, seed, tamper=False):
    out, previous = b"", seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for n, piece in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY, hashlib.sha256(piece).hexdigest()])
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if tamper and n == 1:
            piece = piece[:-1] + bytes([piece[-1] ^ 1])
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return out


def request(server, method, path, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def put_streaming(server, path, data, tamper=False):
    host = f"127.0.0.1:{server.port}"
    base = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    headers, key, amz_date, scope, seed = sign_headers("PUT", host, path, base, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = chunked_body(data, 64 * 1024, key, amz_date, scope, seed, tamper)
    headers["content-length"] = str(len(body))
    return request(server, "PUT", path, headers, body)


def test_signed_chunks_accepted_and_tampering_refused(server, s3, bucket):
    data = bytes(range(256)) * 1000  # 256,000 bytes: four 64 KiB chunks and a short one
    status, body = put_streaming(server, f"/{bucket}/streamed", data)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == data
    status, body = put_streaming(server, f"/{bucket}/tampered", data, tamper=True)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    assert s3.list_objects_v2(Bucket=bucket, Prefix="tampered")["KeyCount"] == 0


def test_header_unsigned_payload(server, s3, bucket):
    host = f"127.0.0.1:{server.port}"
    headers, *_ = sign_headers("PUT", host, f"/{bucket}/unsigned", {}, "UNSIGNED-PAYLOAD")
    status, body = request(server, "PUT", f"/{bucket}/unsigned", headers, b"not covered by the signature")
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"not covered by the signature"
