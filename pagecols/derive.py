"""Columns derived from the stored ones, as polars expressions: ``where``, ``module``, flag names, node, zone.

Below :mod:`pagecols.frames` (``read_dump(decoded=True)``), :mod:`pagecols.dataset`
(``scan(decoded=True)``) and the reports (:mod:`pagecols.analyze`), so all reach it
without importing each other.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pagecols import formats

# --- where: who allocated -------------------------------------------------------------------

#: Frames that belong to the allocators themselves, skipped to find ``where``.  A person
#: asking "who allocated this page" means the caller of the page allocator, of
#: kmalloc/kmem_cache_alloc or of vmalloc: ``security_inode_alloc``, not ``allocate_slab``.
#: The allocator itself is already the ``allocator`` column.  Names are matched whole, with
#: any compiler suffix (``.constprop.0``, ``.isra.0``, ``.cold``).
ALLOCATOR_FRAMES: Final = (
    *formats.PAGE_ALLOCATOR_FRAMES,
    *formats.SLAB_PAGE_FRAMES,
    # the kmalloc family
    "__kmalloc.*",
    "___kmalloc.*",
    "kmalloc.*",
    "kzalloc.*",
    "kcalloc.*",
    "krealloc.*",
    "__do_krealloc",
    "kvmalloc.*",
    "__kvmalloc.*",
    "kvzalloc.*",
    "mempool_alloc.*",
    # vmalloc
    "__vmalloc.*",
    "vmalloc.*",
    "vzalloc.*",
    "vm_area_alloc_pages.*",
)

ALLOCATOR_RE: Final = formats.frames_re(ALLOCATOR_FRAMES)
SYMBOL_RE: Final = formats.FRAME_SYMBOL
MODULE_RE: Final = formats.MODULE_FRAME.pattern


def frame_symbols(stack: pl.Expr) -> pl.Expr:
    """The stack's frames as a list of symbols without ``+0x…`` offsets, innermost first."""
    return stack.str.split("\n").list.eval(pl.element().str.extract(SYMBOL_RE, 1))


def where_expr(stack: pl.Expr | None = None) -> pl.Expr:
    """``where``: the first frame outside :data:`ALLOCATOR_FRAMES` (the last frame if all are in it)."""
    symbols = frame_symbols(pl.col("stack") if stack is None else stack)
    outside = symbols.list.eval(pl.element().filter(~pl.element().str.contains(ALLOCATOR_RE)))
    return pl.coalesce(outside.list.first(), symbols.list.last()).alias("where")


def module_expr(stack: pl.Expr | None = None) -> pl.Expr:
    """The first ``[module]`` among the frames, else ``vmlinux`` (build ids dropped)."""
    text = pl.col("stack") if stack is None else stack
    return pl.when(text.is_not_null()).then(text.str.extract(MODULE_RE, 1).fill_null("vmlinux")).alias("module")


def with_where(records: pl.LazyFrame) -> pl.LazyFrame:
    """``records`` plus ``where``, computed once per unique stack and joined back on ``stack_hash``.

    A table of schema 5 stores ``where``, and is returned as it is.
    """
    if "where" in records.collect_schema().names():
        return records
    per_stack = records.select("stack_hash", "stack").unique("stack_hash").select("stack_hash", where_expr())
    return records.join(per_stack, on="stack_hash", how="left", nulls_equal=True, maintain_order="left")


def decode_records(records: pl.LazyFrame) -> pl.LazyFrame:
    """Page_owner records plus ``where``, ``gfp_flag_names``, ``page_flag_names``, ``node`` and ``zone``.

    ``page_flag_names`` are the named flags of ``page_flags`` without its ``node=``/``zone=``
    fields; ``where`` is computed per unique stack and joined back.
    """
    inside = pl.col("page_flags").str.extract(r"\(([^)]*)\)", 1).str.split("|")
    return with_where(records).with_columns(
        gfp_flag_names=pl.when(pl.col("gfp_flags") != "").then(pl.col("gfp_flags").str.split("|")),
        page_flag_names=inside.list.eval(pl.element().filter(~pl.element().str.contains("="))),
        node=pl.col("page_flags").str.extract(r"[(|]node=(\d+)", 1).cast(pl.Int32),
        zone=pl.col("page_flags").str.extract(r"[(|]zone=(\d+)", 1).cast(pl.Int32),
    )


# --- hex notation: stack hashes, PFNs, gfp masks ------------------------------------------------

#: A stack hash in full: ``0x`` and 16 hex digits (csv, json, plain text).
HASH_DIGITS: Final = 16
#: A stack hash where a person reads it in a narrow place (terminal tables, plot labels): the
#: first 8 of those digits, so that it is a prefix of the full one (grep finds it in a csv).
SHORT_HASH_DIGITS: Final = 8


def hex_text(values: pl.Series, digits: int = HASH_DIGITS) -> pl.Series:
    """``0x`` and the first ``digits`` of each 64-bit value's 16 hex digits (zero-padded; a signed
    value by its bits).

    Vectorised in numpy, nibble by nibble, since a csv of every record formats millions of
    them: 0.3-0.5 s for 5 M values, where polars byte lookups took 6-9 s.  The digits go to
    polars as fixed-width numpy bytes, not through pyarrow, whose import alone took 25 MiB
    and ~0.05 s of every report that shows a stack hash.
    """
    import numpy as np

    if not 1 <= digits <= HASH_DIGITS:
        raise ValueError(f"`digits` must be 1 to {HASH_DIGITS}, not {digits}")
    # A stack hash is stored signed (schema 5): its 64 bits are what is shown.
    whole = values.reinterpret(signed=False) if values.dtype == pl.Int64 else values.cast(pl.UInt64)
    raw = whole.fill_null(0).to_numpy().astype(">u8").view(np.uint8)
    text = np.empty((len(whole), HASH_DIGITS + 2), dtype=np.uint8)
    text[:, 0], text[:, 1] = ord("0"), ord("x")
    nibbles = text[:, 2:]
    nibbles[:, 0::2] = raw.reshape(-1, 8) >> 4
    nibbles[:, 1::2] = raw.reshape(-1, 8) & 15
    nibbles += np.uint8(ord("0")) + (nibbles > 9) * np.uint8(ord("a") - ord("0") - 10)
    # Each value's characters as one `S` item (no NUL among them, which numpy would drop).
    kept = np.ascontiguousarray(text[:, : 2 + digits]).view(f"S{2 + digits}").ravel()
    out = pl.Series(values.name, kept).cast(pl.String)
    return out if whole.null_count() == 0 else pl.select(pl.when(whole.is_not_null()).then(out)).to_series()


def hex_number(values: pl.Series) -> pl.Series:
    """Unsigned values in hex as the kernel prints ``%#x``: ``0x100``, ``0x2cc1``, ``0x0``."""
    digits = hex_text(values).str.slice(2).str.strip_chars_start("0")
    return pl.select(pl.concat_str(pl.lit("0x"), pl.when(digits == "").then(pl.lit("0")).otherwise(digits)))[
        :, 0
    ].alias(values.name)


def hash_text(values: pl.Series, *, short: bool = False) -> pl.Series:
    """Stack hashes as people read them: ``0x`` + 16 hex digits, or the first 8 when ``short``."""
    return hex_text(values, SHORT_HASH_DIGITS if short else HASH_DIGITS)
