"""``pagecols sort``: a drop-in page_owner_sort (v6.3 + the fixes of compat.md §1).

Every page_owner_sort quirk pagecols keeps lives in this package, so the modern
reports stay clean.  The flow is one step per module:

* :mod:`~pagecols.compat.plan`: argv -> a frozen, checked :class:`Plan`;
* :mod:`~pagecols.compat.query`: table -> compat records -> groups, culled and sorted;
* :mod:`~pagecols.compat.render`: groups -> output stanzas, streamed.

Examples
--------
>>> from pagecols.compat.plan import parse_args
>>> plan = parse_args(["-m", "--cull=st"], paths=False)
>>> [str(s) for s in plan.sort]
['-pages']
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO, TextIO, cast

import polars as pl

from pagecols import frames
from pagecols.compat.plan import Plan, parse_args
from pagecols.compat.query import (
    Keyed,
    Needs,
    as_latin1,
    compat_fields,
    group_and_sort,
    keyed,
    merge_keyed,
    merge_keyed_in_place,
    own_strings,
    table_columns,
    with_empty_blocks,
    with_keys,
    without_latin1,
)
from pagecols.compat.render import render
from pagecols.errors import ExitCode, InputError, PagecolsError, UsageError, complain
from pagecols.outfile import STDOUT, WholeWrites, replacing

__all__ = ["Plan", "SortResult", "parse_args", "run_sort", "sort"]


@dataclass(frozen=True)
class SortResult:
    """What a sort did: records read (empty blocks included), records selected, groups written, bytes."""

    records: int
    selected: int
    groups: int
    bytes: int


Source = str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame
Sink = str | os.PathLike[str] | BinaryIO


def _as_plan(plan: Plan | Sequence[str]) -> Plan:
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, str):
        raise UsageError("pass the options as a list of words, not one string")
    return parse_args(list(plan), paths=False)


@dataclass(frozen=True)
class _Loaded:
    recs: pl.DataFrame  # query.Keyed's records, without ``latin1``, not yet with empty blocks
    stacks: pl.DataFrame  # stack_hash -> stack, one row per distinct stack
    leading_blank_lines: int
    latin1: bool = False  # the texts are Latin-1, a character per byte (query.as_latin1)
    st_keys: pl.DataFrame = field(default_factory=pl.DataFrame)  # the distinct stacktrace keys (query.Keyed)
    p_keys: pl.DataFrame = field(default_factory=pl.DataFrame)  # the distinct header prefixes (query.Keyed)

    @classmethod
    def of(cls, keys: Keyed, stacks: pl.DataFrame, leading_blank_lines: int) -> _Loaded:
        """From batches' keyed compat_fields() rows: all text as Latin-1 when any record is not valid UTF-8."""
        latin1 = bool(keys.recs["latin1"].any())
        keys, stacks = as_latin1(keys, stacks) if latin1 else (without_latin1(keys), stacks)
        return cls(keys.recs, stacks, leading_blank_lines, latin1, keys.st_keys, keys.p_keys)

    @property
    def keyed(self) -> Keyed:
        return Keyed(self.recs, self.st_keys, self.p_keys)


def _check_columns(names: Sequence[str], needs: Needs) -> None:
    missing = [c for c in (*table_columns(needs), "stack") if c not in names]
    if missing:
        raise InputError("the table lacks column(s) " + ", ".join(f"`{c}`" for c in missing))


def _stacks(lf: pl.LazyFrame, needs: Needs, known: pl.Series | None) -> pl.LazyFrame:
    """The stacks of ``lf`` whose hash is not among ``known``, one row per hash."""
    if not needs.st:
        return pl.LazyFrame(schema={"stack_hash": pl.Int64, "stack": pl.String})
    # The text reader may hand the stacks over dictionary-encoded (Categorical).  A filter
    # on the first of each hash is half the work of unique().
    h = pl.col("stack_hash")
    return (
        lf.select("stack_hash", "stack")
        .filter(h.is_first_distinct() if known is None else h.is_first_distinct() & ~h.is_in(known))
        .with_columns(pl.col("stack").cast(pl.String))
    )


#: Records read from a table at a time.  Each batch is boiled down to a few integers per
#: record (query.keyed) before the next is read, so the columns a record is read with,
#: its header and trailer strings among them, are held for one batch, not for the input.
BATCH_ROWS = 1 << 18


class _Batches:
    """The keyed batches of one input and its stacks, gathered batch by batch.

    When the input's length is known (a table) and the records' columns are numbers, they are
    written in place into columns of that length as each batch comes (``scatter``): the
    batches' pieces then go at once, instead of being held apart and joined at the end
    (which kept them, and their copy, and left jemalloc with holes it could not reuse).
    """

    def __init__(self, needs: Needs, rows: int | None = None) -> None:
        self.needs = needs
        self.columns = table_columns(needs)
        self.rows = rows
        self.parts: list[Keyed] = []
        self.filled: dict[str, pl.Series] | None = None
        self.done = 0
        # Only stacks not seen in an earlier batch: most batches share most of their stacks,
        # and a stack's text is a kilobyte or so.
        self.stacks: list[pl.DataFrame] = []
        self.known: pl.Series | None = None  # (of the input's type: older files' hashes are unsigned)

    def add(self, lf: pl.LazyFrame, *, has_raw: bool | None = None) -> None:
        """Add a batch of table rows.  ``has_raw`` None: find out (read again in the rare case there are)."""
        records = compat_fields(lf.select(self.columns), self.needs, has_raw=bool(has_raw))
        if has_raw is None:
            any_raw, recs, stacks = pl.collect_all(
                [lf.select(pl.col("raw").is_not_null().any()), records, _stacks(lf, self.needs, self.known)]
            )
            if any_raw.item():
                del recs
                recs = compat_fields(lf.select(self.columns), self.needs, has_raw=True).collect()
        else:
            recs, stacks = pl.collect_all([records, _stacks(lf, self.needs, self.known)])
        part = keyed(recs, self.needs)
        del recs
        self.parts.append(self._fill(part))
        self.stacks.append(own_strings(stacks))
        self.known = stacks["stack_hash"] if self.known is None else pl.concat([self.known, stacks["stack_hash"]])

    def _fill(self, part: Keyed) -> Keyed:
        """``part``, its records written in place if they can be (then only their count is kept)."""
        first = self.filled is None and self.rows is not None and not self.parts
        if first and all(dtype != pl.String for dtype in part.recs.dtypes):
            self.filled = {}
        if self.filled is None:
            return part
        assert self.rows is not None
        height = part.recs.height
        at = pl.int_range(self.done, self.done + height, eager=True, dtype=pl.UInt32)
        for column in part.recs.get_columns():
            if column.name not in self.filled:
                # blank_after first seen in a later batch: the ones before had no empty block.
                fill = 1 if column.name == "blank_after" else 0
                self.filled[column.name] = pl.repeat(fill, self.rows, dtype=column.dtype, eager=True).alias(column.name)
            if height:
                self.filled[column.name].scatter(at, column)
        self.done += height
        return Keyed(pl.DataFrame({"rows": [height]}), part.st_keys, part.p_keys)

    def loaded(self, leading_blank_lines: int) -> _Loaded:
        stacks = pl.concat(self.stacks)
        self.stacks.clear()
        if self.filled is None:
            return _Loaded.of(merge_keyed(self.parts), stacks, leading_blank_lines)
        filled, self.filled = self.filled, None
        keys = merge_keyed_in_place(self.parts, filled)
        return _Loaded.of(keys, stacks, leading_blank_lines)


def _from_frame(lf: pl.LazyFrame, needs: Needs, leading: int) -> _Loaded:
    _check_columns(lf.collect_schema().names(), needs)
    n = lf.select(pl.len()).collect().item()
    batches = _Batches(needs, rows=n)
    for start in range(0, max(n, 1), BATCH_ROWS):
        batches.add(lf.slice(start, BATCH_ROWS))
    return batches.loaded(leading)


def _load(src: Source, needs: Needs) -> _Loaded:
    """The compat records of ``src`` and its distinct stacks; the stack text is never kept per record."""
    if isinstance(src, (pl.DataFrame, pl.LazyFrame)):
        # Read once: a lazy query would be run again for each batch.
        columns = [*table_columns(needs), "stack"]
        _check_columns(src.collect_schema().names(), needs)
        return _from_frame(src.lazy().select(columns).collect().lazy(), needs, 0)
    path = os.fspath(src)
    if frames.is_parquet(path):
        # What frames.scan() does for Parquet, without loading the `.pagecols` namespace
        # (and the analyze module) a sort never uses.
        with frames.reading(path):
            leading = frames.dump_meta(path).leading_blank_lines  # also checks pagecols wrote the file
            return _from_frame(pl.scan_parquet(path), needs, leading)
    # A text dump is parsed batch by batch, each boiled down at once to a few integers per
    # record, so memory follows the records' count, not the text's size.
    from pagecols import ingest
    from pagecols.source import describe

    report = ingest.IngestReport(describe(path))
    batches = _Batches(needs)
    wanted = [*batches.columns, "stack"] if needs.st else batches.columns
    for batch in ingest.iter_batches(path, report):
        has_raw = batch.column("raw").null_count < batch.num_rows
        batches.add(pl.DataFrame(pl.from_arrow(batch.select(wanted))).lazy(), has_raw=has_raw)
    return batches.loaded(report.leading_blank_lines)


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def sort_table(loaded: _Loaded, plan: Plan, out: BinaryIO, *, progress: Progress = _quiet) -> SortResult:
    """Cull, sort and render records already loaded.

    Each stage's input is let go once the next has what it needs: when the caller holds
    no reference to ``loaded`` either (as :func:`sort` does not), the loaded columns are
    freed once the keys replace them, and the keyed records once they are sorted.
    """
    needs = Needs.of(plan)
    keys = with_empty_blocks(loaded.keyed, leading_blank_lines=loaded.leading_blank_lines)
    stacks, latin1 = loaded.stacks, loaded.latin1
    del loaded
    recs = keys.recs
    keys = replace(keys, recs=pl.DataFrame())
    if plan.names is not None:
        plan = replace(plan, names=_names_as_loaded(plan.names, latin1=latin1))
    n_records = recs.height
    # page_owner_sort's own progress words (B.1), which it printed to stdout.
    progress(f"loaded {n_records}")
    progress("sorting ....")
    recs, shared = with_keys(recs, keys, stacks, needs)
    del stacks, keys
    groups = group_and_sort(recs, plan, st_text=shared.st_text, txt=shared.txt)
    del recs
    progress("culling")
    written = render(groups, plan, out, latin1=latin1)
    selected = int(groups.frame["num"].sum()) if groups.frame.height else 0
    return SortResult(n_records, selected, groups.frame.height, written)


def _names_as_loaded(names: Sequence[str], *, latin1: bool) -> tuple[str, ...]:
    """``--name`` values spelt as the loaded ``comm`` column spells names.

    A name stands for bytes (``os.fsencode`` undoes Python's decoding of argv).  With
    ``latin1`` those are a character each; otherwise the column is UTF-8, and a name whose
    bytes are not valid UTF-8 selects no record of it, so it is left out.
    """
    spelt = []
    for name in names:
        data = os.fsencode(name)
        if latin1:
            spelt.append(data.decode("latin-1"))
        else:
            with contextlib.suppress(UnicodeDecodeError):
                spelt.append(data.decode("utf-8"))
    return tuple(spelt)


def _is_real_fd(stream: TextIO) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False
    return True


@contextlib.contextmanager
def _atomic(out: Sink) -> Iterator[BinaryIO]:
    """A binary sink for ``out``: a path is written as :func:`pagecols.outfile.replacing` says; ``-`` is stdout."""
    if not isinstance(out, (str, os.PathLike)):
        yield out
        return
    path = os.fspath(out)
    if path == "-":
        sys.stdout.flush()
        if _is_real_fd(sys.stdout):
            # Unbuffered, and every write whole or an error naming stdout.
            with WholeWrites(sys.stdout.fileno(), STDOUT) as raw:
                yield cast(BinaryIO, raw)
        else:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        return
    # Unbuffered: the stanzas come in large blocks already.  (An error names the output: replacing.)
    with replacing(path) as dest, open(dest, "wb", buffering=0) as fh:
        yield fh


def sort(
    src: Source,
    out: Sink,
    plan: Plan | Sequence[str] = (),
    *,
    leading_blank_lines: int | None = None,
    progress: Progress = _quiet,
) -> SortResult:
    """page_owner_sort ``src`` into ``out``, byte for byte as compat.md §1 defines it.

    ``src`` is a text dump, a Parquet file made by ``pagecols convert``, or a record table;
    ``out`` is a path (written atomically; ``-`` is stdout) or a binary file object;
    ``plan`` is a :class:`Plan` or page_owner_sort's options as a list of words;
    ``progress`` is called with a few words as the work advances.

    Examples
    --------
    >>> import io
    >>> from pagecols.schema import ARROW_SCHEMA
    >>> empty = pl.DataFrame(pl.from_arrow(ARROW_SCHEMA.empty_table()))
    >>> buf = io.BytesIO()
    >>> sort(empty, buf, ["-m", "--cull=st"]).groups
    0
    """
    p = _as_plan(plan)
    loaded = [_load(src, Needs.of(p))]
    if leading_blank_lines is not None:
        loaded = [replace(loaded[0], leading_blank_lines=leading_blank_lines)]
    # The input is read whole before the sink opens, so an input error leaves no output behind.
    with _atomic(out) as fh:
        # Handed over, not kept here: sort_table lets the loaded columns go as it goes.  (The
        # called function's frame then holds the only reference, as CPython passes it on.)
        return sort_table(loaded.pop(), p, fh, progress=progress)


def run_sort(argv: Sequence[str], *, stdout: BinaryIO | None = None, stderr: TextIO | None = None) -> ExitCode:
    """The ``pagecols sort`` command: parse argv, sort, report errors; return the exit code."""
    err = stderr if stderr is not None else sys.stderr
    try:
        plan = parse_args(list(argv))
    except UsageError as e:
        return complain(e, err)
    assert plan.input is not None
    assert plan.output is not None
    if plan.debug:
        print(f"pagecols sort: {plan.describe()}", file=err)
    try:
        out: Sink = plan.output
        if plan.output == "-" and stdout is not None:
            out = stdout
        # Progress on stderr only, and only for a person watching (compat.md §2).
        show = plan.debug or (hasattr(err, "isatty") and err.isatty())
        result = sort(plan.input, out, plan, progress=(lambda words: print(words, file=err)) if show else _quiet)
    except PagecolsError as e:
        return complain(e, err)
    except BrokenPipeError:
        # The reader of the output went away (`| head`): normal use, so end quietly with 0.
        if plan.output == "-" and stdout is None:
            # stdout points at devnull from here, so that the flush at exit cannot complain.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except OSError as e:
        print(f"Error: {e.filename or plan.output}: {e.strerror}", file=err)
        return ExitCode.ERROR
    if plan.debug:
        print(
            f"pagecols sort: loaded {result.records}, selected {result.selected}, wrote {result.groups} groups",
            file=err,
        )
    return ExitCode.OK
