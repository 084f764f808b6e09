"""Inputs that are not page_owner dumps: how long `pagecols convert` takes to refuse them, in how much memory.

    python benchmarks/bench_not_dumps.py                 # 30 MB of each kind
    python benchmarks/bench_not_dumps.py --size 105M --repeat 5

Each kind is refused with exit 1; a real dump of the same size is converted for comparison.
The target (issue 15): refused early, and in no more memory than a real dump of that size.
Times are medians of --repeat runs (the machine is shared and its speed drifts).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from common import WORK, pagecols, parse_size, synthetic_dump

# What each input repeats until it has the size asked for.
KINDS: dict[str, Callable[[int], bytes]] = {
    "x and a blank line": lambda n: b"x\n\n" * (n // 3),
    "0xFF bytes, no newline": lambda n: b"\xff" * n,
    "0xFF lines": lambda n: b"\xff\n" * (n // 2),
    "blank lines": lambda n: b"\n" * n,
    "headers that do not parse": lambda n: b"Page allocated via order x\n\n" * (n // 28),
}


def measure(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS in MiB, exit code and the last line of stderr of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), err[-1] if err else ""


def bench(label: str, path: Path, repeat: int) -> None:
    out = WORK / "not-dump.parquet"
    runs = [measure(pagecols("convert", str(path), "-o", str(out))) for _ in range(repeat)]
    seconds = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs)
    code, said = runs[0][2], runs[0][3]
    print(f"{label:28} {path.stat().st_size / 1e6:6.0f} MB  {seconds:6.2f} s  peak RSS {rss:6,.0f} MiB  exit {code}")
    if code:
        print(f"{'':28} {said[:110]}")
    out.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="30M", help="size of each input, e.g. 30M, 105M")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians are printed")
    args = parser.parse_args()
    size = parse_size(args.size)
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; work dir {WORK}; medians of {args.repeat} runs\n")
    bench("a real dump (reference)", synthetic_dump(size), args.repeat)
    for label, make in KINDS.items():
        path = WORK / f"not-dump-{label.replace(' ', '-')}-{size >> 20}M.txt"
        if not path.exists():
            path.write_bytes(make(size))
        bench(label, path, args.repeat)
        path.unlink()


if __name__ == "__main__":
    main()
