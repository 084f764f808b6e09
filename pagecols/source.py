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
import re
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
#: A dump starts with records, so text without a header this far in is refused before any of
#: it is parsed: parsed, 30 MB of ``x\n\n`` is ten million one-line records.
SNIFF_BYTES = 1 << 20
HEADER_MARK = b"Page allocated via order "
#: The most lines a chunk holds.  A 32 MiB chunk of a dump has about 850,000; text much denser
#: (short lines, blank runs) is cut into smaller chunks, so that it takes no more memory to
#: parse than a dump of its size.
MAX_CHUNK_LINES = 1 << 20
#: The most bytes in the input's first chunk (see :func:`_split`).
FIRST_CHUNK_BYTES = 1 << 20

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
}


class NotADump(InputError):
    """Text that shows no page_owner header where a dump would have had one."""

    def __init__(self, message: str, first_line: str = "") -> None:
        super().__init__(message)
        self.first_line = first_line  # the input's first non-blank line, for a caller to say what it is

    def __reduce__(self) -> tuple[type[NotADump], tuple[str, str]]:
        # Whole through pickling, as a worker process hands its error back (pagecols.dataset).
        return NotADump, (str(self), self.first_line)


@dataclass
class Chunk:
    """Whole records (and the blank lines after them) from one stretch of input."""

    data: bytearray
    is_first: bool
    is_last: bool
    #: Blank lines taken off the input's start before this chunk (only the first chunk has any).
    leading_blank_lines: int = 0


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
            yield stack.enter_context(cast(BinaryIO, ZstdFrames(buffered)))
        else:
            yield buffered


class ZstdFrames(io.RawIOBase):
    """The text of a zstd stream of one or more frames; one that ends early is an error.

    zstandard's own stream reader hands out what it has when the input runs out inside
    a frame, and says nothing: a cut ``.zst`` would convert to a table with records
    missing.  Here each frame gets a decompressor of its own, whose ``eof`` says whether
    it was whole.  Frames may ask for a window of up to 2 GiB (``zstd --long=31``).
    """

    #: Compressed bytes fed at a time: as many as should give about ``OUTPUT`` bytes of text,
    #: within these bounds.  zstd can expand a few bytes 30,000-fold (30 MB of ``x\n\n`` packs
    #: into 3 KB), and one call's output is held whole.
    MIN_FEED, MAX_FEED, OUTPUT = 1 << 10, 32 << 10, 4 << 20

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        super().__init__()
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor(max_window_size=1 << 31)
        self._frame: zstandard.ZstdDecompressionObj | None = None  # None between frames
        self._next = b""  # input after the frame that just ended
        self._out = b""
        self._at = 0
        self._feed = self.MIN_FEED

    def readable(self) -> bool:
        return True

    def readinto(self, view: memoryview) -> int:  # type: ignore[override]
        while self._at == len(self._out):
            if not self._decompress_more():
                return 0
        n = min(len(view), len(self._out) - self._at)
        view[:n] = memoryview(self._out)[self._at : self._at + n]
        self._at += n
        return n

    def _decompress_more(self) -> bool:
        data, self._next = self._next or self._raw.read(self._feed), b""
        if not data:
            if self._frame is not None:
                raise EOFError("the input ends inside a zstd frame")
            return False
        if self._frame is None:
            self._frame = self._dctx.decompressobj()
        self._out, self._at = self._frame.decompress(data), 0
        self._feed = max(self.MIN_FEED, min(self.MAX_FEED, len(data) * self.OUTPUT // max(len(self._out), 1)))
        if self._frame.eof:
            self._next = self._frame.unused_data
            self._frame = None
        return True


def chunks(source: str | os.PathLike[str], *, chunk_bytes: int | None = None) -> Iterator[Chunk]:
    """Yield the input as chunks that each start at a record, CRLF line ends made LF.

    The chunks hold the same bytes, whatever ``chunk_bytes`` is (:data:`CHUNK_BYTES` by
    default; tests make it small to put every oddity across a boundary): each byte is
    normalised once, when it is read, and a CR that ends a read waits for the next one.
    Blank lines at the very start are counted in the first chunk, not held in it.
    """
    size = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    name = describe(source)
    with open_binary(source) as stream:
        carry = b""  # the partial record after the last cut, already normalised
        held_cr = b""  # a CR that ended the last read: half of a CRLF, maybe
        first = True
        leading = 0
        read = 0
        given = 0  # bytes handed out in chunks so far
        sniffer = _Sniffer(name)
        while True:
            # Each chunk gets a buffer of its own that the parser may keep (Arrow arrays view it),
            # so the only copy made here is of the partial record carried to the next chunk.
            fresh = len(carry)
            data = bytearray(fresh + len(held_cr) + size)
            data[:fresh] = carry
            data[fresh : fresh + len(held_cr)] = held_cr
            got = _readinto(stream, memoryview(data)[fresh + len(held_cr) :], name, read)
            # _readinto stops short only at the end of the input: then the carried record ends
            # this chunk, instead of being parsed alone as one more.
            at_end = got < size
            read += got
            del data[fresh + len(held_cr) + got :]
            held_cr = b""
            if not at_end and data.endswith(b"\r"):
                held_cr = b"\r"
                del data[-1:]
            _normalise_line_ends(data, fresh)
            if first and fresh == 0:
                blank = len(data) - len(data.lstrip(b"\n"))
                leading += blank
                del data[:blank]
            if not sniffer.found:
                sniffer.feed(data, given, at_end=at_end)
            cut = len(data) if at_end else _record_start_cut(data)
            if cut < 0:
                if len(data) > MAX_RECORD_BYTES:
                    raise InputError(f"{name}: no blank line in {len(data):,} bytes: not a page_owner dump")
                carry = bytes(data)
                continue
            carry = bytes(data[cut:])
            del data[cut:]
            pieces = _split(data, first=first)
            for i, piece in enumerate(pieces):
                yield Chunk(piece, first, at_end and i == len(pieces) - 1, leading)
                first = False
                given += len(piece)
            if at_end:
                return


class _Sniffer:
    """Whether a header shows within the first :data:`SNIFF_BYTES` of text, fed as it is read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.found = False
        self._first_line: str | None = None

    def feed(self, data: bytearray, given: int, *, at_end: bool) -> None:
        """Look at ``data``, which follows ``given`` bytes handed out already; raise :class:`NotADump`
        once that much text, or all of it, shows no header."""
        if self._first_line is None and data:
            end = data.find(b"\n")
            self._first_line = bytes(data[: end if end >= 0 else 200]).decode("utf-8", "replace")
        if data.find(HEADER_MARK, 0, max(SNIFF_BYTES - given, 0) + len(HEADER_MARK)) >= 0:
            self.found = True
        elif given + len(data) >= SNIFF_BYTES or (at_end and given + len(data) > 0):
            where = "" if at_end else f" in its first {SNIFF_BYTES:,} bytes"
            message = f"{self.name}: not a page_owner dump: no '{HEADER_MARK.decode().strip()}' header{where}"
            raise NotADump(message, self._first_line or "")


# A blank line and the first line after it: a record starts at the end of the match.
_RECORD_START = re.compile(rb"\n\n+(?=[^\n])")


def _split(data: bytearray, *, first: bool) -> list[bytearray]:
    """``data`` as chunks to parse: the input's first chunk ends within :data:`FIRST_CHUNK_BYTES`
    (the caller parses it alone, and refuses text that is not a dump before it reads more), and
    none has more than :data:`MAX_CHUNK_LINES` lines."""
    if first and len(data) > FIRST_CHUNK_BYTES:
        cut = _record_start_cut(data[:FIRST_CHUNK_BYTES])
        if cut > 0:
            head = data[:cut]
            del data[:cut]
            return [head, *_split_dense(data)]
    return _split_dense(data)


def _split_dense(data: bytearray) -> list[bytearray]:
    """``data`` as chunks of at most :data:`MAX_CHUNK_LINES` lines, each cut at a record start.

    Every line has at least one byte, so a window of that many bytes has no more lines than
    that; a record longer than the window makes a chunk of its own.
    """
    if data.count(b"\n") <= MAX_CHUNK_LINES:
        return [data]
    pieces = []
    start = 0
    while len(data) - start > MAX_CHUNK_LINES:
        cut = _record_start_cut(data[start : start + MAX_CHUNK_LINES])
        if cut < 0:
            after = _RECORD_START.search(data, start + 1)
            if after is None:
                break
            cut = after.end() - start
        pieces.append(data[start : start + cut])
        start += cut
    pieces.append(data[start:])
    return pieces


def _normalise_line_ends(data: bytearray, start: int) -> None:
    """CRLF -> LF in ``data[start:]``: the bytes before ``start`` are normalised already."""
    if data.find(b"\r", start) >= 0:
        data[start:] = data[start:].replace(b"\r\n", b"\n")


def _readinto(stream: BinaryIO, view: memoryview, name: str, before: int) -> int:
    """Fill ``view`` as far as the stream allows (short reads happen on pipes and decompressors).

    ``before`` is how many bytes the stream gave so far, for the error message.
    """
    total = 0
    while total < len(view):
        try:
            got = stream.readinto(view[total:])  # type: ignore[attr-defined]
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
            raise _corrupt(name, before + total, e) from e
        except Exception as e:
            # zstandard raises its own ZstdError, which has no common base with the above.
            if type(e).__name__ == "ZstdError":
                raise _corrupt(name, before + total, e) from e
            raise
        if not got:
            break
        total += got
    return total


def _corrupt(name: str, good: int, why: Exception) -> InputError:
    return InputError(f"{name}: compressed input is corrupt or truncated after {good:,} bytes of text ({why})")


def _record_start_cut(data: bytearray) -> int:
    """Offset of the last record start that follows a blank line, or -1.

    Cutting there keeps a record together with every blank line after it; a
    cut before a trailing run of newlines could not tell how long the run is.
    """
    last = len(data.rstrip(b"\n")) - 1
    if last < 0:
        return -1
    found = data.rfind(b"\n\n", 0, last)
    return -1 if found < 0 else found + 2


def source_size(source: str | os.PathLike[str]) -> int | None:
    if str(source) == "-":
        return None
    try:
        return Path(source).stat().st_size
    except OSError:
        return None
