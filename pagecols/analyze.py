"""The analyst reports over the clean columns (compat.md §3): top, diff, folded, frag, query.

Every report takes a *source*: a path (Parquet from ``pagecols convert``, a text dump,
or a page_owner_stacks file, told apart by content), a ``pl.LazyFrame`` or a
``pl.DataFrame``, and returns a ``pl.DataFrame``.  Rendering is the CLI's job.

Two table shapes come in:

* **records**: one row per page_owner record, the columns of ``schema.COLUMNS``;
* **stacks**: one row per stack, ``stacks.STACKS_SCHEMA`` (from kernel stack files).

Anything computed from the stack text (``where``, frames for folded stacks) is computed
once per unique stack (grouped on ``stack_hash``) and joined back, never per record.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Literal

import polars as pl
import polars.exceptions as plx

from pagecols import reduce as rd
from pagecols import stacks as stk
from pagecols.derive import MODULE_RE, SYMBOL_RE, decode_records, hash_text, module_expr, where_expr, with_where
from pagecols.errors import InputError, UsageError
from pagecols.schema import COLUMNS
from pagecols.source import is_regular_file

if TYPE_CHECKING:
    from pagecols.dataset import Part

#: A path (a dump, a stack file, a dataset or a partition of one, a glob), several, or a frame.
Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pl.LazyFrame | pl.DataFrame
Keys = str | Sequence[str]

PAGE_SIZE: Final = 4096
_MIB: Final = 1 << 20

# --- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A loaded source: its rows, which shape they have, and a name for titles (empty for a frame)."""

    frame: pl.LazyFrame
    kind: Literal["records", "stacks"]
    name: str
    #: ``frame`` as the scans it is made of, in order, each with all of its columns, for
    #: :func:`record_slices`; empty when ``frame`` is to be read whole (a frame the caller
    #: made may hold anything).
    parts: tuple[Part, ...] = ()

    def with_records(self, change: Callable[[pl.LazyFrame], pl.LazyFrame]) -> Table:
        """The table with ``change`` made to its rows (a row-wise change: new or cast columns), parts included."""
        parts = tuple(replace(part, frame=change(part.frame)) for part in self.parts)
        return Table(change(self.frame), self.kind, self.name, parts)

    @property
    def label(self) -> str:
        """The source as an error message names it."""
        return self.name or "the frame"

    def title(self, what: str) -> str:
        """A title saying ``what``, after the file's name when the source is a file."""
        return f"{self.name}: {what}" if self.name else what[:1].upper() + what[1:]


def kind_of(columns: Iterable[str]) -> Literal["records", "stacks"]:
    """Which shape a table with these columns has: page_owner records or a stacks table."""
    names = set(columns)
    if {"record", "pages", "stack_hash"} <= names:
        return "records"
    if {"stack", "stack_hash", "pages"} <= names:
        return "stacks"
    raise UsageError(
        "a source frame needs the page_owner columns (`record`, `pages`, `stack_hash`, …) "
        "or the stacks-table columns (`stack`, `stack_hash`, `pages`)"
    )


def load(source: Source | Table) -> Table:
    """Open a source as a :class:`Table`, telling dumps, stack files and Parquet apart by content.

    A dataset, a partition directory of one, a glob or several paths are one table of
    records with the dumps' labels as string columns (:func:`pagecols.dataset.scan_sources`).
    """
    if isinstance(source, Table):
        return source
    if isinstance(source, pl.DataFrame):
        source = source.lazy()
    if isinstance(source, pl.LazyFrame):
        names = source.collect_schema().names()
        kind = kind_of(names)
        if kind == "stacks":
            # A hand-made stacks frame may leave out the counts it does not have.
            missing = [
                pl.lit(None, dtype).alias(name) for name, dtype in stk.STACKS_SCHEMA.items() if name not in names
            ]
            source = source.with_columns(missing).with_columns(
                pl.col(name).cast(dtype) for name, dtype in stk.STACKS_SCHEMA.items()
            )
        return Table(source, kind, "")
    if isinstance(source, Sequence) and not isinstance(source, str):
        return _load_many(source)
    path = os.fspath(source)
    name = Path(path).name
    if path == "-":
        return _dump_table(path, "stdin")
    if os.path.isdir(path) or (not os.path.exists(path) and any(c in path for c in "*?[")):
        return _load_many(path)
    if not os.path.exists(path):
        raise InputError(f"`{path}` does not exist")
    if not is_regular_file(path):
        # A pipe can be read only once: like stdin, it is read as a dump, not sniffed first.
        return _dump_table(path, name)
    content = stk.sniff(path)
    if content == "stacks":
        return Table(stk.read_stacks(path).lazy(), "stacks", name)
    if content == "parquet":
        try:
            columns = pl.read_parquet_schema(path).keys()
        except plx.PolarsError as err:
            raise InputError(f"cannot read `{path}` as Parquet: {err}") from err
        try:
            kind = kind_of(columns)
        except UsageError:  # bad input, as info, cat and sort say (exit 1): not a usage error
            raise InputError(f"{path}: a Parquet file, but not one written by pagecols convert") from None
        if kind == "stacks":
            return Table(pl.scan_parquet(path), "stacks", name)
        return _load_many(path, name)  # a file of a dataset has its labels too
    return _dump_table(path, name)


def _load_many(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], name: str | None = None) -> Table:
    from pagecols import dataset

    if name is None:
        paths = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
        name = os.fspath(paths[0]) + (f" (+{len(paths) - 1} more)" if len(paths) > 1 else "") if paths else "-"
    parts = dataset.scan_parts(sources)
    if len(parts) == 1:
        return Table(parts[0].frame, "records", name, (parts[0],))
    frame = pl.concat([p.frame for p in parts], how="diagonal")
    schema = frame.collect_schema()

    def conformed(part: Part) -> Part:
        # As in the diagonal concat: a label a dump does not have is null there.
        names = part.frame.collect_schema().names()
        columns = [pl.col(n) if n in names else pl.lit(None, dtype).alias(n) for n, dtype in schema.items()]
        return replace(part, frame=part.frame.select(columns))

    return Table(frame, "records", name, tuple(map(conformed, parts)))


def _dump_table(path: str, name: str) -> Table:
    # Late: frames needs pyarrow, a third of a report's start-up.
    from pagecols import dataset, frames

    frame = frames.scan(path)  # a scan of the dump staged into a Parquet file
    return Table(frame, "records", name, (dataset.Part(frame, sliced=True),))


def record_slices(
    table: Table, *, rows: int | None = None, records: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None
) -> Iterator[pl.LazyFrame]:
    """``table``'s rows as frames of at most ``rows`` rows each (:data:`pagecols.reduce.SLICE_ROWS`),
    in order, each passed through ``records``.

    A scan of Parquet files (a converted dump, the files of a dataset, a text dump staged)
    is read a row range at a time; any other part, and a frame the caller made, whole.
    A table gives at least one frame, if an empty one.
    """
    prepare = records or (lambda lf: lf)
    if not table.parts:
        yield prepare(table.frame)
        return
    for part in table.parts:
        for lf in rd.row_slices(part.frame, rows=rows) if part.sliced else [part.frame]:
            yield prepare(lf)


def reduce(
    table: Table,
    by: Sequence[str],
    aggs: Sequence[rd.Agg],
    *,
    records: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    rows: int | None = None,
) -> pl.DataFrame:
    """The groups of ``by`` over a table of records, slice by slice: :func:`pagecols.reduce.reduce`
    over :func:`record_slices`.

    ``records`` is applied to each slice first (derived columns, filters).  The first
    reduction of every report over records goes through here, so that its memory follows
    the groups and one slice, not the dump.
    """
    return rd.reduce(record_slices(table, rows=rows, records=records), by, aggs)


def sliced_scan(table: Table) -> pl.LazyFrame:
    """``table.frame`` as a polars source that reads it slice by slice (:func:`record_slices`),
    for a query that is not a reduction of pagecols' own (``query``'s SQL).

    polars' streaming engine reading convert's files takes more memory the bigger the
    file (the SQL ``GROUP BY comm`` of the benchmarks, 98 -> 127 MiB from 0.8 to 3.3 M
    records), reading it a slice at a time does not (93 -> 101).  The source applies
    the columns, filter and row limit the query pushes down to each slice.
    """
    if not any(part.sliced for part in table.parts):
        return table.frame
    from polars.io.plugins import register_io_source

    def read(
        columns: list[str] | None, predicate: pl.Expr | None, limit: int | None, _batch: int | None
    ) -> Iterator[pl.DataFrame]:
        left = limit
        for piece in record_slices(table):
            lf = piece if predicate is None else piece.filter(predicate)
            lf = lf if columns is None else lf.select(columns)
            batch = (lf if left is None else lf.head(left)).collect()
            yield batch
            if left is not None:
                left -= batch.height
                if left <= 0:
                    return

    return register_io_source(read, schema=table.frame.collect_schema(), explain_name="pagecols slices")


def stacks(source: Source | Table) -> pl.DataFrame:
    """The stacks table of a source: one row per stack with its pages and allocations."""
    table = load(source)
    if table.kind == "stacks":
        return table.frame.collect()
    per_stack = reduce(table, ["stack_hash"], stk.STACKS_OF_RECORDS)
    return per_stack.select(pl.col(name).cast(dtype) for name, dtype in stk.STACKS_SCHEMA.items())


# --- keys ---------------------------------------------------------------------------------------

#: Short names accepted by ``--by`` besides the column names (page_owner_sort's are in :data:`CULL_KEYS`).
KEY_ALIASES: Final = {"gfp": "gfp_flags", "st": "stack", "mod": "module", "ator": "allocator"}
#: Keys computed from the stack text, so available on stack files too.
STACK_KEYS: Final = ("stack", "where", "module")
#: The keys ``top --by`` documents; any other column of the table works too.
DOCUMENTED_KEYS: Final = (
    "stack",
    "where",
    "comm",
    "pid",
    "tgid",
    "module",
    "allocator",
    "gfp",
    "migratetype",
    "memcg",
    "order",
)
# Keys that make no sense to group on: unique per record, or the measures themselves.
_NOT_KEYS: Final = frozenset({"record", "line", "pages", "raw", "stack_hash", "allocations"})


def resolve_keys(table: Table, by: Keys) -> list[str]:
    """Turn ``by`` (names, aliases, comma lists) into the table's key columns, checked."""
    return check_keys(by, table.frame.collect_schema().names(), kind=table.kind, name=table.label)


def check_keys(by: Keys, columns: Iterable[str], *, kind: Literal["records", "stacks"], name: str) -> list[str]:
    """:func:`resolve_keys` on a table's column names, so that another engine's table checks them the same way."""
    names = [by] if isinstance(by, str) else list(by)
    keys: list[str] = []
    for item in names:
        for raw in item.split(","):
            word = raw.strip()
            key = KEY_ALIASES.get(word, word)
            if not key:
                raise UsageError("empty key in `by`")
            if key not in keys:
                keys.append(key)
    if not keys:
        raise UsageError("`by` needs at least one key")
    available = (
        set(STACK_KEYS) | {"handle"}
        if kind == "stacks"
        else (set(columns) - _NOT_KEYS) | set(STACK_KEYS) | {"freed_before"}
    )
    for key in keys:
        if key not in available:
            if kind == "stacks" and key in DOCUMENTED_KEYS:
                raise UsageError(f"`{key}` is not in a stack file ({name}); it has only stack, where and module")
            raise UsageError(f"unknown key `{key}`; keys: {', '.join(DOCUMENTED_KEYS)}")
    return keys


def _nullable_sum(name: str) -> pl.Expr:
    # A stack file may count no pages (show_stacks_handles) or no allocations
    # (show_stacks): keep that unknown as null instead of letting sum() say 0.
    return pl.when(pl.col(name).is_not_null().any()).then(pl.col(name).sum()).alias(name)


def _group_columns(keys: Sequence[str]) -> list[str]:
    out: list[str] = []
    for key in keys:
        out += ["stack", "stack_hash"] if key == "stack" else [key]
    return out


def groups(source: Source | Table, by: Keys = "stack") -> pl.LazyFrame:
    """Every group of ``by`` with its ``allocations`` and ``pages``, unsorted.

    The building block of :func:`top` and :func:`diff`; the groups partition the table,
    so their pages add up to the table's.  A table of records is reduced to its groups
    when this is called, slice by slice (:func:`reduce`); the frame returned is over them.
    """
    table = load(source)
    keys = resolve_keys(table, by)
    lf = table.frame
    if table.kind == "records":
        freed = "freed_before" in keys
        stored = lf.collect_schema().names()
        derived = [k for k in keys if k == "stack" or (k == "where" and k not in stored)]
        # Derived keys: group on stack_hash with the other keys first; the stack text is
        # then decoded once per unique stack instead of once per record.
        plain = [k for k in keys if k not in derived]
        counts = [rd.count("allocations"), rd.total(pl.col("pages"), "pages")]
        per = reduce(
            table,
            [*plain, "stack_hash"] if derived else keys,
            [*counts, rd.first(pl.col("stack"), "stack")] if derived else counts,
            records=(lambda lf: lf.with_columns(freed_before=pl.col("free_ts") > 0)) if freed else None,
        )
        lf = per.lazy().with_columns(pl.col("allocations", "pages").cast(pl.UInt64))
        if not derived:
            return lf
    if "where" in keys and "where" not in lf.collect_schema().names():
        lf = lf.with_columns(where_expr())
    if "module" in keys and "module" not in lf.collect_schema().names():
        lf = lf.with_columns(module_expr())
    columns = _group_columns(keys)
    return lf.group_by(columns).agg(
        _nullable_sum("allocations").cast(pl.UInt64), _nullable_sum("pages").cast(pl.UInt64)
    )


def _with_sizes(lf: pl.LazyFrame, page_size: int) -> pl.LazyFrame:
    total = pl.col("pages").sum()
    # Times the reciprocal, as polars divides a column by a scalar anyway: written out, so that
    # the Spark engine computes the same bits.
    return lf.with_columns(
        mib=pl.col("pages").cast(pl.Float64) * page_size / _MIB,
        percent=pl.when(total > 0).then(pl.col("pages").cast(pl.Float64) * 100.0 * (1.0 / total.cast(pl.Float64))),
    )


def _order(lf: pl.LazyFrame, measures: Sequence[str], keys: Sequence[str]) -> pl.LazyFrame:
    by = [*measures, *keys]
    return lf.sort(by, descending=[True] * len(measures) + [False] * len(keys), nulls_last=True)


# --- top ----------------------------------------------------------------------------------------


def top(source: Source | Table, *, by: Keys = "stack", n: int | None = 20, page_size: int = PAGE_SIZE) -> pl.DataFrame:
    """The groups of ``by`` holding the most pages, largest first.

    Columns: the keys (``stack`` comes with ``stack_hash``), ``allocations``, ``pages``,
    ``mib`` and ``percent`` (of all pages in the source, not only the rows shown).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"stack": [" a+0x1/0x2", " b+0x1/0x2"], "stack_hash": [1, 2], "pages": [1, 3]})
    >>> top(t, by="where").select("where", "pages", "percent").rows()
    [('b', 3, 75.0), ('a', 1, 25.0)]
    """
    table = load(source)
    keys = resolve_keys(table, by)
    lf = _with_sizes(groups(table, keys), page_size)
    lf = _order(lf, ["pages", "allocations"], _group_columns(keys))
    lf = lf.select(*_group_columns(keys), "allocations", "pages", "mib", "percent")
    if n is not None:
        lf = lf.head(n)
    return lf.collect()


def summary(table: pl.DataFrame, *, page_size: int = PAGE_SIZE) -> dict[str, float | int | None]:
    """Totals of an unlimited :func:`top` frame (all groups): groups, allocations, pages, MiB."""
    pages = int(table["pages"].sum()) if table["pages"].null_count() < table.height else None
    allocations = int(table["allocations"].sum()) if table["allocations"].null_count() < table.height else None
    return {
        "groups": table.height,
        "allocations": allocations,
        "pages": pages,
        "mib": None if pages is None else pages * page_size / _MIB,
    }


# --- diff ---------------------------------------------------------------------------------------


#: The orders of :func:`diff`'s rows; the first is the default.
DIFF_ORDERS: Final = ("change", "growth", "shrinkage", "pages", "key")
DiffOrder = Literal["change", "growth", "shrinkage", "pages", "key"]


def _diff_order(lf: pl.LazyFrame, order: str, keys: list[str]) -> pl.LazyFrame:
    """Sort a diff: ties are broken by the change in allocations, then by the keys, so the order is total."""
    pages, allocations = pl.col("delta_pages"), pl.col("delta_allocations")
    by: dict[str, list[pl.Expr]] = {
        # The largest change either way first: the biggest growth and the biggest shrinkage
        # both make the first rows, where growth first would push shrinkage to the end.
        "change": [pages.abs(), allocations.abs()],
        "growth": [pages, allocations],
        "shrinkage": [-pages, -allocations],
        "pages": [pl.max_horizontal("pages_old", "pages_new"), pages.abs()],
        "key": [],
    }
    if order not in by:
        raise UsageError(f"unknown order `{order}`; orders: {', '.join(DIFF_ORDERS)}")
    measures = by[order]
    return lf.sort(
        [*measures, *keys],
        descending=[True] * len(measures) + [False] * len(keys),
        nulls_last=True,
        maintain_order=True,
    )


def diff(
    old: Source | Table,
    new: Source | Table,
    *,
    by: Keys = "stack",
    n: int | None = None,
    min_mib: float | None = None,
    order: DiffOrder = "change",
    page_size: int = PAGE_SIZE,
) -> pl.DataFrame:
    """The groups of two dumps side by side, the largest change (either way) first.

    Columns: the keys, ``pages_old``, ``pages_new``, ``delta_pages``, ``delta_mib``,
    ``allocations_old``, ``allocations_new``, ``delta_allocations`` and ``status``
    (``appeared``, ``vanished``, ``grew``, ``shrank``, ``same``).  A group missing on one
    side counts 0 there.  ``order`` is one of :data:`DIFF_ORDERS`: ``change`` (largest
    absolute change first), ``growth`` (largest growth first), ``shrinkage`` (largest
    shrinkage first), ``pages`` (largest group on either side first) or ``key``.
    ``min_mib`` keeps groups that changed by at least that much; ``n`` the first ``n``.
    Without either, the rows partition both dumps, so :func:`diff_totals` gives
    total(new) - total(old).
    """
    a, b = load(old), load(new)
    keys = resolve_keys(a, by)
    resolve_keys(b, by)
    join_on = ["stack_hash" if k == "stack" else k for k in keys]
    left = groups(a, keys).with_columns(_old=pl.lit(True))
    right = groups(b, keys).with_columns(_new=pl.lit(True))
    if "stack" in keys:
        right = right.rename({"stack": "stack_new"})
    joined = left.join(
        right, on=join_on, how="full", coalesce=True, nulls_equal=True, suffix="_new", maintain_order="none"
    )
    if "stack" in keys:
        joined = joined.with_columns(pl.coalesce("stack", "stack_new").alias("stack")).drop("stack_new")

    def side(name: str, present: str) -> pl.Expr:
        # Absent on a side means 0 there; present but uncounted (a stack file without
        # that count) stays null.
        return pl.when(pl.col(present).fill_null(False)).then(pl.col(name)).otherwise(0).cast(pl.UInt64)

    joined = joined.rename({"pages": "pages_old", "allocations": "allocations_old"}).with_columns(
        pages_old=side("pages_old", "_old"),
        pages_new=side("pages_new", "_new"),
        allocations_old=side("allocations_old", "_old"),
        allocations_new=side("allocations_new", "_new"),
    )
    delta = pl.col("pages_new").cast(pl.Int64) - pl.col("pages_old").cast(pl.Int64)
    delta_alloc = pl.col("allocations_new").cast(pl.Int64) - pl.col("allocations_old").cast(pl.Int64)
    change = pl.coalesce(delta, delta_alloc)
    status = (
        pl.when(pl.col("_old").is_null())
        .then(pl.lit("appeared"))
        .when(pl.col("_new").is_null())
        .then(pl.lit("vanished"))
        .when(change > 0)
        .then(pl.lit("grew"))
        .when(change < 0)
        .then(pl.lit("shrank"))
        .otherwise(pl.lit("same"))
    )
    out = joined.with_columns(
        delta_pages=delta,
        delta_mib=delta.cast(pl.Float64) * page_size / _MIB,
        delta_allocations=delta_alloc,
        status=status,
    )
    if min_mib is not None:
        out = out.filter(_changed(min_mib))
    out = _diff_order(out, order, _group_columns(keys)).select(
        *_group_columns(keys),
        "pages_old",
        "pages_new",
        "delta_pages",
        "delta_mib",
        "allocations_old",
        "allocations_new",
        "delta_allocations",
        "status",
    )
    if n is not None:
        out = out.head(n)
    return out.collect()


def _changed(min_mib: float) -> pl.Expr:
    return pl.col("delta_mib").abs() >= min_mib


def changed(table: pl.DataFrame, min_mib: float | None) -> pl.DataFrame:
    """The rows of a :func:`diff` that changed by at least ``min_mib`` MiB either way (all when None)."""
    return table if min_mib is None else table.filter(_changed(min_mib))


def diff_totals(table: pl.DataFrame, *, page_size: int = PAGE_SIZE) -> pl.DataFrame:
    """One row: pages and allocations of both sides and their change, over an unlimited :func:`diff`."""
    return table.select(
        pl.col("pages_old").sum(),
        pl.col("pages_new").sum(),
        pl.col("delta_pages").sum(),
        (pl.col("delta_pages").sum().cast(pl.Float64) * page_size / _MIB).alias("delta_mib"),
        pl.col("allocations_old").sum(),
        pl.col("allocations_new").sum(),
        pl.col("delta_allocations").sum(),
        pl.col("status").eq("appeared").sum().alias("appeared"),
        pl.col("status").eq("vanished").sum().alias("vanished"),
    )


def grew_above(table: pl.DataFrame, mib: float) -> pl.DataFrame:
    """The rows of a :func:`diff` that grew by more than ``mib`` MiB (``--fail-above``), largest first."""
    return table.filter(pl.col("delta_mib") > mib).sort("delta_mib", descending=True, maintain_order=True)


# --- trend --------------------------------------------------------------------------------------


def snapshot_order(values: Sequence[str | None]) -> list[str | None]:
    """The values of a ``trend --over`` label in time order: numerically when all are numbers, else as text.

    Labels are strings; ``taken=9`` comes before ``taken=10``, and ISO dates sort as text.
    A dump without the label (null) comes first.
    """
    present = sorted({v for v in values if v is not None})
    with contextlib.suppress(ValueError):
        present.sort(key=float)
    return ([None] if None in values else []) + list(present)


def trend(
    source: Source | Table,
    *,
    over: str,
    by: Keys = "stack",
    page_size: int = PAGE_SIZE,
) -> pl.DataFrame:
    """Pages and allocations of each group of ``by`` at each value of the label ``over``, in long form.

    Columns: the keys, ``over``, ``pages``, ``allocations``, ``mib``; one row per group and
    snapshot (a group absent from a snapshot counts 0 there), the snapshots in
    :func:`snapshot_order`, the groups by their growth from the first snapshot to the last,
    largest first.  At each snapshot the groups add up to its total.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"stack": [" a+0x1/0x2"] * 3, "stack_hash": [1] * 3, "pages": [1, 3, 4],
    ...                   "taken": ["1", "2", "2"]})
    >>> trend(t, over="taken", by="where").select("where", "taken", "pages").rows()
    [('a', '1', 1), ('a', '2', 7)]
    """
    table = load(source)
    keys = resolve_keys(table, by)
    names = table.frame.collect_schema().names()
    if over not in names:
        raise UsageError(f"`{over}` is not a column of {table.label}: --over takes a label (such as `taken`)")
    if over in keys:
        raise UsageError(f"`{over}` is both --over and a --by key")
    per = groups(table.with_records(lambda lf: lf.with_columns(pl.col(over).cast(pl.String))), [*keys, over]).collect()
    columns = _group_columns(keys)
    identity = [c for c in columns if c != "stack"]  # a stack is its hash
    order = snapshot_order(per[over].to_list())
    snapshots = pl.DataFrame({over: order}, schema={over: pl.String}).with_row_index("_snapshot")
    grid = per.select(columns).unique(identity, maintain_order=True).join(snapshots, how="cross")
    measures = per.select(*identity, over, "pages", "allocations")
    long = grid.join(measures, on=[*identity, over], how="left", nulls_equal=True).with_columns(
        pl.col("pages").fill_null(0).cast(pl.Int64),
        pl.col("allocations").fill_null(0).cast(pl.Int64),
    )
    growth = pl.col("pages").sort_by("_snapshot").last() - pl.col("pages").sort_by("_snapshot").first()
    long = long.with_columns(
        mib=pl.col("pages").cast(pl.Float64) * page_size / _MIB,
        _growth=growth.over(identity, mapping_strategy="group_to_rows"),
    )
    return long.sort(
        ["_growth", *columns, "_snapshot"], descending=[True] + [False] * (len(columns) + 1), nulls_last=True
    ).select(*columns, over, "pages", "allocations", "mib")


def trend_wide(long: pl.DataFrame, *, over: str) -> pl.DataFrame:
    """A :func:`trend` frame as a table for people: one row per group, its MiB at each snapshot
    (a column named by the snapshot's value), and ``delta_mib`` from the first to the last."""
    columns = [c for c in long.columns if c not in (over, "pages", "allocations", "mib")]
    identity = [c for c in columns if c != "stack"]  # a stack is its hash
    order = list(dict.fromkeys(long[over].to_list()))
    shown = [f"{over}={v}" for v in order]
    wide = long.with_columns(pl.format(f"{over}={{}}", pl.col(over).fill_null("(none)")).alias("_column")).pivot(
        "_column", index=identity, values="mib", aggregate_function="first", sort_columns=False
    )
    shown = [c if c in wide.columns else c.replace("=None", "=(none)") for c in shown]
    if "stack" in columns:
        wide = wide.join(long.select("stack_hash", "stack").unique("stack_hash"), on="stack_hash", how="left")
    change = pl.col(shown[-1]) - pl.col(shown[0])
    return wide.select(*columns, *shown, delta_mib=change).sort(
        ["delta_mib", *columns], descending=[True] + [False] * len(columns), nulls_last=True, maintain_order=True
    )


def grew_over(long: pl.DataFrame, mib: float, *, over: str) -> pl.DataFrame:
    """The groups of a :func:`trend` that grew by more than ``mib`` MiB from the first snapshot to the last."""
    wide = trend_wide(long, over=over)
    return wide.filter(pl.col("delta_mib") > mib)


# --- folded -------------------------------------------------------------------------------------


def folded(source: Source | Table, *, weight: Literal["pages", "allocations"] = "pages") -> pl.DataFrame:
    """Folded stacks: ``folded`` (``outermost;…;innermost``, symbols without offsets) and ``weight``.

    Stacks that differ only in offsets fold into one line; the weights add up to the
    source's total pages (or allocations).  Frames in a module read ``sym [module]``.
    """
    if weight not in ("pages", "allocations"):
        raise UsageError(f"unknown weight `{weight}`; weights: pages, allocations")
    table = stacks(source)
    if table["stack"].null_count() == table.height:
        raise UsageError("the source has no stack text (a show_handles file alone?)")
    if table[weight].null_count() == table.height:
        other = "allocations" if weight == "pages" else "pages"
        raise UsageError(f"the source counts no {weight}; use `weight={other}`")
    lines = pl.col("stack").str.split("\n")
    frames = lines.list.eval(
        pl.concat_str(
            pl.element().str.extract(SYMBOL_RE, 1),
            pl.concat_str(pl.lit(" ["), pl.element().str.extract(MODULE_RE, 1), pl.lit("]")),
            ignore_nulls=True,
        )
    )
    return (
        table.lazy()
        .filter(pl.col("stack").is_not_null() & (pl.col(weight) > 0))
        .group_by(frames.list.reverse().list.join(";").alias("folded"))
        .agg(pl.col(weight).sum().cast(pl.UInt64).alias("weight"))
        .sort("folded")
        .collect()
    )


def write_folded(table: pl.DataFrame, out: IO[str]) -> None:
    """Write a :func:`folded` frame as ``stack weight`` lines (flamegraph.pl, speedscope)."""
    body = table.select(pl.concat_str("folded", pl.lit(" "), pl.col("weight").cast(pl.String)))
    text = "\n".join(body.to_series().to_list())
    out.write(text + "\n" if text else "")


# --- frag ---------------------------------------------------------------------------------------


def _frag_table(source: Source | Table) -> Table:
    table = load(source)
    if table.kind != "records":
        raise UsageError(f"`frag` needs a page_owner dump; {table.label} is a stack file without PFNs")
    return table


def _frag_records(records: pl.LazyFrame) -> pl.LazyFrame:
    return records.filter(pl.col("block").is_not_null() & pl.col("block_migratetype").is_not_null()).with_columns(
        foreign=pl.col("migratetype") != pl.col("block_migratetype")
    )


def _blocks(source: Source | Table, *, migratetypes: bool) -> pl.LazyFrame:
    """One row per pageblock seen; with the list of foreign migratetypes only if asked for."""
    foreign = pl.col("foreign")
    aggs = [
        rd.last(pl.col("block_migratetype"), "block_migratetype"),
        rd.count("allocations"),
        rd.total(pl.col("pages"), "pages"),
        rd.total(pl.col("pages").filter(foreign), "foreign_pages"),
        *([rd.distinct(pl.col("migratetype").filter(foreign), "foreign_migratetypes")] * migratetypes),
    ]
    per = reduce(_frag_table(source), ["block"], aggs, records=_frag_records)
    return (
        per.lazy()
        .with_columns(pl.col("allocations", "pages", "foreign_pages").cast(pl.UInt64))
        .with_columns(mixed=pl.col("foreign_pages") > 0)
    )


def frag_blocks(source: Source | Table) -> pl.DataFrame:
    """One row per pageblock seen: its migratetype, pages held, and pages of another migratetype.

    A block's migratetype is the one printed on its last record (records are in PFN
    order; the kernel can retype a block while the dump is read).
    """
    return _blocks(source, migratetypes=True).sort("block").collect()


def frag(source: Source | Table) -> pl.DataFrame:
    """Per pageblock migratetype: blocks seen, mixed blocks, and the pages that mix them.

    A block is *mixed* when it holds a page whose migratetype (from its gfp mask) differs
    from the block's, the count ``/proc/pagetypeinfo`` prints as "mixed type blocks".
    Only blocks holding at least one allocated page are seen.  Unlike the kernel's count,
    a CMA block stays under CMA (the kernel files it under Movable).

    The records are reduced to one row per block seen, slice by slice, then to the summary.
    """
    return (
        _blocks(source, migratetypes=False)
        .group_by("block_migratetype")
        .agg(
            pl.len().cast(pl.UInt64).alias("blocks"),
            pl.col("mixed").sum().cast(pl.UInt64).alias("mixed_blocks"),
            pl.col("pages").sum().cast(pl.UInt64),
            pl.col("foreign_pages").sum().cast(pl.UInt64),
        )
        .with_columns(mixed_percent=pl.col("mixed_blocks").cast(pl.Float64) * 100.0 / pl.col("blocks"))
        .sort(["mixed_blocks", "blocks", "block_migratetype"], descending=[True, True, False])
        .collect()
    )


#: :func:`frag_stacks`'s columns, and the keys that order its rows after the measures (both engines').
FRAG_STACKS_COLUMNS: Final = (
    "block_migratetype",
    "migratetype",
    "where",
    "stack",
    "stack_hash",
    "blocks",
    "allocations",
    "pages",
    "mib",
)
FRAG_STACKS_ORDER: Final = ("block_migratetype", "migratetype", "stack")


def frag_stacks(source: Source | Table, *, n: int | None = 20, page_size: int = PAGE_SIZE) -> pl.DataFrame:
    """The stacks that put pages into pageblocks of another migratetype, most pages first.

    Columns: ``block_migratetype``, ``migratetype``, ``where``, ``stack``, ``stack_hash``,
    ``blocks`` (mixed blocks it is in), ``allocations``, ``pages``, ``mib``.
    """
    per = reduce(
        _frag_table(source),
        ["block_migratetype", "migratetype", "stack_hash"],
        [
            rd.first(pl.col("stack"), "stack"),
            rd.distinct(pl.col("block"), "blocks"),  # the blocks' count does not merge; the blocks do
            rd.count("allocations"),
            rd.total(pl.col("pages"), "pages"),
        ],
        records=lambda lf: _frag_records(lf).filter(pl.col("foreign")),
    )
    lf = (
        per.lazy()
        .with_columns(pl.col("blocks").list.len())
        .with_columns(pl.col("blocks", "allocations", "pages").cast(pl.UInt64))
        .with_columns(where_expr(), mib=pl.col("pages").cast(pl.Float64) * page_size / _MIB)
    )
    lf = _order(lf, ["pages", "allocations"], FRAG_STACKS_ORDER).select(*FRAG_STACKS_COLUMNS)
    if n is not None:
        lf = lf.head(n)
    return lf.collect()


# --- timeline -----------------------------------------------------------------------------------

OTHER: Final = "(other)"


def timeline(
    source: Source | Table,
    *,
    split: str = "comm",
    groups: int = 6,
    bins: int = 200,
    page_size: int = PAGE_SIZE,
) -> pl.DataFrame:
    """Memory still allocated at dump time, by allocation time: the data of ``plot timeline``.

    One row per series and time bin: ``series`` (a value of the ``split`` key among the
    ``groups`` holding the most pages, or ``(other)``), ``rank`` (0 for the largest, the
    other series last), ``until_s`` (the bin's end, seconds since boot), and ``pages``
    and ``mib`` allocated up to then, cumulative, so the last bin of every series adds
    up to the dump's total.  A ``stack`` split names a series by its ``stack_hash`` in hex
    (``0x`` + 16 digits, as csv and json write it).
    """
    table = load(source)
    if table.kind != "records":
        raise UsageError(f"{table.label} is a stack file: it has no allocation times")
    if bins < 1 or groups < 1:
        raise UsageError("`bins` and `groups` must be at least 1")
    keys = resolve_keys(table, split)
    if len(keys) != 1:
        raise UsageError("`split` takes one key")
    column = "stack_hash" if keys[0] == "stack" else keys[0]
    chosen = top(table, by=keys, n=groups, page_size=page_size).select(column).with_row_index("rank")

    timed = pl.col("ts").is_not_null()
    span = table.frame.filter(timed).select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"), pl.len())
    lo, hi, count = span.collect().row(0)
    if count == 0:
        raise InputError(f"{table.label}: the dump has no allocation times (kernels before 5.11 print none)")
    width = max(1.0, (hi - lo) / bins)
    other = chosen.height

    def ranked(records: pl.LazyFrame) -> pl.LazyFrame:
        lf = records.filter(timed)
        lf = with_where(lf) if column == "where" else lf
        return lf.join(chosen.lazy(), on=column, how="left", nulls_equal=True).with_columns(
            pl.col("rank").fill_null(other).cast(pl.UInt32),
            bin=((pl.col("ts") - lo).cast(pl.Float64) / width).floor().cast(pl.Int64).clip(0, bins - 1),
        )

    per_bin = reduce(table, ["rank", "bin"], [rd.total(pl.col("pages"), "pages")], records=ranked)
    binned = per_bin.lazy().with_columns(pl.col("pages").cast(pl.Int64))
    names = chosen.select("rank", _series_name(chosen[column]).fill_null("(none)").alias("series")).vstack(
        pl.DataFrame({"rank": [other], "series": [OTHER]}, schema={"rank": pl.UInt32, "series": pl.String})
    )
    grid = names.lazy().join(pl.LazyFrame({"bin": pl.int_range(0, bins, eager=True)}), how="cross")
    return (
        grid.join(binned, on=["rank", "bin"], how="left")
        .with_columns(pl.col("pages").fill_null(0))
        .sort("rank", "bin")
        .with_columns(pl.col("pages").cum_sum().over("rank"))
        .with_columns(
            until_s=(lo + width * (pl.col("bin") + 1)) / 1e9,
            mib=pl.col("pages").cast(pl.Float64) * page_size / _MIB,
        )
        .select("series", "rank", "until_s", "pages", "mib")
        .collect()
    )


def _series_name(values: pl.Series) -> pl.Series:
    return hash_text(values) if values.name == "stack_hash" else values.cast(pl.String)


# --- decoded columns and SQL --------------------------------------------------------------------


def decode(source: Source | Table) -> pl.LazyFrame:
    """The source's rows plus decoded columns.

    Records gain ``where``, ``gfp_flag_names`` (list), ``page_flag_names`` (list, the
    named flags of ``page_flags`` without its ``node=``/``zone=`` fields), ``node`` and
    ``zone``.  A stacks table gains ``where`` and ``module``.  ``where`` is computed per
    unique stack and joined back.
    """
    table = load(source)
    lf = table.frame
    if table.kind == "stacks":
        return lf.with_columns(where_expr(), module_expr())
    return decode_records(lf)


# A quoted string or name, kept as it is; or a hex number outside them.
_SQL_HEX: Final = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|\b0[xX]([0-9a-fA-F]{1,16})\b""")


def hex_literals(sql: str) -> str:
    """``sql`` with its hex numbers (``0xf83852a29d8c4ffa``, ``0x100``) written in decimal.

    The reports print stack hashes, PFNs and gfp masks in hex, so a query compares them in
    hex too, as in duckdb; polars SQL would read ``0x…`` as a binary string.

    A number of 2**63 or more is its 64 bits read as a signed number, as the table stores a
    stack hash (schema 5), so that the hash a report prints finds its rows.

    >>> hex_literals("SELECT * FROM pages WHERE pfn >= 0x100 AND comm = '0x10'")
    "SELECT * FROM pages WHERE pfn >= 256 AND comm = '0x10'"
    >>> hex_literals("stack_hash = 0xffffffffffffffff")
    'stack_hash = -1'
    """
    return _SQL_HEX.sub(lambda m: m.group(1) or _signed(int(m.group(2), 16)), sql)


def _signed(value: int) -> str:
    return str(value - (1 << 64) if value >= 1 << 63 else value)


#: Polars SQL's table functions that read a file, refused unless asked for (``--allow-files``).
_FILE_FUNCTIONS: Final = re.compile(r"\bread_(csv|parquet|ipc|json|ndjson|delta|avro|database)\s*\(", re.IGNORECASE)


def query(source: Source | Table, sql: str, *, allow_files: bool = False) -> pl.DataFrame:
    """Run polars SQL over the source.

    The SQL reads only the source: a file function (``read_csv('/etc/passwd')``) is a
    :class:`UsageError` unless ``allow_files``.

    A dump is the table ``pages`` (with the :func:`decode` columns; quote ``"where"``, an
    SQL keyword) and its stacks table ``stacks``; a stack file is ``stacks`` only.
    ``SHOW TABLES`` lists them, and ``DESCRIBE pages`` (or ``SHOW COLUMNS FROM pages``)
    gives a table's columns, types and meanings.  A hex number is a number
    (``WHERE stack_hash = 0xf83852a29d8c4ffa``, :func:`hex_literals`).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"stack": [" a+0x1/0x2", " b+0x1/0x2"], "stack_hash": [1, 2], "pages": [1, 3]})
    >>> query(t, "SELECT sum(pages) AS p FROM stacks").item()
    4
    >>> query(t, "DESCRIBE stacks").row(2)
    ('pages', 'UInt64', 'base pages held by the allocations from this stack')
    """
    table = load(source)
    tables: dict[str, pl.LazyFrame] = {"stacks": decode(table)}
    if table.kind == "records":
        records = Table(sliced_scan(table), table.kind, table.name)
        tables["pages"] = decode(records)
        tables["stacks"] = decode(Table(stk.stacks_of_records(records.frame), "stacks", table.name))
    described = _DESCRIBE.fullmatch(sql)
    if described:
        name = described["table"]
        if name not in tables:
            raise UsageError(f"query failed: no table `{name}`; tables: {', '.join(sorted(tables))}")
        return describe(tables[name], STACKS_COLUMNS if name == "stacks" else PAGES_COLUMNS)
    reads = _FILE_FUNCTIONS.search(sql)
    if reads and not allow_files:
        raise UsageError(
            f"query failed: `{reads[0].rstrip('( ')}` reads a file other than the source; --allow-files lets it"
        )
    try:
        return pl.SQLContext(tables).execute(hex_literals(sql)).collect()
    except plx.ComputeError as err:  # an invalid regular expression; not a damaged file (frames.reading)
        if str(err).startswith("parquet:"):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"query failed: {first}") from err
    except (
        plx.SQLInterfaceError,
        plx.SQLSyntaxError,
        plx.ColumnNotFoundError,
        plx.InvalidOperationError,
        plx.SchemaError,
        plx.DuplicateError,
    ) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"query failed: {first}") from err


# Polars SQL has no DESCRIBE: `DESCRIBE pages`, `DESC pages`, `SHOW COLUMNS FROM pages` are answered here.
_DESCRIBE: Final = re.compile(
    r"\s*(?:DESCRIBE|DESC|SHOW\s+COLUMNS\s+(?:FROM|IN))\s+(?P<q>\"?)(?P<table>\w+)(?P=q)\s*;?\s*", re.IGNORECASE
)

#: What each column of the ``pages`` table of :func:`query` means: the stored ones, then :func:`decode`'s.
PAGES_COLUMNS: Final = {name: meaning for name, (_, meaning) in COLUMNS.items()} | {
    "where": "who allocated: the first frame outside the page, slab, kmalloc and vmalloc allocators",
    "gfp_flag_names": "the gfp flag names as a list",
    "page_flag_names": "the named page flags as a list, without node=/zone= fields",
    "node": "NUMA node, from the page flags",
    "zone": "zone number, from the page flags",
}
#: What each column of the ``stacks`` table of :func:`query` means.
STACKS_COLUMNS: Final = {
    "stack": "the stack lines as printed (leading space kept), joined by '\\n'",
    "stack_hash": "64-bit BLAKE2b of `stack`: the same in every file",
    "pages": "base pages held by the allocations from this stack",
    "allocations": "allocations (records) from this stack; null in a stacks file that counts pages only",
    "handle": "stack depot handle, where the input printed one",
    "where": PAGES_COLUMNS["where"],
    "module": "first `[module]` among the frames, else 'vmlinux'",
}


def describe(frame: pl.LazyFrame, meanings: dict[str, str]) -> pl.DataFrame:
    """The columns of ``frame`` with their polars types and their meanings, one row each."""
    schema = frame.collect_schema()
    return pl.DataFrame(
        {
            "column": schema.names(),
            "type": [str(t) for t in schema.dtypes()],
            "description": [meanings.get(name) for name in schema.names()],
        },
        schema={"column": pl.String, "type": pl.String, "description": pl.String},
    )


# --- cull (page_owner_sort's key names, clean columns) --------------------------------------------

#: page_owner_sort's cull keys (compat.md B.1, and the module key of newer versions) -> clean columns.
CULL_KEYS: Final = {
    "st": "stack",
    "stacktrace": "stack",
    "p": "pid",
    "pid": "pid",
    "tg": "tgid",
    "tgid": "tgid",
    "n": "comm",
    "name": "comm",
    "f": "freed_before",
    "free": "freed_before",
    "ator": "allocator",
    "allocator": "allocator",
    "mod": "module",
    "module": "module",
}


def cull(source: Source | Table, keys: Keys = "st", *, sort: str = "-pages", n: int | None = None) -> pl.DataFrame:
    """page_owner_sort's ``--cull`` with clean columns: groups with ``allocations`` and ``pages``.

    ``keys`` are page_owner_sort's cull keys (``st``, ``pid``, ``tg``, ``n``, ``f``, ``ator``,
    ``mod``); ``f`` becomes ``freed_before`` (``free_ts > 0``) instead of the
    RELEASED/UNRELEASED labels.  ``sort`` is a comma list of ``[+|-]column`` over the
    output columns (``times`` is ``allocations``); ties keep key order.
    """
    names = [keys] if isinstance(keys, str) else list(keys)
    columns: list[str] = []
    for item in names:
        for raw in item.split(","):
            key = raw.strip()
            if key not in CULL_KEYS:
                raise UsageError(f"unknown cull key `{key}`; keys: {', '.join(CULL_KEYS)}")
            if CULL_KEYS[key] not in columns:
                columns.append(CULL_KEYS[key])
    out = groups(source, columns)
    order: list[str] = []
    descending: list[bool] = []
    for raw in sort.split(","):
        spec = raw.strip()
        desc = spec.startswith("-")
        name = spec.lstrip("+-")
        name = {"times": "allocations", **CULL_KEYS}.get(name, name)
        if name not in ("allocations", "pages", *columns):
            raise UsageError(f"cannot sort by `{spec}`; sort by allocations, pages or a cull key")
        order.append(name)
        descending.append(desc)
    rest = [c for c in _group_columns(columns) if c not in order]
    lf = out.sort([*order, *rest], descending=[*descending, *[False] * len(rest)], nulls_last=True)
    lf = lf.select(*_group_columns(columns), "allocations", "pages")
    return (lf if n is None else lf.head(n)).collect()
