"""Datasets: many dumps, labelled by hive directories, read as one table by every report."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import pagecols
from pagecols import analyze, dataset, frames, synth
from pagecols.cli import app
from pagecols.errors import ExitCode, InputError, UsageError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
REAL = DATA / "linux-6.12-memcg.page_owner.txt.gz"
runner = CliRunner()


def _text(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four seeded dumps: hosts a and b, snapshots 1 and 2; b grows between them."""
    tmp = tmp_path_factory.mktemp("dumps")
    out = {}
    for name, records, seed in (("a1", 300, 1), ("a2", 320, 2), ("b1", 200, 3), ("b2", 500, 4)):
        out[name] = tmp / f"{name}.txt"
        synth.write_dump(out[name], records=records, seed=seed, era="6.5")
    return out


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, dumps: dict[str, Path]) -> Path:
    root = tmp_path_factory.mktemp("fleet") / "fleet"
    for name, path in dumps.items():
        dataset.add([path], root, {"host": name[0], "taken": name[1]})
    return root


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- adding -------------------------------------------------------------------------------------


def test_a_dump_goes_under_its_labels_named_by_its_checksum(fleet: Path, dumps: dict[str, Path]) -> None:
    digest = hashlib.blake2b(dumps["a1"].read_bytes(), digest_size=16).hexdigest()
    assert f"host=a/taken=1/{digest}.parquet" in _files(fleet)
    assert len(_files(fleet)) == 4
    assert not list(fleet.parent.glob(".*"))  # the staging directory is gone


def test_polars_reads_the_dataset_as_a_hive_layout(fleet: Path) -> None:
    plain = pl.scan_parquet(fleet, hive_partitioning=True).group_by("host").agg(pl.len()).sort("host").collect()
    assert plain.rows() == [("a", 620), ("b", 700)]


def test_re_adding_the_same_dump_replaces_it(tmp_path: Path, dumps: dict[str, Path]) -> None:
    root = tmp_path / "fleet"
    dataset.add([dumps["a1"]], root, {"host": "a"})
    # Same content under another name and compressed: the same dump.
    again = tmp_path / "copy.txt.gz"
    again.write_bytes(gzip.compress(dumps["a1"].read_bytes()))
    dataset.add([again], root, {"host": "a"})
    assert len(_files(root)) == 1
    assert pagecols.scan(root).select(pl.len()).collect().item() == 300
    dataset.add([dumps["a1"]], root, {"host": "b"})  # other labels: another dump of the fleet
    assert len(_files(root)) == 2


def test_several_dumps_convert_in_parallel_processes(tmp_path: Path, dumps: dict[str, Path]) -> None:
    root = tmp_path / "fleet"
    added = dataset.add([dumps["a1"], dumps["b1"], dumps["b2"]], root, {"taken": "1"}, jobs=2)
    assert [a.report.records for a in added] == [300, 200, 500]
    assert [a.path.parent.name for a in added] == ["taken=1"] * 3
    assert len(_files(root)) == 3


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        pytest.param(["host"], "is not KEY=VALUE", id="no-equals"),
        pytest.param(["order=3"], "a column of the table", id="column-name"),
        pytest.param(["host=a", "host=b"], "given twice", id="twice"),
        pytest.param(["host=a/b"], "use letters, digits", id="slash"),
        pytest.param(["host=.."], "use letters, digits", id="dot-dot"),
        pytest.param(["2host=a"], "must be a name", id="key-digit"),
    ],
)
def test_bad_labels_are_usage_errors(labels: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        dataset.parse_labels(labels)


def test_the_library_checks_labels_too(tmp_path: Path, dumps: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="use letters, digits"):
        dataset.add([dumps["a1"]], tmp_path / "fleet", {"host": "../../etc"})
    assert not (tmp_path / "fleet").exists()


def test_a_dataset_is_made_with_its_parent_directories(tmp_path: Path, dumps: dict[str, Path]) -> None:
    (added,) = dataset.add([dumps["a1"]], tmp_path / "new" / "dir" / "fleet", {"host": "a"})
    assert added.path.parent == tmp_path / "new" / "dir" / "fleet" / "host=a"
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["fleet"]


def test_labels_must_follow_the_datasets_partitions(fleet: Path, dumps: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="partitioned by host, taken"):
        dataset.add([dumps["a1"]], fleet, {"taken": "3", "host": "a"})
    assert len(_files(fleet)) == 4


def test_a_dump_that_fails_adds_nothing(tmp_path: Path, dumps: dict[str, Path]) -> None:
    root = tmp_path / "fleet"
    bad = tmp_path / "bad.txt"
    bad.write_text("not a dump\n")
    with pytest.raises(InputError, match="not a page_owner dump"):
        dataset.add([dumps["a1"], bad], root, {"host": "a"}, jobs=2)
    assert not root.exists() or _files(root) == []
    assert not list(tmp_path.glob(".fleet*"))


# --- reading ------------------------------------------------------------------------------------


def test_totals_per_label_equal_each_dump_alone(tmp_path: Path) -> None:
    """Real and synthetic dumps from data/, one host each: top --by host is info of each dump."""
    sources = [REAL, *sorted(DATA.glob("synth-*.txt.gz"))]
    root = tmp_path / "fleet"
    for i, path in enumerate(sources):
        dataset.add([path], root, {"host": f"h{i:02d}"})
    top = analyze.top(root, by="host", n=None)
    got = dict(zip(top["host"], top["pages"], strict=True))
    assert got == {f"h{i:02d}": frames.info(path)["pages"] for i, path in enumerate(sources)}


def test_partitions_globs_and_file_lists_agree(fleet: Path) -> None:
    files = sorted(str(p) for p in (fleet / "host=b").rglob("*.parquet"))
    order = ["host", "taken", "record"]
    by_partition = pagecols.scan(fleet / "host=b").sort(order).collect()
    by_glob = pagecols.scan(str(fleet / "host=b" / "*" / "*.parquet")).sort(order).collect()
    by_list = pagecols.scan(files).sort(order).collect()
    by_filter = pagecols.scan(fleet).filter(pl.col("host") == "b").sort(order).collect()
    assert by_partition.height == 700
    assert by_partition.equals(by_glob)
    assert by_partition.equals(by_list)
    assert by_partition.equals(by_filter)


def test_a_partition_keeps_the_labels_above_it(fleet: Path) -> None:
    lf = pagecols.scan(fleet / "host=a" / "taken=2")
    assert lf.collect_schema()["host"] == pl.String
    assert lf.select("host", "taken").unique().collect().rows() == [("a", "2")]


def test_a_label_filter_reads_no_file_of_other_partitions(tmp_path: Path, dumps: dict[str, Path]) -> None:
    root = tmp_path / "fleet"
    dataset.add([dumps["a1"]], root, {"host": "a"})
    dataset.add([dumps["b1"]], root, {"host": "b"})
    (outside,) = (root / "host=b").glob("*.parquet")
    # Its footer stays whole (the schema and version are read from every file); its data is garbage.
    data = bytearray(outside.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    data[4:-footer] = b"\xff" * (len(data) - 4 - footer)
    outside.write_bytes(bytes(data))
    lf = pagecols.scan(root).filter(pl.col("host") == "a")
    assert lf.select(pl.col("pages").sum()).collect().item() == frames.info(dumps["a1"])["pages"]
    with pytest.raises(pl.exceptions.ComputeError):
        pagecols.scan(root).select(pl.col("pages").sum()).collect()


def test_labels_are_string_columns_for_by_and_sql(fleet: Path) -> None:
    top = analyze.top(fleet, by="host,taken", n=None)
    assert top.schema["taken"] == pl.String
    assert top.select("host", "taken").sort("host", "taken").rows() == [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2")]
    sql = "SELECT host, sum(pages) AS pages FROM pages GROUP BY host ORDER BY host"
    assert (
        analyze.query(fleet, sql)["pages"].to_list()
        == top.group_by("host").agg(pl.col("pages").sum()).sort("host")["pages"].to_list()
    )


def test_the_notebook_frame_has_the_namespace(fleet: Path) -> None:
    top = pagecols.scan(fleet).pagecols.top(by="host")  # type: ignore[attr-defined]  # registered at run time
    assert top["host"].to_list() == ["b", "a"]


def test_diff_between_two_partitions(fleet: Path, dumps: dict[str, Path]) -> None:
    out = analyze.diff(fleet / "host=b" / "taken=1", fleet / "host=b" / "taken=2", by="where")
    assert out["pages_old"].sum() == frames.info(dumps["b1"])["pages"]
    assert out["pages_new"].sum() == frames.info(dumps["b2"])["pages"]


def test_missing_inputs_say_what(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="matches no file"):
        dataset.expand(str(tmp_path / "*.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no Parquet files"):
        dataset.expand(tmp_path / "empty")


# --- the CLI ------------------------------------------------------------------------------------


def test_convert_into_and_info_one_line_per_dump(tmp_path: Path, dumps: dict[str, Path]) -> None:
    root = tmp_path / "fleet"
    result = runner.invoke(
        app, ["convert", str(dumps["a1"]), str(dumps["a2"]), "--into", str(root), "--label", "host=a", "-l", "taken=9"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    info = runner.invoke(app, ["info", "--json", str(root)])
    assert info.exit_code == 0, info.output
    rows = json.loads(info.stdout)
    assert [(r["host"], r["taken"], r["records"]) for r in sorted(rows, key=lambda r: r["records"])] == [
        ("a", "9", 300),
        ("a", "9", 320),
    ]
    for row in rows:
        assert row["source"] in (str(dumps["a1"]), str(dumps["a2"]))
        assert row["checksum"] == Path(row["file"]).stem
        assert row["format"] == "6.5"
        assert row["pages"] == frames.info(row["source"])["pages"]


def test_convert_several_dumps_needs_into(dumps: dict[str, Path]) -> None:
    result = runner.invoke(app, ["convert", str(dumps["a1"]), str(dumps["a2"])])
    assert result.exit_code == ExitCode.USAGE
    assert "--into" in result.output


def test_cat_writes_each_dump_in_turn(fleet: Path, dumps: dict[str, Path]) -> None:
    out = io.BytesIO()
    dataset.cat(fleet / "host=a", out)
    files = sorted((fleet / "host=a").rglob("*.parquet"))
    by_file = {frames.dump_meta(f).source: f for f in files}
    assert set(by_file) == {str(dumps["a1"]), str(dumps["a2"])}
    expected = b"".join(_text(Path(frames.dump_meta(f).source)) for f in files)
    assert out.getvalue() == expected


def test_top_by_host_from_the_command_line(fleet: Path) -> None:
    result = runner.invoke(app, ["top", str(fleet), "--by", "host", "-f", "csv"])
    assert result.exit_code == 0, result.output
    assert [line.split(",")[0] for line in result.stdout.splitlines()] == ["host", "b", "a"]
    glob_files = runner.invoke(app, ["top", str(fleet / "host=a" / "*" / "*.parquet"), "--by", "host", "-f", "csv"])
    assert glob_files.stdout.splitlines()[1].startswith("a,")


# --- trend --------------------------------------------------------------------------------------


def test_trend_long_form_adds_up_per_snapshot(fleet: Path, dumps: dict[str, Path]) -> None:
    long = analyze.trend(fleet / "host=b", over="taken", by="where")
    assert long.columns == ["where", "taken", "pages", "allocations", "mib"]
    per = long.group_by("taken").agg(pl.col("pages").sum()).sort("taken")
    assert per["pages"].to_list() == [frames.info(dumps["b1"])["pages"], frames.info(dumps["b2"])["pages"]]
    # Every group at every snapshot, absent ones as 0.
    assert long.height == 2 * long["where"].n_unique()
    assert long["taken"].to_list()[:2] == ["1", "2"]


def test_trend_by_stack_keeps_the_stack_text(fleet: Path) -> None:
    long = analyze.trend(fleet / "host=b", over="taken", by="stack")
    assert long.columns == ["stack", "stack_hash", "taken", "pages", "allocations", "mib"]
    assert long.height == 2 * long["stack_hash"].n_unique()
    wide = analyze.trend_wide(long, over="taken")
    assert wide.columns == ["stack", "stack_hash", "taken=1", "taken=2", "delta_mib"]
    assert wide["stack"].null_count() == 0
    mib = {taken: float(long.filter(pl.col("taken") == taken)["mib"].sum()) for taken in ("1", "2")}
    assert float(wide["delta_mib"].sum()) == pytest.approx(mib["2"] - mib["1"])


def test_trend_orders_numeric_snapshots_by_value() -> None:
    assert analyze.snapshot_order(["10", "9", "2"]) == ["2", "9", "10"]
    assert analyze.snapshot_order(["2026-05-02", "2026-05-01"]) == ["2026-05-01", "2026-05-02"]


def test_trend_wide_has_a_column_per_snapshot_and_the_change(fleet: Path) -> None:
    long = analyze.trend(fleet, over="taken", by="host")
    wide = analyze.trend_wide(long, over="taken")
    assert wide.columns == ["host", "taken=1", "taken=2", "delta_mib"]
    assert wide["host"].to_list() == ["b", "a"]  # b grew most
    row = wide.row(0, named=True)
    assert row["delta_mib"] == pytest.approx(row["taken=2"] - row["taken=1"])


def test_trend_fail_above_exits_3(fleet: Path) -> None:
    long = analyze.trend(fleet, over="taken", by="host")
    grew = analyze.trend_wide(long, over="taken")["delta_mib"].max()
    assert isinstance(grew, float)
    ok = runner.invoke(app, ["trend", str(fleet), "--over", "taken", "--by", "host", "--fail-above", str(grew + 1)])
    assert ok.exit_code == 0, ok.output
    over = runner.invoke(app, ["trend", str(fleet), "--over", "taken", "--by", "host", "--fail-above", str(grew / 2)])
    assert over.exit_code == ExitCode.THRESHOLD
    assert "grew by more than" in over.output


def test_trend_csv_is_the_long_form(fleet: Path) -> None:
    result = runner.invoke(app, ["trend", str(fleet), "--over", "taken", "--by", "host", "-f", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "host,taken,pages,allocations,mib"
    assert len(result.stdout.splitlines()) == 5


def test_trend_needs_a_label(fleet: Path) -> None:
    with pytest.raises(UsageError, match="--over takes a label"):
        analyze.trend(fleet, over="nope", by="host")


def test_plot_trend_writes_an_image(tmp_path: Path, fleet: Path) -> None:
    out = tmp_path / "trend.png"
    result = runner.invoke(app, ["plot", "trend", str(fleet), "--over", "taken", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"


# --- atomic adds --------------------------------------------------------------------------------


def _pagecols(*args: str | Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "pagecols", *map(str, args)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Dumps that take a while to convert, so that a signal can come in the middle."""
    tmp = tmp_path_factory.mktemp("big")
    paths = [tmp / f"big{i}.txt" for i in range(3)]
    for i, path in enumerate(paths):
        synth.write_dump(path, records=60_000, seed=10 + i, era="6.5")
    return paths


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_an_add_stopped_midway_leaves_the_dataset_as_it_was(
    tmp_path: Path, dumps: dict[str, Path], big: list[Path], sig: signal.Signals
) -> None:
    root = tmp_path / "fleet"
    dataset.add([dumps["a1"]], root, {"host": "a"})
    before = {p: p.read_bytes() for p in root.rglob("*.parquet")}
    proc = _pagecols("convert", *big, "--into", root, "--label", "host=a", "--jobs", "2")
    staging = tmp_path / ".fleet.pagecols-tmp"
    deadline = time.monotonic() + 60
    # Stop it once it is converting: its staging directory exists.
    while not (staging.exists() and any(staging.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, err.decode()
    assert {p: p.read_bytes() for p in root.rglob("*.parquet")} == before
    if sig == signal.SIGINT:
        assert not staging.exists(), "Ctrl-C cleans up"
    else:
        # A killed process cannot clean up; what it leaves is beside the dataset, not in it.
        assert pagecols.scan(root).select(pl.len()).collect().item() == 300


def test_ctrl_c_in_a_terminal_stops_the_workers_quietly(tmp_path: Path, big: list[Path]) -> None:
    """A terminal sends Ctrl-C to the whole process group, the workers included."""
    root = tmp_path / "fleet"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "pagecols", "convert", *map(str, big), "--into", str(root), "--label", "host=a"]
    proc = subprocess.Popen(
        [*argv, "--jobs", "2"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True
    )
    staging = tmp_path / ".fleet.pagecols-tmp"
    deadline = time.monotonic() + 60
    while not (staging.exists() and any(staging.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (130, "")
    assert not root.exists()
    assert not staging.exists()


def test_two_processes_adding_at_once(tmp_path: Path, big: list[Path], dumps: dict[str, Path]) -> None:
    root = tmp_path / "fleet"
    first = _pagecols("convert", big[0], dumps["a1"], "--into", root, "--label", "host=x")
    second = _pagecols("convert", big[1], dumps["a1"], "--into", root, "--label", "host=x")
    third = _pagecols("convert", big[2], "--into", root, "--label", "host=y")
    for proc in (first, second, third):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    # a1 added twice at once is one dump; every file is whole.
    assert len(_files(root)) == 4
    table = dataset.dumps(root)
    assert sorted(table["records"].to_list()) == [300, 60_000, 60_000, 60_000]
    assert pagecols.scan(root).select(pl.len()).collect().item() == 180_300
    assert not list(tmp_path.glob(".fleet*"))


def _sigint_disposition(_: object) -> object:
    return signal.getsignal(signal.SIGINT)


def test_workers_ignore_ctrl_c_from_their_start() -> None:
    """Not only once the initializer runs: a Ctrl-C while a worker imports its modules printed a traceback."""
    from multiprocessing import get_context

    before = signal.getsignal(signal.SIGINT)
    with dataset._started_ignoring_ctrl_c():
        pool = get_context("spawn").Pool(1)  # no initializer: what the worker starts with
    try:
        assert signal.getsignal(signal.SIGINT) is before, "the command's own handler is back"
        assert pool.apply(_sigint_disposition, (None,)) == signal.SIG_IGN
    finally:
        pool.close()
        pool.join()


def test_a_worker_ends_with_its_command_however_the_command_ends() -> None:
    """The pool replaces a worker the command stopped; that one lived on and printed a BrokenPipeError."""
    command = (
        "import os, time, multiprocessing as mp\n"
        "from pagecols import dataset\n"
        "if __name__ == '__main__':\n"
        "    pool = mp.get_context('spawn').Pool(1, initializer=dataset._worker_setup, initargs=(os.getpid(),))\n"
        "    print(pool.apply(os.getpid), flush=True)\n"
        "    pool.apply_async(time.sleep, (60,))  # busy, as when converting a dump\n"
        "    time.sleep(0.5)\n"
        "    os._exit(0)  # no clean-up at all, as when killed\n"
    )
    proc = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, check=True, timeout=60)
    worker = int(proc.stdout)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
