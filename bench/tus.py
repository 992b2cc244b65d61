"""tus uploads to ferry and to tusd, side by side in one run (on demand, never in CI).

    bench/run.sh --tus [--size-mib 1024] [--repeat 3] [--chunk-mib 64]

Uploads one file of --size-mib (1 GiB by default) with the tus protocol, as a single stream of
PATCHes and as four partial uploads sent in parallel and concatenated (`Upload-Concat`), to
`ferry serve` and to tusd v2.9.1 (bench/.tools/bin/tusd, built by run.sh from the Go module
proxy), both keeping their data in the same directory on the same disk. Each mode runs --repeat
times per server, alternating servers; it prints MB/s and the server's CPU seconds per GiB
(user + system, from /proc/<pid>/stat), as ranges over the repeats. The same Python client
(http.client, 1 MiB socket writes) drives both servers.
"""

import argparse
import base64
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from procstat import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
FERRY = ROOT / "target" / "release" / "ferry"
TUSD = ROOT / "bench" / ".tools" / "bin" / "tusd"
BUCKET = "bench"
MiB = 1024 * 1024


def meta(pairs):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


class Server:
    def __init__(self, name, args, env, url_pattern, work):
        self.name = name
        self.log = open(work / f"{name}.log", "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.time() + 30
        self.host = None
        lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            self.log.write(line)
            m = re.search(url_pattern, line)
            if m:
                self.host = m.group(1)
                break
        if not self.host:
            self.proc.kill()
            raise RuntimeError(f"{name} did not start: {''.join(lines)}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.log.write(line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def request(host, method, path, headers, body=None, length=None):
    conn = http.client.HTTPConnection(host, timeout=600, blocksize=MiB)
    headers = {"Tus-Resumable": "1.0.0", **headers}
    if length is not None:
        headers["Content-Length"] = str(length)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


class Span:
    """`length` bytes of a file from `offset`, read in 1 MiB blocks (http.client's body)."""

    def __init__(self, path, offset, length):
        self.f = open(path, "rb")
        self.f.seek(offset)
        self.left = length

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        return data

    def close(self):
        self.f.close()


def upload(host, path, data, offset, length, chunk, metadata, concat=None):
    headers = {"Upload-Length": str(length), "Upload-Metadata": meta(metadata)}
    if concat:
        headers["Upload-Concat"] = concat
    created = request(host, "POST", path, headers)
    assert created.status == 201, (created.status, created.reason)
    location = created.getheader("Location")
    location = location.split("://", 1)[1].split("/", 1)[1] if "://" in location else location.lstrip("/")
    location = "/" + location
    done = 0
    while done < length:
        n = min(chunk, length - done)
        body = Span(data, offset + done, n)
        r = request(host, "PATCH", location,
                    {"Upload-Offset": str(done), "Content-Type": "application/offset+octet-stream"}, body, n)
        body.close()
        assert r.status == 204, (r.status, r.reason)
        done = int(r.getheader("Upload-Offset"))
    return location


def single(host, path, data, size, chunk, key):
    upload(host, path, data, 0, size, chunk, {"bucket": BUCKET, "filename": key})


def parallel(host, path, data, size, chunk, key, parts=4):
    bounds = [size * i // parts for i in range(parts + 1)]
    urls = [None] * parts
    errors = []

    def one(i):
        try:
            urls[i] = upload(host, path, data, bounds[i], bounds[i + 1] - bounds[i], chunk,
                             {"bucket": BUCKET, "filename": key}, concat="partial")
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    r = request(host, "POST", path, {"Upload-Concat": "final;" + " ".join(urls),
                                     "Upload-Metadata": meta({"bucket": BUCKET, "filename": key})})
    assert r.status == 201, (r.status, r.reason)


def start_ferry(work):
    data = work / "ferry-data"
    data.mkdir()
    env = dict(os.environ, FERRY_ACCESS_KEY_ID="benchkey", FERRY_SECRET_ACCESS_KEY="benchsecret", FERRY_LOG="warn")
    server = Server("ferry", [str(FERRY), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
                              "--tus-anonymous-bucket", BUCKET], env, r"listening on http://(\S+)", work)
    import boto3
    from botocore.config import Config

    boto3.client("s3", endpoint_url=f"http://{server.host}", aws_access_key_id="benchkey",
                 aws_secret_access_key="benchsecret", region_name="us-east-1",
                 config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket=BUCKET)
    return server


def start_tusd(work):
    data = work / "tusd-data"
    data.mkdir()
    return Server("tusd", [str(TUSD), "-host", "127.0.0.1", "-port", "0", "-upload-dir", str(data),
                           "-base-path", "/files/", "-disable-download"], dict(os.environ),
                  r"You can now upload files to: http://([^/\s]+)/", work)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk-mib", type=int, default=64, help="bytes per PATCH")
    args = ap.parse_args()
    for binary in (FERRY, TUSD):
        if not binary.exists():
            sys.exit(f"{binary} is missing: run bench/run.sh --tus")
    work = ROOT / "bench" / f"tmp-tus-{os.getpid()}"
    work.mkdir(parents=True)
    size, chunk = args.size_mib * MiB, args.chunk_mib * MiB
    data = work / "input.bin"
    with open(data, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(MiB))
    servers = {}
    results = {}
    try:
        servers["ferry"] = start_ferry(work)
        servers["tusd"] = start_tusd(work)
        print(f"{args.size_mib} MiB, {args.chunk_mib} MiB per PATCH, {args.repeat} runs each; "
              f"data in {work} (one disk)", flush=True)
        for run in range(args.repeat):
            for mode, fn in (("single stream", single), ("4 partials + concat", parallel)):
                for name in ("ferry", "tusd"):
                    server = servers[name]
                    cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
                    fn(server.host, "/files/", data, size, chunk, f"run{run}-{mode[0]}.bin")
                    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(server.proc.pid) - cpu0
                    mbps, cpu_gib = size / elapsed / 1e6, cpu / (size / (1024 * MiB))
                    results.setdefault((mode, name), []).append((mbps, cpu_gib))
                    print(f"  run {run + 1} {mode:20} {name:6} {mbps:8.1f} MB/s  {cpu_gib:6.2f} CPU s/GiB", flush=True)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| mode | server | MB/s (min–max) | server CPU s per GiB (min–max) |")
    print("|---|---|---|---|")
    for (mode, name), rows in results.items():
        speeds, cpus = [r[0] for r in rows], [r[1] for r in rows]
        print(f"| {mode} | {name} | {min(speeds):.0f}–{max(speeds):.0f} | {min(cpus):.2f}–{max(cpus):.2f} |")


if __name__ == "__main__":
    main()
