"""Table -> the dump text it came from (``pagecols cat``), byte for byte.

The lines are rendered with polars expressions, so the same pieces serve
``pagecols sort``, which prints header, stack and trailer lines verbatim.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from pagecols.textfmt import dump_text, latin1_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from pagecols.schema import DumpMeta


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
    """Write the dump text of ``source`` (Parquet or text) to ``out``; returns bytes written.

    Memory stays flat whatever the dump's size: a Parquet file is read a batch of
    records at a time, in the order ``convert`` wrote them (input order), and a text
    dump is parsed chunk by chunk and written back as each chunk is parsed.
    """
    from pagecols.frames import reading

    with reading(source):
        return _cat(source, out if out is not None else sys.stdout.buffer)


def _cat(source: str | os.PathLike[str], stream: BinaryIO) -> int:
    frames, meta = _record_frames(source)
    written = 0
    # The last block is held back (its final newline may have to go), and so is every block
    # until a record has parsed: an input that is no dump at all (a page_owner_stacks
    # file) is an error, and then nothing may have been written.
    held: list[bytes] = []
    started = False
    for frame in frames:
        held.append(_bytes_of(frame.select(dump_text())[:, 0], frame["latin1"]))
        if meta().format == "unknown":
            continue
        if not started:
            # A text dump's leading blank lines are known once its first chunk is parsed.
            held.insert(0, b"\n" * meta().leading_blank_lines)
            started = True
        for block in held[:-1]:
            stream.write(block)
            written += len(block)
        del held[:-1]
    if not started:
        held.insert(0, b"\n" * meta().leading_blank_lines)
    elif meta().extra.get("missing_final_newline") and held[-1].endswith(b"\n"):
        held[-1] = held[-1][:-1]
    for block in held:
        stream.write(block)
        written += len(block)
    return written


#: Records of a parsed chunk (~44,000 in 32 MB) written back at a time.  The whole chunk
#: at once spelt out every record's stack and the chunk's text side by side, and `cat` of a
#: text dump peaked over 1 GiB.
TEXT_SLICE_ROWS = 8_192


def _record_frames(
    source: str | os.PathLike[str], *, batch_rows: int = 50_000
) -> tuple[Iterator[pl.DataFrame], Callable[[], DumpMeta]]:
    """The records of ``source`` in input order, a frame at a time, with the columns
    :func:`dump_text` needs and ``latin1``; and the dump's metadata, complete once the
    frames have all been taken."""
    from pagecols import frames

    columns = frames.columns_for_text()
    if frames.is_parquet(source):
        meta = frames.dump_meta(source)
        lf = pl.scan_parquet(Path(source)).select(*columns, latin1=latin1_rows())
        # Slices pulled one at a time, each read from the row groups it spans: collect_batches()
        # runs the scan ahead of a slow writer and held 1.5 GiB for a 2.4 GB dump.
        batches = (lf.slice(start, batch_rows).collect() for start in range(0, meta.records, batch_rows))
        return batches, lambda: meta
    from pagecols.ingest import IngestReport, iter_batches
    from pagecols.source import describe

    report = IngestReport(describe(source))

    def parsed() -> Iterator[pl.DataFrame]:
        for batch in iter_batches(source, report):
            frame = pl.DataFrame(pl.from_arrow(batch.select([*columns, "parse_error"])))
            frame = frame.select(*columns, latin1=latin1_rows())
            # The parser hands the stacks over dictionary-encoded: each slice spells out its own.
            for part in frame.iter_slices(TEXT_SLICE_ROWS):
                yield part.with_columns(pl.col("stack").cast(pl.String))

    return parsed(), report.meta
