"""Ingest benchmark: `pagecols convert` and `pagecols info` on big synthetic 6.3-format dumps.

    python benchmarks/bench_ingest.py                 # 1 GiB
    python benchmarks/bench_ingest.py --sizes 1G,4G   # RSS stays flat as the input grows
    python benchmarks/bench_ingest.py --verify        # also check `cat` gives the input back byte for byte

Targets (issue 2): convert >= 300 MB/s, peak RSS <= 1 GiB at any size, Parquet <= 5 % of the
text, `info` <= 0.5 s.  Every figure is a whole process, page cache warm.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import WORK, pagecols, parse_size, run, synthetic_dump, warm


def bench(size: int, *, verify: bool) -> None:
    dump = synthetic_dump(size)
    mb = dump.stat().st_size / 1e6
    limit = warm(dump)
    out = WORK / (dump.stem + ".parquet")
    convert = run(pagecols("convert", str(dump), "-o", str(out)))
    info = run(pagecols("info", str(out)))
    ratio = out.stat().st_size / dump.stat().st_size
    print(f"input               {dump.name}: {mb:,.0f} MB")
    print(f"cat > /dev/null     {limit:6.2f} s  {mb / limit:8,.0f} MB/s   (the physical limit)")
    print(
        f"pagecols convert    {convert.seconds:6.2f} s  {mb / convert.seconds:8,.0f} MB/s   "
        f"peak RSS {convert.max_rss_mib:,.0f} MiB   {convert.seconds / limit:.1f}x cat"
    )
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
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; work dir {WORK}\n")
    for size in args.sizes.split(","):
        bench(parse_size(size), verify=args.verify)


if __name__ == "__main__":
    main()
