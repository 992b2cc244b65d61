"""Tunnel benchmark: rows/s ingested into a 5-column table (bigint, string, double, boolean,
datetime) stored as Parquet, through ferry's Rust buffered tunnel writer and through pyodps'
`table.open_writer()`, against one `ferry serve`, side by side in one run; and the rows read back
through a download session. As a reference it
also measures the Parquet encoding alone (the same rows into a file in memory, one core, no
network, no record codec), and the CPU time the server and the client spend per row."""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "compat"))
from conftest import ACCESS_KEY, SECRET_KEY, FerryServer  # noqa: E402
from odps import ODPS  # noqa: E402
from odps.tunnel import TableTunnel  # noqa: E402
import flame  # noqa: E402
from procstat import cpu_seconds  # noqa: E402

# TUNNEL_LOAD (with FERRY_BIN for the server) compares other builds side by side.
LOAD = Path(os.environ.get("TUNNEL_LOAD", REPO / "target" / "release" / "examples" / "tunnel_load"))
SCHEMA = "id bigint, name string, amount double, flag boolean, at datetime"
TARGET = 1_000_000


def children_cpu():
    usage = os.times()
    return usage.children_user + usage.children_system


def stored_rows(o, table):
    return TableTunnel(o).create_download_session(table).count


def rust_writer(server, o, rows, parallel, profile=None):
    """The Rust writer's upload then download; with `profile` (a directory), the upload is
    recorded with perf and rendered as docs/flamegraphs/tunnel-ingest.svg."""
    table = "rust_" + uuid.uuid4().hex[:8]
    o.create_table(table, SCHEMA)
    recorder = flame.start(server.proc.pid, profile / "tunnel.perf") if profile else None
    server_cpu, client_cpu = cpu_seconds(server.proc.pid), children_cpu()
    out = subprocess.run([str(LOAD), "upload", f"{server.url}/odps", ACCESS_KEY, SECRET_KEY, "proj", table, str(rows),
                          str(parallel)], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    result["server_cpu"] = cpu_seconds(server.proc.pid) - server_cpu
    result["client_cpu"] = children_cpu() - client_cpu
    if recorder:
        title = (f"ferry serve, tunnel ingest: {rows:,} rows, server {per_row_us(result, 'server_cpu'):.2f} CPU us/row, "
                 f"{result['rows_per_s'] / 1e6:.2f} M rows/s (under perf)")
        flame.finish(recorder, profile / "tunnel.perf", "tunnel-ingest", title,
                     ("RecordDecoder", "ColumnBuilders", "snap", "parquet", "md5", "crc_fast"))
    assert stored_rows(o, table) == rows, "every row is stored once"
    server_cpu = cpu_seconds(server.proc.pid)
    out = subprocess.run([str(LOAD), "download", f"{server.url}/odps", ACCESS_KEY, SECRET_KEY, "proj", table],
                         check=True, capture_output=True, text=True)
    result["download"] = json.loads(out.stdout)
    result["download"]["server_cpu"] = cpu_seconds(server.proc.pid) - server_cpu
    return result


def pyodps_writer(server, o, rows):
    """pyodps' own buffered writer (block ids, buffering and retries are the SDK's)."""
    table = "py_" + uuid.uuid4().hex[:8]
    o.create_table(table, SCHEMA)
    epoch = datetime.datetime.fromtimestamp(1_700_000_000)  # the Rust writer's datetimes, in ms
    server_cpu, client_cpu = cpu_seconds(server.proc.pid), time.process_time()
    start = time.perf_counter()
    with o.get_table(table).open_writer() as writer:
        batch = []
        for i in range(rows):
            batch.append([i, f"customer-{i % 100_000}", i * 0.25, i % 3 == 0, epoch + datetime.timedelta(milliseconds=i)])
            if len(batch) == 10_000:
                writer.write(batch)
                batch = []
        if batch:
            writer.write(batch)
    seconds = time.perf_counter() - start
    result = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
              "server_cpu": cpu_seconds(server.proc.pid) - server_cpu, "client_cpu": time.process_time() - client_cpu}
    assert stored_rows(o, table) == rows, "every row is stored once"
    return result


def parquet_only(rows):
    out = subprocess.run([str(LOAD), "parquet", str(rows)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def per_row_us(result, key):
    return result[key] / result["rows"] * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows per Rust writer run")
    ap.add_argument("--pyodps-rows", type=int, default=500_000, help="rows per pyodps run")
    ap.add_argument("--parallel", type=int, default=4, help="blocks in flight for the Rust writer")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is kept")
    ap.add_argument("--profile", action="store_true",
                    help="record ferry serve with perf during one Rust writer upload and write "
                         "docs/flamegraphs/tunnel-ingest.svg (no rounds)")
    args = ap.parse_args()
    if not LOAD.exists():
        sys.exit(f"{LOAD} is missing: run bench/run.sh --tunnel, which builds it")
    work = Path(tempfile.mkdtemp(prefix="ferry-bench-tunnel-", dir=REPO / "bench"))
    try:
        (work / "data").mkdir()
        server = FerryServer(work / "data").start()  # its log goes beside the data, into work
        try:
            o = ODPS(ACCESS_KEY, SECRET_KEY, "proj", endpoint=f"{server.url}/odps")
            if args.profile:
                rust_writer(server, o, args.rows, args.parallel, profile=work)
                return
            best = {}
            # Alternate the writers so both see the same machine state; keep each one's best round.
            for _ in range(args.rounds):
                for name, run in (("parquet only", lambda: parquet_only(args.rows)),
                                  ("ferry Rust writer", lambda: rust_writer(server, o, args.rows, args.parallel)),
                                  ("pyodps open_writer", lambda: pyodps_writer(server, o, args.pyodps_rows))):
                    result = run()
                    if result["rows_per_s"] > best.get(name, {"rows_per_s": 0})["rows_per_s"]:
                        best[name] = result
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rust, py, parquet = best["ferry Rust writer"], best["pyodps open_writer"], best["parquet only"]
    print(f"tunnel ingest, 5 columns ({SCHEMA}), best of {args.rounds} alternating rounds, "
          f"{os.cpu_count()} cores shared by client and server")
    print(f"  Parquet encoding alone (1 core) {parquet['rows_per_s']:12,.0f} rows/s   ({parquet['rows']:,} rows, "
          f"{parquet['bytes'] / parquet['rows']:.1f} bytes/row)")
    for name, r in (("ferry Rust writer", rust), ("pyodps open_writer", py)):
        print(f"  {name:31} {r['rows_per_s']:12,.0f} rows/s   ({r['rows']:,} rows in {r['seconds']:.2f} s; CPU per row: "
              f"server {per_row_us(r, 'server_cpu'):.2f} us, client {per_row_us(r, 'client_cpu'):.2f} us)")
    down = rust["download"]
    print(f"  download, ferry Rust reader       {down['rows_per_s']:12,.0f} rows/s   ({down['rows']:,} rows checked; "
          f"server CPU per row {per_row_us(down, 'server_cpu'):.2f} us)")
    print(f"  ratio Rust writer / target 1 M rows/s  {rust['rows_per_s'] / TARGET:6.2f}")
    print(f"  ratio Rust writer / pyodps             {rust['rows_per_s'] / py['rows_per_s']:6.2f}x")
    print(f"  ratio Rust writer / Parquet alone      {rust['rows_per_s'] / parquet['rows_per_s']:6.2f}")


if __name__ == "__main__":
    main()
