"""Report frames to text: a table fitted to the terminal, plain aligned text when piped, or csv/json/parquet.

Only the last step of a report lives here: the frames come finished from :mod:`pagecols.analyze`.

* **terminal** (:func:`terminal_table`): fitted to the terminal's width.  The widest text
  column is shortened with a visible ``…``; a column is never dropped and a number never
  cut.  Numbers have thousands separators; a stack is printed below its row, one frame a
  line, the allocator's own frames folded into one line, so that its first frame is the
  allocation site.
* **plain** (:func:`plain_table`, when piped): stable (tests compare it byte for byte), for
  ``grep``, ``sort -n`` and ``awk``: numbers right-aligned without separators, strings left,
  two spaces between columns, ``-`` for a null, stacks one frame per line.
* **csv, json, parquet**, and a table piped or written to a file: every row unless ``-n``
  says otherwise; a table in a terminal shows 20 and says how many it left out (:func:`emit`).

A stack hash reads ``0x`` + 16 hex digits in csv, json and plain text, and its first 8
(``0xf83852a2``) in a terminal and in plot labels.  JSON carries every 64-bit value exactly:
hashes and times (``ts``, ``free_ts``) as strings, as is any other integer column a double
cannot hold.  PFNs and gfp masks read in hex in tables, as the kernel prints them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final, Literal, cast

import polars as pl

from pagecols.analyze import write_folded
from pagecols.derive import ALLOCATOR_RE, SYMBOL_RE, hash_text, hex_number
from pagecols.errors import UsageError
from pagecols.outfile import cannot_write, replacing

Format = Literal["table", "csv", "json", "parquet"]
FORMATS: Final = ("table", "csv", "json", "parquet")
#: How a frame's values are written: the four text forms (parquet keeps the frame as is).
Style = Literal["terminal", "plain", "csv", "json"]

_NULL: Final = "-"
#: Rows a table in a terminal shows when ``-n`` is not given; anything else gives all.
DEFAULT_ROWS: Final = 20

#: Columns read in hex, as the kernel prints them, in tables (csv and json keep numbers).
HEX_COLUMNS: Final = ("pfn", "gfp_mask")
#: Integer columns JSON carries as strings whatever their values: 64-bit nanoseconds.
JSON_STRING_COLUMNS: Final = ("ts", "free_ts")
#: The largest integer every double holds exactly.
_DOUBLE_EXACT: Final = 1 << 53
#: What a table shows for an empty gfp flag list (mask 0, printed by the kernel as ``0x0()``).
NO_GFP_FLAGS: Final = "(none)"


# --- values for each text form ------------------------------------------------------------------


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns joined by ``|`` (as the kernel joins flags), for csv and text."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(pl.col(name).list.join("|") for name in lists) if lists else frame


def _needs_string(series: pl.Series) -> bool:
    """A 64-bit integer column with a value beyond what a double holds exactly."""
    if series.dtype not in (pl.Int64, pl.UInt64) or series.null_count() == series.len():
        return False
    low, high = series.min(), series.max()
    return bool(high > _DOUBLE_EXACT or low < -_DOUBLE_EXACT)  # type: ignore[operator]


def prepare(frame: pl.DataFrame, style: Style) -> pl.DataFrame:
    """``frame``'s values as ``style`` writes them: hashes in hex, and what JSON cannot hold as strings."""
    out = frame
    if "stack_hash" in out.columns and out.schema["stack_hash"].is_integer():
        out = out.with_columns(hash_text(out["stack_hash"], short=style == "terminal"))
    if style in ("terminal", "plain"):
        out = out.with_columns(
            hex_number(out[name]) for name in HEX_COLUMNS if name in out.columns and out.schema[name].is_integer()
        )
        if "gfp_flags" in out.columns and out.schema["gfp_flags"] == pl.String:
            out = out.with_columns(
                pl.when(pl.col("gfp_flags") == "")
                .then(pl.lit(NO_GFP_FLAGS))
                .otherwise(pl.col("gfp_flags"))
                .alias("gfp_flags")
            )
    if style == "json":
        exact = [
            name
            for name, dtype in out.schema.items()
            if dtype.is_integer() and (name in JSON_STRING_COLUMNS or _needs_string(out[name]))
        ]
        out = out.with_columns(pl.col(exact).cast(pl.String))
    return out


def _cell(value: Any, column: str) -> str:
    if value is None:
        return _NULL
    if column == "stack":
        return "\n".join(line.strip() for line in str(value).split("\n"))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:+.2f}" if column.startswith("delta_") else f"{value:.2f}"
    if isinstance(value, int) and column.startswith("delta_"):
        return f"{value:+d}"
    return str(value)


def cells(frame: pl.DataFrame) -> list[list[str]]:
    """The frame's values as the strings a plain table shows, row by row."""
    flat = _flatten(frame)
    return [[_cell(value, name) for name, value in zip(flat.columns, row, strict=True)] for row in flat.iter_rows()]


# --- plain text (piped) ---------------------------------------------------------------------------


def _plain_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column's cells as a plain table shows them (:func:`_cell`), as one polars expression."""
    col = pl.col(name)
    text: pl.Expr
    if dtype == pl.Boolean:
        text = pl.when(col).then(pl.lit("yes")).when(~col).then(pl.lit("no"))
    elif dtype.is_float():
        # Python's formatting, rounding halves to even as it does (0.125 -> 0.12): floats
        # are the measures of grouped reports, a few rows, not the records.
        spec = "+.2f" if name.startswith("delta_") else ".2f"
        text = col.map_elements(lambda v: format(v, spec), return_dtype=pl.String, skip_nulls=True)
    elif dtype.is_integer():
        text = col.cast(pl.String)
        if name.startswith("delta_"):
            text = pl.when(col >= 0).then(pl.concat_str(pl.lit("+"), text)).otherwise(text)
    elif name == "stack" and dtype == pl.String:
        text = col.str.split("\n").list.eval(pl.element().str.strip_chars()).list.join("\n")
    elif dtype == pl.String:
        text = col
    else:
        text = col.map_elements(str, return_dtype=pl.String, skip_nulls=True)
    return text.fill_null(pl.lit(_NULL))


def plain_table(frame: pl.DataFrame) -> str:
    """Aligned plain text; a row with a multi-line cell is followed by a blank line.

    Built with polars string expressions, column by column, so that ``query`` piped out
    of a dump of millions of records does not format them one cell at a time in Python.
    """
    return "".join(plain_parts(frame))


#: Rows of a plain table made into text at a time: the frames that pad and join its lines
#: take ~10 times the text they make (260 MiB for the 25 MB of `frag`'s stacks at once).
PLAIN_ROWS: Final = 1000


def plain_parts(frame: pl.DataFrame, *, rows: int = PLAIN_ROWS) -> Iterator[str]:
    """:func:`plain_table` in pieces, the header then ``rows`` rows at a time, to write as they come."""
    flat = _flatten(frame)
    names = [f"c{i}" for i in range(flat.width)]
    numeric = [dtype.is_numeric() for dtype in frame.schema.values()]
    text = flat.select(_plain_text(n, d).alias(c) for c, (n, d) in zip(names, flat.schema.items(), strict=True))
    multiline = any(text[c].str.contains("\n", literal=True).any() for c in names)

    def longest(c: str) -> int:
        """The column's longest line."""
        lines = pl.col(c).str.split("\n").list.eval(pl.element().str.len_chars()).list.max()
        widest = lines.max() if multiline else pl.col(c).str.len_chars().max()
        return cast("int | None", text.select(widest).item()) or 0

    widths = [max(len(header), longest(c)) for header, c in zip(frame.columns, names, strict=True)]
    padded = [
        (pl.col(c).str.pad_start(w) if is_number else pl.col(c).str.pad_end(w))
        for c, w, is_number in zip(names, widths, numeric, strict=True)
    ]
    header = "  ".join(
        h.rjust(w) if is_number else h.ljust(w) for h, w, is_number in zip(frame.columns, widths, numeric, strict=True)
    ).rstrip()
    yield header + "\n"
    last = text.height - 1
    for start in range(0, text.height, rows):
        lines = text.slice(start, rows)
        if multiline:
            # One row per printed line: row i, line k of each cell ("" past a cell's last line),
            # and a blank line after every row but the last.  Each cell's lines are padded with
            # "" to its row's height and all columns exploded together: exploding a line number
            # instead repeated every cell's whole list on each of its row's lines.
            split = lines.select(pl.col(names).str.split("\n")).with_row_index("_row", offset=start)
            height = pl.max_horizontal(pl.col(c).list.len() for c in names) + (pl.col("_row") < last).cast(pl.UInt32)
            lines = (
                split.with_columns(_height=height)
                .select(
                    pl.concat_list(pl.col(c), pl.lit("").repeat_by(pl.col("_height") - pl.col(c).list.len())).alias(c)
                    for c in names
                )
                .explode(names)
            )
        body = lines.select(pl.concat_str(padded, separator="  ").str.strip_chars_end().str.join("\n")).item()
        yield body + "\n"


# --- terminal -----------------------------------------------------------------------------------

#: Column names as a terminal shows them (short, so that the numbers keep their room).
#: ``<x>_old``, ``<x>_new`` and ``delta_<x>`` show as ``old``, ``new`` and ``Δ`` under a ``<x>`` heading.
SHORT_NAMES: Final = {
    "allocations": "allocs",
    "mib": "MiB",
    "percent": "%",
    "stack_hash": "stack",
    "block_migratetype": "block type",
    "migratetype": "type",
    "mixed_blocks": "mixed",
    "foreign_pages": "foreign",
    "mixed_percent": "mixed %",
    "foreign_migratetypes": "foreign types",
    "gfp_flags": "gfp flags",
    "gfp_mask": "gfp mask",
}
#: A text column is shortened to this width before the gap between columns narrows.
_COMFORTABLE: Final = 16
#: ... and never below this, however narrow the terminal.
_NARROWEST: Final = 6
#: Frames below a row are indented by this much.
_INDENT: Final = "    "
_ELLIPSIS: Final = "…"
#: Text columns that are numbers in hex (:func:`prepare`): cut, they would name another value.
_WHOLE: Final = frozenset({"stack_hash", *HEX_COLUMNS})
_SYMBOL: Final = re.compile(SYMBOL_RE)
_ALLOCATOR: Final = re.compile(ALLOCATOR_RE)


@dataclass
class _Column:
    header: str
    group: str
    numeric: bool
    cells: list[str]
    bare: list[str]  # numbers without thousands separators, the fallback for a narrow terminal
    fixed: bool = False  # never shortened: a number, or a hash or hex number written as text
    width: int = 0
    separators: bool = True

    def natural(self) -> int:
        values = self.shown
        return max(len(self.header), *(len(v) for v in values)) if values else len(self.header)

    @property
    def shown(self) -> list[str]:
        return self.cells if self.separators else self.bare


def _heading(name: str, paired: set[str], *, short: bool) -> tuple[str, str]:
    """A column's (group, header) in a terminal: ``pages_old`` is ``old`` under ``pages``.

    ``paired`` holds the measures with ``_old``/``_new`` columns; a lone ``delta_pages`` is ``Δpages``.
    """
    if not short:
        return "", name
    for suffix in ("_old", "_new"):
        base = name.removesuffix(suffix)
        if base in paired:
            return SHORT_NAMES.get(base, base), suffix[1:]
    if name.startswith("delta_"):
        base = name.removeprefix("delta_")
        if base == "mib" and "pages" in paired:
            return "pages", "ΔMiB"
        if base in paired:
            return SHORT_NAMES.get(base, base), "Δ"
        return "", "Δ" + SHORT_NAMES.get(base, base)
    return "", SHORT_NAMES.get(name, name)


def _number(value: Any, column: str, *, separators: bool) -> str:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "yes" if value else "no"
    sign = "+" if column.startswith("delta_") else ""
    comma = "," if separators else ""
    if isinstance(value, float):
        return format(value, f"{sign}{comma}.2f")
    return format(value, f"{sign}{comma}d")


def _elide(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + _ELLIPSIS


def fold_stack(stack: str) -> list[str]:
    """A stack's frames for a person: the allocator's leading frames folded into one line.

    What is left starts at the allocation site (the ``where`` of the stack).  A stack made
    only of allocator frames keeps its last one.
    """
    frames = [line.strip() for line in stack.split("\n") if line.strip()]
    inside = 0
    for frame in frames[:-1]:
        match = _SYMBOL.match(frame)
        if match is None or not _ALLOCATOR.match(match.group(1)):
            break
        inside += 1
    if inside < 2:
        return frames
    return [f"[{inside} allocator frames]", *frames[inside:]]


def _below(value: Any, column: str) -> list[str]:
    if value is None:
        return []
    if column == "stack":
        return fold_stack(str(value))
    return str(value).split("\n")


def _fit(columns: list[_Column], width: int) -> int:
    """Set each column's width so that a row fits in ``width``; return the gap between columns."""

    def total(gap: int) -> int:
        return sum(c.width for c in columns) + gap * (len(columns) - 1)

    for column in columns:
        column.width = column.natural()

    def shrink_text(floor: int, gap: int) -> None:
        while total(gap) > width:
            text = [c for c in columns if not c.fixed and c.width > max(floor, len(c.header))]
            if not text:
                return
            widest = max(text, key=lambda c: c.width)
            widest.width -= 1

    # What gives first: long text, then the gap between columns, then the thousands
    # separators, then the text down to its narrowest.  A number is never cut.
    shrink_text(_COMFORTABLE, 2)
    gap = 2 if total(2) <= width else 1
    if total(gap) > width:
        for column in columns:
            if column.numeric:
                column.separators = False
                column.width = column.natural()
    shrink_text(_NARROWEST, gap)
    return gap


def _style(text: str, code: str, *, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and text else text


def terminal_table(
    frame: pl.DataFrame,
    *,
    width: int,
    title: str | None = None,
    color: bool = False,
    short_names: bool = True,
) -> str:
    """``frame`` (values from :func:`prepare`) as a table at most ``width`` columns wide.

    Multi-line text (a stack, a raw record) is printed below its row, indented; a line
    there too long for the terminal ends in ``…``.  Only when the key columns are at their
    narrowest and the numbers have lost their separators can a row still be wider (many
    keys in a very narrow terminal): a number is never cut.
    """
    flat = _flatten(frame)
    below_names = [
        name
        for name, dtype in flat.schema.items()
        if dtype == pl.String and (name == "stack" or flat[name].str.contains("\n", literal=True).any())
    ]
    columns: list[_Column] = []
    names = [name for name in flat.columns if name not in below_names]
    paired = {n.removesuffix(end) for n in names for end in ("_old", "_new") if n.endswith(end)}
    for name in names:
        group, header = _heading(name, paired, short=short_names)
        values = flat[name].to_list()
        numeric = flat.schema[name].is_numeric()
        if numeric:
            shown = [_number(v, name, separators=True) for v in values]
            bare = [_number(v, name, separators=False) for v in values]
        else:
            shown = [_cell(v, name) for v in values]
            bare = shown
        columns.append(_Column(header, group, numeric, shown, bare, fixed=numeric or name in _WHOLE))
    gap = _fit(columns, width) if columns else 2
    if sum(c.width for c in columns) + gap * (len(columns) - 1) > width:
        return _expanded(flat, columns, below_names, width=width, title=title, color=color)
    sep = " " * gap

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(c.width) if c.numeric else _elide(v, c.width).ljust(c.width)
            for c, v in zip(columns, values, strict=True)
        ]
        return sep.join(parts).rstrip()

    out: list[str] = []
    if title:
        out.append(_style(_elide(title, width), "1", color=color))
    if any(c.group for c in columns):
        out.append(_style(_group_line(columns, gap), "1", color=color))
    if columns:
        out.append(_style(line([c.header for c in columns]), "1", color=color))
    below = [flat[name].to_list() for name in below_names]
    for i in range(flat.height):
        if columns:
            out.append(line([c.shown[i] for c in columns]))
        lines = [text for name, values in zip(below_names, below, strict=True) for text in _below(values[i], name)]
        for text in lines:
            indented = _INDENT + _elide(text, width - len(_INDENT))
            out.append(_style(indented, "2", color=color) if text.endswith(" allocator frames]") else indented)
        if below_names:
            # A blank line after each stack, the last one too: the footer is not one of its frames.
            out.append("")
    return "\n".join(out) + "\n"


def _expanded(
    flat: pl.DataFrame, columns: list[_Column], below_names: list[str], *, width: int, title: str | None, color: bool
) -> str:
    """Each row as ``name  value`` lines (psql's expanded display), for a table no terminal row can hold."""
    names = [f"{c.group} {c.header}".strip() for c in columns]
    label = max([*(len(n) for n in names), *(len(n) for n in below_names)], default=0)
    room = max(width - label - 2, 1)
    out: list[str] = []
    if title:
        out.append(_style(_elide(title, width), "1", color=color))
    below = [flat[name].to_list() for name in below_names]
    for i in range(flat.height):
        out.append(_style(f"-[ row {i + 1:,} ]".ljust(min(width, 24), "-"), "1", color=color))
        for name, column in zip(names, columns, strict=True):
            value = column.cells[i] if column.numeric else _elide(column.cells[i], room)
            out.append(f"{name.ljust(label)}  {value}".rstrip())
        for name, values in zip(below_names, below, strict=True):
            lines = _below(values[i], name) or [_NULL]
            for k, text in enumerate(lines):
                out.append(f"{(name if k == 0 else '').ljust(label)}  {_elide(text, room)}".rstrip())
    return "\n".join(out) + "\n"


def _group_line(columns: list[_Column], gap: int) -> str:
    """The line above the headers naming groups of columns (``pages`` over old/new/Δ)."""
    parts: list[str] = []
    i = 0
    while i < len(columns):
        j = i
        while j + 1 < len(columns) and columns[j + 1].group == columns[i].group:
            j += 1
        span = sum(c.width for c in columns[i : j + 1]) + gap * (j - i)
        label = columns[i].group
        if label:
            text = f" {label} " if len(label) + 2 <= span else _elide(label, span)
            parts.append(text.center(span, "─"))
        else:
            parts.append(" " * span)
        i = j + 1
    return (" " * gap).join(parts).rstrip()


def _wrap(note: str, width: int) -> str:
    """A footer line broken between words to fit the terminal, its continuation indented."""
    return textwrap.fill(note, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def terminal_width(stream: IO[str] | None = None) -> int:
    """The width of the terminal ``stream`` (default stdout) is: ``COLUMNS`` wins, as for ``ls``; 80 when unknown."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), 20)
    try:
        return max(os.get_terminal_size((stream or sys.stdout).fileno()).columns, 20)
    except (AttributeError, OSError, ValueError):  # not a file, not a terminal, or closed
        return 80


def _wants_color() -> bool:
    return "NO_COLOR" not in os.environ and os.environ.get("TERM", "") != "dumb"


# --- writing ------------------------------------------------------------------------------------


def render(
    frame: pl.DataFrame,
    *,
    fmt: str = "table",
    out: IO[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    footer: Sequence[str] = (),
    terminal: bool | None = None,
    width: int | None = None,
    short_names: bool = True,
) -> None:
    """Write ``frame`` in ``fmt`` to ``path`` (when given) or ``out`` (default stdout).

    ``table`` is :func:`terminal_table` in a terminal and :func:`plain_table` otherwise
    (``terminal`` overrides the check, ``width`` the terminal's width); ``title`` goes
    with the terminal table, ``footer`` lines with either.  ``parquet`` needs ``path``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format `{fmt}`; formats: {', '.join(FORMATS)}")
    if fmt == "parquet":
        if path is None:
            raise UsageError("`--format parquet` needs an output file (`-o FILE`)")
        with replacing(path) as dest:
            try:
                frame.write_parquet(dest)
            except pl.exceptions.PolarsError as err:
                # polars wraps the OSError: "parquet: ... underlying IO error: File too large (os error 27)"
                errno = re.search(r"\(os error (\d+)\)", str(err))
                why = os.strerror(int(errno[1])) if errno else str(err).split("\n", 1)[0]
                raise cannot_write(os.fspath(path), why) from err
        return
    if path is not None:
        with replacing(path) as dest, open(dest, "w", encoding="utf-8", newline="\n") as fh:
            render(frame, fmt=fmt, out=fh, title=title, footer=footer, terminal=False)
        return
    stream = sys.stdout if out is None else out
    if fmt == "csv":
        stream.write(_flatten(prepare(frame, "csv")).write_csv())
    elif fmt == "json":
        stream.write(prepare(frame, "json").write_json() + "\n")
    else:
        is_tty = stream.isatty() if terminal is None else terminal
        if is_tty:
            columns = width or terminal_width(stream)
            stream.write(
                terminal_table(
                    prepare(frame, "terminal"),
                    width=columns,
                    title=title,
                    color=terminal is None and _wants_color(),
                    short_names=short_names,
                )
            )
            notes = [_wrap(note, columns) for note in footer]
        else:
            for part in plain_parts(prepare(frame, "plain")):
                stream.write(part)
            notes = list(footer)
        for note in notes:
            stream.write(note + "\n")


# --- what the CLI prints around a report ------------------------------------------------------


def rows_to_show(limit: int | None, fmt: str, default: int = DEFAULT_ROWS, *, terminal: bool = True) -> int:
    """Rows ``-n`` asks for (0: all).

    Unless told, a table in a terminal shows ``default`` rows, for a person to read; a
    table piped or written to a file, csv, json and parquet give every row, as ``grep``
    or a script expects.
    """
    if limit is not None:
        return limit
    return default if fmt == "table" and terminal else 0


def shown_note(shown: int, total: int, noun: str = "groups") -> list[str]:
    """``20 of 115 groups shown; -n 0 for all`` when rows were left out, else nothing."""
    return [f"{shown:,} of {total:,} {noun} shown; -n 0 for all"] if shown < total else []


def emit(
    frame: pl.DataFrame,
    *,
    fmt: str = "table",
    path: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    default_rows: int = DEFAULT_ROWS,
    noun: str = "groups",
    title: str | None = None,
    footer: Sequence[str] = (),
    short_names: bool = True,
) -> None:
    """:func:`render` for the CLI: the rows ``-n`` asks for (:func:`rows_to_show`) to ``path`` or stdout.

    A table says how many rows it left out, under the ``footer`` lines.
    """
    count = rows_to_show(limit, fmt, default_rows, terminal=path is None and _isatty(sys.stdout))
    shown = frame if count == 0 else frame.head(count)
    notes = [*footer, *(shown_note(shown.height, frame.height, noun) if fmt == "table" else [])]
    with _quiet_pipe():
        render(shown, fmt=fmt, path=path, title=title, footer=notes, short_names=short_names)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


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


def _total(value: float | int | None, spec: str = ",") -> str:
    return _NULL if value is None else format(value, spec)


def top_footer(totals: dict[str, Any]) -> list[str]:
    """The totals line under ``top``: everything, not only the rows shown."""
    return [
        f"total: {_total(totals['pages'])} pages ({_total(totals['mib'], ',.2f')} MiB), "
        f"{_total(totals['allocations'])} allocations in {totals['groups']:,} groups"
    ]


def diff_footer(totals: dict[str, Any]) -> list[str]:
    """The totals line under ``diff``: how much memory the two dumps differ by."""
    return [
        f"total: {_total(totals['pages_old'])} -> {_total(totals['pages_new'])} pages, "
        f"{_total(totals['delta_pages'], '+,d')} pages ({_total(totals['delta_mib'], '+,.2f')} MiB); "
        f"{totals['appeared']:,} appeared, {totals['vanished']:,} vanished"
    ]


@contextlib.contextmanager
def _quiet_pipe() -> Iterator[None]:
    """`pagecols top x | head` is normal use: a closed stdout ends the output quietly."""
    try:
        yield
    except BrokenPipeError:
        # Point stdout at devnull so the interpreter's exit flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
