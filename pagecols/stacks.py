"""Kernel stack files (``/sys/kernel/debug/page_owner_stacks/``, 6.9+) as a stacks table.

A stacks table has one row per unique stack and the columns of :data:`STACKS_SCHEMA`.
A page_owner dump reduces to the same shape (:func:`stacks_of_records`), so the reports
that only need stacks (``top --by stack|where|module``, ``folded``, ``diff``) run on
either input.

The files (page-owner-format.md A.6)::

    show_stacks (6.9)            show_handles (6.19)    show_stacks_handles (6.19)
     get_page_from_freelist+…    handle: 1048577        get_page_from_freelist+…
     __alloc_pages_noprof+…      nr_base_pages: 4        …
     …                                                  handle: 1048577
    nr_base_pages: 4

6.9-rc1 printed ``stack_count: N`` instead of ``nr_base_pages: N``; it counted
allocations, not pages, so it lands in ``allocations`` and ``pages`` stays null.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Final, cast

import polars as pl

from pagecols import reduce as rd
from pagecols import source
from pagecols.errors import InputError, ParseError, UsageError

#: The stacks-table shape.  ``pages`` and ``allocations`` are null where the
#: input did not count them (show_stacks_handles has no counts at all).
STACKS_SCHEMA: Final = pl.Schema(
    {
        "stack": pl.String,
        "stack_hash": pl.Int64,
        "pages": pl.UInt64,
        "allocations": pl.UInt64,
        "handle": pl.Int64,
    }
)

# The count lines, each with a real example:
#   nr_base_pages: 4       (6.9 and later)
#   stack_count: 12        (6.9-rc1: allocations, not pages)
#   handle: 1048577        (6.19 show_handles / show_stacks_handles)
_COUNT_LINES: Final = {
    "nr_base_pages": "pages",
    "stack_count": "allocations",
    "handle": "handle",
}


def _decompressed(raw: BinaryIO) -> BinaryIO:
    kind = source.sniff(raw.peek(6)[:6]) if isinstance(raw, io.BufferedReader) else None
    if kind == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw))
    if kind == "xz":
        return cast(BinaryIO, lzma.LZMAFile(raw))
    if kind == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(raw))
    if kind == "zstd":
        return cast(BinaryIO, source.ZstdFrames(raw))  # a frame that ends early is an error
    return raw


def _read_all(path: str | os.PathLike[str], size: int = -1) -> bytes:
    """The decompressed bytes of ``path`` (``-`` is stdin), all or the first ``size``."""
    # Not source.open_binary: its decompressors leave the file they wrap open
    # (a ResourceWarning under pytest); here `with` closes the file itself.
    name = source.describe(path)
    try:
        with open(sys.stdin.fileno() if name == "<stdin>" else path, "rb", closefd=name != "<stdin>") as raw:
            stream = _decompressed(raw)
            return stream.read(size)
    except FileNotFoundError as err:
        raise InputError(f"cannot open {name}: {err.strerror}") from err
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise InputError(f"{name}: compressed input is corrupt or truncated ({err})") from err


def sniff(path: str | os.PathLike[str]) -> str:
    """What ``path`` holds: ``"parquet"``, ``"dump"`` (a page_owner dump) or ``"stacks"``.

    Decided on the first non-blank line, so a renamed or compressed file is still
    recognised.
    """
    if str(path) != "-":
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
    head = _read_all(path, 64 * 1024)
    for raw_line in head.split(b"\n"):
        line = raw_line.rstrip(b"\r")
        if not line.strip():
            continue
        if line.startswith(b"Page allocated via"):
            return "dump"
        key = line.split(b":", 1)[0].decode("ascii", "replace")
        if line.startswith(b" ") or key in _COUNT_LINES:
            return "stacks"
        break
    raise InputError(f"`{path}` is neither a page_owner dump, a page_owner_stacks file nor Parquet")


def hash_stacks(stacks: pl.Series) -> pl.Series:
    """The 64-bit stack hash of each stack text, as the dump parser computes ``stack_hash``.

    Equal hashes across a dump and a stack file are what lets ``diff`` compare them.
    Called on unique stacks only: a stack file has thousands, not millions.
    """
    # Late: the parser pulls in pyarrow, which a report on Parquet never needs.
    from pagecols.parse import stack_hash

    values = [None if s is None else stack_hash(s) for s in stacks.to_list()]
    return pl.Series(stacks.name or "stack_hash", values, dtype=pl.Int64)


def parse_stacks(text: str, *, source: str = "<text>") -> pl.DataFrame:
    """Parse the text of a show_stacks, show_handles or show_stacks_handles file.

    Examples
    --------
    >>> parse_stacks(" f+0x1/0x2\\n g+0x3/0x4\\nnr_base_pages: 4\\n\\n").select("stack", "pages").row(0)
    (' f+0x1/0x2\\n g+0x3/0x4', 4)
    """
    lines = pl.DataFrame({"text": text.replace("\r\n", "\n").split("\n")}).with_row_index("line", offset=1)
    blank = pl.col("text").str.strip_chars() == ""
    key = pl.col("text").str.extract(r"^([a-z_]+):\s", 1)
    kinds = lines.with_columns(entry=blank.cum_sum(), key=key).filter(~blank)
    if kinds.height == 0:
        raise InputError(f"`{source}` holds no stacks")

    known = pl.col("key").is_in(list(_COUNT_LINES)).fill_null(False)
    bad = kinds.filter(~pl.col("text").str.starts_with(" ") & ~known)
    if bad.height:
        first = bad.row(0, named=True)
        raise ParseError("not a stack line nor a count line", source=source, line=first["line"], text=first["text"])

    _check_counts(kinds.filter(known), source)
    counts = [
        pl.col("text")
        .filter(pl.col("key") == name)
        .str.extract(r":\s*(-?\d+)\s*$", 1)
        .first()
        .cast(pl.Int64, strict=False)
        .alias(column)
        for name, column in _COUNT_LINES.items()
    ]
    entries = (
        kinds.group_by("entry", maintain_order=True)
        .agg(
            pl.col("text").filter(pl.col("key").is_null()).str.join("\n").alias("stack"),
            pl.col("line").first(),
            *counts,
        )
        .with_columns(pl.when(pl.col("stack") != "").then(pl.col("stack")).alias("stack"))
    )
    negative = entries.filter((pl.col("pages") < 0) | (pl.col("allocations") < 0))
    if negative.height:
        raise ParseError("negative count", source=source, line=negative["line"][0])
    # The kernel prints the u32 handle with %d, so a large one comes out negative.
    wrapped = pl.when(pl.col("handle") < 0).then(pl.col("handle") + 2**32).otherwise(pl.col("handle"))
    return _finish(entries.drop("entry", "line").with_columns(handle=wrapped))


def _check_counts(lines: pl.DataFrame, source: str) -> None:
    """Every count line holds one number its column can hold; a ``ParseError`` at the first that does not.

    The kernel prints ``nr_base_pages`` and ``stack_count`` as ints and the u32 ``handle``
    with ``%d``: anything else is a damaged file, not a count to leave null.
    """
    number = pl.col("text").str.extract(r"^[a-z_]+:\s*(-?\d+)\s*$", 1)
    value = number.cast(pl.Int64, strict=False)
    handle = pl.col("key") == "handle"
    problem = (
        pl.when(number.is_null())
        .then(pl.lit("a count line without a number"))
        .when(value.is_null())
        .then(pl.lit("count out of range"))
        .when(handle & ((value < -(2**31)) | (value >= 2**32)))
        .then(pl.lit("handle out of range (a u32)"))
    )
    bad = lines.select("line", "text", problem=problem).drop_nulls("problem")
    if bad.height:
        first = bad.row(0, named=True)
        raise ParseError(first["problem"], source=source, line=first["line"], text=first["text"])


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast to :data:`STACKS_SCHEMA`, hashing each unique stack once."""
    uniques = frame.select(pl.col("stack").unique().drop_nulls())
    hashed = uniques.with_columns(hash_stacks(uniques["stack"]).alias("stack_hash"))
    out = frame.join(hashed, on="stack", how="left", maintain_order="left")
    return out.select(pl.col(name).cast(dtype) for name, dtype in STACKS_SCHEMA.items())


def combine_handles(stacks_handles: pl.DataFrame, handles: pl.DataFrame) -> pl.DataFrame:
    """Put show_handles' page counts on show_stacks_handles' stacks (6.19), joined by handle.

    show_stacks_handles is read once (it names every stack); show_handles is the cheap
    file to poll.  A handle missing from show_handles had under ``count_threshold`` pages.
    """
    counts = handles.select("handle", "pages", "allocations").drop_nulls("handle")
    joined = stacks_handles.drop("pages", "allocations").join(counts, on="handle", how="left", maintain_order="left")
    return joined.select(STACKS_SCHEMA.names())


def read_stacks(path: str | os.PathLike[str], *, handles: str | os.PathLike[str] | None = None) -> pl.DataFrame:
    """Read a page_owner_stacks file (compressed or not) into a stacks table.

    With ``handles`` (a show_handles file) the page counts come from it, joined on the
    handles of ``path`` (a show_stacks_handles file).
    """
    data = _read_all(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        # Kernel symbol and module names are ASCII: a byte that is not UTF-8 is damage.
        line = data.count(b"\n", 0, err.start) + 1
        start = data.rfind(b"\n", 0, err.start) + 1
        end = data.find(b"\n", err.start)
        shown = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace")
        raise ParseError("not valid UTF-8", source=str(path), line=line, text=shown) from err
    table = parse_stacks(text, source=str(path))
    if handles is None:
        return table
    other = read_stacks(handles)
    if table["handle"].null_count() == table.height:
        raise UsageError(f"`{path}` has no `handle:` lines to join `{handles}` on")
    return combine_handles(table, other)


#: A stack's figures from its records, grouped on ``stack_hash``: each merges, so that
#: :func:`pagecols.analyze.stacks` reduces a dump slice by slice (:mod:`pagecols.reduce`).
STACKS_OF_RECORDS: Final = (
    rd.first(pl.col("stack"), "stack"),
    rd.total(pl.col("pages"), "pages"),
    rd.count("allocations"),
    rd.first_present(pl.col("handle"), "handle"),
)


def stacks_of_records(records: pl.LazyFrame) -> pl.LazyFrame:
    """Reduce a page_owner table (one row per record) to the stacks-table shape, lazily in one query."""
    return (
        records.group_by("stack_hash")
        .agg(agg.partial.alias(agg.name) for agg in STACKS_OF_RECORDS)
        .select(pl.col(name).cast(dtype) for name, dtype in STACKS_SCHEMA.items())
    )


def write_stacks_text(table: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a stacks table back in show_stacks form (``nr_base_pages:``), for round trips and tests."""
    body = table.select(
        pl.concat_str(pl.col("stack"), pl.lit("\nnr_base_pages: "), pl.col("pages").cast(pl.String), pl.lit("\n\n"))
    ).to_series()
    Path(path).write_text("".join(body.to_list()))
