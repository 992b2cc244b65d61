#!/usr/bin/env bash
# Crash soak (on demand, not CI): see bench/soak.py. Needs root (it mounts a tmpfs for the data
# directory). Builds the release binary unless FERRY_BIN names one; runs niced so a shared
# machine stays usable. Arguments go to soak.py, e.g. `bench/soak.sh --minutes 10 --clients 50`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${FERRY_BIN:-}" ]; then
    nice -n 10 cargo build --release --locked -p ferry
    export FERRY_BIN="$PWD/target/release/ferry"
fi
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
ulimit -n 65536 2>/dev/null || true
exec nice -n 10 "$PY" bench/soak.py "$@"
