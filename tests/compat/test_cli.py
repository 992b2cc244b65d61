"""The ferry CLI against a real server: uploads survive kill -9, changed sources, Ctrl-C."""

import hashlib
import json
import os
import random
import signal
import subprocess

import pytest

from conftest import ACCESS_KEY, FERRY_BIN, SECRET_KEY, object_exists

MiB = 1024 * 1024


@pytest.fixture
def cli_env(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_ENDPOINT_URL=server.url,
               AWS_REGION="us-east-1", HOME=str(tmp_path))
    return env


def start_cp(env, *args):
    return subprocess.Popen([FERRY_BIN, "cp", "--json", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events_until(proc, stop_after_done):
    """Read JSON lines until `stop_after_done` parts finished (or the process ends)."""
    events, done = [], 0
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "part_done":
            done += 1
            if done >= stop_after_done:
                break
    return events


def peak_rss_kib(pid):
    """VmHWM (peak resident memory since exec) of a running process, 0 once it has exited."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_upload_survives_ten_kill9(s3, bucket, cli_env, tmp_path):
    data = os.urandom(300 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    part, parallel = 5 * MiB, 4
    args = [str(src), f"s3://{bucket}/big.bin", "--part-size", "5MiB", "--parallel", str(parallel)]
    started_bytes, kills, finished = 0, 0, False
    for _ in range(10):
        proc = start_cp(cli_env, *args)
        events = events_until(proc, random.randint(1, 6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        # Events printed after the last one read were still sent; count them too (all but a
        # line the kill may have cut short).
        events += [json.loads(l) for l in proc.stdout.read().split("\n")[:-1]]
        started_bytes += sum(e["size"] for e in events if e["event"] == "part_started")
        # The last parts may finish (and the upload complete) between the last event read and
        # the kill. With the record already removed a later run would rightly upload a new
        # copy, so stop here; with the record still there, the run below must send nothing.
        if object_exists(s3, bucket, "big.bin"):
            finished = True
            break
    assert kills >= 5, "the upload finished too early for the kills to mean anything"
    if not finished or (tmp_path / "big.bin.ferry-checkpoint").exists():
        proc = start_cp(cli_env, *args)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        final = [json.loads(l) for l in out.splitlines()]
        started_bytes += sum(e["size"] for e in final if e["event"] == "part_started")
        assert final[-1]["event"] == "result"
    resent = started_bytes - len(data)
    assert resent <= kills * parallel * part, f"re-sent {resent} bytes over {kills} kills"
    body = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert sha(body) == sha(data)
    assert not (tmp_path / "big.bin.ferry-checkpoint").exists(), "the record is removed after success"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_changed_source_starts_a_new_upload(s3, bucket, cli_env, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(40 * MiB))
    args = [str(src), f"s3://{bucket}/f.bin", "--part-size", "5MiB", "--parallel", "2"]
    proc = start_cp(cli_env, *args)
    events_until(proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "f.bin.ferry-checkpoint").exists()
    new = os.urandom(40 * MiB)
    src.write_bytes(new)
    proc = start_cp(cli_env, *args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert any(json.loads(l)["event"] == "restarted" for l in out.splitlines())
    assert s3.get_object(Bucket=bucket, Key="f.bin")["Body"].read() == new
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "the old upload was aborted"


@pytest.mark.parametrize("delete", [False, True])
def test_ctrl_c_keeps_or_deletes_the_record(s3, bucket, cli_env, tmp_path, delete):
    src = tmp_path / "c.bin"
    data = os.urandom(60 * MiB)
    src.write_bytes(data)
    args = [str(src), f"s3://{bucket}/c.bin", "--part-size", "5MiB", "--parallel", "2"]
    proc = start_cp(cli_env, *args, *(["--delete-on-cancel"] if delete else []))
    events_until(proc, 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    record = tmp_path / "c.bin.ferry-checkpoint"
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    if delete:
        assert not record.exists() and uploads == []
        return
    assert record.exists() and len(uploads) == 1
    assert "run the same command again to resume" in err
    proc = start_cp(cli_env, *args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    resumed = [json.loads(l) for l in out.splitlines() if '"resumed"' in l]
    assert resumed and resumed[0]["parts"] >= 2
    assert s3.get_object(Bucket=bucket, Key="c.bin")["Body"].read() == data


def test_download_ls_rm(s3, bucket, cli_env, tmp_path):
    data = os.urandom(13 * MiB + 7)
    s3.put_object(Bucket=bucket, Key="d/x.bin", Body=data)
    run = lambda *a: subprocess.run([FERRY_BIN, *a], env=cli_env, capture_output=True, text=True, timeout=120)
    (tmp_path / "page.html").write_text("<p>hi</p>")
    assert run("cp", str(tmp_path / "page.html"), f"s3://{bucket}/p/", "--meta", "Owner=me").returncode == 0
    head = s3.head_object(Bucket=bucket, Key="p/page.html")
    assert head["ContentType"] == "text/html", "guessed from the name"
    assert head["Metadata"] == {"owner": "me"}
    assert run("cp", str(tmp_path / "page.html"), f"s3://{bucket}/p/x", "--content-type", "text/plain").returncode == 0
    assert s3.head_object(Bucket=bucket, Key="p/x")["ContentType"] == "text/plain"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "p/page.html"}, {"Key": "p/x"}]})
    r = run("cp", f"s3://{bucket}/d/x.bin", str(tmp_path / "x.bin"), "--part-size", "4MiB")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.bin").read_bytes() == data
    assert "d/" in run("ls", f"s3://{bucket}").stdout
    assert "d/x.bin" in run("ls", f"s3://{bucket}", "--recursive").stdout
    assert run("rm", f"s3://{bucket}/d/x.bin").returncode == 0
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    r = run("cp", str(tmp_path / "missing"), f"s3://{bucket}/")
    assert r.returncode == 1 and "is not a file" in r.stderr
    env = {k: v for k, v in cli_env.items() if k != "AWS_ENDPOINT_URL"}
    r = subprocess.run([FERRY_BIN, "ls"], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "--endpoint-url" in r.stderr


def test_stdin_of_unknown_length_with_bounded_memory(s3, bucket, cli_env, tmp_path):
    data = os.urandom(150 * MiB + 3)
    proc = subprocess.Popen([FERRY_BIN, "cp", "--json", "-", f"s3://{bucket}/piped", "--part-size", "5MiB", "--parallel", "2"],
                            env=cli_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = []
    for i in range(0, len(data), MiB):
        proc.stdin.write(data[i:i + MiB])
        peak.append(peak_rss_kib(proc.pid))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["parts"] == 31
    assert sha(s3.get_object(Bucket=bucket, Key="piped")["Body"].read()) == sha(data)
    # 2 parts of 5 MiB in flight plus one being read: far below the 150 MiB streamed.
    assert 0 < max(peak) < 64 * 1024, f"peak RSS {max(peak)} KiB"
    small = subprocess.run([FERRY_BIN, "cp", "-", f"s3://{bucket}/small"], env=cli_env, input=b"tiny", capture_output=True)
    assert small.returncode == 0, small.stderr
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"tiny"


class FaultyProxy:
    """A loopback TCP proxy that cuts or stalls connections at random."""

    def __init__(self, target_port, seed):
        import socket
        import threading
        self.rng = random.Random(seed)
        self.target = target_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.faults = 0
        self.connections = 0
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        import threading
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            # The first connection and then one in three is cut after a random number of bytes;
            # one in five stalls.
            first = self.connections == 0
            self.connections += 1
            cut = self.rng.randint(1000, 3 * MiB) if first or self.rng.random() < 0.33 else None
            stall = self.rng.random() < 0.2
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b, cut, stall), daemon=True).start()

    def pump(self, src, dst, cut, stall):
        import time
        moved = 0
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if stall and moved == 0:
                    time.sleep(1.5)
                moved += len(chunk)
                if cut is not None and moved > cut:
                    self.faults += 1
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            # shutdown() (not just close()) so the pump blocked on the other socket wakes up
            # and both peers see the connection end.
            import socket
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.stopped = True
        self.listener.close()


def test_uploads_and_downloads_survive_a_faulty_network(s3, bucket, server, cli_env, tmp_path):
    proxy = FaultyProxy(server.port, seed=random.randrange(1 << 30))
    try:
        env = cli_env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
        data = os.urandom(40 * MiB)
        (tmp_path / "net.bin").write_bytes(data)
        common = ["--part-size", "5MiB", "--parallel", "4", "--retries", "20"]
        up = subprocess.run([FERRY_BIN, "cp", str(tmp_path / "net.bin"), f"s3://{bucket}/net.bin", *common],
                            env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        down = subprocess.run([FERRY_BIN, "cp", f"s3://{bucket}/net.bin", str(tmp_path / "net.out"), *common],
                              env=env, capture_output=True, text=True, timeout=300)
        assert down.returncode == 0, down.stderr
        assert (tmp_path / "net.out").read_bytes() == data
        assert s3.get_object(Bucket=bucket, Key="net.bin")["Body"].read() == data
        assert proxy.faults > 0, "the proxy injected no fault; nothing was tested"
    finally:
        proxy.close()


def test_same_cli_against_another_s3_server(cli_env, tmp_path):
    """moto's S3 server (from PyPI) stands in for any S3-compatible service."""
    import socket
    import sys
    import time
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = cli_env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        run = lambda *a: subprocess.run([FERRY_BIN, *a], env=env, capture_output=True, text=True, timeout=120)
        deadline = time.time() + 30
        while run("mb", "s3://other").returncode != 0:
            assert time.time() < deadline, "moto_server did not start"
            time.sleep(0.3)
        data = os.urandom(30 * MiB)
        (tmp_path / "o.bin").write_bytes(data)
        args = [str(tmp_path / "o.bin"), "s3://other/o.bin", "--part-size", "5MiB", "--parallel", "2"]
        proc = start_cp(env, *args)
        events_until(proc, 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = start_cp(env, *args)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert any('"resumed"' in l for l in out.splitlines()), "the upload resumed on the other server too"
        r = run("cp", "s3://other/o.bin", str(tmp_path / "o.out"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "o.out").read_bytes() == data
    finally:
        moto.terminate()
        moto.wait()


def test_resume_command_finishes_every_interrupted_upload(s3, bucket, cli_env, tmp_path):
    records = tmp_path / "records"
    files = {}
    for name in ("one.bin", "two.bin"):
        files[name] = os.urandom(25 * MiB)
        (tmp_path / name).write_bytes(files[name])
        proc = start_cp(cli_env, str(tmp_path / name), f"s3://{bucket}/r/{name}", "--part-size", "5MiB",
                        "--parallel", "1", "--checkpoint-dir", str(records))
        events_until(proc, 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(list(records.glob("*.ferry-checkpoint"))) == 2
    r = subprocess.run([FERRY_BIN, "resume", str(records), "--json"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    results = [json.loads(l) for l in r.stdout.splitlines() if '"result"' in l]
    assert sorted(x["key"] for x in results) == ["r/one.bin", "r/two.bin"]
    assert all(x["resumed_bytes"] >= 5 * MiB for x in results)
    for name, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"r/{name}")["Body"].read() == data
    assert list(records.glob("*.ferry-checkpoint")) == []


def test_download_resumes_after_kill9(s3, bucket, cli_env, tmp_path):
    data = os.urandom(64 * MiB)
    s3.put_object(Bucket=bucket, Key="dl.bin", Body=data)
    args = [FERRY_BIN, "cp", "--json", f"s3://{bucket}/dl.bin", str(tmp_path / "dl.bin"), "--part-size", "2MiB", "--parallel", "1"]
    proc = subprocess.Popen(args, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = 0
    for line in proc.stdout:
        done += json.loads(line)["event"] == "chunk_done"
        if done == 5:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "dl.bin").exists(), "nothing appears under the final name before it is complete"
    r = subprocess.run(args, env=cli_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    resumed = [json.loads(l) for l in r.stdout.splitlines() if '"resumed"' in l]
    assert resumed and resumed[0]["chunks"] >= 5
    assert (tmp_path / "dl.bin").read_bytes() == data


def test_limit_rate(s3, bucket, cli_env, tmp_path):
    import time
    (tmp_path / "slow.bin").write_bytes(os.urandom(15 * MiB))
    start = time.monotonic()
    r = subprocess.run([FERRY_BIN, "cp", str(tmp_path / "slow.bin"), f"s3://{bucket}/slow.bin", "--part-size", "5MiB",
                        "--limit-rate", "4MiB"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # 15 MiB at 4 MiB/s in 5 MiB parts: the first goes at once, the others wait 1.25 s each.
    assert time.monotonic() - start >= 2.4


def test_error_messages(cli_env, tmp_path):
    """The messages users see, word for word."""
    run = lambda *a, env=cli_env: subprocess.run([FERRY_BIN, *a], env=env, capture_output=True, text=True, timeout=60)
    (tmp_path / "f").write_bytes(b"x")
    cases = [
        (["cp", "a", "b"], "ferry: error: one of SRC and DST must be an s3://bucket/key URL\n"),
        (["cp", str(tmp_path / "f"), "s3://b/k", "--part-size", "1KiB"],
         "ferry: error: --part-size must be between 100 KiB and 5 GiB (got 1024 bytes)\n"),
        (["mb", "s3://b/k"], "ferry: error: mb takes a bucket: s3://b\n"),
        (["ls", "bucket"], "ferry: error: \"bucket\" is not an s3://bucket[/key] URL\n"),
    ]
    for args, expected in cases:
        r = run(*args)
        assert (r.returncode, r.stderr) == (1, expected), args
    no_keys = {k: v for k, v in cli_env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    r = run("ls", env=no_keys)
    assert r.stderr == ('ferry: error: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, '
                        'or add them to profile "default" in ~/.aws/credentials\n')
    r = run("cp", str(tmp_path / "f"), "s3://b/k", "--part-size", "lots")
    assert r.returncode == 2 and "is not a size like 16MiB" in r.stderr
