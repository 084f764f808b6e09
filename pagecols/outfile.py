"""Output files: the one way every command writes a path it was given, and standard output.

A path is written under a temporary name beside its target and renamed over it once
complete, so that a command that fails or is stopped leaves neither half a file nor a
temporary one behind (the rename is atomic on one filesystem).  Through a symlink the
file it points to is written, as ``fopen()`` would, and a file ``open()`` would refuse to
write is refused.  A device or a FIFO (``/dev/null``, ``/dev/stdout``, a named pipe) cannot
be replaced, only written to, so it is written in place.  The rename makes a new file: a
hard link to the old one keeps the old content.

Every write is whole or an error (:class:`pagecols.errors.OutputError`, naming the output):
a full disk, a file size limit (``ulimit -f``) or a short write never passes as success.

The temporary is named ``.NAME.pagecols-PID-XXXXXXXX.tmp.SUF`` and holds an exclusive
``flock`` while it is written.  Only SIGKILL (or a crash of the machine) can leave one
behind; the next command that writes into the same directory removes any such file that
no process holds locked any more.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar, Final, cast

from pagecols.errors import OutputError, UsageError

__all__ = [
    "STDOUT",
    "WholeWrites",
    "add_pending_dir",
    "cannot_write",
    "discard_pending_dir",
    "remove_pending",
    "replacing",
    "signals_held",
    "unless_held",
    "whole_stdout",
]

#: How an error names standard output.
STDOUT: Final = "standard output"

#: The temporaries being written, for a handler of a fatal signal to remove (pagecols.entry).
_PENDING: set[str] = set()
#: Temporary directories being filled (a dataset's staging directory, pagecols.dataset).
_PENDING_DIRS: set[str] = set()

#: Our temporaries' names (``tempfile.mkstemp`` puts 8 of ``[a-z0-9_]`` where the X's are).
_TEMPORARY: Final = re.compile(r"\..+\.pagecols-\d+-[a-z0-9_]{8}\.tmp(\.[^./]*)?")
#: A temporary younger than this is left alone even when unlocked: its writer may be
#: between creating it and locking it.
_STALE_AFTER_S: Final = 2.0
#: Of the target's name, what the temporary's name keeps (NAME_MAX is 255 bytes).
_NAME_KEPT: Final = 96


def cannot_write(shown: str, err: OSError | str) -> OutputError:
    """The error for an output that could not be written (``shown`` is how the user named it)."""
    # pyarrow's strerror is a sentence around the errno's: take the errno's own.
    why = err if isinstance(err, str) else os.strerror(err.errno) if err.errno else err.strerror or str(err)
    where = STDOUT if shown == STDOUT else f"output `{shown}`"
    return OutputError(f"cannot write {where}: {why}")


class WholeWrites(io.RawIOBase):
    """A file descriptor that takes every write whole, or raises :class:`OutputError` naming it.

    ``os.write`` may take less than it is given (a file size limit reached mid-write); a
    raw file object returns the count and ``TextIOWrapper`` ignores it, so under
    ``python -u`` a truncated stdout went unnoticed.  A broken pipe stays a
    ``BrokenPipeError``: the reader going away (``| head``) is normal use.
    """

    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self._fd = fd
        self.name = name

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                wrote = os.write(self._fd, view[done:])
                if wrote == 0:
                    raise cannot_write(self.name, "the output took no more bytes")
                done += wrote
        except BrokenPipeError:
            raise
        except OSError as err:
            raise cannot_write(self.name, err) from err
        return done


def whole_stdout() -> io.TextIOWrapper | None:
    """``sys.stdout`` rebuilt over :class:`WholeWrites`, or None when it is not a real file descriptor."""
    old = sys.stdout
    try:
        fd = old.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    buffered = io.BufferedWriter(cast(io.RawIOBase, WholeWrites(fd, STDOUT)))
    return io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors, line_buffering=bool(old.line_buffering))


def remove_pending() -> None:
    """Remove every temporary still being written: the process is about to end without its clean-ups."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    for tmp in list(_PENDING_DIRS):
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):  # the parent made for it, once empty (dataset._staging)
            os.rmdir(os.path.dirname(tmp))


def add_pending_dir(path: str | os.PathLike[str]) -> None:
    """Have :func:`remove_pending` remove the directory ``path`` too (and its parent, once
    empty), until :func:`discard_pending_dir`."""
    _PENDING_DIRS.add(os.fspath(path))


def discard_pending_dir(path: str | os.PathLike[str]) -> None:
    _PENDING_DIRS.discard(os.fspath(path))


class _Hold:
    """How many :func:`signals_held` blocks are under way, and what the signals that came meanwhile would do."""

    #: A signal's action may be taken on another thread (pagecols.entry); reentrant, as a
    #: handler may run on the main thread while it holds this.
    lock: ClassVar[threading.RLock] = threading.RLock()
    depth: ClassVar[int] = 0
    deferred: ClassVar[list[Callable[[], None]]] = []


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block ends (renames that happen all or none).

    ``pthread_sigmask`` holds a signal off the calling thread only: one sent to the process
    still reaches another thread, whose handler ends the process at once.
    """
    with _Hold.lock:
        _Hold.depth += 1
    try:
        yield
    finally:
        with _Hold.lock:
            _Hold.depth -= 1
            waiting = list(_Hold.deferred) if _Hold.depth == 0 else []
            if _Hold.depth == 0:
                _Hold.deferred.clear()
        for action in waiting:
            action()


def unless_held(action: Callable[[], None], *, wait: bool = False) -> None:
    """Do ``action`` (what a signal does) now, or when the :func:`signals_held` blocks end.

    ``wait``: on this thread (not the one running the blocks), once none is under way.
    """
    while True:
        with _Hold.lock:
            if not _Hold.depth:
                action()
                return
            if not wait:
                _Hold.deferred.append(action)
                return
        time.sleep(0.05)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A path to write the new content of ``path`` to; it becomes ``path`` when the block ends without error.

    The temporary name keeps the target's suffix, for writers that read the format from
    it.  A path that cannot be written, and an ``OSError`` raised in the block (the disk
    is full ...), is an :class:`OutputError` naming ``path``.
    """
    shown = os.fspath(path)
    if shown == "":
        raise UsageError("the output path is empty")
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None  # created (a dangling symlink: where it points)
    except OSError as err:  # a symlink loop, a directory that cannot be searched ...
        raise cannot_write(shown, err) from err
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise cannot_write(shown, "it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        # Not through realpath: /dev/stdout on a pipe resolves to a name that does not exist.
        with _naming_errors(shown):
            yield Path(shown)
        return
    if st is not None and not os.access(path, os.W_OK):
        raise cannot_write(shown, "Permission denied")  # as open() would refuse it
    target = Path(os.path.realpath(path))
    _remove_stale(target.parent)
    try:
        prefix = f".{target.name[:_NAME_KEPT]}.pagecols-{os.getpid()}-"
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as err:
        raise cannot_write(shown, err) from err
    _PENDING.add(tmp)
    try:
        # Held until the end (the lock goes with the file, whoever writes it): tells the
        # next run into this directory that the temporary is not stale.
        with contextlib.suppress(OSError):  # no locks here: then none is ever taken for stale either
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with _naming_errors(shown):
            yield Path(tmp)
            # mkstemp makes the file private; give it the mode a plain open() would, or the old file's.
            os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask())
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _PENDING.discard(tmp)
        os.close(fd)


@contextlib.contextmanager
def _naming_errors(shown: str) -> Iterator[None]:
    """An ``OSError`` while the output is written as an :class:`OutputError` naming it.

    A broken pipe stays one: the CLI ends quietly when the reader of a FIFO goes away.
    """
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as err:
        raise cannot_write(shown, err) from err


def _remove_stale(directory: Path) -> None:
    """Remove the temporaries in ``directory`` that a run killed by SIGKILL left behind.

    One is stale when no process holds its lock: the lock goes when its holder dies,
    however it dies.
    """
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if not _TEMPORARY.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < _STALE_AFTER_S:
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: being written
                os.unlink(entry.path)
            finally:
                os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
