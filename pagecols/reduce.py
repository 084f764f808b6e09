"""Groups of a table computed a slice of rows at a time, so that memory follows the groups, not the rows.

polars' streaming group-by (2.1) peaks higher the more rows it reads, even when the groups
stay the same: ``group_by("comm")`` over 0.8 M and 3.3 M records of convert's files (34
groups both times) peaks at 92 and 137 MiB, where a plain ``sum`` stays at 77-80 MiB and
no setting of polars or of its allocator helped.  Grouping each slice of rows on its own
and merging the partial groups as they come keeps the peak at one slice's worth plus the
groups (85-89 MiB for both), and costs no more time.

That takes aggregations that merge: a count, a sum, the first or last value, the set of
distinct values, each an :class:`Agg` saying what a slice computes and how partial rows of
one group combine.  :func:`reduce` runs them over any sequence of slices; which slices a
source has (a row range of a Parquet scan, a whole frame) is the caller's business
(:func:`pagecols.analyze.record_slices`).

Examples
--------
>>> import polars as pl
>>> rows = pl.LazyFrame({"k": ["a", "b", "a", "a"], "pages": [1, 2, 4, 8]})
>>> slices = [rows.slice(0, 3), rows.slice(3, 1)]
>>> reduce(slices, ["k"], [count("n"), total(pl.col("pages"), "pages")]).sort("k").rows()
[('a', 3, 13), ('b', 1, 2)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import polars as pl

#: Rows grouped at a time: about one row group of convert's files (4 chunks of 32 MB of text).
SLICE_ROWS = 1 << 17
#: Bytes of partial groups held before they are merged, at least.  Merging is a group-by of
#: what is held, so it also waits until the new partial groups are as big as the merged ones
#: (amortised linear).  By bytes, not rows: a partial group can carry a stack's text.
MERGE_BYTES = 4 << 20


def row_slices(frame: pl.LazyFrame, *, rows: int | None = None) -> Iterator[pl.LazyFrame]:
    """``frame`` as row ranges of ``rows`` (:data:`SLICE_ROWS`), in order; the whole frame if it has
    no more rows than that.

    Only for a plain scan of Parquet files, which polars reads a range of without reading
    the rows before it: a slice of a join can come out wrong in polars 2.1's streaming engine.
    """
    rows = rows or SLICE_ROWS
    height = frame.select(pl.len()).collect().item()
    if height <= rows:
        yield frame
        return
    for start in range(0, height, rows):
        yield frame.slice(start, rows)


@dataclass(frozen=True)
class Agg:
    """One aggregation that merges: ``partial`` over a slice's rows of a group, ``merge``
    over the partial values of one group (in slice order), both named ``name``."""

    name: str
    partial: pl.Expr
    merge: pl.Expr


def count(name: str) -> Agg:
    """The number of rows (Int64: a sum of partial counts cannot wrap)."""
    return Agg(name, pl.len().cast(pl.Int64), pl.col(name).sum())


def total(expr: pl.Expr, name: str) -> Agg:
    """The sum of ``expr``."""
    return Agg(name, expr.sum(), pl.col(name).sum())


def first(expr: pl.Expr, name: str) -> Agg:
    """The value of ``expr`` on the group's first row."""
    return Agg(name, expr.first(), pl.col(name).first())


def last(expr: pl.Expr, name: str) -> Agg:
    """The value of ``expr`` on the group's last row."""
    return Agg(name, expr.last(), pl.col(name).last())


def minimum(expr: pl.Expr, name: str) -> Agg:
    """The smallest value of ``expr`` (nulls left out)."""
    return Agg(name, expr.min(), pl.col(name).min())


def maximum(expr: pl.Expr, name: str) -> Agg:
    """The largest value of ``expr`` (nulls left out)."""
    return Agg(name, expr.max(), pl.col(name).max())


def first_present(expr: pl.Expr, name: str) -> Agg:
    """The first value of ``expr`` that is not null (null if none is)."""
    return Agg(name, expr.drop_nulls().first(), pl.col(name).drop_nulls().first())


def distinct(expr: pl.Expr, name: str) -> Agg:
    """The distinct values of ``expr``, as a sorted list (empty if the group has none)."""
    every = pl.col(name).list.explode(keep_nulls=False, empty_as_null=False)
    return Agg(name, expr.unique().sort(), every.unique().sort())


def reduce(slices: Iterable[pl.LazyFrame], by: Sequence[str], aggs: Sequence[Agg]) -> pl.DataFrame:
    """The groups of ``by`` over all ``slices`` with ``aggs``, in no particular order.

    Each slice is grouped and collected on its own, then its groups are merged with the
    ones before; first and last values are those of the first and last slice holding the
    group, so slices must come in the table's order.  ``slices`` must not be empty.
    """
    keys = list(by)
    partial = [agg.partial.alias(agg.name) for agg in aggs]
    held: list[pl.DataFrame] = []
    size, merged = 0, 0
    for piece in slices:
        part = _own_strings(piece.group_by(keys).agg(partial).collect())
        held.append(part)
        size += int(part.estimated_size())
        if size - merged >= max(MERGE_BYTES, merged) and len(held) > 1:
            held = [_merge(held, keys, aggs)]
            size = merged = int(held[0].estimated_size())
    if not held:
        raise ValueError("no slice to reduce")
    return _merge(held, keys, aggs)


def _merge(parts: list[pl.DataFrame], keys: list[str], aggs: Sequence[Agg]) -> pl.DataFrame:
    return _own_strings(pl.concat(parts).group_by(keys).agg(agg.merge.alias(agg.name) for agg in aggs))


def _own_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its long strings copied out of the buffers they point into.

    A polars string longer than 12 bytes is a view into a buffer shared with the frame it
    came from: a stack's text in a partial group kept its slice's whole buffer of stack
    texts alive, and the merged groups every partial's (+1.3 MiB a slice, 150 instead of
    120 MiB at 3.3 M records).  ``concat_str`` writes new strings.
    """
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(pl.concat_str(pl.col(name), pl.lit("")).alias(name) for name in text) if text else frame
