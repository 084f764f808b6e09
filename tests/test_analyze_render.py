"""Rendering report frames: plain text when piped, rich in a terminal, csv/json/parquet."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest

from pagecols import render
from pagecols.errors import UsageError

FRAME = pl.DataFrame(
    {
        "where": ["do_anonymous_page", None],
        "flags": [["GFP_KERNEL", "__GFP_ZERO"], []],
        "pages": [12, 3],
        "delta_pages": [5, -2],
        "mib": [0.046875, 0.01171875],
        "mixed": [True, False],
    }
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_aligns_numbers_right_and_shows_nulls() -> None:
    assert render.plain_table(FRAME) == (
        "where              flags                  pages  delta_pages   mib  mixed\n"
        "do_anonymous_page  GFP_KERNEL|__GFP_ZERO     12           +5  0.05  yes\n"
        "-                                             3           -2  0.01  no\n"
    )


def test_plain_puts_stack_frames_on_their_own_lines() -> None:
    frame = pl.DataFrame({"stack": [" a+0x1/0x2\n b+0x3/0x4", " c+0x5/0x6"], "pages": [1, 20]})
    assert render.plain_table(frame) == "stack      pages\na+0x1/0x2      1\nb+0x3/0x4\n\nc+0x5/0x6     20\n"


def test_a_terminal_gets_a_fitted_table_a_pipe_plain_text() -> None:
    tty = Terminal()
    render.render(FRAME, out=tty, title="top by where", footer=["total: 15 pages"], width=80)
    assert tty.getvalue() == (
        "\x1b[1mtop by where\x1b[0m\n"
        "\x1b[1mwhere              flags                  pages  Δpages   MiB  mixed\x1b[0m\n"
        "do_anonymous_page  GFP_KERNEL|__GFP_ZERO     12      +5  0.05  yes\n"
        "-                                             3      -2  0.01  no\n"
        "total: 15 pages\n"
    )
    pipe = io.StringIO()
    render.render(FRAME, out=pipe, title="top by where")
    assert pipe.getvalue() == render.plain_table(FRAME)


def test_csv_joins_lists_and_json_keeps_them() -> None:
    out = io.StringIO()
    render.render(FRAME, fmt="csv", out=out)
    assert out.getvalue().splitlines()[1] == "do_anonymous_page,GFP_KERNEL|__GFP_ZERO,12,5,0.046875,true"
    out = io.StringIO()
    render.render(FRAME, fmt="json", out=out, footer=["not in json"])
    rows = json.loads(out.getvalue())
    assert rows[1] == {"where": None, "flags": [], "pages": 3, "delta_pages": -2, "mib": 0.01171875, "mixed": False}


def test_files_and_parquet(tmp_path: Path) -> None:
    render.render(FRAME, fmt="parquet", path=tmp_path / "f.parquet")
    assert pl.read_parquet(tmp_path / "f.parquet").equals(FRAME)
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]
    render.render(FRAME, path=tmp_path / "f.txt", footer=["end"])
    assert (tmp_path / "f.txt").read_text() == render.plain_table(FRAME) + "end\n"
    with pytest.raises(UsageError, match="needs an output file"):
        render.render(FRAME, fmt="parquet")
    with pytest.raises(UsageError, match="unknown format `yaml`"):
        render.render(FRAME, fmt="yaml")


def test_footers_say_totals() -> None:
    top = render.top_footer({"groups": 7, "allocations": None, "pages": 512, "mib": 2.0})
    assert top == ["total: 512 pages (2.00 MiB), - allocations in 7 groups"]
    big = render.top_footer({"groups": 1234, "allocations": 56789, "pages": 1048576, "mib": 4096.0})
    assert big == ["total: 1,048,576 pages (4,096.00 MiB), 56,789 allocations in 1,234 groups"]
    diff = render.diff_footer(
        {"pages_old": 10, "pages_new": 4000, "delta_pages": 3990, "delta_mib": 3990 / 256, "appeared": 0, "vanished": 2}
    )
    assert diff == ["total: 10 -> 4,000 pages, +3,990 pages (+15.59 MiB); 0 appeared, 2 vanished"]
    assert render.shown_note(20, 115) == ["20 of 115 groups shown; -n 0 for all"]
    assert render.shown_note(115, 115) == []


DIFF = pl.DataFrame(
    {
        "where": ["a_very_long_allocation_site_name_indeed", "short"],
        "pages_old": [1_234_567, 0],
        "pages_new": [9_876_543, 12],
        "delta_pages": [8_641_976, 12],
        "delta_mib": [33757.71875, 0.046875],
        "allocations_old": [1_000_000, 0],
        "allocations_new": [2_000_000, 3],
        "delta_allocations": [1_000_000, 3],
        "status": ["grew", "appeared"],
    }
)


@pytest.mark.parametrize("width", [40, 50, 60, 72, 80, 100, 132, 200])
def test_a_terminal_table_fits_and_never_cuts_a_number(width: int) -> None:
    text = render.terminal_table(render.prepare(DIFF, "terminal"), width=width, title="diff by where: a -> b")
    lines = text.splitlines()
    assert max(map(len, lines)) <= width
    for number in ("1234567", "9876543", "+8641976", "+33757.72", "+1000000"):
        digits = number.replace(",", "")
        assert any(digits in line.replace(",", "") for line in lines), (number, text)
    assert any("a_very_lo" in line for line in lines)


def test_what_gives_first_in_a_narrow_terminal() -> None:
    def table(width: int) -> list[str]:
        return render.terminal_table(render.prepare(DIFF, "terminal"), width=width).splitlines()

    assert table(132)[2].startswith("a_very_long_allocation_site_name_indeed  1,234,567")
    # Text first (down to 16 characters, with a mark), then the gap, then the separators,
    # then the text again.
    assert table(100)[2].startswith("a_very_long_all… 1,234,567 9,876,543")
    assert table(90)[2].startswith("a_very_long_all… 1234567 9876543 +8641976")
    assert table(80)[2].startswith("a_very_lon… 1234567 9876543 +8641976")
    # Nothing fits: one `name  value` line per column, numbers with their separators.
    rows = table(50)
    assert rows[0] == "-[ row 1 ]--------------"
    assert "pages old   1,234,567" in rows
    assert "where       a_very_long_allocation_site_name_inde…" in rows


def test_stacks_fold_the_allocator_frames() -> None:
    slab = " get_page_from_freelist+0x1/0x2\n __alloc_pages_noprof+0x1/0x2\n allocate_slab+0x1/0x2\n"
    assert render.fold_stack(slab + " kmem_cache_alloc_noprof+0x1/0x2\n alloc_inode+0x1/0x2") == [
        "[4 allocator frames]",
        "alloc_inode+0x1/0x2",
    ]
    # One allocator frame is not worth a line of its own; a stack of nothing else keeps its last.
    assert render.fold_stack(" post_alloc_hook+0x1/0x2\n f+0x1/0x2") == ["post_alloc_hook+0x1/0x2", "f+0x1/0x2"]
    assert render.fold_stack(slab.rstrip()) == ["[2 allocator frames]", "allocate_slab+0x1/0x2"]


def test_a_hash_is_never_shortened() -> None:
    frame = pl.DataFrame(
        {"comm": ["a_rather_long_command_name"], "stack_hash": [2**63 + 5], "pfn": [0x123456789], "pages": [7]},
        schema={"comm": pl.String, "stack_hash": pl.UInt64, "pfn": pl.UInt64, "pages": pl.UInt64},
    )
    lines = render.terminal_table(render.prepare(frame, "terminal"), width=38).splitlines()
    assert lines[1].split() == ["a_rather…", "0x80000000", "0x123456789", "7"]
    assert max(map(len, lines)) <= 38
