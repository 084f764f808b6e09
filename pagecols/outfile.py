"""Output files: the one way every command writes a path it was given.

A path is written under a temporary name beside its target and renamed over it once
complete, so that a command that fails or is stopped leaves neither half a file nor a
temporary one behind (the rename is atomic on one filesystem).  Through a symlink the
file it points to is written, as ``fopen()`` would.  A device or a FIFO (``/dev/null``,
a named pipe) cannot be replaced, only written to, so it is written in place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pagecols.errors import InputError

__all__ = ["replacing"]


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A path to write the new content of ``path`` to; it becomes ``path`` when the block ends without error.

    The temporary name keeps the target's suffix, for writers that read the format from
    it.  A path that cannot be written is an :class:`InputError` naming it.
    """
    shown = os.fspath(path)
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise InputError(f"cannot write output `{shown}`: it is a directory")
    if target.exists() and not target.is_file():
        yield target
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as err:
        raise InputError(f"cannot write output `{shown}`: {err.strerror}") from err
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private; give it the mode a plain open() would, or the old file's.
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
