"""A dump as a polars frame: ``scan`` is lazy, ``read_dump`` eager.

Parquet written by ``pagecols convert`` is scanned lazily; a text dump is
parsed into memory first (convert it once to skip that next time).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pagecols.errors import InputError
from pagecols.schema import COLUMNS, METADATA_KEY, SCHEMA_VERSION, DumpMeta

PARQUET_MAGIC = b"PAR1"


def is_parquet(source: str | os.PathLike[str]) -> bool:
    if str(source) == "-":
        return False
    try:
        with open(source, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError as e:
        raise InputError(f"cannot open {source}: {e.strerror}") from e


def dump_meta(source: str | os.PathLike[str]) -> DumpMeta:
    """The pagecols metadata of a converted file, or of a text dump (which is parsed for it)."""
    if is_parquet(source):
        kv = pq.read_metadata(source).metadata or {}
        if METADATA_KEY not in kv:
            raise InputError(f"{source}: a Parquet file, but not one written by pagecols convert")
        meta = DumpMeta.from_bytes(kv[METADATA_KEY])
        if meta.schema_version > SCHEMA_VERSION:
            raise InputError(
                f"{source}: written by a newer pagecols (schema {meta.schema_version}, this one reads {SCHEMA_VERSION})"
            )
        return meta
    return _parsed(source)[1]


def _parsed(source: str | os.PathLike[str]) -> tuple[pa.Table, DumpMeta]:
    from pagecols.ingest import parse_dump

    return parse_dump(source)


def scan(source: str | os.PathLike[str] | pl.LazyFrame) -> pl.LazyFrame:
    """The dump as a ``pl.LazyFrame`` with the columns of :mod:`pagecols.schema`.

    Examples
    --------
    >>> import pagecols
    >>> lf = pagecols.scan("data/handmade-6.3.txt")
    >>> lf.select("order", "comm").head(1).collect().columns
    ['order', 'comm']
    """
    if isinstance(source, pl.LazyFrame):
        return source
    if is_parquet(source):
        dump_meta(source)  # checks that pagecols wrote it
        return pl.scan_parquet(Path(source))
    table, _ = _parsed(source)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.lazy()


def read_dump(source: str | os.PathLike[str]) -> pl.DataFrame:
    """The dump as a ``pl.DataFrame`` (see :func:`scan`)."""
    return scan(source).collect()


def columns_for_text() -> list[str]:
    return [c for c in COLUMNS if c not in {"line", "stack_hash", "module", "allocator", "pages", "parse_error"}]
