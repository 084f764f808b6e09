"""The one root error of pagecols, its kinds, and the exit status of every command.

The CLI turns a :class:`PagecolsError` into one line on stderr and its :class:`ExitCode`
(:func:`complain`); nothing else is caught there.
"""

from __future__ import annotations

import enum
import sys
from typing import TextIO


class ExitCode(enum.IntEnum):
    """The exit status of every ``pagecols`` command, as ``--help`` and the README list them.

    A CI job tells a leak (:attr:`THRESHOLD`) from a broken pipeline (:attr:`ERROR`) and
    from a mistyped command line (:attr:`USAGE`, click's own code for it).
    """

    OK = 0
    #: Bad input (not a dump, a record that does not parse under ``--strict``), or a file
    #: that cannot be read or written.
    ERROR = 1
    INPUT = 1
    #: An unknown command, option, key, format or value.
    USAGE = 2
    #: A ``--fail-above`` threshold was exceeded; the report itself was printed in full.
    THRESHOLD = 3
    #: Ctrl-C (128 + SIGINT, as a shell reports it).
    INTERRUPTED = 130


#: What each exit status means, in the order ``--help`` and the README's table list them.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "bad input, or a file that cannot be read or written",
    ExitCode.USAGE: "usage error (an unknown command, option, key or value)",
    ExitCode.THRESHOLD: "a --fail-above threshold was exceeded (after the report is printed)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}

#: The epilog of every command's ``--help``: one paragraph, so that any help renderer
#: (rich or click's plain one) keeps it whole.
EXIT_CODES_HELP = "Exit status: " + "; ".join(f"{int(c)} {m}" for c, m in EXIT_CODE_MEANINGS.items()) + "."


class PagecolsError(Exception):
    """Root of every error pagecols raises on purpose."""


class UsageError(PagecolsError):
    """The caller asked for something that does not exist (a key, an option)."""


class InputError(PagecolsError):
    """The input cannot be read as a page_owner dump (empty, binary, truncated)."""


class ThresholdExceeded(PagecolsError):
    """A ``--fail-above`` limit was exceeded: not an error of pagecols, exit status 3."""


class OutputError(PagecolsError):
    """An output cannot be written (a full disk, a file size limit, a directory in the way).

    The message names the output, never the input the command was reading at the time.
    """


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


def exit_code(err: PagecolsError) -> ExitCode:
    """The exit status ``err`` ends a command with."""
    if isinstance(err, ThresholdExceeded):
        return ExitCode.THRESHOLD
    return ExitCode.USAGE if isinstance(err, UsageError) else ExitCode.ERROR


def complain(err: PagecolsError, stream: TextIO | None = None) -> ExitCode:
    """Print ``err`` as the CLI's one line on stderr; return its exit status (:func:`exit_code`).

    A threshold that was exceeded is what the user asked to be told, not a failure of the
    command, so its line does not start with ``Error:``.
    """
    lead = "Threshold exceeded" if isinstance(err, ThresholdExceeded) else "Error"
    print(f"{lead}: {err}", file=sys.stderr if stream is None else stream)
    return exit_code(err)


def complain_os(err: OSError, stream: TextIO | None = None) -> ExitCode:
    """An operating system error (disk full, permission denied ...) as one error line; return 1.

    The last resort of the console script, for the I/O errors no command turned into a
    :class:`PagecolsError` on the way.
    """
    what = f"{err.filename}: " if err.filename is not None else ""
    print(f"Error: {what}{err.strerror or err}", file=sys.stderr if stream is None else stream)
    return ExitCode.ERROR
