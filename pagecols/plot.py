"""Pictures of a dump: the timeline of pages still allocated, and bars of the top groups.

matplotlib is imported when a plot is drawn, never on import, and only its
object-oriented API is used (a ``Figure`` of its own, no pyplot): nothing here
switches the backend of a notebook that already chose one.  Each function returns
the ``Figure`` and writes it to ``out`` (PNG, SVG or PDF by suffix) when given.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl

from pagecols import analyze, derive
from pagecols.errors import InputError, UsageError
from pagecols.outfile import replacing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_MIB: Final = 1 << 20
_LABEL_CHARS: Final = 60


def _figure(width: float, height: float) -> Figure:
    # Late: only drawing pays for importing matplotlib.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


#: Image formats by the output's suffix.
FORMATS: Final = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def _format_of(out: str | os.PathLike[str] | None) -> str | None:
    """The image format ``out`` asks for by its suffix; checked before any drawing."""
    if out is None:
        return None
    if os.fspath(out) == "":
        raise UsageError("the output path is empty")
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot tell the image format of `{out}`: name it .png, .svg or .pdf")
    return FORMATS[suffix]


def _save(fig: Figure, out: str | os.PathLike[str] | None) -> None:
    if out is None:
        return
    fmt = _format_of(out)
    # Drawn in memory, then written: PNG and PDF writers seek, which a FIFO cannot.
    image = io.BytesIO()
    fig.savefig(image, format=fmt, dpi=110)
    with replacing(out) as dest:
        dest.write_bytes(image.getvalue())


def _shorten(text: str) -> str:
    if len(text) <= _LABEL_CHARS:
        return text
    # Keep the tail (the short hash of a stack label, `0x` + 8 hex digits), cut the middle.
    return text[: _LABEL_CHARS - 12] + "…" + text[-11:]


def _stack_label(stack: pl.Expr) -> pl.Expr:
    """``where ← caller ← caller``: three frames a person recognises, instead of sixteen."""
    symbols = derive.frame_symbols(stack)
    outside = symbols.list.eval(pl.element().filter(~pl.element().str.contains(derive.ALLOCATOR_RE)))
    frames = pl.when(outside.list.len() > 0).then(outside).otherwise(symbols)
    return frames.list.head(3).list.join(" ← ")


def _labels(table: pl.DataFrame, keys: list[str]) -> list[str]:
    # Distinct stacks can share their first frames: the short hash, as a terminal table
    # shows it, tells them apart.
    short_hash = pl.col("stack_hash").map_batches(lambda h: derive.hash_text(h, short=True), return_dtype=pl.String)
    parts = [
        pl.concat_str(_stack_label(pl.col("stack")), pl.lit(" "), short_hash)
        if key == "stack"
        else pl.col(key).cast(pl.String).fill_null("(none)")
        for key in keys
    ]
    joined = table.select(pl.concat_str(parts, separator=" / ").alias("label")).to_series()
    return [_shorten(label) for label in joined.to_list()]


def top(
    source: analyze.Source,
    out: str | os.PathLike[str] | None = None,
    *,
    by: analyze.Keys = "where",
    n: int = 15,
    title: str | None = None,
    page_size: int = analyze.PAGE_SIZE,
) -> Figure:
    """Horizontal bars of the ``n`` groups of ``by`` holding the most memory, in MiB."""
    _format_of(out)
    table = analyze.load(source)
    keys = analyze.resolve_keys(table, by)
    rows = analyze.top(table, by=keys, n=n, page_size=page_size)
    if rows.height == 0 or rows["pages"].null_count() == rows.height:
        raise InputError(f"{table.label}: no pages to plot")
    labels = _labels(rows, keys)
    mib = rows["mib"].to_list()
    percent = rows["percent"].to_list()

    fig = _figure(10, 1.2 + 0.38 * rows.height)
    ax = fig.add_subplot()
    y = list(range(rows.height))
    ax.barh(y, mib, color="#4c72b0")
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    for i, (m, p) in enumerate(zip(mib, percent, strict=True)):
        ax.annotate(f" {m:,.1f} MiB ({p:.1f}%)", (m, i), va="center", fontsize=8)
    ax.set_xlabel("MiB allocated")
    ax.margins(x=0.25)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or table.title(f"top {rows.height} by {', '.join(keys)}"))
    _save(fig, out)
    return fig


def timeline(
    source: analyze.Source,
    out: str | os.PathLike[str] | None = None,
    *,
    split: str = "comm",
    groups: int = 6,
    bins: int = 200,
    title: str | None = None,
    page_size: int = analyze.PAGE_SIZE,
) -> Figure:
    """Pages still allocated at dump time, by allocation time, stacked by the top ``split`` values.

    The curve at time *t* is the memory, still held when the dump was taken, that was
    allocated before *t*: steps show when the memory that stayed was taken.
    """
    _format_of(out)
    table = analyze.load(source)
    data = analyze.timeline(table, split=split, groups=groups, bins=bins, page_size=page_size)
    key = analyze.resolve_keys(table, split)[0]
    if key == "stack":
        # Name each stack series as `plot top` does: its first frames and hash head.
        top = analyze.top(table, by="stack", n=groups, page_size=page_size)
        named = dict(zip(derive.hash_text(top["stack_hash"]).to_list(), _labels(top, ["stack"]), strict=True))
    else:
        named = {}
    ranks = data["rank"].unique().sort().to_list()
    curves = np.stack([data.filter(pl.col("rank") == r)["mib"].to_numpy() for r in ranks])
    x = data.filter(pl.col("rank") == ranks[0])["until_s"].to_numpy()
    names = [data.filter(pl.col("rank") == r)["series"][0] for r in ranks]
    names = [named.get(name, _shorten(name)) for name in names]
    keep = [i for i in range(len(ranks)) if curves[i, -1] > 0]
    start = x[0] - (x[1] - x[0] if len(x) > 1 else 0)

    fig = _figure(11, 5.5)
    ax = fig.add_subplot()
    # matplotlib hides legend labels that start with "_", and kernel symbols often do.
    shown = [f" {names[i]}" if names[i].startswith("_") else names[i] for i in keep]
    ax.stackplot(x, curves[keep], labels=shown, step="post", alpha=0.85)
    ax.set_xlabel("allocation time (seconds since boot)")
    ax.set_ylabel("MiB still allocated")
    ax.set_xlim(start, x[-1])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title=key, title_fontsize=8)
    ax.set_title(title or table.title("memory still allocated, by allocation time"))
    _save(fig, out)
    return fig


def trend(
    source: analyze.Source,
    out: str | os.PathLike[str] | None = None,
    *,
    over: str,
    by: analyze.Keys = "where",
    n: int = 8,
    title: str | None = None,
    page_size: int = analyze.PAGE_SIZE,
) -> Figure:
    """Lines of the ``n`` groups of ``by`` that grew most, in MiB at each value of the label ``over``."""
    _format_of(out)
    table = analyze.load(source)
    keys = analyze.resolve_keys(table, by)
    long = analyze.trend(table, over=over, by=keys, page_size=page_size)
    wide = analyze.trend_wide(long, over=over).head(n)
    if wide.height == 0:
        raise InputError(f"{table.label}: no pages to plot")
    snapshots = [c for c in wide.columns if c.startswith(f"{over}=")]
    labels = _labels(wide, keys)

    fig = _figure(11, 5.5)
    ax = fig.add_subplot()
    x = list(range(len(snapshots)))
    for label, row in zip(labels, wide.select(snapshots).rows(), strict=True):
        # matplotlib hides legend labels that start with "_", and kernel symbols often do.
        ax.plot(x, row, marker="o", label=f" {label}" if label.startswith("_") else label)
    ax.set_xticks(x, [s.removeprefix(f"{over}=") for s in snapshots], rotation=30 if len(x) > 6 else 0, fontsize=8)
    ax.set_xlabel(over)
    ax.set_ylabel("MiB allocated")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title=", ".join(keys), title_fontsize=8)
    ax.set_title(title or table.title(f"the {wide.height} groups that grew most, by {over}"))
    _save(fig, out)
    return fig
