"""The Tunnel dialect driven by the unmodified pyodps SDK: DDL through the instance API, upload
sessions (explicit and buffered writers, deflate, rewrites, reattach, commit), download sessions,
errors, and a kill -9 between block writes and commit."""

import concurrent.futures
import contextlib
import datetime
import decimal
import json
import subprocess
import time
import uuid

import pandas as pd
import pyarrow.parquet as pq
import pytest
from odps import ODPS, errors
from odps.models import TableSchema
from odps.tunnel import TableTunnel
from odps.tunnel.errors import TunnelError
from odps.types import Column, Partition

from conftest import ACCESS_KEY, FERRY_BIN, SECRET_KEY, FerryServer, wait_for

TYPES = ["bigint", "int", "double", "float", "boolean", "string", "binary", "datetime", "date", "decimal(10,2)",
         "timestamp"]


def odps_for(server, secret=SECRET_KEY):
    # No tunnel endpoint: the SDK asks ferry where its tunnel is.
    return ODPS(ACCESS_KEY, secret, "proj", endpoint=f"{server.url}/odps")


@pytest.fixture
def o(server):
    return odps_for(server)


def table_name():
    return "t_" + uuid.uuid4().hex[:10]


def all_types_table(o, name):
    schema = TableSchema(columns=[Column(f"c_{i}", t) for i, t in enumerate(TYPES)],
                         partitions=[Partition("pt", "string")])
    return o.create_table(name, schema, if_not_exists=True)


def all_types_row(i):
    if i % 5 == 4:
        return [None] * len(TYPES)
    return [
        i * 1_000_000_007, i % 1000, i / 3, 1.5, i % 2 == 0, f"row {i} é", bytes([i % 256, 0, 255]),
        datetime.datetime(2024, 1, 1, 12, 0, 0) + datetime.timedelta(seconds=i),
        datetime.date(2024, 2, 29) + datetime.timedelta(days=i), decimal.Decimal(i * 7 - 300) / 100,
        pd.Timestamp("2024-03-01 00:00:00.123456789") + pd.Timedelta(seconds=i),
    ]


def values(records, columns=None):
    return [[r[c] for c in (columns or [f"c_{i}" for i in range(len(TYPES))])] for r in records]


def put_raw_block(o, server, name, upload_id, block, body):
    """A block PUT with a body of our own making, signed by the SDK's REST client."""
    return o.rest.put(table_resource(server, name), body, params={"uploadid": upload_id, "blockid": str(block)},
                      headers={"Content-Type": "application/octet-stream", "x-odps-tunnel-version": "6"})


def table_resource(server, name):
    return f"{server.url}/odps/projects/proj/tables/{name}"


def read_all(o, name, partition):
    tunnel = TableTunnel(o)
    down = tunnel.create_download_session(name, partition_spec=partition)
    if down.count == 0:
        return []
    with down.open_record_reader(0, down.count) as reader:
        return list(reader)


def test_ddl_through_the_instance_api(o):
    name = table_name()
    assert not o.exist_table(name)
    t = all_types_table(o, name)
    assert o.exist_table(name)
    got = o.get_table(name)
    assert [str(c.type).lower() for c in got.table_schema.simple_columns] == TYPES
    assert [p.name for p in got.table_schema.partitions] == ["pt"]
    all_types_table(o, name)  # IF NOT EXISTS: no error
    with pytest.raises(errors.ObjectAlreadyExists):
        o.create_table(name, "a bigint")

    assert not t.exist_partition("pt=x")
    t.create_partition("pt=x")
    assert t.exist_partition("pt=x")
    t.create_partition("pt=x", if_not_exists=True)
    with pytest.raises(errors.ObjectAlreadyExists):
        t.create_partition("pt=x")

    o.delete_table(name)
    assert not o.exist_table(name)
    with pytest.raises(errors.NoSuchTable):
        o.delete_table(name)
    o.delete_table(name, if_exists=True)
    with pytest.raises(errors.ODPSError, match="not supported"):
        o.execute_sql("SELECT 1")
    with pytest.raises(errors.ODPSError, match="unsupported type"):
        o.create_table(table_name(), "a array<bigint>")


def test_upload_every_type_rewrite_reattach_commit_and_read_back(o):
    name = table_name()
    all_types_table(o, name)
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name, partition_spec="pt=p1", create_partition=True)
    with up.open_record_writer(0) as w:  # written, then rewritten below
        w.write(up.new_record(all_types_row(999)))
    with up.open_record_writer(7, compress=True) as w:
        for i in range(100, 200):
            w.write(up.new_record(all_types_row(i)))
    with up.open_record_writer(0) as w:
        for i in range(100):
            w.write(up.new_record(all_types_row(i)))

    again = tunnel.create_upload_session(name, partition_spec="pt=p1", upload_id=up.id)
    assert sorted(again.blocks) == [0, 7]
    assert again.status.value == "NORMAL"
    again.commit([0, 7])
    assert tunnel.create_upload_session(name, partition_spec="pt=p1", upload_id=up.id).status.value == "CLOSED"

    expected = [all_types_row(i) for i in range(200)]
    rows = read_all(o, name, "pt=p1")
    assert values(rows) == expected
    assert all(r["pt"] == "p1" for r in rows)

    down = tunnel.create_download_session(name, partition_spec="pt=p1")
    with down.open_record_reader(95, 10, columns=["c_5", "c_0"]) as reader:
        assert [[r["c_5"], r["c_0"]] for r in reader] == [[e[5], e[0]] for e in expected[95:105]]
    with pytest.raises(errors.ODPSError, match="past the 200 rows"):
        with down.open_record_reader(150, 51) as reader:
            list(reader)
    o.get_table(name).create_partition("pt=empty")
    assert read_all(o, name, "pt=empty") == []


def test_buffered_writers_write_table_and_readers(o):
    name = table_name()
    o.create_table(name, TableSchema(columns=[Column("id", "bigint"), Column("s", "string")],
                                     partitions=[Partition("pt", "string")]))
    t = o.get_table(name)
    with t.open_writer(partition="pt=a", create_partition=True) as w:
        w.write([[i, f"s{i}"] for i in range(5000)])
    o.write_table(name, [[i, "w"] for i in range(10)], partition="pt=b", create_partition=True)
    with t.open_reader(partition="pt=a") as reader:
        assert reader.count == 5000
        assert sorted(r["id"] for r in reader) == list(range(5000))
    assert [r["id"] for r in o.read_table(name, partition="pt=b")] == list(range(10))

    plain = table_name()
    o.create_table(plain, "id bigint, s string")
    o.write_table(plain, [[1, "x"], [2, None]])
    assert [[r["id"], r["s"]] for r in o.read_table(plain)] == [[1, "x"], [2, None]]


def test_corrupt_blocks_and_mismatched_commits_store_nothing(o, server):
    name = table_name()
    o.create_table(name, "id bigint")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name)
    with up.open_record_writer(0) as w:
        for i in range(3):
            w.write(up.new_record([i]))
    # One record (id=5) with a wrong row checksum, then a valid-looking trailer.
    corrupt = bytes([0x08, 0x0A, 0x80, 0xC0, 0xFF, 0x7F, 0x01, 0xF0, 0xFF, 0xFF, 0x7F, 0x02, 0xF8, 0xFF, 0xFF, 0x7F, 0x00])
    for block in ("0", "1"):
        with pytest.raises(errors.InvalidArgument, match="checksum"):
            put_raw_block(o, server, name, up.id, block, corrupt)
    with pytest.raises(errors.InvalidArgument, match="block id"):
        put_raw_block(o, server, name, up.id, 20000, b"")
    assert tunnel.create_upload_session(name, upload_id=up.id).blocks == [0]

    # The SDK refuses a list that does not match; ferry refuses it too when a client sends one.
    with pytest.raises(TunnelError):
        up.commit([0, 1])
    with pytest.raises(errors.InvalidArgument, match="does not match"):
        o.rest.post(table_resource(server, name), json.dumps({"BlockList": [0, 1]}), params={"uploadid": up.id})
    assert read_all(o, name, None) == []
    up.commit([0])
    assert [r["id"] for r in read_all(o, name, None)] == [0, 1, 2]


def test_errors_map_to_the_sdk_exceptions(o, server):
    name = table_name()
    with pytest.raises(errors.NoSuchTable):
        o.get_table(name).reload()
    o.create_table(name, TableSchema(columns=[Column("id", "bigint")], partitions=[Partition("pt", "string")]))
    tunnel = TableTunnel(o)
    with pytest.raises(errors.NoSuchPartition):
        tunnel.create_upload_session(name, partition_spec="pt=missing")
    with pytest.raises(errors.InvalidArgument, match="partition"):
        tunnel.create_upload_session(name)
    with pytest.raises(errors.ODPSError) as e:
        tunnel.create_upload_session(name, partition_spec="pt=missing", upload_id="nope")
    assert e.value.code == "NoSuchUpload"
    with pytest.raises(errors.SignatureNotMatch):
        odps_for(server, secret="wrong").exist_table(name)


def test_kill9_between_blocks_and_commit_loses_and_duplicates_nothing(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = FerryServer(data_dir).start()
    try:
        o = odps_for(server)
        name = table_name()
        o.create_table(name, "id bigint, s string")
        tunnel = TableTunnel(o)
        up = tunnel.create_upload_session(name)
        for block in range(4):
            with up.open_record_writer(block) as w:
                for i in range(block * 1000, block * 1000 + 1000):
                    w.write(up.new_record([i, f"v{i}"]))
        server.kill9()
        server = FerryServer(data_dir).start()
        o = odps_for(server)
        tunnel = TableTunnel(o)
        again = tunnel.create_upload_session(name, upload_id=up.id)
        assert sorted(again.blocks) == [0, 1, 2, 3]
        again.commit([0, 1, 2, 3])
        ids = [r["id"] for r in read_all(o, name, None)]
        assert sorted(ids) == list(range(4000))
        assert len(ids) == len(set(ids))
    finally:
        server.stop()


def test_blocks_written_in_parallel_threads(o):
    name = table_name()
    o.create_table(name, "id bigint, s string")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name)

    def write(block):
        with up.open_record_writer(block) as w:
            for i in range(block * 2000, block * 2000 + 2000):
                w.write(up.new_record([i, f"v{i}"]))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(write, [5, 0, 19999, 3, 8, 1, 2, 4]))
    assert sorted(tunnel.create_upload_session(name, upload_id=up.id).blocks) == [0, 1, 2, 3, 4, 5, 8, 19999]
    up.commit([0, 1, 2, 3, 4, 5, 8, 19999])
    ids = sorted(r["id"] for r in read_all(o, name, None))
    assert ids == sorted(i for b in [0, 1, 2, 3, 4, 5, 8, 19999] for i in range(b * 2000, b * 2000 + 2000))


@contextlib.contextmanager
def private_server(tmp_path, *flags):
    """A server of its own, started with `flags`, stopped on the way out."""
    (tmp_path / "data").mkdir()
    server = FerryServer(tmp_path / "data", *flags).start()
    try:
        yield server
    finally:
        server.stop()


def one_block_session(o):
    """A new `id bigint` table with an upload session holding block 0 (one row)."""
    name = table_name()
    o.create_table(name, "id bigint")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name)
    with up.open_record_writer(0) as w:
        w.write(up.new_record([1]))
    return name, tunnel, up


def test_a_stalled_block_upload_is_cut_off_and_stores_nothing(tmp_path):
    with private_server(tmp_path, "--tunnel-idle-timeout", "1s") as server:
        o = odps_for(server)
        name, tunnel, up = one_block_session(o)

        def stalling():
            yield bytes([0x08, 0x02])  # field 1 = 1, then silence
            time.sleep(4)
            yield bytes([0x80, 0xC0, 0xFF, 0x7F])

        with pytest.raises(errors.InvalidArgument, match="no data for 1 s") as e:
            put_raw_block(o, server, name, up.id, 1, stalling())
        assert str(e.value).count("invalid argument") == 1, "the message is said once"
        assert tunnel.create_upload_session(name, upload_id=up.id).blocks == [0]


def test_sessions_expire_after_their_lifetime(tmp_path):
    with private_server(tmp_path, "--session-lifetime", "2s", "--sweep-interval", "200ms") as server:
        o = odps_for(server)
        name, tunnel, up = one_block_session(o)
        assert wait_for(lambda: tunnel.create_upload_session(name, upload_id=up.id).status.value == "EXPIRED",
                        timeout=15), "the session did not expire"
        with pytest.raises(errors.ODPSError, match="EXPIRED") as e:
            with up.open_record_writer(1) as w:
                w.write(up.new_record([2]))
        assert e.value.code == "NoSuchUpload"
        with pytest.raises(errors.ODPSError, match="EXPIRED"):
            o.rest.post(table_resource(server, name), json.dumps({"BlockList": [0]}), params={"uploadid": up.id})
        assert read_all(o, name, None) == []
        # A new session works as ever.
        fresh = tunnel.create_upload_session(name)
        with fresh.open_record_writer(0) as w:
            w.write(fresh.new_record([3]))
        fresh.commit([0])
        assert [r["id"] for r in read_all(o, name, None)] == [3]


def ferry_table(env, url, *args, check=True):
    result = subprocess.run([FERRY_BIN, "table", *args, "--endpoint-url", url], env=env, capture_output=True,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_cli_create_upload_resume_and_export(tmp_path, tool_env):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = FerryServer(data_dir).start()
    try:
        name = table_name()
        csv_file = tmp_path / "in.csv"
        with open(csv_file, "w") as f:
            f.write("amount,id,name,at\n")  # columns in any order; matched by name
            for i in range(50_000):
                f.write(f"{i % 100}.5,{i},n{i},2024-01-01 00:00:{i % 60:02d}\n" if i % 7 else f",{i},,\n")
        ferry_table(tool_env, server.url, "create", f"proj.{name}", "id bigint, name string, amount decimal(6,1), at datetime",
                    "--partitioned-by", "pt string")
        r = ferry_table(tool_env, server.url, "upload", str(csv_file), f"proj.{name}/pt=a", check=False)
        assert r.returncode == 1 and "NoSuchPartition" in r.stderr, r.stderr
        ferry_table(tool_env, server.url, "upload", str(csv_file), f"proj.{name}/pt=a", "--block-rows", "5000",
                    "--create-partition")
        o = odps_for(server)
        rows = read_all(o, name, "pt=a")
        assert sorted(r["id"] for r in rows) == list(range(50_000))
        by_id = {r["id"]: r for r in rows}
        assert by_id[7]["name"] is None and by_id[7]["amount"] is None
        assert by_id[8]["name"] == "n8" and by_id[8]["amount"] == decimal.Decimal("8.5")

        # A bad cell is reported with its line, and nothing is committed.
        bad = tmp_path / "bad.csv"
        bad.write_text("id,name,amount,at\n1,x,1.0,2024-01-01 00:00:00\nnope,x,1.0,\n")
        r = ferry_table(tool_env, server.url, "upload", str(bad), f"proj.{name}/pt=bad", "--create-partition", check=False)
        assert r.returncode == 1 and "line 3, column id" in r.stderr, r.stderr
        assert read_all(o, name, "pt=bad") == []

        # Interrupted (the server dies mid-upload), then the same command again: resumes.
        big = tmp_path / "big.csv"
        with open(big, "w") as f:
            f.write("id,name,amount,at\n")
            for i in range(400_000):
                f.write(f"{i},v{i},1.0,2024-01-01 00:00:00\n")
        proc = subprocess.Popen([FERRY_BIN, "table", "upload", str(big), f"proj.{name}/pt=b", "--create-partition",
                                 "--block-rows", "2000", "--parallel", "1", "--endpoint-url", server.url],
                                env=tool_env, stderr=subprocess.PIPE, text=True)
        checkpoint = list(tmp_path.glob(".big.csv.ferry-table-*.json"))
        deadline = time.time() + 30
        while not checkpoint and time.time() < deadline:
            time.sleep(0.01)
            checkpoint = list(tmp_path.glob(".big.csv.ferry-table-*.json"))
        time.sleep(0.3)
        server.kill9()
        assert proc.wait(timeout=120) != 0
        server = FerryServer(data_dir).start()
        r = ferry_table(tool_env, server.url, "upload", str(big), f"proj.{name}/pt=b", "--create-partition",
                        "--block-rows", "2000")
        assert "resuming upload" in r.stderr, r.stderr
        o = odps_for(server)
        ids = [r["id"] for r in read_all(o, name, "pt=b")]
        assert len(ids) == 400_000 and set(ids) == set(range(400_000))
        assert not list(tmp_path.glob(".big.csv.ferry-table-*.json")), "the checkpoint is removed once committed"

        # Export as Parquet, and load the file into another table.
        out = tmp_path / "export"
        ferry_table(tool_env, server.url, "export", f"proj.{name}/pt=a", str(out), "--file-rows", "20000")
        files = sorted(out.glob("part-*.parquet"))
        assert len(files) == 3 and all(f.read_bytes()[:4] == b"PAR1" for f in files)
        # Any Parquet reader opens them: pyarrow sees the table's columns, types and rows.
        exported = pq.read_table(out).to_pylist()
        assert pq.read_schema(files[0]).names == ["id", "name", "amount", "at"]
        assert sorted(r["id"] for r in exported) == list(range(50_000))
        by_id_exported = {r["id"]: r for r in exported}
        assert by_id_exported[8]["name"] == "n8" and by_id_exported[8]["amount"] == decimal.Decimal("8.5")
        assert by_id_exported[7]["name"] is None
        copy = table_name()
        ferry_table(tool_env, server.url, "create", f"proj.{copy}", "id bigint, name string, amount decimal(6,1), at datetime")
        for f in files:
            ferry_table(tool_env, server.url, "upload", str(f), f"proj.{copy}")
        copied = read_all(o, copy, None)
        assert sorted(values(copied, ["id", "name", "amount", "at"])) == sorted(values(rows, ["id", "name", "amount", "at"]))
    finally:
        server.stop()
