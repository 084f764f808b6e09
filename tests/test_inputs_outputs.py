"""What every command does with the paths it is given, whatever they name.

An input that can be read only once (a pipe, a FIFO, ``<(zcat dump.gz)``) is read whole
and only once; an output path is written whole or not at all, through a symlink to its
target and in place on a FIFO, never by replacing the node; a Parquet file cut short
or damaged, an output path that is a directory, a stop by SIGTERM: one error line, no
traceback, no file left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pagecols import synth

PAGECOLS = [sys.executable, "-m", "pagecols"]


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("io") / "dump.txt"
    synth.write_dump(path, records=3000, seed=11, era="5.18")
    return path


@pytest.fixture(scope="module")
def parquet(dump: Path) -> Path:
    out = dump.with_suffix(".parquet")
    subprocess.run([*PAGECOLS, "convert", str(dump), "-o", str(out)], check=True)
    return out


def run(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*PAGECOLS, *argv], capture_output=True, check=False, timeout=120, **kwargs)  # type: ignore[call-overload, no-any-return]


@contextlib.contextmanager
def fed_fifo(path: Path, data: bytes) -> Iterator[Path]:
    """A named FIFO at ``path`` that a thread fills with ``data`` once a reader opens it."""
    os.mkfifo(path)

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), open(path, "wb") as fh:
            fh.write(data)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    yield path
    feeder.join(timeout=30)


@pytest.mark.parametrize(
    "command",
    [["sort", "-t", "{src}", "-"], ["cat", "{src}"], ["info", "--json", "{src}"], ["top", "-n", "5", "{src}"]],
    ids=["sort", "cat", "info", "top"],
)
def test_a_fifo_input_is_read_whole(tmp_path: Path, dump: Path, command: list[str]) -> None:
    """Nothing looks into a FIFO before reading it: looking took the first 4 KiB away, and
    with a named FIFO the second open waited for a writer forever."""
    want = run(*[dump.as_posix() if w == "{src}" else w for w in command])
    assert want.returncode == 0, want.stderr
    with fed_fifo(tmp_path / "fifo", dump.read_bytes()) as fifo:
        got = run(*[str(fifo) if w == "{src}" else w for w in command])
    assert got.returncode == 0, got.stderr
    assert got.stdout.replace(str(fifo).encode(), dump.as_posix().encode()) == want.stdout


def test_a_pipe_given_by_path_is_read_whole(dump: Path) -> None:
    """``pagecols sort <(zcat dump.gz) out``: the shell passes /dev/fd/N, a pipe."""
    want = run("sort", "-t", str(dump), "-").stdout
    read, write = os.pipe()

    def feed() -> None:
        with open(write, "wb") as fh:
            fh.write(dump.read_bytes())

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        got = run("sort", "-t", f"/dev/fd/{read}", "-", pass_fds=(read,))
    finally:
        os.close(read)
        feeder.join(timeout=30)
    assert (got.returncode, got.stderr) == (0, b"")
    assert got.stdout == want


def test_convert_writes_through_a_symlink_and_into_a_fifo(tmp_path: Path, dump: Path, parquet: Path) -> None:
    real = tmp_path / "real.parquet"
    real.write_bytes(b"")
    link = tmp_path / "link.parquet"
    link.symlink_to(real)
    assert run("convert", str(dump), "-o", str(link)).returncode == 0
    assert link.is_symlink()
    assert real.read_bytes()[:4] == b"PAR1"
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert run("convert", str(dump), "-o", str(fifo)).returncode == 0
    reader.join(timeout=30)
    assert fifo.is_fifo(), "the FIFO is written into, not replaced"
    assert received[0][:4] == b"PAR1"
    assert len(received[0]) == len(parquet.read_bytes())


@pytest.mark.parametrize(
    "command",
    [
        ["convert", "{dump}", "-o", "{out}"],
        ["sort", "{dump}", "{out}"],
        ["top", "{dump}", "-o", "{out}"],
        ["top", "{dump}", "--format", "parquet", "-o", "{out}"],
        ["folded", "{dump}", "-o", "{out}"],
    ],
    ids=["convert", "sort", "top", "top-parquet", "folded"],
)
@pytest.mark.parametrize("where", ["a-directory", "no-such-dir/x"])
def test_an_output_that_cannot_be_written_is_one_error_line(
    tmp_path: Path, dump: Path, command: list[str], where: str
) -> None:
    out = tmp_path / where
    if where == "a-directory":
        out.mkdir()
    before = sorted(tmp_path.rglob("*"))
    proc = run(*[{"{dump}": str(dump), "{out}": str(out)}.get(w, w) for w in command])
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(f"Error: cannot write output `{out}`: ")
    assert proc.stderr.count(b"\n") == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_a_plot_needs_an_image_suffix(tmp_path: Path, dump: Path) -> None:
    proc = run("plot", "top", str(dump), "-o", str(tmp_path / "picture"))
    assert proc.returncode == 2
    assert (
        proc.stderr.decode()
        == f"Error: cannot tell the image format of `{tmp_path / 'picture'}`: name it .png, .svg or .pdf\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["cut short", "bytes flipped"])
@pytest.mark.parametrize(
    "command",
    [["sort", "-m", "{pq}", "{out}"], ["info", "{pq}"], ["cat", "{pq}"], ["top", "{pq}"], ["diff", "{pq}", "{dump}"]],
    ids=["sort", "info", "cat", "top", "diff"],
)
def test_a_damaged_parquet_file_is_one_error_line(
    tmp_path: Path, dump: Path, parquet: Path, damage: str, command: list[str]
) -> None:
    data = bytearray(parquet.read_bytes())
    if damage == "cut short":
        data = data[:5000]
    else:
        for at in range(len(data) // 4, len(data) // 2, 97):
            data[at] ^= 0x5A
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(data)
    out = tmp_path / "out.txt"
    proc = run(*[{"{pq}": str(bad), "{dump}": str(dump), "{out}": str(out)}.get(w, w) for w in command])
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(f"Error: cannot read `{bad}` as Parquet: parquet: ")
    assert proc.stderr.count(b"\n") == 1
    assert list(tmp_path.iterdir()) == [bad]


def test_sigterm_removes_the_temporary_output(tmp_path: Path, dump: Path) -> None:
    """``kill`` and ``timeout`` send SIGTERM: it ends a command as Ctrl-C does, through the
    clean-up that removes the output's temporary file; the exit code is 143."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out.parquet"
    with (
        subprocess.Popen([*PAGECOLS, "convert", str(fifo), "-o", str(out)], stderr=subprocess.PIPE) as proc,
        open(fifo, "wb") as feed,
    ):
        feed.write(dump.read_bytes()[:100_000])  # and the FIFO stays open: convert waits for more
        feed.flush()
        deadline = time.monotonic() + 60
        while not [p for p in tmp_path.iterdir() if p.name.startswith(".out.parquet.")]:
            assert time.monotonic() < deadline, "convert never started its output"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stderr) == (128 + signal.SIGTERM, b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fifo"]


@pytest.mark.skipif(not Path("/dev/full").is_char_device(), reason="needs /dev/full")
def test_a_full_disk_is_one_error_line(dump: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([*PAGECOLS, "cat", str(dump)], stdout=full, stderr=subprocess.PIPE, check=False)
    assert proc.returncode == 1
    assert proc.stderr == b"Error: No space left on device\n"
