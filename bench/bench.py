"""ferry benchmark: large-object upload and download through ferry and s3s-fs side by side, with
the CPU each server and each client spends per GiB, the hashing floor of this build measured in
the same run, ferry's peak RSS, and a CompleteMultipartUpload of 10,000 parts. Ratios are printed.

Every data directory, source and destination file lives on tmpfs (/dev/shm) unless --disk is
given, so the disk does not hide the CPU cost. Server CPU is read from /proc/<pid>/stat
(utime + stime) before and after each transfer; client CPU from the child's rusage."""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "compat"))
from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, s3_client  # noqa: E402
import flame  # noqa: E402
from procstat import cpu_seconds  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
S3S_FS = REPO / "bench" / ".tools" / "bin" / "s3s-fs"
FERRY = Path(os.environ.get("FERRY_BIN", str(REPO / "target" / "release" / "ferry")))
HASH_FLOOR = REPO / "target" / "release" / "examples" / "hash_floor"
SCENARIOS = ("s5cmd-upload", "cp-upload", "cp-download", "s5cmd-download")


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_env(url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=url, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


class Run:
    """One timed client command against one server: wall seconds, client and server CPU."""

    def __init__(self, args, env, server_pid):
        before = cpu_seconds(server_pid)
        start = time.perf_counter()
        child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        self.wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({child.returncode}): {err.decode(errors='replace')[-2000:]}")
        self.client_cpu = usage.ru_utime + usage.ru_stime
        self.server_cpu = cpu_seconds(server_pid) - before


def commands(url, parallel, part_mib):
    s5 = ["s5cmd", "--endpoint-url", url, "cp", "-c", str(parallel), "-p", str(part_mib)]
    cp = [str(FERRY), "cp", "--parallel", str(parallel), "--part-size", f"{part_mib}MiB", "--no-checkpoint"]
    return {"s5cmd": lambda a, b: s5 + [a, b], "ferry cp": lambda a, b: cp + [a, b]}


def hash_floor(mib):
    """s/GiB of every digest on one core, from this build (hash_floor example) and OpenSSL (hashlib)."""
    out = subprocess.run([str(HASH_FLOOR), str(mib)], check=True, capture_output=True, text=True).stdout
    rates = json.loads(out)
    data = os.urandom(256 * MiB)
    for name in ("md5", "sha256"):
        h = hashlib.new(name)
        start = time.process_time()
        h.update(data)
        rates[f"{name} OpenSSL (Python hashlib)"] = (time.process_time() - start) / len(data) * GiB
    return rates


SENDER = """
import socket, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
block = bytes(range(256)) * 1024
for _ in range(int(sys.argv[2]) // len(block)):
    sock.sendall(block)
sock.close()
"""


def io_floor(root, size):
    """CPU s/GiB of the kernel work every upload costs the server besides hashing: receiving the
    bytes from loopback TCP into user memory and writing them into a new file in the data
    directory's file system, 256 KiB at a time (the chunk size ferry sees). Measured on this
    thread only; the sender is another process."""
    import socket
    listener = socket.create_server(("127.0.0.1", 0))
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(listener.getsockname()[1]), str(size)])
    conn, _ = listener.accept()
    buf = bytearray(256 * 1024)
    view = memoryview(buf)
    path = root / "io-floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    start = time.thread_time()
    got = 0
    while True:
        n = conn.recv_into(buf)
        if n == 0:
            break
        os.write(fd, view[:n])
        got += n
    secs = time.thread_time() - start
    os.close(fd)
    conn.close()
    listener.close()
    sender.wait()
    path.unlink()
    return secs / got * GiB


def ferry_round(root, src, dst, size, parallel, part_mib, results, profile=None, flip=False):
    """s5cmd and ferry cp, upload then download, against one fresh ferry server; `flip` runs
    ferry cp first (rounds alternate the order so neither client always runs on a warmer machine)."""
    data = root / "ferry-data"
    data.mkdir()
    srv = FerryServer(data).start()
    try:
        s3_client(srv.url).create_bucket(Bucket="bench")
        env = client_env(srv.url)
        clients = list(commands(srv.url, parallel, part_mib).items())
        for client, command in (clients[::-1] if flip else clients):
            name = client.replace(" ", "-")
            for direction, (a, b) in (("upload", (str(src), f"s3://bench/{name}")),
                                      ("download", (f"s3://bench/{name}", str(dst)))):
                scenario = f"{'cp' if client == 'ferry cp' else 's5cmd'}-{direction}"
                recorder = start_profile(srv.proc.pid, root, scenario) if profile == scenario else None
                run = Run(command(a, b), env, srv.proc.pid)
                if recorder:
                    finish_profile(recorder, root, scenario, run, size)
                results.setdefault(("ferry", client, direction), []).append(run)
                if direction == "download":
                    dst.unlink()
        results.setdefault("rss", []).append(peak_rss_mib(srv.proc.pid))
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)


def peer_round(root, src, dst, size, parallel, part_mib, results):
    data = root / "s3s-data"
    data.mkdir()
    port = 19000 + os.getpid() % 1000
    peer = subprocess.Popen([str(S3S_FS), "--host", "127.0.0.1", "--port", str(port), "--access-key", ACCESS_KEY,
                             "--secret-key", SECRET_KEY, str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                s3_client(url).create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.2)
        env = client_env(url)
        s5 = commands(url, parallel, part_mib)["s5cmd"]
        results.setdefault(("s3s-fs", "s5cmd", "upload"), []).append(Run(s5(str(src), "s3://bench/big"), env, peer.pid))
        results.setdefault(("s3s-fs", "s5cmd", "download"), []).append(Run(s5("s3://bench/big", str(dst)), env, peer.pid))
        dst.unlink()
    finally:
        peer.terminate()
        peer.wait()
        shutil.rmtree(data, ignore_errors=True)


def start_profile(pid, root, scenario):
    return flame.start(pid, root / f"{scenario}.perf")


def finish_profile(recorder, root, scenario, run, size):
    title = (f"ferry serve, {scenario}: {size / GiB:.0f} GiB, server {run.server_cpu / (size / GiB):.2f} CPU s/GiB, "
             f"{size / run.wall / 1e6:.0f} MB/s (under perf)")
    flame.finish(recorder, root / f"{scenario}.perf", scenario, title,
                 ("MultiHasher::update", "md5", "sha2", "crc_fast", "FileSink", "write", "recv", "hyper", "tokio"))


def complete_10k(work, parts=10_000):
    (work / "c10k").mkdir()
    srv = FerryServer(work / "c10k", "--s3-min-part-size", "1", env={"FERRY_LOG": "ferry_http=debug"}).start()
    try:
        s3 = s3_client(srv.url, max_pool_connections=16)
        s3.create_bucket(Bucket="c10k")
        upload = s3.create_multipart_upload(Bucket="c10k", Key="k")["UploadId"]

        def put(n):
            return n, s3.upload_part(Bucket="c10k", Key="k", UploadId=upload, PartNumber=n, Body=b"x" * 1024)["ETag"]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            etags = dict(pool.map(put, range(1, parts + 1)))
        body = {"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in range(1, parts + 1)]}
        start = time.perf_counter()
        s3.complete_multipart_upload(Bucket="c10k", Key="k", UploadId=upload, MultipartUpload=body)
        elapsed = time.perf_counter() - start
        assert s3.head_object(Bucket="c10k", Key="k")["ContentLength"] == parts * 1024
    finally:
        srv.stop()
    # The server logs each request's handling time; the Complete is the last POST.
    posts = [line for line in Path(srv.log.name).read_text().splitlines() if "method=POST" in line]
    server_ms = float(re.search(r"ms=(\d+)", posts[-1]).group(1))
    return elapsed * 1000, server_ms


def span(values, fmt="{:.0f}"):
    """'best (min–max)' of a list, or the one value."""
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--part-mib", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per server; ranges are printed")
    ap.add_argument("--disk", action="store_true", help="files and data directories on disk (bench/) instead of tmpfs")
    ap.add_argument("--profile", choices=SCENARIOS,
                    help="record ferry serve with perf during this scenario (one round) and write "
                         "docs/flamegraphs/SCENARIO.svg")
    ap.add_argument("--no-complete", action="store_true", help="skip the 10,000-part CompleteMultipartUpload")
    args = ap.parse_args()
    size = args.size_mib * MiB
    gib = size / GiB
    base = REPO / "bench" if args.disk else Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="ferry-bench-", dir=base))
    try:
        src, dst = root / "src.bin", root / "dst.bin"
        with open(src, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
        floor = hash_floor(args.size_mib)
        io = [io_floor(root, size)]
        results = {}
        if args.profile:
            ferry_round(root, src, dst, size, args.parallel, args.part_mib, results, profile=args.profile)
            return
        # Alternate the servers round by round so both see the same background load.
        for round_ in range(args.rounds):
            if round_:
                io.append(io_floor(root, size))
            ferry_round(root, src, dst, size, args.parallel, args.part_mib, results, flip=bool(round_ % 2))
            if S3S_FS.exists():
                peer_round(root, src, dst, size, args.parallel, args.part_mib, results)
        complete = None if args.no_complete else complete_10k(root)

        used_md5, used_sha = floor["md5 md-5 0.10 asm (used)"], floor["sha256 sha2 0.10 (used)"]
        md5_sha = used_md5 + used_sha
        print(f"object {args.size_mib} MiB, clients -c/--parallel {args.parallel}, part {args.part_mib} MiB, "
              f"{args.rounds} alternating rounds, {os.cpu_count()} cores shared by client and server, "
              f"files on {'disk' if args.disk else 'tmpfs'}")
        print("  hashing on one core, CPU s/GiB (lower is faster):")
        for name, secs in floor.items():
            print(f"    {name:36} {secs:6.3f}   ({GiB / secs / 1e6:6.0f} MB/s)")
        print(f"  hashing floor MD5 + SHA-256 (implementations in use)  {md5_sha:.3f} s/GiB")
        print(f"  I/O floor: loopback receive + write into a new file, 256 KiB steps, no hashing  {span(io, '{:.2f}')} s/GiB")

        def per_gib(key, attr):
            return [getattr(r, attr) / gib for r in results.get(key, [])]

        def mbps(key):
            return [size / r.wall / 1e6 for r in results.get(key, [])]

        print("  transfers (ranges over rounds): MB/s, server CPU s/GiB, client CPU s/GiB")
        for key in results:
            if key == "rss":
                continue
            server, client, direction = key
            print(f"    {server:6} {client:8} {direction:8} {span(mbps(key)):>10} MB/s   server "
                  f"{span(per_gib(key, 'server_cpu'), '{:.2f}'):>10}   client {span(per_gib(key, 'client_cpu'), '{:.2f}'):>10}")
        cores = os.cpu_count()
        for client in ("s5cmd", "ferry cp"):
            key = ("ferry", client, "upload")
            srv = per_gib(key, "server_cpu")
            cli = per_gib(key, "client_cpu")
            # Client and server share the cores: the best rate possible is all cores busy with the
            # client's measured work plus the server's hashing floor for each byte.
            ceilings = [cores * GiB / (c + md5_sha) / 1e6 for c in cli]
            ratio_ceiling = [m / c for m, c in zip(mbps(key), ceilings)]
            print(f"  {client} upload: server CPU / hashing floor {span([s / md5_sha for s in srv], '{:.2f}')}, "
                  f"/ (hashing + I/O floor) {span([s / (md5_sha + min(io)) for s in srv], '{:.2f}')}, "
                  f"ceiling {span(ceilings)} MB/s (client's measured CPU + floor on {cores} cores), "
                  f"ferry / ceiling {span(ratio_ceiling, '{:.2f}')}")
        up_peer = mbps(("s3s-fs", "s5cmd", "upload"))
        if up_peer:
            for direction in ("upload", "download"):
                f, p = mbps(("ferry", "s5cmd", direction)), mbps(("s3s-fs", "s5cmd", direction))
                print(f"  ferry / s3s-fs with s5cmd, {direction}: {span([a / b for a, b in zip(f, p)], '{:.2f}')}x "
                      f"(best {max(f) / max(p):.2f}x); server CPU s/GiB ferry {span(per_gib(('ferry', 's5cmd', direction), 'server_cpu'), '{:.2f}')} "
                      f"vs s3s-fs {span(per_gib(('s3s-fs', 's5cmd', direction), 'server_cpu'), '{:.2f}')}")
        for direction in ("upload", "download"):
            f, s = mbps(("ferry", "ferry cp", direction)), mbps(("ferry", "s5cmd", direction))
            print(f"  ferry cp / s5cmd, {direction}: {span([a / b for a, b in zip(f, s)], '{:.2f}')}x (best {max(f) / max(s):.2f}x)")
        print(f"  ferry peak RSS {max(results['rss']):.0f} MiB")
        if complete:
            print(f"  CompleteMultipartUpload of 10,000 parts: {complete[1]:.0f} ms in the server, "
                  f"{complete[0]:.0f} ms for boto3 including building and sending the 10,000-part XML")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
