#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one:
#   1. installs what it needs (rclone, curl, node, Go and the PostgreSQL server from Debian; a
#      Python venv, npm packages and Go modules with the real clients and moto's S3 server),
#   2. builds ferry, checks formatting and lints,
#   3. runs the Rust tests (engine, conformance suites on SQLite, local disk, a private
#      PostgreSQL cluster and an S3 server, protocol units),
#   4. runs the compatibility suite: real boto3, awscli, s5cmd, rclone, curl, oss2, ali-oss, ufile,
#      pyodps, the Go SDKs (aws-sdk-go-v2's transfer manager, minio-go), the JavaScript SDK's
#      lib-storage and the ferry CLI against a real `ferry serve` on 127.0.0.1, including HTTPS and
#      kill -9 tests, and three nodes sharing PostgreSQL and an S3-compatible blob store; and the
#      vendors' Java SDKs (OSS, MaxCompute Tunnel, US3, AWS S3TransferManager), whose Maven module
#      test_java_sdks.py builds once per run (dependencies resolved from Maven Central); and Uppy
#      (@uppy/tus with upload tokens, @uppy/aws-s3 with presigned parts) in Debian's Chromium
#      driven by playwright-core, the page served cross-origin (test_uppy.py).
# Servers the tests need (PostgreSQL clusters, moto) are started by the tests themselves on free
# loopback ports in temp directories, and stopped by them.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v go >/dev/null 2>&1 || missing+=(golang)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
# Browser tests (the console, Uppy) drive Debian's Chromium through playwright-core.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Install only: no package may start a system service (the tests start their own servers).
    policy_added=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    [ -z "$policy_added" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi

echo "== python venv with the real S3 clients"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt

echo "== node clients (ali-oss, @aws-sdk/lib-storage, tus-js-client, Uppy, playwright-core)"
(cd tests/compat/node && npm ci --no-audit --no-fund --loglevel=error)

echo "== go clients (aws-sdk-go-v2 transfer manager, minio-go): modules resolved once"
# tests/compat/go needs Go >= 1.26; Debian 12's golang is 1.19 and cannot switch toolchains
# itself, so an older go fetches the Go toolchain from the Go module proxy (where the go
# command's own toolchain switching takes it from) and that one is used.
go_toolchain=go1.26.8
if ! printf '%s\n' go1.26 "$(go env GOVERSION)" | sort -V -C; then
    toolchain_dir="${XDG_CACHE_HOME:-$HOME/.cache}/ferry/$go_toolchain"
    if [ ! -x "$toolchain_dir/bin/go" ]; then
        module="golang.org/toolchain@v0.0.1-$go_toolchain.$(go env GOHOSTOS)-$(go env GOHOSTARCH)"
        fetched=$(cd /tmp && GOFLAGS=-modcacherw go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
        rm -rf "$toolchain_dir" && mkdir -p "$(dirname "$toolchain_dir")" && cp -r "$fetched" "$toolchain_dir"
        # Module files carry no execute bits.
        chmod -R u+w "$toolchain_dir" && chmod +x "$toolchain_dir"/bin/* "$toolchain_dir"/pkg/tool/*/*
    fi
    export PATH="$toolchain_dir/bin:$PATH"
    unset GOROOT
fi
go version
(cd tests/compat/go && go mod download)

echo "== build and lint"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --locked -- -D warnings
cargo build --release --locked

echo "== rust tests"
cargo test --release --workspace --locked

echo "== compatibility suite (real clients, real server)"
export FERRY_BIN="$PWD/target/release/ferry"
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m pytest tests/compat -q -p no:cacheprovider
