"""Sorted groups -> page_owner_sort's output stanzas, byte for byte (spec B.9), streamed.

A stanza is cut into pieces: the parts that differ from group to group (counts,
pid, the ts digits ...) are built per group with ``concat_str``; the long parts
many groups share (the stacktrace, the header up to its ts) are kept once and
referred to by rank.  One ``gather`` lays every piece of a batch of groups out in
output order, and the Arrow conversion of that column is the output bytes: no
Python loop per group, a single copy of the long texts, memory bounded by the batch.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import polars as pl

from pagecols.compat.plan import CullKey, Plan
from pagecols.compat.query import CMA, OTHERS, SLAB, VMALLOC, Groups

__all__ = ["BATCH_GROUPS", "render"]

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


def _counts() -> list[pl.Expr]:
    c = pl.col
    return [c("num").cast(pl.String), pl.lit(" times, "), c("pages").cast(pl.String), pl.lit(" pages")]


def _after_p() -> pl.Expr:
    """What the header prints after P: ``<ts> ns[, free_ts <free_ts> ns]\\n``, or nothing."""
    c = pl.col
    free = pl.when(c("r_free").is_not_null()).then(pl.lit(", free_ts ") + c("r_free").cast(pl.String) + pl.lit(" ns"))
    after = pl.concat_str(c("r_ts").cast(pl.String), pl.lit(" ns"), free.otherwise(pl.lit("")), pl.lit("\n"))
    return pl.when(c("r_ts").is_not_null()).then(after).otherwise(pl.lit(""))


def _cull_line(plan: Plan) -> pl.Expr:
    """A cull-mode stanza's first line, without its ``\\n`` (or ``:\\n`` before a stacktrace)."""
    c = pl.col
    cull = plan.cull
    return pl.concat_str(
        *_counts(),
        *_when(CullKey.PID in cull or plan.pids is not None, ", PID ", c("pid").cast(pl.String)),
        # DECISIONS §1 fix 1: the tgid, not v6.3's pid.
        *_when(CullKey.TGID in cull or plan.tgids is not None, ", TGID ", c("tgid").cast(pl.String)),
        *_when(CullKey.COMM in cull or plan.names is not None, ", task_comm_name: ", c("comm")),
        *_when(CullKey.ALLOCATOR in cull, ", ", _allocator()),
        *_when(
            CullKey.FREE in cull,
            pl.when(c("free_ts") != 0).then(pl.lit(" (UNRELEASED)")).otherwise(pl.lit(" (RELEASED)")),
        ),
    )


# A piece is built per group (an expression) or shared (a text series and the column
# holding each group's 0-based index into it).
Piece = pl.Expr | tuple[pl.Series, pl.Expr]


def pieces(groups: Groups, plan: Plan) -> list[Piece]:
    """The pieces of every stanza, in output order."""
    c = pl.col
    # The stacktrace is printed with the blank line that ends the stanza (B.9).
    st = (groups.st_text + "\n", c("st_rank").cast(pl.Int64) - 1) if groups.st_text is not None else None
    if not plan.cull:
        assert st is not None
        assert groups.txt is not None
        prefix = pl.concat_str(*_counts(), pl.lit(", "), _allocator(), pl.lit(":\n"))
        if not groups.txt.fast:
            return [pl.concat_str(prefix, c("head")), st]
        assert groups.txt.p_text is not None
        return [prefix, (groups.txt.p_text, c("p_rank").cast(pl.Int64)), _after_p(), st]
    if CullKey.STACKTRACE in plan.cull:
        assert st is not None
        return [pl.concat_str(_cull_line(plan), pl.lit(":\n")), st]
    return [pl.concat_str(_cull_line(plan), pl.lit("\n"))]


def _stitch(part: pl.DataFrame, layout: list[Piece]) -> pl.Series:
    """The pieces of a batch of groups as one string column, in output order."""
    import numpy as np

    n = part.height
    own = [p for p in layout if isinstance(p, pl.Expr)]
    built = part.select([e.alias(f"own{i}") for i, e in enumerate(own)])
    if len(layout) == 1:
        return built.to_series()
    # Values: the per-group pieces, column after column, then each shared text; each
    # stanza gets one index per piece, pointing into them.
    values = [built.to_series(i) for i in range(len(own))]
    index = np.empty((n, len(layout)), dtype=np.int64)
    base, k_own = len(own) * n, 0
    for k, piece in enumerate(layout):
        if isinstance(piece, pl.Expr):
            index[:, k] = np.arange(k_own * n, (k_own + 1) * n)
            k_own += 1
        else:
            text, at = piece
            index[:, k] = part.select(at).to_series().to_numpy() + base
            values.append(text)
            base += len(text)
    return pl.concat(values, rechunk=True).gather(pl.Series(index.ravel()))


def _write_strings(text: pl.Series, out: BinaryIO) -> int:
    """Write the concatenation of a string column's values; return the bytes written.

    The values are taken straight from the Arrow string buffer, one write per chunk
    (polars' own CSV writer turned out several times slower for long values).
    """
    import pyarrow as pa

    written = 0
    arr = text.to_arrow()
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if len(chunk) == 0:
            continue
        large = chunk if chunk.type == pa.large_string() else chunk.cast(pa.large_string())
        offsets = memoryview(large.buffers()[1]).cast("q")
        start, end = offsets[large.offset], offsets[large.offset + len(large)]
        out.write(memoryview(large.buffers()[2])[start:end])
        written += end - start
    return written


def render(groups: Groups, plan: Plan, out: BinaryIO, *, batch: int = BATCH_GROUPS) -> int:
    """Write every group's stanza to ``out``; return the bytes written.

    One batch is written (on a helper thread: writes release the GIL, as does polars)
    while the next is built, so building and writing overlap on two cores.
    """
    frame = groups.frame
    layout = pieces(groups, plan)
    written = 0
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: Future[int] | None = None
        for offset in range(0, frame.height, batch):
            text = _stitch(frame.slice(offset, batch), layout)
            if pending is not None:
                written += pending.result()
            pending = writer.submit(_write_strings, text, out)
        if pending is not None:
            written += pending.result()
    return written
