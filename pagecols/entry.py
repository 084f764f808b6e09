"""The ``pagecols`` console script: process set-up, then the command line (:mod:`pagecols.cli`).

These things happen here before any command runs, because they cannot happen later:

* Ctrl-C, SIGTERM and SIGHUP get their handlers first (:func:`guard_signals`): Python's
  own turned Ctrl-C into a traceback while the modules load, and polars, once imported,
  puts its handler in front of Python's with ``SA_RESTART``, so a read blocked on a pipe,
  a FIFO or a terminal went on waiting;
* standard output is rebuilt so that every write is whole or an error naming it
  (:func:`pagecols.outfile.whole_stdout`), and its last flush is checked (:func:`exit_now`):
  under ``python -u`` a stdout cut short by ``ulimit -f`` passed as success;
* the memory allocators of polars (jemalloc) and pyarrow read their settings from the
  environment when each first allocates, and numpy's OpenBLAS its thread count when
  numpy is imported, so a command's settings are put there before any of these
  libraries is imported (an explicit setting in the environment wins);
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
import threading
from collections.abc import Callable

from pagecols.errors import ExitCode, PagecolsError, complain, complain_os

#: A convert frees and reallocates tens of MB per chunk; pages given back to the kernel at
#: once were faulted in again and again.  Keeping them for 10 s cut its CPU time by ~8 %
#: (1 GiB dump, interleaved runs), peak RSS still bounded by the chunks in flight.
CONVERT_ALLOCATORS = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:10000,muzzy_decay_ms:10000"}
#: A sort from text parses on worker threads, then sorts and renders on others.  With one
#: jemalloc arena the later work reuses the pages the parsing freed instead of adding its
#: own: peak RSS 1.05-1.10 -> 0.98 GiB from text, 727 -> 630 MiB from Parquet, no slower.
SORT_ALLOCATORS = {"_RJEM_MALLOC_CONF": "narenas:1"}


#: The settings of each command that has some.
ALLOCATORS = {"convert": CONVERT_ALLOCATORS, "sort": SORT_ALLOCATORS}
#: Every command's:
#:
#: * numpy's OpenBLAS starts a thread per core when numpy is imported, ~0.05 CPU-seconds of
#:   a 0.4 s sort of a small dump, and pagecols does no linear algebra;
#: * pyarrow allocates with the C library's malloc instead of its bundled mimalloc:
#:   converting 0.6 GB then peaked at 756-789 MiB instead of 865-913, with a third less
#:   system CPU time, and a sort of a 24 MB dump at 198-200 MiB instead of 215-222.  (The
#:   C library's is always built in, so no platform warns of a missing one.)
LIBRARIES = {"OPENBLAS_NUM_THREADS": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"}


def tune_allocators(settings: dict[str, str]) -> None:
    """Put ``settings`` in the environment unless set there already (before polars/pyarrow load)."""
    for name, value in settings.items():
        os.environ.setdefault(name, value)


def exit_now(code: int) -> None:
    """Flush and end the process without tearing the interpreter down.

    A sort ends holding hundreds of MB in polars frames; freeing them one by one at exit
    cost ~0.05-0.1 s, and nothing is left to do: its output file is closed and renamed.
    What stdout could not take is an error, unless its reader went away (``| head``).
    """
    code = _flushed(code)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(int(code))


def _flushed(code: int) -> int:
    """``code``, or the exit status of the error that flushing stdout meets (when ``code`` is 0)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    except PagecolsError as err:  # an OutputError from pagecols.outfile.WholeWrites
        return code or complain(err)
    except (OSError, ValueError) as err:  # a stdout that is not ours; ValueError: closed
        from pagecols.outfile import cannot_write

        return code or complain(cannot_write("standard output", err if isinstance(err, OSError) else str(err)))
    return code


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

    Ctrl-C ends it quietly with 130 (:func:`guard_signals`).
    """
    try:
        code = command()
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    except OSError as err:
        code = complain_os(err)
    exit_now(code)


#: How long the signal thread waits for the main thread to take Ctrl-C (Python runs a
#: handler between two bytecodes, within 5 ms when it runs Python code at all).
HANDLER_WAIT_S = 0.2


class _Interrupt:
    """Whether the main thread took Ctrl-C."""

    taken = threading.Event()


def guard_signals() -> None:
    """Ctrl-C ends a command with ``ExitCode.INTERRUPTED`` (130) at once, SIGTERM and SIGHUP
    by dying of the signal; none leaves a temporary output file.  A signal ignored when the
    process started (``nohup``, a background job of a script) stays ignored.

    A Python handler runs only in the main thread, between two bytecodes: not while a read
    blocks (polars' handler restarts it) nor while polars computes.  So the handlers also
    wake a thread (``signal.set_wakeup_fd``), which ends the process when the main thread
    cannot.  Either way Ctrl-C does not unwind the command: a KeyboardInterrupt raised at
    any bytecode can land in a finalizer or in a Python callback of polars, which print it
    and go on.  The process stops its worker processes, removes its temporary files and
    directories (:func:`_remove_temporaries`) and exits.
    """
    handlers = {signal.SIGINT: _interrupted, signal.SIGTERM: _terminated, signal.SIGHUP: _terminated}
    for signum, handler in handlers.items():
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, handler)
    if signal.getsignal(signal.SIGINT) is not _interrupted:
        return
    wake_read, wake_write = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(wake_read,), name="pagecols-signals", daemon=True).start()


def _watch(wake_read: int) -> None:
    """The signal thread of :func:`guard_signals`: ends the process on Ctrl-C, unless the
    main thread does so first."""
    while data := os.read(wake_read, 64):
        if signal.SIGINT in data and not _Interrupt.taken.wait(HANDLER_WAIT_S):
            _unless_held(_end_interrupted, wait=True)


def _interrupted(_signum: int, _frame: object) -> None:
    """Ctrl-C on the main thread: end the process at once, or when the renames under way end."""
    _Interrupt.taken.set()
    _unless_held(_end_interrupted)


def _end_interrupted() -> None:
    try:
        _remove_temporaries()
    finally:
        os._exit(ExitCode.INTERRUPTED)


def _unless_held(action: Callable[[], None], *, wait: bool = False) -> None:
    """``action`` now, or at the end of a :func:`pagecols.outfile.signals_held` block under
    way (``wait``: on this thread, once no block is)."""
    unless_held = getattr(sys.modules.get("pagecols.outfile"), "unless_held", None)
    if unless_held is None:  # not loaded yet, so nothing is held
        action()
    else:
        unless_held(action, wait=wait)


def _remove_temporaries() -> None:
    """Stop the worker processes of the command, if any, and remove the temporary output files
    being written (pagecols.outfile), if it is loaded yet.

    A signal can come while it loads: then it has none, and may not have the function yet.
    """
    workers = getattr(sys.modules.get("multiprocessing"), "active_children", None)
    if workers is not None:  # first, or they would write on into what is removed (convert --into)
        for worker in workers():
            worker.kill()
    remove = getattr(sys.modules.get("pagecols.outfile"), "remove_pending", None)
    if remove is not None:
        remove()


def _terminated(signum: int, _frame: object) -> None:
    """Remove the output's temporary, then die of the signal, at once.

    Not through an exception and the clean-ups it would run: those wait for the writer
    thread, which may be blocked for good on a pipe nobody reads.
    """

    def die() -> None:
        try:
            _remove_temporaries()
        finally:
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    _unless_held(die)


def main() -> None:
    guard_signals()
    from pagecols.outfile import whole_stdout

    stdout = whole_stdout()
    if stdout is not None:
        sys.stdout = stdout
    argv = sys.argv[1:]
    tune_allocators(LIBRARIES)
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
        code = 0
    except SystemExit as done:  # how typer ends every command
        code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    except KeyboardInterrupt:  # Ctrl-C while typer builds the command, before its own handling
        code = ExitCode.INTERRUPTED
    except PagecolsError as err:  # one raised outside a command's own handling (a write to stdout)
        code = complain(err)
    except OSError as err:
        code = complain_os(err)
    exit_now(code)
