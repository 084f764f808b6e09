"""Memory that does not grow with the dump: `cat` a batch at a time, reports over a staged text dump.

The memory itself is measured by benchmarks/bench_scale.py; these tests hold the shape
that bounds it (records read a batch at a time, a text dump read through a Parquet file)
and that the results stay the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pagecols import ingest, synth, textout


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bounded") / "dump.txt"
    synth.write_dump(path, records=700, seed=12, era="6.7")
    return path


@pytest.fixture(scope="module")
def parquet(dump: Path) -> Path:
    out = dump.with_suffix(".parquet")
    ingest.convert(dump, out)
    return out


def test_cat_reads_parquet_a_batch_at_a_time(parquet: Path, dump: Path) -> None:
    batches, meta = textout._record_frames(parquet, batch_rows=100)
    heights = [frame.height for frame in batches]
    assert len(heights) >= 7
    assert max(heights) <= 100
    assert sum(heights) == 700
    assert meta().records == 700


@pytest.mark.parametrize("source", ["dump", "parquet"])
def test_cat_gives_the_dump_back(source: str, request: pytest.FixtureRequest, dump: Path) -> None:
    out = io.BytesIO()
    written = textout.cat(request.getfixturevalue(source), out)
    assert out.getvalue() == dump.read_bytes()
    assert written == len(out.getvalue())


@pytest.mark.parametrize("name", ["edge-no-eol.txt", "edge-unterminated.txt", "edge-crlf.txt"])
def test_cat_of_text_keeps_leading_blank_lines_and_a_missing_last_newline(name: str, tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "data" / name).read_bytes().replace(b"\r\n", b"\n")
    path = tmp_path / "d.txt"
    path.write_bytes(b"\n\n" + text)
    out = io.BytesIO()
    textout.cat(path, out)
    assert out.getvalue() == b"\n\n" + text
