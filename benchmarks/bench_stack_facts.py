"""The parser's per-distinct-stack facts: microseconds per stack for each test.

    python benchmarks/bench_stack_facts.py            # the stacks of the real 6.12 sample
    python benchmarks/bench_stack_facts.py --repeat 7

The parser computes these once per distinct stack, never per record (parse.StackCache), so
their cost grows with the number of distinct stacks a dump has (a few thousand in the
synthetic dumps, up to ~100k on a big server), not with its size.  Each figure is the median
of --repeat runs over the sample's distinct stacks.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from pagecols.parse import is_slab_stack, is_vmalloc, stack_hash, stack_module

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "linux-6.12-memcg.page_owner.txt.gz"


def distinct_stacks() -> list[str]:
    records = gzip.decompress(SAMPLE.read_bytes()).decode().split("\n\n")
    return sorted({"\n".join(line for line in r.split("\n") if line.startswith(" ")) for r in records})


def per_stack_us(test: Callable[[str], object], stacks: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(20):
            for stack in stacks:
                test(stack)
        runs.append((time.perf_counter() - start) / (20 * len(stacks)))
    return statistics.median(runs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    stacks = distinct_stacks()
    print(f"{len(stacks):,} distinct stacks of {SAMPLE.name}, median of {args.repeat} runs")
    for test in (stack_hash, stack_module, is_vmalloc, is_slab_stack):
        print(f"{test.__name__:<14} {per_stack_us(test, stacks, args.repeat):6.2f} us per distinct stack")


if __name__ == "__main__":
    main()
