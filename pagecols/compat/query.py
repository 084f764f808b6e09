"""A :class:`~pagecols.compat.plan.Plan` over the record table -> page_owner_sort's groups, sorted.

The table (``pagecols.schema``) has clean columns; this module derives from them
the values page_owner_sort v6.3 works with (compat.md B.2-B.8, compat.md §1-2):

* Missing ts/free_ts count as 0, missing pid/tgid as -1, missing comm as "".
* A row whose ``raw`` is set gets its fields from the B.3 regexes over its text.
* ``blank_after > 1``, and blank lines before the first record, stand for empty
  blocks, which page_owner_sort counts as records with an empty ``txt``.

``txt`` (header, stack and trailer lines, each ending in ``\\n``) and ``stacktrace``
(``txt`` after its first line) are never built per record for comparing:

* a record carries ``st_rank``, the dense strcmp rank of its stacktrace among the
  distinct stacktraces, which are few (a stack hash and trailers, or a raw text);
* ``txt`` is cut as ``P + R + stacktrace``: ``P`` is the header up to the ts digits
  (or the whole header line when it has no ts), which takes few distinct values, and
  ``R`` is ``"<ts> ns[, free_ts <free_ts> ns]\\n"``.  When the distinct ``P`` are
  prefix-free, strcmp order of ``txt`` is the order of ``(rank of P, R's digits as
  numbers padded to 19 places, their lengths, st_rank)``: all integers.  Otherwise
  (a comm holding ``, ts``, a 20-digit ts) the header strings themselves are sorted.

Grouping runs on these ids, never on long strings; the representative of a group is
its first member in input order (``ord``); the final sort is stable and breaks ties
in the cull comparator's order.

Memory follows the number of records, so a record is boiled down as soon as its batch
is read (:func:`keyed`): the columns that say what its stacktrace is (a stack hash,
six trailer columns, a raw row's text) and what its header prints up to the ts digits
(order, gfp mask and flags, pid, tgid, comm, ...) become two 32-bit ids into tables of
their distinct rows, which are few.  What stays per record is a handful of integers
(pages, the allocator, the ts digits, the ids), and the fields the plan selects,
groups or sorts by.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pagecols import textfmt
from pagecols.compat.plan import CullKey, Plan, SortKey

__all__ = [
    "Groups",
    "Keyed",
    "Needs",
    "as_latin1",
    "compat_fields",
    "concat_dropping",
    "group_and_sort",
    "keyed",
    "merge_keyed",
    "merge_keyed_in_place",
    "own_strings",
    "stacktrace_ranks",
    "table_columns",
    "txt_keys",
    "with_empty_blocks",
    "with_keys",
    "without_latin1",
]

CMA, SLAB, VMALLOC, OTHERS = 2, 4, 8, 16
_ALLOCATOR_BITS = {
    "|".join(n for n, b in (("CMA", CMA), ("SLAB", SLAB), ("VMALLOC", VMALLOC)) if bits & b) or "OTHERS": bits or OTHERS
    for bits in range(0, 16, 2)
}
#: The PFN line's words that B.4 may find `CMA` or `slab` in (the rest are numbers and fixed words).
PFN_WORDS = ("migratetype", "block_migratetype", "page_flags")
TRAILERS = ("handle", "migrate_reason", "slab_cache_page", "memcg", "memcg_via_objcg", "memcg_offline")
_HEADER_COLUMNS = ("order", "gfp_mask", "gfp_flags")
# The part of a header that decides P (see the module docstring), raw rows' first line included.
_P_KEY = ("order", "gfp_mask", "gfp_flags", "pid_p", "tgid_p", "comm_p", "has_ts", "free_p_no_ts", "raw_header")
# Tests turn the integer txt keys off, to check the header-string path gives the same bytes.
FAST_TXT_KEYS = True
_TENS = pl.Series([10**k for k in range(1, 20)], dtype=pl.UInt64)

# compat.md B.3 patterns, with glibc's \s spelled out (Rust's \s is Unicode) and ts without the
# trailing comma, so that 5.11 and 6.7+ headers have a ts (compat.md §2).
_S = r"[ \t\n\x0b\x0c\r]*"
RE_ORDER = r"order" + _S + r"([0-9]*),"
RE_PID = r"pid" + _S + r"([0-9]*),"
RE_TGID = r"tgid" + _S + r"([0-9]*) "
RE_COMM = r"tgid" + _S + r"[0-9]*" + _S + r"\((.*)\)," + _S + r"ts"
RE_TS = r"ts" + _S + r"([0-9]*)" + _S + r"ns"
RE_FREE_TS = r"free_ts" + _S + r"([0-9]*)" + _S + r"ns"


@dataclass(frozen=True)
class Needs:
    """What a plan reads: which record fields, the stacktraces, the whole txt."""

    fields: frozenset[str]  # of pid tgid comm ts free_ts ator
    st: bool
    txt: bool

    @classmethod
    def of(cls, plan: Plan) -> Needs:
        cull, sort = plan.cull, {s.key for s in plan.sort}
        fields = set()
        # A field is read when it selects, groups, sorts or is printed (B.9 prints the selection fields).
        for name, cull_key, sort_key, selected in (
            ("pid", CullKey.PID, SortKey.PID, plan.pids),
            ("tgid", CullKey.TGID, SortKey.TGID, plan.tgids),
            ("comm", CullKey.COMM, SortKey.COMM, plan.names),
        ):
            if cull_key in cull or sort_key in sort or selected is not None:
                fields.add(name)
        if plan.unreleased_only or SortKey.ALLOC_TS in sort:
            fields.add("ts")
        if plan.unreleased_only or SortKey.FREE_TS in sort or CullKey.FREE in cull:
            fields.add("free_ts")
        if not cull or CullKey.ALLOCATOR in cull or SortKey.ALLOCATOR in sort:
            fields.add("ator")
        txt = not cull or CullKey.ALLOCATOR in cull or SortKey.TXT in sort
        st = txt or CullKey.STACKTRACE in cull or SortKey.STACKTRACE in sort
        return cls(fields=frozenset(fields), st=st, txt=txt)


_FIELD_SOURCE = {"pid": "pid", "tgid": "tgid", "comm": "comm", "ts": "ts", "free_ts": "free_ts", "ator": "allocator"}


def table_columns(needs: Needs) -> list[str]:
    """The table columns a run with these needs reads."""
    cols = ["pages", "blank_after", "raw", "parse_error", *(_FIELD_SOURCE[f] for f in sorted(needs.fields))]
    if "ator" in needs.fields:
        cols += PFN_WORDS
    if needs.st:
        cols += ["stack_hash", *TRAILERS]
    if needs.txt:
        cols += ["order", "gfp_mask", "gfp_flags", "pid", "tgid", "comm", "ts", "free_ts"]
    return list(dict.fromkeys(cols))


def _capture_int(txt: pl.Expr, pattern: str, dtype: type[pl.Int64] | type[pl.UInt64]) -> pl.Expr:
    # An empty or overflowing capture is a strtol failure: null, so the caller's default applies.
    return txt.str.extract(pattern, 1).str.to_integer(base=10, dtype=dtype, strict=False)


def _raw_fields() -> list[pl.Expr]:
    """Fields of a ``raw`` row the way B.3/B.4 read a block (rare path, still vectorised)."""
    c = pl.col
    txt = c("_txt")
    order = _capture_int(txt, RE_ORDER, pl.Int64)
    pid = _capture_int(txt, RE_PID, pl.Int64)
    tgid = _capture_int(txt, RE_TGID, pl.Int64)
    pfn = c("raw").str.extract_all(r"(?m)^PFN[^\n]*").list.last()
    # B.4: "alloc_pages" between the start of the line before the first
    # __vmalloc_node_range and that name; no line before it -> not VMALLOC.
    before = txt.str.extract(r"(?s)^(.*?)__vmalloc_node_range", 1)
    window = before.str.extract(r"(?:^|\n)([^\n]*\n[^\n]*)$", 1)
    bits = (
        pfn.str.contains("CMA", literal=True).fill_null(False).cast(pl.UInt8) * CMA
        + pfn.str.contains("slab", literal=True).fill_null(False).cast(pl.UInt8) * SLAB
        + window.str.contains("alloc_pages", literal=True).fill_null(False).cast(pl.UInt8) * VMALLOC
    )
    return [
        # 2.0**k is exact in a float64 for every k <= 63.
        pl.when(order.is_between(0, 63))
        .then(pl.lit(2.0).pow(order).cast(pl.UInt64))
        .otherwise(pl.lit(0, dtype=pl.UInt64))
        .alias("_pages"),
        # C's int truncation of a long that strtol read.
        ((pid + 2**31) % 2**32 - 2**31).cast(pl.Int32).fill_null(-1).alias("_pid"),
        ((tgid + 2**31) % 2**32 - 2**31).cast(pl.Int32).fill_null(-1).alias("_tgid"),
        txt.str.extract(RE_COMM, 1).fill_null("").alias("_comm"),
        _capture_int(txt, RE_TS, pl.UInt64).fill_null(0).alias("_ts"),
        _capture_int(txt, RE_FREE_TS, pl.UInt64).fill_null(0).alias("_free_ts"),
        pl.when(bits == 0).then(pl.lit(OTHERS, dtype=pl.UInt8)).otherwise(bits).alias("_ator"),
        txt.str.extract(r"^([^\n]*)\n", 1).fill_null("").alias("_raw_header"),
        txt.str.extract(r"(?s)^[^\n]*\n(.*)$", 1).fill_null("").alias("_raw_st"),
    ]


def _v63_allocator() -> pl.Expr:
    """B.4's bitmask of a parsed row: the clean ``allocator``'s CMA and VMALLOC; SLAB if the PFN line says ``slab``.

    The clean column also knows a slab page by its ``Slab cache page`` line and by its
    allocation path (6.10+ kernels print no ``slab`` flag); page_owner_sort looks at neither.
    """
    c = pl.col
    clean = c("allocator").replace_strict(_ALLOCATOR_BITS, return_dtype=pl.UInt8) & (CMA | VMALLOC)
    says_slab = pl.any_horizontal(c(w).str.contains("slab", literal=True) for w in PFN_WORDS).fill_null(False)
    bits = clean | says_slab.cast(pl.UInt8) * SLAB
    return pl.when(bits == 0).then(pl.lit(OTHERS, dtype=pl.UInt8)).otherwise(bits)


def compat_fields(lf: pl.LazyFrame, needs: Needs, *, has_raw: bool = True) -> pl.LazyFrame:
    """One row per table row with the values page_owner_sort works with.

    Always ``pages``, ``blank_after`` and ``latin1`` (the row's text is Latin-1, see
    :func:`as_latin1`); the ``needs.fields`` among ``pid``, ``tgid``,
    ``comm``, ``ts``, ``free_ts`` and ``ator`` (the B.4 bitmask).  With ``needs.st``:
    ``stack_hash``, the trailer columns and ``raw_st`` (a raw row's stacktrace), which
    together say what the stacktrace is.  With ``needs.txt``: the header columns as printed (``pid_p`` ...,
    null where not printed), ``has_ts``, ``ts_p``, ``free_p`` and ``raw_header``.
    ``has_raw=False`` skips the raw-row expressions when no row is raw.
    """
    c = pl.col
    is_raw = c("raw").is_not_null()

    def pick(raw_name: str, parsed: pl.Expr) -> pl.Expr:
        return pl.when(is_raw).then(c(raw_name)).otherwise(parsed) if has_raw else parsed

    def parsed_only(expr: pl.Expr) -> pl.Expr:
        return pl.when(is_raw).then(None).otherwise(expr) if has_raw else expr

    fields = {
        "pid": pick("_pid", c("pid").fill_null(-1)).cast(pl.Int32),
        "tgid": pick("_tgid", c("tgid").fill_null(-1)).cast(pl.Int32),
        "comm": pick("_comm", c("comm").fill_null("")),
        "ts": pick("_ts", c("ts").fill_null(0)).cast(pl.UInt64),
        "free_ts": pick("_free_ts", c("free_ts").fill_null(0)).cast(pl.UInt64),
        "ator": pick("_ator", _v63_allocator()),
    }
    cols = [
        pick("_pages", c("pages").fill_null(0)).cast(pl.UInt64).alias("pages"),
        *(fields[f].alias(f) for f in sorted(needs.fields)),
        c("blank_after").cast(pl.Int64).fill_null(1),
        (textfmt.latin1_rows() if has_raw else pl.lit(False)).alias("latin1"),
    ]
    if needs.st:
        cols += [parsed_only(c("stack_hash")).alias("stack_hash")]
        cols += [parsed_only(c(t)).alias(t) for t in TRAILERS]
        cols += [(c("_raw_st") if has_raw else pl.lit(None, dtype=pl.String)).alias("raw_st")]
    if needs.txt:
        cols += [parsed_only(c(h)).alias(h) for h in _HEADER_COLUMNS]
        cols += [
            parsed_only(c("pid")).alias("pid_p"),
            parsed_only(c("tgid")).alias("tgid_p"),
            parsed_only(c("comm")).alias("comm_p"),
            # Unsigned, as the numbers are (the table's are signed, schema 5): the keys made
            # from them stay 64-bit, not 128.
            parsed_only(c("ts")).cast(pl.UInt64).alias("ts_p"),
            parsed_only(c("free_ts")).cast(pl.UInt64).alias("free_p"),
            parsed_only(c("ts").is_not_null()).fill_null(False).alias("has_ts"),
            (c("_raw_header") if has_raw else pl.lit(None, dtype=pl.String)).alias("raw_header"),
        ]
    if not has_raw:
        return lf.select(cols)
    # Raw rows keep their text with the PFN lines; txt is the block without them (B.2).
    return (
        lf.with_columns(_txt=(c("raw") + "\n").str.replace_all(r"(?m)^PFN[^\n]*\n", ""))
        .with_columns(_raw_fields())
        .with_columns(
            _raw_st=pl.when(is_raw).then(c("_raw_st")),
            _raw_header=pl.when(is_raw).then(c("_raw_header")),
        )
        .select(cols)
    )


ST_KEY = ("stack_hash", *TRAILERS, "raw_st")


def distinct_ids(frame: pl.DataFrame, *, hashed: bool = True) -> tuple[pl.DataFrame, pl.Series]:
    """The distinct rows of ``frame`` (nulls equal) and, per row, the index of its distinct row.

    Rows are told apart by one 64-bit hash of each row; every row is then compared
    with the first row of its hash, so a collision is caught (and the columns
    themselves are grouped instead): the answer is exact either way.  Grouping by a
    single integer avoids the row encoding a group-by or join on several (string)
    columns costs, about three times the time here.  ``hashed=False`` groups by the
    columns as they are.  Distinct rows come in the order of their first appearance.
    """
    if hashed:
        found = _distinct_by_hash(frame)
        if found is not None:
            return found
    c = pl.col
    names = frame.columns
    reps = frame.with_row_index("_row").group_by(names).agg(c("_row").min()).sort("_row").with_row_index("_id")
    ids = frame.join(reps.select(*names, "_id"), on=names, how="left", nulls_equal=True, maintain_order="left")["_id"]
    return frame.gather(reps["_row"]), ids


def _distinct_by_hash(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series] | None:
    """:func:`distinct_ids` through a row hash, or None if two distinct rows share a hash."""
    # A column with no value anywhere tells no rows apart.
    live = frame.select([n for n in frame.columns if frame[n].null_count() < frame.height])
    if frame.height == 0 or live.width == 0:
        first = pl.Series("_row", [0] if frame.height else [], dtype=pl.UInt32)
        return frame.gather(first), pl.Series("_id", [0] * frame.height, dtype=pl.UInt32)
    hashes = live.hash_rows()
    first = hashes.arg_unique()  # the first row of each hash, in input order
    ids = (
        pl.DataFrame({"h": hashes})
        .join(
            pl.DataFrame({"h": hashes.gather(first), "_id": pl.int_range(0, len(first), eager=True, dtype=pl.UInt32)}),
            on="h",
            how="left",
            maintain_order="left",
        )
        .get_column("_id")
    )
    rep = first.gather(ids)
    # Every row against the first row of its hash, column by column, so that only one
    # column's copy is alive at a time (all at once would hold one per core).
    if not all(col.eq_missing(col.gather(rep)).all() for col in live.get_columns()):
        return None
    return frame.gather(first), ids


#: A record's columns that say what its header prints up to the ts digits (P, see the module
#: docstring), and those of them that are kept per record after keying (the rest are in P's table).
P_KEY_INPUTS = (*_P_KEY[:-2], "free_p", "raw_header")
_P_PER_RECORD = ("has_ts", "free_p")


@dataclass(frozen=True)
class Keyed:
    """Records whose stacktrace and header prefix are ids into tables of the distinct ones.

    ``recs`` holds ``st_id`` (with ``needs.st``) and ``p_id`` (with ``needs.txt``) in place of
    the columns of :data:`ST_KEY` and of P (:data:`P_KEY_INPUTS`, ``has_ts`` and ``free_p``
    kept); ``st_keys`` and ``p_keys`` are the distinct rows of those columns, in order of
    first appearance, with ``latin1``.  A record then costs a few integers rather than its
    trailer and header strings: most records share their stacktrace and their header prefix.
    ``blank_after`` is there only when some record is followed by more than one blank
    line (an empty block, see :func:`with_empty_blocks`).
    """

    recs: pl.DataFrame
    st_keys: pl.DataFrame
    p_keys: pl.DataFrame


def _p_key(frame: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    return frame.select(
        *_P_KEY[:-2],
        free_p_no_ts=pl.when(~c("has_ts")).then(c("free_p")),
        raw_header=c("raw_header"),
        latin1=c("latin1"),
    )


def own_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its strings copied out of the buffers they point into.

    A polars string longer than 12 bytes is a view into a buffer shared with the frame it
    came from: a batch's few distinct keys kept the whole batch's buffer of gfp flags or
    memcg names alive.  ``concat_str`` writes new strings (and keeps nulls).
    """
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(pl.concat_str(pl.col(name), pl.lit("")).alias(name) for name in text) if text else frame


def keyed(recs: pl.DataFrame, needs: Needs) -> Keyed:
    """compat_fields() rows (a batch of them) -> :class:`Keyed`."""
    st_keys, p_keys = pl.DataFrame(), pl.DataFrame()
    ids = []
    if needs.st:
        st_keys, st_id = distinct_ids(recs.select(*ST_KEY, "latin1"))
        st_keys = own_strings(st_keys)
        ids.append(st_id.alias("st_id"))
    if needs.txt:
        p_keys, p_id = distinct_ids(_p_key(recs))
        p_keys = own_strings(p_keys)
        ids.append(p_id.alias("p_id"))
    gone = [*ST_KEY] if needs.st else []
    gone += [n for n in P_KEY_INPUTS if n not in _P_PER_RECORD] if needs.txt else []
    if (recs["blank_after"] > 1).any():
        # Only more than one counts (with_empty_blocks); 0 (the last record) is as good as 1.
        ids.append(recs["blank_after"].clip(lower_bound=1))
    gone.append("blank_after")
    return Keyed(recs.drop(gone).with_columns(ids), st_keys, p_keys)


def merge_keyed(parts: list[Keyed]) -> Keyed:
    """The batches of one input as one :class:`Keyed`, its ids into tables of the whole input's
    distinct rows.  ``parts`` is emptied, each batch's columns let go as they are joined."""
    if not parts:
        return Keyed(pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    tables = {}
    recs = [part.recs for part in parts]
    keys = {table: [getattr(part, table) for part in parts] for table in ("st_keys", "p_keys")}
    parts.clear()
    for name, table in (("st_id", "st_keys"), ("p_id", "p_keys")):
        if name not in recs[0].columns:
            tables[table] = pl.DataFrame()
            continue
        pieces = keys.pop(table)
        distinct, ids = distinct_ids(pl.concat(pieces, how="vertical_relaxed"))
        offset = 0
        for i, piece in enumerate(pieces):
            local = recs[i][name]
            recs[i] = recs[i].with_columns(ids.slice(offset, piece.height).gather(local).alias(name))
            offset += piece.height
        tables[table] = distinct
    if any("blank_after" in part.columns for part in recs):
        names = next(part.columns for part in recs if "blank_after" in part.columns)
        one = pl.lit(1, dtype=pl.Int64).alias("blank_after")
        recs = [part.with_columns(one).select(names) if "blank_after" not in part.columns else part for part in recs]
    return Keyed(concat_dropping(recs), **tables)


def merge_keyed_in_place(parts: list[Keyed], filled: dict[str, pl.Series]) -> Keyed:
    """:func:`merge_keyed` of batches whose records were written one after the other into
    ``filled`` (each part's ``recs`` holds only its count, ``rows``): their ids are made
    ids of the whole input there, in place.  ``parts`` and ``filled`` are emptied."""
    tables = {}
    counts = [int(part.recs["rows"].item()) for part in parts]
    keys = {table: [getattr(part, table) for part in parts] for table in ("st_keys", "p_keys")}
    parts.clear()
    for name, table in (("st_id", "st_keys"), ("p_id", "p_keys")):
        pieces = keys.pop(table)
        if name not in filled:
            tables[table] = pl.DataFrame()
            continue
        distinct, ids = distinct_ids(pl.concat(pieces, how="vertical_relaxed"))
        column, offset, start = filled[name], 0, 0
        for piece, height in zip(pieces, counts, strict=True):
            if height:
                local = column.slice(start, height)
                new = ids.slice(offset, piece.height).gather(local)
                del local  # the column's buffer is shared no more: scatter writes in place
                column.scatter(pl.int_range(start, start + height, eager=True, dtype=pl.UInt32), new)
            offset += piece.height
            start += height
        tables[table] = distinct
    recs = pl.DataFrame(list(filled.values()))
    filled.clear()
    return Keyed(recs, **tables)


def concat_dropping(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """``pl.concat(parts, rechunk=True)``, one column at a time, each part's copy let go as it is joined.

    Whole-frame concatenation holds every column twice at its peak; this holds one.
    ``parts`` is emptied.
    """
    if not parts:
        return pl.DataFrame()
    columns = []
    for name in parts[0].columns:
        pieces = [part.select(name) for part in parts]
        parts[:] = [part.drop(name) for part in parts]
        # vertical_relaxed: the parts' types may differ (a column of nulls only, a narrower int).
        columns.append(pl.concat(pieces, how="vertical_relaxed", rechunk=True).to_series())
        del pieces
    parts.clear()
    return pl.DataFrame(columns)


def as_latin1(keys: Keyed, stacks: pl.DataFrame) -> tuple[Keyed, pl.DataFrame]:
    """Every text of ``keys`` (and ``stacks``) as Latin-1, one character per byte of the dump; drops ``latin1``.

    A record whose bytes are not valid UTF-8 has its fields from its raw text, which holds
    those bytes decoded as Latin-1 (``latin1`` marks it, see schema.NOT_UTF8).  The other
    rows' texts are then put the same way (their UTF-8 bytes, a character each), so that
    comparing two strings compares the dump's bytes, as strcmp does, and the output is those
    bytes again (the renderer encodes it as Latin-1).  Only values with a character beyond
    ASCII change; there are few distinct ones, and each is mapped once.
    """
    c = pl.col

    def mapped(frame: pl.DataFrame, keep: pl.Series | None) -> pl.DataFrame:
        changes = []
        for name, dtype in frame.schema.items():
            if dtype != pl.String:
                continue
            values = frame[name]
            wide = values.str.len_bytes() != values.str.len_chars()
            todo = values.filter(wide if keep is None else wide & ~keep)
            latin = {v: v.encode().decode("latin-1") for v in todo.unique().to_list()}
            if latin:
                new = c(name).replace(latin)
                changes.append(new if keep is None else pl.when(c("latin1")).then(c(name)).otherwise(new).alias(name))
        return frame.with_columns(changes) if changes else frame

    def each(frame: pl.DataFrame) -> pl.DataFrame:
        return mapped(frame, frame["latin1"]).drop("latin1") if "latin1" in frame.columns else frame

    return Keyed(each(keys.recs), each(keys.st_keys), each(keys.p_keys)), mapped(stacks, None)


def without_latin1(keys: Keyed) -> Keyed:
    """``keys`` without the ``latin1`` columns, when no record is Latin-1."""

    def each(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.drop("latin1", strict=False)

    return Keyed(each(keys.recs), each(keys.st_keys), each(keys.p_keys))


def with_empty_blocks(keys: Keyed, *, leading_blank_lines: int = 0) -> Keyed:
    """Add one row per empty block, which v6.3 reads as a record, in its place in input order.

    A blank line right after another ends an empty block; so do blank lines before
    the first record.  Such a record has an empty txt: no pages, pid and tgid -1, and
    ids of a row added to each key table for it.  The rows' order is input order from
    here on: a record's place in the input is its row number.
    """
    c = pl.col
    recs = keys.recs
    if "blank_after" not in recs.columns:  # (keyed): no record is followed by more than one blank line
        if leading_blank_lines == 0:
            return keys
        recs = recs.with_columns(blank_after=pl.lit(1, dtype=pl.Int64))
    extra = (recs["blank_after"] - 1).clip(lower_bound=0)
    n_empty = int(extra.sum() or 0) + leading_blank_lines
    if n_empty == 0:
        return Keyed(recs.drop("blank_after"), keys.st_keys, keys.p_keys)
    before = extra.cum_sum() - extra + leading_blank_lines
    recs = recs.with_columns(ord=pl.int_range(0, pl.len(), dtype=pl.Int64) + before)
    owners = recs.filter(c("blank_after") > 1).select(ord=pl.int_ranges(c("ord") + 1, c("ord") + c("blank_after")))
    recs = recs.drop("blank_after")
    # The empty txt's rows of the key tables: no stack, no trailers, no header.
    tables = {"st_keys": keys.st_keys, "p_keys": keys.p_keys}
    key_rows = {"st_keys": {"raw_st": pl.lit("")}, "p_keys": {"has_ts": pl.lit(False), "raw_header": pl.lit("")}}
    empty_values: dict[str, pl.Expr] = {
        "pages": pl.lit(0, dtype=pl.UInt64),
        "pid": pl.lit(-1, dtype=pl.Int32),
        "tgid": pl.lit(-1, dtype=pl.Int32),
        "comm": pl.lit(""),
        "ts": pl.lit(0, dtype=pl.UInt64),
        "free_ts": pl.lit(0, dtype=pl.UInt64),
        "ator": pl.lit(OTHERS, dtype=pl.UInt8),
        "has_ts": pl.lit(False),
    }
    for id_name, table in (("st_id", "st_keys"), ("p_id", "p_keys")):
        if id_name in recs.columns:
            empty_values[id_name] = pl.lit(tables[table].height, dtype=recs.schema[id_name])
            tables[table] = pl.concat([tables[table], _one_row(tables[table].schema, key_rows[table])])
    empties = pl.concat(
        [pl.DataFrame({"ord": list(range(leading_blank_lines))}, schema={"ord": pl.Int64}), owners.explode("ord")]
    ).select(
        [
            empty_values[name].alias(name) if name in empty_values else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in recs.schema.items()
            if name != "ord"
        ]
        + [c("ord")]
    )
    return Keyed(pl.concat([recs, empties.select(recs.columns)]).sort("ord").drop("ord"), **tables)


def _one_row(schema: pl.Schema, values: dict[str, pl.Expr]) -> pl.DataFrame:
    """A row of ``schema``: ``values`` where given, null elsewhere."""
    return pl.select(values.get(name, pl.lit(None)).cast(dtype).alias(name) for name, dtype in schema.items())


def stacktrace_ranks(keys: pl.DataFrame, stacks: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """The ``st_rank`` of each row of ``keys`` (:data:`ST_KEY` columns), the dense strcmp rank
    (from 1) of its stacktrace.

    Returns that column (in the rows' order) and the text of each rank (index
    ``st_rank - 1``) with the ``\n`` of the blank line that ends its stanza (B.9), as it
    is printed.  ``stacks`` maps ``stack_hash`` to ``stack``.
    """
    c = pl.col
    ranked = (
        keys.lazy()
        .join(stacks.lazy().unique("stack_hash"), on="stack_hash", how="left", maintain_order="left")
        .select(
            st_text=pl.when(c("raw_st").is_not_null())
            .then(c("raw_st"))
            .otherwise(pl.concat_str(textfmt.stack_lines().fill_null(""), textfmt.trailer_lines()))
        )
        .with_columns(st_rank=c("st_text").rank("dense").cast(pl.UInt32))
        .collect()
    )
    # Ranked without the "\n": a suffix can change strcmp order where one text is a prefix of another.
    texts = ranked.unique("st_rank").sort("st_rank").select(c("st_text") + "\n").to_series()
    return ranked["st_rank"], texts


def _digits(v: pl.Expr) -> pl.Expr:
    """How many decimal digits ``v`` prints with (1 for 0)."""
    return (pl.lit(_TENS).search_sorted(v, side="right") + 1).cast(pl.UInt8)


def _left_aligned(v: pl.Expr, digits: pl.Expr, places: int = 19) -> pl.Expr:
    # The digits padded with zeros to ``places`` places: their bytewise order, as a number.
    scale = {0: 0} | {n: 10 ** (places - n) for n in range(1, places + 1)}
    return v * digits.replace_strict(scale, return_dtype=pl.UInt64)


@dataclass(frozen=True)
class TxtKeys:
    """Named expressions whose joint order is strcmp order of txt (and joint equality, txt equality)."""

    keys: tuple[pl.Expr, ...]
    fast: bool
    # P text of each p_rank (index p_rank; 0 is the empty txt) on the fast path.
    p_text: pl.Series | None
    # On the fast path, when p_rank * scale + k_ts fits in a u64, that scale: the first
    # two keys as one integer.
    scale: int | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(k.meta.output_name() for k in self.keys)


def _ts_tail_keys() -> tuple[pl.Expr, ...]:
    """The keys after ``k_ts``, from what the header prints after P (``r_ts``, ``r_free``).

    They only break ties of ``(p_rank, k_ts)``, which are rare, so they are computed
    when a sort needs them rather than stored.
    """
    c = pl.col
    ts_len = pl.when(c("r_ts").is_not_null()).then(_digits(c("r_ts"))).otherwise(pl.lit(0, dtype=pl.UInt8))
    has_free = c("r_free").is_not_null()
    free_len = pl.when(has_free).then(_digits(c("r_free"))).otherwise(pl.lit(0, dtype=pl.UInt8))
    return (
        (ts_len * 2 + has_free.cast(pl.UInt8)).alias("k_len"),
        pl.when(has_free)
        .then(_left_aligned(c("r_free"), free_len))
        .otherwise(pl.lit(0, dtype=pl.UInt64))
        .alias("k_free"),
        free_len.alias("k_flen"),
    )


TXT_INPUTS = ("p_id", "has_ts", "ts_p", "free_p")


def txt_keys(recs: pl.DataFrame, p_keys: pl.DataFrame) -> tuple[pl.DataFrame, TxtKeys]:
    """The txt order columns (see the module docstring), in record order.

    ``recs`` has ``p_id``, ``has_ts``, ``ts_p`` and ``free_p``; ``p_keys`` is P's table
    (:class:`Keyed`).  With ``st_rank`` after them, their joint order is strcmp order of
    txt.  The frame also holds what rendering needs: ``p_rank``, ``r_ts`` and ``r_free`` on
    the fast path, ``head`` (txt up to its stacktrace) on the other.
    """
    c = pl.col
    distinct, ids = p_keys.select(_P_KEY), recs["p_id"]
    # P: up to the ts digits; a header without ts is whole, with its "\n"; raw rows' first line.
    rendered = distinct.with_columns(
        pid=c("pid_p"), tgid=c("tgid_p"), comm=c("comm_p"), ts=pl.lit(None, dtype=pl.UInt64), free_ts=c("free_p_no_ts")
    ).select(
        *_P_KEY,
        p_text=pl.when(c("raw_header").is_not_null())
        .then(pl.when(c("raw_header") == "").then(pl.lit("")).otherwise(c("raw_header") + "\n"))
        .when(c("has_ts"))
        .then(textfmt.header_line() + ", ts ")
        .otherwise(textfmt.header_line() + "\n"),
    )
    stats = recs.select(
        ts_max=c("ts_p").max(),
        free_max=pl.when(c("has_ts")).then(c("free_p")).max(),
        free_no_ts=(c("free_p").is_not_null() & ~c("has_ts")).any(),
    ).row(0, named=True)
    nonempty = rendered.filter(c("p_text") != "").select("p_text").unique().sort("p_text")
    # Sorted, a string that is a prefix of others comes right before one of them.
    prefix_free = not nonempty.select(c("p_text").shift(-1).str.starts_with(c("p_text")).any()).item()
    fits = all(v is None or v < 10**19 for v in (stats["ts_max"], stats["free_max"]))
    if prefix_free and fits and FAST_TXT_KEYS:
        # p_rank 0 is the empty txt; the others count from 1 in strcmp order.
        p_series = pl.concat([pl.Series("p_text", [""]), nonempty["p_text"]])
        ranks = rendered.join(
            pl.DataFrame({"p_text": p_series, "p_rank": pl.int_range(0, len(p_series), eager=True, dtype=pl.UInt32)}),
            on="p_text",
            how="left",
            maintain_order="left",
        )
        # The ts digits padded to the most any record prints (not to 19) order the same
        # and leave room for p_rank in front of them in one u64.
        places = len(str(stats["ts_max"] or 0))
        ts = c("ts_p")
        p_rank = ranks["p_rank"].gather(ids)
        keyed = recs.select(
            p_rank=p_rank,
            k_ts=pl.when(c("has_ts"))
            .then(_left_aligned(ts, _digits(ts), places))
            .otherwise(pl.lit(0, dtype=pl.UInt64)),
            # What the header prints after P, for rendering and the later keys: ts_p is null
            # exactly where has_ts is false, so it is taken as it is, not copied (a free_ts
            # without a ts is in P).
            r_ts=ts,
            r_free=pl.when(c("has_ts")).then(c("free_p")) if stats["free_no_ts"] else c("free_p"),
        )
        scale = 10**places if len(p_series) * 10**places <= 2**64 else None
        keys = (c("p_rank"), c("k_ts"), *_ts_tail_keys(), c("st_rank"))
        return keyed, TxtKeys(keys, True, p_series, scale)
    head = pl.concat_str(
        c("p_text"),
        pl.when(c("has_ts"))
        .then(
            pl.concat_str(
                c("ts_p").cast(pl.String),
                pl.lit(" ns"),
                pl.when(c("free_p").is_not_null())
                .then(pl.lit(", free_ts ") + c("free_p").cast(pl.String) + pl.lit(" ns"))
                .otherwise(pl.lit("")),
                pl.lit("\n"),
            )
        )
        .otherwise(pl.lit("")),
    )
    keyed = recs.with_columns(p_text=rendered["p_text"].gather(ids)).select(head=head)
    return keyed, TxtKeys((c("head"), c("st_rank")), False, None)


def with_keys(recs: pl.DataFrame, keys: Keyed, stacks: pl.DataFrame, needs: Needs) -> tuple[pl.DataFrame, Groups]:
    """Replace the stacktrace and header ids and columns by the ranks and keys computed from them.

    ``recs`` is ``keys.recs`` with empty blocks (:func:`with_empty_blocks`), whose tables
    ``keys`` holds.  The returned :class:`Groups` is empty and carries the shared texts.
    The two computations are independent and mostly single-threaded, so the stacktrace
    ranks are worked out on a second thread meanwhile (polars releases the GIL).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as aside:
        st = aside.submit(stacktrace_ranks, keys.st_keys, stacks) if needs.st else None
        keyed, txt = txt_keys(recs, keys.p_keys) if needs.txt else (None, None)
        st_rank, st_text = st.result() if st is not None else (None, None)
    out = recs.drop([n for n in ("st_id", *TXT_INPUTS) if n in recs.columns])
    if st_rank is not None:
        out = out.with_columns(st_rank=st_rank.gather(recs["st_id"]))
    if keyed is not None:
        out = out.with_columns(keyed.get_columns())
    return out, Groups(pl.DataFrame(), st_text, txt)


@dataclass(frozen=True)
class Groups:
    """The sorted groups, with what rendering needs to print their stacktraces and txt."""

    frame: pl.DataFrame
    st_text: pl.Series | None  # each rank's stacktrace and the "\n" ending its stanza (stacktrace_ranks)
    txt: TxtKeys | None


def _cull_columns(plan: Plan) -> list[pl.Expr]:
    """The cull comparator as columns, in its fixed order (B.7)."""
    by = {
        CullKey.STACKTRACE: pl.col("st_rank"),
        CullKey.PID: pl.col("pid"),
        CullKey.TGID: pl.col("tgid"),
        CullKey.COMM: pl.col("comm"),
        CullKey.FREE: (pl.col("free_ts") != 0).alias("released"),
        CullKey.ALLOCATOR: pl.col("ator"),
    }
    return [by[k] for k in plan.cull_keys]


def _sort_columns(key: SortKey, txt: TxtKeys | None) -> list[pl.Expr]:
    if key is SortKey.TXT:
        assert txt is not None
        return list(txt.keys)
    names = {
        SortKey.PID: ["pid"],
        SortKey.TGID: ["tgid"],
        SortKey.COMM: ["comm"],
        SortKey.STACKTRACE: ["st_rank"],
        SortKey.FREE_TS: ["free_ts"],
        SortKey.ALLOC_TS: ["ts"],
        SortKey.ALLOCATOR: ["ator"],
        SortKey.TIMES: ["num"],
        SortKey.PAGES: ["pages"],
    }[key]
    return [pl.col(n) for n in names]


def _select(lf: pl.LazyFrame, plan: Plan) -> pl.LazyFrame:
    """B.5, in its order: -f, then --pid, --tgid, --name."""
    c = pl.col
    if plan.unreleased_only:
        lf = lf.filter(~((c("free_ts") != 0) & (c("ts") < c("free_ts"))))
    if plan.pids is not None:
        lf = lf.filter(c("pid").is_in(list(plan.pids)))
    if plan.tgids is not None:
        lf = lf.filter(c("tgid").is_in(list(plan.tgids)))
    if plan.names is not None:
        lf = lf.filter(c("comm").is_in(list(plan.names)))
    return lf


_TXT_ONLY = ("k_ts",)


def _txt_order(recs: pl.DataFrame, txt: TxtKeys) -> tuple[pl.Series, pl.Series | None]:
    """Row numbers in strcmp order of txt, ties in input order; and, when no two txt are
    equal, a u64 per record whose order is that order (else None)."""
    if txt.fast:
        # Usually P and the ts digits alone tell every record apart: one u64 sort then does it all.
        if txt.scale is not None:
            key = recs["p_rank"].cast(pl.UInt64) * txt.scale + recs["k_ts"]
        else:
            ranked = recs.select(r=pl.col("k_ts").rank("dense").cast(pl.UInt64))
            width = ranked.select(pl.col("r").max() + 1).item()
            key = recs["p_rank"].cast(pl.UInt64) * width + ranked["r"]
        perm = key.arg_sort()
        ordered = key.gather(perm)
        if not (ordered.slice(1) == ordered.slice(0, len(ordered) - 1)).any():
            return perm, key
    # Row numbers are input order: as the last key they make ties keep it.
    return recs.select(pl.arg_sort_by([*txt.keys, pl.int_range(0, pl.len())])).to_series(), None


def _cull_by_txt(
    recs: pl.DataFrame, by: list[pl.Expr], descending: list[bool], st_text: pl.Series | None, txt: TxtKeys
) -> Groups:
    """Default mode: groups are byte-identical records (B.7).

    Nearly every group is one record here, so this sorts row numbers on the narrow
    key columns (see :func:`_txt_order`) and folds runs of equal txt with cumulative
    sums rather than a group-by; only the columns still needed are gathered.
    """
    c = pl.col
    by_inputs = {n for e in by for n in e.meta.root_names()}
    keep = [n for n in recs.columns if n not in _TXT_ONLY or n in by_inputs]
    by_count_only = [e.meta.output_name() for e in by] == ["num"]
    if recs.height == 0:
        return Groups(recs.select(keep).with_columns(num=pl.lit(0, dtype=pl.UInt64)), st_text, txt)
    perm, txt_key = _txt_order(recs, txt)
    if txt_key is not None:
        # Every group is one record.  Unless the sort is by count alone (all 1 here), the
        # sort keys and then txt order the records in one go: one gather, not two.
        # (A count of 1 needs no more than a byte: 7 bytes a record less than a u64.)
        one = pl.lit(1, dtype=pl.UInt8)
        if not by_count_only:
            perm = (
                recs.with_columns(num=one, _txt=txt_key)
                .select(pl.arg_sort_by([*by, c("_txt")], descending=[*descending, False]))
                .to_series()
            )
        return Groups(recs.select(keep).gather(perm).with_columns(num=one), st_text, txt)
    # Runs of equal txt in txt order: a run starts where any key differs from the row
    # before.  One key column is gathered at a time, and nothing per record outlives its use.
    new: pl.Series | None = None
    for k in txt.keys:
        ordered = recs.select(k.alias("_k")).gather(perm)
        differs = ordered.select((c("_k") != c("_k").shift(1)).fill_null(True)).to_series()
        new = differs if new is None else new | differs
        del ordered, differs
    assert new is not None
    starts = new.arg_true()
    del new
    # A run ends where the next begins; its count and page sum are differences there.
    ends = pl.concat([starts.slice(1) - 1, pl.Series([recs.height - 1], dtype=starts.dtype)])
    cum_end = recs["pages"].gather(perm).cum_sum().cast(pl.UInt64).gather(ends)
    cum_before = pl.concat([pl.Series([0], dtype=pl.UInt64), cum_end.slice(0, len(cum_end) - 1)])
    groups = pl.DataFrame(
        {"_row": perm.gather(starts), "num": (ends - starts + 1).cast(pl.UInt64), "pages": cum_end - cum_before}
    )
    del perm, starts, ends, cum_end, cum_before
    # The groups are in cull order now; a stable sort by the sort keys alone keeps ties so.
    # Only the columns the sort reads are gathered for it: the rest once, in final order.
    if not by_count_only or groups["num"].n_unique() > 1:
        sort_inputs = [n for n in recs.columns if n in by_inputs and n not in groups.columns]
        inputs = groups.with_columns(recs.select(sort_inputs).gather(groups["_row"])) if sort_inputs else groups
        order = inputs.select(pl.arg_sort_by(by, descending=descending, maintain_order=True)).to_series()
        del inputs
        groups = groups.gather(order)
    frame = recs.select([n for n in keep if n != "pages"]).gather(groups["_row"])
    return Groups(frame.with_columns(groups["num"], groups["pages"]), st_text, txt)


def group_and_sort(recs: pl.DataFrame, plan: Plan, *, st_text: pl.Series | None, txt: TxtKeys | None) -> Groups:
    """Select, cull and sort (B.5-B.8).  ``recs`` is in input order."""
    c = pl.col
    cull = _cull_columns(plan)
    tie = [e.meta.output_name() for e in cull]
    # What a cull group prints of its representative, its first member in input order (B.7):
    # rows are in input order (with_empty_blocks), so it is found by row number, ``ord``.
    keep = [n for n in recs.columns if n not in ("pages", *tie)] if plan.cull else []
    lf = _select(recs.lazy().with_row_index("ord") if keep else recs.lazy(), plan)

    if CullKey.ALLOCATOR in plan.cull:
        # v6.3's adjacent-duplicate shortcut (B.6): a record whose txt equals the last stored
        # one is folded into it, keeping that one's allocator.  Only the allocator key can see it.
        assert txt is not None
        new_run = pl.any_horizontal([(k != k.shift(1)).fill_null(True) for k in txt.keys])
        lf = lf.with_columns(ator=pl.when(new_run).then(c("ator")).forward_fill())

    by: list[pl.Expr] = []
    descending: list[bool] = []
    for spec in plan.sort:
        cols = _sort_columns(spec.key, txt)
        by += cols
        descending += [spec.descending] * len(cols)

    if not plan.cull:
        assert txt is not None
        return _cull_by_txt(lf.collect(), by, descending, st_text, txt)
    groups = (
        lf.with_columns(cull)
        .group_by(tie)
        # The representative is the first member in input order (B.7), whatever order
        # the rows reach the group-by in.
        .agg(
            *[c(k).get(c("ord").arg_min()) for k in keep],
            num=pl.len().cast(pl.UInt64),
            pages=c("pages").sum().cast(pl.UInt64),
        )
    )
    frame = groups.sort([*by, *tie], descending=[*descending, *[False] * len(tie)], maintain_order=True).collect()
    return Groups(frame, st_text, txt)
