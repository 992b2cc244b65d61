"""ferry benchmark: s5cmd upload/download of a large file to ferry and to s3s-fs side by side,
the disk's fsync write bandwidth and the hashing budget of this machine, ferry's peak RSS, and the
time of a CompleteMultipartUpload of 10,000 parts. All measured in one run; ratios are printed."""

import argparse
import concurrent.futures
import hashlib
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

MiB = 1024 * 1024
S3S_FS = REPO / "bench" / ".tools" / "bin" / "s3s-fs"


def fsync_bandwidth(path, size):
    """MB/s of sequential 16 MiB writes followed by fsync, as a part upload does."""
    block = os.urandom(16 * MiB)
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(size // len(block)):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - start
    os.unlink(path)
    return size / elapsed / 1e6


def hash_rate(name, size=256 * MiB):
    data = os.urandom(size)
    h = hashlib.new(name)
    start = time.perf_counter()
    h.update(data)
    return size / (time.perf_counter() - start) / 1e6


def hashing_budget():
    """MB/s two cores can carry when the server hashes MD5 + SHA-256 per byte (ETag and signed
    payload check) and the client SHA-256 (signing the payload)."""
    md5, sha256 = hash_rate("md5"), hash_rate("sha256")
    per_byte = (1 / md5 + 1 / sha256) + 1 / sha256
    return 2 / per_byte, md5, sha256


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def s5cmd(url, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    start = time.perf_counter()
    subprocess.run(["s5cmd", "--endpoint-url", url, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def transfer(url, src, dst, bucket, size, parallel, part_mib):
    s3_client(url).create_bucket(Bucket=bucket)
    up = s5cmd(url, "cp", "-c", str(parallel), "-p", str(part_mib), str(src), f"s3://{bucket}/big")
    down = s5cmd(url, "cp", "-c", str(parallel), "-p", str(part_mib), f"s3://{bucket}/big", str(dst))
    dst.unlink()
    return size / up / 1e6, size / down / 1e6


def client_env(url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=url, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


def timed(args, env):
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def clients(work, src, dst, size, parallel, part_mib):
    """ferry cp, s5cmd and awscli against one ferry server, same file, same parallelism."""
    (work / "clients").mkdir()
    srv = FerryServer(work / "clients").start()
    results = {}
    try:
        env = client_env(srv.url)
        s3_client(srv.url).create_bucket(Bucket="clients")
        ferry_bin = str(REPO / "target" / "release" / "ferry")
        commands = {
            "ferry cp": lambda a, b: [ferry_bin, "cp", a, b, "--parallel", str(parallel), "--part-size", f"{part_mib}MiB",
                                      "--no-checkpoint"],
            "s5cmd": lambda a, b: ["s5cmd", "--endpoint-url", srv.url, "cp", "-c", str(parallel), "-p", str(part_mib), a, b],
            "awscli": lambda a, b: ["aws", "--endpoint-url", srv.url, "s3", "cp", "--only-show-errors", a, b],
        }
        for name, command in commands.items():
            up = timed(command(str(src), f"s3://clients/{name.replace(' ', '-')}"), env)
            down = timed(command(f"s3://clients/{name.replace(' ', '-')}", str(dst)), env)
            dst.unlink()
            results[name] = (size / up / 1e6, size / down / 1e6)
    finally:
        srv.stop()
    return results


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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--part-mib", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per server; the best is kept")
    args = ap.parse_args()
    size = args.size_mib * MiB
    work = Path(tempfile.mkdtemp(prefix="ferry-bench-", dir=REPO / "bench"))
    try:
        src, dst = work / "src.bin", work / "dst.bin"
        with open(src, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
        os.sync()
        disk = fsync_bandwidth(work / "fsync.probe", size)
        budget, md5, sha256 = hashing_budget()

        # Alternate the two servers and keep each one's best round: the machine is noisy and
        # the disk's background writeback differs from minute to minute.
        ferry_up = ferry_down = peer_up = peer_down = 0.0
        rss = 0.0
        for round_ in range(args.rounds):
            (work / f"ferry{round_}").mkdir()
            ferry = FerryServer(work / f"ferry{round_}").start()
            try:
                up, down = transfer(ferry.url, src, dst, "bench", size, args.parallel, args.part_mib)
                ferry_up, ferry_down = max(ferry_up, up), max(ferry_down, down)
                rss = max(rss, peak_rss_mib(ferry.proc.pid))
            finally:
                ferry.stop()
            shutil.rmtree(work / f"ferry{round_}")
            os.sync()
            if S3S_FS.exists():
                (work / f"s3s{round_}").mkdir()
                port = 19000 + os.getpid() % 1000
                peer = subprocess.Popen([str(S3S_FS), "--host", "127.0.0.1", "--port", str(port), "--access-key",
                                         ACCESS_KEY, "--secret-key", SECRET_KEY, str(work / f"s3s{round_}")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    time.sleep(1.0)
                    up, down = transfer(f"http://127.0.0.1:{port}", src, dst, "bench", size, args.parallel, args.part_mib)
                    peer_up, peer_down = max(peer_up, up), max(peer_down, down)
                finally:
                    peer.terminate()
                    peer.wait()
                shutil.rmtree(work / f"s3s{round_}")
                os.sync()
        peer_up, peer_down = peer_up or float("nan"), peer_down or float("nan")

        complete_ms, complete_server_ms = complete_10k(work)
        by_client = clients(work, src, dst, size, args.parallel, args.part_mib)
        ceiling = min(disk, budget)
        print(f"object {args.size_mib} MiB, s5cmd -c {args.parallel} -p {args.part_mib}, best of {args.rounds} alternating rounds, "
              f"{os.cpu_count()} cores shared by client and server")
        print(f"  disk fsync write bandwidth   {disk:8.0f} MB/s")
        print(f"  hashing budget               {budget:8.0f} MB/s   (md5 {md5:.0f} MB/s, sha256 {sha256:.0f} MB/s per core)")
        print(f"  ceiling = min(disk, hashing) {ceiling:8.0f} MB/s")
        print(f"  ferry   upload {ferry_up:7.0f} MB/s   download {ferry_down:7.0f} MB/s")
        print(f"  s3s-fs  upload {peer_up:7.0f} MB/s   download {peer_down:7.0f} MB/s")
        print(f"  ratio ferry/s3s-fs   upload {ferry_up / peer_up:5.2f}x   download {ferry_down / peer_down:5.2f}x")
        print(f"  ratio ferry/ceiling  upload {ferry_up / ceiling:5.2f}")
        print(f"  ferry peak RSS {rss:.0f} MiB   (budget {64 + 2 * args.parallel} MiB = 64 + 2 x {args.parallel} in-flight parts)")
        print("  clients against ferry serve (upload / download MB/s):")
        for name, (up, down) in by_client.items():
            print(f"    {name:9} {up:7.0f} / {down:7.0f}")
        fc, s5, aws = by_client["ferry cp"], by_client["s5cmd"], by_client["awscli"]
        print(f"    ferry cp / s5cmd  upload {fc[0] / s5[0]:5.2f}x  download {fc[1] / s5[1]:5.2f}x")
        print(f"    ferry cp / awscli upload {fc[0] / aws[0]:5.2f}x  download {fc[1] / aws[1]:5.2f}x")
        print(f"  CompleteMultipartUpload of 10,000 parts: {complete_server_ms:.0f} ms in the server, "
              f"{complete_ms:.0f} ms for boto3 including building and sending the 10,000-part XML")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
