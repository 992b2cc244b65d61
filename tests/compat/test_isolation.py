"""Tables and object uploads stay apart. Regression tests for table sessions being S3 multipart
uploads in the table bucket: an S3 client could list a Tunnel upload, fill it with garbage that
a Tunnel commit then published ("Corrupt footer" on every read), or overwrite `_schema.json`,
after which every table call failed. The table bucket is now readable but not writable through
S3 and OSS, and a Tunnel upload is no object upload at all. A table file damaged on disk anyway
is a clear error, and DROP TABLE still works."""

import json

import oss2
import pytest
from botocore.exceptions import ClientError
from odps import errors
from odps.tunnel import TableTunnel

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, blob_files, error_code
from test_tunnel import odps_for, one_block_session, read_all, table_name

TABLES = "ferry-tables"


@pytest.fixture
def private(tmp_path):
    (tmp_path / "data").mkdir()
    server = FerryServer(tmp_path / "data").start()
    yield server
    server.stop()


def table_key(o, name, s3):
    """The object key of a table's upload, as it would be if uploads were objects."""
    schema = json.loads(s3.get_object(Bucket=TABLES, Key=f"proj/{name}/_schema.json")["Body"].read())
    return f"proj/{name}/{schema['tableId']}/_upload"


def test_s3_cannot_see_or_touch_a_tunnel_upload(server):
    o = odps_for(server)
    s3 = server.client()
    name, tunnel, up = one_block_session(o)
    key = table_key(o, name, s3)

    assert "Uploads" not in s3.list_multipart_uploads(Bucket=TABLES), "table uploads are not S3 uploads"
    for call, args in [
        (s3.upload_part, {"PartNumber": 1, "Body": b"garbage, not Parquet"}),
        (s3.list_parts, {}),
        (s3.complete_multipart_upload, {"MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}}),
        (s3.abort_multipart_upload, {}),
    ]:
        with pytest.raises(ClientError) as e:
            call(Bucket=TABLES, Key=key, UploadId=up.id, **args)
        assert error_code(e) == "NoSuchUpload", call.__name__

    # OSS sees no such upload either.
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, TABLES)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.upload_part(key, up.id.upper(), 1, b"garbage")
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.list_parts(key, up.id.upper())

    # The session is untouched: it holds block 0 only, commits, and reads back.
    assert tunnel.create_upload_session(name, upload_id=up.id).blocks == [0]
    up.commit([0])
    assert [r["id"] for r in read_all(o, name, None)] == [1]


def test_the_table_bucket_is_read_only_to_s3_and_oss(server, bucket):
    o = odps_for(server)
    s3 = server.client()
    name = table_name()
    o.create_table(name, "id bigint, s string")
    o.write_table(name, [[1, "x"], [2, "y"]])
    schema_key = f"proj/{name}/_schema.json"
    original = s3.get_object(Bucket=TABLES, Key=schema_key)["Body"].read()
    listed = [c["Key"] for c in s3.list_objects_v2(Bucket=TABLES, Prefix=f"proj/{name}/")["Contents"]]
    assert schema_key in listed and any(k.endswith(".parquet") for k in listed), "tables are readable by S3"
    s3.put_object(Bucket=bucket, Key="evil.json", Body=b"{}")

    denied = [
        lambda: s3.put_object(Bucket=TABLES, Key=schema_key, Body=b"garbage"),
        lambda: s3.copy_object(Bucket=TABLES, Key=schema_key, CopySource={"Bucket": bucket, "Key": "evil.json"}),
        lambda: s3.create_multipart_upload(Bucket=TABLES, Key=schema_key),
        lambda: s3.delete_object(Bucket=TABLES, Key=schema_key),
        lambda: s3.delete_bucket(Bucket=TABLES),
        lambda: s3.create_bucket(Bucket=TABLES),
    ]
    for call in denied:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "AccessDenied"
    result = s3.delete_objects(Bucket=TABLES, Delete={"Objects": [{"Key": k} for k in listed]})
    assert [err["Code"] for err in result.get("Errors", [])] == ["AccessDenied"] * len(listed)

    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, TABLES)
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.put_object(schema_key, b"garbage")
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.init_multipart_upload(schema_key)
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.delete_object(schema_key)

    # Nothing changed: the schema is the same, and every table call works, DROP included.
    assert s3.get_object(Bucket=TABLES, Key=schema_key)["Body"].read() == original
    assert sorted(r["id"] for r in o.read_table(name)) == [1, 2]
    o.delete_table(name)
    assert not o.exist_table(name)
    o.create_table(name, "id bigint")


def overwrite(path, data):
    path.write_bytes(data)


def test_corrupt_table_files_are_a_clear_error_and_drop_still_works(private):
    o = odps_for(private)
    name = table_name()
    o.create_table(name, "id bigint, s string")
    o.write_table(name, [[1, "x"], [2, "y"]])

    # A data file damaged on disk: its footer is no Parquet footer any more.
    parquet = [p for p in blob_files(private.data_dir) if p.read_bytes().startswith(b"PAR1")]
    assert len(parquet) == 1, parquet
    overwrite(parquet[0], b"x" * parquet[0].stat().st_size)
    with pytest.raises(errors.ODPSError) as e:
        TableTunnel(o).create_download_session(name)
    assert e.value.code == "TableCorrupt", e.value
    assert "not readable Parquet" in str(e.value)
    o.delete_table(name)
    assert not o.exist_table(name)
    o.create_table(name, "id bigint, s string")
    o.write_table(name, [[3, "z"]])
    assert [[r["id"], r["s"]] for r in o.read_table(name)] == [[3, "z"]]

    # A schema that is no JSON any more (the dropped table's schema blob may still be waiting
    # for garbage collection: pick the current one by its table id).
    current = private.client().get_object(Bucket=TABLES, Key=f"proj/{name}/_schema.json")["Body"].read()
    table_id = json.loads(current)["tableId"].encode()
    schemas = [p for p in blob_files(private.data_dir) if table_id in p.read_bytes() and b"tableId" in p.read_bytes()]
    assert len(schemas) == 1, schemas
    overwrite(schemas[0], b"not json".ljust(schemas[0].stat().st_size, b" "))
    with pytest.raises(errors.ODPSError) as e:
        o.get_table(name).reload()
    assert e.value.code == "TableCorrupt", e.value
    assert "drop the table" in str(e.value)
    o.delete_table(name)
    o.create_table(name, "id bigint")
    o.write_table(name, [[4]])
    assert [r["id"] for r in o.read_table(name)] == [4]
