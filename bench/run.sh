#!/usr/bin/env bash
# On-demand benchmark (not run in CI). Builds ferry, installs the peer server (s3s-fs from
# the Rust package registry) and the clients, then runs bench/bench.py, which measures everything in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
if [ ! -x bench/.tools/bin/s3s-fs ]; then
    echo "== installing the peer server s3s-fs 0.14.1 (the newest release that builds with this toolchain)"
    cargo install s3s-fs --version 0.14.1 --features binary --locked --root bench/.tools
fi
PATH="$PWD/.venv/bin:$PATH" exec .venv/bin/python bench/bench.py "$@"
