"""Time writing a big report frame as a plain table, csv and json, in process.

    python benchmarks/bench_render.py [--rows 1000000] [--repeat 5] [--reference 100000]

The frame looks like ``query "SELECT record, pfn, comm, ts, stack_hash, pages, allocator
FROM pages"`` on a dump of ``--rows`` records: the case where a table piped out of
``pagecols`` has one line per record.  Prints the median and best of ``--repeat`` runs of
each writer; ``--reference N`` also times the cell-by-cell Python table this replaced
(tests/test_render_props.py) on N rows, for the per-row cost before and after.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from pagecols import render


def frame(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    return pl.DataFrame(
        {
            "record": np.arange(rows, dtype=np.uint64),
            "pfn": rng.integers(0x1000, 1 << 34, rows, dtype=np.uint64),
            "comm": rng.choice(["swapper/0", "kworker/0:1", "Web Content", "systemd"], rows),
            "ts": rng.integers(1 << 30, 1 << 55, rows, dtype=np.uint64),
            "stack_hash": rng.integers(0, 1 << 63, rows, dtype=np.uint64) * np.uint64(2),
            "pages": np.ones(rows, dtype=np.uint64),
            "allocator": rng.choice(["OTHERS", "SLAB", "VMALLOC"], rows),
        }
    )


def timed(label: str, rows: int, repeat: int, write: Callable[[], object]) -> None:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        write()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    print(
        f"{label:<28} {rows:>10,} rows  median {median:7.2f} s  best {min(seconds):7.2f} s  "
        f"{median / rows * 1e6:6.2f} us/row",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reference", type=int, default=0, help="also time the cell-by-cell table on N rows")
    args = parser.parse_args()
    big = frame(args.rows)
    timed("plain table", args.rows, args.repeat, lambda: render.plain_table(render.prepare(big, "plain")))
    timed("csv", args.rows, args.repeat, lambda: render.prepare(big, "csv").write_csv())
    timed("json", args.rows, args.repeat, lambda: render.prepare(big, "json").write_json())
    if args.reference:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from test_render_props import reference_plain_table

        small = frame(args.reference)
        timed(
            "plain table (vectorised)",
            args.reference,
            args.repeat,
            lambda: render.plain_table(render.prepare(small, "plain")),
        )
        timed(
            "plain table (cell by cell)",
            args.reference,
            max(1, args.repeat // 2),
            lambda: reference_plain_table(render.prepare(small, "plain")),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
