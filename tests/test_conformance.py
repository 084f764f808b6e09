"""One meaning, two engines: every report on polars (pagecols.analyze) and on Spark (pagecols.spark) agrees.

The same sources go to both engines: the real and synthetic samples of ``data/`` (converted),
the kernel's show_stacks file, a seeded synthetic fleet of several hosts and snapshots in
``KEY=VALUE`` directories, and hand-made tables for the edge cases (unparsed records, null
and empty keys, stacks that fold together, an empty table).  Results are equal column for
column and row for row, floating-point figures to the bit.  Integer types are compared as
values: Spark has no unsigned types, so it answers in signed 64-bit numbers.

All Spark tests share one ``local[2]`` session with little memory and two shuffle partitions;
they are skipped when PySpark (``pip install 'pagecols[spark]'``) or Java is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_analyze_data import frames, make_records
from typer.testing import CliRunner

pytest.importorskip("pyspark", reason="the Spark engine needs the spark extra: pip install 'pagecols[spark]'")
if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
    pytest.skip("the Spark engine needs Java 17 or later", allow_module_level=True)

from pyspark.sql import SparkSession

import pagecols
from pagecols import analyze, dataset, synth
from pagecols import spark as ps
from pagecols.cli import app
from pagecols.errors import InputError, UsageError

DATA = Path(__file__).resolve().parent.parent / "data"
SHOW_STACKS = DATA / "linux-6.12-memcg.show_stacks.txt.gz"
#: The samples every report runs on, each with every key; the 6.12 one is a real dump.
SAMPLES = ("linux-6.12-memcg.page_owner.txt.gz", "synth-3.19.txt.gz", "synth-mm-2026.txt.gz", "handmade-6.3.txt")
#: The fleet: hosts x snapshots, each a seeded synthetic dump of its own.
HOSTS = ("web01", "web02", "db01")
TAKEN = ("1", "2")

EVERY_KEY = (*analyze.DOCUMENTED_KEYS, "freed_before", "handle", "where,comm", "memcg,order")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The one Spark session of the test run: two local cores, little memory, no UI."""
    session = (
        SparkSession.builder.master("local[2]")
        .appName("pagecols-tests")
        .config("spark.driver.memory", "768m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={ps._LOG_CONFIG.as_uri()}")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# --- sources: each as the polars engine takes it and as the Spark engine takes it --------------


class Source:
    """One dataset for both engines: ``polars`` is what analyze takes, ``path`` what Spark reads."""

    def __init__(self, name: str, polars: Any, path: Path, spark: SparkSession) -> None:
        self.name = name
        self.polars = polars
        self.path = path
        # Read once and cached: the tests time the reports, not Parquet decoding.
        table = ps.load(spark, str(path))
        self.spark = ps.SparkTable(table.frame.cache(), table.kind, table.name)


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("samples")
    paths = {}
    for name in SAMPLES:
        paths[name] = out / (name.split(".txt")[0] + ".parquet")
        pagecols.convert(DATA / name, paths[name])
    return paths


@pytest.fixture(scope="session")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fleet in ``host=…/taken=…`` directories: 3 hosts x 2 snapshots of 400 records, seeded."""
    root = tmp_path_factory.mktemp("fleet") / "fleet"
    text = root.parent / "text"
    text.mkdir()
    for i, host in enumerate(HOSTS):
        for j, taken in enumerate(TAKEN):
            dump = text / f"{host}-{taken}.txt"
            # The second snapshot of a host is the first one and more of the same machine.
            synth.write_dump(dump, records=300 + 100 * j, seed=11 + i, era="6.7" if i else "5.18")
            dataset.add([dump], root, {"host": host, "taken": taken})
    return root


def _fleet_frame(root: Path) -> pl.LazyFrame:
    return dataset.scan(root)


#: Hand-made records for the edge cases; each row says what it is there for.
EDGE_ROWS: list[dict[str, Any]] = [
    {"stack": frames("post_alloc_hook", "get_page_from_freelist", "do_thing"), "comm": "a", "memcg": "x.slice"},
    # The same stack with other offsets: its own stack and hash, one folded line with the first.
    {"stack": frames("post_alloc_hook", "get_page_from_freelist", "do_thing").replace("0x10/", "0x11/"), "comm": "a"},
    # Only allocator frames: `where` is the last frame.
    {"stack": frames("post_alloc_hook", "__alloc_pages_noprof"), "comm": "", "order": 3, "free_ts": 5},
    # A module frame and an unresolved address.
    {"stack": frames("post_alloc_hook", "xfs_buf_alloc@xfs", "0xffffffff81234567"), "comm": None, "free_ts": 0},
    # Pages of another migratetype than their pageblock's, twice in one block.
    {"stack": frames("kmalloc_noprof", "net_rx"), "migratetype": "Movable", "block_migratetype": "Unmovable"},
    {
        "stack": frames("kmalloc_noprof", "net_rx"),
        "migratetype": "Movable",
        "block_migratetype": "Unmovable",
        "pfn": 2056,
    },
    # A record that did not parse: no stack, no pages, no block.
    {
        "stack": "",
        "stack_hash": None,
        "pages": None,
        "pfn": None,
        "migratetype": None,
        "gfp_flags": None,
        "comm": None,
        "raw": "Page allocated via order garbage",
        "parse_error": "header does not parse",
    },
]


def _edge_table() -> pl.DataFrame:
    table = make_records(EDGE_ROWS)
    # make_records hashes the empty stack text; the unparsed record has no stack at all.
    parsed = pl.col("parse_error").is_null()
    return table.with_columns(pl.when(parsed).then(pl.col(c)).alias(c) for c in ("stack", "order"))


@pytest.fixture(scope="session")
def sources(
    spark: SparkSession, converted: dict[str, Path], fleet_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Source]:
    out = {name.split(".txt")[0]: Source(name, path, path, spark) for name, path in converted.items()}
    out["fleet"] = Source("fleet", _fleet_frame(fleet_dir), fleet_dir, spark)
    edges = tmp_path_factory.mktemp("edges")
    edge = _edge_table()
    edge.write_parquet(edges / "edge.parquet")
    out["edge"] = Source("edge", edge, edges / "edge.parquet", spark)
    empty = edge.clear()
    empty.write_parquet(edges / "empty.parquet")
    out["empty"] = Source("empty", empty, edges / "empty.parquet", spark)
    out["show_stacks"] = Source("show_stacks", SHOW_STACKS, SHOW_STACKS, spark)
    return out


# --- comparing ----------------------------------------------------------------------------------


def _values(frame: pl.DataFrame) -> pl.DataFrame:
    """Integer columns as signed 64-bit values (``stack_hash`` by its bits), as Spark gives them."""
    if "stack_hash" in frame.columns and frame.schema["stack_hash"] == pl.UInt64:
        frame = frame.with_columns(pl.col("stack_hash").reinterpret(signed=True))
    return frame.with_columns(pl.col(n).cast(pl.Int64) for n, t in frame.schema.items() if t.is_integer())


def same(expected: pl.DataFrame, got: Any) -> None:
    """``got`` (a Spark DataFrame) holds what the polars engine's ``expected`` holds, in the same order."""
    mine = _values(ps.to_polars(got))
    theirs = _values(expected)
    assert mine.columns == theirs.columns
    assert_frame_equal(mine, theirs, check_dtypes=False, check_exact=True)


def both_refuse(polars_call: Callable[[], object], spark_call: Callable[[], object]) -> str:
    """Both engines refuse with the same usage error; its message."""
    with pytest.raises(UsageError) as theirs:
        polars_call()
    with pytest.raises(UsageError) as mine:
        spark_call()
    assert str(mine.value) == str(theirs.value)
    return str(mine.value)


#: The keys run on the samples that are not held to every key (to keep the suite's run time small).
SOME_KEYS = ("stack", "where", "comm,memcg", "handle", "freed_before")


def _keys_of(source: Source) -> tuple[str, ...]:
    if source.name == "show_stacks":
        return ("stack", "where", "module", "handle", "where,module")
    if source.name == "fleet":
        return (*EVERY_KEY, "host", "taken,host,where")
    return EVERY_KEY if source.name in EVERY_KEY_SOURCES else SOME_KEYS


RECORD_SOURCES = ("linux-6.12-memcg.page_owner", "synth-3.19", "synth-mm-2026", "handmade-6.3", "fleet", "edge")
EVERY_KEY_SOURCES = ("linux-6.12-memcg.page_owner", "edge")
ALL_SOURCES = (*RECORD_SOURCES, "empty", "show_stacks")

# --- top ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SOURCES)
def test_top_every_key(spark: SparkSession, sources: dict[str, Source], name: str) -> None:
    source = sources[name]
    for key in _keys_of(source):
        same(analyze.top(source.polars, by=key, n=None), ps.top(spark, source.spark, by=key, n=None))


def test_top_limit_and_page_size(spark: SparkSession, sources: dict[str, Source]) -> None:
    source = sources["fleet"]
    for n in (0, 1, 7):
        same(analyze.top(source.polars, by="where", n=n), ps.top(spark, source.spark, by="where", n=n))
    same(
        analyze.top(source.polars, by="comm", page_size=65536), ps.top(spark, source.spark, by="comm", page_size=65536)
    )


def test_unknown_keys_are_refused_alike(spark: SparkSession, sources: dict[str, Source]) -> None:
    for name, key in (("edge", "nope"), ("show_stacks", "comm"), ("edge", " ,")):
        source = sources[name]
        both_refuse(
            lambda s=source, k=key: analyze.top(s.polars, by=k),  # type: ignore[misc]
            lambda s=source, k=key: ps.top(spark, s.spark, by=k),  # type: ignore[misc]
        )


# --- diff ---------------------------------------------------------------------------------------


def _fleet_part(source: Source, **labels: str) -> tuple[pl.LazyFrame, Any]:
    polars_side = source.polars.filter(*[pl.col(k) == v for k, v in labels.items()])
    spark_side = source.spark.frame
    for key, value in labels.items():
        spark_side = spark_side.filter(spark_side[key] == value)
    return polars_side, spark_side


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("synth-mm-2026", "linux-6.12-memcg.page_owner", id="two-dumps"),
        pytest.param("show_stacks", "linux-6.12-memcg.page_owner", id="stacks-file-to-dump"),
        pytest.param("edge", "empty", id="all-vanished"),
        pytest.param("empty", "edge", id="all-appeared"),
        pytest.param("edge", "edge", id="same"),
    ],
)
def test_diff(spark: SparkSession, sources: dict[str, Source], old: str, new: str) -> None:
    a, b = sources[old], sources[new]
    for key in _keys_of(a) if a.name == "show_stacks" else ("stack", "where", "comm,memcg", "freed_before"):
        same(analyze.diff(a.polars, b.polars, by=key), ps.diff(spark, a.spark, b.spark, by=key))


@pytest.mark.parametrize("key", EVERY_KEY)
def test_diff_between_snapshots_every_key(spark: SparkSession, sources: dict[str, Source], key: str) -> None:
    fleet = sources["fleet"]
    (old_p, old_s), (new_p, new_s) = _fleet_part(fleet, taken="1"), _fleet_part(fleet, taken="2")
    same(analyze.diff(old_p, new_p, by=key), ps.diff(spark, old_s, new_s, by=key))


def test_diff_options(spark: SparkSession, sources: dict[str, Source]) -> None:
    fleet = sources["fleet"]
    (old_p, old_s), (new_p, new_s) = _fleet_part(fleet, host="web01"), _fleet_part(fleet, host="db01")
    for options in ({"n": 5}, {"min_mib": 0.05}, {"min_mib": 0.05, "n": 2}, {"page_size": 16384}):
        same(analyze.diff(old_p, new_p, by="where", **options), ps.diff(spark, old_s, new_s, by="where", **options))


def test_diff_between_partition_paths(spark: SparkSession, sources: dict[str, Source], fleet_dir: Path) -> None:
    """``diff fleet/host=a fleet/host=b``: Spark reads the partition directories, labels included."""
    fleet = sources["fleet"]
    old_p, _ = _fleet_part(fleet, host="web02")
    new_p, _ = _fleet_part(fleet, host="web01")
    got = ps.diff(spark, str(fleet_dir / "host=web02"), str(fleet_dir / "host=web01"), by="taken,where")
    same(analyze.diff(old_p, new_p, by="taken,where"), got)


# --- trend --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [*EVERY_KEY, "host"])
def test_trend_every_key(spark: SparkSession, sources: dict[str, Source], key: str) -> None:
    fleet = sources["fleet"]
    same(analyze.trend(fleet.polars, over="taken", by=key), ps.trend(spark, fleet.spark, over="taken", by=key))


def test_trend_over_hosts_and_missing_snapshots(spark: SparkSession, sources: dict[str, Source]) -> None:
    """Over another label, and with groups absent from some snapshots (they count 0 there)."""
    fleet = sources["fleet"]
    for over, key in (("host", "where"), ("host", "taken,comm"), ("taken", "stack")):
        same(analyze.trend(fleet.polars, over=over, by=key), ps.trend(spark, fleet.spark, over=over, by=key))
    edge = sources["edge"]
    edge_frame = edge.spark.frame  # a frame on both sides, so both name it "the frame"
    both_refuse(lambda: analyze.trend(edge.polars, over="taken"), lambda: ps.trend(spark, edge_frame, over="taken"))
    both_refuse(
        lambda: analyze.trend(fleet.polars, over="taken", by="taken"),
        lambda: ps.trend(spark, fleet.spark, over="taken", by="taken"),
    )


def test_trend_sorts_snapshots_as_numbers(spark: SparkSession, sources: dict[str, Source]) -> None:
    edge = sources["edge"]
    labelled = edge.polars.with_columns(taken=pl.Series(["9", "10", "9", "10", "100", "9", "10"]))
    frame = spark.createDataFrame(_values(labelled).drop("raw", "parse_error").to_arrow())
    got = ps.trend(spark, frame, over="taken", by="where")
    same(analyze.trend(labelled.drop("raw", "parse_error"), over="taken", by="where"), got)
    assert ps.to_polars(got)["taken"].to_list()[:3] == ["9", "10", "100"]


# --- folded, frag -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in ALL_SOURCES if n != "empty"])
@pytest.mark.parametrize("weight", ["pages", "allocations"])
def test_folded(spark: SparkSession, sources: dict[str, Source], name: str, weight: str) -> None:
    source = sources[name]
    if name == "show_stacks" and weight == "allocations":
        both_refuse(
            lambda: analyze.folded(source.polars, weight="allocations"),
            lambda: ps.folded(spark, source.spark, weight="allocations"),
        )
        return
    same(analyze.folded(source.polars, weight=weight), ps.folded(spark, source.spark, weight=weight))  # type: ignore[arg-type]


def test_folded_refusals(spark: SparkSession, sources: dict[str, Source]) -> None:
    empty = sources["empty"]
    assert "no stack text" in both_refuse(lambda: analyze.folded(empty.polars), lambda: ps.folded(spark, empty.spark))
    edge = sources["edge"]
    both_refuse(
        lambda: analyze.folded(edge.polars, weight="bytes"),  # type: ignore[arg-type]
        lambda: ps.folded(spark, edge.spark, weight="bytes"),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", [n for n in ALL_SOURCES if n not in ("show_stacks", "fleet", "handmade-6.3")])
def test_frag(spark: SparkSession, sources: dict[str, Source], name: str) -> None:
    source = sources[name]
    same(analyze.frag(source.polars), ps.frag(spark, source.spark))
    same(analyze.frag_blocks(source.polars), ps.frag_blocks(spark, source.spark))
    same(analyze.frag_stacks(source.polars, n=3), ps.frag_stacks(spark, source.spark, n=3))


def test_frag_refuses_a_stacks_file(spark: SparkSession, sources: dict[str, Source]) -> None:
    stacks = sources["show_stacks"]
    both_refuse(lambda: analyze.frag(stacks.polars), lambda: ps.frag(spark, stacks.spark))


# --- query and info -----------------------------------------------------------------------------

QUERIES = (
    # polars SQL puts nulls first in a descending order, Spark SQL last: a query that cares says which.
    'SELECT "where", comm, count(*) AS n, sum(pages) AS p FROM pages GROUP BY "where", comm '
    'ORDER BY p DESC NULLS LAST, n DESC, "where" NULLS LAST, comm NULLS LAST',
    "SELECT memcg, sum(pages) AS p FROM pages WHERE memcg IS NOT NULL GROUP BY memcg ORDER BY p DESC, memcg",
    "SELECT record, node, zone, gfp_flag_names, page_flag_names FROM pages ORDER BY record LIMIT 40",
    'SELECT "where", module, sum(pages) AS p, sum(allocations) AS a FROM stacks GROUP BY "where", module '
    'ORDER BY p DESC, a DESC, "where" NULLS LAST, module NULLS LAST',
)


@pytest.mark.parametrize("name", RECORD_SOURCES)
def test_query(spark: SparkSession, sources: dict[str, Source], name: str) -> None:
    source = sources[name]
    for sql in QUERIES if name in EVERY_KEY_SOURCES else QUERIES[::3]:
        same(analyze.query(source.polars, sql), ps.query(spark, source.spark, sql))


def test_query_on_a_stacks_file_and_its_errors(spark: SparkSession, sources: dict[str, Source]) -> None:
    stacks = sources["show_stacks"]
    same(analyze.query(stacks.polars, QUERIES[-1]), ps.query(spark, stacks.spark, QUERIES[-1]))
    with pytest.raises(UsageError, match="query failed"):
        ps.query(spark, stacks.spark, "SELECT nope FROM stacks")
    with pytest.raises(UsageError, match="query failed"):
        ps.query(spark, stacks.spark, "SELEC 1")


@pytest.mark.parametrize("name", [n for n in SAMPLES if n.endswith(".gz")])
def test_info(spark: SparkSession, converted: dict[str, Path], name: str) -> None:
    path = converted[name]
    facts = pagecols.info(path)
    counts = ps.to_polars(ps.info(spark, str(path))).row(0, named=True)
    assert counts == {k: v for k, v in facts.items() if k in counts}
    assert set(facts) - set(counts) == {"source", "format"}


def test_info_of_an_empty_table(spark: SparkSession, sources: dict[str, Source]) -> None:
    row = ps.to_polars(ps.info(spark, sources["empty"].spark)).row(0, named=True)
    assert row["records"] == row["pages"] == row["distinct_stacks"] == 0
    assert row["ts_first_s"] is None


# --- sources Spark reads ------------------------------------------------------------------------


def test_old_schema_files_read_as_signed(spark: SparkSession, converted: dict[str, Path]) -> None:
    """A file with unsigned 64-bit columns (schema 1-3) reads as longs, ``stack_hash`` by its bits."""
    path = converted["linux-6.12-memcg.page_owner.txt.gz"]
    frame = ps.load(spark, str(path)).frame
    types = dict(frame.dtypes)
    assert {types[c] for c in ("record", "pfn", "pages", "ts", "stack_hash")} == {"bigint"}
    hashes = {row[0] for row in frame.select("stack_hash").distinct().collect()}
    expected = set(_values(pagecols.read_dump(path).select(pl.col("stack_hash").unique()))["stack_hash"])
    assert hashes == expected
    assert min(hashes) < 0  # the high half of the hashes is negative as a signed number


def test_paths_globs_and_lists_agree(spark: SparkSession, fleet_dir: Path, sources: dict[str, Source]) -> None:
    whole = ps.to_polars(ps.top(spark, str(fleet_dir), by="host,taken", n=None))
    same(analyze.top(sources["fleet"].polars, by="host,taken", n=None), ps.top(spark, str(fleet_dir), by="host,taken"))
    globbed = ps.to_polars(ps.top(spark, str(fleet_dir / "*" / "taken=*"), by="host,taken", n=None))
    listed = [str(fleet_dir / f"host={h}" / f"taken={t}") for h in HOSTS for t in TAKEN]
    assert whole.equals(globbed)
    assert whole.equals(ps.to_polars(ps.top(spark, listed, by="host,taken", n=None)))
    one = ps.to_polars(ps.top(spark, str(fleet_dir / "host=db01" / "taken=2"), by="host,taken", n=None))
    assert one.drop("percent").rows() == whole.filter(host="db01", taken="2").drop("percent").rows()


def test_labels_are_strings(spark: SparkSession, tmp_path: Path, converted: dict[str, Path]) -> None:
    part = tmp_path / "ds" / "rack=01" / "taken=2"
    part.mkdir(parents=True)
    shutil.copy(converted["synth-3.19.txt.gz"], part / "d.parquet")
    frame = ps.load(spark, str(tmp_path / "ds")).frame
    assert dict(frame.dtypes)["rack"] == "string"
    assert frame.select("rack").distinct().collect()[0][0] == "01"


def test_base_path() -> None:
    assert ps.base_path("fleet/host=a/taken=1") == "fleet"
    assert ps.base_path("s3://b/fleet/host=a/taken=1/part-0.parquet") == "s3://b/fleet"
    assert ps.base_path("fleet/*/taken=1") == "fleet"
    assert ps.base_path("fleet") is None
    assert ps.base_path("a.parquet") is None


def test_bad_sources(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        ps.load(spark, str(tmp_path / "nope.parquet"))
    with pytest.raises(UsageError, match="convert it first"):
        ps.load(spark, str(DATA / "handmade-6.3.txt"))
    with pytest.raises(InputError, match="cannot read"):
        ps.load(spark, str(tmp_path / "*.parquet"))
    not_ours = tmp_path / "other.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(not_ours)
    with pytest.raises(InputError, match="not a table written by pagecols"):
        ps.load(spark, str(not_ours))


# --- the command line ---------------------------------------------------------------------------


def _cli(*argv: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(argv))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.usefixtures("spark")
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["top", "{s}", "-b", "where,comm", "-n", "0", "-f", "csv"], id="top"),
        pytest.param(["top", "{s}", "-b", "memcg"], id="top-table"),
        pytest.param(["diff", "{old}", "{s}", "-b", "where", "-n", "0", "-f", "json"], id="diff"),
        pytest.param(["diff", "{old}", "{s}", "-b", "where", "--fail-above", "0.01"], id="diff-fail-above"),
        pytest.param(["folded", "{s}"], id="folded"),
        pytest.param(["frag", "{s}", "--part", "summary"], id="frag"),
        pytest.param(["frag", "{s}", "--part", "blocks", "-f", "csv"], id="frag-blocks"),
        pytest.param(["query", "{s}", QUERIES[0], "-f", "csv"], id="query"),
        pytest.param(["info", "{s}", "--json"], id="info"),
    ],
)
def test_cli_engines_print_the_same(converted: dict[str, Path], argv: list[str]) -> None:
    names = {"s": converted[SAMPLES[0]], "old": converted["synth-mm-2026.txt.gz"]}
    args = [a.format(**{k: str(v) for k, v in names.items()}) for a in argv]
    code, out, err = _cli(*args)
    spark_code, spark_out, spark_err = _cli(*args, "--engine", "spark")
    assert (spark_code, spark_out, spark_err) == (code, out, err)


@pytest.mark.usefixtures("spark")
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["trend", "{fleet}", "--over", "taken", "-b", "where", "-f", "csv"], id="trend-long"),
        pytest.param(["trend", "{fleet}", "--over", "taken", "-b", "host,where", "--fail-above", "0.01"], id="trend"),
        pytest.param(["top", "{fleet}/host=web02", "-b", "taken,comm", "-f", "json"], id="top-partition"),
        pytest.param(["diff", "{fleet}/*/taken=1", "{fleet}/*/taken=2", "-b", "where"], id="diff-globs"),
        pytest.param(["query", "{fleet}", "SELECT host, sum(pages) AS p FROM pages GROUP BY host ORDER BY host"]),
    ],
)
def test_cli_engines_agree_on_a_dataset(fleet_dir: Path, argv: list[str]) -> None:
    args = [a.format(fleet=fleet_dir) for a in argv]
    expected = _cli(*args)
    assert expected[0] in (0, 3), expected[2]
    assert _cli(*args, "--engine", "spark") == expected


@pytest.fixture(scope="session")
def three_dumps(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("dumps")
    paths = []
    for i, era in enumerate(("5.12", "6.7", "mm-2026")):
        path = out / f"d{i}.txt.gz"
        synth.write_dump(path, records=250, seed=40 + i, era=era, compression="gzip")
        paths.append(str(path))
    return paths


def _dataset_files(root: Path) -> dict[str, pl.DataFrame]:
    return {str(p.relative_to(root)): pl.read_parquet(p) for p in sorted(root.rglob("*.parquet"))}


@pytest.mark.usefixtures("spark")
def test_convert_on_spark_makes_the_same_dataset(tmp_path: Path, three_dumps: list[str]) -> None:
    """A task per dump, pagecols' parser in each: the same files, labels and facts as converting here."""
    here, there = tmp_path / "here", tmp_path / "there"
    labels = ["-l", "host=web01", "-l", "taken=2026-05-01T09"]
    assert _cli("convert", *three_dumps, "--into", str(here), *labels)[0] == 0
    code, out, err = _cli("convert", *three_dumps, "--into", str(there), *labels, "--engine", "spark")
    assert (code, out) == (0, "")
    assert err.count("added ") == 3
    files = _dataset_files(here)
    assert len(files) == 3
    assert all(name.startswith("host=web01/taken=2026-05-01T09/") for name in files)
    assert files.keys() == _dataset_files(there).keys()
    for name, table in _dataset_files(there).items():
        assert table.equals(files[name]), name
    info_here, info_there = _cli("info", str(here), "--json")[1], _cli("info", str(there), "--json")[1]
    assert info_there == info_here.replace(str(here), str(there))
    # Added again: replaced, not counted twice.
    assert _cli("convert", three_dumps[0], "--into", str(there), *labels, "--engine", "spark")[0] == 0
    assert _dataset_files(there).keys() == files.keys()


@pytest.mark.usefixtures("spark")
def test_convert_on_spark_says_when_an_executor_cannot_open_a_dump(tmp_path: Path, three_dumps: list[str]) -> None:
    fleet = tmp_path / "fleet"
    missing = str(tmp_path / "not-on-the-executors.txt")
    code, out, err = _cli("convert", three_dumps[0], missing, "--into", str(fleet), "-l", "h=a", "--engine", "spark")
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: `{missing}`: Spark's executor on ")
    assert "cannot open it: convert --engine spark needs dumps and a dataset that every executor can open" in err
    assert not fleet.exists()  # all or none
    assert _cli("convert", "-", "--into", str(fleet), "--engine", "spark")[::2] == (
        2,
        "Error: stdin (`-`) cannot be read by Spark's executors: give the dumps as paths\n",
    )
    assert _cli("convert", three_dumps[0], "--engine", "spark")[0] == 2


def test_cli_spark_needs_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "pyspark" or n.startswith("pyspark.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "pagecols.spark")
    monkeypatch.delattr(pagecols, "spark")
    code, out, err = _cli("top", str(DATA / "handmade-6.3.txt"), "--engine", "spark")
    assert (code, out) == (2, "")
    assert err == "Error: `--engine spark` needs PySpark: pip install 'pagecols[spark]'\n"


@pytest.mark.usefixtures("spark")
def test_cli_errors() -> None:
    dump = str(DATA / "handmade-6.3.txt")
    code, _, err = _cli("top", dump, "--engine", "spark")
    assert code == 2
    assert "convert it first" in err
    assert _cli("top", dump, "--engine", "dask")[::2] == (2, "Error: unknown engine `dask`; engines: polars, spark\n")
    assert _cli("top", dump, "--master", "local[1]")[::2] == (2, "Error: `--master` goes with `--engine spark`\n")
