#!/usr/bin/env bash
# RUSTC_WRAPPER for a quick local fuzz build on stable Rust that reuses the workspace's already
# compiled dependencies: only ferry's own crates get libFuzzer's coverage instrumentation (the
# flags `cargo fuzz` sets for every crate). See "Fuzzing" in docs/reliability.md.
rustc=$1
shift
case " $* " in
*" --crate-name ferry_"*)
    exec "$rustc" "$@" -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
        --cfg fuzzing
    ;;
esac
exec "$rustc" "$@"
