"""Sorted groups -> page_owner_sort's output stanzas, byte for byte (spec B.9), streamed.

Stanzas are built for a batch of groups at a time with ``concat_str`` and written
by polars itself: no Python loop per group, and memory bounded by the batch, not
by the output size.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import polars as pl

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


def _head(fast: bool) -> pl.Expr:
    """txt up to its stacktrace: the header line and its ``\n`` ("" for an empty txt)."""
    c = pl.col
    if not fast:
        return c("head")
    free = pl.when(c("r_free").is_not_null()).then(pl.lit(", free_ts ") + c("r_free").cast(pl.String) + pl.lit(" ns"))
    after_p = pl.concat_str(c("r_ts").cast(pl.String), pl.lit(" ns"), free.otherwise(pl.lit("")), pl.lit("\n"))
    return pl.concat_str(c("p_text"), pl.when(c("r_ts").is_not_null()).then(after_p).otherwise(pl.lit("")))


def stanza_expr(plan: Plan, *, fast: bool = True) -> pl.Expr:
    """One group's stanza, over the columns of :attr:`Groups.frame` plus ``st_text`` (and ``p_text``)."""
    c = pl.col
    counts = [c("num").cast(pl.String), pl.lit(" times, "), c("pages").cast(pl.String), pl.lit(" pages")]
    if not plan.cull:
        return pl.concat_str(
            *counts, pl.lit(", "), _allocator(), pl.lit(":\n"), _head(fast), c("st_text"), pl.lit("\n")
        )
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


def _write_strings(text: pl.DataFrame, out: BinaryIO) -> None:
    """Write the concatenation of a one-column string frame's values.

    The CSV writer with no quoting, header or line terminator writes exactly the
    values' bytes, from Rust and without a copy through Python or Arrow.
    """
    text.write_csv(out, include_header=False, quote_style="never", line_terminator="")


def render(groups: Groups, plan: Plan, out: BinaryIO, *, batch: int = BATCH_GROUPS) -> int:
    """Write every group's stanza to ``out``; return the bytes written.

    One batch is written (on a helper thread: writes release the GIL, as does polars)
    while the next is built, so building and writing overlap on two cores.
    """
    frame = groups.frame
    need_st = not plan.cull or CullKey.STACKTRACE in plan.cull
    fast = groups.txt is not None and groups.txt.fast
    expr = stanza_expr(plan, fast=fast).alias("stanza")
    written = 0
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: Future[None] | None = None
        for offset in range(0, frame.height, batch):
            part = frame.slice(offset, batch)
            if need_st:
                assert groups.st_text is not None
                part = part.with_columns(st_text=groups.st_text.gather(part["st_rank"].cast(pl.Int64) - 1))
            if not plan.cull and fast:
                assert groups.txt is not None
                assert groups.txt.p_text is not None
                part = part.with_columns(p_text=groups.txt.p_text.gather(part["p_rank"]))
            text = part.select(expr)
            written += int(text.select(pl.col("stanza").str.len_bytes().sum()).item() or 0)
            if pending is not None:
                pending.result()
            pending = writer.submit(_write_strings, text, out)
        if pending is not None:
            pending.result()
    return written
