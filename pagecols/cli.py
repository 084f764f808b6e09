"""The command line: options -> library call -> print.  Nothing else lives here."""

from __future__ import annotations

import sys
from typing import NoReturn

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


# --- page_owner_sort: sort ----------------------------------------------------------------


# --- analyst reports -------------------------------------------------------------------


def main() -> None:
    app()
