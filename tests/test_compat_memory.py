"""What bounds `pagecols sort`'s memory per record: the columns it reads, what it keeps per
record, and when it lets go of them (benchmarks/README.md has the figures; no test here
measures memory or time)."""

from __future__ import annotations

import io
import re
import weakref
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pagecols
from pagecols import compat
from pagecols.compat import _load
from pagecols.compat.plan import parse_args
from pagecols.compat.query import TRAILERS, Needs, table_columns
from pagecols.compat.render import render

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "linux-6.12-memcg.page_owner.txt.gz"
# Raw rows, empty blocks, blank lines before the first record, a record that is not UTF-8.
QUIRKS = ROOT / "tests" / "golden" / "inputs" / "quirks-mixed.txt"
EVIL = ROOT / "tests" / "golden" / "inputs" / "evil-comms.txt"

CULL_ST = ["-m", "--cull=st"]
CULL_ST_COLUMNS = {"pages", "blank_after", "raw", "parse_error", "stack_hash", *TRAILERS}


@pytest.fixture(scope="module")
def latin1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """evil-comms.txt with a task name that is not UTF-8: every text is then read as Latin-1."""
    path = tmp_path_factory.mktemp("latin1") / "latin1.txt"
    path.write_bytes(EVIL.read_bytes().replace(b"(a)", b"(\xe9)", 1))
    return path


@pytest.fixture(scope="module")
def gaps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """evil-comms.txt with empty blocks after its 8th record only: seen first in a later batch."""
    path = tmp_path_factory.mktemp("gaps") / "gaps.txt"
    blocks = EVIL.read_bytes().split(b"\n\n")
    path.write_bytes(b"\n\n".join(blocks[:8]) + b"\n\n\n\n" + b"\n\n".join(blocks[8:]))
    return path


@pytest.fixture(scope="module")
def inputs(latin1: Path, gaps: Path) -> dict[str, Path]:
    return {p.name: p for p in (SAMPLE, QUIRKS, EVIL, latin1, gaps)}


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path]) -> dict[str, Path]:
    out = {}
    for src in inputs.values():
        target = tmp_path_factory.mktemp("pq") / (src.name + ".parquet")
        pagecols.convert(src, target)
        out[src.name] = target
    return out


def _sorted(src: object, argv: list[str]) -> bytes:
    buf = io.BytesIO()
    compat.sort(src, buf, argv)  # type: ignore[arg-type]
    return buf.getvalue()


def _projected(lf: pl.LazyFrame) -> int:
    """How many of the Parquet file's columns a query reads (polars' plan says `PROJECT k/n COLUMNS`)."""
    found = re.search(r"PROJECT (\d+)/\d+ COLUMNS", lf.explain())
    assert found is not None, lf.explain()
    return int(found.group(1))


def test_a_cull_st_sort_reads_only_the_pages_and_what_makes_a_stacktrace(
    parquet: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert set(table_columns(Needs.of(parse_args(CULL_ST, paths=False)))) == CULL_ST_COLUMNS
    queries: list[pl.LazyFrame] = []
    collect_all = pl.collect_all

    def spy(lfs: list[pl.LazyFrame], **kwargs: object) -> list[pl.DataFrame]:
        queries.extend(lfs)
        return collect_all(lfs, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(pl, "collect_all", spy)
    path = parquet[SAMPLE.name]
    whole = _sorted(str(path), CULL_ST)
    # The records' query reads exactly those columns but `raw` and `parse_error`, needed only
    # when a row is raw (then it is read again); the others read `raw`, and the stack hashes
    # and texts.
    assert sorted(_projected(q) for q in queries) == [1, 2, len(CULL_ST_COLUMNS) - 2]
    # ... and they are all it needs: a frame of those columns alone sorts the same.
    monkeypatch.undo()
    only = pl.read_parquet(path, columns=[*CULL_ST_COLUMNS, "stack"])
    assert _sorted(only, CULL_ST) == whole


@pytest.mark.parametrize(
    ("argv", "per_record"),
    [
        (CULL_ST, {"pages", "st_id"}),
        ([], {"pages", "ator", "ts_p", "free_p", "has_ts", "st_id", "p_id"}),
    ],
    ids=["cull-st", "default"],
)
def test_a_record_is_held_as_a_few_integers(argv: list[str], per_record: set[str], parquet: dict[str, Path]) -> None:
    """Trailer and header strings are kept once per distinct stacktrace and header prefix, not per record."""
    needs = Needs.of(parse_args(argv, paths=False))
    loaded = _load(str(parquet[SAMPLE.name]), needs)
    assert set(loaded.recs.columns) == per_record
    assert all(dtype.is_integer() or dtype == pl.Boolean for dtype in loaded.recs.dtypes), loaded.recs.schema
    assert loaded.recs["st_id"].max() == loaded.st_keys.height - 1 < loaded.recs.height // 10
    assert loaded.st_keys.schema["memcg"] == pl.String
    if needs.txt:
        assert loaded.recs["p_id"].max() == loaded.p_keys.height - 1
        assert loaded.p_keys.schema["gfp_flags"] == loaded.p_keys.schema["comm_p"] == pl.String


@pytest.mark.parametrize("name", [SAMPLE.name, QUIRKS.name, EVIL.name, "latin1.txt", "gaps.txt"])
@pytest.mark.parametrize("argv", [CULL_ST, [], ["--cull=ator,n", "-f"]], ids=["cull-st", "default", "cull-ator-n"])
def test_small_batches_load_and_sort_the_same(
    name: str, argv: list[str], parquet: dict[str, Path], inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids of each batch's distinct keys become ids of the whole input's, the same whatever the batches
    (written in place when the records are numbers only, joined at the end when a name is among them)."""
    src = inputs[name]
    latin1 = inputs["latin1.txt"]
    needs = Needs.of(parse_args(argv, paths=False))
    path = str(parquet[name])
    one_batch = _load(path, needs)
    expected = _sorted(path, argv)
    monkeypatch.setattr(compat, "BATCH_ROWS", 1_000 if src == SAMPLE else 3)
    many = _load(path, needs)
    assert many.latin1 == one_batch.latin1 == (src == latin1)
    assert many.leading_blank_lines == one_batch.leading_blank_lines
    for part in ("recs", "st_keys", "p_keys"):
        assert_frame_equal(getattr(many, part), getattr(one_batch, part))
    assert_frame_equal(many.stacks.sort("stack_hash"), one_batch.stacks.sort("stack_hash"))
    assert _sorted(path, argv) == expected == _sorted(str(src), argv)


@pytest.mark.parametrize("argv", [CULL_ST, []], ids=["cull-st", "default"])
def test_the_loaded_records_are_let_go_before_the_output_is_written(
    argv: list[str], parquet: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[weakref.ref[pl.DataFrame]] = []
    at_render: list[pl.DataFrame | None] = []
    load = compat._load

    def spy_load(*args: object) -> compat._Loaded:
        result = load(*args)  # type: ignore[arg-type]
        loaded.append(weakref.ref(result.recs))
        return result

    def spy_render(*args: object, **kwargs: object) -> int:
        at_render.append(loaded[0]())
        return render(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(compat, "_load", spy_load)
    monkeypatch.setattr(compat, "render", spy_render)
    _sorted(str(parquet[SAMPLE.name]), argv)
    assert at_render == [None]
