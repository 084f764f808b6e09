"""Report frames to text: a rich table in a terminal, plain aligned text when piped, or csv/json/parquet.

Only the last step of a report lives here: the frames come finished from :mod:`pagecols.analyze`.
Plain text is stable (tests compare it byte for byte): numbers right-aligned, strings left,
two spaces between columns, ``-`` for a null, stacks one frame per line.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any, Final, Literal

import polars as pl

from pagecols.analyze import write_folded
from pagecols.errors import UsageError
from pagecols.outfile import replacing

Format = Literal["table", "csv", "json", "parquet"]
FORMATS: Final = ("table", "csv", "json", "parquet")

_NULL: Final = "-"


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns joined by ``|`` (as the kernel joins flags), for csv and text."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(pl.col(name).list.join("|") for name in lists) if lists else frame


def _is_number(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _cell(value: Any, column: str, dtype: pl.DataType) -> str:
    if value is None:
        return _NULL
    if column == "stack":
        return "\n".join(line.strip() for line in str(value).split("\n"))
    if isinstance(value, float):
        if column.startswith("delta_"):
            return f"{value:+.2f}"
        return f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and column.startswith("delta_"):
        return f"{value:+d}"
    del dtype
    return str(value)


def cells(frame: pl.DataFrame) -> list[list[str]]:
    """The frame's values as the strings a table shows, row by row."""
    flat = _flatten(frame)
    schema = flat.schema
    return [
        [_cell(value, name, schema[name]) for name, value in zip(flat.columns, row, strict=True)]
        for row in flat.iter_rows()
    ]


def plain_table(frame: pl.DataFrame) -> str:
    """Aligned plain text; a row with a multi-line cell is followed by a blank line."""
    rows = cells(frame)
    numeric = [_is_number(dtype) for dtype in frame.schema.values()]
    header = list(frame.columns)
    split = [[cell.split("\n") for cell in row] for row in rows]
    widths = [len(h) for h in header]
    for row in split:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    multiline = any(len(lines) > 1 for row in split for lines in row)

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    out = [line(header)]
    for row in split:
        height = max(len(lines) for lines in row)
        for k in range(height):
            out.append(line([lines[k] if k < len(lines) else "" for lines in row]))
        if multiline:
            out.append("")
    if multiline and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def rich_table(frame: pl.DataFrame, *, title: str | None = None, out: IO[str], width: int | None = None) -> None:
    """A rich table on ``out`` (a terminal)."""
    # Late: only terminals pay for importing rich.
    from rich.console import Console
    from rich.table import Table

    rows = cells(frame)
    table = Table(title=title, show_lines=any("\n" in c for row in rows for c in row), header_style="bold")
    for name, dtype in frame.schema.items():
        numeric = _is_number(dtype)
        table.add_column(name, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric)
    for row in rows:
        table.add_row(*row)
    Console(file=out, width=width, force_terminal=True).print(table)


def render(
    frame: pl.DataFrame,
    *,
    fmt: str = "table",
    out: IO[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    footer: Sequence[str] = (),
    terminal: bool | None = None,
) -> None:
    """Write ``frame`` in ``fmt`` to ``path`` (when given) or ``out`` (default stdout).

    ``table`` is rich in a terminal and plain text otherwise (``terminal`` overrides the
    check); ``title`` and ``footer`` lines only go with ``table``.  ``parquet`` needs ``path``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format `{fmt}`; formats: {', '.join(FORMATS)}")
    if fmt == "parquet":
        if path is None:
            raise UsageError("`--format parquet` needs an output file (`-o FILE`)")
        with replacing(path) as dest:
            frame.write_parquet(dest)
        return
    if path is not None:
        with replacing(path) as dest, open(dest, "w", encoding="utf-8", newline="\n") as fh:
            render(frame, fmt=fmt, out=fh, title=title, footer=footer, terminal=False)
        return
    stream = sys.stdout if out is None else out
    if fmt == "csv":
        stream.write(_flatten(frame).write_csv())
    elif fmt == "json":
        stream.write(frame.write_json() + "\n")
    else:
        is_tty = stream.isatty() if terminal is None else terminal
        if is_tty:
            rich_table(frame, title=title, out=stream)
        else:
            stream.write(plain_table(frame))
        for note in footer:
            stream.write(note + "\n")


# --- what the CLI prints around a report ------------------------------------------------------


def emit(
    frame: pl.DataFrame,
    *,
    fmt: str = "table",
    path: str | os.PathLike[str] | None = None,
    limit: int = 0,
    title: str | None = None,
    footer: Sequence[str] = (),
) -> None:
    """:func:`render` for the CLI: the first ``limit`` rows (0: all) to ``path`` or stdout."""
    shown = frame if limit == 0 else frame.head(limit)
    with _quiet_pipe():
        render(shown, fmt=fmt, path=path, title=title, footer=footer)


def emit_folded(frame: pl.DataFrame, path: str | os.PathLike[str] | None = None) -> None:
    """Folded stacks as ``stack weight`` lines to ``path`` or stdout."""
    if path is not None:
        with replacing(path) as dest, open(dest, "w", encoding="utf-8", newline="\n") as fh:
            write_folded(frame, fh)
        return
    with _quiet_pipe():
        write_folded(frame, sys.stdout)
        sys.stdout.flush()


def heading(text: str, *, first: bool) -> None:
    """A section heading between the tables of a report with several."""
    with _quiet_pipe():
        sys.stdout.write(("" if first else "\n") + f"# {text}\n")


def _number(value: float | int | None, spec: str = "") -> str:
    return _NULL if value is None else format(value, spec)


def top_footer(totals: dict[str, Any], shown: int) -> list[str]:
    """The totals line under ``top``: everything, not only the rows shown."""
    return [
        f"total: {_number(totals['pages'])} pages ({_number(totals['mib'], ',.2f')} MiB), "
        f"{_number(totals['allocations'])} allocations in {totals['groups']} groups; {shown} shown"
    ]


def diff_footer(totals: dict[str, Any]) -> list[str]:
    """The totals line under ``diff``: how much memory the two dumps differ by."""
    return [
        f"total: {_number(totals['pages_old'])} -> {_number(totals['pages_new'])} pages, "
        f"{_number(totals['delta_pages'], '+d')} pages ({_number(totals['delta_mib'], '+,.2f')} MiB); "
        f"{totals['appeared']} appeared, {totals['vanished']} vanished"
    ]


@contextlib.contextmanager
def _quiet_pipe() -> Iterator[None]:
    """`pagecols top x | head` is normal use: a closed stdout ends the output quietly."""
    try:
        yield
    except BrokenPipeError:
        # Point stdout at devnull so the interpreter's exit flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
