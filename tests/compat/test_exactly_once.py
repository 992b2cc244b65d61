"""Loads happen exactly once: when the reply to a commit is lost (a network cut, or the client
killed right after the server committed), retrying or running the same command again never
loads the rows (or uploads the object) a second time."""

import os
import re
import signal
import socket
import subprocess
import threading
import urllib.request

from conftest import ACCESS_KEY, FERRY_BIN, SECRET_KEY, FerryServer
from test_tunnel import ferry_table, odps_for, read_all, table_name

MiB = 1024 * 1024


class CommitReplyProxy:
    """Relays loopback TCP to ferry, except the reply to the first commit (a Tunnel `POST
    ...?uploadid=` or an S3 `POST ...?uploadId=`): that reply is never delivered. With `kill`
    set, the client process is SIGKILLed the moment the server's reply arrives, so the server
    has committed and the client never learns it."""

    COMMIT = re.compile(rb"^POST [^ ]*[?&]upload[iI]d=", re.M)

    def __init__(self, server_port, kill=None):
        self.server_port = server_port
        self.kill = kill  # a callable returning the pid to kill, or None
        self.dropped = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.server_port))
            state = {"commit": False}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, client, upstream, state):
        try:
            while data := client.recv(65536):
                if not self.dropped.is_set() and self.COMMIT.search(data):
                    state["commit"] = True
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()

    def _down(self, upstream, client, state):
        try:
            while data := upstream.recv(65536):
                if state["commit"] and not self.dropped.is_set():
                    self.dropped.set()
                    if self.kill:
                        os.kill(self.kill(), signal.SIGKILL)
                    break  # the reply is lost
                client.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown, not only close: the other relay thread is blocked reading these sockets,
            # and a plain close would neither wake it nor tell the client the connection ended.
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.stopped = True
        self.listener.close()


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write("id,name\n")
        for i in range(rows):
            f.write(f"{i},n{i}\n")


def count_ids(server, name):
    ids = [r["id"] for r in read_all(odps_for(server), name, None)]
    return len(ids), set(ids)


def test_table_commit_reply_lost_is_not_loaded_twice(tmp_path, tool_env):
    data = tmp_path / "data"
    data.mkdir()
    server = FerryServer(data).start()
    proxy = CommitReplyProxy(server.port)
    try:
        name = table_name()
        ferry_table(tool_env, server.url, "create", f"proj.{name}", "id bigint, name string")
        src = tmp_path / "rows.csv"
        write_csv(src, 30_000)
        r = ferry_table(tool_env, f"http://127.0.0.1:{proxy.port}", "upload", str(src), f"proj.{name}",
                        "--block-rows", "4000")
        assert proxy.dropped.is_set(), "the proxy did not see the commit"
        assert count_ids(server, name) == (30_000, set(range(30_000)))
        assert not list(tmp_path.glob(".rows.csv.ferry-table-*.json")), r.stderr
    finally:
        proxy.close()
        server.stop()


def test_table_upload_killed_after_the_server_committed_is_not_loaded_twice(tmp_path, tool_env):
    data = tmp_path / "data"
    data.mkdir()
    server = FerryServer(data).start()
    procs = []
    proxy = CommitReplyProxy(server.port, kill=lambda: procs[0].pid)
    try:
        name = table_name()
        ferry_table(tool_env, server.url, "create", f"proj.{name}", "id bigint, name string")
        src = tmp_path / "rows.csv"
        write_csv(src, 25_000)
        procs.append(subprocess.Popen([FERRY_BIN, "table", "upload", str(src), f"proj.{name}", "--block-rows", "3000",
                                       "--endpoint-url", f"http://127.0.0.1:{proxy.port}"],
                                      env=tool_env, stderr=subprocess.PIPE, text=True))
        assert procs[0].wait(timeout=120) == -signal.SIGKILL
        assert proxy.dropped.is_set()
        # The server committed; the client died before it heard so.
        assert count_ids(server, name) == (25_000, set(range(25_000)))
        assert list(tmp_path.glob(".rows.csv.ferry-table-*.json")), "the killed run leaves its checkpoint"
        again = ferry_table(tool_env, server.url, "upload", str(src), f"proj.{name}", "--block-rows", "3000")
        assert "already loaded" in again.stderr, again.stderr
        assert count_ids(server, name) == (25_000, set(range(25_000)))
        assert not list(tmp_path.glob(".rows.csv.ferry-table-*.json"))
    finally:
        proxy.close()
        server.stop()


def parts_stored(server):
    text = urllib.request.urlopen(server.url + "/metrics").read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("ferry_parts_stored_total"))


def test_cp_killed_after_complete_does_not_upload_again(tmp_path, s3, bucket, server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1",
               HOME=str(tmp_path))
    src = tmp_path / "big.bin"
    payload = os.urandom(12 * MiB + 5)
    src.write_bytes(payload)
    procs = []
    proxy = CommitReplyProxy(server.port, kill=lambda: procs[0].pid)
    try:
        procs.append(subprocess.Popen([FERRY_BIN, "cp", str(src), f"s3://{bucket}/big.bin", "--part-size", "5MiB"],
                                      env=env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"},
                                      stderr=subprocess.PIPE, text=True))
        assert procs[0].wait(timeout=120) == -signal.SIGKILL
        assert proxy.dropped.is_set()
        etag = s3.head_object(Bucket=bucket, Key="big.bin")["ETag"]
        before = parts_stored(server)
        # The same command again (the proxy relays everything from now on).
        again = subprocess.run([FERRY_BIN, "cp", str(src), f"s3://{bucket}/big.bin", "--part-size", "5MiB"],
                               env=env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"},
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert parts_stored(server) == before, "no part was sent again"
        assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"] == etag
        assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == payload
        assert not list(tmp_path.glob("*.ferry-checkpoint"))
    finally:
        proxy.close()
