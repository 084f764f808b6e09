"""Which engine runs a report: polars on this machine (:mod:`pagecols.analyze`) or Spark (:mod:`pagecols.spark`).

Both engines follow the same definitions (``docs/reports.md``) and return the same columns; the
command line asks for a report by name and gets a polars frame back to render, whichever ran it.
PySpark is imported only when ``spark`` is asked for.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Final

import polars as pl

from pagecols.errors import ExitCode, UsageError

ENGINES: Final = ("polars", "spark")
INSTALL_HINT: Final = "pip install 'pagecols[spark]'"


def check(engine: str) -> str:
    """``engine`` if it names an engine, else a usage error listing them."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine `{engine}`; engines: {', '.join(ENGINES)}")
    return engine


def spark_module() -> ModuleType:
    """:mod:`pagecols.spark`, or a usage error saying how to install PySpark."""
    try:
        from pagecols import spark
    except ImportError as err:
        if not (err.name or "").startswith(("pyspark", "py4j")):
            raise
        raise UsageError(f"`--engine spark` needs PySpark: {INSTALL_HINT}") from err
    return spark


Source = str | os.PathLike[str] | list[str]


def run(report: str, engine: str, master: str | None, *sources: Source, **options: Any) -> pl.DataFrame:
    """The report named ``report`` over ``sources`` on ``engine``, collected as a polars frame.

    Each source is a path (a file, a dataset, a partition, a glob) or a list of them.
    ``master`` is Spark's (``None``: the active session, else ``local[*]``).
    """
    if check(engine) == "polars":
        if master is not None:
            raise UsageError("`--master` goes with `--engine spark`")
        from pagecols import analyze, frames

        paths = [p for s in sources for p in (s if isinstance(s, list) else [s])]
        with frames.reading(*paths):
            result: pl.DataFrame = getattr(analyze, report)(*sources, **options)
        return result
    spark = spark_module()
    session = spark.session(master)
    frame: pl.DataFrame = spark.to_polars(getattr(spark, report)(session, *sources, **options))
    return frame


def info(source: str, engine: str, master: str | None) -> dict[str, Any]:
    """:func:`pagecols.frames.info`'s facts of ``source``, counted by ``engine``.

    On Spark the counts come from one job; the source name and kernel format come from
    the file's pagecols metadata when the driver can read it (a local Parquet file).
    """
    from pagecols import frames

    if check(engine) == "polars":
        if master is not None:
            raise UsageError("`--master` goes with `--engine spark`")
        return frames.info(source)
    spark = spark_module()
    counts: dict[str, Any] = spark.to_polars(spark.info(spark.session(master), source)).row(0, named=True)
    facts: dict[str, Any] = {}
    if frames.is_parquet(source):
        meta = frames.dump_meta(source)
        facts = {"source": meta.source, "format": meta.format}
    return facts | counts


def dumps(sources: list[str], engine: str, master: str | None) -> pl.DataFrame:
    """One row per dump of a dataset (:func:`pagecols.dataset.dumps`).

    Either engine reads the facts from the files' footers on this machine: they are small,
    and reading them is not a job worth sending to a cluster.
    """
    from pagecols import dataset

    if check(engine) == "polars" and master is not None:
        raise UsageError("`--master` goes with `--engine spark`")
    return dataset.dumps(sources)


def convert(
    dumps: list[str],
    into: str | os.PathLike[str],
    labels: list[str],
    engine: str,
    master: str | None,
    *,
    strict: bool,
    jobs: int | None,
) -> ExitCode:
    """``convert DUMP... --into DATASET`` on ``engine``: processes on this machine, or a Spark task per dump."""
    from pagecols import dataset

    if check(engine) == "polars":
        if master is not None:
            raise UsageError("`--master` goes with `--engine spark`")
        return dataset.run_add(dumps, into, labels, strict=strict, jobs=jobs)
    if jobs is not None:
        raise UsageError("`--jobs` is for --engine polars; Spark runs a task per dump on its executors")
    spark = spark_module()
    code: ExitCode = spark.run_convert(spark.session(master), dumps, into, labels, strict=strict)
    return code
