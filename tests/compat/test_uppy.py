"""Uppy in a real Chromium (Debian's, driven by playwright-core) against a real `ferry serve`:
@uppy/tus with an upload token, @uppy/aws-s3 in multipart mode with presigned part URLs, a tus
upload cut off mid-way and resumed after a reload, and tokens that must be refused. The test page
is bundled at test time with esbuild and served by a small Node application server on another
loopback port, so every call from the page to ferry is cross-origin and goes through CORS."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, FERRY_BIN, SECRET_KEY, FerryServer

BROWSER_DIR = Path(__file__).parent / "browser"
NODE_MODULES = Path(__file__).parent / "node" / "node_modules"
CHROMIUM = "/usr/bin/chromium"
BUCKET = "browser"
MiB = 1024 * 1024
SIZE = 24 * MiB + 4321
CHUNK = 8 * MiB

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and (NODE_MODULES / "@uppy" / "tus").exists() and shutil.which("node")),
    reason="needs /usr/bin/chromium and the Node browser-test tools (scripts/test.sh installs them)",
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_port():
    return free_port()


@pytest.fixture(scope="module")
def browser_server(tmp_path_factory, app_port):
    data = tmp_path_factory.mktemp("ferry-browser") / "data"
    data.mkdir()
    srv = FerryServer(data, "--cors-origin", f"http://127.0.0.1:{app_port}").start()
    srv.client().create_bucket(Bucket=BUCKET)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "holiday.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture(scope="module")
def short_token(browser_server):
    """A token minted with the CLI on the server's store, living the shortest allowed time (one
    minute); the expiry test runs last and waits out what is left."""
    out = subprocess.run(
        [FERRY_BIN, "token", "create", "--key", ACCESS_KEY, "--bucket", BUCKET, "--prefix", "uploads/",
         "--ttl", "1m", "--max-size", "1GiB", "--data-dir", str(browser_server.data_dir), "--json"],
        capture_output=True, text=True, timeout=30,
        env={**os.environ, "FERRY_ACCESS_KEY_ID": ACCESS_KEY},
    )
    assert out.returncode == 0, out.stderr
    minted = json.loads(out.stdout)
    assert minted["token"].startswith("FUT1") and minted["prefix"] == "uploads/"
    return minted


def run_page(server, app_port, path, scenario, shot, token=None):
    args = [shutil.which("node"), str(BROWSER_DIR / "uppy_check.js"), server.url, str(app_port), BUCKET, str(path),
            scenario, str(shot)]
    if token:
        args.append(token)
    env = {**os.environ, "FERRY_ACCESS_KEY_ID": ACCESS_KEY, "FERRY_SECRET_ACCESS_KEY": SECRET_KEY}
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert shot.exists() and shot.stat().st_size > 1000, "no screenshot"
    return out


def received_part_bytes(server):
    text = urllib.request.urlopen(f"{server.url}/metrics", timeout=10).read().decode()
    match = re.search(r'^ferry_received_bytes_total\{kind="part"\} (\d+)', text, re.M)
    return int(match.group(1)) if match else 0


def stored(server, key):
    return server.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_uppy_tus_uploads_with_an_upload_token_across_origins(browser_server, app_port, upload_file, tmp_path):
    key = f"uploads/{upload_file.name}"
    out = run_page(browser_server, app_port, upload_file, "tus", tmp_path / "uppy-tus.png")
    assert out["result"]["errors"] == [], out
    assert out["result"]["complete"] == {"successful": 1, "failed": 0}
    assert [p["offset"] for p in out["patches"]] == [0, CHUNK, 2 * CHUNK, 3 * CHUNK]
    assert stored(browser_server, key) == upload_file.read_bytes()
    browser_server.client().delete_object(Bucket=BUCKET, Key=key)


def test_uppy_tus_resumes_after_the_network_is_cut_and_the_page_reloaded(
    browser_server, app_port, upload_file, tmp_path
):
    key = f"uploads/{upload_file.name}"
    before = received_part_bytes(browser_server)
    out = run_page(browser_server, app_port, upload_file, "tus-resume", tmp_path / "uppy-tus-resume.png")
    # First run: two chunks got through, the third was cut off and Uppy reported the failure.
    assert out["firstRun"]["errors"], out["firstRun"]
    first = [p for p in out["patches"] if p["run"] == "before"]
    assert [(p["offset"], p.get("aborted", False)) for p in first] == [(0, False), (CHUNK, False), (2 * CHUNK, True)]
    # After the reload the same file resumes at the durable offset: no byte is sent twice.
    after = [p for p in out["patches"] if p["run"] == "after"]
    assert after and after[0]["offset"] == 2 * CHUNK, after
    assert sum(p["size"] for p in after) == SIZE - 2 * CHUNK
    assert out["result"]["complete"] == {"successful": 1, "failed": 0}, out["result"]
    # The server stored each byte exactly once.
    assert received_part_bytes(browser_server) - before == SIZE
    assert stored(browser_server, key) == upload_file.read_bytes()


def test_uppy_aws_s3_multipart_with_presigned_part_urls(browser_server, app_port, upload_file, tmp_path):
    key = f"uploads/{upload_file.name}"
    browser_server.client().delete_object(Bucket=BUCKET, Key=key)
    out = run_page(browser_server, app_port, upload_file, "s3", tmp_path / "uppy-s3.png")
    assert out["result"]["errors"] == [], out
    assert out["result"]["complete"] == {"successful": 1, "failed": 0}
    # The browser PUT each part straight to ferry (24 MiB in 8 MiB parts: four).
    assert out["puts"] == 4
    assert stored(browser_server, key) == upload_file.read_bytes()
    parts = browser_server.client().head_object(Bucket=BUCKET, Key=key, PartNumber=1)
    assert parts["PartsCount"] == 4


def test_a_token_for_another_prefix_is_refused_in_the_browser(browser_server, app_port, upload_file, tmp_path):
    out = run_page(browser_server, app_port, upload_file, "foreign-prefix", tmp_path / "uppy-foreign.png")
    errors = out["result"]["errors"]
    assert errors and "403" in errors[0]["message"] and "may not write" in errors[0]["message"], errors
    assert out["patches"] == []


def test_an_altered_token_is_refused_in_the_browser(browser_server, app_port, upload_file, tmp_path, short_token):
    token = short_token["token"]
    altered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    out = run_page(browser_server, app_port, upload_file, "token-refused", tmp_path / "uppy-altered.png", altered)
    errors = out["result"]["errors"]
    assert errors and "401" in errors[0]["message"] and "altered" in errors[0]["message"], errors


def test_an_expired_token_is_refused_in_the_browser(browser_server, app_port, upload_file, tmp_path, short_token):
    expires = short_token["expires"]
    wait = time.mktime(time.strptime(expires[:19], "%Y-%m-%dT%H:%M:%S")) - time.mktime(time.gmtime()) + 1.5
    if wait > 0:
        time.sleep(wait)
    out = run_page(browser_server, app_port, upload_file, "token-refused", tmp_path / "uppy-expired.png",
                   short_token["token"])
    errors = out["result"]["errors"]
    assert errors and "401" in errors[0]["message"] and "expired" in errors[0]["message"], errors
    assert out["patches"] == []
