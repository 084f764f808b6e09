"""The parser, line kind by line kind, on small hand-written records."""

from __future__ import annotations

import gzip
import io
import lzma
from pathlib import Path

import polars as pl
import pytest
import zstandard

import pagecols
from pagecols import parse
from pagecols.errors import InputError, ParseError
from pagecols.parse import is_vmalloc, stack_hash, stack_module
from pagecols.schema import NOT_UTF8

HEADER_63 = (
    "Page allocated via order {order}, mask 0x{mask:x}(GFP_KERNEL), pid {pid}, tgid {tgid} ({comm}), "
    "ts {ts} ns, free_ts {free_ts} ns"
)
STACK = " post_alloc_hook+0x1a5/0x1d0\n get_page_from_freelist+0x3e4/0x1520\n __alloc_pages+0x17c/0x330\n"


def record_63(
    *,
    order: int = 0,
    mask: int = 0xCC0,
    pid: int = 2345,
    tgid: int = 2301,
    comm: str = "Web Content",
    ts: int = 1_000,
    free_ts: int = 0,
    pfn_line: str = "PFN 262144 type Unmovable Block 512 type Unmovable Flags 0x17ffffc0000000(node=0|zone=2)",
    stack: str = STACK,
    trailers: str = "",
) -> str:
    header = HEADER_63.format(order=order, mask=mask, pid=pid, tgid=tgid, comm=comm, ts=ts, free_ts=free_ts)
    return f"{header}\n{pfn_line}\n{stack}{trailers}\n"


def parse_text(tmp_path: Path, text: str | bytes) -> pl.DataFrame:
    path = tmp_path / "dump.txt"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return pagecols.read_dump(path)


def cat_bytes(source: Path) -> bytes:
    out = io.BytesIO()
    pagecols.cat(source, out)
    return out.getvalue()


def test_header_fields_of_the_63_format(tmp_path: Path) -> None:
    df = parse_text(tmp_path, record_63(order=3, mask=0x100CCA, pid=7, tgid=5, comm="kworker/u8:3", ts=42, free_ts=9))
    row = df.row(0, named=True)
    assert (row["order"], row["pages"], row["gfp_mask"], row["gfp_flags"]) == (3, 8, 0x100CCA, "GFP_KERNEL")
    assert (row["pid"], row["tgid"], row["comm"], row["ts"], row["free_ts"]) == (7, 5, "kworker/u8:3", 42, 9)
    assert (row["pfn"], row["pfn_hex"], row["block"]) == (262144, False, 512)
    assert (row["migratetype"], row["block_migratetype"]) == ("Unmovable", "Unmovable")
    assert row["page_flags"] == "0x17ffffc0000000(node=0|zone=2)"
    assert row["stack"] == STACK.rstrip("\n")
    assert row["stack_hash"] == stack_hash(STACK.rstrip("\n"))
    assert (row["raw"], row["parse_error"], row["record"], row["line"]) == (None, None, 0, 1)


@pytest.mark.parametrize(
    "comm",
    ["Web Content", "(sd-pam)", "a, b", "x), ts 5 ns", "CPU 0/KVM", "", "averyveryverylongcommandname_beyond_16"],
    ids=["spaces", "parens", "comma", "fake-ts", "slash", "empty", "long"],
)
def test_any_comm_parses_and_round_trips(tmp_path: Path, comm: str) -> None:
    text = record_63(comm=comm, ts=77, free_ts=3)
    df = parse_text(tmp_path, text)
    assert df["comm"].to_list() == [comm]
    assert df["ts"].to_list() == [77]
    assert df["free_ts"].to_list() == [3]
    assert df["raw"].to_list() == [None]
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_a_record_that_is_not_utf8_keeps_its_bytes(tmp_path: Path) -> None:
    """A comm is bytes, and need not be UTF-8.  Such a record keeps its bytes in ``raw``,
    decoded as Latin-1, and ``cat`` gives them back exactly, from the text and from the
    Parquet file; the records beside it parse as usual."""
    odd = record_63(comm="ab\udce9c", ts=5).encode("utf-8", "surrogateescape")
    valid = [record_63(comm=comm).encode() for comm in ("caf\u00e9", "\U0001f600", "\ufffd")]
    text = b"\n".join([valid[0], odd, valid[1], valid[2]])
    df = parse_text(tmp_path, text)
    # A valid U+FFFD is no sign of a bad byte, even beside one.
    assert df["parse_error"].to_list() == [None, NOT_UTF8, None, None]
    assert df["comm"].to_list()[::2] == ["caf\u00e9", "\U0001f600"]
    assert df["comm"][3] == "\ufffd"
    assert df["raw"][1].encode("latin-1") + b"\n\n" == odd
    assert cat_bytes(tmp_path / "dump.txt") == text
    pagecols.convert(tmp_path / "dump.txt", tmp_path / "dump.parquet")
    assert cat_bytes(tmp_path / "dump.parquet") == text
    # One that does not parse either says why, then that it is not UTF-8.
    bad = b"Page allocated via order x \xff\n"
    df = parse_text(tmp_path, text + b"\n" + bad)
    assert df["parse_error"][-1] == f"malformed header line; {NOT_UTF8}"
    assert df["raw"][-1].encode("latin-1") == bad.rstrip(b"\n")
    assert cat_bytes(tmp_path / "dump.txt") == text + b"\n" + bad
    # Alone, such a record is still a page_owner record, not an input to refuse.
    (tmp_path / "alone.txt").write_bytes(odd)
    assert pagecols.info(tmp_path / "alone.txt")["format"] == "5.18"
    assert cat_bytes(tmp_path / "alone.txt") == odd


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Page allocated via order 1, mask 0x200d2", {"gfp_flags": None, "pid": None, "ts": None}),
        ("Page allocated via order 1, mask 0x24200ca(GFP_HIGHUSER_MOVABLE)", {"gfp_flags": "GFP_HIGHUSER_MOVABLE"}),
        ("Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 9, ts 55 ns", {"pid": 9, "ts": 55, "tgid": None}),
        (
            "Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 9, ts 55 ns, free_ts 4 ns",
            {"pid": 9, "ts": 55, "free_ts": 4, "comm": None},
        ),
        (
            "Page allocated via order 0, mask 0x0(), pid 1, tgid 1 (swapper/0), ts 1170841167 ns",
            {"gfp_mask": 0, "gfp_flags": "", "tgid": 1, "comm": "swapper/0", "ts": 1170841167, "free_ts": None},
        ),
    ],
    ids=["3.19", "4.6", "5.11", "5.12", "6.7"],
)
def test_every_header_era(tmp_path: Path, header: str, expected: dict[str, object]) -> None:
    text = f"{header}\nPFN 0x1000 type Unmovable Block 8 type Unmovable Flags 0xfffffc0000000(node=0|zone=1)\n{STACK}\n"
    df = parse_text(tmp_path, text)
    row = df.row(0, named=True)
    for key, value in expected.items():
        assert row[key] == value, key
    assert row["parse_error"] is None
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_hex_and_legacy_pfn_lines(tmp_path: Path) -> None:
    hex_line = "PFN 0x1f00 type Movable Block 15 type Movable Flags 0x2ffff(lru|node=0|zone=1)"
    legacy = "PFN 4096 Block 8 type 0 Fallback Flags K  U         "
    text = record_63(pfn_line=hex_line) + "\n" + record_63(pfn_line=legacy)
    df = parse_text(tmp_path, text)
    assert df["pfn"].to_list() == [0x1F00, 4096]
    assert df["pfn_hex"].to_list() == [True, None]
    assert df["block"].to_list() == [15, 8]
    # The old layout is known, so it is not an error; its exact text is kept.
    assert df["parse_error"].to_list() == [None, None]
    assert df["raw"].is_null().to_list() == [True, False]
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_trailers_are_columns(tmp_path: Path) -> None:
    trailers = (
        "handle: 7340039\n"
        "Page has been migrated, last migrate reason: compaction\n"
        "Slab cache page\n"
        "Charged (via objcg) to offline memcg app\\x2dserver.scope\n"
    )
    text = record_63(trailers=trailers) + "\n" + record_63(trailers="Charged to memcg session-2.scope\n")
    df = parse_text(tmp_path, text)
    assert df["handle"].to_list() == [7340039, None]
    assert df["migrate_reason"].to_list() == ["compaction", None]
    assert df["slab_cache_page"].to_list() == [True, False]
    assert df["memcg"].to_list() == ["app\\x2dserver.scope", "session-2.scope"]
    assert df["memcg_via_objcg"].to_list() == [True, False]
    assert df["memcg_offline"].to_list() == [True, False]
    assert df["stack"].to_list() == [STACK.rstrip("\n")] * 2
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_allocator_rules_of_b4(tmp_path: Path) -> None:
    cma = "PFN 262144 type Movable Block 512 type CMA Flags 0x17ffffc0000000(node=0|zone=2)"
    slab = "PFN 262145 type Unmovable Block 512 type Unmovable Flags 0x17ffffc0000200(slab|node=0|zone=2)"
    vmalloc = " post_alloc_hook+0x1/0x2\n __alloc_pages_bulk+0x1/0x2\n __vmalloc_node_range+0x1/0x2\n"
    between = " __alloc_pages_bulk+0x1/0x2\n __vmalloc_area_node+0x1/0x2\n __vmalloc_node_range+0x1/0x2\n"
    text = "\n".join(
        [record_63(pfn_line=cma), record_63(pfn_line=slab), record_63(stack=vmalloc), record_63(stack=between)]
    )
    df = parse_text(tmp_path, text)
    assert df["allocator"].to_list() == ["CMA", "SLAB", "VMALLOC", "OTHERS"]


def test_stack_helpers() -> None:
    assert stack_module(" a+0x1/0x2\n nf_hook+0x44/0xc0 [nf_tables]\n b+0x1/0x2 [xfs]") == "nf_tables"
    assert stack_module(" xfs_buf+0x1c/0x80 [xfs 3f1e9a]") == "xfs"
    assert stack_module(" a+0x1/0x2") == "vmlinux"
    assert is_vmalloc(" vm_area_alloc_pages+0x1/0x2\n __vmalloc_node_range_noprof+0x1/0x2")
    assert not is_vmalloc(" __vmalloc_node_range+0x1/0x2\n __alloc_pages_bulk+0x1/0x2")
    assert stack_hash("x") == stack_hash("x") != stack_hash("y")


def test_record_boundaries_blank_runs_and_unterminated_last(tmp_path: Path) -> None:
    first, second, third = record_63(ts=1), record_63(ts=2), record_63(ts=3).rstrip("\n")
    text = "\n\n" + first + "\n\n" + second + "\n" + third  # leading blanks, a run of 3, no final blank
    df = parse_text(tmp_path, text)
    assert df["ts"].to_list() == [1, 2, 3]
    assert df["blank_after"].to_list() == [3, 2, 0]
    assert df["line"].to_list() == [3, 11, 18]
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_missing_final_newline_round_trips(tmp_path: Path) -> None:
    text = record_63().rstrip("\n")
    df = parse_text(tmp_path, text)
    assert df["stack"].to_list() == [STACK.rstrip("\n")]
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_crlf_is_normalised(tmp_path: Path) -> None:
    text = record_63() + "\n" + record_63(ts=5)
    df = parse_text(tmp_path, text.replace("\n", "\r\n"))
    assert df.height == 2
    assert df["parse_error"].null_count() == 2
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, lzma.compress, lambda b: zstandard.ZstdCompressor().compress(b)],
    ids=["gzip", "xz", "zstd"],
)
def test_compressed_input_found_by_content(tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    text = (record_63(ts=1) + "\n" + record_63(ts=2)).encode()
    path = tmp_path / "dump.bin"  # the name says nothing about the compression
    path.write_bytes(compress(text))
    assert pagecols.read_dump(path)["ts"].to_list() == [1, 2]
    assert cat_bytes(path) == text


def test_malformed_records_are_kept_with_a_note(tmp_path: Path) -> None:
    broken_header = "Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid , tgid 1 (x), ts 5 ns, free_ts 0 ns"
    text = (
        record_63(ts=1)
        + "\n"
        + f"{broken_header}\n{STACK}\n"
        + "hello there\n\n"
        + record_63(ts=3, trailers="Unexpected trailer\n")
    )
    df = parse_text(tmp_path, text)
    assert df.height == 4
    assert df["parse_error"].to_list() == [
        None,
        "malformed header line",
        "record does not start with a 'Page allocated via order' header",
        "unrecognised line in record",
    ]
    assert df["raw"][1] == f"{broken_header}\n{STACK}".rstrip("\n")
    assert df["ts"].to_list() == [1, None, None, 3]
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_leading_zeros_and_huge_numbers_keep_their_text(tmp_path: Path) -> None:
    header = "Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 007, tgid 1 (x), ts 99999999999999999999999 ns"
    text = record_63() + f"{header}\n{STACK}"
    df = parse_text(tmp_path, text)
    assert df["parse_error"].to_list() == [None, "number out of range"]
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


def test_strict_stops_at_the_first_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "dump.txt"
    path.write_text(record_63() + "\n" + record_63(trailers="not a page_owner line\n"))
    with pytest.raises(ParseError) as err:
        pagecols.convert(path, tmp_path / "out.parquet", strict=True)
    assert err.value.line == 13
    assert str(err.value) == f"{path}:13: unrecognised line in record: 'not a page_owner line'"
    assert not list(tmp_path.glob("*.parquet*")), "no output, not even a temporary file"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty input"),
        (b"\n\n\n", "empty input"),
        (b"hello\nworld\n", "not a page_owner dump"),
        (bytes(range(256)) * 64, "not a page_owner dump"),
        (gzip.compress(record_63().encode() * 50)[:-40], "corrupt or truncated"),
        (b"x" * (1 << 20) + b"\n", "not a page_owner dump"),
    ],
    ids=["empty", "blank-lines", "text", "binary", "truncated-gzip", "1mb-line"],
)
def test_bad_inputs_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        pagecols.convert(path, tmp_path / "out.parquet")
    assert not list(tmp_path.glob("*.parquet*"))


def test_text_without_record_boundaries_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pagecols import source

    monkeypatch.setattr(source, "MAX_RECORD_BYTES", 1 << 16)
    path = tmp_path / "in.txt"
    path.write_bytes(b"no blank line here\n" * 20_000)
    with pytest.raises(InputError, match=r"no blank line in [0-9,]+ bytes: not a page_owner dump"):
        list(source.chunks(path, chunk_bytes=1 << 15))


def test_hex_rendering_matches_printf() -> None:
    from pagecols.textfmt import hex_expr

    values = [0, 1, 9, 10, 15, 16, 255, 256, 0xCC0, 0x100CCA, 2**63, 2**64 - 1, *range(4096, 4200)]
    out = pl.DataFrame({"v": [*values, None]}, schema={"v": pl.UInt64}).select(hex_expr("v")).to_series()
    assert out.to_list() == [f"{v:x}" for v in values] + [None]


def test_clean_headers_stay_on_the_vectorised_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # The per-line re-parse is for the few headers the column expressions cannot render back;
    # a clean dump taking it would still be right, only slow, so nothing else would notice.
    def no_slow_path(df: pl.DataFrame) -> pl.DataFrame:
        raise AssertionError(f"slow header re-parse ran on {df.height} lines")

    monkeypatch.setattr(parse, "_reparse_strict", no_slow_path)
    df = pagecols.read_dump(Path(__file__).resolve().parent.parent / "data" / "handmade-6.3.txt")
    assert df.height == 18
    assert df["raw"].null_count() == df.height


SPELLINGS = [
    ("Page allocated via order 0,", "Page allocated via order +0,", "number not spelled as the kernel prints it"),
    ("pid 2345,", "pid +10,", "number not spelled as the kernel prints it"),
    ("tgid 2301 ", "tgid 02301 ", "number not spelled as the kernel prints it"),
    ("mask 0xcc0(", "mask 0xCC0(", "number not spelled as the kernel prints it"),
    ("ts 1000 ns", "ts +1000 ns", "number not spelled as the kernel prints it"),
    ("Block 512 ", "Block +5 ", "malformed PFN line"),
    ("PFN 262144 ", "PFN +262144 ", "malformed PFN line"),
    ("PFN 262144 ", "PFN 0x+40000 ", "malformed PFN line"),
    ("PFN 262144 ", "PFN 0x4000A ", "malformed PFN line"),
]


@pytest.mark.parametrize(("good", "bad", "error"), SPELLINGS, ids=[bad.strip(" ,(") for _, bad, _ in SPELLINGS])
def test_other_spellings_of_a_number_keep_their_text(tmp_path: Path, good: str, bad: str, error: str) -> None:
    # Polars reads "+0", "0xCC0" and "007" as numbers; `cat` printed them back as "0", "0xcc0", "7".
    record = record_63()
    assert good in record
    text = record_63(ts=1) + "\n" + record.replace(good, bad, 1)
    df = parse_text(tmp_path, text)
    assert df["parse_error"].to_list() == [None, error]
    assert df["raw"][1] == record.replace(good, bad, 1).rstrip("\n")
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()


@pytest.mark.parametrize("order", [21, 63, 64, 255])
def test_an_order_beyond_max_order_keeps_its_text_and_counts_no_pages(tmp_path: Path, order: int) -> None:
    from pagecols.formats import MAX_ORDER

    text = record_63(order=MAX_ORDER) + "\n" + record_63(order=order) + "\n" + record_63(order=order)
    df = parse_text(tmp_path, text)
    assert df["parse_error"].to_list() == [None, f"order above {MAX_ORDER}", f"order above {MAX_ORDER}"]
    assert df["pages"].to_list() == [1 << MAX_ORDER, None, None]
    assert pagecols.info(tmp_path / "dump.txt")["pages"] == 1 << MAX_ORDER
    assert cat_bytes(tmp_path / "dump.txt") == text.encode()
