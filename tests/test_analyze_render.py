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
