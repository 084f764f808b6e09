"""The ``pagecols`` console script: process set-up, then the command line (:mod:`pagecols.cli`).

Two things happen here before any command runs, because they cannot happen later:

* the memory allocators of polars (jemalloc) and pyarrow (mimalloc) read their settings
  from the environment when each first allocates, so a command's settings are put there
  before either library is imported (an explicit setting in the environment wins);
* ``pagecols sort`` reads its words with page_owner_sort's own parser, so it is run
  straight away: typer and what it imports at start-up (pydantic) cost ~0.1 s, a sixth
  of ``-m --cull=st`` from Parquet.  ``pagecols sort --help`` still goes through typer.
"""

from __future__ import annotations

import contextlib
import os
import sys

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
    os._exit(code)


def main() -> None:
    argv = sys.argv[1:]
    if argv:
        tune_allocators(ALLOCATORS.get(argv[0], {}))
    if argv[:1] == ["sort"] and "--help" not in argv:
        from pagecols.compat import run_sort

        exit_now(run_sort(argv[1:]))
        return  # only if os._exit was replaced (tests)
    from pagecols.cli import app

    app()
