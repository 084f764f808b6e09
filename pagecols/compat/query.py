"""A :class:`~pagecols.compat.plan.Plan` over the record table -> page_owner_sort's groups, sorted.

The table (``pagecols.schema``) has clean columns; this module derives from them
the values page_owner_sort v6.3 works with (spec B.2-B.8, DECISIONS.md §1-2):

* ``txt`` is the header line, the stack lines and the trailer lines, each ending in
  ``\\n``; ``stacktrace`` is ``txt`` after its first line.  Neither is built per
  record: a record carries its ``header`` (only when the plan needs it) and the
  dense rank ``st_rank`` of its stacktrace among all distinct stacktraces, which
  are few.  Since a header holds no ``\\n``, strcmp order of ``txt`` is the order of
  ``(header, st_rank)``, and ``header == ""`` is exactly ``txt == ""``.
* Missing ts/free_ts count as 0, missing pid/tgid as -1, missing comm as "".
* A row whose ``raw`` is set gets its fields from the B.3 regexes over its text.
* ``blank_after > 1`` (and blank lines before the first record) stand for empty
  blocks, which page_owner_sort counts as records with an empty ``txt``.

Grouping runs on ids (ranks, pids, ...), never on long strings; the representative
of a group is its first member in input order (``ord``); the final sort breaks
ties in the cull comparator's order, which makes it total and hence stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pagecols import textout
from pagecols.compat.plan import CullKey, Plan, SortKey

__all__ = ["Groups", "compat_fields", "group_and_sort", "stacktraces", "with_empty_blocks"]

CMA, SLAB, VMALLOC, OTHERS = 2, 4, 8, 16
_ALLOCATOR_BITS = {"CMA": CMA, "SLAB": SLAB, "VMALLOC": VMALLOC}

# Columns of the table read per record (never `stack`: see `stacktraces`).
TABLE_COLUMNS = (
    "record",
    "order",
    "pages",
    "gfp_mask",
    "gfp_flags",
    "pid",
    "tgid",
    "comm",
    "ts",
    "free_ts",
    "allocator",
    "stack_hash",
    "handle",
    "migrate_reason",
    "slab_cache_page",
    "memcg",
    "memcg_via_objcg",
    "memcg_offline",
    "blank_after",
    "raw",
)

# Spec B.3 patterns, with glibc's \s spelled out (Rust's \s is Unicode) and ts without the
# trailing comma, so that 5.11 and 6.7+ headers have a ts (DECISIONS §2).
_S = r"[ \t\n\x0b\x0c\r]*"
RE_ORDER = r"order" + _S + r"([0-9]*),"
RE_PID = r"pid" + _S + r"([0-9]*),"
RE_TGID = r"tgid" + _S + r"([0-9]*) "
RE_COMM = r"tgid" + _S + r"[0-9]*" + _S + r"\((.*)\)," + _S + r"ts"
RE_TS = r"ts" + _S + r"([0-9]*)" + _S + r"ns"
RE_FREE_TS = r"free_ts" + _S + r"([0-9]*)" + _S + r"ns"


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
    # C's int truncation of a long that fits (strtol succeeded but the value is not an int).
    return [
        # 2.0**k is exact in a float64 for every k <= 63.
        pl.when(order.is_between(0, 63))
        .then(pl.lit(2.0).pow(order).cast(pl.UInt64))
        .otherwise(pl.lit(0, dtype=pl.UInt64))
        .alias("_pages"),
        ((pid + 2**31) % 2**32 - 2**31).cast(pl.Int32).fill_null(-1).alias("_pid"),
        ((tgid + 2**31) % 2**32 - 2**31).cast(pl.Int32).fill_null(-1).alias("_tgid"),
        txt.str.extract(RE_COMM, 1).fill_null("").alias("_comm"),
        _capture_int(txt, RE_TS, pl.UInt64).fill_null(0).alias("_ts"),
        _capture_int(txt, RE_FREE_TS, pl.UInt64).fill_null(0).alias("_free_ts"),
        pl.when(bits == 0).then(pl.lit(OTHERS, dtype=pl.UInt8)).otherwise(bits).alias("_ator"),
        txt.str.extract(r"^([^\n]*)\n", 1).fill_null("").alias("_raw_header"),
        txt.str.extract(r"(?s)^[^\n]*\n(.*)$", 1).fill_null("").alias("_raw_st"),
    ]


def _allocator_bits(col: pl.Expr) -> pl.Expr:
    bits = sum(
        (
            col.str.contains(name, literal=True).fill_null(False).cast(pl.UInt8) * bit
            for name, bit in _ALLOCATOR_BITS.items()
        ),
        start=pl.lit(0, dtype=pl.UInt8),
    )
    return pl.when(bits == 0).then(pl.lit(OTHERS, dtype=pl.UInt8)).otherwise(bits).cast(pl.UInt8)


def compat_fields(lf: pl.LazyFrame, *, with_header: bool = False) -> pl.LazyFrame:
    """One row per table row with the values page_owner_sort works with.

    Columns: ``_rec`` (the table's ``record``), ``pages``, ``pid``, ``tgid``, ``comm``,
    ``ts``, ``free_ts``, ``ator`` (the B.4 bitmask), ``stack_hash`` and ``tail`` (the
    stacktrace's identity: for a parsed row its stack hash and trailer text, for a raw
    row null and its whole stacktrace), ``blank_after``, and with ``with_header`` the
    ``header`` line ("" when the txt is empty).
    """
    c = pl.col
    is_raw = c("raw").is_not_null()

    def pick(raw_name: str, parsed: pl.Expr) -> pl.Expr:
        return pl.when(is_raw).then(c(raw_name)).otherwise(parsed)

    cols = [
        c("record").cast(pl.Int64).alias("_rec"),
        pick("_pages", c("pages").fill_null(0)).cast(pl.UInt64).alias("pages"),
        pick("_pid", c("pid").fill_null(-1)).cast(pl.Int32).alias("pid"),
        pick("_tgid", c("tgid").fill_null(-1)).cast(pl.Int32).alias("tgid"),
        pick("_comm", c("comm").fill_null("")).alias("comm"),
        pick("_ts", c("ts").fill_null(0)).cast(pl.UInt64).alias("ts"),
        pick("_free_ts", c("free_ts").fill_null(0)).cast(pl.UInt64).alias("free_ts"),
        pick("_ator", _allocator_bits(c("allocator"))).alias("ator"),
        pl.when(is_raw).then(pl.lit(None, dtype=pl.UInt64)).otherwise(c("stack_hash")).alias("stack_hash"),
        pick("_raw_st", textout.trailer_lines()).alias("tail"),
        c("blank_after").cast(pl.Int64).fill_null(1),
    ]
    if with_header:
        cols.append(pick("_raw_header", textout.header_line()).alias("header"))
    # The raw-row expressions run on null strings for parsed rows, which costs next to nothing.
    return (
        lf.with_columns(_txt=(c("raw") + "\n").str.replace_all(r"(?m)^PFN[^\n]*\n", ""))
        .with_columns(_raw_fields())
        .select(cols)
    )


def with_empty_blocks(recs: pl.DataFrame, *, leading_blank_lines: int = 0) -> pl.DataFrame:
    """Add ``ord`` (input order) and one row per empty block, which v6.3 reads as a record.

    A blank line right after another ends an empty block; so do blank lines before
    the first record.  Such a record has an empty txt: no pages, pid and tgid -1.
    """
    c = pl.col
    extra = (recs["blank_after"] - 1).clip(lower_bound=0)
    n_empty = int(extra.sum() or 0) + leading_blank_lines
    if n_empty == 0:
        return recs.drop("blank_after", "_rec").with_columns(ord=pl.int_range(0, pl.len(), dtype=pl.Int64))
    before = extra.cum_sum() - extra + leading_blank_lines
    recs = recs.with_columns(ord=pl.int_range(0, pl.len(), dtype=pl.Int64) + before)
    owners = recs.filter(c("blank_after") > 1).select(ord=pl.int_ranges(c("ord") + 1, c("ord") + c("blank_after")))
    empties = pl.concat(
        [pl.DataFrame({"ord": list(range(leading_blank_lines))}, schema={"ord": pl.Int64}), owners.explode("ord")]
    ).with_columns(
        pages=pl.lit(0, dtype=pl.UInt64),
        pid=pl.lit(-1, dtype=pl.Int32),
        tgid=pl.lit(-1, dtype=pl.Int32),
        comm=pl.lit(""),
        ts=pl.lit(0, dtype=pl.UInt64),
        free_ts=pl.lit(0, dtype=pl.UInt64),
        ator=pl.lit(OTHERS, dtype=pl.UInt8),
        stack_hash=pl.lit(None, dtype=pl.UInt64),
        tail=pl.lit(""),
        header=pl.lit(""),
    )
    recs = recs.drop("blank_after", "_rec")
    return pl.concat([recs, empties.select(recs.columns)]).sort("ord")


def stacktraces(recs: pl.DataFrame, stacks: pl.DataFrame) -> pl.DataFrame:
    """The distinct stacktraces: ``stack_hash``, ``tail``, ``st_text`` and its dense strcmp rank ``st_rank``.

    ``stacks`` maps ``stack_hash`` to the ``stack`` text (lines joined by ``\\n``).
    """
    c = pl.col
    distinct = recs.lazy().select("stack_hash", "tail").unique()
    return (
        distinct.join(stacks.lazy().unique("stack_hash"), on="stack_hash", how="left")
        .with_columns(
            st_text=pl.when(c("stack_hash").is_null())
            .then(c("tail"))
            .otherwise(
                pl.concat_str(
                    pl.when(c("stack").fill_null("") == "").then(pl.lit("")).otherwise(c("stack") + "\n"),
                    c("tail"),
                )
            )
        )
        .with_columns(st_rank=c("st_text").rank("dense").cast(pl.UInt32))
        .select("stack_hash", "tail", "st_text", "st_rank")
        .collect()
    )


@dataclass(frozen=True)
class Groups:
    """The sorted groups, and the stacktrace text of each ``st_rank`` (index ``st_rank - 1``)."""

    frame: pl.DataFrame
    st_text: pl.Series


def _cull_columns(plan: Plan) -> list[pl.Expr]:
    """The cull comparator as sort/group columns, in its fixed order (B.7)."""
    if not plan.cull:
        return [pl.col("header"), pl.col("st_rank")]
    by = {
        CullKey.STACKTRACE: pl.col("st_rank"),
        CullKey.PID: pl.col("pid"),
        CullKey.TGID: pl.col("tgid"),
        CullKey.COMM: pl.col("comm"),
        CullKey.FREE: (pl.col("free_ts") != 0).alias("released"),
        CullKey.ALLOCATOR: pl.col("ator"),
    }
    return [by[k] for k in plan.cull_keys]


def _sort_column(key: SortKey) -> list[pl.Expr]:
    c = pl.col
    return {
        SortKey.PID: [c("pid")],
        SortKey.TGID: [c("tgid")],
        SortKey.COMM: [c("comm")],
        SortKey.STACKTRACE: [c("st_rank")],
        SortKey.TXT: [c("header"), c("st_rank")],
        SortKey.FREE_TS: [c("free_ts")],
        SortKey.ALLOC_TS: [c("ts")],
        SortKey.ALLOCATOR: [c("ator")],
        SortKey.TIMES: [c("num")],
        SortKey.PAGES: [c("pages")],
    }[key]


def needs_header(plan: Plan) -> bool:
    return not plan.cull or CullKey.ALLOCATOR in plan.cull or plan.needs(SortKey.TXT)


def group_and_sort(recs: pl.DataFrame, st: pl.DataFrame, plan: Plan) -> Groups:
    """Select, cull and sort (B.5-B.8) into one lazy query over the records."""
    c = pl.col
    lf = recs.lazy()

    # --- select (B.5) ---
    if plan.unreleased_only:
        lf = lf.filter(~((c("free_ts") != 0) & (c("ts") < c("free_ts"))))
    if plan.pids is not None:
        lf = lf.filter(c("pid").is_in(list(plan.pids)))
    if plan.tgids is not None:
        lf = lf.filter(c("tgid").is_in(list(plan.tgids)))
    if plan.names is not None:
        lf = lf.filter(c("comm").is_in(list(plan.names)))

    lf = lf.join(
        st.lazy().select("stack_hash", "tail", "st_rank"),
        on=["stack_hash", "tail"],
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )

    if CullKey.ALLOCATOR in plan.cull:
        # v6.3's adjacent-duplicate shortcut (B.6): a record whose txt equals the last stored
        # one is folded into it, keeping that one's allocator.  Only the allocator key can see it.
        new_run = (c("header") != c("header").shift(1)).fill_null(True) | (
            c("st_rank") != c("st_rank").shift(1)
        ).fill_null(True)
        lf = lf.with_columns(ator=pl.when(new_run).then(c("ator")).forward_fill())

    cull = _cull_columns(plan)
    keep = ["pid", "tgid", "comm", "ts", "free_ts", "ator", "st_rank"]
    if needs_header(plan):
        keep.append("header")
    key_names = [e.meta.output_name() for e in cull]
    aggs = [c(k).first() for k in keep if k not in key_names]
    groups = (
        lf.with_columns(cull)
        .group_by(key_names)
        .agg(*aggs, num=pl.len().cast(pl.UInt64), pages=c("pages").sum().cast(pl.UInt64))
    )

    by: list[pl.Expr] = []
    descending: list[bool] = []
    for spec in plan.sort:
        cols = _sort_column(spec.key)
        by += cols
        descending += [spec.descending] * len(cols)
    by += [c(k) for k in key_names]
    descending += [False] * len(key_names)
    frame = groups.sort(by, descending=descending, maintain_order=True).collect()

    st_text = st.unique("st_rank").sort("st_rank")["st_text"]
    return Groups(frame, st_text)
