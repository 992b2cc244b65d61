"""Shared stores for scale-out tests: a private PostgreSQL cluster and moto's S3 server, each
started on a free loopback port in a temp directory and stopped by its fixture."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin():
    """The newest installed server's bin directory (Debian's postgresql package)."""
    versions = sorted(
        (int(p.name), p / "bin") for p in Path("/usr/lib/postgresql").glob("*") if p.name.isdigit() and (p / "bin" / "initdb").exists()
    ) if Path("/usr/lib/postgresql").exists() else []
    if versions:
        return versions[-1][1]
    initdb = shutil.which("initdb")
    assert initdb, "PostgreSQL server binaries not found; install the postgresql package (scripts/test.sh does)"
    return Path(initdb).parent


class PostgresCluster:
    """initdb + pg_ctl in a temp directory. PostgreSQL refuses to run as root, so under root the
    cluster belongs to the postgres user."""

    def __init__(self):
        # Directly under the system temp directory: the postgres user must be able to reach it,
        # and pytest's own temp directories are private to the user running the tests.
        self.dir = Path(tempfile.mkdtemp(prefix="ferry-pg-"))
        self.bin = postgres_bin()
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0

    def run(self, program, *args):
        cmd = [str(self.bin / program), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, f"{program} failed: {out.stdout}{out.stderr}"
        return out.stdout

    def start(self):
        (self.dir / "data").mkdir()
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.dir / "data", "postgres")
        self.run("initdb", "-A", "trust", "-U", "postgres", "--no-sync", "-D", str(self.dir / "data"))
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self.run("pg_ctl", "-w", "-t", "60", "-o", options, "-l", str(self.dir / "server.log"), "start", "-D", str(self.dir / "data"))
        return self

    def database(self):
        name = f"ferry_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def sql(self, statement, database="postgres"):
        return self.run("psql", "-qAt", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-c", statement)

    def stop(self):
        try:
            self.run("pg_ctl", "-m", "immediate", "-w", "stop", "-D", str(self.dir / "data"))
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class MotoServer:
    """moto's S3 server, an S3-compatible store from the Python package registry."""

    KEY, SECRET = "motokey", "motosecret"

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        exe = Path(sys.executable).parent / "moto_server"
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.time() < deadline, "moto_server did not start"
                time.sleep(0.2)

    def client(self):
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=self.KEY,
                            aws_secret_access_key=self.SECRET, region_name="us-east-1")

    def env(self):
        """What a ferry node needs to use this server as its blob store."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": self.KEY,
                "AWS_SECRET_ACCESS_KEY": self.SECRET, "AWS_REGION": "us-east-1"}

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def keys_under(s3, bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys
