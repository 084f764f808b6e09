"""The one place that names pagecols' columns, their types and the Parquet metadata.

A row is one page_owner record, in input order. Columns hold the kernel's facts
as printed (DECISIONS.md §3): nothing here carries page_owner_sort's quirks.

Losslessness: the text of a record is rendered back from these columns
(``textout``). A record whose text the strict line patterns did not fully
account for keeps its exact text in ``raw`` instead, so ``cat`` is always
byte-exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 1
METADATA_KEY = b"pagecols"

# Allocator labels, in the order page_owner_sort prints them (B.4); a record
# with none of the first three is OTHERS.  Stored joined by "|".
ALLOCATORS = ("CMA", "SLAB", "VMALLOC", "OTHERS")

#: column name -> (arrow type, description).  Order is the Parquet column order.
COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "record": (pa.uint64(), "0-based position of the record in the input"),
    "line": (pa.uint64(), "1-based input line of the record's first line"),
    "pfn": (pa.uint64(), "page frame number of the (head) page; null without a PFN line"),
    "order": (pa.uint8(), "allocation order"),
    "pages": (pa.uint64(), "base pages in the allocation, 2**order"),
    "gfp_mask": (pa.uint64(), "the gfp mask as a number"),
    "gfp_flags": (pa.string(), "the gfp flag names as printed, joined by '|'; null before 4.6"),
    "pid": (pa.int32(), "pid of the allocating task; null before 5.11"),
    "tgid": (pa.int32(), "tgid of the allocating task; null before 5.18"),
    "comm": (pa.string(), "command name of the allocating task; null before 5.18"),
    "ts": (pa.uint64(), "allocation time, ns since boot; null before 5.11"),
    "free_ts": (pa.uint64(), "time of the page's previous free, ns; null before 5.12 and from 6.7"),
    "pfn_hex": (pa.bool_(), "the PFN was printed in hex (6.5+)"),
    "migratetype": (pa.string(), "the page's migratetype (from its gfp mask)"),
    "block": (pa.uint64(), "pageblock number, pfn >> pageblock_order"),
    "block_migratetype": (pa.string(), "the pageblock's migratetype"),
    "page_flags": (pa.string(), "the page flags as printed after 'Flags '"),
    "allocator": (pa.string(), "CMA, SLAB, VMALLOC joined by '|', else OTHERS (spec B.4)"),
    "stack": (pa.string(), "the stack lines as printed (leading space kept), joined by '\\n'"),
    "stack_hash": (pa.uint64(), "64-bit BLAKE2b of `stack`: stable across files and versions"),
    "module": (pa.string(), "first `[module]` among the frames, else 'vmlinux'"),
    "handle": (pa.uint32(), "stack depot handle (2026 mm tree, mode=handle|stack_handle)"),
    "migrate_reason": (pa.string(), "last migrate reason, when the page was migrated"),
    "slab_cache_page": (pa.bool_(), "the record has a 'Slab cache page' line"),
    "memcg": (pa.string(), "name of the memcg the page is charged to"),
    "memcg_via_objcg": (pa.bool_(), "charged '(via objcg) '; null when not charged"),
    "memcg_offline": (pa.bool_(), "the memcg was 'offline '; null when not charged"),
    "blank_after": (
        pa.uint32(),
        "blank lines after the record (1 normally, 0 on an unterminated last record)",
    ),
    "raw": (pa.string(), "the record's exact text when the columns cannot render it; else null"),
    "parse_error": (pa.string(), "why the record did not parse; null when it did"),
}

ARROW_SCHEMA = pa.schema([pa.field(name, typ) for name, (typ, _) in COLUMNS.items()])

#: The batches the parser makes: ``stack`` stays dictionary-encoded from the parser to the
#: Parquet writer (one copy of each distinct stack per row group).  The file does not store
#: this Arrow schema, so readers see ``stack`` as the plain string of ARROW_SCHEMA.
WRITE_SCHEMA = pa.schema(
    [pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name == "stack" else f for f in ARROW_SCHEMA]
)

#: Columns whose values repeat a lot; written dictionary-encoded to Parquet.
DICTIONARY_COLUMNS = (
    "gfp_flags",
    "comm",
    "migratetype",
    "block_migratetype",
    "page_flags",
    "allocator",
    "stack",
    "stack_hash",
    "module",
    "migrate_reason",
    "memcg",
)

#: Header-era names as detected by the parser, oldest first (spec A.2).
ERAS = ("3.19", "4.6", "5.11", "5.12", "5.18", "6.5", "6.7")


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
    def from_bytes(cls, data: bytes) -> DumpMeta:
        body = json.loads(data)
        known = {"schema_version", "source", "format", "records", "leading_blank_lines"}
        return cls(
            source=body["source"],
            format=body["format"],
            records=body["records"],
            leading_blank_lines=body.get("leading_blank_lines", 0),
            schema_version=body["schema_version"],
            extra={k: v for k, v in body.items() if k not in known},
        )
