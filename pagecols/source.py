"""Open a dump (a path or ``-`` for stdin), undo its compression, hand out chunks.

Compression is recognised by content (magic bytes), never by file name.  Every
chunk ends exactly where a record starts, so the parser never sees half a
record, and CRLF line ends are already normalised to LF.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from pagecols.errors import InputError

CHUNK_BYTES = 32 << 20
# The kernel builds a record in one page, so real records are a few KB.  Text that runs this
# long without a blank line is not a page_owner dump (and would overflow the 32-bit offsets
# the parser's string views use).
MAX_RECORD_BYTES = 256 << 20

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
}


@dataclass
class Chunk:
    """Whole records (and the blank lines after them) from one stretch of input."""

    data: bytearray
    is_first: bool
    is_last: bool


def is_regular_file(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` names a regular file, which can be opened and read more than once.

    A pipe, a FIFO or a device (``<(zcat dump.gz)``, ``/dev/stdin``) is read once, as it
    comes: nothing may look into it first, or what it looked at would be gone.
    """
    if str(source) == "-":
        return False
    try:
        return stat.S_ISREG(os.stat(source).st_mode)
    except OSError:
        return False  # opening it will say why


def describe(source: str | os.PathLike[str]) -> str:
    return "<stdin>" if str(source) == "-" else str(source)


def sniff(head: bytes) -> str | None:
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


@contextmanager
def open_binary(source: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """The decompressed byte stream of ``source``; every layer is closed on exit."""
    name = describe(source)
    with ExitStack() as stack:
        if str(source) == "-":
            raw: BinaryIO = sys.stdin.buffer
        else:
            try:
                raw = stack.enter_context(open(source, "rb"))
            except OSError as e:
                raise InputError(f"cannot open {name}: {e.strerror}") from e
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw))
        kind = sniff(buffered.peek(6)[:6])
        if kind == "gzip":
            yield stack.enter_context(cast(BinaryIO, gzip.GzipFile(fileobj=buffered)))
        elif kind == "xz":
            yield stack.enter_context(cast(BinaryIO, lzma.LZMAFile(buffered)))  # noqa: SIM115 - ExitStack closes it
        elif kind == "bzip2":
            yield stack.enter_context(cast(BinaryIO, bz2.BZ2File(buffered)))
        elif kind == "zstd":
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True, closefd=False)
            yield stack.enter_context(cast(BinaryIO, reader))
        else:
            yield buffered


def chunks(source: str | os.PathLike[str], *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Yield the input as chunks that each start at a record (or at the file start)."""
    name = describe(source)
    with open_binary(source) as stream:
        carry = b""
        first = True
        while True:
            # Each chunk gets a buffer of its own that the parser may keep (Arrow arrays view it),
            # so the only copy made here is of the partial record carried to the next chunk.
            data = bytearray(len(carry) + chunk_bytes)
            data[: len(carry)] = carry
            got = _readinto(stream, memoryview(data)[len(carry) :], name)
            del data[len(carry) + got :]
            if got == 0:
                _normalise_line_ends(data)
                yield Chunk(data, first, True)
                return
            # A CR at the very end may be half of a CRLF split by the read.
            hold = b""
            if data.endswith(b"\r"):
                hold = b"\r"
                del data[-1:]
            _normalise_line_ends(data)
            cut = _record_start_cut(data)
            if cut < 0:
                if len(data) > MAX_RECORD_BYTES:
                    raise InputError(f"{name}: no blank line in {len(data):,} bytes: not a page_owner dump")
                carry = bytes(data) + hold
                continue
            carry = bytes(data[cut:]) + hold
            del data[cut:]
            yield Chunk(data, first, False)
            first = False


def _normalise_line_ends(data: bytearray) -> None:
    if b"\r" in data:
        data[:] = data.replace(b"\r\n", b"\n")


def _readinto(stream: BinaryIO, view: memoryview, name: str) -> int:
    """Fill ``view`` as far as the stream allows (short reads happen on pipes and decompressors)."""
    total = 0
    while total < len(view):
        try:
            got = stream.readinto(view[total:])  # type: ignore[attr-defined]
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
            raise InputError(f"{name}: compressed input is corrupt or truncated ({e})") from e
        except Exception as e:
            # zstandard raises its own ZstdError, which has no common base with the above.
            if type(e).__name__ == "ZstdError":
                raise InputError(f"{name}: compressed input is corrupt or truncated ({e})") from e
            raise
        if not got:
            break
        total += got
    return total


def _record_start_cut(data: bytearray) -> int:
    """Offset of the last record start that follows a blank line, or -1.

    Cutting there keeps a record together with every blank line after it; a
    cut before a trailing run of newlines could not tell how long the run is.
    """
    last = len(data) - 1
    while last >= 0 and data[last] == 10:
        last -= 1
    found = data.rfind(b"\n\n", 0, last)
    return -1 if found < 0 else found + 2


def source_size(source: str | os.PathLike[str]) -> int | None:
    if str(source) == "-":
        return None
    try:
        return Path(source).stat().st_size
    except OSError:
        return None
