"""Reports reduce their records slice by slice (pagecols.reduce), so that memory follows the groups:
the same frames as one query over the whole table, whatever the slice size."""

from __future__ import annotations

import doctest
import math
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import pagecols
from pagecols import analyze, dataset, frames
from pagecols import reduce as rd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
OLD_SCHEMA = ROOT / "tests" / "fixtures" / "old-schemas" / "v4.parquet"

# --- reduce() against one group-by -----------------------------------------------------------------

AGGS = (
    rd.count("n"),
    rd.total(pl.col("v"), "v_sum"),
    rd.total(pl.col("v").filter(pl.col("f")), "v_flagged"),
    rd.first(pl.col("s"), "s_first"),
    rd.last(pl.col("s"), "s_last"),
    rd.first_present(pl.col("h"), "h"),
    rd.distinct(pl.col("v").filter(pl.col("f")), "vs"),
)
# Long strings too: past 12 bytes a polars string points into a shared buffer (reduce._own_strings).
TEXT = st.none() | st.sampled_from(["a", "b", "a stack text of more than twelve bytes", "another long stack text"])


@st.composite
def rows(draw: st.DrawFn) -> pl.DataFrame:
    height = draw(st.integers(0, 40))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=height, max_size=height))

    return pl.DataFrame(
        {
            "k": column(st.none() | st.integers(0, 3)),
            "k2": column(TEXT),
            "v": column(st.none() | st.integers(-5, 5)),
            "f": column(st.none() | st.booleans()),
            "s": column(TEXT),
            "h": column(st.none() | st.integers(0, 9)),
        },
        schema={"k": pl.Int16, "k2": pl.String, "v": pl.Int64, "f": pl.Boolean, "s": pl.String, "h": pl.Int64},
    )


def one_query(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """What each aggregation means: its partial expression over all rows at once."""
    return frame.group_by(keys).agg(agg.partial.alias(agg.name) for agg in AGGS)


def in_slices(frame: pl.DataFrame, size: int) -> Iterator[pl.LazyFrame]:
    lf = frame.lazy()
    yield from (lf.slice(start, size) for start in range(0, max(frame.height, 1), size))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=rows(), size=st.integers(1, 41), keys=st.sampled_from([["k"], ["k2"], ["k", "k2"]]), merge=st.booleans())
def test_reduce_is_one_group_by_at_any_slice_size(frame: pl.DataFrame, size: int, keys: list[str], merge: bool) -> None:
    kept = rd.MERGE_BYTES
    rd.MERGE_BYTES = 0 if merge else kept  # 0: merge after every slice
    try:
        got = rd.reduce(in_slices(frame, size), keys, AGGS)
    finally:
        rd.MERGE_BYTES = kept
    want = one_query(frame, keys)
    assert_frame_equal(got, want, check_row_order=False)


def test_the_module_example_runs() -> None:
    assert doctest.testmod(rd).failed == 0


def test_reduce_needs_a_slice() -> None:
    with pytest.raises(ValueError, match="no slice"):
        rd.reduce([], ["k"], AGGS)


# --- the reports over sources of many slices -------------------------------------------------------


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A converted dump, a dataset of three dumps (a label missing on one), and files of two schemas."""
    root = tmp_path_factory.mktemp("slices")
    one = root / "mm-2026.parquet"
    pagecols.convert(DATA / "synth-mm-2026.txt.gz", one)
    fleet = root / "fleet"
    dataset.add([DATA / "synth-6.7.txt.gz"], fleet, {"host": "a"})
    dataset.add([DATA / "synth-5.18.txt.gz", DATA / "handmade-6.3.txt"], fleet, {"host": "b"})
    other = root / "other"
    dataset.add([DATA / "synth-6.5.txt.gz"], other, {})
    old = root / "v4.parquet"
    shutil.copy(OLD_SCHEMA, old)
    return {
        "file": str(one),
        "dataset": str(fleet),
        "labels missing": [str(fleet), str(other)],
        "schemas mixed": [str(one), str(old)],
        "text": str(DATA / "synth-5.18.txt.gz"),
    }


REPORTS: dict[str, Callable[[analyze.Table], pl.DataFrame]] = {
    "top stack": lambda t: analyze.top(t, by="stack", n=None),
    "top where": lambda t: analyze.top(t, by="where", n=None),
    "top comm,memcg": lambda t: analyze.top(t, by="comm,memcg", n=None),
    "top freed_before,where": lambda t: analyze.top(t, by="freed_before,where", n=None),
    "cull st,n": lambda t: analyze.cull(t, "st,n"),
    "diff": lambda t: analyze.diff(t, t, by="comm"),
    "stacks": analyze.stacks,
    "folded": analyze.folded,
    "frag": analyze.frag,
    "frag_stacks": lambda t: analyze.frag_stacks(t, n=None),
    "frag_blocks": analyze.frag_blocks,
    "timeline": lambda t: analyze.timeline(t, split="where", groups=3, bins=7),
    "timeline stack": lambda t: analyze.timeline(t, split="stack", groups=2, bins=5),
}


def counted_slices(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the frames every reduction of the test reads (one entry per reduction)."""
    counts: list[int] = []
    original = analyze.record_slices

    def counting(*args: Any, **kwargs: Any) -> Iterator[pl.LazyFrame]:
        counts.append(0)
        for frame in original(*args, **kwargs):
            counts[-1] += 1
            yield frame

    monkeypatch.setattr(analyze, "record_slices", counting)
    return counts


def counted_reductions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the slices every call of reduce.reduce reads (one entry per call)."""
    counts: list[int] = []
    original = rd.reduce

    def counting(slices: Iterable[pl.LazyFrame], *args: Any) -> pl.DataFrame:
        counts.append(0)

        def each() -> Iterator[pl.LazyFrame]:
            for frame in slices:
                counts[-1] += 1
                yield frame

        return original(each(), *args)

    monkeypatch.setattr(rd, "reduce", counting)
    return counts


@pytest.mark.parametrize("report", list(REPORTS))
@pytest.mark.parametrize("source", ["file", "dataset", "labels missing", "schemas mixed", "text"])
def test_a_report_in_slices_is_the_report_in_one(
    sources: dict[str, Any], source: str, report: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = analyze.load(sources[source])
    whole = REPORTS[report](analyze.Table(table.frame, table.kind, table.name))  # no parts: one query
    counts = counted_slices(monkeypatch)
    monkeypatch.setattr(rd, "SLICE_ROWS", 37)
    monkeypatch.setattr(rd, "MERGE_BYTES", 0)
    sliced = REPORTS[report](table)
    assert counts, "the report does not reduce through analyze.reduce"
    heights = [part.frame.select(pl.len()).collect().item() for part in table.parts]
    wanted = sum(math.ceil(h / 37) if part.sliced else 1 for h, part in zip(heights, table.parts, strict=True))
    assert counts[0] == wanted > len(table.parts)
    assert_frame_equal(sliced, whole, check_row_order=report != "stacks")  # stacks() is in no order


@pytest.mark.parametrize("by", ["where", "stack", "comm,memcg"])
@pytest.mark.parametrize("source", ["dataset", "labels missing"])
def test_trend_in_slices_is_the_trend_in_one(
    sources: dict[str, Any], source: str, by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = analyze.load(sources[source])
    whole = analyze.trend(analyze.Table(table.frame, table.kind, table.name), over="host", by=by)
    counts = counted_slices(monkeypatch)
    monkeypatch.setattr(rd, "SLICE_ROWS", 37)
    assert_frame_equal(analyze.trend(table, over="host", by=by), whole)
    assert counts[0] > len(table.parts)


@pytest.mark.parametrize("source", ["file", "text"])
def test_info_in_slices_is_info_in_one(sources: dict[str, Any], source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = frames.info(sources[source])
    counts = counted_reductions(monkeypatch)
    monkeypatch.setattr(rd, "SLICE_ROWS", 37)
    assert frames.info(sources[source]) == whole
    assert counts[0] == math.ceil(whole["records"] / 37)


def test_parts_are_the_table(sources: dict[str, Any]) -> None:
    """The slices of a table are its rows, in order, each once: every column, the labels' nulls included."""
    table = analyze.load(sources["labels missing"])
    assert len(table.parts) == 2
    pieces = list(analyze.record_slices(table, rows=50))
    assert len(pieces) > 2
    assert_frame_equal(pl.concat([p.collect() for p in pieces]), table.frame.collect())


def test_a_file_of_an_older_schema_is_read_whole(sources: dict[str, Any]) -> None:
    """Its frame joins `where` on, and a slice of a join can come out wrong (polars 2.1): it is not sliced."""
    table = analyze.load(sources["schemas mixed"])
    assert [part.sliced for part in table.parts] == [True, False]
    assert len(list(analyze.record_slices(table, rows=1))) == table.parts[0].frame.select(pl.len()).collect().item() + 1


def test_a_frame_the_caller_made_is_one_slice() -> None:
    frame = pl.scan_parquet(OLD_SCHEMA)
    assert len(list(analyze.record_slices(analyze.load(frame), rows=1))) == 1


# --- query: the SQL reads the table slice by slice ---------------------------------------------------

#: (SQL, whether its rows have one order): the dumps of a dataset repeat record numbers.
QUERIES = [
    ("SELECT comm, sum(pages) AS p, count(*) AS n FROM pages GROUP BY 1 ORDER BY 2 DESC, 1", True),
    ("SELECT * FROM pages", False),
    ('SELECT record, comm FROM pages WHERE "order" >= 2 AND pages > 1', False),
    ("SELECT count(*) AS n FROM (SELECT record FROM pages LIMIT 50)", True),
    ("SELECT count(DISTINCT stack_hash) AS stacks, min(ts) AS first, max(ts) AS last FROM pages", True),
    ('SELECT s."where", s.pages FROM stacks s ORDER BY s.pages DESC, s.stack_hash LIMIT 7', True),
    (
        "SELECT p.comm, count(*) AS n FROM pages p JOIN stacks s ON p.stack_hash = s.stack_hash"
        " WHERE s.allocations > 3 GROUP BY 1 ORDER BY 2 DESC, 1",
        True,
    ),
    ("SELECT comm, pages, sum(pages) OVER (PARTITION BY comm) AS per_comm FROM pages", False),
]


@pytest.mark.parametrize(("sql", "ordered"), QUERIES)
@pytest.mark.parametrize("source", ["file", "labels missing", "schemas mixed"])
def test_query_in_slices_is_the_query_in_one(
    sources: dict[str, Any], source: str, sql: str, ordered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = analyze.load(sources[source])
    whole = analyze.query(analyze.Table(table.frame, table.kind, table.name), sql)
    monkeypatch.setattr(rd, "SLICE_ROWS", 37)
    assert "pagecols slices" in analyze.sliced_scan(table).explain()
    assert_frame_equal(analyze.query(table, sql), whole, check_row_order=ordered)


def test_a_label_filter_in_sql_reads_the_right_rows(sources: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rd, "SLICE_ROWS", 37)
    table = analyze.load(sources["labels missing"])
    got = analyze.query(table, "SELECT host, count(*) AS n FROM pages WHERE host = 'b' GROUP BY host")
    want = table.frame.filter(pl.col("host") == "b").select(pl.len()).collect().item()
    assert got.rows() == [("b", want)]
