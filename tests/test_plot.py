"""Plots: the timeline's data adds up, figures are drawn and written, matplotlib stays lazy."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import polars as pl
import pytest
from test_analyze_data import PAGE_FRAMES, SLAB_FRAMES, frames, int_min, make_records

from pagecols import analyze, plot
from pagecols.errors import InputError, OutputError, UsageError
from pagecols.stacks import parse_stacks

if TYPE_CHECKING:
    from matplotlib.patches import Rectangle

SEC = 1_000_000_000
INODE = frames(*SLAB_FRAMES, "security_inode_alloc", "alloc_inode")
FAULT = frames(*PAGE_FRAMES, "do_anonymous_page", "handle_mm_fault")


@pytest.fixture
def dump() -> pl.DataFrame:
    return make_records(
        [
            {"stack": INODE, "comm": "systemd", "ts": 1 * SEC},
            {"stack": INODE, "comm": "systemd", "ts": 2 * SEC, "order": 1},
            {"stack": FAULT, "comm": "Web Content", "ts": 5 * SEC, "order": 4, "memcg": "app.slice"},
            {"stack": FAULT, "comm": "Web Content", "ts": 9 * SEC, "order": 2, "memcg": "app.slice"},
            {"stack": FAULT, "comm": "bash", "ts": 10 * SEC},
            {"stack": FAULT, "comm": "cat", "ts": 11 * SEC, "order": 3},
        ]
    )


def test_timeline_is_cumulative_and_ends_at_the_total(dump: pl.DataFrame) -> None:
    data = analyze.timeline(dump, split="comm", groups=2, bins=10)
    assert data.columns == ["series", "rank", "until_s", "pages", "mib"]
    assert data["series"].unique(maintain_order=True).to_list() == ["Web Content", "cat", "(other)"]
    last = data.group_by("series").agg(pl.col("pages").last())
    assert dict(last.iter_rows()) == {"Web Content": 20, "cat": 8, "(other)": 1 + 2 + 1}
    for _, series in data.group_by("rank"):
        assert int_min(series["pages"].diff().drop_nulls()) >= 0
        assert series["until_s"].to_list() == pytest.approx([1 + i for i in range(1, 11)])
    # the Web Content series is 0 before its first allocation at 5 s, 16 pages until 9 s
    web = data.filter(pl.col("series") == "Web Content")
    assert web.filter(pl.col("until_s") <= 5)["pages"].max() == 0
    assert web.filter(pl.col("until_s") == 6)["pages"].item() == 16


def test_timeline_null_keys_and_where(dump: pl.DataFrame) -> None:
    by_memcg = analyze.timeline(dump, split="memcg", groups=5, bins=3)
    ends = by_memcg.group_by("series").agg(pl.col("pages").last())
    assert dict(ends.iter_rows()) == {"(none)": 12, "app.slice": 20, "(other)": 0}
    by_where = analyze.timeline(dump, split="where", groups=1, bins=2)
    assert dict(by_where.group_by("series").agg(pl.col("pages").last()).iter_rows()) == {
        "do_anonymous_page": 29,
        "(other)": 3,
    }


def test_timeline_needs_times(dump: pl.DataFrame) -> None:
    with pytest.raises(InputError, match="no allocation times"):
        analyze.timeline(dump.with_columns(ts=pl.lit(None, pl.UInt64)))
    with pytest.raises(UsageError, match="one key"):
        analyze.timeline(dump, split="comm,pid")
    with pytest.raises(UsageError, match="stack file"):
        analyze.timeline(parse_stacks(f"{FAULT}\nnr_base_pages: 3\n"))


def test_plot_top_draws_labelled_bars(dump: pl.DataFrame, tmp_path: Path) -> None:
    fig = plot.top(dump, tmp_path / "top.png", by="comm", n=3)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Web Content", "cat", "systemd"]
    # The bars are Rectangles; Axes.patches is typed as holding any Patch.
    assert [cast("Rectangle", p).get_width() for p in ax.patches] == pytest.approx(
        [20 * 4096 / 2**20, 8 * 4096 / 2**20, 3 * 4096 / 2**20]
    )
    assert ax.get_xlabel() == "MiB allocated"
    assert ax.get_title() == "Top 3 by comm"  # a frame has no file name to put first
    data = (tmp_path / "top.png").read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 5000


def test_plot_top_stack_labels_name_callers_and_hash(dump: pl.DataFrame) -> None:
    fig = plot.top(dump, by="stack", title="mine")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert re.fullmatch(r"do_anonymous_page ← handle_mm_fault 0x[0-9a-f]{8}", labels[0])
    # The notation of a terminal table: the first 8 of the 16 hex digits of csv and json.
    full = f"0x{analyze.top(dump, by='stack', n=1)['stack_hash'].item():016x}"
    assert labels[0].endswith(full[:10])
    assert fig.axes[0].get_title() == "mine"


def test_plot_timeline_writes_an_image(dump: pl.DataFrame, tmp_path: Path) -> None:
    fig = plot.timeline(dump, tmp_path / "t.png", split="comm", groups=2)
    assert fig.axes[0].get_title() == "Memory still allocated, by allocation time"
    box = fig.axes[0].get_legend()
    assert box is not None
    legend = [t.get_text() for t in box.get_texts()]
    assert legend == ["Web Content", "cat", "(other)"]
    assert fig.axes[0].get_ylabel() == "MiB still allocated"
    assert (tmp_path / "t.png").stat().st_size > 5000
    assert not list(tmp_path.glob(".*tmp*"))


def test_plot_into_a_missing_directory_is_an_error(dump: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot write output"):
        plot.top(dump, tmp_path / "no" / "such" / "dir.png")


def test_importing_plot_does_not_import_matplotlib() -> None:
    code = "import sys, pagecols.plot, pagecols.cli; assert 'matplotlib' not in sys.modules, 'eager'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_timeline_names_a_stack_series_by_its_hash_in_hex(dump: pl.DataFrame) -> None:
    series = analyze.timeline(dump, split="stack", groups=1)["series"].unique(maintain_order=True).to_list()
    full = f"0x{analyze.top(dump, by='stack', n=1)['stack_hash'].item():016x}"
    assert series == [full, analyze.OTHER]
    fig = plot.timeline(dump, split="stack", groups=1)
    box = fig.axes[0].get_legend()
    assert box is not None
    assert next(t.get_text() for t in box.get_texts()).endswith(full[:10])
