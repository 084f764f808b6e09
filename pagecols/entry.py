"""The ``pagecols`` console script: process set-up, then the command line (:mod:`pagecols.cli`).

Two things happen here before any command runs, because they cannot happen later:

* the memory allocators of polars (jemalloc) and pyarrow (mimalloc) read their settings
  from the environment when each first allocates, so a command's settings are put there
  before either library is imported (an explicit setting in the environment wins);
* typer and what it imports to read a command's options (pydantic) cost ~0.1 s, a sixth
  of ``pagecols sort -m --cull=st`` from Parquet and 3 % of converting 1 GiB, so these
  two commands are run straight away: ``sort`` reads its words with page_owner_sort's
  own parser anyway, and ``convert``'s usual spellings are read here
  (:func:`convert_words`).  Their ``--help``, and any other spelling, go through typer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable

from pagecols.errors import ExitCode

#: A convert frees and reallocates tens of MB per chunk; pages given back to the kernel at
#: once were faulted in again and again.  Keeping them for 10 s cut its CPU time by ~8 %
#: (1 GiB dump, interleaved runs), peak RSS still bounded by the chunks in flight.
CONVERT_ALLOCATORS = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:10000,muzzy_decay_ms:10000", "MIMALLOC_PURGE_DELAY": "10000"}
#: A sort from text parses on worker threads, then sorts and renders on others.  With one
#: jemalloc arena the later work reuses the pages the parsing freed instead of adding its
#: own: peak RSS 1.05-1.10 -> 0.98 GiB from text, 727 -> 630 MiB from Parquet, no slower.
SORT_ALLOCATORS = {"_RJEM_MALLOC_CONF": "narenas:1", "MIMALLOC_PURGE_DELAY": "0"}


#: The settings of each command that has some.
ALLOCATORS = {"convert": CONVERT_ALLOCATORS, "sort": SORT_ALLOCATORS}


def tune_allocators(settings: dict[str, str]) -> None:
    """Put ``settings`` in the environment unless set there already (before polars/pyarrow load)."""
    for name, value in settings.items():
        os.environ.setdefault(name, value)


def exit_now(code: int) -> None:
    """Flush and end the process without tearing the interpreter down.

    A sort ends holding hundreds of MB in polars frames; freeing them one by one at exit
    cost ~0.05-0.1 s, and nothing is left to do: its output file is closed and renamed.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(int(code))


def convert_words(words: list[str]) -> tuple[str, str | None, bool] | None:
    """``(DUMP, OUT or None, strict)`` from ``convert``'s words, or None to leave them to typer.

    Only the plain spellings are read: ``DUMP`` (``-`` is stdin), ``-o OUT``, ``--out OUT``,
    ``--out=OUT`` and ``--strict``, each at most once, in any order.  Anything else (help, an
    unknown or repeated option, a missing or extra argument) goes to typer, which has the
    messages for it.
    """
    dump: str | None = None
    out: str | None = None
    strict = False
    rest = iter(words)
    for word in rest:
        if word == "--strict" and not strict:
            strict = True
        elif word in ("-o", "--out") and out is None:
            out = next(rest, None)
            if out is None or out.startswith("-") or out == "":
                return None
        elif word.startswith("--out=") and out is None and len(word) > len("--out="):
            out = word.removeprefix("--out=")
        elif (word == "-" or not word.startswith("-")) and dump is None and word != "":
            dump = word
        else:
            return None
    return None if dump is None else (dump, out, strict)


def asks_for_help(words: list[str]) -> bool:
    """Whether ``-h`` or ``--help`` stands among the options (before any ``--``).

    page_owner_sort v6.3 has no ``-h``: typer prints ``sort``'s help for either spelling.
    """
    options = words[: words.index("--")] if "--" in words else words
    return "-h" in options or "--help" in options


def _run(command: Callable[[], int]) -> None:
    """Run a command outside typer and end the process with its code.

    Ctrl-C ends it as typer ends its commands: quietly, with 130 (its output file,
    written under a temporary name, is removed on the way out).
    """
    try:
        code = command()
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    except OSError as err:
        from pagecols.errors import complain_os

        code = complain_os(err)
    exit_now(code)


def _terminated(signum: int, _frame: object) -> None:
    """Remove the output's temporary, then die of the signal, at once.

    Not through an exception and the clean-ups it would run: those wait for the writer
    thread, which may be blocked for good on a pipe nobody reads.
    """
    outfile = sys.modules.get("pagecols.outfile")
    if outfile is not None:
        outfile.remove_pending()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def main() -> None:
    # SIGTERM (`kill`, `timeout`) ends a command at once, and no temporary output file is left.
    signal.signal(signal.SIGTERM, _terminated)
    argv = sys.argv[1:]
    if argv:
        tune_allocators(ALLOCATORS.get(argv[0], {}))
    if argv[:1] == ["sort"] and not asks_for_help(argv[1:]):
        from pagecols.compat import run_sort

        _run(lambda: run_sort(argv[1:]))
        return  # only if os._exit was replaced (tests)
    convert = convert_words(argv[1:]) if argv[:1] == ["convert"] else None
    if convert is not None:
        from pagecols.ingest import run_convert

        dump, out, strict = convert
        _run(lambda: run_convert(dump, out, strict=strict))
        return
    from pagecols.cli import app

    try:
        app(prog_name="pagecols")
    except OSError as err:
        from pagecols.errors import complain_os

        sys.exit(complain_os(err))
