"""Output files: the one way every command writes a path it was given.

A path is written under a temporary name beside its target and renamed over it once
complete, so that a command that fails or is stopped leaves neither half a file nor a
temporary one behind (the rename is atomic on one filesystem).  Through a symlink the
file it points to is written, as ``fopen()`` would, and a file ``open()`` would refuse to
write is refused.  A device or a FIFO (``/dev/null``, ``/dev/stdout``, a named pipe) cannot
be replaced, only written to, so it is written in place.  The rename makes a new file: a
hard link to the old one keeps the old content.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pagecols.errors import InputError

__all__ = ["add_pending_dir", "discard_pending_dir", "remove_pending", "replacing"]

#: The temporaries being written, for a handler of a fatal signal to remove (pagecols.entry).
_PENDING: set[str] = set()
#: Temporary directories being filled (a dataset's staging directory, pagecols.dataset).
_PENDING_DIRS: set[str] = set()


def remove_pending() -> None:
    """Remove every temporary still being written: the process is about to end without its clean-ups."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    for tmp in list(_PENDING_DIRS):
        shutil.rmtree(tmp, ignore_errors=True)


def add_pending_dir(path: str | os.PathLike[str]) -> None:
    """Have :func:`remove_pending` remove the directory ``path`` too, until :func:`discard_pending_dir`."""
    _PENDING_DIRS.add(os.fspath(path))


def discard_pending_dir(path: str | os.PathLike[str]) -> None:
    _PENDING_DIRS.discard(os.fspath(path))


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A path to write the new content of ``path`` to; it becomes ``path`` when the block ends without error.

    The temporary name keeps the target's suffix, for writers that read the format from
    it.  A path that cannot be written is an :class:`InputError` naming it.
    """
    shown = os.fspath(path)
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None  # created (a dangling symlink: where it points)
    except OSError as err:  # a symlink loop, a directory that cannot be searched ...
        raise InputError(f"cannot write output `{shown}`: {err.strerror}") from err
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError(f"cannot write output `{shown}`: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        # Not through realpath: /dev/stdout on a pipe resolves to a name that does not exist.
        yield Path(shown)
        return
    if st is not None and not os.access(path, os.W_OK):
        raise InputError(f"cannot write output `{shown}`: Permission denied")  # as open() would refuse it
    target = Path(os.path.realpath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as err:
        raise InputError(f"cannot write output `{shown}`: {err.strerror}") from err
    os.close(fd)
    _PENDING.add(tmp)
    try:
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
