"""The command line: options -> library call -> print.  Nothing else lives here."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer._click import HelpFormatter
from typer.core import TyperArgument

from pagecols import __version__
from pagecols.errors import EXIT_CODES_HELP, PagecolsError, ThresholdExceeded, UsageError, complain

# Help is plain text, wrapped to the terminal (80 columns at most), as `git` and `rg` print it;
# `-h` is `--help`; `--install-completion` / `--show-completion` are typer's shell completion.
app = typer.Typer(
    name="pagecols",
    help="""Columnar analytics for Linux page_owner dumps.

    \b
    Example:
      pagecols convert dump.txt.gz -o dump.parquet && pagecols top dump.parquet
      pagecols COMMAND -h        (every command's options, with an example)
    """,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    epilog=EXIT_CODES_HELP,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"pagecols {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", "-V", is_eager=True, callback=_print_version, help="print the version and exit")
    ] = False,
) -> None:
    pass


#: Option metavars by parameter name (the rest are the name in capitals, as argparse prints them).
_METAVARS = {"by": "KEY[,KEY...]", "limit": "N", "fmt": "FORMAT", "out": "PATH", "min_mib": "MIB", "fail_above": "MIB"}


class _Command(typer.core.TyperCommand):
    """A command whose help reads ``Usage: pagecols top [OPTIONS] SRC`` and ``-n, --limit N``.

    typer 0.29 prints a required argument as ``{src}``, an argument's or option's type after
    it (``<str>``, ``<int range>``) and lists the arguments with their types; this replaces
    those pieces of its rendering (which is why pyproject pins typer's minor version).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for param in self.params:
            if param.param_type_name == "argument":
                param.metavar = param.metavar or (param.name or "").upper()
            elif not getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = _METAVARS.get(param.name or "", (param.name or "").upper())

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument" and param.metavar:
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
        return pieces

    def format_options(self, ctx: typer.Context, formatter: HelpFormatter) -> None:  # type: ignore[override]
        params = self.get_params(ctx)
        arguments = [(p.metavar or "", p.help or "") for p in params if isinstance(p, TyperArgument)]
        options = [r for p in params if p.param_type_name == "option" and (r := p.get_help_record(ctx))]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def fail(err: PagecolsError) -> NoReturn:
    """A library error as the CLI's error line and exit code (:func:`pagecols.errors.complain`)."""
    raise typer.Exit(complain(err))


# --- ingest: convert, info, cat ----------------------------------------------------------


def _choices(*values: str) -> Callable[[str], list[str]]:
    """Shell completion of an option's values among ``values``."""

    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="polars (this machine) or spark (a Spark session: see --master)",
        autocompletion=_choices("polars", "spark"),
    ),
]
MasterOption = Annotated[
    str | None,
    typer.Option("--master", help="with --engine spark: Spark master [default: the active session, else local[*]]"),
]


@app.command(epilog=EXIT_CODES_HELP)
def convert(
    dumps: Annotated[
        list[str],
        typer.Argument(
            metavar="DUMP...",
            help="page_owner dump(s): a path or - for stdin; gzip/zstd/xz/bzip2 or plain; several need --into",
        ),
    ],
    *,
    out: Annotated[
        str | None, typer.Option("-o", "--out", help="Parquet file to write [default: DUMP with .parquet]")
    ] = None,
    into: Annotated[
        Path | None,
        typer.Option("--into", metavar="DIR", help="add the dumps to this dataset (created if needed), all or none"),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", "-l", metavar="KEY=VALUE", help="the dumps' KEY=VALUE/ directory; repeatable, in order"
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, metavar="N", help="dumps converted at once [default: every core]"),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="stop at the first record that does not parse")] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="with --into: polars (processes here) or spark (a task per dump; paths all executors open)"
        ),
    ] = "polars",
    master: MasterOption = None,
) -> None:
    """Parse a dump once and write it as Parquet.

    With --into, add dumps to a dataset: a directory of Parquet files in KEY=VALUE/
    directories (the --label options), one per dump, that every report reads as one table.

    \b
    Example:
      cat /sys/kernel/debug/page_owner | gzip > dump.txt.gz
      pagecols convert dump.txt.gz -o dump.parquet
      pagecols convert web01-*.txt.gz --into fleet \\
          -l host=web01 -l taken=2026-05-01T09
    """
    if into is None:
        if label or len(dumps) > 1:
            fail(UsageError("several dumps, or labels, go into a dataset: add --into DIR"))
        if engine != "polars" or master is not None:
            fail(UsageError("--engine and --master go with --into"))
        from pagecols import ingest

        # The console script runs the usual spellings of this command without typer (pagecols.entry).
        code = ingest.run_convert(dumps[0], out, strict=strict)
    else:
        if out is not None:
            fail(UsageError("-o names one file and --into a dataset: give one of them"))
        from pagecols import engine as engines

        try:
            code = engines.convert(dumps, into, label or [], engine, master, strict=strict, jobs=jobs)
        except PagecolsError as e:
            fail(e)
    if code:
        raise typer.Exit(code)


@app.command(epilog=EXIT_CODES_HELP)
def info(
    src: Annotated[
        list[str],
        typer.Argument(metavar="SRC...", help="a Parquet file from convert or a text dump; a dataset, a glob, several"),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    engine: EngineOption = "polars",
    master: MasterOption = None,
) -> None:
    """Records, pages, MiB, format, time span, distinct stacks, unparsed records, records not UTF-8.

    Of a dataset, a partition of one, a glob or several files: one line per dump, with its
    labels, source, checksum, format, records, pages and MiB.

    \b
    Example:
      pagecols info dump.parquet --json | jq .pages
      pagecols info fleet
    """
    from pagecols import dataset
    from pagecols import engine as engines

    if len(src) > 1 or dataset.is_many(src[0]):
        try:
            table = engines.dumps(src, engine, master)
        except PagecolsError as e:
            fail(e)
        if json_out:
            import json

            print(json.dumps(table.to_dicts()))
            return
        from pagecols import render

        render.emit(table, limit=0, noun="dumps", title=f"dumps: {' '.join(src)}", short_names=False)
        return
    try:
        facts = engines.info(src[0], engine, master)
    except PagecolsError as e:
        fail(e)
    if json_out:
        import json

        print(json.dumps(facts))
        return
    width = max(map(len, facts))
    for key, value in facts.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        print(f"{key:<{width}}  {shown}")


@app.command(epilog=EXIT_CODES_HELP)
def cat(
    src: Annotated[
        list[str],
        typer.Argument(metavar="SRC...", help="a Parquet file from convert or a text dump; a dataset, a glob, several"),
    ],
) -> None:
    """Write the dump text back out, byte for byte (line ends as LF); several dumps one after the other.

    \b
    Example:
      pagecols cat dump.parquet | cmp - <(zcat dump.txt.gz)
    """
    from pagecols import dataset

    try:
        dataset.cat(src, sys.stdout.buffer)
    except PagecolsError as e:
        fail(e)
    except BrokenPipeError:
        # `pagecols cat x | head` is normal use; point stdout at devnull so the exit flush stays quiet.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# --- page_owner_sort: sort ----------------------------------------------------------------


class _RawArgsCommand(_Command):
    """Keeps argv as typed, ``--`` included: page_owner_sort's getopt-style parser reads it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.options_metavar = "[OPTIONS] INPUT OUTPUT"

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        ctx.meta["pagecols.sort.argv"] = list(args)
        return super().parse_args(ctx, args)


@app.command(
    "sort",
    epilog=EXIT_CODES_HELP,
    cls=_RawArgsCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def sort_(ctx: typer.Context) -> None:
    """Drop-in page_owner_sort (v6.3 + 3 fixes), the same options and output bytes.

    INPUT is a text dump (any compression; - is stdin) or a Parquet file from convert;
    OUTPUT - is stdout.  docs/compat.md says what is reproduced and what is fixed.

    \b
    Sort:   -a alloc time, -m pages, -p pid, -P tgid, -n name, -r free time,
            -s stack, -t times (the default)
            --sort [+|-]KEY[,...]  KEY: p tg n st T ft at ator
            (or pid tgid name stacktrace txt free_ts alloc_ts allocator)
    Group:  --cull KEY[,...]  KEY: p tg n f st ator
    Select: --pid LIST, --tgid LIST, --name LIST; -f: drop freed pages

    \b
    Example:
      pagecols sort -m --cull=st dump.parquet out.txt
    """
    from pagecols.compat import run_sort

    code = run_sort(ctx.meta["pagecols.sort.argv"])
    if code:
        raise typer.Exit(code)


# --- analyst reports -------------------------------------------------------------------


def _values(module: str, name: str, *, listed: bool = False) -> Callable[[str], list[str]]:
    """Shell completion of an option's values: the constant ``name`` of ``module``.

    The module is imported only when the shell asks, so that a command does not pay for it.
    ``listed`` completes the last item of a comma-separated list (``--by comm,me`` -> ``comm,memcg``).
    """

    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",") if listed else ("", "", incomplete)
        prefix = f"{done}," if done else ""
        return [prefix + v for v in getattr(importlib.import_module(module), name) if v.startswith(last)]

    return complete


_KEY_VALUES = _values("pagecols.analyze", "DOCUMENTED_KEYS", listed=True)

_FORMAT_HELP = "table (fitted to the terminal, plain when piped), csv, json or parquet (needs -o)"
_KEYS_HELP = (
    "group keys, repeatable or comma-separated: stack, where (the first frame outside the page, slab and "
    "vmalloc allocators), comm, pid, tgid, module, allocator, gfp, migratetype, memcg, order, or any column"
)
ByOption = Annotated[
    list[str] | None, typer.Option("--by", "-b", help=f"{_KEYS_HELP} [default: stack]", autocompletion=_KEY_VALUES)
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "-n", "--limit", min=0, help="rows to show; 0 shows all [default: 20 in a table, all in csv/json/parquet]"
    ),
]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help=_FORMAT_HELP, autocompletion=_values("pagecols.render", "FORMATS"))
]
# str, not Path: typer makes "" into ".", and `-o ""` was reported as the directory `.`.
OutOption = Annotated[str | None, typer.Option("-o", "--out", help="write to this file instead of stdout")]
_MANY_HELP = "; or a dataset from convert --into, a partition of one (fleet/host=web01), a glob, several"
SrcArgument = Annotated[
    list[str],
    typer.Argument(metavar="SRC...", help="a dump (text or Parquet) or a page_owner_stacks file" + _MANY_HELP),
]
DumpArgument = Annotated[list[str], typer.Argument(metavar="SRC...", help="a dump (text or Parquet)" + _MANY_HELP)]


def inputs(src: list[str]) -> str | list[str]:
    """What a report reads: one path as itself (a file, a dataset, a partition, a glob), several as a list."""
    return src[0] if len(src) == 1 else src


@app.command(epilog=EXIT_CODES_HELP)
def top(
    src: SrcArgument,
    *,
    by: ByOption = None,
    limit: LimitOption = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    engine: EngineOption = "polars",
    master: MasterOption = None,
) -> None:
    """The groups holding the most pages: allocations, pages, MiB and % of all pages.

    \b
    Example:
      pagecols top dump.parquet --by where -n 10
      pagecols top dump.parquet --by comm,memcg -f csv > top.csv
    """
    from pagecols import analyze, render
    from pagecols.engine import run

    keys = by or ["stack"]
    try:
        groups = run("top", engine, master, inputs(src), by=keys, n=None)
        footer = render.top_footer(analyze.summary(groups))
        title = f"top by {', '.join(keys)}: {' '.join(src)}"
        render.emit(groups, fmt=fmt, path=out, limit=limit, title=title, footer=footer)
    except PagecolsError as e:
        fail(e)


@app.command(epilog=EXIT_CODES_HELP)
def diff(
    old: Annotated[str, typer.Argument(help="the earlier dump or stack file")],
    new: Annotated[str, typer.Argument(help="the later dump or stack file")],
    *,
    by: ByOption = None,
    limit: LimitOption = None,
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help="change (the largest either way first), growth, shrinkage, pages (the largest group) or key",
            autocompletion=_values("pagecols.analyze", "DIFF_ORDERS"),
        ),
    ] = "change",
    min_mib: Annotated[float | None, typer.Option("--min-mib", help="only groups that changed by this much")] = None,
    fail_above: Annotated[
        float | None, typer.Option("--fail-above", help="exit 3 when a group grew by more than this many MiB")
    ] = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    engine: EngineOption = "polars",
    master: MasterOption = None,
) -> None:
    """The same groups in two dumps: change in pages and MiB, the largest change either way first.

    \b
    Example:
      pagecols diff before.parquet after.parquet --by stack --fail-above 64
    """
    from pagecols import analyze, render
    from pagecols.engine import run

    keys = by or ["stack"]
    try:
        groups = run("diff", engine, master, old, new, by=keys, order=order)
        footer = render.diff_footer(analyze.diff_totals(groups).row(0, named=True))
        title = f"diff by {', '.join(keys)}: {old} -> {new}"
        render.emit(analyze.changed(groups, min_mib), fmt=fmt, path=out, limit=limit, title=title, footer=footer)
        grown = analyze.grew_above(groups, fail_above) if fail_above is not None else None
    except PagecolsError as e:
        fail(e)
    if grown is not None and grown.height:
        largest = grown.row(0, named=True)["delta_mib"]
        message = f"{grown.height} group(s) grew by more than {fail_above:g} MiB (largest +{largest:,.2f} MiB)"
        fail(ThresholdExceeded(message))


OverOption = Annotated[
    str,
    typer.Option(
        "--over", metavar="LABEL", help="the label whose values are the snapshots (in order of value when numbers)"
    ),
]


@app.command(epilog=EXIT_CODES_HELP)
def trend(
    src: DumpArgument,
    *,
    over: OverOption,
    by: ByOption = None,
    limit: LimitOption = None,
    fail_above: Annotated[
        float | None,
        typer.Option("--fail-above", help="exit 3 when a group grew by more than this many MiB, first to last"),
    ] = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    engine: EngineOption = "polars",
    master: MasterOption = None,
) -> None:
    """Each group's MiB at each snapshot (--over LABEL) and the change, the largest growth first.

    A table has a column per snapshot; csv, json and parquet the long form: the keys,
    LABEL, pages, allocations and mib, a row per group and snapshot.

    \b
    Example:
      pagecols trend fleet --over taken --by where --fail-above 64
      pagecols trend fleet/host=web01 --over taken --by stack -f csv > trend.csv
    """
    from pagecols import analyze, render
    from pagecols.engine import run

    keys = by or ["stack"]
    try:
        long = run("trend", engine, master, inputs(src), over=over, by=keys)
        title = f"trend by {', '.join(keys)} over {over}: {' '.join(src)}"
        if fmt == "table":
            render.emit(analyze.trend_wide(long, over=over), path=out, limit=limit, title=title)
        else:
            render.emit(long, fmt=fmt, path=out, limit=limit, title=title, noun="rows")
        grown = analyze.grew_over(long, fail_above, over=over) if fail_above is not None else None
    except PagecolsError as e:
        fail(e)
    if grown is not None and grown.height:
        largest = grown.row(0, named=True)["delta_mib"]
        message = f"{grown.height} group(s) grew by more than {fail_above:g} MiB (largest +{largest:,.2f} MiB)"
        fail(ThresholdExceeded(message))


@app.command(epilog=EXIT_CODES_HELP)
def folded(
    src: SrcArgument,
    *,
    weight: Annotated[
        str,
        typer.Option("--weight", "-w", help="pages or allocations", autocompletion=_choices("pages", "allocations")),
    ] = "pages",
    out: OutOption = None,
    engine: EngineOption = "polars",
    master: MasterOption = None,
) -> None:
    """Folded stacks (`outermost;...;innermost N`) for flamegraph.pl or speedscope.

    \b
    Example:
      pagecols folded dump.parquet | flamegraph.pl > pages.svg
    """
    from pagecols import render
    from pagecols.engine import run

    try:
        render.emit_folded(run("folded", engine, master, inputs(src), weight=weight), out)
    except PagecolsError as e:
        fail(e)


@app.command(epilog=EXIT_CODES_HELP)
def frag(
    src: DumpArgument,
    *,
    part: Annotated[
        str | None,
        typer.Option(
            "--part",
            help="summary, stacks or blocks [default: summary and stacks; summary with -f/-o]",
            autocompletion=_choices("summary", "stacks", "blocks"),
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("-n", "--limit", min=0, help="stacks and blocks to show; 0 shows all [default: 10 in a table]"),
    ] = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    engine: EngineOption = "polars",
    master: MasterOption = None,
) -> None:
    """Pageblock fragmentation: mixed blocks per migratetype, and the stacks that mixed them.

    \b
    Example:
      pagecols frag dump.parquet
      pagecols frag dump.parquet --part blocks -f csv -o blocks.csv
    """
    from pagecols import render
    from pagecols.engine import run

    reports = {
        "summary": ("mixed pageblocks by pageblock migratetype", "frag", {}),
        "stacks": ("stacks with pages in pageblocks of another migratetype", "frag_stacks", {"n": None}),
        "blocks": ("pageblocks", "frag_blocks", {}),
    }
    if part is not None and part not in reports:
        fail(UsageError(f"unknown part `{part}`; parts: {', '.join(reports)}"))
    parts = [part] if part else (["summary", "stacks"] if fmt == "table" and out is None else ["summary"])
    try:
        # Every part is computed before any is printed: an unreadable input prints nothing.
        tables = [run(reports[name][1], engine, master, inputs(src), **reports[name][2]) for name in parts]
        if part is None and len(parts) == 1:
            print("frag: the summary only; --part stacks or --part blocks for the others", file=sys.stderr)
        for i, (name, table) in enumerate(zip(parts, tables, strict=True)):
            title = reports[name][0]
            if len(parts) > 1:
                render.heading(title, first=i == 0)
            noun = {"summary": "migratetypes", "stacks": "stacks", "blocks": "pageblocks"}[name]
            render.emit(
                table,
                fmt=fmt,
                path=out,
                limit=0 if name == "summary" else limit,
                default_rows=10,
                noun=noun,
                title=None if len(parts) > 1 else f"{title}: {' '.join(src)}",
            )
    except PagecolsError as e:
        fail(e)


@app.command(epilog=EXIT_CODES_HELP)
def query(
    src: SrcArgument,
    sql: Annotated[str, typer.Argument(help='SQL over `pages` (one row per record) and `stacks`; quote "where"')],
    *,
    limit: LimitOption = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    engine: EngineOption = "polars",
    master: MasterOption = None,
    allow_files: Annotated[
        bool, typer.Option("--allow-files", help="let the SQL read other files (read_csv, read_parquet ...)")
    ] = False,
) -> None:
    """SQL over a dump: the tables `pages` and `stacks` (DESCRIBE pages lists the columns).

    Polars SQL, or Spark SQL with --engine spark (where "double quotes" name columns too).

    \b
    Example:
      pagecols query dump.parquet "DESCRIBE pages"
      pagecols query dump.parquet 'SELECT comm, sum(pages) AS pages FROM pages
          GROUP BY comm ORDER BY pages DESC LIMIT 5'
    """
    from pagecols import render
    from pagecols.engine import run

    try:
        if allow_files and engine != "polars":
            raise UsageError("`--allow-files` goes with `--engine polars`")
        options = {"allow_files": True} if allow_files else {}
        result = run("query", engine, master, inputs(src), sql, **options)
        render.emit(result, fmt=fmt, path=out, limit=limit, noun="rows", title=sql, short_names=False)
    except PagecolsError as e:
        fail(e)


plot_app = typer.Typer(
    help="""Pictures of a dump: PNG, SVG or PDF by the output's suffix.

    \b
    Example:
      pagecols plot timeline dump.parquet -o timeline.png
    """,
    no_args_is_help=True,
    epilog=EXIT_CODES_HELP,
)
app.add_typer(plot_app, name="plot")
PlotOut = Annotated[str, typer.Option("-o", "--out", help="image to write: .png, .svg or .pdf")]
TitleOption = Annotated[str | None, typer.Option("--title", help="title [default: names the dump]")]
PlotByOption = Annotated[
    list[str] | None,
    typer.Option("--by", "-b", help=f"{_KEYS_HELP} [default: where]", autocompletion=_KEY_VALUES),
]


@plot_app.command("timeline", epilog=EXIT_CODES_HELP)
def plot_timeline(
    src: DumpArgument,
    *,
    out: PlotOut,
    split: Annotated[
        str, typer.Option("--split", help="one key: comm, allocator, where, memcg, ...", autocompletion=_KEY_VALUES)
    ] = "comm",
    groups: Annotated[int, typer.Option("--groups", min=1, help="values of --split drawn; the rest is (other)")] = 6,
    title: TitleOption = None,
) -> None:
    """Memory still allocated, by allocation time, stacked by the top comms (or --split).

    \b
    Example:
      pagecols plot timeline dump.parquet -o timeline.png --split memcg
    """
    from pagecols import frames, plot

    try:
        with frames.reading(*src):
            plot.timeline(inputs(src), out, split=split, groups=groups, title=title)
    except PagecolsError as e:
        fail(e)


@plot_app.command("top", epilog=EXIT_CODES_HELP)
def plot_top(
    src: SrcArgument,
    *,
    out: PlotOut,
    by: PlotByOption = None,
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="bars to draw")] = 15,
    title: TitleOption = None,
) -> None:
    """Horizontal bars of the groups holding the most MiB (by `where` unless --by).

    \b
    Example:
      pagecols plot top dump.parquet -o top.svg --by comm
    """
    from pagecols import frames, plot

    try:
        with frames.reading(*src):
            plot.top(inputs(src), out, by=by or ["where"], n=limit, title=title)
    except PagecolsError as e:
        fail(e)


@plot_app.command("trend", epilog=EXIT_CODES_HELP)
def plot_trend(
    src: DumpArgument,
    *,
    out: PlotOut,
    over: OverOption,
    by: PlotByOption = None,
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="lines to draw: the groups that grew most")] = 8,
    title: TitleOption = None,
) -> None:
    """MiB of the groups that grew most (by `where` unless --by), at each value of the --over label.

    \b
    Example:
      pagecols plot trend fleet --over taken -o trend.png
    """
    from pagecols import frames, plot

    try:
        with frames.reading(*src):
            plot.trend(inputs(src), out, over=over, by=by or ["where"], n=limit, title=title)
    except PagecolsError as e:
        fail(e)


# Every command prints its help as _Command does (typer's decorator makes an unset class
# TyperCommand); sort's own class builds on it.
for _command in [*app.registered_commands, *plot_app.registered_commands]:
    if _command.cls in (None, typer.core.TyperCommand):
        _command.cls = _Command
