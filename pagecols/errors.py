"""The one root error of pagecols and its kinds.

The CLI turns a :class:`PagecolsError` into one line on stderr and exit 1, and a
:class:`UsageError` into exit 2 (:func:`complain`); nothing else is caught there.
"""

from __future__ import annotations

import sys
from typing import TextIO


class PagecolsError(Exception):
    """Root of every error pagecols raises on purpose."""


class UsageError(PagecolsError):
    """The caller asked for something that does not exist (a key, an option)."""


class InputError(PagecolsError):
    """The input cannot be read as a page_owner dump (empty, binary, truncated)."""


class ParseError(InputError, ValueError):
    """A record that does not parse, with the place it stands in its source."""

    def __init__(self, message: str, *, source: str, line: int, text: str = "") -> None:
        self.message = message
        self.source = source
        self.line = line
        self.text = text
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}: {self.message}"
        if not self.text:
            return where
        shown = self.text if len(self.text) <= 120 else self.text[:120] + "…"
        return f"{where}: {shown!r}"


def complain(err: PagecolsError, stream: TextIO | None = None) -> int:
    """Print ``err`` as the CLI's one error line; return its exit code (2 for usage, else 1)."""
    print(f"Error: {err}", file=sys.stderr if stream is None else stream)
    return 2 if isinstance(err, UsageError) else 1


def complain_os(err: OSError, stream: TextIO | None = None) -> int:
    """An operating system error (disk full, permission denied ...) as one error line; return 1.

    The last resort of the console script, for the I/O errors no command turned into a
    :class:`PagecolsError` on the way.
    """
    what = f"{err.filename}: " if err.filename is not None else ""
    print(f"Error: {what}{err.strerror or err}", file=sys.stderr if stream is None else stream)
    return 1
