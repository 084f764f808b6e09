"""The fleet reports on Spark ``local[2]`` beside polars on the same machine, and where Spark's time goes.

    python benchmarks/bench_spark.py [--dumps 16] [--records 40000] [--seeds 4] [--repeat 3]

A dataset of ``--dumps`` seeded dumps (hosts x 4 snapshots, ``host=/taken=``) is made once with
``dataset.add_each`` and reused.  Then:

1. Spark's start-up: a new ``local[2]`` session (the JVM, the Python gateway) and its first job.
2. Each report in one warm session, against the polars engine in this process: the median of
   ``--repeat`` runs of ``top --by host,where``, ``trend --over taken --by stack`` and a
   ``query`` grouping by host and snapshot, each result collected to the driver.
3. How the work splits: the input partitions (tasks) of a scan, the stages and tasks of ``top``,
   and whether any exchange in ``top``'s plan moves records instead of partial aggregates.
4. Whole commands (``pagecols top DATASET --engine spark`` vs polars): what a user waits for.
5. ``convert --into``: spawned processes vs a Spark task per dump, for the same dumps.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import WORK, pagecols, run

from pagecols import analyze, dataset, synth


def make_dump(path: Path, records: int, seed: int) -> Path:
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        synth.write_dump(tmp, records=records, seed=seed, era="6.7")
        tmp.rename(path)
    return path


def median_time(call: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dumps", type=int, default=16)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = WORK / "spark"
    work.mkdir(parents=True, exist_ok=True)
    snapshots = 4
    hosts = max(1, args.dumps // snapshots)
    texts = [make_dump(work / f"dump-s{n}-{args.records}.txt", args.records, seed=n) for n in range(args.seeds)]
    items = [
        (texts[(h + t) % len(texts)], {"host": f"h{h:03d}", "taken": str(t)})
        for h in range(hosts)
        for t in range(1, snapshots + 1)
    ]
    fleet = work / f"fleet{len(items)}x{args.records}"
    if not fleet.exists():
        dataset.add_each(items, fleet)
    records = int(dataset.dumps(fleet)["records"].sum())
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"dataset: {len(items)} dumps ({hosts} hosts x {snapshots} snapshots), {records / 1e6:.2f} M records")

    # 1. start-up
    start = time.perf_counter()
    from pyspark.sql import SparkSession

    from pagecols import spark as ps

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench_spark")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={ps._LOG_CONFIG.as_uri()}")
        .getOrCreate()
    )
    session = time.perf_counter() - start
    spark.range(1).count()
    first_job = time.perf_counter() - start - session
    print(f"spark start-up: session {session:.2f} s, first (trivial) job {first_job:.2f} s")

    # 2. reports, warm
    sql = "SELECT host, taken, sum(pages) AS pages FROM pages GROUP BY host, taken ORDER BY pages DESC"
    reports: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "top --by host,where",
            lambda: analyze.top(str(fleet), by="host,where", n=None),
            lambda: ps.to_polars(ps.top(spark, str(fleet), by="host,where", n=None)),
        ),
        (
            "trend --over taken --by stack",
            lambda: analyze.trend(str(fleet), over="taken", by="stack"),
            lambda: ps.to_polars(ps.trend(spark, str(fleet), over="taken", by="stack")),
        ),
        (
            "query (group by host, taken)",
            lambda: analyze.query(str(fleet), sql),
            lambda: ps.to_polars(ps.query(spark, str(fleet), sql)),
        ),
    ]
    print(f"reports in one process, median of {args.repeat} (spark warmed by one run first):")
    for name, on_polars, on_spark in reports:
        polars_s = median_time(on_polars, args.repeat)
        on_spark()
        spark_s = median_time(on_spark, args.repeat)
        print(f"  {name:<32} polars {polars_s:6.2f} s   spark local[2] {spark_s:6.2f} s   ({spark_s / polars_s:4.1f}x)")

    # 3. how the work splits
    table = ps.load(spark, str(fleet))
    print(f"split: {len(items)} files -> {table.frame.rdd.getNumPartitions()} scan partitions (tasks)")
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("top", "top by host,where")
    ps.to_polars(ps.top(spark, table, by="host,where", n=None))
    for job in tracker.getJobIdsForGroup("top"):
        info = tracker.getJobInfo(job)
        stages = [tracker.getStageInfo(s) for s in (info.stageIds if info else [])]
        shown = ", ".join(f"stage {s.stageId}: {s.numTasks} tasks" for s in stages if s is not None)
        print(f"  top: job {job}: {shown}")
    plan = ps.top(spark, table, by="host,where", n=None)._jdf.queryExecution().executedPlan().toString()
    exchanges = [line.strip() for line in plan.splitlines() if "Exchange" in line]
    partial = len(re.findall(r"HashAggregate\(keys=.*functions=\[partial_", plan))
    print(f"  top's plan: {len(exchanges)} exchanges, {partial} partial aggregations below them")
    for line in exchanges:
        print(f"    {line[:110]}")
    spark.stop()

    # 4. whole commands
    for name, argv in (
        ("top --by host,where", ["top", str(fleet), "--by", "host,where"]),
        ("trend --over taken --by stack", ["trend", str(fleet), "--over", "taken", "--by", "stack"]),
    ):
        polars_run = run(pagecols(*argv))
        spark_run = run(pagecols(*argv, "--engine", "spark", "--master", "local[2]"))
        print(
            f"  command {name:<30} polars {polars_run.seconds:6.2f} s {polars_run.max_rss_mib:5.0f} MiB   "
            f"spark {spark_run.seconds:6.2f} s (driver {spark_run.max_rss_mib:4.0f} MiB + JVM)"
        )

    # 5. convert
    dumps = [str(t) for t in texts]
    for engine in ("polars", "spark"):
        target = work / f"convert-{engine}"
        shutil.rmtree(target, ignore_errors=True)
        extra = ["--engine", "spark", "--master", "local[2]"] if engine == "spark" else []
        took = run(pagecols("convert", *dumps, "--into", str(target), "-l", "host=x", *extra))
        text = sum(Path(d).stat().st_size for d in dumps) / 2**20
        rate = text / took.seconds
        print(f"  convert --into, {len(dumps)} dumps, {engine:<6} {took.seconds:6.2f} s  {rate:5.1f} MiB/s")


if __name__ == "__main__":
    main()
