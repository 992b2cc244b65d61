"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/seed-*.

    python3 fuzz/seeds.py

Seeds are the bodies and request heads ferry's real clients send (boto3, oss2, ufile, pyodps),
in the form each target's entry point reads (see the `fuzz` module of the crate that owns the
parser). `cargo fuzz run` grows the corpora from them; `cargo fuzz cmin` keeps them small."""
import hashlib, os, struct, zlib

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(target, items):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for item in items:
        data = item.encode() if isinstance(item, str) else item
        with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
            f.write(data)


S3NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
write("xml", [
    f'<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload {S3NS}><Part><ETag>"296e"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>qcHkIg==</ChecksumCRC32></Part><Part><PartNumber>3</PartNumber><ETag>abc</ETag></Part></CompleteMultipartUpload>',
    '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag><ChecksumSHA256>x</ChecksumSHA256></Part></CompleteMultipartUpload>',
    f'<Delete {S3NS}><Quiet>true</Quiet><Object><Key>a/b</Key><VersionId>null</VersionId></Object><Object><Key>c&amp;d</Key></Object></Delete>',
    '<?xml version="1.0" encoding="UTF-8"?>\n<Delete><Quiet>false</Quiet><Object><Key>k1</Key></Object><Object><Key><![CDATA[k2]]></Key></Object></Delete>',
    f'<CreateBucketConfiguration {S3NS}><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>',
    '<?xml version="1.0" encoding="UTF-8"?><CreateBucketConfiguration><StorageClass>Standard</StorageClass></CreateBucketConfiguration>',
    f'<AccessControlPolicy {S3NS}><Owner><ID>ferry</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>ferry</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>',
    '<?xml version="1.0" encoding="utf-8"?>\n<Instance>\n  <Job>\n    <Priority>9</Priority>\n    <Tasks>\n      <SQL>\n        <Name>AnonymousSQLTask</Name>\n        <Config><Property><Name>settings</Name><Value>{}</Value></Property></Config>\n        <Query><![CDATA[CREATE TABLE t (a BIGINT);]]></Query>\n      </SQL>\n    </Tasks>\n    <DAG><RunMode>Sequence</RunMode></DAG>\n  </Job>\n</Instance>',
    '<!DOCTYPE x [<!ENTITY a "b">]><Delete><Object><Key>&a;&#x41;&#65;</Key></Object></Delete>',
])


def sized(size, text):
    return struct.pack("<Q", size) + text.encode()


write("http_fields", [
    sized(100, "bytes=0-9"), sized(100, "bytes=90-"), sized(100, "bytes=-10"), sized(0, "bytes=0-"),
    sized(2**64 - 1, "bytes=18446744073709551615-"), sized(5, "bytes=1-2,4-5"),
    sized(0, "Tue, 15 Nov 1994 08:12:31 GMT"), sized(0, "Sunday, 06-Nov-94 08:49:37 GMT"),
    sized(0, "uploads&prefix=a%2Fb&max-keys=10&response-content-type=text%2Fplain&partNumber=1&uploadId=x"),
    sized(0, "/b/k?acl&x-id=PutObject&response-content-disposition=attachment%3B%20filename%3D%22%E2%82%AC%22"),
])

# aws-chunked: the first byte is the read size (low 7 bits, 0: one read) and "signed" (top bit).
plain = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
sig = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
signed = (f"400;chunk-signature={sig}\r\n".encode() + b"a" * 1024 + b"\r\n"
          + b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n"
          + b"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:63bddb248ad2590c92712055f51b8e78ab024eead08276b24f010b0efd74843f\r\n\r\n")
write("aws_chunked", [
    b"\x00" + plain, b"\x03" + plain, b"\x01" + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"\x00" + b"0\r\nx-amz-checksum-sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\r\n",
    b"\x80" + signed, b"\x87" + signed[:200], b"\x00" + b"3\r\nhello\r\n0\r\n\r\n",
])

SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
write("s3_auth", [
    "PUT /bucket/key.txt\nHost: 127.0.0.1:9000\nx-amz-date: @AMZDATE@\nx-amz-content-sha256: " + SHA_EMPTY
    + "\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDFUZZ/@DATE8@/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64,
    "PUT /bucket/key?partNumber=1&uploadId=abc\nHost: bucket.s3.fuzz.test\nx-amz-date: @AMZDATE@\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\nx-amz-trailer: x-amz-checksum-crc32\nContent-Encoding: aws-chunked\nx-amz-decoded-content-length: 11\n"
    + "Authorization: AWS4-HMAC-SHA256 Credential=AKIDFUZZ/@DATE8@/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-trailer,Signature=" + "a" * 64,
    "GET /bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFUZZ%2F@DATE8@%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=@AMZDATE@&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "b" * 64 + "\nHost: 127.0.0.1",
    "GET /bucket?list-type=2&prefix=a%2F&delimiter=%2F\nHost: 127.0.0.1\nDate: @HTTPDATE@\nAuthorization: AWS AKIDFUZZ:aGVsbG8=\nx-amz-meta-a: b\nx-amz-acl: private",
    "GET /bucket/key?AWSAccessKeyId=AKIDFUZZ&Expires=@EPOCH@9&Signature=abc%3D&response-content-type=text%2Fplain\nHost: 127.0.0.1",
    "DELETE /bucket/key?uploadId=x\nHost: 127.0.0.1\nx-amz-date: @AMZDATE@\nx-amz-security-token: t\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=c",
])

write("oss_auth", [
    "PUT /key.txt\nHost: bucket.oss.fuzz.test\nDate: @HTTPDATE@\nContent-Type: text/plain\nContent-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\nx-oss-meta-a: 1\nAuthorization: OSS AKIDFUZZ:aGVsbG8=",
    "POST /bucket/key?uploads\nHost: 127.0.0.1:9000\nDate: @HTTPDATE@\nAuthorization: OSS AKIDFUZZ:aGVsbG8=",
    "GET /bucket/key?OSSAccessKeyId=AKIDFUZZ&Expires=@EPOCH@9&Signature=abc%2B%3D&response-content-disposition=attachment\nHost: 127.0.0.1",
    "PUT /bucket/key?partNumber=2&uploadId=u\nHost: 127.0.0.1\nx-oss-date: @AMZDATE@\nx-oss-content-sha256: UNSIGNED-PAYLOAD\nAuthorization: OSS4-HMAC-SHA256 Credential=AKIDFUZZ/@DATE8@/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=host,Signature=" + "0" * 64,
    "GET /bucket/?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=AKIDFUZZ%2F@DATE8@%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=@AMZDATE@&x-oss-expires=60&x-oss-signature=" + "1" * 64 + "\nHost: 127.0.0.1",
    "POST /bucket/?delete\nHost: 127.0.0.1\nDate: @HTTPDATE@\nx-oss-security-token: t\nAuthorization: OSS AKIDFUZZ:aGVsbG8=",
])

write("us3_auth", [
    "PUT /dir/file.txt\nHost: bucket.us3.fuzz.test\nDate: @HTTPDATE@\nContent-Type: text/plain\nAuthorization: UCloud AKIDFUZZ:aGVsbG8=",
    "POST /file.bin?uploads\nHost: bucket.us3.fuzz.test\nAuthorization: UCloud AKIDFUZZ:aGVsbG8=",
    "PUT /file.bin?uploadId=u&partNumber=0\nHost: bucket.us3.fuzz.test\nContent-Type: application/octet-stream\nAuthorization: UCloud AKIDFUZZ:aGVsbG8=",
    "GET /?listobjects&prefix=a&marker=&max-keys=10&delimiter=%2F\nHost: bucket.us3.fuzz.test\nAuthorization: UCloud AKIDFUZZ:aGVsbG8=",
    "GET /a%20b+c?UCloudPublicKey=AKIDFUZZ&Expires=@EPOCH@9&Signature=ab+c%3D\nHost: bucket.us3.fuzz.test",
    "PUT /copy\nHost: bucket.us3.fuzz.test\nX-Ufile-Copy-Source: /b2/k2\nAuthorization: UCloud AKIDFUZZ:x",
])

write("tunnel_auth", [
    "POST /odps/projects/proj/tables/t1/upload?partition=pt%3D%27p1%27%2Cregion%3Dx&curr_project=proj\nHost: 127.0.0.1\nDate: @HTTPDATE@\nContent-Type: application/json\nx-odps-tunnel-version: 5\nAuthorization: ODPS AKIDFUZZ:aGVsbG8=",
    "PUT /odps/projects/proj/tables/t1/upload?uploadid=abc&blockid=0\nHost: 127.0.0.1\nDate: @HTTPDATE@\nContent-Encoding: deflate\nx-odps-tunnel-version: 5\nAuthorization: ODPS AKIDFUZZ:aGVsbG8=",
    "POST /api/projects/p/instances\nHost: 127.0.0.1\nDate: @HTTPDATE@\nContent-Type: application/xml\nContent-MD5: abc\nAuthorization: ODPS AKIDFUZZ:aGVsbG8=",
    "GET /projects/p/tables/t?extended&partition=pt%3Dp1+x\nHost: 127.0.0.1\nDate: @HTTPDATE@\nAuthorization: ODPS AKIDFUZZ:aGVsbG8=",
    "GET /odps/projects/p/tunnel?service\nDate: Tue, 15 Nov 1994 08:12:31 GMT\nAuthorization: ODPS a/b/c:sig",
])

golden = open(os.path.join(ROOT, "..", "crates", "ferry-tunnel-wire", "tests", "golden", "pyodps-all-types.bin"), "rb").read()
# tunnel_records: the first byte picks the columns (bits 0-1; 3 = the golden file's), deflate (bit 2)
# and the read size (bits 3-7, 0: one read).
write("tunnel_records", [
    b"\x03" + golden, b"\x07" + zlib.compress(golden), b"\x0b" + golden, b"\x7f" + zlib.compress(golden, 1),
    b"\x03" + golden[:100], b"\x00" + golden,
])

write("ddl", [
    "CREATE TABLE IF NOT EXISTS proj.`t1` (\n  `id` BIGINT,\n  `name` STRING COMMENT 'a name',\n  `d` DECIMAL(10,2),\n  `ts` TIMESTAMP,\n  `b` BINARY,\n  `dt` DATETIME,\n  `dd` DATE,\n  `f` FLOAT,\n  `i` INT,\n  `bo` BOOLEAN,\n  `db` DOUBLE\n)\nCOMMENT 'hi'\nPARTITIONED BY (\n  `pt` STRING,\n  `region` STRING\n)\nLIFECYCLE 3;",
    "CREATE TABLE t (a VARCHAR(10), b CHAR(2), c SMALLINT, d TINYINT)",
    "DROP TABLE IF EXISTS proj.`t1`",
    "ALTER TABLE proj.`t1` ADD IF NOT EXISTS PARTITION (pt='p1', region='x y');",
    "ALTER TABLE t ADD PARTITION (n=3) PARTITION (n=4)",
    "CREATE TABLE t (`lifecycle` BIGINT) LIFECYCLE 10",
])

write("partition", [
    "pt=p1,region=x", "pt='p1',n=3", 'pt="a/b",n=-1', "pt=p1/n=2", "n=1,pt=2024-01-01 00:00:00",
    "decimal(10,2)\n12.34", "datetime\n2024-01-31 12:00:00.123", "timestamp\n1969-12-31T23:59:59.123456789",
    "date\n2024-02-29", "boolean\nTRUE", "double\n1e308", "varchar(20)\nx",
    '{"columns":[{"name":"a","type":"bigint","comment":"c","nullable":false}],"partitionKeys":[{"name":"pt","type":"string"}]}',
])
