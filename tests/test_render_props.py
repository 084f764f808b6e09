"""The plain table built with polars expressions is the table a cell-by-cell Python loop builds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagecols import render


def reference_plain_table(frame: pl.DataFrame) -> str:
    """The plain table of pagecols before it was vectorised: one Python call per cell."""
    flat = render._flatten(frame)
    rows = [[render._cell(v, name) for name, v in zip(flat.columns, row, strict=True)] for row in flat.iter_rows()]
    numeric = [dtype.is_numeric() for dtype in frame.schema.values()]
    header = list(frame.columns)
    split = [[cell.split("\n") for cell in row] for row in rows]
    widths = [len(h) for h in header]
    for row in split:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    multiline = any(len(lines) > 1 for row in split for lines in row)

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    out = [line(header)]
    for row in split:
        for k in range(max(len(lines) for lines in row)):
            out.append(line([lines[k] if k < len(lines) else "" for lines in row]))
        if multiline:
            out.append("")
    if multiline and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


WORDS = st.text(alphabet="abcXYZ_|0 ", max_size=12)
STACKS = st.lists(st.text(alphabet="abc_+0x/ ", min_size=1, max_size=10), min_size=1, max_size=4).map(
    lambda frames: "\n".join(" " + f for f in frames)
)
COLUMNS: dict[str, tuple[Any, pl.DataType]] = {
    "pages": (st.integers(0, 2**40), pl.UInt64()),
    "delta_pages": (st.integers(-(2**40), 2**40), pl.Int64()),
    "mib": (st.floats(0, 1e6, allow_nan=False), pl.Float64()),
    "delta_mib": (st.floats(-1e6, 1e6, allow_nan=False), pl.Float64()),
    "comm": (WORDS, pl.String()),
    "stack": (STACKS, pl.String()),
    "mixed": (st.booleans(), pl.Boolean()),
    "flags": (st.lists(WORDS, max_size=3), pl.List(pl.String())),
}


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    names = draw(st.lists(st.sampled_from(list(COLUMNS)), min_size=1, max_size=len(COLUMNS), unique=True))
    height = draw(st.integers(0, 6))
    data = {name: draw(st.lists(st.none() | COLUMNS[name][0], min_size=height, max_size=height)) for name in names}
    return pl.DataFrame(data, schema={name: COLUMNS[name][1] for name in names})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames())
def test_plain_table_is_the_cell_by_cell_table(frame: pl.DataFrame) -> None:
    assert render.plain_table(frame) == reference_plain_table(frame)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), rows=st.integers(1, 4))
def test_plain_table_made_a_few_rows_at_a_time_is_the_same_table(frame: pl.DataFrame, rows: int) -> None:
    parts = list(render.plain_parts(frame, rows=rows))
    assert len(parts) == 1 + -(-frame.height // rows)  # the header, then each slice of rows
    assert "".join(parts) == reference_plain_table(frame)
