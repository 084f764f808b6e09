"""The command line: options -> library call -> print.  Nothing else lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from pagecols.errors import PagecolsError, UsageError

app = typer.Typer(
    name="pagecols",
    help="Columnar analytics for Linux page_owner dumps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(err: PagecolsError) -> NoReturn:
    """The one place where a library error becomes a message and an exit code."""
    print(f"Error: {err}", file=sys.stderr)
    raise typer.Exit(2 if isinstance(err, UsageError) else 1)


# --- ingest: convert, info, cat ----------------------------------------------------------


@app.command()
def convert(
    dump: Annotated[
        str, typer.Argument(help="page_owner dump: a path or - for stdin; gzip/zstd/xz/bzip2 or plain")
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Parquet file to write [default: DUMP with .parquet]")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="stop at the first record that does not parse")
    ] = False,
) -> None:
    """Parse a dump once and write it as Parquet."""
    from pagecols import ingest
    from pagecols.progress import byte_progress
    from pagecols.source import source_size

    try:
        with byte_progress("converting", source_size(dump)) as advance:
            report = ingest.convert(dump, out, strict=strict, on_bytes=advance)
    except PagecolsError as e:
        fail(e)
    ingest.print_errors(report)


@app.command()
def info(
    src: Annotated[str, typer.Argument(help="a Parquet file from convert, or a text dump")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Records, pages, MiB, format, time span, distinct stacks, unparsed records."""
    from pagecols import ingest

    try:
        facts = ingest.info(src)
    except PagecolsError as e:
        fail(e)
    if json_out:
        import json

        print(json.dumps(facts))
        return
    width = max(map(len, facts))
    for key, value in facts.items():
        shown = (
            f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        )
        print(f"{key:<{width}}  {shown}")


@app.command()
def cat(src: Annotated[str, typer.Argument(help="a Parquet file from convert, or a text dump")]) -> None:
    """Write the dump text back out, byte for byte (line ends as LF)."""
    from pagecols import textout

    try:
        textout.cat(src, sys.stdout.buffer)
    except PagecolsError as e:
        fail(e)
    except BrokenPipeError:
        # `pagecols cat x | head` is normal use; point stdout at devnull so the exit flush stays quiet.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# --- page_owner_sort: sort ----------------------------------------------------------------


# --- analyst reports -------------------------------------------------------------------


def main() -> None:
    app()
