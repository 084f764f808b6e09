"""Memory that does not grow with the dump: `cat` a batch at a time, reports over a staged text dump.

The memory itself is measured by benchmarks/bench_scale.py; these tests hold the shape
that bounds it (records read a batch at a time, a text dump read through a Parquet file)
and that the results stay the same bytes.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from pagecols import ingest, source, synth, textout


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


def test_cat_writes_a_parsed_chunk_back_a_slice_at_a_time(dump: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textout, "TEXT_SLICE_ROWS", 100)
    batches, meta = textout._record_frames(dump)
    heights = [frame.height for frame in batches]
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


def test_a_text_dump_is_scanned_through_a_temporary_parquet_file(dump: Path, parquet: Path) -> None:
    from pagecols import frames

    with frames.staged(dump) as (lf, meta):
        assert "PARQUET" in lf.explain().upper()
        assert meta.records == 700
        assert lf.collect().equals(frames.scan(parquet).collect())
        assert frames.info(dump) == {**frames.info(parquet), "source": str(dump)}


def test_a_staged_file_has_no_name_and_is_gone_after_the_block(dump: Path) -> None:
    import os

    from pagecols import frames

    with frames.staged(dump) as (lf, _):
        fds = set(os.listdir("/proc/self/fd"))
        targets = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds if os.path.exists(f"/proc/self/fd/{fd}")]
        assert not any(t.endswith(".parquet") and os.path.exists(t) for t in targets)
        assert lf.select("record").collect().height == 700
    with pytest.raises(Exception):  # noqa: B017, PT011 - polars' error for a closed descriptor
        lf.collect()


@pytest.mark.parametrize(
    ("size", "expected"),
    [(300_000, 2 << 20), (24 << 20, 3 << 20), (128 << 20, 16 << 20), (10 << 30, 32 << 20)],
)
def test_small_files_are_cut_in_eighths(size: int, expected: int, tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    with open(path, "wb") as f:
        f.truncate(size)
    assert ingest.chunk_size(path) == expected
    assert ingest.chunk_size("-") == source.CHUNK_BYTES


@pytest.mark.parametrize("dtype", ["uint64", "int32", "uint32", "int8", "bool"])
def test_arrow_array_is_pa_array(dtype: str) -> None:
    import numpy as np
    import pyarrow as pa

    from pagecols.parse import arrow_array

    rng = np.random.default_rng(1)
    values = rng.integers(0, 100, 37).astype(dtype)
    mask = rng.random(37) < 0.3
    assert arrow_array(values).equals(pa.array(values))
    assert arrow_array(values, mask).equals(pa.array(values, mask=mask))
    assert arrow_array(values[::3]).equals(pa.array(values[::3]))


def test_a_text_dump_opened_twice_is_parsed_once_unless_it_changed(
    dump: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pagecols import frames

    calls: list[object] = []
    stage = frames._stage

    def counted(source: object) -> object:
        calls.append(source)
        return stage(source)  # type: ignore[arg-type]

    monkeypatch.setattr(frames, "_stage", counted)
    copy = tmp_path / "copy.txt"
    copy.write_bytes(dump.read_bytes())
    first = frames.open_dump(copy)[0].select("record").collect().height
    assert frames.open_dump(copy)[0].select("record").collect().height == first == 700
    assert len(calls) == 1
    copy.write_bytes(dump.read_bytes().split(b"\n\n", 1)[1])  # one record fewer
    assert frames.open_dump(copy)[0].select("record").collect().height == 699
    assert len(calls) == 2


def test_the_kept_temporary_files_are_closed_at_exit(dump: Path) -> None:
    """A notebook or a test session that opened text dumps ends without a ResourceWarning for each."""
    probe = "import sys; from pagecols import frames; print(frames.open_dump(sys.argv[1])[1].records)"
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", probe, str(dump)], capture_output=True, text=True, check=True
    )
    assert (proc.stdout, proc.stderr) == ("700\n", "")
