#!/usr/bin/env bash
# On-demand benchmark (not run in CI). Builds ferry, installs the peer server (s3s-fs from
# the Rust package registry) and the clients, then runs bench/bench.py, which measures everything
# in one run. `bench/run.sh --scale` runs bench/scale.py instead (PostgreSQL, several nodes);
# `bench/run.sh --tunnel` runs bench/tunnel.py (table rows/s: the Rust tunnel writer and pyodps).
# `bench/run.sh --tus` runs bench/tus.py (1 GiB tus uploads to ferry and to tusd v2.9.1, which it
# builds into bench/.tools from the Go module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
cargo build --release --locked -p ferry-client --example part_load --example tunnel_load
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
if [ "${1:-}" = "--tunnel" ]; then
    shift
    PATH="$PWD/.venv/bin:$PATH" exec .venv/bin/python bench/tunnel.py "$@"
fi
if [ "${1:-}" = "--tus" ]; then
    shift
    if [ ! -x bench/.tools/bin/tusd ]; then
        echo "== building the peer server tusd v2.9.1 (go install, from the Go module proxy)"
        GOBIN="$PWD/bench/.tools/bin" go install github.com/tus/tusd/v2/cmd/tusd@v2.9.1
    fi
    PATH="$PWD/.venv/bin:$PATH" exec .venv/bin/python bench/tus.py "$@"
fi
if [ ! -x bench/.tools/bin/s3s-fs ]; then
    echo "== installing the peer server s3s-fs 0.14.1 (the newest release that builds with this toolchain)"
    cargo install s3s-fs --version 0.14.1 --features binary --locked --root bench/.tools
fi
if [ "${1:-}" = "--scale" ]; then
    shift
    PATH="$PWD/.venv/bin:$PATH" exec .venv/bin/python bench/scale.py "$@"
fi
PATH="$PWD/.venv/bin:$PATH" exec .venv/bin/python bench/bench.py "$@"
