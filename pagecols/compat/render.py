"""Sorted groups -> page_owner_sort's output stanzas, byte for byte (compat.md B.9), streamed.

A stanza is cut into pieces: the parts that differ from group to group (counts,
pid, the ts digits ...) are built per group; the parts many groups share (the
stacktrace, the header up to its ts, the fixed words between the numbers) are kept
once and referred to by index.  One ``gather`` lays every piece of a batch of groups
out in output order, and the Arrow conversion of that column is the output bytes: no
Python loop per group, a single copy of the long texts, memory bounded by the batch.
In the default mode, where nearly every record is its own group, per-group work is
kept to the ts digits: the count line takes few distinct values and is shared, the
words around the digits are shared, and joining short strings per group
(``concat_str``) cost more than gathering them; fewer pieces per stanza also means
less work for the writer, which handles each piece as a value.
"""

from __future__ import annotations

import codecs
import functools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, BinaryIO, cast

import polars as pl

from pagecols.compat.plan import CullKey, Plan
from pagecols.compat.query import CMA, OTHERS, SLAB, VMALLOC, Groups

__all__ = ["BATCH_GROUPS", "render"]

#: Groups per rendered batch: ~25 MB of default-mode text.
BATCH_GROUPS = 50_000

# A piece is built per group (an expression; null prints nothing) or shared (a text
# series and an expression for each group's 0-based index into it).
Piece = pl.Expr | tuple[pl.Series, pl.Expr]

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


# The default mode's "<num> times, <pages> pages, allocated by <names>:\n" after each number.
_TIMES = pl.Series([" times, "])
_PAGES_ALLOCATED = pl.Series([" pages, " + _ALLOCATOR_NAMES[bits] + ":\n" for bits in range(32)])
# (num, pages, ator) packed in a u64 when they fit: 24, 35 and 5 bits.
_NUM_SHIFT, _PAGES_SHIFT = 2**40, 2**5


def _default_prefix(frame: pl.DataFrame) -> list[Piece]:
    """``<num> times, <pages> pages, allocated by <names>:\\n``.

    Groups take few distinct (num, pages, allocator) values, so each distinct line is
    built once and shared; numbers too large to pack are pieces of their own instead.
    """
    c = pl.col
    fits = frame.select((c("num").max() < 2**24) & (c("pages").max() < 2**35)).item()
    if not fits:
        return [
            c("num").cast(pl.String),
            (_TIMES, pl.lit(0)),
            c("pages").cast(pl.String),
            (_PAGES_ALLOCATED, c("ator")),
        ]
    key = c("num").cast(pl.UInt64) * _NUM_SHIFT + c("pages").cast(pl.UInt64) * _PAGES_SHIFT + c("ator").cast(pl.UInt64)
    keys = frame.select(key.unique().sort()).to_series()
    lines = keys.to_frame("k").select(
        pl.concat_str(
            (c("k") // _NUM_SHIFT).cast(pl.String),
            pl.lit(" times, "),
            (c("k") % _NUM_SHIFT // _PAGES_SHIFT).cast(pl.String),
            pl.lit(" pages, "),
            (c("k") % _PAGES_SHIFT).replace_strict(_ALLOCATOR_NAMES, return_dtype=pl.String),
            pl.lit(":\n"),
        )
    )
    return [(lines.to_series(), pl.lit(keys).search_sorted(key))]


def _after_p(st_text: pl.Series) -> list[Piece]:
    """What the header prints after P, ``<ts> ns[, free_ts <free_ts> ns]\\n`` or nothing, and the stacktrace.

    The ``" ns\\n"`` ending a header with a ts is shared along with the stacktrace
    after it: each stacktrace is there twice, with it and without.
    """
    c = pl.col
    has_ts, has_free = c("r_ts").is_not_null(), c("r_free").is_not_null()
    at = c("st_rank").cast(pl.Int64) - 1 + pl.when(has_ts).then(0).otherwise(len(st_text))
    return [
        c("r_ts").cast(pl.String),
        (_FREE_TS, pl.when(has_free).then(0).otherwise(1)),
        c("r_free").cast(pl.String),
        (pl.concat([" ns\n" + st_text, st_text]), at),
    ]


_FREE_TS = pl.Series([" ns, free_ts ", ""])


def _cull_line(plan: Plan) -> pl.Expr:
    """A cull-mode stanza's first line, without its ``\\n`` (or ``:\\n`` before a stacktrace)."""
    c = pl.col
    cull = plan.cull
    return pl.concat_str(
        *_counts(),
        *_when(CullKey.PID in cull or plan.pids is not None, ", PID ", c("pid").cast(pl.String)),
        # compat.md §1 fix 1: the tgid, not v6.3's pid.
        *_when(CullKey.TGID in cull or plan.tgids is not None, ", TGID ", c("tgid").cast(pl.String)),
        *_when(CullKey.COMM in cull or plan.names is not None, ", task_comm_name: ", c("comm")),
        *_when(CullKey.ALLOCATOR in cull, ", ", _allocator()),
        *_when(
            CullKey.FREE in cull,
            pl.when(c("free_ts") != 0).then(pl.lit(" (UNRELEASED)")).otherwise(pl.lit(" (RELEASED)")),
        ),
    )


def pieces(groups: Groups, plan: Plan) -> list[Piece]:
    """The pieces of every stanza, in output order."""
    c = pl.col
    # The stacktrace is printed with the blank line that ends the stanza (B.9): its text has the "\n".
    st = (groups.st_text, c("st_rank").cast(pl.Int64) - 1) if groups.st_text is not None else None
    if not plan.cull:
        assert st is not None
        assert groups.txt is not None
        if not groups.txt.fast:
            return [*_default_prefix(groups.frame), c("head"), st]
        assert groups.txt.p_text is not None
        assert groups.st_text is not None
        return [*_default_prefix(groups.frame), (groups.txt.p_text, c("p_rank")), *_after_p(groups.st_text)]
    if CullKey.STACKTRACE in plan.cull:
        assert st is not None
        return [pl.concat_str(_cull_line(plan), pl.lit(":\n")), st]
    return [pl.concat_str(_cull_line(plan), pl.lit("\n"))]


@functools.lru_cache(maxsize=2)
def _interleave(n: int, k: int) -> pl.Series:
    """The order that turns k columns of n values, one after the other, into n rows of k."""
    at = pl.int_range(0, n * k, eager=True, dtype=pl.Int64)
    return ((at % k) * n + at // k).cast(pl.UInt32)


def _stitch(part: pl.DataFrame, layout: list[Piece]) -> pl.Series:
    """The pieces of a batch of groups as one string column, in output order."""
    own = [p for p in layout if isinstance(p, pl.Expr)]
    shared = [p for p in layout if not isinstance(p, pl.Expr)]
    if not shared and len(own) == 1:
        return part.select(own[0].fill_null("")).to_series()
    # Values: the per-group pieces, column after column, then each shared text; each
    # stanza gets one index per piece, pointing into them.
    n = part.height
    row = pl.int_range(0, pl.len(), dtype=pl.Int64)
    index: list[pl.Expr] = []
    base, k_own = len(own) * n, 0
    for piece in layout:
        if isinstance(piece, pl.Expr):
            index.append(row + k_own * n)
            k_own += 1
        else:
            text, at = piece
            index.append(at.cast(pl.Int64) + base)
            base += len(text)
    built = part.select(
        *[e.fill_null("").alias(f"own{i}") for i, e in enumerate(own)],
        *[e.alias(f"index{k}") for k, e in enumerate(index)],
    )
    values = [built.to_series(i) for i in range(len(own))] + [text for text, _ in shared]
    # (concat_list would interleave the index columns too, but at ten times the cost.)
    by_piece = pl.concat(built.get_columns()[len(own) :], rechunk=True)
    return pl.concat(values, rechunk=True).gather(by_piece.gather(_interleave(n, len(layout))))


class _Sink:
    """Passes polars' writes on to ``out`` whole, and counts the bytes written.

    polars re-raises an error from ``write`` as a bare OSError without its errno, so
    the error as raised is kept for the caller (a broken pipe must stay one, a full disk
    an error naming the output).  With
    ``latin1``, the text stands for one byte per character (query.as_latin1), and those
    bytes are written.
    """

    def __init__(self, out: BinaryIO, *, latin1: bool = False) -> None:
        self.out = out
        self.written = 0
        self.error: Exception | None = None
        self.utf8 = codecs.getincrementaldecoder("utf-8")() if latin1 else None

    def write(self, data: bytes) -> int:
        given = len(data)
        if self.utf8 is not None:
            data = self._latin1(data)
        view = memoryview(data).cast("B")
        try:
            done = 0
            # A raw file object may take less than it is given.
            while done < len(view):
                done += self.out.write(view[done:]) or 0
        except Exception as e:  # an OSError, or the OutputError of outfile.WholeWrites
            self.error = e
            raise
        self.written += done
        return given

    def _latin1(self, data: bytes) -> bytes:
        assert self.utf8 is not None
        if data.isascii() and not self.utf8.getstate()[0]:
            return data  # the same bytes either way
        # A character may be cut between two writes: the decoder keeps its first bytes.
        return self.utf8.decode(data).encode("latin-1")

    def flush(self) -> None:
        pass


def _write_strings(text: pl.Series, out: BinaryIO, *, latin1: bool = False) -> int:
    """Write the concatenation of a string column's values; return the bytes written.

    polars' CSV writer does it with nothing added (no quotes, separators or line ends),
    from its own buffers and on all cores, with no pyarrow (or numpy) to import.
    ``latin1``: see :class:`_Sink`.
    """
    sink = _Sink(out, latin1=latin1)
    try:
        text.to_frame().write_csv(
            cast("IO[bytes]", sink), include_header=False, quote_style="never", line_terminator=""
        )
    except OSError:
        if sink.error is not None:
            raise sink.error from None
        raise
    return sink.written


def render(groups: Groups, plan: Plan, out: BinaryIO, *, batch: int = BATCH_GROUPS, latin1: bool = False) -> int:
    """Write every group's stanza to ``out``; return the bytes written.

    One batch is written (on a helper thread: writes release the GIL, as does polars)
    while the next is built, so building and writing overlap on two cores.  With
    ``latin1`` the texts stand for one byte per character (query.as_latin1).
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
            pending = writer.submit(_write_strings, text, out, latin1=latin1)
        if pending is not None:
            written += pending.result()
    return written
