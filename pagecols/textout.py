"""Table -> the dump text it came from (``pagecols cat``), byte for byte.

The lines are rendered with polars expressions, so the same pieces serve
``pagecols sort``, which prints header, stack and trailer lines verbatim.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from pagecols.textfmt import dump_text, latin1_rows

if TYPE_CHECKING:
    import pyarrow as pa


def iter_text(lf: pl.LazyFrame, *, batch_rows: int = 200_000) -> Iterator[bytes]:
    """The dump text in order, as byte blocks (one per ``batch_rows`` records)."""
    from pagecols.frames import columns_for_text

    df = lf.select(*columns_for_text(), latin1=latin1_rows()).sort("record").collect()
    for start in range(0, df.height, batch_rows):
        part = df.slice(start, batch_rows).select(dump_text().alias("t"), "latin1")
        yield _bytes_of(part["t"], part["latin1"])


def _bytes_of(text: pl.Series, latin1: pl.Series) -> bytes:
    """The bytes of ``text``'s values in order; those marked ``latin1`` stand for one byte per character.

    Those are the records that were not valid UTF-8 (schema.NOT_UTF8): rare, so they are
    encoded one by one, and the runs between them taken straight from the Arrow buffers.
    """
    marked = latin1.arg_true().to_list()
    if not marked:
        return _concatenated(text.to_arrow())
    out, done = [], 0
    for at in marked:
        out += [_concatenated(text.slice(done, at - done).to_arrow()), text[at].encode("latin-1")]
        done = at + 1
    out.append(_concatenated(text.slice(done).to_arrow()))
    return b"".join(out)


def _concatenated(arr: pa.Array | pa.ChunkedArray) -> bytes:
    """The bytes of all strings of ``arr`` in order, taken straight from the Arrow buffers."""
    import numpy as np
    import pyarrow as pa

    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    for piece in chunks:
        text = piece.cast(pa.large_string())
        if len(text) == 0:
            continue
        offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset : text.offset + len(text) + 1]
        out.append(text.buffers()[2].slice(offsets[0], offsets[-1] - offsets[0]).to_pybytes())
    return b"".join(out)


def cat(source: str | os.PathLike[str], out: BinaryIO | None = None) -> int:
    """Write the dump text of ``source`` (Parquet or text) to ``out``; returns bytes written."""
    from pagecols.frames import reading

    with reading(source):
        return _cat(source, out if out is not None else sys.stdout.buffer)


def _cat(source: str | os.PathLike[str], stream: BinaryIO) -> int:
    from pagecols.frames import open_dump

    table, meta = open_dump(source)
    written = 0
    lead = b"\n" * meta.leading_blank_lines
    stream.write(lead)
    written += len(lead)
    pending = b""
    for block in iter_text(table):
        stream.write(pending)
        written += len(pending)
        pending = block
    if meta.extra.get("missing_final_newline") and pending.endswith(b"\n"):
        pending = pending[:-1]
    stream.write(pending)
    return written + len(pending)
