"""A dump as a polars frame: ``scan`` is lazy, ``read_dump`` eager.

Parquet written by ``pagecols convert`` is scanned lazily.  A text dump is converted
first, chunk by chunk, into a temporary Parquet file without a name (about 3 % of the
text, in ``$TMPDIR``) that is scanned the same way; the file goes when the process ends
(or when a :func:`staged` block ends), so memory stays bounded whatever the dump's
size.  Converting once with ``pagecols convert`` skips that step next time.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl

from pagecols import reduce as rd
from pagecols.derive import decode_records, with_where
from pagecols.errors import InputError, OutputError
from pagecols.schema import COLUMNS, INT64_MAX, METADATA_KEY, NOT_UTF8, SCHEMA_VERSION, DumpMeta
from pagecols.source import is_regular_file
from pagecols.textfmt import latin1_rows, record_text

#: Assumed page size for MiB figures: page_owner dumps do not say it, and 4 KiB is what x86-64 and most arm64 use.
PAGE_SIZE = 4096

PARQUET_MAGIC = b"PAR1"


def is_parquet(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is a Parquet file.  Only a regular file is looked into: a pipe is read as a text dump."""
    if not is_regular_file(source):
        return False
    try:
        with open(source, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError as e:
        raise InputError(f"cannot open {source}: {e.strerror}") from e


@contextlib.contextmanager
def reading(*sources: str | os.PathLike[str]) -> Iterator[None]:
    """An error of polars' Parquet reader as an :class:`InputError` naming the Parquet file(s) among ``sources``.

    Such an error means a file cut short or damaged after ``convert`` wrote it; it comes
    when the data is read, wherever a lazy query collects it.
    """
    try:
        yield
    except pl.exceptions.ComputeError as err:
        text = str(err).split("\n", 1)[0]
        if not text.startswith("parquet:"):
            raise
        names = " or ".join(f"`{s}`" for s in sources if _quietly_parquet(s))
        raise InputError(f"cannot read {names or 'the input'} as Parquet: {text}") from err


def _quietly_parquet(source: str | os.PathLike[str]) -> bool:
    try:
        return is_parquet(source)
    except InputError:
        return False


def dump_meta(source: str | os.PathLike[str]) -> DumpMeta:
    """The pagecols metadata of a converted file, or of a text dump (which is parsed for it)."""
    return open_dump(source)[1]


def parquet_meta(source: str | os.PathLike[str]) -> DumpMeta:
    """The pagecols metadata of a converted file, from its footer; a file of a newer schema,
    or one whose metadata or columns are damaged, is refused."""
    kv = pl.read_parquet_metadata(Path(source))
    key = METADATA_KEY.decode()
    if key not in kv:
        raise InputError(f"{source}: a Parquet file, but not one written by pagecols convert")
    try:
        meta = DumpMeta.from_bytes(kv[key])
    except ValueError as err:  # json.JSONDecodeError is one
        raise InputError(f"{source}: damaged pagecols metadata: {err}") from err
    if meta.schema_version > SCHEMA_VERSION:
        raise InputError(
            f"{source}: written by a newer pagecols (schema {meta.schema_version}, this one reads {SCHEMA_VERSION})"
        )
    _check_columns(source, meta.schema_version)
    return meta


def open_dump(source: str | os.PathLike[str]) -> tuple[pl.LazyFrame, DumpMeta]:
    """The table and metadata of a dump; a text dump is parsed once for both, into a
    temporary Parquet file kept until the process ends (see :func:`staged`).

    The same text dump opened again (unchanged, or a pipe, which cannot be read twice)
    is not parsed again: `pagecols frag` reads it for two reports.
    """
    if is_parquet(source):
        meta = parquet_meta(source)
        return upgrade(pl.scan_parquet(Path(source)), meta.schema_version), meta
    key = _identity(source)
    if key not in _KEPT:
        if not _KEPT:
            atexit.register(_close_kept)
        _KEPT[key] = _stage(source)
    file, meta = _KEPT[key]
    return pl.scan_parquet(_path_of(file)), meta


def _check_columns(source: str | os.PathLike[str], version: int) -> None:
    """A converted file has every column of its schema (``where`` came with schema 5)."""
    try:
        present = set(pl.read_parquet_schema(Path(source)))
    except pl.exceptions.PolarsError as err:
        raise InputError(f"cannot read `{source}` as Parquet: {str(err).splitlines()[0]}") from err
    missing = [c for c in COLUMNS if c not in present and not (c == "where" and version < SCHEMA_VERSION)]
    if missing:
        names = ", ".join(f"`{c}`" for c in missing)
        raise InputError(f"{source}: a pagecols file without the column(s) {names}: damaged, or not from convert")


#: The temporary files of the text dumps :func:`open_dump` opened, open until the process ends.
_KEPT: dict[tuple[str, int, int], tuple[IO[bytes], DumpMeta]] = {}


def _close_kept() -> None:
    """Close the kept files at exit: left to the garbage collector, each warned that it was not closed."""
    for file, _ in _KEPT.values():
        with contextlib.suppress(OSError):
            file.close()
    _KEPT.clear()


def _identity(source: str | os.PathLike[str]) -> tuple[str, int, int]:
    """A text dump's path with its size and time of change, which tell a file rewritten since."""
    if not is_regular_file(source):
        return os.fspath(source), 0, 0
    st = os.stat(source)
    return os.path.realpath(source), st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def staged(source: str | os.PathLike[str]) -> Iterator[tuple[pl.LazyFrame, DumpMeta]]:
    """A text dump as a lazy frame over a temporary Parquet file that is removed when the block ends.

    The dump is parsed chunk by chunk and written a row group at a time, and the file
    has no name in the file system, so nothing is left behind even if the process is
    killed.  A frame used after the block cannot be read.
    """
    file, meta = _stage(source)
    with file:
        yield pl.scan_parquet(_path_of(file)), meta


def _stage(source: str | os.PathLike[str]) -> tuple[IO[bytes], DumpMeta]:
    from pagecols.ingest import write_parquet
    from pagecols.progress import byte_progress
    from pagecols.source import source_size

    where = tempfile.gettempdir()
    try:
        file = tempfile.TemporaryFile(prefix="pagecols-", suffix=".parquet")  # noqa: SIM115 - the caller closes it
    except OSError as err:
        raise _cannot_stage(source, where, err) from err
    try:
        with byte_progress("reading", source_size(source)) as advance:
            report = write_parquet(source, file, on_bytes=advance)
        file.flush()
    except OSError as err:  # a full disk, a file size limit: the input is not to blame
        with contextlib.suppress(OSError):  # what is still buffered cannot be written either
            file.close()
        raise _cannot_stage(source, where, err) from err
    except BaseException:
        with contextlib.suppress(OSError):
            file.close()
        raise
    return file, report.meta()


def _cannot_stage(source: str | os.PathLike[str], where: str, err: OSError) -> OutputError:
    why = os.strerror(err.errno) if err.errno else err.strerror or str(err)
    return OutputError(f"cannot write the temporary copy of `{os.fspath(source)}` in {where}: {why}")


def _path_of(file: IO[bytes]) -> str:
    # The file has no name (O_TMPFILE, or unlinked at once); its descriptor opens it.
    fds = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    return f"{fds}/{file.fileno()}"


#: The columns schema 5 made signed that were unsigned 64-bit before.
_WIDE_UNSIGNED = ("record", "line", "pfn", "pages", "gfp_mask", "ts", "free_ts", "block")


def upgrade(lf: pl.LazyFrame, version: int) -> pl.LazyFrame:
    """A table read from a file of schema ``version`` as one of :data:`~pagecols.schema.SCHEMA_VERSION`.

    Versions 1-4 stored unsigned integers: ``stack_hash`` keeps its bits as a signed number,
    the other columns their values, except a number of 2**63 or more, which becomes null
    while its record's text goes to ``raw`` (rendered from the old columns first, so that
    ``cat`` stays byte-exact).  ``where`` is computed per stack as schema 5 stores it.
    """
    if version >= SCHEMA_VERSION:
        return lf
    too_big = pl.any_horizontal([(pl.col(c) > INT64_MAX).fill_null(False) for c in _WIDE_UNSIGNED])
    text = record_text()
    lf = lf.with_columns(
        raw=pl.when(too_big & pl.col("raw").is_null())
        .then(text.str.slice(0, text.str.len_chars() - 1))
        .otherwise("raw")
    )
    types = {name: getattr(pl, _POLARS_TYPES[typ]) for name, (typ, _) in COLUMNS.items()}
    lf = lf.with_columns(
        pl.col("stack_hash").reinterpret(signed=True),
        *(pl.col(c).cast(types[c], strict=False) for c in COLUMNS if c not in ("stack_hash", "where")),
    )
    return with_where(lf).select(list(COLUMNS))


_POLARS_TYPES = {"int16": "Int16", "int32": "Int32", "int64": "Int64", "string": "String", "bool_": "Boolean"}


def scan(source: str | os.PathLike[str]) -> pl.LazyFrame:
    """One dump, a converted file or a text dump, as a ``pl.LazyFrame`` with the columns of
    :mod:`pagecols.schema` (a text dump is staged into a Parquet file: :func:`open_dump`).

    ``pagecols.scan`` (:func:`pagecols.dataset.scan`) takes many dumps and datasets too,
    and decodes on request.
    """
    return open_dump(source)[0]


def read_dump(source: str | os.PathLike[str], *, decoded: bool = False) -> pl.DataFrame:
    """The dump as a ``pl.DataFrame``; with ``decoded=True`` as :func:`pagecols.dataset.scan` decodes it.

    Examples
    --------
    >>> import pagecols
    >>> pagecols.read_dump("data/handmade-6.3.txt").select("order", "comm").columns
    ['order', 'comm']
    """
    lf = scan(source)
    return (decode_records(lf) if decoded else lf).collect()


def columns_for_text() -> list[str]:
    return [
        c for c in COLUMNS if c not in {"line", "stack_hash", "module", "where", "allocator", "pages", "parse_error"}
    ]


def info(source: str | os.PathLike[str]) -> dict[str, Any]:
    """Records, pages, MiB, format, time span, distinct stacks, unparsed records and ones not UTF-8 of a dump.

    On a converted file this reads four small columns and no text, and needs no pyarrow.
    """
    with reading(source):
        return _info(source)


def _info(source: str | os.PathLike[str]) -> dict[str, Any]:
    lf, meta = open_dump(source)
    # Per stack, a slice of records at a time (pagecols.reduce): polars reading the whole file
    # at once took more memory the bigger the file (125-131 MiB at 3.3 M records against
    # 101-105 at 0.8 M; sliced 111-116 and 104-107).  A file of an older schema joins `where`
    # on as it is read, and a slice of a join can come out wrong: it is read whole.
    slices = rd.row_slices(lf) if meta.schema_version >= SCHEMA_VERSION else [lf]
    per_stack = rd.reduce(
        slices,
        ["stack_hash"],
        [
            rd.count("records"),
            rd.total(pl.col("pages"), "pages"),
            rd.minimum(pl.col("ts"), "ts_min"),
            rd.maximum(pl.col("ts"), "ts_max"),
            # A record that is only not UTF-8 (schema.NOT_UTF8) did parse.
            rd.total((pl.col("parse_error") != NOT_UTF8).fill_null(False), "unparsed"),
            rd.total(latin1_rows(), "not_utf8"),
        ],
    )
    row = per_stack.select(
        pl.col("records", "pages").sum(),
        pl.col("ts_min").min(),
        pl.col("ts_max").max(),
        pl.col("unparsed", "not_utf8").sum(),
        stacks=pl.len(),
    ).row(0, named=True)
    seconds = None if row["ts_min"] is None else (row["ts_min"] / 1e9, row["ts_max"] / 1e9)
    return {
        "source": meta.source,
        "format": meta.format,
        "records": row["records"],
        "pages": row["pages"],
        "mib": row["pages"] * PAGE_SIZE / (1 << 20),
        "ts_first_s": None if seconds is None else seconds[0],
        "ts_last_s": None if seconds is None else seconds[1],
        "span_s": None if seconds is None else seconds[1] - seconds[0],
        "distinct_stacks": row["stacks"],
        "unparsed": row["unparsed"],
        "not_utf8": row["not_utf8"],
    }
