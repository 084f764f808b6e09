"""Time datasets: adding many dumps, and the reports over a fleet, as whole processes.

    python benchmarks/bench_fleet.py [--hosts 48] [--records 38000]
                                     [--dumps 40] [--copies 1000] [--dump-records 40000] [--seeds 8] [--repeat 3]

Part 1 (the issue's first target): one seeded dump of ``--records`` records in the 6.1 header
format (era 5.18, which 5.18 to 6.4 print), added ``--hosts`` times as hosts h00, h01, ... with
``dataset.add_each`` (both cores converting), then ``pagecols top DATASET --by host``.

Part 2: ``--dumps`` dumps of ``--dump-records`` records (``--seeds`` distinct seeded texts,
rotated) across hosts and four snapshots (``host=/taken=``), added at once; then ``top --by
host,where``, ``trend --over taken --by stack`` and a ``query`` grouping by host and snapshot.
Part 3: the reports over ``--copies`` dumps (1000: the issue's 40 M records), made by copying
part 2's files to more hosts, since converting them all would measure part 2's throughput again.

Each report runs as its own process, output to /dev/null; the median wall time of ``--repeat``
runs and the largest peak RSS are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import time
from pathlib import Path

from common import WORK, pagecols, run

from pagecols import dataset, synth


def make_dump(path: Path, records: int, seed: int) -> Path:
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        synth.write_dump(tmp, records=records, seed=seed, era="5.18")
        tmp.rename(path)
    return path


def add(items: list[tuple[Path, dict[str, str]]], root: Path) -> None:
    """Add ``items`` to a fresh dataset at ``root`` and print the throughput."""
    shutil.rmtree(root, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    added = dataset.add_each(items, root)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    records = sum(a.report.records for a in added)
    text = sum(a.report.bytes_in for a in added) / 2**20
    print(
        f"  {'add (spawned processes)':<32} {seconds:7.2f} s  {records / seconds / 1e3:7.0f} k records/s, "
        f"{text / seconds:.0f} MiB/s of text; {cpu:.1f} s CPU in the workers ({text / cpu:.0f} MiB/s per core)"
    )


def time_report(name: str, argv: list[str], repeat: int) -> None:
    runs = [run(pagecols(*argv)) for _ in range(repeat)]
    seconds = statistics.median(r.seconds for r in runs)
    cpu = statistics.median(r.cpu_seconds for r in runs)
    rss = max(r.max_rss_mib for r in runs)
    print(f"  {name:<32} {seconds:7.2f} s  {cpu:5.2f} s CPU  {rss:5.0f} MiB peak RSS  (median of {repeat})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=48)
    parser.add_argument("--records", type=int, default=38_000)
    parser.add_argument("--dumps", type=int, default=40)
    parser.add_argument("--dump-records", type=int, default=40_000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=1000, help="dumps in part 3's dataset (0 skips part 3)")
    parser.add_argument("--skip-part2", action="store_true")
    args = parser.parse_args()
    work = WORK / "fleet"
    work.mkdir(parents=True, exist_ok=True)

    one = make_dump(work / f"dump-5.18-{args.records}.txt", args.records, seed=61)
    fleet = work / f"hosts{args.hosts}"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"part 1: {args.hosts} hosts x {args.records:,} records ({one.stat().st_size / 2**20:.1f} MiB of text each)")
    add([(one, {"host": f"h{i:02d}"}) for i in range(args.hosts)], fleet)
    time_report("top --by host", ["top", str(fleet), "--by", "host"], args.repeat)
    time_report("top --by host,where", ["top", str(fleet), "--by", "host,where"], args.repeat)
    time_report("info (one line per dump)", ["info", str(fleet)], args.repeat)
    if args.skip_part2:
        return

    snapshots = 4
    hosts = max(1, args.dumps // snapshots)
    texts = [
        make_dump(work / f"dump-s{n}-{args.dump_records}.txt", args.dump_records, seed=n) for n in range(args.seeds)
    ]
    items = [
        (texts[(h + t) % len(texts)], {"host": f"h{h:03d}", "taken": str(t)})
        for h in range(hosts)
        for t in range(1, snapshots + 1)
    ]
    big = work / f"dumps{len(items)}"
    print(f"part 2: {len(items)} dumps ({hosts} hosts x {snapshots} snapshots) x {args.dump_records:,} records")
    add(items, big)
    time_report("top --by host,where", ["top", str(big), "--by", "host,where"], args.repeat)
    time_report("trend --over taken --by stack", ["trend", str(big), "--over", "taken", "--by", "stack"], args.repeat)
    sql = "SELECT host, taken, sum(pages) AS pages FROM pages GROUP BY host, taken ORDER BY pages DESC"
    time_report("query (group by host, taken)", ["query", str(big), sql], args.repeat)
    if args.copies:
        part3(big, work / f"copies{args.copies}", args.copies, snapshots=snapshots, sql=sql, repeat=args.repeat)


def part3(big: Path, root: Path, copies: int, *, snapshots: int, sql: str, repeat: int) -> None:
    """The reports over ``copies`` dumps: part 2's files copied to more hosts (converting them all
    again would only measure part 2's throughput once more)."""
    files = {(p.parent.parent.name, p.parent.name): p for p in sorted(big.rglob("*.parquet"))}
    hosts = sorted({host for host, _ in files})
    shutil.rmtree(root, ignore_errors=True)
    for i in range(copies):
        host, taken = i // snapshots, i % snapshots + 1
        source = files[(hosts[host % len(hosts)], f"taken={taken}")]
        target = root / f"host=c{host:04d}" / f"taken={taken}" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    records = sum(dataset.dumps(root)["records"])
    print(
        f"part 3: {copies} dumps ({copies // snapshots} hosts x {snapshots} snapshots), {records / 1e6:.1f} M records"
    )
    time_report("top --by host,where", ["top", str(root), "--by", "host,where"], repeat)
    time_report("trend --over taken --by stack", ["trend", str(root), "--over", "taken", "--by", "stack"], repeat)
    time_report("query (group by host, taken)", ["query", str(root), sql], repeat)


if __name__ == "__main__":
    main()
