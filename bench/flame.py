"""Flame graphs of `ferry serve` for the benchmarks in this directory: `perf record` attached to the
server during one transfer, rendered with inferno (installed by bench/run.sh into bench/.tools)
into docs/flamegraphs/NAME.svg, with where the samples land printed for the write-up beside it."""

import signal
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INFERNO = REPO / "bench" / ".tools" / "bin"


def start(pid, perf_file):
    """Start sampling process `pid` (all its threads, kernel and user stacks) into `perf_file`."""
    return subprocess.Popen(["perf", "record", "-F", "999", "-g", "-e", "cpu-clock", "-p", str(pid), "-o",
                             str(perf_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish(recorder, perf_file, name, title, frames=()):
    """Stop `recorder`, write docs/flamegraphs/NAME.svg, print the leaves with the most samples and
    the inclusive share of each of `frames`."""
    recorder.send_signal(signal.SIGINT)  # perf writes its file and exits
    recorder.wait()
    out_dir = REPO / "docs" / "flamegraphs"
    out_dir.mkdir(parents=True, exist_ok=True)
    script = subprocess.run(["perf", "script", "-i", str(perf_file)], check=True, capture_output=True)
    folded = subprocess.run([str(INFERNO / "inferno-collapse-perf")], input=script.stdout, check=True,
                            capture_output=True).stdout
    svg = subprocess.run([str(INFERNO / "inferno-flamegraph"), "--title", title, "--width", "1400"], input=folded,
                         check=True, capture_output=True).stdout
    (out_dir / f"{name}.svg").write_bytes(svg)
    print(f"  flame graph: docs/flamegraphs/{name}.svg ({title})")
    lines = [line.rpartition(" ") for line in folded.decode(errors="replace").splitlines()]
    own, total = {}, 0
    for stack, _, count in lines:
        leaf = stack.rsplit(";", 1)[-1]
        own[leaf] = own.get(leaf, 0) + int(count)
        total += int(count)
    for leaf, count in sorted(own.items(), key=lambda kv: -kv[1])[:25]:
        print(f"    {100 * count / total:5.1f}%  {leaf[:110]}")
    for frame in frames:
        n = sum(int(count) for stack, _, count in lines if frame in stack)
        print(f"    inclusive {frame:22} {100 * n / total:5.1f}%")
