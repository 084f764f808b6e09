"""The one place that names pagecols' columns, their types and the Parquet metadata.

A row is one page_owner record, in input order. Columns hold the kernel's facts
as printed (compat.md §3): nothing here carries page_owner_sort's quirks.

Losslessness: the text of a record is rendered back from these columns
(``textout``). A record whose text the strict line patterns did not fully
account for keeps its exact text in ``raw`` instead, so ``cat`` is always
byte-exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    ARROW_SCHEMA: pa.Schema
    WRITE_SCHEMA: pa.Schema

#: 2: a record that is not valid UTF-8 keeps its bytes in ``raw`` as Latin-1 (NOT_UTF8); in
#: version 1 they were replaced by U+FFFD.  3: such a record that also did not parse says why
#: before NOT_UTF8.  4: ``allocator`` says SLAB for slab pages without the ``slab`` page flag (6.10+);
#: a file of version 3 or older labels them as page_owner_sort does (reconvert it).  5: signed
#: integer types only (Spark, Trino and BigQuery have no unsigned ones: ``stack_hash`` keeps its
#: bits as a signed number, a number of 2**63 or more in the text keeps the record's ``raw``),
#: ``where`` stored, each column's description in the file.  An older pagecols refuses a newer
#: file; files of versions 1-4 are upgraded to these types as they are read (``frames.upgrade``).
SCHEMA_VERSION = 5
METADATA_KEY = b"pagecols"
#: The Arrow field metadata key of a column's description (pyarrow, DuckDB and Spark users read it
#: from the Arrow schema stored in the file's ``ARROW:schema`` key).
DESCRIPTION_KEY = "description"
#: The largest number a stored integer column holds; a bigger one in the text keeps the record's ``raw``.
INT64_MAX = (1 << 63) - 1

# Allocator labels, in the order page_owner_sort prints them; a record
# with none of the first three is OTHERS.  Stored joined by "|".
ALLOCATORS = ("CMA", "SLAB", "VMALLOC", "OTHERS")

#: column name -> (Arrow type name, description).  Order is the Parquet column order.
#: Types are named, not imported, so that reading a converted file (``info``) needs no pyarrow.
#: Every type is signed, so that any engine reads the file natively; the descriptions go into
#: the file as each field's ``description`` metadata (:func:`arrow_schema`).
COLUMNS: dict[str, tuple[str, str]] = {
    "record": ("int64", "0-based position of the record in the input"),
    "line": ("int64", "1-based input line of the record's first line"),
    "pfn": ("int64", "page frame number of the (head) page; null without a PFN line"),
    "order": ("int16", "allocation order"),
    "pages": ("int64", "base pages in the allocation, 2**order"),
    "gfp_mask": ("int64", "the gfp mask as a number"),
    "gfp_flags": ("string", "the gfp flag names as printed, joined by '|'; null before 4.6"),
    "pid": ("int32", "pid of the allocating task; null before 5.11"),
    "tgid": ("int32", "tgid of the allocating task; null before 5.18"),
    "comm": ("string", "command name of the allocating task; null before 5.18"),
    "ts": ("int64", "allocation time, ns since boot; null before 5.11"),
    "free_ts": ("int64", "time of the page's previous free, ns; null before 5.12 and from 6.7"),
    "pfn_hex": ("bool_", "the PFN was printed in hex (6.5+)"),
    "migratetype": ("string", "the page's migratetype (from its gfp mask)"),
    "block": ("int64", "pageblock number, pfn >> pageblock_order"),
    "block_migratetype": ("string", "the pageblock's migratetype"),
    "page_flags": ("string", "the page flags as printed after 'Flags '"),
    "allocator": ("string", "CMA, SLAB, VMALLOC joined by '|', else OTHERS (docs/page-owner-format.md)"),
    "stack": ("string", "the stack lines as printed (leading space kept), joined by '\\n'"),
    "stack_hash": ("int64", "64-bit BLAKE2b of `stack` (its bits as a signed number): stable across files"),
    "module": ("string", "first `[module]` among the frames, else 'vmlinux'"),
    "where": ("string", "who allocated: the first frame outside the page, slab and vmalloc allocators"),
    "handle": ("int64", "stack depot handle (2026 mm tree, mode=handle|stack_handle)"),
    "migrate_reason": ("string", "last migrate reason, when the page was migrated"),
    "slab_cache_page": ("bool_", "the record has a 'Slab cache page' line"),
    "memcg": ("string", "name of the memcg the page is charged to"),
    "memcg_via_objcg": ("bool_", "charged '(via objcg) '; null when not charged"),
    "memcg_offline": ("bool_", "the memcg was 'offline '; null when not charged"),
    "blank_after": ("int64", "blank lines after the record (1 normally, 0 on an unterminated last record)"),
    "raw": ("string", "the record's exact text when the columns cannot render it; else null (see NOT_UTF8)"),
    "parse_error": ("string", "why the record did not parse, then NOT_UTF8 if it is not UTF-8; else null"),
}


#: The ``parse_error`` of a record whose bytes are not valid UTF-8, and the end of it when the
#: record did not parse either (``"<why>; <NOT_UTF8>"``); a record that is only not UTF-8 did
#: parse, and its columns hold its text with U+FFFD for the bad bytes.  Arrow strings must be
#: UTF-8, so such a record's ``raw`` holds its bytes decoded as Latin-1, one character per
#: byte: ``raw.encode("latin-1")`` gives them back exactly (``cat`` and ``sort`` do so).  The
#: text itself marks those rows, so changing it changes the schema (SCHEMA_VERSION).
NOT_UTF8 = "record is not valid UTF-8 text; `raw` holds its bytes decoded as Latin-1"


@cache
def arrow_schema() -> pa.Schema:
    """The table's Arrow schema: what ``scan`` and ``read_dump`` return, each field described."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(name, getattr(pa, typ)(), metadata={DESCRIPTION_KEY: text}) for name, (typ, text) in COLUMNS.items()]
    )


@cache
def write_schema() -> pa.Schema:
    """The batches the parser makes.

    ``stack`` stays dictionary-encoded from the parser to the Parquet writer (one
    copy of each distinct stack per row group).  The file does not store this
    Arrow schema, so readers see ``stack`` as the plain string of :func:`arrow_schema`.
    """
    import pyarrow as pa

    return pa.schema(
        [pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name == "stack" else f for f in arrow_schema()]
    )


def __getattr__(name: str) -> Any:
    # ARROW_SCHEMA and WRITE_SCHEMA read like constants but are built on first use.
    if name == "ARROW_SCHEMA":
        return arrow_schema()
    if name == "WRITE_SCHEMA":
        return write_schema()
    raise AttributeError(f"module 'pagecols.schema' has no attribute {name!r}")


#: Columns whose values repeat a lot; written dictionary-encoded to Parquet.
DICTIONARY_COLUMNS = (
    "order",
    "pages",
    "gfp_mask",
    "pid",
    "tgid",
    "gfp_flags",
    "comm",
    "migratetype",
    "block_migratetype",
    "page_flags",
    "allocator",
    "stack",
    "stack_hash",
    "module",
    "where",
    "migrate_reason",
    "memcg",
)

#: Columns that mostly climb (input order, PFNs in a linear walk); written as deltas.
DELTA_COLUMNS = ("record", "line", "pfn", "block")

#: Columns with min/max statistics in each row group, for filters on them to skip row
#: groups.  Statistics of the other columns filter little and cost a fifth of the write.
STATISTICS_COLUMNS = ("record", "pfn", "order", "pages", "pid", "tgid", "comm", "ts", "free_ts", "block", "handle")

#: Parquet page compression.  LZ4_RAW rather than zstd: the dictionaries and
#: deltas above leave little for a stronger codec to find, so the file grows only from 2.4 % to
#: 3.1 % of the text (1 GiB dump), while the writer needs a third less CPU (0.77 -> 0.50 s) and
#: a convert ~8 % less wall time; reading is as fast.
COMPRESSION = "lz4_raw"

#: Header-era names as detected by the parser, oldest first (page-owner-format.md A.2).
ERAS = ("3.19", "4.6", "5.11", "5.12", "5.18", "6.5", "6.7", "mm-2026")


@dataclass(frozen=True)
class DumpMeta:
    """What pagecols writes into the Parquet key-value metadata under ``pagecols``."""

    source: str
    format: str
    records: int
    leading_blank_lines: int = 0
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {
            "schema_version": self.schema_version,
            "source": self.source,
            "format": self.format,
            "records": self.records,
            "leading_blank_lines": self.leading_blank_lines,
            **self.extra,
        }
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> DumpMeta:
        body = json.loads(data)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        kinds = {"schema_version": int, "source": str, "format": str, "records": int, "leading_blank_lines": int}
        for key, kind in kinds.items():
            if key not in body and key != "leading_blank_lines":
                raise ValueError(f"no `{key}`")
            value = body.get(key, 0)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"`{key}` is {json.dumps(value)}, not {'a number' if kind is int else 'a string'}")
        known = set(kinds)
        return cls(
            source=body["source"],
            format=body["format"],
            records=body["records"],
            leading_blank_lines=body.get("leading_blank_lines", 0),
            schema_version=body["schema_version"],
            extra={k: v for k, v in body.items() if k not in known},
        )
