"""Dump text -> Arrow batches -> Parquet, chunk by chunk; and ``info`` about the result.

The input is cut into chunks of whole records (``source``), parsed on a small
thread pool (polars, pyarrow and numpy release the GIL), and written in input
order as one Parquet row group per chunk.  The output appears under its name
only once it is complete.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pagecols.errors import ExitCode, InputError, PagecolsError, ParseError, UsageError, complain
from pagecols.outfile import replacing
from pagecols.parse import ParsedChunk, StackCache, arrow_array, parse_chunk
from pagecols.schema import (
    COMPRESSION,
    DELTA_COLUMNS,
    DICTIONARY_COLUMNS,
    METADATA_KEY,
    STATISTICS_COLUMNS,
    DumpMeta,
    arrow_schema,
    write_schema,
)
from pagecols.source import CHUNK_BYTES, Chunk, NotADump, chunks, describe, is_regular_file, source_size

if TYPE_CHECKING:
    import pyarrow.parquet as pq

# Row groups of about 128 MB of text (~180 k records): each carries its distinct stacks once.
CHUNKS_PER_ROW_GROUP = 4
SHOWN_ERRORS = 5


@dataclass
class IngestReport:
    """What a parse found: counts, the detected format, and the first unparsed records."""

    source: str
    records: int = 0
    lines: int = 0
    unparsed: int = 0
    not_utf8: int = 0  # records whose bytes are not valid UTF-8, kept in ``raw`` (schema.NOT_UTF8)
    first_not_utf8: int | None = None  # the first one's line
    bytes_in: int = 0
    pages: int = 0
    #: BLAKE2b of the text as read (decompressed, LF line ends), when asked for: a dataset names its file by it.
    checksum: str | None = None
    digest: Any = field(default=None, repr=False)  # the hash while reading; None once ``checksum`` is known
    first_errors: list[tuple[int, str, str]] = field(default_factory=list)
    eras: Counter[str] = field(default_factory=Counter)
    leading_blank_lines: int = 0
    missing_final_newline: bool = False

    @property
    def format(self) -> str:
        return self.eras.most_common(1)[0][0] if self.eras else "unknown"

    def meta(self, **extra: object) -> DumpMeta:
        """The file's metadata; ``extra`` adds facts (a dataset's labels)."""
        return DumpMeta(
            source=self.source,
            format=self.format,
            records=self.records,
            leading_blank_lines=self.leading_blank_lines,
            extra={
                "unparsed": self.unparsed,
                "not_utf8": self.not_utf8,
                "missing_final_newline": self.missing_final_newline,
                "eras": dict(self.eras),
                "pages": self.pages,
                **({} if self.checksum is None else {"checksum": self.checksum}),
                **extra,
            },
        )

    def error_lines(self) -> list[str]:
        """``path:line: message`` for the first few unparsed records."""
        return [f"{self.source}:{line}: {msg}: {text[:120]!r}" for line, msg, text in self.first_errors]


def keep_freed_memory() -> None:
    """Ask glibc to keep freed blocks instead of unmapping them.

    Each chunk allocates tens of MB of short-lived arrays.  By default glibc
    serves those with fresh mmaps, and first-touch page faults then cost more
    than the parsing itself (measured: 27 ms vs 7 ms per 32 MB read).  Reusing
    freed memory also bounds RSS by the chunks in flight.  A no-op off glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, 2 << 30)
    except (OSError, AttributeError):
        pass


def release_freed_memory() -> None:
    """Give back what :func:`keep_freed_memory` kept once the last chunk is parsed.

    Without it a few hundred MB of freed parser memory stay in the process (glibc's
    heap and pyarrow's pool) for whatever runs next, e.g. the sort after a text dump.
    """
    import pyarrow as pa

    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    pa.default_memory_pool().release_unused()


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _parse(chunk: Chunk, cache: StackCache) -> ParsedChunk:
    return parse_chunk(chunk.data, cache=cache)


def iter_batches(
    source: str | os.PathLike[str],
    report: IngestReport,
    *,
    strict: bool = False,
    on_bytes: Callable[[int], None] | None = None,
    workers: int = 2,
    chunk_bytes: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Parsed batches in input order; ``report`` is filled in as they come.

    ``chunk_bytes`` is the size of text parsed at a time, :data:`CHUNK_BYTES` unless
    the input is a small file (:func:`chunk_size`).
    """
    keep_freed_memory()
    cache = StackCache()
    pending: list[tuple[Chunk, Future[ParsedChunk]]] = []

    def finish(chunk: Chunk, parsed: ParsedChunk) -> pa.RecordBatch:
        if chunk.is_first:
            report.leading_blank_lines = chunk.leading_blank_lines + parsed.leading_blank_lines
            report.lines += chunk.leading_blank_lines
        if chunk.is_last:
            report.missing_final_newline = bool(chunk.data) and not chunk.data.endswith(b"\n")
        # Chunks are parsed out of order, so line numbers are made absolute only here.
        base = report.lines
        report.lines += parsed.line_count
        errors = [(base + line, msg, text) for line, msg, text in parsed.first_errors]
        if errors and strict:
            line, msg, text = errors[0]
            if not report.eras and not parsed.eras and _is_stacks_line(text):
                raise InputError(_stacks_file(report.source))
            raise ParseError(msg, source=report.source, line=line, text=text)
        report.unparsed += parsed.error_count
        report.not_utf8 += parsed.not_utf8
        if report.first_not_utf8 is None and parsed.first_not_utf8 is not None:
            report.first_not_utf8 = base + parsed.first_not_utf8
        room = SHOWN_ERRORS - len(report.first_errors)
        report.first_errors += errors[: max(room, 0)]
        if not report.eras:
            _check_early_records(report, parsed)
        report.eras += parsed.eras
        report.bytes_in += len(chunk.data)
        if report.digest is not None:
            report.digest.update(chunk.data)
        if on_bytes is not None:
            on_bytes(len(chunk.data))
        batch = parsed.batch
        if report.records and batch.num_rows:
            ids = np.arange(report.records, report.records + batch.num_rows, dtype=np.int64)
            batch = batch.set_column(0, "record", arrow_array(ids))
        if base and batch.num_rows:
            lines = batch.column(1).to_numpy() + np.int64(base)
            batch = batch.set_column(1, "line", arrow_array(lines))
        report.records += batch.num_rows
        report.pages += pc.sum(batch.column("pages")).as_py() or 0
        return batch

    with ThreadPoolExecutor(max_workers=workers) as pool:
        size = chunk_bytes if chunk_bytes is not None else chunk_size(source)
        for chunk in _told_apart(chunks(source, chunk_bytes=size), report.source):
            if chunk.is_first and size == CHUNK_BYTES:
                # Alone and small (source.FIRST_CHUNK_BYTES): text that is not a dump is refused
                # (_check_early_records) before more of it is read and parsed.  A small file's
                # chunks are small too: its first is parsed beside the next two, as waiting
                # for it cost ~10 % of a 24 MB sort.
                yield finish(chunk, _parse(chunk, cache))
                continue
            pending.append((chunk, pool.submit(_parse, chunk, cache)))
            # Bounded look-ahead keeps memory flat whatever the input size.
            while len(pending) > workers:
                done_chunk, fut = pending.pop(0)
                yield finish(done_chunk, fut.result())
        for done_chunk, fut in pending:
            yield finish(done_chunk, fut.result())
    release_freed_memory()
    _check_found_records(report)
    if report.digest is not None:
        report.checksum, report.digest = report.digest.hexdigest(), None


#: The smallest chunk :func:`chunk_size` cuts: below it a chunk's fixed costs begin to show.
MIN_CHUNK_BYTES = 2 << 20
#: A file smaller than this many chunks of :data:`CHUNK_BYTES` is cut in this many chunks.
SMALL_FILE_CHUNKS = 8


def chunk_size(source: str | os.PathLike[str]) -> int:
    """How much text to parse at a time: :data:`CHUNK_BYTES`, or an eighth of a smaller file.

    A 24 MB dump in one chunk is parsed by one thread while the other waits, and the
    parse of a chunk holds several times its size: in eighths, both threads parse at once
    and the peak memory of `pagecols sort` on it falls from ~300 to ~200 MiB, at no cost
    in CPU time.  A pipe's size is not known: it gets whole chunks.
    """
    size = source_size(source) if is_regular_file(source) else None
    if size is None:
        return CHUNK_BYTES
    return max(MIN_CHUNK_BYTES, min(CHUNK_BYTES, -(-size // SMALL_FILE_CHUNKS)))


#: Text whose first this many records hold none that parses is not a page_owner dump: it is
#: refused then, not after all of it is parsed.
EARLY_RECORDS = 1000


def _check_early_records(report: IngestReport, parsed: ParsedChunk) -> None:
    """Refuse the input if none of its first :data:`EARLY_RECORDS` records parses
    (``report`` counts the records before ``parsed``, none of which parsed)."""
    before_first = parsed.first_known if parsed.first_known is not None else parsed.batch.num_rows
    if report.records + before_first >= EARLY_RECORDS:
        where = report.error_lines()[0] if report.first_errors else report.source
        raise InputError(f"not a page_owner dump: none of its first {EARLY_RECORDS:,} records parses; first: {where}")


def _check_found_records(report: IngestReport) -> None:
    if report.records == 0:
        raise InputError(f"{report.source}: empty input: no page_owner records")
    if not report.eras:  # every record that was read as one has an era
        if report.first_errors and _is_stacks_line(report.first_errors[0][2]):
            raise InputError(_stacks_file(report.source))
        where = report.error_lines()[0] if report.first_errors else report.source
        raise InputError(f"not a page_owner dump: no record parses; first: {where}")


def _told_apart(chunks: Iterator[Chunk], source: str) -> Iterator[Chunk]:
    """``chunks``; text that is not a dump but a page_owner_stacks file is called one."""
    try:
        yield from chunks
    except NotADump as e:
        if _is_stacks_line(e.first_line):
            raise InputError(_stacks_file(source)) from e
        raise


def _stacks_file(source: str) -> str:
    """What to do with a page_owner_stacks file given where a dump is needed."""
    # A pipe is read as a dump without looking first (frames.is_parquet, analyze.load).
    where = "" if is_regular_file(source) else " from a file (a pipe or stdin is read as a dump)"
    return (
        f"{source}: a page_owner_stacks file (show_stacks), not a page_owner dump: "
        f"`top`, `diff`, `folded`, `query` and `plot top` read it{where}"
    )


def _is_stacks_line(text: str) -> bool:
    """A stack line (`` get_page_from_freelist+0x330/0x1660``) or a count line (``nr_base_pages: 4``)
    where a record's header should be: the input is a page_owner_stacks file."""
    return text.startswith(" ") or text.split(":", 1)[0] in ("nr_base_pages", "stack_count", "handle")


def default_output(source: str | os.PathLike[str]) -> Path:
    """``DUMP.parquet`` beside a dump, its compression and ``.txt`` suffixes dropped.

    A pipe (``<(zcat d.gz)`` is ``/dev/fd/63``), FIFO or device has no "beside": its
    output must be named.
    """
    if str(source) == "-":
        raise UsageError("reading stdin: name the output with -o")
    if os.path.exists(source) and not is_regular_file(source):
        raise UsageError(f"`{source}` is a pipe or a device, not a file: name the output with -o")
    name = Path(source).name
    for suffix in (".gz", ".zst", ".xz", ".bz2", ".txt"):
        name = name.removesuffix(suffix)
    return Path(source).with_name(name + ".parquet")


def _write_row_group(writer: pq.ParquetWriter, batches: list[pa.RecordBatch]) -> None:
    if batches:
        # One stack dictionary for the whole row group, not one per chunk.
        table = pa.Table.from_batches(batches).unify_dictionaries()
        writer.write_table(table, row_group_size=table.num_rows)


@contextlib.contextmanager
def _parquet_sink(dest: Path) -> Iterator[Path | BinaryIO]:
    """``dest`` for the Parquet writer: the path of a file, or a Python file on a FIFO or a
    device, in which Arrow's own file would try to seek."""
    if dest.is_file():
        yield dest
        return
    with open(dest, "wb") as fh:
        yield fh


def convert(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
    on_bytes: Callable[[int], None] | None = None,
    workers: int = 2,
    checksum: bool = False,
    labels: dict[str, str] | None = None,
) -> IngestReport:
    """Parse ``source`` (a path or ``-``) and write it to Parquet at ``out``.

    ``out`` is written as :func:`pagecols.outfile.replacing` says: an interrupted or
    failed convert leaves no partial output.  ``workers`` threads parse; ``checksum``
    hashes the text (:attr:`IngestReport.checksum`); ``labels`` go into the file's
    metadata (a dataset's, :mod:`pagecols.dataset`).
    """
    target = out if out is not None else default_output(source)
    with replacing(target) as dest, _parquet_sink(dest) as sink:
        return write_parquet(
            source, sink, strict=strict, on_bytes=on_bytes, workers=workers, checksum=checksum, labels=labels
        )


def write_parquet(
    source: str | os.PathLike[str],
    sink: Path | BinaryIO,
    *,
    strict: bool = False,
    on_bytes: Callable[[int], None] | None = None,
    workers: int = 2,
    checksum: bool = False,
    labels: dict[str, str] | None = None,
) -> IngestReport:
    """Parse ``source`` into the Parquet file ``sink`` (a path, or a file open for writing), streaming.

    A row group is written as soon as its chunks are parsed, so memory stays bounded by
    the chunks in flight whatever the size of the dump.
    """
    # Here, not at the top: a sort or a `cat` of a text dump writes no Parquet, and this import costs ~10 ms.
    import pyarrow.parquet as pq

    report = IngestReport(describe(source), digest=hashlib.blake2b(digest_size=16) if checksum else None)
    with (
        pq.ParquetWriter(
            sink,
            write_schema(),
            store_schema=False,
            compression=COMPRESSION,
            use_dictionary=list(DICTIONARY_COLUMNS),
            dictionary_pagesize_limit=64 << 20,
            write_statistics=list(STATISTICS_COLUMNS),
            column_encoding=dict.fromkeys(DELTA_COLUMNS, "DELTA_BINARY_PACKED"),
        ) as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="pagecols-writer") as writing,
    ):
        # A row group is encoded on a thread of its own (~0.1 s per 128 MB): on this one the
        # parse threads ran out of chunks meanwhile, as the next were not read.  One at a time,
        # so at most one more row group is held than before.
        written: Future[None] | None = None
        group: list[pa.RecordBatch] = []
        for batch in iter_batches(source, report, strict=strict, on_bytes=on_bytes, workers=workers):
            group.append(batch)
            if len(group) == CHUNKS_PER_ROW_GROUP:
                if written is not None:
                    written.result()
                written = writing.submit(_write_row_group, writer, group)
                group = []
        if written is not None:
            written.result()
        _write_row_group(writer, group)
        writer.add_key_value_metadata(file_metadata(report.meta(**({} if labels is None else {"labels": labels}))))
    return report


def file_metadata(meta: DumpMeta) -> dict[bytes, bytes]:
    """The key-value metadata of a converted file: pagecols' own, and the Arrow schema with each
    column's description.

    The writer's own copy of the Arrow schema (``store_schema``) is left out because it would
    say ``stack`` is dictionary-encoded, which readers would then hand back as a categorical;
    this one says what :func:`pagecols.schema.arrow_schema` says.
    """
    # pyarrow takes a file's schema-level metadata from the stored Arrow schema, so it holds ours too.
    ours = {METADATA_KEY: meta.to_bytes()}
    stored = arrow_schema().with_metadata(ours)
    return {**ours, b"ARROW:schema": base64.b64encode(stored.serialize().to_pybytes())}


def run_convert(dump: str, out: str | os.PathLike[str] | None, *, strict: bool = False) -> ExitCode:
    """The ``pagecols convert`` command: a progress bar on a terminal, the unparsed records
    on stderr, and the file written when pagecols chose its name; returns the exit code."""
    from pagecols.progress import byte_progress
    from pagecols.source import source_size

    try:
        # Not Path(out): Path("") is ".", and `-o ""` was reported as that directory.
        target = out if out is not None else default_output(dump)
        existed = out is None and Path(target).exists()
        with byte_progress("converting", source_size(dump)) as advance:
            report = convert(dump, target, strict=strict, on_bytes=advance)
    except PagecolsError as e:
        return complain(e)
    print_errors(report)
    if out is None:
        # The user did not name this file: say which one it is, and that an old one is gone.
        what = "replaced" if existed else "wrote"
        print(f"{what} {target} ({report.records:,} records)", file=sys.stderr)
    return ExitCode.OK


def print_errors(report: IngestReport) -> None:
    if report.not_utf8:
        print(
            f"{report.source}: {report.not_utf8} of {report.records} records are not valid UTF-8; "
            "`raw` keeps their bytes, and their text columns show U+FFFD for the bad ones",
            file=sys.stderr,
        )
        print(f"  {report.source}:{report.first_not_utf8}: the first of them", file=sys.stderr)
    if report.unparsed:
        print(
            f"{report.source}: {report.unparsed} of {report.records} records did not parse; "
            "they are kept with their raw text and a parse_error",
            file=sys.stderr,
        )
        for line in report.error_lines():
            print(f"  {line}", file=sys.stderr)
