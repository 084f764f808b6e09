"""Sorted groups -> page_owner_sort's output stanzas, byte for byte (spec B.9), streamed.

Stanzas are built for a batch of groups at a time with ``concat_str`` and written
straight from the Arrow string buffer: no Python loop per group, and memory bounded
by the batch, not by the output size.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa

from pagecols.compat.plan import CullKey, Plan
from pagecols.compat.query import CMA, OTHERS, SLAB, VMALLOC, Groups

__all__ = ["BATCH_GROUPS", "render", "stanza_expr"]

#: Groups per rendered batch: ~25 MB of default-mode text.
BATCH_GROUPS = 50_000

# print_allocator(): every name carries a trailing space, hence "allocated by OTHERS :".
_ALLOCATOR_NAMES = {
    bits: "allocated by "
    + "".join(
        name + " "
        for bit, name in ((CMA, "CMA"), (SLAB, "SLAB"), (VMALLOC, "VMALLOC"), (OTHERS, "OTHERS"))
        if bits & bit
    )
    for bits in range(32)
}


def _allocator() -> pl.Expr:
    return pl.col("ator").replace_strict(_ALLOCATOR_NAMES, return_dtype=pl.String)


def _when(cond: bool, *parts: pl.Expr | str) -> list[pl.Expr]:
    return [pl.lit(p) if isinstance(p, str) else p for p in parts] if cond else []


def stanza_expr(plan: Plan) -> pl.Expr:
    """One group's stanza, over the columns of :attr:`Groups.frame` plus ``st_text``."""
    c = pl.col
    counts = [c("num").cast(pl.String), pl.lit(" times, "), c("pages").cast(pl.String), pl.lit(" pages")]
    if not plan.cull:
        txt = (
            pl.when(c("header") == "")
            .then(pl.lit(""))
            .otherwise(pl.concat_str(c("header"), pl.lit("\n"), c("st_text")))
        )
        return pl.concat_str(*counts, pl.lit(", "), _allocator(), pl.lit(":\n"), txt, pl.lit("\n"))
    cull = plan.cull
    return pl.concat_str(
        *counts,
        *_when(CullKey.PID in cull or plan.pids is not None, ", PID ", c("pid").cast(pl.String)),
        # DECISIONS §1 fix 1: the tgid, not v6.3's pid.
        *_when(CullKey.TGID in cull or plan.tgids is not None, ", TGID ", c("tgid").cast(pl.String)),
        *_when(CullKey.COMM in cull or plan.names is not None, ", task_comm_name: ", c("comm")),
        *_when(CullKey.ALLOCATOR in cull, ", ", _allocator()),
        *_when(
            CullKey.FREE in cull,
            pl.when(c("free_ts") != 0).then(pl.lit(" (UNRELEASED)")).otherwise(pl.lit(" (RELEASED)")),
        ),
        *_when(CullKey.STACKTRACE in cull, ":\n", c("st_text")),
        pl.lit("\n"),
    )


def _write_strings(series: pl.Series, out: BinaryIO) -> int:
    """Write the concatenation of a string column's values: one write per Arrow chunk."""
    written = 0
    arr = series.to_arrow()
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        large = chunk if chunk.type == pa.large_string() else chunk.cast(pa.large_string())
        offsets = np.frombuffer(large.buffers()[1], dtype=np.int64)[large.offset : large.offset + len(large) + 1]
        start, end = int(offsets[0]), int(offsets[-1])
        out.write(memoryview(large.buffers()[2])[start:end])
        written += end - start
    return written


def render(groups: Groups, plan: Plan, out: BinaryIO, *, batch: int = BATCH_GROUPS) -> int:
    """Write every group's stanza to ``out``; return the bytes written."""
    frame = groups.frame
    need_st = not plan.cull or CullKey.STACKTRACE in plan.cull
    expr = stanza_expr(plan).alias("stanza")
    written = 0
    for offset in range(0, frame.height, batch):
        part = frame.slice(offset, batch)
        if need_st:
            part = part.with_columns(st_text=groups.st_text.gather(part["st_rank"].cast(pl.Int64) - 1))
        written += _write_strings(part.select(expr).to_series(), out)
    return written
