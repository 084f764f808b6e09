"""One record's columns -> its dump text, as polars expressions (page-owner-format.md A.2-A.5).

Below the parser, which checks each header against :func:`header_from` so that what is
stored always renders back; ``pagecols cat`` (:mod:`pagecols.textout`) and ``pagecols sort``
(:mod:`pagecols.compat`) print with the same pieces.  Pure polars: rendering needs neither
numpy nor pyarrow.
"""

from __future__ import annotations

import polars as pl

from pagecols import formats as F
from pagecols.schema import NOT_UTF8

_HEX_DIGIT = {i: "0123456789abcdef"[i] for i in range(16)}


def hex_expr(col: str) -> pl.Expr:
    """Lower-case hex digits of an integer column, without ``0x``, as the kernel's ``%lx`` prints them.

    Pure polars (one digit per nibble, leading zeros stripped), so rendering needs neither
    numpy nor pyarrow: `pagecols sort` renders every gfp mask this way.
    """
    value = pl.col(col).cast(pl.UInt64)
    nibbles = [
        ((value // pl.lit(16**k, dtype=pl.UInt64)) % 16).replace_strict(_HEX_DIGIT, return_dtype=pl.String)
        for k in range(15, -1, -1)
    ]
    digits = pl.concat_str(nibbles).str.strip_chars_start("0")
    return pl.when(value.is_not_null()).then(pl.when(digits == "").then(pl.lit("0")).otherwise(digits))


def _opt(prefix: str, value: pl.Expr, suffix: str = "") -> pl.Expr:
    return pl.when(value.is_not_null()).then(pl.lit(prefix) + value + pl.lit(suffix)).otherwise(pl.lit(""))


def header_from(
    *,
    order: pl.Expr,
    gfp_mask: pl.Expr,
    gfp_flags: pl.Expr,
    pid: pl.Expr,
    tgid: pl.Expr,
    comm: pl.Expr,
    ts: pl.Expr,
    free_ts: pl.Expr,
) -> pl.Expr:
    """The header line (page-owner-format.md A.2) from its fields as strings (``gfp_mask`` in hex digits).

    One layout for every era: which fields are null says which were printed.  The
    parser checks each header against this, so what is stored always renders back.
    """
    return pl.concat_str(
        pl.lit(F.HEADER_PREFIX),
        order,
        pl.lit(", mask 0x"),
        gfp_mask,
        _opt("(", gfp_flags, ")"),
        _opt(", pid ", pid),
        pl.when(tgid.is_not_null())
        .then(pl.lit(", tgid ") + tgid + pl.lit(" (") + comm + pl.lit(")"))
        .otherwise(pl.lit("")),
        _opt(", ts ", ts, " ns"),
        _opt(", free_ts ", free_ts, " ns"),
    )


def header_line() -> pl.Expr:
    """The header line of a table row."""
    s = pl.String
    return header_from(
        order=pl.col("order").cast(s),
        gfp_mask=hex_expr("gfp_mask"),
        gfp_flags=pl.col("gfp_flags"),
        pid=pl.col("pid").cast(s),
        tgid=pl.col("tgid").cast(s),
        comm=pl.col("comm"),
        ts=pl.col("ts").cast(s),
        free_ts=pl.col("free_ts").cast(s),
    )


def pfn_line() -> pl.Expr:
    """The PFN line (page-owner-format.md A.3), or null for a record that had none."""
    pfn = pl.when(pl.col("pfn_hex")).then(pl.lit("0x") + hex_expr("pfn")).otherwise(pl.col("pfn").cast(pl.String))
    return pl.concat_str(
        pl.lit(F.PFN_PREFIX),
        pfn,
        pl.lit(" type "),
        pl.col("migratetype"),
        pl.lit(" Block "),
        pl.col("block").cast(pl.String),
        pl.lit(" type "),
        pl.col("block_migratetype"),
        pl.lit(" Flags "),
        pl.col("page_flags"),
    )


def trailer_lines() -> pl.Expr:
    """The trailer lines, each ending in ``\\n`` (empty when there are none), in kernel order."""
    charged = pl.concat_str(
        pl.lit(F.CHARGED_PREFIX),
        pl.when(pl.col("memcg_via_objcg")).then(pl.lit("(via objcg) ")).otherwise(pl.lit("")),
        pl.lit("to "),
        pl.when(pl.col("memcg_offline")).then(pl.lit("offline ")).otherwise(pl.lit("")),
        pl.lit("memcg "),
        pl.col("memcg"),
        pl.lit("\n"),
    )
    return pl.concat_str(
        _opt(F.HANDLE_PREFIX, pl.col("handle").cast(pl.String), "\n"),
        _opt(F.MIGRATE_PREFIX, pl.col("migrate_reason"), "\n"),
        pl.when(pl.col("slab_cache_page")).then(pl.lit(F.SLAB_LINE + "\n")).otherwise(pl.lit("")),
        pl.when(pl.col("memcg").is_not_null()).then(charged).otherwise(pl.lit("")),
    )


def stack_lines() -> pl.Expr:
    """The stack lines, each ending in ``\\n`` (empty when the record had none)."""
    return pl.when(pl.col("stack") != "").then(pl.col("stack") + pl.lit("\n")).otherwise(pl.lit(""))


def record_text(*, with_pfn: bool = True) -> pl.Expr:
    """Every line of the record, each ending in ``\\n``; ``raw`` when the columns cannot say it."""
    parts = [header_line() + pl.lit("\n")]
    if with_pfn:
        parts.append(pl.when(pl.col("pfn").is_not_null()).then(pfn_line() + pl.lit("\n")).otherwise(pl.lit("")))
    parts += [stack_lines(), trailer_lines()]
    return pl.when(pl.col("raw").is_not_null()).then(pl.col("raw") + pl.lit("\n")).otherwise(pl.concat_str(parts))


def dump_text() -> pl.Expr:
    body = record_text()
    # pad_end counts characters, so the target length is in characters too.
    return body.str.pad_end(body.str.len_chars() + pl.col("blank_after").cast(pl.Int64), "\n")


def latin1_rows() -> pl.Expr:
    """Whether a row's ``raw`` holds its bytes as Latin-1 (schema.NOT_UTF8); never null."""
    return pl.col("parse_error").str.ends_with(NOT_UTF8).fill_null(False)
