"""Ingest benchmark: `pagecols convert` and `pagecols info` on big synthetic 6.3-format dumps.

    python benchmarks/bench_ingest.py                 # 1 GiB
    python benchmarks/bench_ingest.py --sizes 1G,4G   # RSS stays flat as the input grows
    python benchmarks/bench_ingest.py --verify        # also check `cat` gives the input back byte for byte
    python benchmarks/bench_ingest.py --repeat 5      # convert 5 times: best and median

The machine is a shared VM whose speed drifts by a third over an hour, so convert runs
--repeat times (3 by default) and both the best and the median are printed.

Targets: convert >= 300 MB/s, peak RSS <= 1 GiB at any size, Parquet <= 5 % of the
text, `info` <= 0.5 s.  Every figure is a whole process, page cache warm.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import WORK, pagecols, parse_size, run, synthetic_dump, warm


def bench(size: int, *, verify: bool, repeat: int) -> None:
    dump = synthetic_dump(size)
    mb = dump.stat().st_size / 1e6
    limit = warm(dump)
    out = WORK / (dump.stem + ".parquet")
    runs = [run(pagecols("convert", str(dump), "-o", str(out))) for _ in range(repeat)]
    convert = min(runs, key=lambda r: r.seconds)
    median = statistics.median(r.seconds for r in runs)
    info = min((run(pagecols("info", str(out))) for _ in range(repeat)), key=lambda r: r.seconds)
    ratio = out.stat().st_size / dump.stat().st_size
    print(f"input               {dump.name}: {mb:,.0f} MB")
    print(f"cat > /dev/null     {limit:6.2f} s  {mb / limit:8,.0f} MB/s   (the physical limit)")
    print(
        f"pagecols convert    {convert.seconds:6.2f} s  {mb / convert.seconds:8,.0f} MB/s   "
        f"peak RSS {max(r.max_rss_mib for r in runs):,.0f} MiB   {convert.seconds / limit:.1f}x cat   "
        f"CPU {convert.cpu_seconds:.2f} s   (best of {repeat})"
    )
    print(f"  median of {repeat}       {median:6.2f} s  {mb / median:8,.0f} MB/s")
    print(f"parquet size        {out.stat().st_size / 1e6:6.1f} MB  = {ratio:.1%} of the text")
    print(f"pagecols info       {info.seconds:6.2f} s   peak RSS {info.max_rss_mib:,.0f} MiB")
    if verify:
        back = WORK / (dump.stem + ".cat.txt")
        with open(back, "wb") as f:
            cat = subprocess.run(pagecols("cat", str(out)), stdout=f, check=True)
        same = filecmp.cmp(dump, back, shallow=False)
        back.unlink()
        print(f"pagecols cat        round trip {'byte-identical' if same else 'DIFFERS'} ({cat.returncode})")
        if not same:
            sys.exit(1)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G", help="comma-separated input sizes, e.g. 1G,4G")
    parser.add_argument("--verify", action="store_true", help="check the cat round trip too")
    parser.add_argument("--repeat", type=int, default=3, help="convert this many times: best and median")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; work dir {WORK}\n")
    for size in args.sizes.split(","):
        bench(parse_size(size), verify=args.verify, repeat=args.repeat)


if __name__ == "__main__":
    main()
