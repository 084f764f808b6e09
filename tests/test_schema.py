"""The table's public contract: column names and types, the largest values, the schema-version guard.

The types are written out by hand below rather than taken from ``pagecols.schema``: a test
built from the same dict as the code cannot notice a change, and a change of a public
type is a decision for users' notebooks and for files already converted.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import pagecols
from pagecols import compat
from pagecols.schema import METADATA_KEY, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "handmade-6.3.txt"
OLD = Path(__file__).resolve().parent / "fixtures" / "old-schemas"

#: Every column of a converted dump, in file order, with its polars type.  Change it only
#: with the schema (and SCHEMA_VERSION) on purpose.  Schema 5 made every integer signed (Spark,
#: Trino and BigQuery have no unsigned types), `order` 16-bit, and stored `where`.
PUBLIC_TYPES: dict[str, pl.DataType] = {
    "record": pl.Int64(),
    "line": pl.Int64(),
    "pfn": pl.Int64(),
    "order": pl.Int16(),
    "pages": pl.Int64(),
    "gfp_mask": pl.Int64(),
    "gfp_flags": pl.String(),
    "pid": pl.Int32(),
    "tgid": pl.Int32(),
    "comm": pl.String(),
    "ts": pl.Int64(),
    "free_ts": pl.Int64(),
    "pfn_hex": pl.Boolean(),
    "migratetype": pl.String(),
    "block": pl.Int64(),
    "block_migratetype": pl.String(),
    "page_flags": pl.String(),
    "allocator": pl.String(),
    "stack": pl.String(),
    "stack_hash": pl.Int64(),
    "module": pl.String(),
    "where": pl.String(),
    "handle": pl.Int64(),
    "migrate_reason": pl.String(),
    "slab_cache_page": pl.Boolean(),
    "memcg": pl.String(),
    "memcg_via_objcg": pl.Boolean(),
    "memcg_offline": pl.Boolean(),
    "blank_after": pl.Int64(),
    "raw": pl.String(),
    "parse_error": pl.String(),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schema") / "sample.parquet"
    pagecols.convert(SAMPLE, out)
    return out


def test_converted_columns_have_the_public_types(converted: Path) -> None:
    assert list(pagecols.scan(converted).collect_schema().items()) == list(PUBLIC_TYPES.items())


def test_text_dump_columns_have_the_public_types() -> None:
    assert list(pagecols.scan(SAMPLE).collect_schema().items()) == list(PUBLIC_TYPES.items())


U64_MAX = 2**64 - 1
I64_MAX = 2**63 - 1
STACK = " post_alloc_hook+0x1a5/0x1d0\n get_page_from_freelist+0x3e4/0x1520"


@pytest.mark.parametrize(
    ("largest", "pfn_hex", "stored"),
    [
        # %lu up to 6.4, 0x%lx from 6.5 (page-owner-format.md A.3).  Up to 2**63 - 1 the columns hold the
        # numbers (schema 5 is signed); the largest unsigned long keeps the record's text.
        pytest.param(I64_MAX, False, True, id="decimal-pfn-int64"),
        pytest.param(I64_MAX, True, True, id="hex-pfn-int64"),
        pytest.param(U64_MAX, False, False, id="decimal-pfn-u64"),
        pytest.param(U64_MAX, True, False, id="hex-pfn-u64"),
    ],
)
def test_largest_values_the_kernel_prints_round_trip(tmp_path: Path, largest: int, pfn_hex: bool, stored: bool) -> None:
    pfn_text = f"0x{largest:x}" if pfn_hex else str(largest)
    # pfn >> pageblock_order (9 on x86-64).
    block = largest >> 9
    text = (
        f"Page allocated via order 10, mask 0xffffffff(GFP_KERNEL), pid 4194304, tgid 4194304 (x), "
        f"ts {largest} ns, free_ts {largest} ns\n"
        f"PFN {pfn_text} type Movable Block {block} type Movable Flags 0x0(node=0|zone=0)\n"
        f"{STACK}\n\n"
    )
    if not stored:  # a dump has one record that parses at least
        text = text.replace(str(largest), "1").replace(f"0x{largest:x}", "0x1").replace(str(block), "0") + text
    dump = tmp_path / "dump.txt"
    dump.write_text(text)
    converted = tmp_path / "dump.parquet"
    pagecols.convert(dump, converted)
    for source in (dump, converted):
        row = pagecols.read_dump(source).row(-1, named=True)
        if stored:
            assert (row["raw"], row["parse_error"]) == (None, None), source
            assert (row["ts"], row["free_ts"]) == (largest, largest), source
            assert (row["pfn"], row["pfn_hex"], row["block"]) == (largest, pfn_hex, block), source
            assert (row["order"], row["pages"], row["gfp_mask"], row["pid"]) == (10, 1024, 0xFFFFFFFF, 4194304)
        else:
            assert (row["raw"], row["parse_error"]) == (text.split("\n\n")[1], "number out of range"), source
        out = io.BytesIO()
        pagecols.cat(source, out)
        assert out.getvalue() == text.encode()


# --- the schema-version guard ---------------------------------------------------------------------


def _with_schema_version(src: Path, dst: Path, version: int) -> None:
    table = pq.read_table(src)
    metadata = dict(table.schema.metadata or {})
    body = json.loads(metadata[METADATA_KEY])
    body["schema_version"] = version
    metadata[METADATA_KEY] = json.dumps(body, sort_keys=True).encode()
    pq.write_table(table.replace_schema_metadata(metadata), dst)


@pytest.mark.parametrize(
    "argv",
    [["info", "{}"], ["cat", "{}"], ["sort", "{}", "-"], ["top", "{}"]],
    ids=lambda argv: argv[0],
)
def test_a_file_from_a_newer_pagecols_is_refused(converted: Path, tmp_path: Path, argv: list[str]) -> None:
    newer = tmp_path / "newer.parquet"
    _with_schema_version(converted, newer, SCHEMA_VERSION + 1)
    command = [sys.executable, "-m", "pagecols", *(a.format(newer) for a in argv)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: {newer}: written by a newer pagecols (schema {SCHEMA_VERSION + 1}, this one reads {SCHEMA_VERSION})\n"
    )


def test_the_guard_passes_this_version(converted: Path, tmp_path: Path) -> None:
    same = tmp_path / "same.parquet"
    _with_schema_version(converted, same, SCHEMA_VERSION)
    assert pagecols.info(same)["records"] == pagecols.info(converted)["records"]


OLD_VERSIONS = sorted(int(p.stem.removeprefix("v")) for p in OLD.glob("v*.parquet"))


def test_every_older_version_has_a_fixture() -> None:
    missing = set(range(1, SCHEMA_VERSION)) - set(OLD_VERSIONS)
    assert not missing, f"no fixture of schema versions {missing}: see tests/fixtures/old-schemas/README.md"


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_files_of_older_versions_are_read(version: int) -> None:
    fixture = OLD / f"v{version}.parquet"
    source = OLD / "source.txt"
    assert json.loads(pl.read_parquet_metadata(fixture)[METADATA_KEY.decode()])["schema_version"] == version
    assert pagecols.info(fixture) == pagecols.info(source) | {"source": "source.txt"}
    out = io.BytesIO()
    pagecols.cat(fixture, out)
    assert out.getvalue() == source.read_bytes()
    for argv in ([], ["--cull=st,ator"], ["-m", "--cull=tg,f"]):
        from_parquet, from_text = io.BytesIO(), io.BytesIO()
        compat.sort(str(fixture), from_parquet, argv)
        compat.sort(str(source), from_text, argv)
        assert from_parquet.getvalue() == from_text.getvalue(), argv
