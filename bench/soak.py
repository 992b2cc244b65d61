"""Crash soak (on demand, not CI): concurrent clients of every dialect (S3 through boto3, OSS
through oss2, US3 through ufile, Tunnel through pyodps) write to one `ferry serve` for N minutes
while the server is killed with SIGKILL at random moments (and on purpose while a
CompleteMultipartUpload, a US3 finish or a Tunnel commit is in flight) and restarted on the
same data directory and port, and while the data directory's disk (a tmpfs) is filled and freed
so uploads meet both `--min-free-space` refusals and real ENOSPC.

Every client keeps a ledger of what the server acknowledged. At the end the server is killed
once more, restarted, and the ledger is checked against it:
- every acknowledged object is there byte for byte (sha256 of the whole body);
- an object whose upload or Complete was cut by a kill is either absent or exactly right;
- an acknowledged delete stays deleted;
- every acknowledged S3/OSS part of an upload still open is held with its ETag, and the upload
  then completes from the server's part list and reads back byte for byte; US3 parts are
  checked by ETag in the server's part list;
- every acknowledged Tunnel commit has exactly its rows (each row once), a commit cut by a kill
  has all of its rows or none, and a session never committed has none.
Anything else is reported as lost or corrupt, and the exit status is 1.

Run as root (the tmpfs mount): bench/soak.sh [--minutes 10] [--clients 50] ...
"""

import argparse
import collections
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FERRY_BIN = os.environ.get("FERRY_BIN", str(REPO / "target" / "release" / "ferry"))
ACCESS_KEY = "FERRYTESTACCESSKEY01"
SECRET_KEY = "ferry-test-secret-key-0123456789abcdefgh"
REGION = "us-east-1"
US3_DOMAIN = "us3.ferry.test"
KiB, MiB = 1024, 1024 * 1024
BUCKET = "soak"
PART = 256 * KiB  # S3/OSS part size and the US3 block size ferry hands out

import boto3  # noqa: E402
import botocore.exceptions  # noqa: E402
import oss2  # noqa: E402
import requests  # noqa: E402
from botocore.config import Config  # noqa: E402

# US3 names the bucket in the host: `<bucket>.us3.ferry.test` resolves to loopback here.
_real_getaddrinfo = socket.getaddrinfo


def _resolve(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith("." + US3_DOMAIN):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _resolve


def blob(seed, size):
    """Reproducible bytes for `seed`: the verifier regenerates what each client sent."""
    return random.Random(seed).randbytes(size)


def sha(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# The server: started, killed and restarted on one data directory and one port.


class Server:
    def __init__(self, data_dir, port, log_path, flags, min_free_choices, rng):
        self.data_dir, self.port, self.flags = data_dir, port, flags
        self.min_free_choices, self.rng = min_free_choices, rng
        self.min_free = None
        self.log = open(log_path, "a")
        self.proc = None
        self.generation = 0  # bumped at every kill: an error across a kill is "unknown", not a refusal
        self.up = threading.Event()
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{port}"

    def start(self):
        args = [FERRY_BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
                "--us3-domain", US3_DOMAIN, "--us3-block-size", str(PART), *self.flags]
        # Each process draws its --min-free-space: with 0 a full disk is met as ENOSPC by the
        # writes themselves, otherwise the server refuses uploads before the disk is full.
        self.min_free = self.rng.choice(self.min_free_choices)
        args += ["--min-free-space", self.min_free]
        env = dict(os.environ, FERRY_ACCESS_KEY_ID=ACCESS_KEY, FERRY_SECRET_ACCESS_KEY=SECRET_KEY, FERRY_LOG="warn")
        for attempt in range(200):
            self.log.write(f"=== start {time.strftime('%H:%M:%S')} generation {self.generation} "
                           f"--min-free-space {self.min_free}\n")
            self.log.flush()
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
            line = proc.stdout.readline()
            if "listening on" in line:
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                self.proc = proc
                self.up.set()
                return
            proc.wait()
            time.sleep(0.1)  # the port may still be held for a moment after a kill
        raise RuntimeError(f"ferry did not start; see {self.log.name}")

    def kill9(self):
        with self.lock:
            self.up.clear()
            self.generation += 1
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.up.clear()


# ---------------------------------------------------------------------------------------------
# Shared state: counters, the in-flight signal the targeted killer waits for.


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.unexpected = []

    def add(self, name, n=1):
        with self.lock:
            self.counts[name] += n

    def error(self, where, e):
        text = f"{where}: {type(e).__name__}: {str(e)[:300]}"
        with self.lock:
            self.counts["unexpected errors"] += 1
            if len(self.unexpected) < 200:
                self.unexpected.append(text)


class InFlight:
    """Clients announce a Complete / finish / commit just before it is sent; the killer may be
    armed for one kind and then fires shortly after the announcement."""

    def __init__(self):
        self.lock = threading.Lock()
        self.armed = None
        self.fired = threading.Event()

    def arm(self, kind):
        with self.lock:
            self.armed = kind
            self.fired.clear()

    def disarm(self):
        with self.lock:
            self.armed = None

    def announce(self, kind):
        with self.lock:
            if self.armed == kind:
                self.armed = None
                self.fired.set()


INFLIGHT = InFlight()


class Refused(Exception):
    """The server answered 507 InsufficientStorage (or 503 SlowDown): a definite no."""


class Unknown(Exception):
    """The request's outcome is not known: the connection broke (the server was killed)."""


class Soak:
    def __init__(self, server, stats, deadline, max_live):
        self.server, self.stats, self.deadline, self.max_live = server, stats, deadline, max_live
        self.stopping = threading.Event()
        # Set with the final kill: clients drop what they are doing, so uploads, puts and Tunnel
        # sessions are left cut in every state for the verifier.
        self.halted = threading.Event()
        self.chaos_stop = threading.Event()  # the killer and the filler stop first

    def call(self, where, fn, classify, give_up=180.0):
        """Runs `fn` until the server acknowledges it; returns (result, unknown_seen). A kill in
        between makes the attempt Unknown (retried once the server is back), a 507 a refusal
        (retried after a pause); any other error is unexpected, logged and retried a few times."""
        unknown = False
        start = time.time()
        others = 0
        while True:
            self.server.up.wait(timeout=60)
            if self.halted.is_set():
                raise Unknown("halted by the final kill")
            generation = self.server.generation
            try:
                return fn(), unknown
            except Exception as e:  # noqa: BLE001 - every client library raises its own types
                kind = classify(e)
                if kind == "refused":
                    self.stats.add(f"{where.split()[0]} refusals (507)")
                    if time.time() - start > give_up:
                        raise (Unknown if unknown else Refused)(str(e)) from e
                    time.sleep(random.uniform(0.5, 2.0))
                    continue
                if kind == "unknown" or generation != self.server.generation or not self.server.up.is_set():
                    unknown = True
                    self.stats.add(f"{where.split()[0]} cut by a kill")
                    if time.time() - start > give_up:
                        raise Unknown(str(e)) from e
                    time.sleep(random.uniform(0.05, 0.3))
                    continue
                others += 1
                self.stats.error(where, e)
                if others >= 3 or time.time() - start > give_up:
                    raise
                time.sleep(0.5)


def is_connection_text(text):
    text = text.lower()
    return any(s in text for s in ("connection", "refused", "reset", "remotedisconnected", "broken pipe",
                                   "timed out", "eof occurred", "protocol error", "incompleteread",
                                   "max retries exceeded", "aborted"))


def is_full_text(text):
    return "insufficientstorage" in text.lower().replace(" ", "") or "507" in text or "-148670" in text


# ---------------------------------------------------------------------------------------------
# Clients. Each one's ledger: objects[key] = {"sha", "size", "state"} with state acked | unknown
# | refused | deleted | delete-unknown; uploads[id] = {...}; tunnel sessions.


class ObjectClient:
    dialect = "?"

    def __init__(self, soak, cid):
        self.soak, self.cid = soak, cid
        self.rng = random.Random(f"client-{cid}-{time.time()}")
        self.objects = {}  # key -> record
        self.uploads = {}  # upload id -> record
        self.live = collections.deque()  # acked keys not yet deleted, oldest first
        self.seq = 0

    def key(self, what):
        self.seq += 1
        return f"{self.dialect}/c{self.cid}/{what}{self.seq}"

    def run(self):
        while not self.soak.stopping.is_set():
            try:
                r = self.rng.random()
                if len(self.live) > self.soak.max_live:
                    self.verify_and_delete(self.live.popleft())
                elif r < 0.45:
                    self.put_one()
                else:
                    self.multipart()
            except (Refused, Unknown):
                pass
            except Exception as e:  # noqa: BLE001
                self.soak.stats.error(f"{self.dialect} client {self.cid}", e)
                time.sleep(0.5)

    def put_one(self):
        key = self.key("o")
        size = self.rng.choice([0, 1, 100, 4 * KiB, 64 * KiB, 300 * KiB, 1 * MiB])
        data = blob(key, size)
        rec = self.objects[key] = {"sha": sha(data), "size": size, "state": "refused", "kind": "put"}
        try:
            self.soak.call(f"{self.dialect} put", lambda: self.put(key, data), self.classify)
        except Refused:
            raise  # every attempt was answered 507: it must not be there
        except Exception:
            rec["state"] = "unknown"  # an unexpected error may still have stored it
            raise
        rec["state"] = "acked"
        self.live.append(key)
        self.soak.stats.add(f"{self.dialect} objects acknowledged")

    def verify_and_delete(self, key):
        rec = self.objects[key]
        body, _ = self.soak.call(f"{self.dialect} get", lambda: self.get(key), self.classify)
        if body is None or sha(body) != rec["sha"]:
            self.soak.stats.add("LOST during run")
            self.soak.stats.error(f"{self.dialect} verify {key}", Exception(
                f"acknowledged object read back wrong during the run: {None if body is None else len(body)} bytes"))
        else:
            self.soak.stats.add(f"{self.dialect} objects verified during run")
        rec["state"] = "delete-unknown"
        self.soak.call(f"{self.dialect} delete", lambda: self.delete(key), self.classify)
        rec["state"] = "deleted"


class S3Client(ObjectClient):
    dialect = "s3"
    _session_lock = threading.Lock()

    def __init__(self, soak, cid):
        super().__init__(soak, cid)
        with self._session_lock:
            self.s3 = boto3.session.Session().client(
                "s3", endpoint_url=soak.server.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                region_name=REGION, config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=60))
        self.s3.meta.events.register("before-send.s3.CompleteMultipartUpload",
                                     lambda **_: INFLIGHT.announce("complete"))

    @staticmethod
    def classify(e):
        if isinstance(e, botocore.exceptions.ClientError):
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (507, 503):
                return "refused"
            return "other"
        if isinstance(e, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
            return "unknown"
        return "unknown" if is_connection_text(str(e)) else "other"

    def put(self, key, data):
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    def get(self, key):
        try:
            return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise

    def delete(self, key):
        self.s3.delete_object(Bucket=BUCKET, Key=key)

    # multipart: create, parts in random order, Complete; each step retried until acknowledged.
    def create_upload(self, key):
        return self.s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]

    def upload_part(self, key, uid, n, data):
        return self.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=n, Body=data)["ETag"]

    def complete(self, key, uid, parts):
        self.s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]})

    def multipart(self):
        key = self.key("m")
        count = self.rng.randint(2, 5)
        last = self.rng.randint(1, PART)
        sizes = {n: PART if n < count else last for n in range(1, count + 1)}
        datas = {n: blob(f"{key}#{n}", sizes[n]) for n in sizes}
        whole = b"".join(datas[n] for n in sorted(datas))
        rec = self.objects[key] = {"sha": sha(whole), "size": len(whole), "state": "refused", "kind": "multipart"}
        uid, _ = self.soak.call(f"{self.dialect} create", lambda: self.create_upload(key), self.classify)
        up = self.uploads[uid] = {"key": key, "parts": {}, "sizes": sizes, "state": "open"}
        try:
            for n in self.rng.sample(sorted(sizes), len(sizes)):
                etag, _ = self.soak.call(f"{self.dialect} part", lambda: self.upload_part(key, uid, n, datas[n]),
                                         self.classify)
                up["parts"][n] = etag.strip('"').lower()
                self.soak.stats.add(f"{self.dialect} parts acknowledged")
            parts = sorted(up["parts"].items())
            up["state"] = "complete-unknown"
            rec["state"] = "unknown"
            _, unknown = self.soak.call(f"{self.dialect} complete",
                                        lambda: self.complete(key, uid, [(n, f'"{e}"') for n, e in parts]),
                                        self.classify_complete)
        except Exception as e:
            if not isinstance(e, (Refused, Unknown)):
                self.soak.stats.error(f"{self.dialect} multipart {key}", e)
            return
        up["state"] = "completed"
        rec["state"] = "acked"
        self.live.append(key)
        self.soak.stats.add(f"{self.dialect} multipart objects acknowledged")
        if unknown:
            self.soak.stats.add(f"{self.dialect} Completes cut by a kill, acknowledged on retry")

    def classify_complete(self, e):
        return self.classify(e)


class OssClient(S3Client):
    dialect = "oss"

    def __init__(self, soak, cid):
        ObjectClient.__init__(self, soak, cid)
        self.b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), soak.server.url, BUCKET, connect_timeout=10)

    @staticmethod
    def classify(e):
        if isinstance(e, oss2.exceptions.RequestError):
            return "unknown"
        if isinstance(e, oss2.exceptions.OssError):
            if e.status in (507, 503):
                return "refused"
            return "unknown" if e.status < 0 else "other"
        return "unknown" if is_connection_text(str(e)) else "other"

    def put(self, key, data):
        self.b.put_object(key, data)

    def get(self, key):
        try:
            return self.b.get_object(key).read()
        except oss2.exceptions.NoSuchKey:
            return None

    def delete(self, key):
        self.b.delete_object(key)

    def create_upload(self, key):
        return self.b.init_multipart_upload(key).upload_id

    def upload_part(self, key, uid, n, data):
        return self.b.upload_part(key, uid, n, data).etag

    def complete(self, key, uid, parts):
        INFLIGHT.announce("complete")
        self.b.complete_multipart_upload(key, uid, [oss2.models.PartInfo(n, e.strip('"').upper()) for n, e in parts])


class Us3Client(ObjectClient):
    dialect = "us3"

    def __init__(self, soak, cid):
        super().__init__(soak, cid)
        from ufile import filemanager
        self.fm = filemanager.FileManager(ACCESS_KEY, SECRET_KEY)

    @staticmethod
    def resp_or_raise(resp, ok=(200, 204, 206)):
        if resp.status_code in ok:
            return resp
        raise Us3Error(resp.status_code, getattr(resp, "error", ""))

    @staticmethod
    def classify(e):
        if isinstance(e, Us3Error):
            if e.status in (507, 503):
                return "refused"
            if e.status == -1:
                return "unknown"
            return "other"
        return "unknown" if is_connection_text(str(e)) else "other"

    def put(self, key, data):
        _, resp = self.fm.putstream(BUCKET, key, io.BytesIO(data))
        self.resp_or_raise(resp)

    def get(self, key):
        _, resp = self.fm.head_file(BUCKET, key)
        if resp.status_code == 404:
            return None
        r = requests.get(self.fm.private_download_url(BUCKET, key, expires=300), timeout=60)
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise Us3Error(r.status_code, r.text[:200])
        return r.content

    def delete(self, key):
        _, resp = self.fm.deletefile(BUCKET, key)
        self.resp_or_raise(resp, (200, 204, 404))

    def multipart(self):
        """ufile's own multipart upload (uploadstream), resumed with resumeuploadstream from the
        first part the server did not acknowledge whenever a kill or a full disk cuts it."""
        from ufile import multipartuploadufile
        key = self.key("m")
        size = self.rng.randint(PART + 1, 4 * PART)
        data = blob(key, size)
        rec = self.objects[key] = {"sha": sha(data), "size": size, "state": "refused", "kind": "multipart"}
        m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
        up = None
        start = time.time()
        resumed = False
        first = True
        while True:
            self.soak.server.up.wait(timeout=60)
            if self.soak.halted.is_set():
                if up is not None and up["state"] != "complete-unknown":
                    rec["state"] = "unknown"
                return
            generation = self.soak.server.generation
            if first or m.uploadid is None:
                first = False
                _, resp = m.uploadstream(BUCKET, key, io.BytesIO(data), maxthread=2, retrycount=1, retryinterval=0)
            else:
                resumed = True
                m.etaglist = m.etaglist[:m.pausepartnumber]
                stream = io.BytesIO(data)
                stream.seek(m.pausepartnumber * m.blocksize)
                _, resp = m.resumeuploadstream(retrycount=1, retryinterval=0, stream=stream)
            if m.uploadid is not None and up is None:
                up = self.uploads[m.uploadid] = {"key": key, "parts": {}, "state": "open", "blocksize": m.blocksize,
                                                 "size": size}
            if up is not None:
                for i, etag in enumerate(m.etaglist):
                    if etag:
                        if i not in up["parts"]:
                            self.soak.stats.add("us3 parts acknowledged")
                        up["parts"][i] = etag
            if resp.status_code == 200:
                break
            if up is not None and m.etaglist and all(m.etaglist) and m.pausepartnumber == len(m.etaglist):
                up["state"] = "complete-unknown"  # every part was in; the finish was cut
                rec["state"] = "unknown"
            if time.time() - start > 180:
                return
            if resp.status_code in (507, 503):
                self.soak.stats.add("us3 refusals (507)")
                time.sleep(random.uniform(0.5, 2.0))
            elif resp.status_code == -1 or generation != self.soak.server.generation:
                self.soak.stats.add("us3 cut by a kill")
                if up is not None and up["state"] != "complete-unknown":
                    rec["state"] = "refused"
                time.sleep(random.uniform(0.05, 0.3))
            else:
                self.soak.stats.error(f"us3 multipart {key}", Us3Error(resp.status_code, resp.error))
                if up is not None and up["state"] == "complete-unknown":
                    return  # e.g. a replayed finish the server no longer knows: the verifier decides
                return
        up["state"] = "completed"
        rec["state"] = "acked"
        self.live.append(key)
        self.soak.stats.add("us3 multipart objects acknowledged")
        if resumed:
            self.soak.stats.add("us3 uploads resumed after a cut")


class Us3Error(Exception):
    def __init__(self, status, text):
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


def patch_us3_finish():
    """Announce a US3 finish to the targeted killer just before ufile sends it."""
    from ufile import multipartuploadufile
    real = multipartuploadufile._finishsharding

    def finish(*args, **kwargs):
        INFLIGHT.announce("complete")
        return real(*args, **kwargs)

    multipartuploadufile._finishsharding = finish


def patch_tunnel_commit():
    from odps.tunnel.tabletunnel import TableUploadSession
    real = TableUploadSession._complete_upload

    def complete(self):
        INFLIGHT.announce("commit")
        return real(self)

    TableUploadSession._complete_upload = complete


class TunnelClient:
    dialect = "tunnel"

    def __init__(self, soak, cid):
        from odps import ODPS
        self.soak, self.cid = soak, cid
        self.rng = random.Random(f"tunnel-{cid}-{time.time()}")
        self.o = ODPS(ACCESS_KEY, SECRET_KEY, "proj", endpoint=f"{soak.server.url}/odps")
        self.table = f"soak_c{cid}"
        self.sessions = {}  # tag -> {"rows", "state": acked | unknown | none}
        self.seq = 0

    @staticmethod
    def classify(e):
        text = f"{type(e).__name__} {e}"
        if is_full_text(text):
            return "refused"
        return "unknown" if is_connection_text(text) else "other"

    def run(self):
        from odps.tunnel import TableTunnel
        try:
            self.soak.call("tunnel create-table",
                           lambda: self.o.create_table(self.table, "tag string, n bigint", if_not_exists=True),
                           self.classify)
        except Exception as e:  # noqa: BLE001
            self.soak.stats.error(f"tunnel create table {self.table}", e)
            return
        while not self.soak.stopping.is_set():
            self.seq += 1
            tag = f"c{self.cid}-s{self.seq}"
            blocks = {b: self.rng.randint(50, 1500) for b in self.rng.sample(range(0, 40), self.rng.randint(1, 4))}
            rec = self.sessions[tag] = {"rows": sum(blocks.values()), "state": "none"}
            try:
                tunnel = TableTunnel(self.o)
                up, _ = self.soak.call("tunnel session", lambda: tunnel.create_upload_session(self.table),
                                       self.classify)
                base = 0
                for b, rows in sorted(blocks.items()):
                    def write(b=b, rows=rows, base=base):
                        with up.open_record_writer(b) as w:
                            for i in range(base, base + rows):
                                w.write(up.new_record([tag, i]))
                    self.soak.call("tunnel block", write, self.classify)
                    base += rows
                    self.soak.stats.add("tunnel blocks acknowledged")
                rec["state"] = "unknown"
                _, unknown = self.soak.call("tunnel commit", lambda: up.commit(sorted(blocks)), self.classify)
                rec["state"] = "acked"
                self.soak.stats.add("tunnel commits acknowledged")
                self.soak.stats.add("tunnel rows acknowledged", rec["rows"])
                if unknown:
                    self.soak.stats.add("tunnel commits cut by a kill, acknowledged on retry")
            except (Refused, Unknown):
                pass
            except Exception as e:  # noqa: BLE001
                self.soak.stats.error(f"tunnel client {self.cid}", e)
                time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# Chaos: the killer and the disk filler.


def killer(soak, rng, min_up, max_up, kills):
    while not soak.chaos_stop.is_set():
        if soak.chaos_stop.wait(rng.uniform(min_up, max_up)):
            return
        mode = rng.choices(["random", "complete", "commit"], weights=[2, 2, 1])[0]
        if mode != "random":
            INFLIGHT.arm(mode)
            if not INFLIGHT.fired.wait(timeout=15):
                INFLIGHT.disarm()
                mode = "random (nothing in flight)"
            else:
                # Complete and commit are metadata only and quick: half the time aim at the first
                # few milliseconds, else anywhere in 0-50 ms.
                time.sleep(rng.uniform(0, 0.005) if rng.random() < 0.5 else rng.uniform(0, 0.05))
        soak.server.kill9()
        kills[mode] += 1
        if DISK_FULL.is_set():
            kills[DISK_KEY] += 1
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.1, 2.0))  # clients meet refused connections for a while
        soak.server.start()


DISK_FULL = threading.Event()
DISK_KEY = "of these, on a full or nearly full disk"


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def filler(soak, rng, mount, min_free, stats):
    """Grows a file on the data directory's tmpfs until free space is below --min-free-space (the
    server refuses uploads) or gone (writes hit ENOSPC), holds it a few seconds, deletes it."""
    path = mount / "filler"
    chunk = b"\0" * MiB
    while not soak.chaos_stop.wait(rng.uniform(4, 15)):
        full = rng.random() < 0.5
        target = 0 if full else rng.randint(0, min_free // 2)
        try:
            with open(path, "ab") as f:
                while free_bytes(mount) > target + MiB:
                    f.write(chunk)
                    f.flush()
                if full:
                    while True:  # to the last byte
                        f.write(b"\0" * 4096)
                        f.flush()
        except OSError:
            pass
        stats.add("disk filled to ENOSPC" if full else "disk filled below --min-free-space")
        DISK_FULL.set()
        soak.chaos_stop.wait(rng.uniform(1, 6))
        path.unlink(missing_ok=True)
        DISK_FULL.clear()
    path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Verification against a restarted server.


def verify(server, clients, report):
    lost = []
    count = collections.Counter()
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=server.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name=REGION, config=Config(retries={"max_attempts": 5}, read_timeout=120))

    def get(key):
        try:
            return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise

    for c in clients:
        if isinstance(c, TunnelClient):
            continue
        for key, rec in c.objects.items():
            body = get(key)
            state = rec["state"]
            got = None if body is None else sha(body)
            if state == "acked":
                if got == rec["sha"]:
                    count[f"{c.dialect} acknowledged objects verified"] += 1
                else:
                    lost.append(f"{key}: acknowledged ({rec['kind']}, {rec['size']} B) but "
                                f"{'absent' if body is None else f'{len(body)} B with sha256 {got[:16]}'}")
            elif state == "deleted":
                if body is not None:
                    lost.append(f"{key}: delete acknowledged but the object is back")
                else:
                    count[f"{c.dialect} acknowledged deletes verified"] += 1
            elif state == "delete-unknown":
                if body is not None and got != rec["sha"]:
                    lost.append(f"{key}: delete cut by a kill; the object is there but corrupt")
            else:  # unknown or refused: absent, or exactly right
                if body is not None and got != rec["sha"]:
                    lost.append(f"{key}: {state} ({rec['kind']}) and present but corrupt ({len(body)} B)")
                elif body is not None:
                    count[f"{c.dialect} unacknowledged objects found whole"] += 1
                    if state == "refused" and rec["kind"] == "put":
                        lost.append(f"{key}: every attempt was refused, yet the object exists")
        for uid, up in c.uploads.items():
            rec = c.objects[up["key"]]
            if up["state"] == "completed":
                count[f"{c.dialect} parts verified (in acknowledged objects)"] += len(up["parts"])
                continue
            if up["state"] == "complete-unknown" and get(up["key"]) is not None:
                count[f"{c.dialect} parts verified (in objects whose Complete was cut)"] += len(up["parts"])
                continue  # checked above: present means exactly right
            try:
                verify_open_upload(c, s3, uid, up, rec, lost, count)
            except Exception as e:  # noqa: BLE001 - reported, the rest is still checked
                lost.append(f"{up['key']}: upload {uid} could not be checked: {type(e).__name__}: {e}")
    for c in clients:
        if isinstance(c, TunnelClient):
            verify_table(c, lost, count)
    report["verified"] = dict(sorted(count.items()))
    report["lost"] = lost
    return lost


def verify_open_upload(c, s3, uid, up, rec, lost, count):
    """Every acknowledged part is held with its ETag; S3 and OSS uploads are then completed from
    the server's own part list and read back byte for byte."""
    key = up["key"]
    if c.dialect == "us3":
        ret, resp = us3_list_parts(uid)
        if resp.status_code != 200:
            if up["parts"]:
                lost.append(f"{key}: US3 upload {uid} with {len(up['parts'])} acknowledged parts is gone "
                            f"({resp.status_code} {resp.error})")
            return
        held = {p["PartId"]: norm_etag(p["ETag"]) for p in ret.get("DataSet", [])}
        for n, etag in up["parts"].items():
            if held.get(n) != norm_etag(etag):
                lost.append(f"{key}: acknowledged US3 part {n} is {'missing' if n not in held else 'changed'}")
        if not held:
            return
        # The same session completed through S3 (US3 part n is S3 part n + 1), then read back.
        data = blob(key, up["size"])
        block = up["blocksize"]
        expected = b"".join(data[n * block:(n + 1) * block] for n in sorted(held))
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n + 1, "ETag": f'"{e}"'} for n, e in sorted(held.items())]})
        if s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() != expected:
            lost.append(f"{key}: open US3 upload completed after the soak reads back wrong")
        else:
            count["us3 parts verified (open uploads completed at the end)"] += len(up["parts"])
        return
    try:
        if c.dialect == "oss":  # OSS shows its own (upper-case) upload ids: stay in the dialect
            held = {p.part_number: norm_etag(p.etag) for p in c.b.list_parts(key, uid).parts}
        else:
            held = {p["PartNumber"]: norm_etag(p["ETag"])
                    for p in s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid).get("Parts", [])}
    except (botocore.exceptions.ClientError, oss2.exceptions.NoSuchUpload) as e:
        if up["parts"]:
            lost.append(f"{key}: upload {uid} with {len(up['parts'])} acknowledged parts is gone ({e})")
        return
    for n, etag in up["parts"].items():
        if held.get(n) != etag:
            lost.append(f"{key}: acknowledged part {n} is {'missing' if n not in held else 'changed'}")
    if not held:
        return
    expected = b"".join(blob(f"{key}#{n}", up["sizes"][n]) for n in sorted(held))
    if c.dialect == "oss":
        c.b.complete_multipart_upload(key, uid, [oss2.models.PartInfo(n, e.upper()) for n, e in sorted(held.items())])
    else:
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": f'"{e}"'} for n, e in sorted(held.items())]})
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    if body != expected:
        lost.append(f"{key}: open upload completed after the soak reads back wrong")
    else:
        count[f"{c.dialect} parts verified (open uploads completed at the end)"] += len(up["parts"])


def norm_etag(etag):
    return str(etag).strip('"').lower()


def us3_list_parts(uid):
    from ufile import multipartuploadufile
    m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
    return m.get_multi_upload_part(BUCKET, uid)


def verify_table(c, lost, count):
    from odps.tunnel import TableTunnel
    if not c.sessions:
        return
    tunnel = TableTunnel(c.o)
    try:
        down = tunnel.create_download_session(c.table)
    except Exception as e:  # noqa: BLE001
        if any(s["state"] == "acked" for s in c.sessions.values()):
            lost.append(f"table {c.table}: cannot be read after the soak: {e}")
        return
    rows = collections.defaultdict(list)
    if down.count:
        with down.open_record_reader(0, down.count) as reader:
            for r in reader:
                rows[r["tag"]].append(r["n"])
    for tag, s in c.sessions.items():
        got = rows.pop(tag, [])
        whole = sorted(got) == list(range(s["rows"]))
        if s["state"] == "acked":
            if whole:
                count["tunnel acknowledged commits verified"] += 1
                count["tunnel rows verified"] += len(got)
            else:
                lost.append(f"table {c.table} session {tag}: committed {s['rows']} rows, found {len(got)} "
                            f"({len(set(got))} distinct)")
        elif s["state"] == "unknown":
            if got and not whole:
                lost.append(f"table {c.table} session {tag}: commit cut by a kill left {len(got)} of {s['rows']} rows")
            elif got:
                count["tunnel commits cut by a kill found whole"] += 1
        elif got:
            lost.append(f"table {c.table} session {tag}: never committed, yet {len(got)} rows are there")
    for tag, got in rows.items():
        lost.append(f"table {c.table}: {len(got)} rows of unknown session {tag}")


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=50, help="split about 1/3 S3, 1/4 OSS, 1/5 US3, the rest Tunnel")
    ap.add_argument("--disk", default="384m", help="tmpfs size for the data directory")
    ap.add_argument("--min-free-space", default="0,32MiB",
                    help="comma-separated; each server process started draws one (0 = meet ENOSPC itself)")
    ap.add_argument("--min-up", type=float, default=3.0, help="shortest time between kills (s)")
    ap.add_argument("--max-up", type=float, default=12.0, help="longest time between kills (s)")
    ap.add_argument("--max-live", type=int, default=6, help="objects a client keeps before it verifies and deletes")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default=None, help="directory for the log, ledger and report")
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    out = Path(args.out or tempfile.mkdtemp(prefix="ferry-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    mount = Path(tempfile.mkdtemp(prefix="ferry-soak-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.disk}", "tmpfs", str(mount)], check=True)
    data = mount / "data"
    data.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    min_free = max(parse_size(c) for c in args.min_free_space.split(","))
    choices = [c.strip() for c in args.min_free_space.split(",")]
    server = Server(data, port, out / "ferry.log",
                    ["--s3-min-part-size", str(PART), "--sweep-interval", "2s", "--gc-grace", "5s"],
                    choices, random.Random(rng.random()))
    stats = Stats()
    kills = collections.Counter()
    report = {"seed": seed, "minutes": args.minutes, "clients": args.clients, "disk": args.disk,
              "min_free_space": args.min_free_space, "out": str(out)}
    print(f"soak: seed {seed}, {args.clients} clients, {args.minutes} min, tmpfs {args.disk} at {mount}, "
          f"port {port}, output in {out}", flush=True)
    try:
        server.start()
        boto3.client("s3", endpoint_url=server.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                     region_name=REGION).create_bucket(Bucket=BUCKET)
        import logging
        import ufile.logger  # noqa: F401 - sets its own level on import; set ours after
        from ufile import config
        logging.getLogger("UCLOUD").setLevel(logging.CRITICAL)  # ufile logs every part, and every cut
        config.set_default(uploadsuffix=f".{US3_DOMAIN}:{port}", downloadsuffix=f".{US3_DOMAIN}:{port}",
                           connection_timeout=60)
        patch_us3_finish()
        patch_tunnel_commit()

        soak = Soak(server, stats, time.time() + args.minutes * 60, args.max_live)
        n = args.clients
        split = [("s3", n // 3), ("oss", n // 4), ("us3", n // 5)]
        split.append(("tunnel", n - sum(k for _, k in split)))
        kinds = {"s3": S3Client, "oss": OssClient, "us3": Us3Client, "tunnel": TunnelClient}
        clients = [kinds[d](soak, f"{d}{i}") for d, k in split for i in range(k)]
        threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
        for t in threads:
            t.start()
        chaos = [threading.Thread(target=killer, args=(soak, random.Random(rng.random()), args.min_up, args.max_up,
                                                       kills), daemon=True),
                 threading.Thread(target=filler, args=(soak, random.Random(rng.random()), mount, min_free, stats),
                                  daemon=True)]
        for t in chaos:
            t.start()
        started = time.time()
        while any(t.is_alive() for t in threads) and time.time() < soak.deadline:
            time.sleep(min(30, max(0.1, soak.deadline - time.time())))
            print(f"  {int(time.time() - started)}s: kills {sum(v for k, v in kills.items() if k != DISK_KEY)}, "
                  f"{dict((k, v) for k, v in sorted(stats.counts.items()) if 'acknowledged' in k)}", flush=True)
        # The final kill lands in the middle of everything: clients stop at once, leaving
        # uploads open, puts and commits cut, sessions uncommitted.
        soak.chaos_stop.set()
        INFLIGHT.disarm()
        for t in chaos:
            t.join()
        if not server.up.is_set():
            server.start()
        time.sleep(rng.uniform(1.0, 3.0))
        soak.halted.set()
        soak.stopping.set()
        server.kill9()
        kills["final (clients in flight)"] += 1
        server.up.set()  # clients waiting for the server see the halt and return
        for t in threads:
            t.join(timeout=240)
        stuck = sum(t.is_alive() for t in threads)
        server.up.clear()
        server.start()
        lost = verify(server, clients, report)
        report.update({"rounds (server processes)": server.generation + 1, "kills": dict(kills),
                       "kills total": sum(v for k, v in kills.items() if k != DISK_KEY), "counts": dict(sorted(stats.counts.items())),
                       "clients still running at the end": stuck, "unexpected errors (first 200)": stats.unexpected,
                       "lost or corrupt": len(lost)})
        ledger = {type(c).__name__ + ":" + c.cid: {"objects": getattr(c, "objects", None),
                                                   "uploads": getattr(c, "uploads", None),
                                                   "sessions": getattr(c, "sessions", None)} for c in clients}
        (out / "ledger.json").write_text(json.dumps(ledger, indent=1, default=str))
        (out / "report.json").write_text(json.dumps(report, indent=1))
        print(json.dumps({k: v for k, v in report.items() if k != "unexpected errors (first 200)"}, indent=1))
        if stats.unexpected:
            print(f"unexpected errors ({len(stats.unexpected)} shown of {stats.counts['unexpected errors']}):")
            for line in collections.Counter(re.sub(r"\d+", "N", u)[:160] for u in stats.unexpected).most_common(20):
                print("  ", line)
        print(f"LOST OR CORRUPT: {len(lost)}")
        for line in lost[:50]:
            print("  ", line)
        return 1 if lost else 0
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        server.stop()
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def parse_size(text):
    m = re.fullmatch(r"(\d+)\s*([KMG]i?B?)?", text.strip(), re.I)
    if not m:
        raise SystemExit(f"bad size {text!r}")
    unit = (m.group(2) or "").upper()[:1]
    return int(m.group(1)) * {"": 1, "K": KiB, "M": MiB, "G": 1024 * MiB}[unit]


if __name__ == "__main__":
    sys.exit(main())
