"""Hand-built page_owner tables for the report tests, and checks that they are well formed.

The reports only read columns, so building the table directly keeps each test's facts
in plain sight: a test says which stacks hold how many pages and checks the report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import polars as pl
import pyarrow as pa

from pagecols import schema
from pagecols.derive import where_expr

#: The polars schema of a parsed dump.
RECORDS_SCHEMA = pl.from_arrow(schema.ARROW_SCHEMA.empty_table()).schema  # type: ignore[union-attr]

# A stack as page_owner prints it on 6.12: allocator frames, then the caller.
SLAB_FRAMES = (
    "get_page_from_freelist",
    "__alloc_pages_noprof",
    "alloc_pages_mpol_noprof",
    "allocate_slab",
    "___slab_alloc",
    "kmem_cache_alloc_noprof",
)
PAGE_FRAMES = ("post_alloc_hook", "get_page_from_freelist", "__alloc_pages_noprof")


def frames(*symbols: str) -> str:
    """Stack text for ``symbols`` (innermost first), each ` sym+0xoff/0xsize`; ``sym@mod`` puts it in a module."""
    lines = []
    for i, sym in enumerate(symbols):
        name, _, mod = sym.partition("@")
        suffix = f" [{mod}]" if mod else ""
        lines.append(f" {name}+0x{16 * (i + 1):x}/0x{256 + i:x}{suffix}")
    return "\n".join(lines)


def blake(stack: str) -> int:
    return int.from_bytes(hashlib.blake2b(stack.encode(), digest_size=8).digest(), "big", signed=True)


# polars types Series.sum() as int | float | Decimal and Series.min() as any Python
# literal or None, whatever the dtype; on the integer columns of these tests both are
# ints. The casts only tell mypy so: the values are passed through untouched.
def int_sum(column: pl.Series) -> int:
    """``column.sum()`` of an integer column."""
    return cast(int, column.sum())


def int_min(column: pl.Series) -> int:
    """``column.min()`` of a non-empty integer column."""
    return cast(int, column.min())


_DEFAULTS: Mapping[str, Any] = {
    "order": 0,
    "gfp_mask": 0xCC0,
    "gfp_flags": "GFP_KERNEL",
    "pid": 1,
    "tgid": 1,
    "comm": "swapper/0",
    "ts": 1_000_000,
    "free_ts": None,
    "pfn_hex": True,
    "migratetype": "Unmovable",
    "block_migratetype": None,
    "page_flags": "0x4000000000000000(node=0|zone=1)",
    "allocator": "OTHERS",
    "handle": None,
    "migrate_reason": None,
    "slab_cache_page": False,
    "memcg": None,
    "memcg_via_objcg": None,
    "memcg_offline": None,
    "blank_after": 1,
    "raw": None,
    "parse_error": None,
}


def make_records(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """A table with the parser's columns; each row gives ``stack`` (text) and what it needs.

    ``pfn`` defaults to the row number times 512 (one pageblock each), ``block`` to
    ``pfn >> 9``, ``pages`` to ``2**order``, ``block_migratetype`` to ``migratetype``,
    ``module`` to the first ``[mod]`` frame, ``stack_hash`` to BLAKE2b of ``stack``, ``where``
    to what the parser stores.
    """
    out: list[dict[str, Any]] = []
    line = 1
    for i, given in enumerate(rows):
        row = {**_DEFAULTS, **given}
        row["record"] = i
        row["line"] = line
        row.setdefault("pfn", i * 512)
        row.setdefault("pages", 2 ** row["order"])
        if "block" not in given:
            row["block"] = None if row["pfn"] is None else row["pfn"] >> 9
        if row["block_migratetype"] is None:
            row["block_migratetype"] = row["migratetype"]
        stack = row["stack"]
        row.setdefault("stack_hash", blake(stack))
        found = re.search(r"\[(\w+)\]", stack)
        row.setdefault("module", found.group(1) if found else "vmlinux")
        line += 3 + stack.count("\n") + 1
        out.append(row)
    table = pa.Table.from_pylist(out, schema=schema.ARROW_SCHEMA)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    # `where` as the parser stores it, unless a row gives its own.
    return frame.with_columns(pl.coalesce("where", where_expr()))


def test_make_records_has_the_parser_schema() -> None:
    table = make_records([{"stack": frames("a", "b"), "order": 3}])
    assert table.schema == RECORDS_SCHEMA
    assert table.row(0, named=True)["pages"] == 8
    assert table.row(0, named=True)["stack"] == " a+0x10/0x100\n b+0x20/0x101"


def test_frames_puts_module_frames_in_brackets() -> None:
    assert frames("x@ext4", "y") == " x+0x10/0x100 [ext4]\n y+0x20/0x101"
