"""Scale-out benchmark, everything measured side by side in one run on this machine:

1. small (4 KiB) UploadPart calls per second on one node, SQLite vs PostgreSQL metadata (blobs
   on local disk in both), against the disk's own rate of small durable writes measured in the same
   data directory just before each run (one writer, and as many writers as parts in flight); the
   fsyncs the server spends per part (counted by strace in a separate, untimed run) and the
   PostgreSQL transactions (= commits) per part. `--compare BIN` runs another ferry binary (say,
   the previous release) in the same rounds;
2. aggregate upload throughput of 1 node vs 3 nodes sharing PostgreSQL and an S3-compatible
   blob store (s3s-fs), against the blob store's own rate when written to directly.

Run it through bench/run.sh --scale (which builds and installs what it needs)."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "compat"))
import conftest  # noqa: E402
from conftest import ACCESS_KEY, FERRY_BIN, SECRET_KEY, FerryServer  # noqa: E402
from stores import PostgresCluster, free_port  # noqa: E402

PART_LOAD = REPO / "target" / "release" / "examples" / "part_load"
S3S_FS = REPO / "bench" / ".tools" / "bin" / "s3s-fs"
MiB = 1024 * 1024


def part_load(endpoints, parts, size, concurrency):
    out = subprocess.run([str(PART_LOAD), ",".join(endpoints), ACCESS_KEY, SECRET_KEY, str(parts), str(size),
                          str(concurrency)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["parts_per_second"]


def xacts(pg, url):
    """Committed transactions of the database so far (statements outside a transaction count one
    each). Read after the node stopped: backends flush their statistics when they exit."""
    time.sleep(0.5)
    name = url.rsplit("/", 1)[1]
    return int(pg.sql(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{name}'").strip())


def fsync_rate(work, threads, seconds=2.0):
    """The disk's physical limit for small parts: 4 KiB written to a new file then fdatasync, from
    `threads` threads at once (as concurrent parts are; creating the files is part of it here,
    while ferry creates them ahead in batches)."""
    import threading

    counts = [0] * threads
    stop = time.time() + seconds

    def run(i):
        d = work / f"fsync-{threads}-{time.monotonic_ns()}-{i}"
        d.mkdir()
        while time.time() < stop:
            fd = os.open(d / str(counts[i]), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            os.close(fd)
            counts[i] += 1
        # Left in place until the end of the run: deleting thousands of files just before a run
        # makes ext4's next inode allocations scan past recently deleted inodes (kernel CPU),
        # which the server, creating a file per blob, would pay for the probe.

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def count_fsyncs(node, parts, concurrency):
    """fsync + fdatasync calls of the server (every thread) per part, over `parts` parts. strace
    slows the server down, so this run is separate from the timed ones."""
    log = node.data_dir.parent / f"strace-{node.proc.pid}.txt"
    tracer = subprocess.Popen(["strace", "-c", "-f", "-e", "trace=fsync,fdatasync", "-o", str(log),
                               "-p", str(node.proc.pid)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # strace attaches to every thread before the load starts
    part_load([node.url], parts, 4096, concurrency)
    tracer.send_signal(2)
    tracer.wait()
    calls = 0
    for line in log.read_text().splitlines():
        fields = line.split()
        if fields and fields[-1] in ("fsync", "fdatasync"):
            calls += int(fields[3])
    return calls / parts


def small_parts(work, pg, parts, concurrency, rounds, binaries):
    """Alternate SQLite and PostgreSQL nodes (of each binary) `rounds` times; every rate is kept
    (the disk's fsync latency drifts from minute to minute, so one pair alone says little)."""
    runs = {}
    for round_ in range(rounds):
        for name, binary in binaries:
            conftest.FERRY_BIN = binary
            for label in ("sqlite", "postgres"):
                run = runs.setdefault((name, label), {"rate": [], "disk1": [], "disk": [], "fsyncs": [], "xacts": []})
                # This disk's fsync rate swings several-fold from minute to minute: measure the
                # limit right before each run, in the same data directory, and compare against it.
                run["disk1"].append(fsync_rate(work, 1, seconds=1.0))
                run["disk"].append(fsync_rate(work, concurrency))
                data = work / f"small-{name}-{label}-{round_}"
                data.mkdir()
                url = pg.database() if label == "postgres" else None
                before = xacts(pg, url) if url else 0
                node = FerryServer(data, *(["--meta", url] if url else [])).start()
                try:
                    part_load([node.url], 200, 4096, concurrency)  # warm-up: connections, prepared statements
                    run["rate"].append(part_load([node.url], parts, 4096, concurrency))
                    if url:
                        # Everything the node did counts, start-up and sweeper included.
                        node.stop()
                        run["xacts"].append((xacts(pg, url) - before) / (parts + 200))
                        node = FerryServer(data, "--meta", url).start()
                    if round_ == 0 and shutil.which("strace"):
                        run["fsyncs"].append(count_fsyncs(node, min(parts, 2000), concurrency))
                finally:
                    node.stop()
                # The data directory is removed with the rest at the end (see fsync_rate).
    return runs


def cp_many(endpoints, files, env):
    """Upload each file with `ferry cp` at once, file i to endpoint i; aggregate MB/s."""
    started = time.time()
    procs = []
    for i, f in enumerate(files):
        e = env | {"AWS_ENDPOINT_URL": endpoints[i % len(endpoints)]}
        procs.append(subprocess.Popen([FERRY_BIN, "cp", str(f), f"s3://agg/{f.name}", "--part-size", "8MiB",
                                       "--parallel", "4"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err
    return sum(f.stat().st_size for f in files) / (time.time() - started) / 1e6


def aggregate(work, pg, file_mib, streams):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1",
            "HOME": str(work)}
    files = []
    for i in range(streams):
        f = work / f"stream{i}.bin"
        with open(f, "wb") as out:
            for _ in range(file_mib):
                out.write(os.urandom(MiB))
        files.append(f)
    port = free_port()
    store_dir = work / "s3s"
    store_dir.mkdir()
    store = subprocess.Popen([str(S3S_FS), "--host", "127.0.0.1", "--port", str(port), "--access-key", ACCESS_KEY,
                              "--secret-key", SECRET_KEY, str(store_dir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store_url = f"http://127.0.0.1:{port}"
    results = {}
    try:
        time.sleep(1.0)
        s3 = boto3.client("s3", endpoint_url=store_url, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        s3.create_bucket(Bucket="blobs")
        s3.create_bucket(Bucket="agg")
        results["blob store direct"] = cp_many([store_url], files, env)
        url = pg.database()
        node_env = {k: "" for k in os.environ if k.startswith("AWS_")} | {
            "AWS_ENDPOINT_URL": store_url, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1"}
        nodes = []
        try:
            for i in range(3):
                (work / f"node{i}").mkdir()
                nodes.append(FerryServer(work / f"node{i}", "--meta", url, "--blobs", "s3://blobs/ferry",
                                         env=node_env).start())
            boto3.client("s3", endpoint_url=nodes[0].url, aws_access_key_id=ACCESS_KEY,
                         aws_secret_access_key=SECRET_KEY, region_name="us-east-1").create_bucket(Bucket="agg")
            results["1 node"] = cp_many([nodes[0].url], files, env)
            results["3 nodes"] = cp_many([n.url for n in nodes], files, env)
        finally:
            for n in nodes:
                n.stop()
    finally:
        store.terminate()
        store.wait()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", type=int, default=5000, help="small parts per run (at most 10000)")
    ap.add_argument("--concurrency", type=int, default=64, help="parts in flight (clients at once)")
    ap.add_argument("--file-mib", type=int, default=128, help="size of each upload stream in the aggregate test")
    ap.add_argument("--streams", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="alternating SQLite/PostgreSQL rounds of the small-part test")
    ap.add_argument("--compare", metavar="BIN", help="another ferry binary to run in the same small-part rounds")
    ap.add_argument("--only", choices=("small", "aggregate"), help="run one of the two tests")
    args = ap.parse_args()
    binaries = [("this", FERRY_BIN)] + ([("compare", args.compare)] if args.compare else [])
    work = Path(tempfile.mkdtemp(prefix="ferry-scale-", dir=REPO / "bench"))
    pg = PostgresCluster().start()
    try:
        runs = agg = None
        if args.only != "aggregate":
            runs = small_parts(work, pg, args.parts, args.concurrency, args.rounds, binaries)
        if args.only != "small":
            conftest.FERRY_BIN = FERRY_BIN
            agg = aggregate(work, pg, args.file_mib, args.streams)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    if runs:
        report_small(args, binaries, runs)
    if agg:
        report_aggregate(args, agg)


def report_small(args, binaries, runs):
    cores = os.cpu_count()
    print(f"small parts: {args.parts} x 4 KiB UploadPart, {args.concurrency} in flight, one node, "
          f"{cores} cores shared by load generator, ferry and PostgreSQL; {args.rounds} alternating rounds")
    print(f"  disk = new 4 KiB files + fdatasync per second in the same directory, measured just before each run "
          f"from 1 thread and from {args.concurrency} threads; ratio = parts/s / disk({args.concurrency})")
    for name, binary in binaries:
        print(f"  {name}: {binary}")
        for label, title in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
            run = runs[(name, label)]
            rounds = [f"{r:.0f} (disk {d1:.0f}/{d:.0f}, {r / d:.2f})"
                      for r, d1, d in zip(run["rate"], run["disk1"], run["disk"])]
            extra = ""
            if run["fsyncs"]:
                extra += f"   {run['fsyncs'][0]:.2f} server fsyncs per part"
            if run["xacts"]:
                extra += f", {max(run['xacts']):.2f} PostgreSQL transactions per part (its session read included)"
            print(f"    {title:10s} {min(run['rate']):6.0f}-{max(run['rate']):6.0f} parts/s{extra}")
            print(f"      rounds: {'; '.join(rounds)}")


def report_aggregate(args, agg):
    print(f"aggregate upload: {args.streams} concurrent `ferry cp` streams of {args.file_mib} MiB, "
          "PostgreSQL + s3s-fs blob store, all on this machine")
    direct = agg["blob store direct"]
    for label in ("blob store direct", "1 node", "3 nodes"):
        print(f"  {label:18s} {agg[label]:7.0f} MB/s   ratio to the blob store alone {agg[label] / direct:5.2f}x")
    print(f"  ratio 3 nodes / 1 node {agg['3 nodes'] / agg['1 node']:5.2f}x")


if __name__ == "__main__":
    main()
