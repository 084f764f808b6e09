"""Schema 5: signed types any engine reads, described columns, ``where`` stored, older files upgraded."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pagecols import formats as F
from pagecols import frames, ingest, schema, synth, textout
from pagecols.derive import where_expr
from pagecols.errors import InputError

DATA = Path(__file__).resolve().parent.parent / "data"
REAL = DATA / "linux-6.12-memcg.page_owner.txt.gz"

#: A 5.18-era record; its timestamp is replaced in the tests below.
RECORD = (
    "Page allocated via order 0, mask 0x12cc0(GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY), pid 1, tgid 1 "
    "(systemd), ts {ts} ns, free_ts 0 ns\n"
    "PFN 4096 type Unmovable Block 8 type Unmovable Flags 0x0(zone=1)\n"
    " post_alloc_hook+0x1/0x2\n"
    " security_inode_alloc+0x1/0x2\n"
    "\n"
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("v4") / "real.parquet"
    ingest.convert(REAL, out)
    return out


def test_no_stored_column_is_unsigned(converted: Path) -> None:
    stored = pq.ParquetFile(converted).schema
    for i in range(len(stored)):
        column = stored.column(i)
        assert "UINT" not in str(column.logical_type), f"{column.name} is {column.logical_type}"
    read = pq.read_schema(converted)
    assert not [f.name for f in read if pa.types.is_unsigned_integer(f.type)]
    assert read.field("order").type == pa.int16()
    assert read.field("stack_hash").type == pa.int64()


def test_every_column_carries_its_description(converted: Path) -> None:
    read = pq.read_schema(converted)
    assert read.names == list(schema.COLUMNS)
    for name, (_, text) in schema.COLUMNS.items():
        assert read.field(name).metadata == {schema.DESCRIPTION_KEY.encode(): text.encode()}
    # The Arrow schema stored for the descriptions does not make `stack` a categorical.
    assert pl.read_parquet_schema(converted)["stack"] == pl.String
    # ... nor hide pagecols' own metadata from pyarrow, which reads the file's from it.
    assert schema.METADATA_KEY in pq.read_table(converted).schema.metadata


def test_stack_hash_is_blake2b_with_the_same_bits_signed(converted: Path) -> None:
    df = pl.read_parquet(converted, columns=["stack", "stack_hash"]).unique("stack_hash")
    assert (df["stack_hash"] < 0).any(), "half of all hashes have the top bit set"
    for stack, hashed in df.head(50).iter_rows():
        digest = hashlib.blake2b(stack.encode(), digest_size=8).digest()
        assert hashed == int.from_bytes(digest, "big", signed=True)
        assert hashed & (2**64 - 1) == int.from_bytes(digest, "big")


def test_where_is_stored_as_the_reports_compute_it(converted: Path) -> None:
    df = pl.read_parquet(converted, columns=["stack", "where"])
    assert df["where"].null_count() == 0
    assert df["where"].to_list() == df.select(where_expr())["where"].to_list()
    assert df["where"].value_counts(sort=True)["where"][0] == "register_early_stack"


def _cat(path: Path) -> bytes:
    out = io.BytesIO()
    textout.cat(path, out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("ts", "stored"),
    [
        pytest.param(2**63 - 1, True, id="largest-signed"),
        pytest.param(2**63, False, id="2-to-the-63"),
        pytest.param(2**64 - 1, False, id="largest-unsigned"),
    ],
)
def test_a_number_too_big_for_int64_keeps_the_records_text(tmp_path: Path, ts: int, stored: bool) -> None:
    text = (RECORD.format(ts=5) + RECORD.format(ts=ts)).encode()
    dump = tmp_path / "big.txt"
    dump.write_bytes(text)
    out = tmp_path / "big.parquet"
    report = ingest.convert(dump, out)
    row = pl.read_parquet(out).row(1, named=True)
    assert (row["ts"] == ts) is stored
    assert (row["raw"] is None) is stored
    assert report.unparsed == (0 if stored else 1)
    if not stored:
        assert row["parse_error"] == "number out of range"
    assert _cat(out) == text


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("PFN 9223372036854775808 type Unmovable Block 8 type Unmovable Flags 0x0()", id="pfn"),
        pytest.param("PFN 0x8000000000000000 type Unmovable Block 8 type Unmovable Flags 0x0()", id="hex-pfn"),
        pytest.param("PFN 4096 type Unmovable Block 9223372036854775808 type Unmovable Flags 0x0()", id="block"),
    ],
)
def test_a_pfn_line_too_big_for_int64_keeps_the_records_text(tmp_path: Path, line: str) -> None:
    big = RECORD.format(ts=6).replace("PFN 4096 type Unmovable Block 8 type Unmovable Flags 0x0(zone=1)", line)
    text = RECORD.format(ts=5) + big
    dump = tmp_path / "big.txt"
    dump.write_text(text)
    ingest.convert(dump, tmp_path / "big.parquet")
    row = pl.read_parquet(tmp_path / "big.parquet").row(1, named=True)
    assert row["parse_error"] == "number out of range"
    assert _cat(tmp_path / "big.parquet") == text.encode()


def test_max_order_is_the_largest_with_pages(tmp_path: Path) -> None:
    top, above = F.MAX_ORDER, F.MAX_ORDER + 1
    text = RECORD.format(ts=5).replace("order 0", f"order {top}")
    text += RECORD.format(ts=6).replace("order 0", f"order {above}")
    dump = tmp_path / "orders.txt"
    dump.write_text(text)
    ingest.convert(dump, tmp_path / "o.parquet")
    df = pl.read_parquet(tmp_path / "o.parquet")
    assert df["pages"].to_list() == [2**top, None]
    assert df["parse_error"].to_list() == [None, f"order above {top}"]
    assert _cat(tmp_path / "o.parquet") == text.encode()


# --- files of schema 1-4 -------------------------------------------------------------------------

_OLD_TYPES = {
    "record": pa.uint64(),
    "line": pa.uint64(),
    "pfn": pa.uint64(),
    "order": pa.uint8(),
    "pages": pa.uint64(),
    "gfp_mask": pa.uint64(),
    "ts": pa.uint64(),
    "free_ts": pa.uint64(),
    "block": pa.uint64(),
    "handle": pa.uint32(),
    "blank_after": pa.uint32(),
}


def write_old(table: pa.Table, path: Path, meta: bytes, *, version: int = 3) -> None:
    """``table`` (schema 5) written as pagecols wrote schema ``version``: unsigned, no ``where``."""
    columns = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name == "where":
            continue
        if name == "stack_hash":
            col = col.view(pa.uint64())
        elif name in _OLD_TYPES:
            col = pc.cast(col, _OLD_TYPES[name])
        columns[name] = col
    body = json.loads(meta)
    body["schema_version"] = version
    old = pa.table(columns)
    with pq.ParquetWriter(path, old.schema, store_schema=False) as writer:
        writer.write_table(old)
        writer.add_key_value_metadata({schema.METADATA_KEY: json.dumps(body).encode()})


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_a_file_of_an_older_schema_reads_as_schema_5(tmp_path: Path, converted: Path, version: int) -> None:
    table = pq.read_table(converted)
    old = tmp_path / f"v{version}.parquet"
    write_old(table, old, pq.read_metadata(converted).metadata[schema.METADATA_KEY], version=version)
    assert pq.read_schema(old).field("stack_hash").type == pa.uint64()

    upgraded = frames.read_dump(old)
    assert upgraded.schema == frames.read_dump(converted).schema
    assert upgraded.equals(frames.read_dump(converted))
    assert _cat(old) == _cat(converted)
    assert frames.info(old) == frames.info(converted)


def test_an_old_file_with_a_number_past_int64_keeps_its_text(tmp_path: Path) -> None:
    """Schema 4 stored 2**63 <= n < 2**64 as a number; read as schema 5, its record keeps the text."""
    text = RECORD.format(ts=5) + RECORD.format(ts=7).replace("PFN 4096", "PFN 9223372036854775809")
    dump = tmp_path / "d.txt"
    dump.write_text(text)
    ingest.convert(dump, tmp_path / "new.parquet")
    table = pq.read_table(tmp_path / "new.parquet")
    # As schema 4 stored it: the big PFN as a number, no raw text.
    rows = table.to_pylist()
    rows[1] |= {"pfn": 9223372036854775809, "raw": None, "parse_error": None}
    unsigned = pa.schema([pa.field(f.name, _OLD_TYPES.get(f.name, f.type)) for f in table.schema])
    old = pa.Table.from_pylist(rows, schema=unsigned)
    write_old(old, tmp_path / "old.parquet", pq.read_metadata(tmp_path / "new.parquet").metadata[schema.METADATA_KEY])

    df = frames.read_dump(tmp_path / "old.parquet")
    assert df["pfn"].to_list() == [4096, None]
    assert df["raw"][1] == text.split("\n\n")[1]
    assert _cat(tmp_path / "old.parquet") == text.encode()


def test_a_newer_schema_is_refused(tmp_path: Path, converted: Path) -> None:
    table = pq.read_table(converted)
    meta = json.loads(pq.read_metadata(converted).metadata[schema.METADATA_KEY])
    meta["schema_version"] = schema.SCHEMA_VERSION + 1
    pq.write_table(table.replace_schema_metadata({schema.METADATA_KEY: json.dumps(meta).encode()}), tmp_path / "n.pq")
    with pytest.raises(InputError, match="newer pagecols"):
        frames.scan(tmp_path / "n.pq")


def test_a_synthetic_dump_round_trips_with_signed_types(tmp_path: Path) -> None:
    dump = tmp_path / "s.txt"
    synth.write_dump(dump, records=300, seed=11, era="mm-2026")
    ingest.convert(dump, tmp_path / "s.parquet")
    assert _cat(tmp_path / "s.parquet") == dump.read_bytes()
    assert frames.read_dump(tmp_path / "s.parquet")["handle"].dtype == pl.Int64


def test_a_hash_is_shown_by_its_bits() -> None:
    from pagecols.derive import hash_text

    shown = hash_text(pl.Series([-1, 0x1234 << 48, None], dtype=pl.Int64), short=True).to_list()
    assert shown[:2] == ["0xffffffff", "0x12340000"]
