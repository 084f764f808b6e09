"""`pagecols sort -m --cull=st` on a small real dump, against the kernel's page_owner_sort.

    python benchmarks/bench_small.py [--repeat 9] [--c-tool PATH]

The dump is the real 6.12 sample in data/ nine times over (24 MB, 51 k records), the
size of a test VM's page_owner file.  Each round runs, one after another: the C tool
(``--c-tool``, or ``$PAGE_OWNER_SORT``; build it from the kernel's
tools/mm/page_owner_sort.c with ``gcc -O2``: it is not part of this repository), then
``pagecols sort``, then a process that only imports what that sort imports (the floor
start-up sets).  It prints per case the median and best wall time, the median CPU time
(user + system) and the peak RSS, and checks that both tools wrote the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
from pathlib import Path

from common import WORK, Run, pagecols, run

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "linux-6.12-memcg.page_owner.txt.gz"
# What the sort imports, with the settings its console script makes first (pagecols/entry.py).
IMPORTS = "from pagecols import entry; entry.tune_allocators(entry.LIBRARIES); import pagecols.compat, pagecols.ingest"


def small_dump() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "real-6.12-x9.txt"
    if not path.exists():
        path.write_bytes(gzip.decompress(SAMPLE.read_bytes()) * 9)
    return path


#: The processes run as an installed pagecols does: with its modules' bytecode cached
#: (pip compiles it at install).  With ``PYTHONDONTWRITEBYTECODE`` set, as on some CI
#: machines, every run compiled pagecols' sources again: ~0.05 CPU-seconds.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--c-tool", default=os.environ.get("PAGE_OWNER_SORT"))
    args = parser.parse_args()
    dump = small_dump()
    outs = {"page_owner_sort (C)": WORK / "small-c.out", "pagecols sort": WORK / "small-pagecols.out"}
    cases = {
        "pagecols sort": pagecols("sort", "-m", "--cull=st", str(dump), str(outs["pagecols sort"])),
        "imports only": [sys.executable, "-c", IMPORTS],
    }
    if args.c_tool:
        c_argv = [args.c_tool, "-m", "--cull=st", str(dump), str(outs["page_owner_sort (C)"])]
        cases = {"page_owner_sort (C)": c_argv, **cases}
    runs: dict[str, list[Run]] = {name: [] for name in cases}
    for argv in cases.values():  # a round not counted: page cache, bytecode
        run(argv, env=ENV)
    for _ in range(args.repeat):
        for name, argv in cases.items():
            runs[name].append(run(argv, env=ENV))
    print(f"# {dump.name}: {dump.stat().st_size / 1e6:.1f} MB; {args.repeat} rounds, the cases taking turns")
    print(f"{'case':<20} {'median s':>9} {'best s':>7} {'CPU s':>6} {'peak RSS MiB':>13}")
    for name, got in runs.items():
        wall = [r.seconds for r in got]
        cpu = statistics.median(r.cpu_seconds for r in got)
        rss = statistics.median(r.max_rss_mib for r in got)
        print(f"{name:<20} {statistics.median(wall):>9.3f} {min(wall):>7.3f} {cpu:>6.3f} {rss:>13,.0f}")
    if args.c_tool:
        same = outs["page_owner_sort (C)"].read_bytes() == outs["pagecols sort"].read_bytes()
        print(f"# outputs {'identical' if same else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
