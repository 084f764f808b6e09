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


def _open_for_writing(fifo: Path, deadline: float) -> int:
    """The write end of ``fifo`` once a reader has opened it; never blocks past ``deadline``."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            assert time.monotonic() < deadline, "the command never opened its input"
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        return fd


def test_sigterm_removes_the_temporary_output(tmp_path: Path, dump: Path) -> None:
    """``kill`` and ``timeout`` send SIGTERM: the command dies of it, and its output's
    temporary file goes with it."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out.parquet"
    deadline = time.monotonic() + 60
    with subprocess.Popen([*PAGECOLS, "convert", str(fifo), "-o", str(out)], stderr=subprocess.PIPE) as proc:
        feed = _open_for_writing(fifo, deadline)
        try:
            os.write(feed, dump.read_bytes()[:60_000])  # and the FIFO stays open: convert waits for more
            while not [p for p in tmp_path.iterdir() if p.name.startswith(".out.parquet.")]:
                assert time.monotonic() < deadline, "convert never started its output"
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        finally:
            os.close(feed)
    assert (proc.returncode, stderr) == (-signal.SIGTERM, b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fifo"]


def test_sigterm_ends_a_sort_blocked_on_a_pipe(dump: Path) -> None:
    """Its writer thread blocked on a pipe nobody reads, a sort still dies of SIGTERM at once."""
    with subprocess.Popen([*PAGECOLS, "sort", str(dump), "-"], stdout=subprocess.PIPE) as proc:
        time.sleep(3)  # the ~2 MB of output fill the pipe long before
        assert proc.poll() is None, "the sort cannot end before its output is read"
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        finally:
            proc.kill()
    assert code == -signal.SIGTERM


def test_dev_stdout_is_written_in_place(dump: Path) -> None:
    """``-o /dev/stdout`` on a pipe: written to, not resolved to a name (``pipe:[…]``) that does not exist."""
    want = run("top", str(dump))
    got = run("top", str(dump), "-o", "/dev/stdout")
    assert (got.returncode, got.stderr) == (0, b"")
    assert got.stdout == want.stdout


def test_a_plot_can_go_into_a_fifo(tmp_path: Path, dump: Path) -> None:
    fifo = tmp_path / "picture.png"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run("plot", "top", str(dump), "-o", str(fifo))
    reader.join(timeout=30)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert received[0].startswith(b"\x89PNG")


def test_a_symlink_loop_is_one_error_line(tmp_path: Path, dump: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    proc = run("top", str(dump), "-o", str(tmp_path / "a"))
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"Error: cannot write output `{tmp_path / 'a'}`: Too many levels of symbolic links\n"
    assert (tmp_path / "a").is_symlink()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_read_only_output_is_refused_not_replaced(tmp_path: Path, dump: Path) -> None:
    out = tmp_path / "kept.txt"
    out.write_bytes(b"old")
    out.chmod(0o444)
    proc = run("top", str(dump), "-o", str(out))
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"Error: cannot write output `{out}`: Permission denied\n"
    assert out.read_bytes() == b"old"


@pytest.mark.skipif(not Path("/dev/full").is_char_device(), reason="needs /dev/full")
def test_a_full_disk_is_one_error_line(dump: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([*PAGECOLS, "cat", str(dump)], stdout=full, stderr=subprocess.PIPE, check=False)
    assert proc.returncode == 1
    assert proc.stderr == b"Error: cannot write standard output: No space left on device\n"
