"""Peak memory and wall time of every command as the dump grows, from Parquet and from text.

    python benchmarks/bench_scale.py [--sizes 600M,2400M] [--commands all] [--inputs parquet,text]
                                     [--readme] [--keep] [--reuse]

For each size, writes (seeded, so the same bytes every time) a dump of that size made of
four synthetic dumps one after another, of the eras 5.18, 6.5, 6.7 and mm-2026: headers
from 5.18 to the 2026 mm tree, memcg, migrate and slab trailers, task names with spaces.
It converts the dump to Parquet, then runs each command as its own process on the
Parquet file and on the text, output to /dev/null, and prints one row per command and
input: wall seconds, CPU seconds (user + system), peak RSS (wait4), and for ``convert``
MB/s and MB per CPU-second (on a shared 2-core VM wall time varies by 2x from run to
run; CPU time much less).  With ``--repeat N`` each figure is the median of N runs.

``--readme`` also writes the table into benchmarks/README.md, between the markers of
its "bench_scale" section.  The dumps are removed at the end unless ``--keep``: at
10 GB they fill a disk fast (``df -h`` first).  ``--reuse`` takes a Parquet file left by
``--keep`` as it is instead of converting again (no ``convert`` row then).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from common import WORK, Run, pagecols, parse_size, run

from pagecols import synth

ERAS = ("5.18", "6.5", "6.7", "mm-2026")
SQL = "SELECT comm, sum(pages) AS p, count(*) AS n FROM pages GROUP BY 1 ORDER BY 2 DESC"

# (name, argv after `pagecols`); {d} is the dump (Parquet or text), {o} a scratch directory.
COMMANDS: list[tuple[str, list[str]]] = [
    ("info", ["info", "{d}"]),
    ("cat", ["cat", "{d}"]),
    ("top --by stack", ["top", "{d}"]),
    ("top --by where", ["top", "{d}", "--by", "where"]),
    ("top --by comm,memcg", ["top", "{d}", "--by", "comm,memcg"]),
    ("diff --by stack", ["diff", "{d}", "{d}"]),
    ("folded", ["folded", "{d}"]),
    ("frag", ["frag", "{d}"]),
    ("query (group by comm)", ["query", "{d}", SQL]),
    ("plot top", ["plot", "top", "{d}", "-o", "{o}/top.png"]),
    ("plot timeline", ["plot", "timeline", "{d}", "-o", "{o}/timeline.png"]),
    ("sort -m --cull=st", ["sort", "-m", "--cull=st", "{d}", "/dev/null"]),
    ("sort (default)", ["sort", "{d}", "/dev/null"]),
]

BEGIN = "<!-- bench_scale: begin (written by benchmarks/bench_scale.py --readme) -->"
END = "<!-- bench_scale: end -->"


def median_run(argv: list[str], repeat: int) -> Run:
    runs = [run(argv) for _ in range(repeat)]
    return Run(
        statistics.median(r.seconds for r in runs),
        statistics.median(r.max_rss_mib for r in runs),
        0,
        statistics.median(r.cpu_seconds for r in runs),
    )


def make_dump(size: int) -> Path:
    """``size`` bytes of text: four seeded synthetic dumps of a quarter each, one per era."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"scale-{size >> 20}M.txt"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        for seed, era in enumerate(ERAS, start=1):
            part = WORK / f"scale-{size >> 20}M-part-{era}.txt"
            synth.write_dump(part, size=size // len(ERAS), seed=seed, era=era)
            with open(part, "rb") as f:
                while block := f.read(16 << 20):
                    out.write(block)
            part.unlink()
    tmp.rename(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="600M,2400M")
    parser.add_argument("--commands", default="all", help="comma-separated names from the table, or all")
    parser.add_argument("--inputs", default="parquet,text")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    parser.add_argument("--keep", action="store_true", help="keep the dumps for the next run")
    parser.add_argument("--reuse", action="store_true", help="use a Parquet file kept by --keep, not convert again")
    args = parser.parse_args()
    # A name may hold a comma itself (`top --by comm,memcg`): each is looked for between commas.
    listed = f",{args.commands},"
    commands = [(n, a) for n, a in COMMANDS if args.commands == "all" or f",{n}," in listed]
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    rows: dict[tuple[str, str], dict[int, Run]] = {}
    made: list[Path] = []
    nbytes: dict[int, int] = {}
    try:
        for size in sizes:
            text = make_dump(size)
            parquet = text.with_suffix(".parquet")
            made += [text, parquet]
            nbytes[size] = text.stat().st_size
            if not (args.reuse and parquet.exists()):
                rows.setdefault(("convert", "text"), {})[size] = median_run(
                    pagecols("convert", str(text), "-o", str(parquet)), args.repeat
                )
            inputs = {"parquet": parquet, "text": text}
            for name, template in commands:
                for kind in args.inputs.split(","):
                    argv = pagecols(*(a.format(d=inputs[kind], o=WORK) for a in template))
                    rows.setdefault((name, kind), {})[size] = median_run(argv, args.repeat)
                    print(f"# {size >> 20} MiB {name} from {kind}: {rows[name, kind][size]}", file=sys.stderr)
    finally:
        if not args.keep:
            for path in made:
                path.unlink(missing_ok=True)
    table = render(rows, sizes, nbytes)
    print(table)
    if args.readme:
        write_readme(table)
    return 0


def render(rows: dict[tuple[str, str], dict[int, Run]], sizes: list[int], nbytes: dict[int, int]) -> str:
    """A Markdown table: per command and input, seconds / CPU / peak RSS at each size, and the RSS growth."""
    head = ["command", "input"]
    for size in sizes:
        gb = f"{size / 1e9:.1f} GB"
        head += [f"{gb}: wall s", f"{gb}: CPU s", f"{gb}: peak RSS MiB"]
    head.append("RSS growth")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, kind), by_size in rows.items():
        cells = [f"`{name}`", kind]
        for size in sizes:
            r = by_size.get(size)
            cells += (
                ["-", "-", "-"] if r is None else [f"{r.seconds:.2f}", f"{r.cpu_seconds:.2f}", f"{r.max_rss_mib:,.0f}"]
            )
        first, last = by_size.get(sizes[0]), by_size.get(sizes[-1])
        growth = (
            "-"
            if first is None or last is None or len(sizes) < 2
            else f"{last.max_rss_mib / first.max_rss_mib - 1:+.0%}"
        )
        cells.append(growth)
        lines.append("| " + " | ".join(cells) + " |")
    convert = rows.get(("convert", "text"), {})
    for size in sizes:
        r = convert.get(size)
        if r is not None:
            mb = nbytes[size] / 1e6
            rate = f"{mb / r.seconds:,.0f} MB/s, {mb / r.cpu_seconds:,.0f} MB per CPU-second"
            lines.append(f"\n`convert` at {size / 1e9:.1f} GB: {rate}")
    return "\n".join(lines)


def write_readme(table: str) -> None:
    readme = Path(__file__).resolve().parent / "README.md"
    text = readme.read_text()
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        text = before + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
