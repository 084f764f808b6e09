"""page_owner_stacks files (page-owner-format.md A.6) into the stacks table, and reports on them."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import polars as pl
import pytest
import zstandard
from test_analyze_data import blake

from pagecols import analyze, stacks
from pagecols.errors import InputError, ParseError, UsageError

SAMPLES = Path(__file__).resolve().parent.parent / "data"
REAL_STACKS = SAMPLES / "linux-6.12-memcg.show_stacks.txt.gz"
REAL_DUMP = SAMPLES / "linux-6.12-memcg.page_owner.txt.gz"

A = " get_page_from_freelist+0x330/0x1660\n __alloc_pages_noprof+0x169/0x310\n pipe_write+0x1c4/0x6e0"
B = " post_alloc_hook+0x1a5/0x1d0\n ext4_mb_new_blocks+0x12/0x40 [ext4]\n ksys_write+0x5/0x9"

SHOW_STACKS = f"{A}\nnr_base_pages: 12\n\n{B}\nnr_base_pages: 3\n\n"
STACK_COUNT = f"{A}\nstack_count: 5\n\n{B}\nstack_count: 1\n\n"
SHOW_HANDLES = "handle: 1048577\nnr_base_pages: 12\n\nhandle: -2\nnr_base_pages: 3\n\n"
SHOW_STACKS_HANDLES = f"{A}\nhandle: 1048577\n\n{B}\nhandle: -2\n\n"


def test_show_stacks_counts_pages() -> None:
    table = stacks.parse_stacks(SHOW_STACKS)
    assert table.schema == stacks.STACKS_SCHEMA
    assert table.rows() == [(A, blake(A), 12, None, None), (B, blake(B), 3, None, None)]


def test_stack_count_form_counts_allocations_not_pages() -> None:
    table = stacks.parse_stacks(STACK_COUNT)
    assert table.select("pages", "allocations").rows() == [(None, 5), (None, 1)]
    out = analyze.top(table, by="stack")
    assert out.select("stack", "allocations", "pages").rows() == [(A, 5, None), (B, 1, None)]
    assert analyze.folded(table, weight="allocations")["weight"].sum() == 6


def test_show_handles_and_show_stacks_handles_join_on_handle() -> None:
    handles = stacks.parse_stacks(SHOW_HANDLES)
    assert handles.select("stack", "handle", "pages").rows() == [(None, 1048577, 12), (None, 2**32 - 2, 3)]
    named = stacks.parse_stacks(SHOW_STACKS_HANDLES)
    assert named["pages"].to_list() == [None, None]
    both = stacks.combine_handles(named, handles)
    assert both.select("stack", "pages", "handle").rows() == [(A, 12, 1048577), (B, 3, 2**32 - 2)]


def test_read_stacks_with_handles_file(tmp_path: Path) -> None:
    (tmp_path / "sh").write_text(SHOW_STACKS_HANDLES)
    (tmp_path / "h").write_text(SHOW_HANDLES)
    table = stacks.read_stacks(tmp_path / "sh", handles=tmp_path / "h")
    assert table["pages"].to_list() == [12, 3]
    (tmp_path / "s").write_text(SHOW_STACKS)
    with pytest.raises(UsageError, match="no `handle:` lines"):
        stacks.read_stacks(tmp_path / "s", handles=tmp_path / "h")


def test_crlf_unterminated_and_blank_runs_parse_alike() -> None:
    messy = "\n\n" + SHOW_STACKS.replace("\n", "\r\n").rstrip("\r\n") + "\r\n"
    assert stacks.parse_stacks(messy).equals(stacks.parse_stacks(SHOW_STACKS))


def test_a_foreign_line_is_a_parse_error_with_its_line() -> None:
    with pytest.raises(ParseError) as info:
        stacks.parse_stacks(f"{A}\nnr_base_pages: 1\n\nPage allocated via order 0\n", source="x")
    assert info.value.line == 6
    assert str(info.value).startswith("x:6: not a stack line nor a count line")
    with pytest.raises(InputError, match="no stacks"):
        stacks.parse_stacks("\n\n")


@pytest.mark.parametrize(
    "opener", [pytest.param(open, id="plain"), pytest.param(gzip.open, id="gzip"), pytest.param(lzma.open, id="xz")]
)
def test_sniff_by_content_whatever_the_name(tmp_path: Path, opener: object) -> None:
    path = tmp_path / "dump.parquet"  # a misleading name on purpose
    with opener(path, "wt") as fh:  # type: ignore[operator]
        fh.write(SHOW_STACKS)
    assert stacks.sniff(path) == "stacks"
    assert stacks.read_stacks(path)["pages"].to_list() == [12, 3]
    with opener(path, "wt") as fh:  # type: ignore[operator]
        fh.write("\nPage allocated via order 0, mask 0x0()\n")
    assert stacks.sniff(path) == "dump"
    with opener(path, "wt") as fh:  # type: ignore[operator]
        fh.write("hello\n")
    with pytest.raises(InputError, match="neither"):
        stacks.sniff(path)


def test_real_show_stacks_sample() -> None:
    table = stacks.read_stacks(REAL_STACKS)
    assert table.height == 632
    assert table["pages"].sum() == 32621
    assert table["stack"].null_count() == 0
    assert table["stack_hash"].n_unique() == table.height


def test_real_dump_and_its_show_stacks_share_stack_hashes(tmp_path: Path) -> None:
    # Same boot, read one after the other: nearly every stack of the dump is in show_stacks
    # under the same hash, which is what lets `diff` compare the two kinds of file.
    plain = tmp_path / "dump.txt"
    plain.write_bytes(gzip.decompress(REAL_DUMP.read_bytes()))
    dump_stacks = analyze.stacks(plain)
    file_stacks = analyze.stacks(REAL_STACKS)
    shared = dump_stacks.join(file_stacks, on="stack_hash")
    assert shared.height >= 0.95 * dump_stacks.height
    assert (shared["stack"] == shared["stack_right"]).all()


def test_stacks_written_back_read_the_same(tmp_path: Path) -> None:
    table = stacks.parse_stacks(SHOW_STACKS)
    stacks.write_stacks_text(table, tmp_path / "again")
    assert (tmp_path / "again").read_text() == SHOW_STACKS
    assert stacks.read_stacks(tmp_path / "again").equals(table)


def test_reports_refuse_record_keys_on_stack_files(tmp_path: Path) -> None:
    (tmp_path / "s").write_text(SHOW_STACKS)
    assert analyze.top(tmp_path / "s", by="module").rows()[0][:1] == ("vmlinux",)
    assert analyze.top(tmp_path / "s", by="module")["module"].to_list() == ["vmlinux", "ext4"]
    with pytest.raises(UsageError, match="not in a stack file"):
        analyze.top(tmp_path / "s", by="memcg")
    with pytest.raises(UsageError, match="needs a page_owner dump"):
        analyze.frag(tmp_path / "s")
    assert pl.Series(analyze.query(tmp_path / "s", 'SELECT "where" FROM stacks ORDER BY 1')).to_list() == [
        "ext4_mb_new_blocks",
        "pipe_write",
    ]


def test_a_truncated_zstd_stacks_file_is_one_error(tmp_path: Path) -> None:
    text = gzip.decompress(REAL_STACKS.read_bytes())
    packed = zstandard.ZstdCompressor().compress(text)
    path = tmp_path / "stacks.zst"
    path.write_bytes(packed)
    assert stacks.read_stacks(path).height > 0
    path.write_bytes(packed[: len(packed) * 2 // 3])
    with pytest.raises(InputError, match=r"stacks\.zst: compressed input is corrupt or truncated"):
        stacks.read_stacks(path)
