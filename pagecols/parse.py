"""One chunk of dump text -> one Arrow record batch, vectorised.

Data flow inside a chunk:

1. numpy finds every line (the ``\\n`` bytes) and classifies it by its first
   bytes (:class:`~pagecols.formats.Kind`); records are runs of non-blank lines.
2. A zero-copy Arrow string array views every line; header, PFN and trailer
   lines are taken out by kind and their fields pulled with polars string
   expressions.
3. Each header and PFN line is rendered back from its fields and compared with
   the original.  A record whose every line is accounted for this way is
   stored as columns; any other record also keeps its exact text in ``raw``,
   and, unless it is a known older layout, a ``parse_error``.
4. Stacks are cut as one slice per record and dictionary-encoded; the hash,
   module, vmalloc and slab tests run once per distinct stack, not per record.

Nothing here loops over records in Python, except over the rare lines that the
fast path could not render back.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pagecols import formats as F
from pagecols.derive import where_expr
from pagecols.formats import Kind
from pagecols.schema import ERAS, INT64_MAX, NOT_UTF8, write_schema
from pagecols.textfmt import header_from

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Why a record needs its raw text, most telling first; 0 = it does not.
(
    _OK,
    _LEGACY,
    _NO_HEADER,
    _OTHER_LINE,
    _ORDER,
    _DUPLICATE,
    _BAD_HEADER,
    _BAD_PFN,
    _BAD_TRAILER,
    _RANGE,
    _SPELLING,
    _BIG_ORDER,
) = range(12)
_MESSAGES = {
    _NO_HEADER: "record does not start with a 'Page allocated via order' header",
    _OTHER_LINE: "unrecognised line in record",
    _ORDER: "lines out of order in record",
    _DUPLICATE: "record has a line kind twice",
    _BAD_HEADER: "malformed header line",
    _BAD_PFN: "malformed PFN line",
    _BAD_TRAILER: "malformed trailer line",
    _RANGE: "number out of range",
    _SPELLING: "number not spelled as the kernel prints it",
    _BIG_ORDER: f"order above {F.MAX_ORDER}",
}


class StackCache:
    """Per-distinct-stack facts (hash, module, ``where``, vmalloc, slab), shared by all chunks of one input.

    A chunk's distinct stacks are looked up in Arrow (one hash join); only stacks
    never seen before come to Python, so the cost per chunk does not grow with
    the number of stacks the dump has.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stacks = pa.array([], type=pa.string())
        self._hashes = np.zeros(0, dtype=np.int64)
        self._modules = pa.array([], type=pa.string())
        self._wheres = pa.array([], type=pa.string())
        self._vmalloc = np.zeros(0, dtype=bool)
        self._slab = np.zeros(0, dtype=bool)

    def facts(self, stacks: pa.Array) -> tuple[I64, pa.Array, pa.Array, Bools, Bools]:
        """Hash, module, ``where``, vmalloc-ness and slab-ness (:func:`is_slab_stack`) of each of ``stacks``
        (distinct strings)."""
        stacks = stacks.cast(pa.string())
        with self._lock:
            known = self._stacks
        ids = pc.index_in(stacks, value_set=known)
        if ids.null_count:
            new = stacks.filter(ids.is_null()).to_pylist()
            with self._lock:
                # Another chunk may have added some of these meanwhile; a repeat is harmless
                # (index_in finds the first), facts are the same.
                self._stacks = pa.concat_arrays([self._stacks, pa.array(new, type=pa.string())])
                self._hashes = np.concatenate([self._hashes, np.array([stack_hash(s) for s in new], dtype=np.int64)])
                self._modules = pa.concat_arrays([self._modules, pa.array([stack_module(s) for s in new])])
                wheres = pl.DataFrame({"stack": new}, schema={"stack": pl.String}).select(where_expr())
                self._wheres = pa.concat_arrays([self._wheres, wheres.to_series().to_arrow().cast(pa.string())])
                self._vmalloc = np.concatenate([self._vmalloc, np.array([is_vmalloc(s) for s in new], dtype=bool)])
                self._slab = np.concatenate([self._slab, np.array([is_slab_stack(s) for s in new], dtype=bool)])
                known = self._stacks
            ids = pc.index_in(stacks, value_set=known)
        with self._lock:
            hashes, modules, wheres = self._hashes, self._modules, self._wheres
            vmalloc, slab = self._vmalloc, self._slab
        at = ids.to_numpy(zero_copy_only=False)
        return hashes[at], modules.take(ids), wheres.take(ids), vmalloc[at], slab[at]


def stack_hash(stack: str) -> int:
    """The 64-bit BLAKE2b of a stack's text, its bits read as a signed number (schema 5; before, unsigned)."""
    return int.from_bytes(hashlib.blake2b(stack.encode(), digest_size=8).digest(), "big", signed=True)


def stack_module(stack: str) -> str:
    m = F.MODULE_FRAME.search(stack)
    return m.group(1) if m else "vmlinux"


def is_vmalloc(stack: str) -> bool:
    """compat.md B.4: the line just before the first ``__vmalloc_node_range`` mentions ``alloc_pages``."""
    at = stack.find(F.VMALLOC_FRAME)
    if at < 0:
        return False
    line_start = stack.rfind("\n", 0, at)
    if line_start < 0:
        return False  # first frame: the line before it is the header
    prev_start = stack.rfind("\n", 0, line_start) + 1
    return F.VMALLOC_CALLER in stack[prev_start:line_start]


_SYMBOLS = re.compile(F.FRAME_SYMBOL, re.MULTILINE)
_PAGE_ALLOCATOR = re.compile(F.frames_re(F.PAGE_ALLOCATOR_FRAMES))
_SLAB_PAGE = re.compile(F.frames_re(F.SLAB_PAGE_FRAMES))


def is_slab_stack(stack: str) -> bool:
    """Whether the first frame past the page allocator's is a slab allocator taking pages for a slab.

    Since 6.10 a slab page has no ``slab`` page flag to show (it became a page type,
    which the PFN line does not print), so its allocation path is what says so.

    >>> is_slab_stack(" get_page_from_freelist+0x1/0x2\n __alloc_pages_noprof+0x1/0x2\n allocate_slab+0x1/0x2")
    True
    >>> is_slab_stack(" post_alloc_hook+0x1/0x2\n __kmalloc_large_node_noprof+0x1/0x2\n ___slab_alloc+0x1/0x2")
    False
    """
    for frame in _SYMBOLS.finditer(stack):
        symbol = frame.group(1)
        if not _PAGE_ALLOCATOR.match(symbol):
            return _SLAB_PAGE.match(symbol) is not None
    return False


@dataclass
class ParsedChunk:
    batch: pa.RecordBatch
    leading_blank_lines: int
    line_count: int
    error_count: int
    first_errors: list[tuple[int, str, str]]  # (line, message, offending line)
    eras: Counter[str]
    not_utf8: int = 0  # records whose bytes are not valid UTF-8 (schema.NOT_UTF8), parsed or not
    first_not_utf8: int | None = None  # the first one's line
    first_known: int | None = None  # the first record read as a page_owner record, if any


def arrow_array(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """``pa.array(values, mask=mask)`` for a numpy array, made from its buffers without a copy
    (booleans are packed to bits).

    ``pa.array`` checks every numpy argument for a masked array, and the first check
    imports ``numpy.ma``: 25 ms, a tenth of sorting a small dump.
    """
    if values.dtype == np.bool_:
        dtype, data = pa.bool_(), pa.py_buffer(np.packbits(values, bitorder="little"))
    else:
        values = np.ascontiguousarray(values)
        dtype, data = pa.from_numpy_dtype(values.dtype), pa.py_buffer(values)
    valid = None if mask is None or not mask.any() else pa.py_buffer(np.packbits(~mask, bitorder="little"))
    return pa.Array.from_buffers(dtype, len(values), [valid, data])


def _spread(values: pa.Array, where: I64, n: int) -> pa.Array:
    """A length-``n`` array holding ``values`` at the rows ``where``, null elsewhere."""
    if len(where) == n:
        return values  # every record has the line: ``where`` is 0..n-1
    idx = np.full(n, -1, dtype=np.int64)
    idx[where] = np.arange(len(where), dtype=np.int64)
    return values.take(arrow_array(idx, idx < 0))


def _views(data: bytes | bytearray, buf: npt.NDArray[np.uint8], starts: I64, ends: I64) -> pa.Array:
    """Zero-copy Arrow ``string_view`` array of the byte ranges ``[starts, ends)`` of ``data``.

    A view is 16 bytes: length, then either the bytes inline (length <= 12) or a
    4-byte prefix, buffer index 0 and the offset.  polars reads it without a copy.
    """
    n = len(starts)
    lengths = (ends - starts).astype(np.int32)
    views = np.zeros((n, 4), dtype=np.int32)
    views[:, 0] = lengths
    long = np.flatnonzero(lengths > 12)
    if len(long):
        # Every 4-byte window of the buffer as one (overlapping, unaligned) int32 array:
        # a long string's prefix is then a single gather.  A long string ends before the
        # buffer's last 12 bytes, so its window is always inside the buffer.
        windows = np.ndarray((len(buf) - 3,), dtype="<i4", buffer=buf, strides=(1,))
        views[long, 1] = windows[starts[long]]
        views[long, 3] = starts[long]
    short = np.flatnonzero(lengths <= 12)
    if len(short):
        head = buf[np.minimum(starts[short, None] + np.arange(12), len(buf) - 1)]
        head[np.arange(12)[None, :] >= lengths[short, None]] = 0
        views[short, 1:] = np.ascontiguousarray(head).view(np.int32)
    return pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), pa.py_buffer(data)])


@dataclass
class _Lines:
    """The lines of a chunk: byte offsets into ``data``, without their ``\\n``."""

    data: bytes | bytearray
    buf: npt.NDArray[np.uint8]
    starts: I64
    ends: I64

    def take(self, idx: I64) -> pl.Series:
        # Copying the few lines taken into a plain string array beats handing polars views
        # into the whole chunk (measured 54 vs 81 ms per 32 MB chunk of headers).
        return pl.Series(_views(self.data, self.buf, self.starts[idx], self.ends[idx]).cast(pa.large_string()))

    def text(self, i: int) -> str:
        return bytes(self.data[self.starts[i] : self.ends[i]]).decode("utf-8", "replace")


def _canonical(s: pl.Expr, *, hex: bool = False) -> pl.Expr:
    """A number spelled as the kernel's printf spells it, so it prints back the same from an integer.

    Not ``+5``, ``007`` or ``CC0``, which the integer parsers take all the same.
    """
    return s.is_null() | s.str.contains(F.HEX_DIGITS if hex else F.DECIMAL_DIGITS)


# A number that does not fit its signed column (2**63 or more for the 64-bit ones) is out
# of range: the record keeps its raw text, so that cat still gives it back.
_NUMERIC = {
    "order": pl.Int16,
    "gfp_mask": pl.Int64,
    "pid": pl.Int32,
    "tgid": pl.Int32,
    "ts": pl.Int64,
    "free_ts": pl.Int64,
}
_HEADER_FIELDS = ("order", "gfp_mask", "gfp_flags", "pid", "tgid", "comm", "ts", "free_ts")


def _header_query(lines: pl.Series) -> pl.LazyFrame:
    """Typed header fields, plus ``_ok`` (the line renders back from them exactly), ``_in_range``
    (every number fits its column), ``_spelled`` (and prints back the same) and ``_order_ok``."""
    return _typed_headers(_header_strings(lines))


def _finish_headers(hdr: pl.DataFrame, lines: pl.Series) -> pl.DataFrame:
    """The collected header query, with the lines the fast path could not render back redone exactly."""
    if hdr["_ok"].all():
        return hdr
    return _typed_headers(_reparse_strict(_header_strings(lines).collect()).lazy()).collect()


def _header_strings(lines: pl.Series) -> pl.LazyFrame:
    """The header fields as the strings printed, and ``_ok``."""
    line = pl.col("line")
    # Every era's header is ", "-separated before the comm, and gfp flag names hold no ", ":
    # order | mask[(gfp)] | pid | tgid (comm), ts, free_ts ...
    parts = line.str.splitn(", ", 4).struct.rename_fields(["p0", "p1", "p2", "p3"])
    f = pl.col
    paren = f("p1").str.find("(", literal=True)
    has_tgid = f("p3").str.starts_with("tgid ")
    comm_open = f("p3").str.find(" (", literal=True)
    comm_start = comm_open + 2 + f("p0").str.len_bytes() + f("p1").str.len_bytes() + f("p2").str.len_bytes() + 6
    comm_end = line.str.find(F.COMM_CLOSE, literal=True)
    # The timestamps follow the comm's closing "), ts " (or, before 5.18, the first ", ts ").
    ts_at = pl.when(has_tgid).then(comm_end + 1).otherwise(line.str.find(", ts ", literal=True))
    free_at = f("after_ts").str.find(", free_ts ", literal=True)
    return (
        pl.DataFrame({"line": lines})
        .lazy()
        .with_columns(parts.alias("p"))
        .unnest("p")
        .with_columns(after_ts=line.str.slice(ts_at + 5))
        .with_columns(free_at=free_at)
        .with_columns(
            order=f("p0").str.strip_prefix(F.HEADER_PREFIX),
            gfp_mask=pl.when(paren.is_not_null())
            .then(f("p1").str.slice(len("mask 0x"), paren - len("mask 0x")))
            .otherwise(f("p1").str.slice(len("mask 0x"))),
            gfp_flags=pl.when(paren.is_not_null()).then(
                f("p1").str.slice(paren + 1, f("p1").str.len_bytes() - paren - 2)
            ),
            pid=pl.when(f("p2").str.starts_with("pid ")).then(f("p2").str.slice(4)),
            tgid=pl.when(has_tgid).then(f("p3").str.slice(5, comm_open - 5)),
            comm=pl.when(has_tgid & (comm_end >= comm_start)).then(line.str.slice(comm_start, comm_end - comm_start)),
            ts=f("after_ts").str.splitn(" ", 2).struct.field("field_0"),
            free_ts=pl.when(f("free_at").is_not_null()).then(
                f("after_ts").str.slice(f("free_at") + len(", free_ts ")).str.strip_suffix(" ns")
            ),
        )
        .with_columns(
            # An empty number renders back too; it is malformed all the same.
            _ok=(
                (_render_header_strings() == line) & ~pl.any_horizontal((f(c) == "").fill_null(False) for c in _NUMERIC)
            ).fill_null(False)
        )
        .drop("p0", "p1", "p2", "p3", "after_ts", "free_at")
    )


def _typed_headers(strings: pl.LazyFrame) -> pl.LazyFrame:
    f = pl.col
    typed = {
        c: f(c).str.to_integer(base=16 if c == "gfp_mask" else 10, dtype=pl.UInt64, strict=False).cast(t, strict=False)
        for c, t in _NUMERIC.items()
    }
    return strings.select(
        "_ok",
        _in_range=pl.all_horizontal(f(c).is_null() | typed[c].is_not_null() for c in _NUMERIC),
        _spelled=pl.all_horizontal(_canonical(f(c), hex=c == "gfp_mask") for c in _NUMERIC),
        _order_ok=(typed["order"] <= F.MAX_ORDER).fill_null(True),
        **{c: typed.get(c, f(c)) for c in _HEADER_FIELDS},
    )


def _render_header_strings() -> pl.Expr:
    return header_from(**{c: pl.col(c) for c in _HEADER_FIELDS})


def _reparse_strict(df: pl.DataFrame) -> pl.DataFrame:
    """Parse the headers the fast path could not render back with the exact pattern, still in columns
    (text that is not a dump can have a million such lines)."""
    exact = f"(?s){F.HDR_STRICT.pattern}"
    line = pl.col("line")
    redo = ~pl.col("_ok")
    return (
        df.with_columns(_groups=line.str.extract_groups(exact), _matched=line.str.contains(exact).fill_null(False))
        .with_columns(
            *(
                pl.when(redo).then(pl.col("_groups").struct.field(n)).otherwise(pl.col(n)).alias(n)
                for n in _HEADER_FIELDS
            ),
            _ok=pl.col("_ok") | pl.col("_matched"),
        )
        .drop("_groups", "_matched")
    )


@dataclass
class _Layout:
    """Where the lines and records of a chunk are (all arrays index lines unless named ``rec``)."""

    lines: _Lines
    kind: npt.NDArray[np.int8]
    blank: Bools
    rec_of_line: I64  # record of each line; blank lines belong to the record before them
    first: I64  # per record: its first line
    last: I64  # per record: its last non-blank line
    nb: I64  # the non-blank lines
    of_kind: dict[Kind, I64]  # positions in ``nb`` of each kind's lines, in input order

    @property
    def records(self) -> int:
        return len(self.first)


def _layout(data: bytes | bytearray) -> _Layout:
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.empty(len(nl), dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    blank = nl == starts
    after_blank = np.concatenate(([True], blank[:-1]))
    before_blank = np.concatenate((blank[1:], [True]))
    rec_start = ~blank & after_blank
    nb = np.flatnonzero(~blank)
    kind = _classify(buf, starts, blank)
    # One stable sort groups the lines by kind, each group still in input order.
    by_kind = np.argsort(kind[nb], kind="stable")
    bounds = np.searchsorted(kind[nb][by_kind], np.arange(len(Kind) + 1))
    return _Layout(
        lines=_Lines(data, buf, starts, nl),
        kind=kind,
        blank=blank,
        rec_of_line=np.cumsum(rec_start) - 1,
        first=np.flatnonzero(rec_start),
        last=np.flatnonzero(~blank & before_blank),
        nb=nb,
        of_kind={k: by_kind[bounds[k] : bounds[k + 1]] for k in Kind},
    )


class _Verdicts:
    """Per record: why it keeps its raw text (the first reason found wins), and the line to blame."""

    def __init__(self, lay: _Layout) -> None:
        self.reason = np.zeros(lay.records, dtype=np.int8)
        self.line = lay.first.copy()

    def flag(self, recs: I64, code: int, at: I64 | None = None) -> None:
        fresh = self.reason[recs] == _OK
        self.reason[recs[fresh]] = code
        if at is not None:
            self.line[recs[fresh]] = at[fresh]


def _check_layout(lay: _Layout, verdicts: _Verdicts) -> dict[Kind, I64]:
    """page-owner-format.md A.1: a header first, kinds in order, the single kinds at most once.

    Returns, per single kind, the line of each record's line of that kind (-1 if none).
    """
    nb_rec, nb_kind = lay.rec_of_line[lay.nb], lay.kind[lay.nb]
    verdicts.flag(np.flatnonzero(lay.kind[lay.first] != Kind.HEADER), _NO_HEADER)
    backwards = np.flatnonzero((nb_rec[1:] == nb_rec[:-1]) & (nb_kind[1:] < nb_kind[:-1])) + 1
    verdicts.flag(nb_rec[backwards], _ORDER, lay.nb[backwards])
    line_of: dict[Kind, I64] = {}
    for k in F.SINGLE_KINDS:
        recs, at = nb_rec[lay.of_kind[k]], lay.nb[lay.of_kind[k]]
        twice = np.flatnonzero(recs[1:] == recs[:-1]) + 1
        verdicts.flag(recs[twice], _DUPLICATE, at[twice])
        idx = np.full(lay.records, -1, dtype=np.int64)
        idx[recs] = at
        line_of[k] = idx
    other = lay.of_kind[Kind.OTHER]
    verdicts.flag(nb_rec[other], _OTHER_LINE, lay.nb[other])
    return line_of


def _header_columns(lay: _Layout, line_of: I64, hdr: pl.DataFrame, verdicts: _Verdicts) -> dict[str, pa.Array]:
    recs = np.flatnonzero(line_of >= 0)
    at = line_of[recs]
    bad = ~hdr["_ok"].to_numpy()
    verdicts.flag(recs[bad], _BAD_HEADER, at[bad])
    for check, code in (("_in_range", _RANGE), ("_spelled", _SPELLING), ("_order_ok", _BIG_ORDER)):
        bad = ~hdr[check].to_numpy()
        verdicts.flag(recs[bad], code, at[bad])
    cols = {c: _spread(hdr[c].to_arrow(), recs, lay.records) for c in _HEADER_FIELDS}
    order = hdr["order"].fill_null(0).to_numpy().astype(np.int64)
    # No pages for an order the kernel cannot have: 2**63 of them would wrap every total.
    no_pages = (hdr["order"].is_null() | (hdr["order"] > F.MAX_ORDER) | (hdr["order"] < 0)).to_numpy()
    pages = np.left_shift(np.int64(1), np.clip(order, 0, F.MAX_ORDER))
    cols["pages"] = _spread(arrow_array(pages, no_pages), recs, lay.records)
    return cols


def _pfn_columns(
    lay: _Layout, line_of: I64, pfn: pl.DataFrame, verdicts: _Verdicts
) -> tuple[dict[str, pa.Array], Bools, Bools]:
    """The PFN columns, and per record whether its PFN line says CMA and slab."""
    recs = np.flatnonzero(line_of >= 0)
    at = line_of[recs]
    legacy = pfn["legacy"].to_numpy()
    bad = ~pfn["ok"].to_numpy() & ~legacy
    verdicts.flag(recs[bad], _BAD_PFN, at[bad])
    too_big = ~pfn["in_range"].to_numpy()
    verdicts.flag(recs[too_big], _RANGE, at[too_big])
    verdicts.flag(recs[legacy], _LEGACY)
    cols = {
        c: _spread(pfn[c].to_arrow(), recs, lay.records)
        for c in ("pfn", "pfn_hex", "migratetype", "block", "block_migratetype", "page_flags")
    }
    cma = np.zeros(lay.records, dtype=bool)
    slab = np.zeros(lay.records, dtype=bool)
    cma[recs] = pfn["cma"].to_numpy()
    slab[recs] = pfn["slab"].to_numpy()
    return cols, cma, slab


def _stack_columns(lay: _Layout, cache: StackCache) -> tuple[dict[str, pa.Array], Bools, Bools]:
    """The stack columns (one slice of the chunk per record, facts per distinct stack), vmalloc and slab."""
    at = lay.nb[lay.of_kind[Kind.STACK]]
    recs = lay.rec_of_line[at]
    change = recs[1:] != recs[:-1]
    begin = np.ones(len(recs), dtype=bool)
    begin[1:] = change
    end = np.ones(len(recs), dtype=bool)
    end[:-1] = change
    lines = lay.lines
    # A record without frames gets the empty slice at its start.
    cut_a = lines.starts[lay.first].copy()
    cut_b = cut_a.copy()
    cut_a[recs[begin]] = lines.starts[at[begin]]
    cut_b[recs[begin]] = lines.ends[at[end]]
    encoded = _views(lines.data, lines.buf, cut_a, cut_b).dictionary_encode()
    hashes, modules, wheres, vmalloc, slab = cache.facts(encoded.dictionary)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    cols = {
        "stack": pa.DictionaryArray.from_arrays(encoded.indices, encoded.dictionary.cast(pa.string())),
        "stack_hash": arrow_array(hashes[codes]),
        "module": modules.take(encoded.indices),
        "where": wheres.take(encoded.indices),
    }
    return cols, vmalloc[codes], slab[codes]


def parse_chunk(data: bytes | bytearray, *, cache: StackCache) -> ParsedChunk:
    """Parse whole records.  ``data`` has LF line ends and starts at a record or the input start.

    Records are numbered from 0 and lines from 1 within the chunk; the caller,
    which knows what came before, makes them absolute.
    """
    if not data.endswith(b"\n"):
        data = bytes(data) + b"\n"
    original = None
    try:
        if not data.isascii():
            data.decode("utf-8")
    except UnicodeDecodeError:
        # Arrow strings must be UTF-8: the chunk is parsed with the bad bytes replaced, and
        # every record holding a replacement character keeps its own bytes in ``raw``,
        # decoded as Latin-1 (a rare, reported path; see schema.NOT_UTF8).
        original = bytes(data)
        data = data.decode("utf-8", "replace").encode()

    lay = _layout(data)
    n_lines = len(lay.blank)
    leading = int(lay.first[0]) if lay.records else n_lines
    if lay.records == 0:
        return ParsedChunk(_empty_batch(), leading, n_lines, 0, [], Counter())
    verdicts = _Verdicts(lay)
    line_of = _check_layout(lay, verdicts)

    cols: dict[str, pa.Array] = {
        "record": arrow_array(np.arange(lay.records, dtype=np.int64)),
        "line": arrow_array((lay.first + 1).astype(np.int64)),
    }
    # Header and PFN lines are parsed in one polars run, so they share its threads.
    hdr_lines = lay.lines.take(line_of[Kind.HEADER][line_of[Kind.HEADER] >= 0])
    pfn_lines = lay.lines.take(line_of[Kind.PFN][line_of[Kind.PFN] >= 0])
    hdr, pfn = pl.collect_all([_header_query(hdr_lines), _pfn_query(pfn_lines)])
    cols |= _header_columns(lay, line_of[Kind.HEADER], _finish_headers(hdr, hdr_lines), verdicts)
    pfn_cols, cma, slab = _pfn_columns(lay, line_of[Kind.PFN], _finish_pfn(pfn), verdicts)
    stack_cols, vmalloc, slab_stack = _stack_columns(lay, cache)
    cols |= pfn_cols | stack_cols
    trailers, malformed = _parse_trailers(lay.lines, line_of, lay.records)
    for recs, at in malformed:
        verdicts.flag(recs, _BAD_TRAILER, at)
    cols |= trailers
    # A slab page by its page flag (up to 6.9), its `Slab cache page` line (memcg builds), or
    # its allocation path (6.10+, where the flag is gone): docs/page-owner-format.md.
    slab_page = trailers["slab_cache_page"].to_numpy(zero_copy_only=False)
    cols["allocator"] = allocator_names(cma, slab | slab_page | slab_stack, vmalloc)
    in_record = lay.blank & (lay.rec_of_line >= 0)
    cols["blank_after"] = arrow_array(np.bincount(lay.rec_of_line[in_record], minlength=lay.records).astype(np.int64))

    lines = lay.lines
    reason = verdicts.reason
    # Records read as page_owner records, whatever their bytes.
    known = (reason == _OK) | (reason == _LEGACY)
    latin1 = _not_utf8(original, data, lay) if original is not None else {}
    is_latin1 = np.zeros(lay.records, dtype=np.bool_)
    is_latin1[list(latin1)] = True
    need_raw = np.flatnonzero((reason != _OK) | is_latin1)
    raw = _views(data, lines.buf, lines.starts[lay.first[need_raw]], lines.ends[lay.last[need_raw]]).cast(pa.string())
    if latin1:
        bad = is_latin1[need_raw]
        raw = pc.replace_with_mask(
            raw, arrow_array(bad), pa.array([latin1[r] for r in need_raw[bad]], type=pa.string())
        )
    cols["raw"] = _spread(raw, need_raw, lay.records)
    marked = need_raw[(reason[need_raw] != _LEGACY) | is_latin1[need_raw]]
    cols["parse_error"] = _spread(_error_texts(reason[marked], is_latin1[marked]), marked, lay.records)
    errors = np.flatnonzero(~known)
    first_errors = [
        (int(verdicts.line[r]) + 1, _MESSAGES[int(reason[r])], lines.text(int(verdicts.line[r]))) for r in errors[:10]
    ]
    first_latin1 = int(lay.first[min(latin1)]) + 1 if latin1 else None

    schema = write_schema()
    batch = pa.RecordBatch.from_arrays([cols[f.name].cast(f.type) for f in schema], schema=schema)
    eras = _eras(cols, known)
    first_known = int(np.argmax(known)) if known.any() else None
    return ParsedChunk(batch, leading, n_lines, len(errors), first_errors, eras, len(latin1), first_latin1, first_known)


def _error_texts(reasons: npt.NDArray[np.int8], latin1: Bools) -> pa.Array:
    """Each marked record's ``parse_error``: why it did not parse, then NOT_UTF8 if its bytes are not UTF-8."""
    # One text per (reason, latin1) pair, picked per record by index: no loop over records.
    texts = []
    for code in range(max(_MESSAGES) + 1):
        why = _MESSAGES.get(code)  # none for a record that parsed (as of its era or not)
        texts += [why, NOT_UTF8 if why is None else f"{why}; {NOT_UTF8}"]
    picks = reasons.astype(np.int32) * 2 + latin1
    return pa.DictionaryArray.from_arrays(arrow_array(picks), pa.array(texts, type=pa.string())).cast(pa.string())


def _not_utf8(original: bytes, data: bytes | bytearray, lay: _Layout) -> dict[int, str]:
    """The records whose bytes in ``original`` are not valid UTF-8, each with those bytes decoded as Latin-1.

    ``data`` is ``original`` with the bad bytes replaced by U+FFFD: a record holding one
    is a candidate, and its own bytes say whether it was one of them (a valid U+FFFD is
    not).  Replacing changed the lengths of lines but not their number, so a record's
    lines are found again in ``original``.
    """
    lines = lay.lines
    texts = pl.Series(_views(data, lines.buf, lines.starts[lay.first], lines.ends[lay.last]))
    candidates = np.flatnonzero(texts.str.contains("\ufffd", literal=True).to_numpy())
    newlines = np.flatnonzero(np.frombuffer(original, dtype=np.uint8) == ord("\n"))
    starts = np.concatenate([[0], newlines[:-1] + 1])
    found = {}
    for r in candidates.tolist():
        own = original[starts[lay.first[r]] : newlines[lay.last[r]]]
        try:
            own.decode("utf-8")
        except UnicodeDecodeError:
            found[r] = own.decode("latin-1")
    return found


def allocator_names(cma: Bools, slab: Bools, vmalloc: Bools) -> pa.Array:
    """The allocator labels as the schema stores them: set bits joined by "|", else OTHERS."""
    bits = cma.astype(np.int8) | (slab.astype(np.int8) << 1) | (vmalloc.astype(np.int8) << 2)
    labels = ["OTHERS"] + [
        "|".join(n for i, n in enumerate(("CMA", "SLAB", "VMALLOC")) if b >> i & 1) for b in range(1, 8)
    ]
    return pa.DictionaryArray.from_arrays(arrow_array(bits), pa.array(labels)).cast(pa.string())


def _empty_batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=write_schema())


def _first_byte_kinds() -> npt.NDArray[np.int8]:
    table = np.full(256, Kind.OTHER, dtype=np.int8)
    for first, kind in ((" ", Kind.STACK), ("S", Kind.SLAB), ("C", Kind.CHARGED), ("h", Kind.HANDLE)):
        table[ord(first)] = kind
    table[ord("P")] = Kind.HEADER  # or PFN or MIGRATE: told apart below
    return table


_FIRST_BYTE_KINDS = _first_byte_kinds()


def _classify(buf: npt.NDArray[np.uint8], starts: I64, blank: Bools) -> npt.NDArray[np.int8]:
    """Line kinds from the first bytes; the field parsers confirm each candidate."""
    kind = _FIRST_BYTE_KINDS[buf[starts]]
    kind[blank] = Kind.OTHER  # a blank line's first byte is its "\n"
    # "Page allocated…", "PFN …" and "Page has been migrated…" all start with P.
    p = np.flatnonzero(kind == Kind.HEADER)
    last = len(buf) - 1
    b1 = buf[np.minimum(starts[p] + 1, last)]
    b5 = buf[np.minimum(starts[p] + 5, last)]
    kind[p[b1 == ord("F")]] = Kind.PFN
    kind[p[(b1 == ord("a")) & (b5 == ord("h"))]] = Kind.MIGRATE
    kind[p[(b1 != ord("F")) & ((b1 != ord("a")) | ((b5 != ord("a")) & (b5 != ord("h"))))]] = Kind.OTHER
    return kind


def _pfn_query(lines: pl.Series) -> pl.LazyFrame:
    """PFN fields, ``ok`` when the line has the 4.6+ layout (it then renders back exactly:
    single-space split, fixed words, canonical numbers) and ``legacy`` for the 3.19-4.5 one."""
    parts = pl.col("line").str.splitn(" ", len(F.PFN_FIELDS)).struct.rename_fields(list(F.PFN_FIELDS))
    f = pl.col
    pfn_text = f("pfn")
    is_hex = pfn_text.str.starts_with("0x")
    digits = pl.when(is_hex).then(pfn_text.str.slice(2)).otherwise(pfn_text)
    return (
        pl.DataFrame({"line": lines})
        .lazy()
        .with_columns(parts.alias("p"))
        .unnest("p")
        .with_columns(
            pfn_num=pl.when(is_hex)
            .then(digits.str.to_integer(base=16, dtype=pl.UInt64, strict=False))
            .otherwise(digits.str.to_integer(dtype=pl.UInt64, strict=False)),
            block_num=f("block").str.to_integer(dtype=pl.UInt64, strict=False),
        )
        .with_columns(
            ok=(
                (f("PFN") == "PFN")
                & (f("type") == "type")
                & (f("Block") == "Block")
                & (f("type2") == "type")
                & f("flags").str.starts_with("Flags ")
                & (f("migratetype") != "")
                & (f("block_migratetype") != "")
                & (digits != "")
                & pl.when(is_hex).then(_canonical(digits, hex=True)).otherwise(_canonical(digits))
                & _canonical(f("block"))
                & f("pfn_num").is_not_null()
                & f("block_num").is_not_null()
            ).fill_null(False)
        )
        .select(
            "ok",
            "line",
            # Fits the signed columns; a line that is not ``ok`` is judged by its layout instead.
            in_range=~f("ok") | ((f("pfn_num") <= INT64_MAX) & (f("block_num") <= INT64_MAX)),
            pfn=pl.when(f("ok")).then(f("pfn_num").cast(pl.Int64, strict=False)),
            pfn_hex=pl.when(f("ok")).then(is_hex),
            migratetype=pl.when(f("ok")).then(f("migratetype")),
            block=pl.when(f("ok")).then(f("block_num").cast(pl.Int64, strict=False)),
            block_migratetype=pl.when(f("ok")).then(f("block_migratetype")),
            page_flags=pl.when(f("ok")).then(f("flags").str.slice(6)),
            cma=f("line").str.contains("CMA", literal=True),
            slab=f("line").str.contains("slab", literal=True),
        )
    )


def _finish_pfn(df: pl.DataFrame) -> pl.DataFrame:
    """The collected PFN query, with the lines that failed the modern layout tried against the old one."""
    f = pl.col
    if df["ok"].all():
        return df.drop("line").with_columns(legacy=pl.lit(False))
    legacy = pl.col("line").str.extract_groups(F.PFN_LEGACY)
    old = (~f("ok")) & legacy.struct.field("1").is_not_null()
    return df.select(
        pl.exclude("line", "pfn", "block"),
        pfn=pl.when(old).then(legacy.struct.field("1").str.to_integer(dtype=pl.Int64, strict=False)).otherwise("pfn"),
        block=pl.when(old)
        .then(legacy.struct.field("2").str.to_integer(dtype=pl.Int64, strict=False))
        .otherwise("block"),
        legacy=old,
    )


def _parse_trailers(
    lines: _Lines, line_of: dict[Kind, I64], nrec: int
) -> tuple[dict[str, pa.Array], list[tuple[I64, I64]]]:
    """Trailer columns, and the (records, lines) whose trailer line is malformed."""
    out: dict[str, pa.Array] = {}
    bad: list[tuple[I64, I64]] = []

    def take(kind: Kind) -> tuple[I64, pl.Series]:
        recs = np.flatnonzero(line_of[kind] >= 0)
        return recs, lines.take(line_of[kind][recs])

    recs, text = take(Kind.HANDLE)
    handle = text.str.extract(F.HANDLE, 1).str.to_integer(dtype=pl.UInt32, strict=False)
    wrong = handle.is_null().to_numpy()
    bad.append((recs[wrong], line_of[Kind.HANDLE][recs[wrong]]))
    out["handle"] = _spread(handle.to_arrow(), recs, nrec)

    recs, text = take(Kind.MIGRATE)
    ok = text.str.starts_with(F.MIGRATE_PREFIX).to_numpy()
    bad.append((recs[~ok], line_of[Kind.MIGRATE][recs[~ok]]))
    out["migrate_reason"] = _spread(text.str.slice(len(F.MIGRATE_PREFIX)).to_arrow(), recs, nrec)

    recs, text = take(Kind.SLAB)
    ok = (text == F.SLAB_LINE).to_numpy()
    bad.append((recs[~ok], line_of[Kind.SLAB][recs[~ok]]))
    slab = np.zeros(nrec, dtype=bool)
    slab[recs] = True
    out["slab_cache_page"] = arrow_array(slab)

    recs, text = take(Kind.CHARGED)
    # Charged [(via objcg) ]to [offline ]memcg NAME
    via = text.str.starts_with(F.CHARGED_PREFIX + F.CHARGED_VIA)
    rest = pl.select(
        pl.when(via)
        .then(text.str.slice(len(F.CHARGED_PREFIX + F.CHARGED_VIA)))
        .otherwise(text.str.slice(len(F.CHARGED_PREFIX)))
    ).to_series()
    to_ok = rest.str.starts_with("to ")
    rest = rest.str.slice(3)
    offline = rest.str.starts_with(F.CHARGED_OFFLINE)
    rest = pl.select(pl.when(offline).then(rest.str.slice(len(F.CHARGED_OFFLINE))).otherwise(rest)).to_series()
    ok = (to_ok & rest.str.starts_with("memcg ") & text.str.starts_with(F.CHARGED_PREFIX)).to_numpy()
    bad.append((recs[~ok], line_of[Kind.CHARGED][recs[~ok]]))
    out["memcg"] = _spread(rest.str.slice(len("memcg ")).to_arrow(), recs, nrec)
    out["memcg_via_objcg"] = _spread(via.to_arrow(), recs, nrec)
    out["memcg_offline"] = _spread(offline.to_arrow(), recs, nrec)
    return out, bad


def _eras(cols: dict[str, pa.Array], ok: Bools) -> Counter[str]:
    """Count records by header era (page-owner-format.md A.2/A.3), from which fields the kernel printed."""

    def has(name: str) -> Bools:
        return np.asarray(~cols[name].is_null().to_numpy(zero_copy_only=False), dtype=bool)

    gfp, pid, tgid, free_ts, handle = has("gfp_flags"), has("pid"), has("tgid"), has("free_ts"), has("handle")
    hex_pfn = cols["pfn_hex"].fill_null(False).to_numpy(zero_copy_only=False)
    # The first matching row of the table wins, like the spec's table read top to bottom.
    conditions = [
        ~gfp,
        ~pid,
        ~tgid & ~free_ts,
        ~tgid,
        free_ts & ~hex_pfn,
        free_ts,
        handle,
    ]
    names = [ERAS[0], "4.6", "5.11", "5.12", "5.18", "6.5", "mm-2026"]
    era = np.select(conditions, np.arange(len(names)), default=len(names))[ok]
    counts = np.bincount(era, minlength=len(names) + 1)
    return Counter({name: int(c) for name, c in zip([*names, "6.7"], counts, strict=True) if c})
