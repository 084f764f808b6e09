"""The reports of :mod:`pagecols.analyze` on Apache Spark: the same columns, numbers and order.

Every report takes a ``SparkSession`` and a *source* and returns a Spark ``DataFrame``, so a
notebook stays in Spark.  A source is a Parquet file from ``pagecols convert``, a dataset
directory or a partition of one (``fleet/host=web01``), a glob, a list of these, a
page_owner_stacks file, or a Spark ``DataFrame`` with the page_owner columns.  What each report
means is written once, in ``docs/reports.md``; :mod:`pagecols.analyze` is the polars engine of
the same definitions, and ``tests/test_conformance.py`` holds the two to equal results.

Only aggregates leave the executors: the reports group on the executors and the driver
receives groups, never records.  Label directories (``KEY=VALUE``) become string columns.
Files of schema versions 1-3, whose unsigned 64-bit columns Spark reads as
``decimal(20,0)``, are read as signed 64-bit numbers, as version 4 stores them
(``stack_hash`` keeps its 64 bits).

Needs the ``spark`` extra (``pip install 'pagecols[spark]'``); nothing else in pagecols imports
this module unless ``--engine spark`` is asked for.
"""

from __future__ import annotations

import contextlib
import decimal
import functools
import os
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import polars as pl
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException, ParseException, PySparkException, PySparkRuntimeError
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from pagecols import analyze, dataset
from pagecols import stacks as stk
from pagecols.derive import ALLOCATOR_RE, MODULE_RE, SYMBOL_RE
from pagecols.errors import ExitCode, InputError, PagecolsError, UsageError
from pagecols.schema import NOT_UTF8
from pagecols.source import is_regular_file

if TYPE_CHECKING:
    from pagecols.ingest import IngestReport

SparkSource = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | DataFrame
Keys = analyze.Keys

PAGE_SIZE: Final = analyze.PAGE_SIZE
_MIB: Final = 1 << 20
#: The master a command line run uses when no session is active and ``--master`` is not given.
DEFAULT_MASTER: Final = "local[*]"
_LOG_CONFIG: Final = Path(__file__).with_name("spark-log4j2.properties")

# --- sessions -----------------------------------------------------------------------------------


def session(master: str | None = None) -> SparkSession:
    """The Spark session to run on: the active one (spark-submit, a notebook), else a new one on ``master``.

    A new session is named ``pagecols``, prints no progress bars and logs errors only.
    """
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    try:
        spark = (
            SparkSession.builder.appName("pagecols")
            .master(master or DEFAULT_MASTER)
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_LOG_CONFIG.as_uri()}")
            .getOrCreate()
        )
    except PySparkRuntimeError as err:
        raise InputError(f"Spark did not start ({_first_line(err)}); PySpark 4 needs Java 17 or later") from err
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextlib.contextmanager
def _conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set one SQL option of the session for the block, and put back what was there."""
    old = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if old is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, old)


def to_polars(frame: DataFrame) -> pl.DataFrame:
    """Collect a report's (aggregated) result on the driver as a polars frame, for rendering."""
    with _spark_errors():
        out = pl.from_arrow(frame.toArrow())
    assert isinstance(out, pl.DataFrame)
    return out


@contextlib.contextmanager
def _spark_errors() -> Iterator[None]:
    """A job that failed on the executors as one :class:`InputError` line."""
    try:
        yield
    except (PySparkException, Py4JJavaError) as err:
        text = _first_line(err)
        if "FileNotFoundException" in str(err) or "PATH_NOT_FOUND" in str(err):
            raise InputError(
                f"Spark's executors cannot open an input ({text}); paths must be ones every executor can open "
                "(a shared file system, HDFS, S3, ...)"
            ) from err
        raise InputError(f"the Spark job failed: {text}") from err


# --- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkTable:
    """A loaded source: its rows as a Spark DataFrame, which shape they have, and a name for messages."""

    frame: DataFrame
    kind: Literal["records", "stacks"]
    name: str


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB = re.compile(r"[*?\[{]")
_LABEL = re.compile(r"^[^=/]+=[^/]*$")


def _is_local(path: str) -> bool:
    return not _SCHEME.match(path) or path.startswith("file://")


def _label_like(part: str) -> bool:
    # `*` stands for a KEY=VALUE directory in a glob such as `fleet/*/taken=2`.
    return part == "*" or _LABEL.match(part) is not None


def base_path(path: str) -> str | None:
    """The dataset root above a partition path (``fleet`` for ``fleet/host=a/taken=1[/x.parquet]``), or None.

    Spark names the label columns of the ``KEY=VALUE`` directories below this root only.
    """
    parts = path.rstrip("/").split("/")
    end = len(parts)
    if end > 1 and not _LABEL.match(parts[-1]) and _label_like(parts[-2]):
        end -= 1  # a file inside a partition directory
    start = end
    while start > 1 and _label_like(parts[start - 1]):
        start -= 1
    if start == end:
        return None
    return "/".join(parts[:start]) or "/"


def _stacks_frame(spark: SparkSession, table: pl.DataFrame) -> DataFrame:
    # A stacks table is one row per stack (thousands), so it is read on the driver and handed over.
    if table.schema["stack_hash"] == pl.UInt64:
        table = table.with_columns(pl.col("stack_hash").reinterpret(signed=True))
    signed = table.with_columns(pl.col(name).cast(pl.Int64) for name in ("pages", "allocations", "handle"))
    return spark.createDataFrame(signed.to_arrow())


def _signed(frame: DataFrame) -> DataFrame:
    """Schema 1-3 files as schema 4 reads them: unsigned 64-bit columns (``decimal(20,0)`` in Spark) as ``long``."""
    columns: list[Column] = []
    for field in frame.schema.fields:
        column = F.col(f"`{field.name}`")
        if isinstance(field.dataType, DecimalType) and (field.dataType.precision, field.dataType.scale) == (20, 0):
            if field.name == "stack_hash":
                # The same 64 bits as a signed number, as schema 4 stores the hash.
                column = F.when(column >= decimal.Decimal(1 << 63), column - decimal.Decimal(1 << 64)).otherwise(column)
            column = column.cast("long").alias(field.name)
        columns.append(column)
    return frame.select(columns)


def _read_parquet(spark: SparkSession, paths: list[str], name: str) -> DataFrame:
    bases = {base_path(p) for p in paths}
    reader = spark.read
    if len(bases) == 1 and (base := bases.pop()) is not None:
        reader = reader.option("basePath", base)
    # Labels are strings (`host=01` stays "01"), whatever they look like.
    with _conf(spark, "spark.sql.sources.partitionColumnTypeInference.enabled", "false"):
        try:
            return _signed(reader.parquet(*paths))
        except AnalysisException as err:
            raise InputError(f"cannot read `{name}` as Parquet: {_first_line(err)}") from err


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load(spark: SparkSession, source: SparkSource | SparkTable) -> SparkTable:
    """Open a source as a :class:`SparkTable`: Parquet through Spark's reader, a stacks file on the driver."""
    if isinstance(source, SparkTable):
        return source
    if isinstance(source, DataFrame):
        kind = analyze.kind_of(source.columns)
        frame = _signed(source)
        if kind == "stacks":
            frame = frame.select(
                [
                    (F.col(name) if name in source.columns else F.lit(None)).cast(_STACK_TYPES[name]).alias(name)
                    for name in stk.STACKS_SCHEMA.names()
                ]
            )
        return SparkTable(frame, kind, "the frame")
    paths = [os.fspath(source)] if isinstance(source, str | os.PathLike) else [os.fspath(p) for p in source]
    if not paths:
        raise UsageError("no source given")
    # Named as the polars engine names a source in its messages.
    if len(paths) > 1:
        name = f"{paths[0]} (+{len(paths) - 1} more)"
    else:
        name = Path(paths[0]).name if os.path.isfile(paths[0]) else paths[0]
    for path in paths:
        if not _is_local(path):
            continue
        local = path.removeprefix("file://")
        if _GLOB.search(local):
            continue
        if not os.path.exists(local):
            raise InputError(f"`{path}` does not exist")
        if not is_regular_file(local):
            if not os.path.isdir(local):
                raise UsageError(f"`{path}` is not a file or a directory; the spark engine reads Parquet files")
            continue
        content = stk.sniff(local)
        if content == "stacks" and len(paths) == 1:
            return SparkTable(_stacks_frame(spark, stk.read_stacks(local)), "stacks", Path(local).name)
        if content != "parquet":
            raise UsageError(
                f"`{path}` is a text {'stacks file' if content == 'stacks' else 'dump'}; the spark engine reads "
                f"Parquet: convert it first (`pagecols convert {path} -o FILE`)"
            )
    frame = _read_parquet(spark, paths, name)
    try:
        kind = analyze.kind_of(frame.columns)
    except UsageError as err:
        raise InputError(f"`{name}`: not a table written by pagecols convert") from err
    return SparkTable(frame, kind, name)


_STACK_TYPES: Final = {
    "stack": "string",
    "stack_hash": "long",
    "pages": "long",
    "allocations": "long",
    "handle": "long",
}


def stacks(spark: SparkSession, source: SparkSource | SparkTable) -> DataFrame:
    """The stacks table of a source: one row per stack with its ``pages`` and ``allocations``."""
    table = load(spark, source)
    if table.kind == "stacks":
        return table.frame
    return (
        table.frame.groupBy("stack_hash")
        .agg(
            F.first("stack").alias("stack"),
            F.coalesce(F.sum("pages"), F.lit(0)).alias("pages"),
            F.count(F.lit(1)).alias("allocations"),
            F.first("handle", ignorenulls=True).alias("handle"),
        )
        .select([F.col(n).cast(t).alias(n) for n, t in _STACK_TYPES.items()])
    )


# --- derived columns (derive.py's expressions, in Spark) ----------------------------------------


def _extract(text: Column, pattern: str, group: int = 1) -> Column:
    # polars' str.extract: null when the pattern does not match (Spark's regexp_extract says "").
    return F.when(text.rlike(pattern), F.regexp_extract(text, pattern, group))


def _symbols(stack: Column) -> Column:
    return F.transform(F.split(stack, "\n"), lambda line: _extract(line, SYMBOL_RE))


def where_column(stack: Column | None = None) -> Column:
    """``where``: the first frame outside the allocators (the last frame if all are in them)."""
    symbols = _symbols(F.col("stack") if stack is None else stack)
    outside = F.filter(symbols, lambda s: ~s.rlike(ALLOCATOR_RE))
    return F.coalesce(F.try_element_at(outside, F.lit(1)), F.try_element_at(symbols, F.lit(-1))).alias("where")


def module_column(stack: Column | None = None) -> Column:
    """The first ``[module]`` among the frames, else ``vmlinux``."""
    text = F.col("stack") if stack is None else stack
    return F.when(text.isNotNull(), F.coalesce(_extract(text, MODULE_RE), F.lit("vmlinux"))).alias("module")


def _with_where(records: DataFrame) -> DataFrame:
    """``records`` plus ``where``, computed once per unique stack and joined back on ``stack_hash``."""
    if "where" in records.columns:
        return records
    per_stack = records.groupBy("stack_hash").agg(F.first("stack").alias("stack")).select("stack_hash", where_column())
    return records.join(F.broadcast(per_stack), on="stack_hash", how="left").select(*records.columns, "where")


def decode(spark: SparkSession, source: SparkSource | SparkTable) -> DataFrame:
    """The source's rows plus the decoded columns of :func:`pagecols.analyze.decode`."""
    table = load(spark, source)
    if table.kind == "stacks":
        return table.frame.withColumns({"where": where_column(), "module": module_column()})
    flags = F.col("page_flags")
    inside = F.split(_extract(flags, r"\(([^)]*)\)"), r"\|")
    return _with_where(table.frame).withColumns(
        {
            "gfp_flag_names": F.when(F.col("gfp_flags") != "", F.split("gfp_flags", r"\|")),
            "page_flag_names": F.filter(inside, lambda f: ~f.contains("=")),
            "node": _extract(flags, r"[(|]node=(\d+)").cast("int"),
            "zone": _extract(flags, r"[(|]zone=(\d+)").cast("int"),
        }
    )


# --- groups and top -----------------------------------------------------------------------------


def _keys(table: SparkTable, by: Keys) -> list[str]:
    return analyze.check_keys(by, table.frame.columns, kind=table.kind, name=table.name)


def _group_columns(keys: Sequence[str]) -> list[str]:
    out: list[str] = []
    for key in keys:
        out += ["stack", "stack_hash"] if key == "stack" else [key]
    return out


def groups(spark: SparkSession, source: SparkSource | SparkTable, by: Keys = "stack") -> DataFrame:
    """Every group of ``by`` with its ``allocations`` and ``pages``, unsorted (:func:`pagecols.analyze.groups`)."""
    table = load(spark, source)
    keys = _keys(table, by)
    frame = table.frame
    if table.kind == "records":
        if "freed_before" in keys:
            frame = frame.withColumn("freed_before", F.col("free_ts") > 0)
        derived = [k for k in keys if k == "stack" or (k == "where" and k not in frame.columns)]
        plain = [k for k in keys if k not in derived]
        counts = [F.count(F.lit(1)).alias("allocations"), F.coalesce(F.sum("pages"), F.lit(0)).alias("pages")]
        if not derived:
            return frame.groupBy(*plain).agg(*counts)
        # Group on stack_hash with the other keys first; the stack text is then decoded
        # once per group instead of once per record.
        frame = frame.groupBy(*plain, "stack_hash").agg(*counts, F.first("stack").alias("stack"))
    if "where" in keys and "where" not in frame.columns:
        frame = frame.withColumn("where", where_column())
    if "module" in keys and "module" not in frame.columns:
        frame = frame.withColumn("module", module_column())
    # Spark's sum of nothing but nulls is null: a stack file that counts no pages keeps them unknown.
    return frame.groupBy(*_group_columns(keys)).agg(
        F.sum("allocations").alias("allocations"), F.sum("pages").alias("pages")
    )


def _order(frame: DataFrame, measures: Sequence[str], keys: Sequence[str]) -> DataFrame:
    return frame.orderBy(
        *[F.col(f"`{m}`").desc_nulls_last() for m in measures], *[F.col(f"`{k}`").asc_nulls_last() for k in keys]
    )


def _mib(pages: Column, page_size: int) -> Column:
    return pages.cast("double") * F.lit(page_size) / F.lit(_MIB)


def top(
    spark: SparkSession,
    source: SparkSource | SparkTable,
    *,
    by: Keys = "stack",
    n: int | None = 20,
    page_size: int = PAGE_SIZE,
) -> DataFrame:
    """The groups of ``by`` holding the most pages, largest first (:func:`pagecols.analyze.top`)."""
    table = load(spark, source)
    keys = _keys(table, by)
    grouped = groups(spark, table, keys)
    # The total over all groups as a window over the (few) groups, so that the records are read once:
    # a join with a second aggregate read them twice.
    total = F.sum("pages").over(Window.partitionBy())
    sized = grouped.withColumn("_total", total).select(
        *grouped.columns,
        _mib(F.col("pages"), page_size).alias("mib"),
        # Times the reciprocal of the total, as the polars engine computes it, to the bit.
        F.when(
            F.col("_total") > 0, F.col("pages").cast("double") * F.lit(100.0) * (F.lit(1.0) / F.col("_total"))
        ).alias("percent"),
    )
    columns = _group_columns(keys)
    out = _order(sized, ["pages", "allocations"], columns).select(
        *[F.col(f"`{c}`") for c in columns], "allocations", "pages", "mib", "percent"
    )
    return out if n is None else out.limit(n)


# --- diff ---------------------------------------------------------------------------------------


def diff(
    spark: SparkSession,
    old: SparkSource | SparkTable,
    new: SparkSource | SparkTable,
    *,
    by: Keys = "stack",
    n: int | None = None,
    min_mib: float | None = None,
    order: analyze.DiffOrder = "change",
    page_size: int = PAGE_SIZE,
) -> DataFrame:
    """The groups of two sources side by side, in ``order`` (:func:`pagecols.analyze.diff`)."""
    a, b = load(spark, old), load(spark, new)
    keys = _keys(a, by)
    _keys(b, by)
    join_on = ["stack_hash" if k == "stack" else k for k in keys]
    left = groups(spark, a, keys).withColumn("_old", F.lit(True))
    right = groups(spark, b, keys).withColumn("_new", F.lit(True))
    right = right.select(
        *[F.col(f"`{c}`").alias(f"{c}__new") for c in right.columns if c not in ("pages", "allocations", "_new")],
        F.col("pages").alias("pages_new"),
        F.col("allocations").alias("allocations_new"),
        "_new",
    )
    # The keys match null to null, as polars' nulls_equal=True.
    condition = [left[f"`{k}`"].eqNullSafe(right[f"`{k}__new`"]) for k in join_on]
    joined = left.join(right, on=condition, how="full")
    kept = [F.coalesce(F.col(f"`{c}`"), F.col(f"`{c}__new`")).alias(c) for c in _group_columns(keys)]

    def side(name: str, present: str) -> Column:
        # Absent on a side means 0 there; present but uncounted (a stack file without
        # that count) stays null.
        return F.when(F.coalesce(F.col(present), F.lit(False)), F.col(name)).otherwise(F.lit(0)).cast("long")

    sides = joined.select(
        *kept,
        side("pages", "_old").alias("pages_old"),
        side("pages_new", "_new").alias("pages_new"),
        side("allocations", "_old").alias("allocations_old"),
        side("allocations_new", "_new").alias("allocations_new"),
        "_old",
        "_new",
    )
    delta = F.col("pages_new") - F.col("pages_old")
    delta_alloc = F.col("allocations_new") - F.col("allocations_old")
    change = F.coalesce(delta, delta_alloc)
    status = (
        F.when(F.col("_old").isNull(), F.lit("appeared"))
        .when(F.col("_new").isNull(), F.lit("vanished"))
        .when(change > 0, F.lit("grew"))
        .when(change < 0, F.lit("shrank"))
        .otherwise(F.lit("same"))
    )
    out = sides.withColumns(
        {
            "delta_pages": delta,
            "delta_mib": _mib(delta, page_size),
            "delta_allocations": delta_alloc,
            "status": status,
        }
    )
    if min_mib is not None:
        out = out.filter(F.abs("delta_mib") >= min_mib)
    columns = _group_columns(keys)
    out = _diff_order(out, order, columns).select(
        *[F.col(f"`{c}`") for c in columns],
        "pages_old",
        "pages_new",
        "delta_pages",
        "delta_mib",
        "allocations_old",
        "allocations_new",
        "delta_allocations",
        "status",
    )
    return out if n is None else out.limit(n)


def _diff_order(frame: DataFrame, order: str, keys: Sequence[str]) -> DataFrame:
    """:func:`pagecols.analyze.diff`'s orders: the measures largest first, then the keys, nulls last."""
    pages, allocations = F.col("delta_pages"), F.col("delta_allocations")
    by: dict[str, list[Column]] = {
        "change": [F.abs(pages), F.abs(allocations)],
        "growth": [pages, allocations],
        "shrinkage": [-pages, -allocations],
        "pages": [F.greatest("pages_old", "pages_new"), F.abs(pages)],
        "key": [],
    }
    if order not in by:
        raise UsageError(f"unknown order `{order}`; orders: {', '.join(analyze.DIFF_ORDERS)}")
    return frame.orderBy(*[m.desc_nulls_last() for m in by[order]], *[F.col(f"`{k}`").asc_nulls_last() for k in keys])


# --- trend --------------------------------------------------------------------------------------


def trend(
    spark: SparkSession,
    source: SparkSource | SparkTable,
    *,
    over: str,
    by: Keys = "stack",
    page_size: int = PAGE_SIZE,
) -> DataFrame:
    """Pages and allocations of each group at each value of the label ``over`` (:func:`pagecols.analyze.trend`).

    The snapshots' order (:func:`pagecols.analyze.snapshot_order`) is worked out on the
    driver from the label's distinct values; everything else stays in Spark.
    """
    table = load(spark, source)
    keys = _keys(table, by)
    if over not in table.frame.columns:
        raise UsageError(f"`{over}` is not a column of {table.name}: --over takes a label (such as `taken`)")
    if over in keys:
        raise UsageError(f"`{over}` is both --over and a --by key")
    frame = table.frame.withColumn(over, F.col(f"`{over}`").cast("string"))
    per = groups(spark, SparkTable(frame, table.kind, table.name), [*keys, over])
    columns = _group_columns(keys)
    identity = [c for c in columns if c != "stack"]  # a stack is its hash
    with _spark_errors():
        values = [row[0] for row in per.select(over).distinct().collect()]
    order = analyze.snapshot_order(values)
    snapshots = spark.createDataFrame(
        [(value, i) for i, value in enumerate(order)], schema=f"`{over}` string, _snapshot int"
    )
    grid = per.select(*columns).dropDuplicates(identity).crossJoin(F.broadcast(snapshots))
    measures = per.select(
        *[F.col(f"`{c}`").alias(f"{c}__m") for c in [*identity, over]],
        F.col("pages").alias("_pages"),
        F.col("allocations").alias("_allocations"),
    )
    on = [grid[f"`{c}`"].eqNullSafe(measures[f"`{c}__m`"]) for c in [*identity, over]]
    whole = Window.partitionBy(*[F.col(f"`{c}`") for c in identity])
    long = grid.join(measures, on=on, how="left").select(
        *[F.col(f"`{c}`") for c in columns],
        F.col(f"`{over}`"),
        "_snapshot",
        F.coalesce("_pages", F.lit(0)).cast("long").alias("pages"),
        F.coalesce("_allocations", F.lit(0)).cast("long").alias("allocations"),
    )
    growth = F.max_by("pages", "_snapshot").over(whole) - F.min_by("pages", "_snapshot").over(whole)
    long = long.withColumns({"mib": _mib(F.col("pages"), page_size), "_growth": growth})
    return long.orderBy(
        F.col("_growth").desc_nulls_last(),
        *[F.col(f"`{c}`").asc_nulls_last() for c in columns],
        F.col("_snapshot").asc(),
    ).select(*[F.col(f"`{c}`") for c in columns], F.col(f"`{over}`"), "pages", "allocations", "mib")


# --- folded -------------------------------------------------------------------------------------


def folded(
    spark: SparkSession, source: SparkSource | SparkTable, *, weight: Literal["pages", "allocations"] = "pages"
) -> DataFrame:
    """Folded stacks, ``folded`` and ``weight``, sorted by ``folded`` (:func:`pagecols.analyze.folded`)."""
    if weight not in ("pages", "allocations"):
        raise UsageError(f"unknown weight `{weight}`; weights: pages, allocations")
    table = stacks(spark, source)
    with _spark_errors():
        counts = table.agg(F.count("stack").alias("stacks"), F.count(weight).alias("weights")).first()
    assert counts is not None
    if counts["stacks"] == 0:
        raise UsageError("the source has no stack text (a show_handles file alone?)")
    if counts["weights"] == 0:
        other = "allocations" if weight == "pages" else "pages"
        raise UsageError(f"the source counts no {weight}; use `weight={other}`")
    frames = F.transform(
        F.split("stack", "\n"),
        lambda line: F.concat_ws(
            "", _extract(line, SYMBOL_RE), F.concat(F.lit(" ["), _extract(line, MODULE_RE), F.lit("]"))
        ),
    )
    return (
        table.filter(F.col("stack").isNotNull() & (F.col(weight) > 0))
        .groupBy(F.array_join(F.reverse(frames), ";").alias("folded"))
        .agg(F.sum(weight).alias("weight"))
        .orderBy("folded")
    )


# --- frag ---------------------------------------------------------------------------------------


def _frag_records(spark: SparkSession, source: SparkSource | SparkTable) -> DataFrame:
    table = load(spark, source)
    if table.kind != "records":
        raise UsageError(f"`frag` needs a page_owner dump; {table.name} is a stack file without PFNs")
    return table.frame.filter(F.col("block").isNotNull() & F.col("block_migratetype").isNotNull()).withColumn(
        "foreign", F.col("migratetype") != F.col("block_migratetype")
    )


def frag_blocks(spark: SparkSession, source: SparkSource | SparkTable) -> DataFrame:
    """One row per pageblock seen (:func:`pagecols.analyze.frag_blocks`)."""
    foreign = F.coalesce(F.col("foreign"), F.lit(False))
    return (
        _frag_records(spark, source)
        .groupBy("block")
        .agg(
            # The block's migratetype as printed on its last record (records are in input order).
            F.max_by("block_migratetype", "record").alias("block_migratetype"),
            F.count(F.lit(1)).alias("allocations"),
            F.coalesce(F.sum("pages"), F.lit(0)).alias("pages"),
            F.coalesce(F.sum(F.when(foreign, F.col("pages"))), F.lit(0)).alias("foreign_pages"),
            F.array_sort(F.collect_set(F.when(foreign, F.col("migratetype")))).alias("foreign_migratetypes"),
        )
        .withColumn("mixed", F.col("foreign_pages") > 0)
        .orderBy("block")
    )


def frag(spark: SparkSession, source: SparkSource | SparkTable) -> DataFrame:
    """Per pageblock migratetype: blocks seen, mixed ones, and the pages mixing them (:func:`pagecols.analyze.frag`)."""
    return (
        frag_blocks(spark, source)
        .groupBy("block_migratetype")
        .agg(
            F.count(F.lit(1)).alias("blocks"),
            F.count_if("mixed").alias("mixed_blocks"),
            F.sum("pages").alias("pages"),
            F.sum("foreign_pages").alias("foreign_pages"),
        )
        .withColumn("mixed_percent", F.col("mixed_blocks").cast("double") * F.lit(100.0) / F.col("blocks"))
        .orderBy(F.col("mixed_blocks").desc(), F.col("blocks").desc(), F.col("block_migratetype").asc())
    )


def frag_stacks(
    spark: SparkSession, source: SparkSource | SparkTable, *, n: int | None = 20, page_size: int = PAGE_SIZE
) -> DataFrame:
    """The stacks that put pages into pageblocks of another migratetype (:func:`pagecols.analyze.frag_stacks`)."""
    grouped = (
        _frag_records(spark, source)
        .filter(F.col("foreign"))
        .groupBy("block_migratetype", "migratetype", "stack_hash")
        .agg(
            F.first("stack").alias("stack"),
            F.count_distinct("block").alias("blocks"),
            F.count(F.lit(1)).alias("allocations"),
            F.coalesce(F.sum("pages"), F.lit(0)).alias("pages"),
        )
        .withColumns({"where": where_column(), "mib": _mib(F.col("pages"), page_size)})
    )
    out = _order(grouped, ["pages", "allocations"], analyze.FRAG_STACKS_ORDER).select(*analyze.FRAG_STACKS_COLUMNS)
    return out if n is None else out.limit(n)


# --- query and info -----------------------------------------------------------------------------


def query(spark: SparkSession, source: SparkSource | SparkTable, sql: str) -> DataFrame:
    """Run Spark SQL over the source: the views ``pages`` (records with :func:`decode`'s columns) and ``stacks``.

    A stack file is ``stacks`` only.  Double quotes name columns, as in polars SQL
    (``"where"``, an SQL keyword; backticks work too), so the same query runs on both engines.
    The views are the session's temporary views of those names, replaced on each call.
    """
    table = load(spark, source)
    decode(spark, table).createOrReplaceTempView("stacks" if table.kind == "stacks" else "pages")
    if table.kind == "records":
        decode(spark, SparkTable(stacks(spark, table), "stacks", table.name)).createOrReplaceTempView("stacks")
    try:
        with _conf(spark, "spark.sql.ansi.doubleQuotedIdentifiers", "true"):
            return spark.sql(analyze.hex_literals(sql))
    except (AnalysisException, ParseException) as err:
        raise UsageError(f"query failed: {_first_line(err)}") from err


def info(spark: SparkSession, source: SparkSource | SparkTable) -> DataFrame:
    """One row of :func:`pagecols.frames.info`'s counts: records, pages, MiB, time span, stacks, unparsed, not UTF-8."""
    table = load(spark, source)
    if table.kind != "records":
        raise UsageError(f"`info` needs a page_owner dump; {table.name} is a stack file")
    hash_ = F.col("stack_hash")
    row = table.frame.agg(
        F.count(F.lit(1)).alias("records"),
        F.coalesce(F.sum("pages"), F.lit(0)).alias("pages"),
        (F.min("ts") / F.lit(1e9)).alias("ts_first_s"),
        (F.max("ts") / F.lit(1e9)).alias("ts_last_s"),
        # polars' n_unique counts null as a value.
        (F.count_distinct(hash_) + F.coalesce(F.max(hash_.isNull().cast("int")), F.lit(0))).alias("distinct_stacks"),
        F.count_if(F.coalesce(F.col("parse_error") != NOT_UTF8, F.lit(False))).alias("unparsed"),
        F.count_if(F.coalesce(F.col("parse_error").endswith(NOT_UTF8), F.lit(False))).alias("not_utf8"),
    )
    return row.select(
        "records",
        "pages",
        _mib(F.col("pages"), PAGE_SIZE).alias("mib"),
        "ts_first_s",
        "ts_last_s",
        (F.col("ts_last_s") - F.col("ts_first_s")).alias("span_s"),
        "distinct_stacks",
        "unparsed",
        "not_utf8",
    )


# --- convert: one Spark task per dump -----------------------------------------------------------


def convert(
    spark: SparkSession,
    dumps: Sequence[str | os.PathLike[str]],
    into: str | os.PathLike[str],
    labels: dict[str, str],
    *,
    strict: bool = False,
) -> list[dataset.Added]:
    """Add ``dumps`` to the dataset ``into`` under ``labels``, each parsed in a Spark task by pagecols' parser.

    The same dataset as :func:`pagecols.dataset.add` makes (the same files, labels, per-dump
    facts; a dump added again with the same labels replaces itself), all or none: the tasks
    write into a staging directory beside the dataset, and the driver renames the files in.
    So the dumps and the dataset's parent directory must be paths every executor can open
    (a shared file system); a task that cannot says so, and nothing is added.
    """
    return dataset.add(dumps, into, labels, strict=strict, convert_all=functools.partial(_convert_all, spark))


def run_convert(
    spark: SparkSession, dumps: Sequence[str], into: str | os.PathLike[str], labels: Sequence[str], *, strict: bool
) -> ExitCode:
    """``pagecols convert DUMP... --into DATASET --engine spark``: :func:`pagecols.dataset.run_add` on Spark."""
    return dataset.run_add(
        dumps, into, labels, strict=strict, jobs=None, convert_all=functools.partial(_convert_all, spark)
    )


def _convert_all(
    spark: SparkSession,
    items: Sequence[tuple[str | os.PathLike[str], dict[str, str]]],
    staging: Path,
    *,
    strict: bool,
    jobs: int | None,
) -> list[tuple[Path, IngestReport]]:
    if any(os.fspath(dump) == "-" for dump, _ in items):
        raise UsageError("stdin (`-`) cannot be read by Spark's executors: give the dumps as paths")
    # Absolute paths: an executor's working directory is not the driver's.
    tasks = [
        (os.path.abspath(dump), str(staging.absolute() / f"{i}.parquet"), dict(labels), strict)
        for i, (dump, labels) in enumerate(items)
    ]
    with _spark_errors():
        results = spark.sparkContext.parallelize(tasks, numSlices=len(tasks)).map(_convert_task).collect()
    out = []
    for (_, path, _, _), (error, report) in zip(tasks, results, strict=True):
        if error is not None or report is None:
            raise InputError(error or f"`{path}`: the task returned no report")
        out.append((Path(path), report))
    return out


def _convert_task(task: tuple[str, str, dict[str, str], bool]) -> tuple[str | None, IngestReport | None]:
    """One dump, converted on an executor: (None, its report), or (what went wrong, None)."""
    dump, out, labels, strict = task
    host = socket.gethostname()
    if not os.path.exists(dump):
        return f"`{dump}`: Spark's executor on {host} cannot open it: {_SHARED}", None
    if not os.access(os.path.dirname(out), os.W_OK):
        return f"`{os.path.dirname(out)}`: Spark's executor on {host} cannot write there: {_SHARED}", None
    try:
        return None, dataset.convert_one(dump, Path(out), labels, strict, 1)
    except PagecolsError as err:
        return str(err), None


_SHARED: Final = "convert --engine spark needs dumps and a dataset that every executor can open (a shared file system)"
