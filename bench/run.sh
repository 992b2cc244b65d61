#!/usr/bin/env bash
# On-demand benchmark (not run in CI). Builds ferry, installs the peer server (s3s-fs from
# the Rust package registry) and the clients, then runs bench/bench.py, which measures everything
# in one run. `bench/run.sh --scale` runs bench/scale.py instead (PostgreSQL, several nodes);
# `bench/run.sh --tunnel` runs bench/tunnel.py (table rows/s: the Rust tunnel writer and pyodps).
# `bench/run.sh --tus` runs bench/tus.py (1 GiB tus uploads to ferry and to tusd v2.9.1, which it
# builds into bench/.tools from the Go module proxy).
# `bench/run.sh --profile SCENARIO` (s5cmd-upload, cp-upload, cp-download, s5cmd-download) records
# ferry serve with `perf record -g` during that one transfer and renders
# docs/flamegraphs/SCENARIO.svg with inferno (perf from Debian's linux-perf);
# `bench/run.sh --tunnel --profile` does the same for one Tunnel ingest (tunnel-ingest.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
cargo build --release --locked -p ferry-client --example part_load --example tunnel_load
cargo build --release --locked -p ferry-core --example hash_floor
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
if [[ " $* " == *" --profile "* ]]; then
    command -v perf >/dev/null || { apt-get update -q && apt-get install -y -q linux-perf; }
    [ -x bench/.tools/bin/inferno-flamegraph ] || cargo install inferno --locked --root bench/.tools
    # Let perf read the server's kernel and user stacks (this is a development machine).
    echo -1 > /proc/sys/kernel/perf_event_paranoid 2>/dev/null || true
fi
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
