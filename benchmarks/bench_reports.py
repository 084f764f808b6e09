"""Time the analyst commands as whole processes on a big synthetic dump converted to Parquet.

    python benchmarks/bench_reports.py [--size 1G] [--dir /tmp/pagecols-bench] [--repeat 3]

Makes (once, then reuses) two synthetic dumps of ``--size`` with seeds 1 and 2 and
converts them with ``pagecols convert``; then runs each report command as its own
process, output to /dev/null, and prints the best wall time of ``--repeat`` runs and
the peak RSS of that process.  The issue's target: top, diff, folded and frag each
in 1 s or less on the 1 GB dump.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import is_current

from pagecols import synth

# (name, argv after `pagecols`); {a} and {b} are the two Parquet files, {out} a scratch dir.
COMMANDS: list[tuple[str, list[str]]] = [
    ("top --by stack", ["top", "{a}"]),
    ("top --by where", ["top", "{a}", "--by", "where"]),
    ("top --by comm,memcg", ["top", "{a}", "--by", "comm,memcg"]),
    ("diff --by stack", ["diff", "{a}", "{b}"]),
    ("diff --by where", ["diff", "{a}", "{b}", "--by", "where"]),
    ("folded", ["folded", "{a}"]),
    ("frag", ["frag", "{a}"]),
    ("query (group by comm)", ["query", "{a}", "SELECT comm, sum(pages) AS p FROM pages GROUP BY 1 ORDER BY 2 DESC"]),
    ("plot top", ["plot", "top", "{a}", "-o", "{out}/top.png"]),
    ("plot timeline", ["plot", "timeline", "{a}", "-o", "{out}/timeline.png"]),
]


def pagecols_argv() -> list[str]:
    # `python -m` rather than the console script, so PYTHONPATH can point at another checkout.
    return [sys.executable, "-m", "pagecols"]


def run(argv: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in MiB and exit code of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode(errors="replace"))
    if proc.stderr is not None:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss // 1024, proc.returncode


def prepare(directory: Path, size: int) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for seed in (1, 2):
        text = directory / f"synth-{size}-seed{seed}.txt"
        parquet = text.with_suffix(".parquet")
        if not is_current(parquet):
            if not text.exists():
                t = time.perf_counter()
                n = synth.write_dump(text, size=size, seed=seed, era="6.3")
                print(f"# wrote {text} ({n:,} records) in {time.perf_counter() - t:.1f} s", flush=True)
            seconds, rss, code = run([*pagecols_argv(), "convert", str(text), "-o", str(parquet)])
            if code:
                raise SystemExit(f"convert failed with exit code {code}")
            print(f"# converted {text.name} in {seconds:.1f} s, peak RSS {rss} MiB", flush=True)
        out.append(parquet)
    return out[0], out[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=synth.parse_size, default=synth.parse_size("1G"))
    parser.add_argument("--dir", type=Path, default=Path("/tmp/pagecols-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    a, b = prepare(args.dir, args.size)
    print(f"# {a.name}: {a.stat().st_size / 2**20:,.0f} MiB Parquet; best of {args.repeat}")
    print(f"{'command':<24} {'seconds':>8} {'peak RSS MiB':>13}")
    for name, template in COMMANDS:
        argv = [*pagecols_argv(), *(arg.format(a=a, b=b, out=args.dir) for arg in template)]
        runs = [run(argv) for _ in range(args.repeat)]
        if any(code for _, _, code in runs):
            print(f"{name:<24} {'failed':>8}")
            continue
        best = min(runs)
        print(f"{name:<24} {best[0]:>8.2f} {best[1]:>13,}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
