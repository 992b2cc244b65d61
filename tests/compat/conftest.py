"""Fixtures: a real `ferry serve` process on a loopback port with a temp data directory, and
real clients pointed at it. Every server a test starts is stopped when the test ends."""

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
FERRY_BIN = os.environ.get("FERRY_BIN", str(REPO / "target" / "release" / "ferry"))
ACCESS_KEY = "FERRYTESTACCESSKEY01"
SECRET_KEY = "ferry-test-secret-key-0123456789abcdefgh"
REGION = "us-east-1"


class FerryServer:
    """A `ferry serve` child process."""

    def __init__(self, data_dir, *extra, env=None, tls=None):
        self.data_dir = Path(data_dir)
        self.extra = list(extra)
        self.tls = tls
        self.env = env
        self.proc = None
        self.url = None

    def start(self, listen="127.0.0.1:0"):
        args = [FERRY_BIN, "serve", "--listen", listen, "--data-dir", str(self.data_dir), *self.extra]
        if self.tls:
            args += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        env = dict(os.environ)
        env.update({"FERRY_ACCESS_KEY_ID": ACCESS_KEY, "FERRY_SECRET_ACCESS_KEY": SECRET_KEY, "FERRY_LOG": "warn"})
        env.update(self.env or {})
        self.log = open(self.data_dir.parent / f"ferry-{uuid.uuid4().hex[:6]}.log", "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"ferry did not start: {line!r}; see {self.log.name}")
        self.url = match.group(1)
        # Drain the rest of the banner so the server never writes into a full or closed pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    @property
    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def client(self, **config):
        return s3_client(self.url, **config)


def s3_client(url, verify=None, **config):
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        verify=verify,
        config=Config(retries={"max_attempts": 1}, **config),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ferry") / "data"
    data.mkdir()
    srv = FerryServer(data).start()
    yield srv
    srv.stop()


@pytest.fixture
def s3(server):
    return server.client()


@pytest.fixture
def bucket(s3):
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def tool_env(server, tmp_path):
    """Environment for CLI clients: ferry's keys and nothing from the user's own AWS config."""
    # Nothing of the caller's AWS setup leaks in (profiles, CA bundles, endpoints).
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "HOME": str(tmp_path),
        }
    )
    return env


def object_exists(s3, bucket, key):
    """Whether HEAD finds the object: False on 404, any other error raised."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def blob_files(data_dir):
    """Every blob file holding bytes under a data directory (the store also keeps a few empty
    files made ahead of need; the tests here store no empty blobs)."""
    return [p for p in (Path(data_dir) / "blobs").rglob("*") if p.is_file() and p.stat().st_size > 0]


def wait_for(predicate, timeout=10.0, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
