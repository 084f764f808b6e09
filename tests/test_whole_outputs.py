"""An output is whole or the command fails: a full disk, a file size limit (``ulimit -f``)
or a short write is one error line naming the output (never the input), exit 1, and no
file left behind.  Temporaries that only SIGKILL can leave are cleaned up by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from fifos import open_for_writing

from pagecols import synth

PAGECOLS = [sys.executable, "-m", "pagecols"]
#: Smaller than every output below (``info`` prints ~250 bytes).
LIMIT = 100


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("whole") / "dump.txt"
    synth.write_dump(path, records=2000, seed=5, era="5.18")
    return path


@pytest.fixture(scope="module")
def parquet(dump: Path) -> Path:
    out = dump.with_suffix(".parquet")
    subprocess.run([*PAGECOLS, "convert", str(dump), "-o", str(out)], check=True)
    return out


def _limit_file_size() -> None:
    # SIGXFSZ is what the kernel sends first; Python ignores it, and the write fails with EFBIG.
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def run_limited(argv: list[str], stdout: IO[bytes] | int, *, unbuffered: bool) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"  # stdout is then a raw file: short writes were ignored
    return subprocess.run(
        [*PAGECOLS, *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=_limit_file_size,
        check=False,
        timeout=120,
    )


STDOUT_COMMANDS = {
    "cat": ["cat", "{pq}"],
    "cat-text": ["cat", "{dump}"],
    "query": ["query", "{pq}", "SELECT * FROM pages"],
    "top-table": ["top", "-n", "0", "{pq}"],
    "top-csv": ["top", "-n", "0", "--format", "csv", "{pq}"],
    "top-json": ["top", "-n", "0", "--format", "json", "{pq}"],
    "diff-csv": ["diff", "-n", "0", "--format", "csv", "{pq}", "{pq}"],
    "folded": ["folded", "{pq}"],
    "frag": ["frag", "{pq}"],
    "sort": ["sort", "-m", "{pq}", "-"],
    "info": ["info", "{pq}"],
}


def _words(argv: list[str], **names: Path) -> list[str]:
    return [str(names[w[1:-1]]) if w.startswith("{") else w for w in argv]


@pytest.mark.parametrize("unbuffered", [True, False], ids=["python-u", "buffered"])
@pytest.mark.parametrize("command", list(STDOUT_COMMANDS.values()), ids=list(STDOUT_COMMANDS))
def test_stdout_cut_by_a_file_size_limit_is_an_error(
    tmp_path: Path, dump: Path, parquet: Path, command: list[str], unbuffered: bool
) -> None:
    """``bash -c 'ulimit -f 100; pagecols cat s.parquet > out.txt'`` exited 0 with 100 KB of 2.7 MB."""
    with open(tmp_path / "out.txt", "wb") as out:
        proc = run_limited(_words(command, dump=dump, pq=parquet), out, unbuffered=unbuffered)
    assert (proc.returncode, proc.stderr.decode()) == (1, "Error: cannot write standard output: File too large\n")
    assert (tmp_path / "out.txt").stat().st_size == LIMIT


@pytest.mark.skipif(not Path("/dev/full").is_char_device(), reason="needs /dev/full")
@pytest.mark.parametrize("command", list(STDOUT_COMMANDS.values()), ids=list(STDOUT_COMMANDS))
def test_stdout_on_a_full_disk_is_an_error(dump: Path, parquet: Path, command: list[str]) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [*PAGECOLS, *_words(command, dump=dump, pq=parquet)],
            stdout=full,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
            timeout=120,
        )
    want = "Error: cannot write standard output: No space left on device\n"
    assert (proc.returncode, proc.stderr.decode()) == (1, want)


@pytest.mark.parametrize("command", [["top", "{dump}"], ["diff", "{pq}", "{dump}"]], ids=["top", "diff"])
def test_a_text_dump_that_cannot_be_staged_is_an_error_naming_the_temporary(
    dump: Path, parquet: Path, command: list[str]
) -> None:
    """A report reads a text dump through a temporary Parquet copy in $TMPDIR: a full disk
    there blamed nothing (``Error: File too large``)."""
    proc = run_limited(_words(command, dump=dump, pq=parquet), subprocess.DEVNULL, unbuffered=True)
    tmp = tempfile.gettempdir()
    want = f"Error: cannot write the temporary copy of `{dump}` in {tmp}: File too large\n"
    assert (proc.returncode, proc.stderr.decode()) == (1, want)


FILE_COMMANDS = {
    "convert": ["convert", "{dump}", "-o", "{out}"],
    "sort": ["sort", "-m", "{pq}", "{out}"],
    "query-parquet": ["query", "{pq}", "SELECT * FROM pages", "--format", "parquet", "-o", "{out}"],
    "top-csv": ["top", "-n", "0", "--format", "csv", "{pq}", "-o", "{out}"],
    "folded": ["folded", "{pq}", "-o", "{out}"],
    "plot": ["plot", "top", "{pq}", "-o", "{out}"],
}


@pytest.mark.parametrize("command", list(FILE_COMMANDS.values()), ids=list(FILE_COMMANDS))
def test_an_output_file_cut_by_a_file_size_limit_is_an_error_naming_it(
    tmp_path: Path, dump: Path, parquet: Path, command: list[str]
) -> None:
    """``query --format parquet -o`` blamed the input file for the output's full disk."""
    work = tmp_path / "outputs"
    work.mkdir()
    out = work / ("out.png" if command[0] == "plot" else "out.x")
    proc = run_limited(_words(command, dump=dump, pq=parquet, out=out), subprocess.DEVNULL, unbuffered=True)
    assert (proc.returncode, proc.stderr.decode()) == (1, f"Error: cannot write output `{out}`: File too large\n")
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["convert", "{dump}", "-o", ""],
        ["convert", "{dump}", "--out="],
        ["top", "{pq}", "-o", ""],
        ["query", "{pq}", "SELECT 1 AS one", "--format", "parquet", "-o", ""],
        ["folded", "{pq}", "-o", ""],
        ["plot", "top", "{pq}", "-o", ""],
        ["sort", "{pq}", ""],
    ],
    ids=["convert", "convert-equals", "top", "query", "folded", "plot", "sort"],
)
def test_an_empty_output_path_is_a_usage_error(dump: Path, parquet: Path, command: list[str]) -> None:
    """``-o ""`` was reported as the directory `.`."""
    proc = subprocess.run(
        [*PAGECOLS, *_words(command, dump=dump, pq=parquet)], capture_output=True, check=False, timeout=120
    )
    assert (proc.returncode, proc.stderr.decode()) == (2, "Error: the output path is empty\n")


# --- temporaries ----------------------------------------------------------------------------------


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".pagecols-" in p.name)


@contextlib.contextmanager
def started_output(fifo: Path, dump: Path, directory: Path) -> Iterator[None]:
    """Feed the start of ``dump`` into ``fifo`` and keep it open (the reader waits for more)
    until the reader's temporary output shows in ``directory``."""
    deadline = time.monotonic() + 60
    feed = open_for_writing(fifo)
    try:
        os.set_blocking(feed, True)
        os.write(feed, dump.read_bytes()[:50_000])
        while not _temporaries(directory):
            assert time.monotonic() < deadline, "the command never started its output"
            time.sleep(0.02)
        yield
    finally:
        os.close(feed)


def test_the_temporary_is_named_for_its_target_and_process(tmp_path: Path, dump: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    with subprocess.Popen([*PAGECOLS, "convert", str(fifo), "-o", str(tmp_path / "out.parquet")]) as proc:
        with started_output(fifo, dump, tmp_path):
            (name,) = _temporaries(tmp_path)
            proc.kill()
        proc.wait(timeout=30)
    assert name.startswith(f".out.parquet.pagecols-{proc.pid}-")
    assert name.endswith(".tmp.parquet")


def test_a_temporary_left_by_sigkill_is_removed_by_the_next_run(tmp_path: Path, dump: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out.parquet"
    with (
        subprocess.Popen([*PAGECOLS, "convert", str(fifo), "-o", str(out)]) as proc,
        started_output(fifo, dump, tmp_path),
    ):
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    (left,) = _temporaries(tmp_path)
    old = time.time() - 60
    os.utime(tmp_path / left, (old, old))
    subprocess.run([*PAGECOLS, "convert", str(dump), "-o", str(out)], check=True, timeout=120)
    assert _temporaries(tmp_path) == []
    assert out.exists()


def test_only_stale_temporaries_of_our_naming_are_removed(tmp_path: Path, dump: Path) -> None:
    old = time.time() - 60
    names = {
        "stale": ".a.parquet.pagecols-4194304-abcd_123.tmp.parquet",
        "stale-no-suffix": ".a.pagecols-12-zzzzzzzz.tmp",
        "locked": ".b.parquet.pagecols-4194305-abcd_123.tmp.parquet",
        "young": ".c.parquet.pagecols-4194306-abcd_123.tmp.parquet",
        "not-ours": ".d.parquet.abcd_123.tmp.parquet",
        "a-directory": ".e.parquet.pagecols-4194307-abcd_123.tmp.parquet",
    }
    for kind, name in names.items():
        path = tmp_path / name
        if kind == "a-directory":
            path.mkdir()
        else:
            path.write_bytes(b"x")
        # "young": made under 2 s before the command looks (its writer may not hold the lock
        # yet); dated ahead, as the command may take more than 2 s to start on a busy machine.
        when = time.time() + 60 if kind == "young" else old
        os.utime(path, (when, when))
    with open(tmp_path / names["locked"], "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a convert writing it, in another process
        subprocess.run([*PAGECOLS, "top", str(dump), "-o", str(tmp_path / "top.txt")], check=True, timeout=120)
    left = {name for name in os.listdir(tmp_path) if name != "top.txt"}
    assert left == {names[k] for k in ("locked", "young", "not-ours", "a-directory")}


@pytest.mark.parametrize(
    "command",
    [
        ["info", "{f}"],
        ["cat", "{f}"],
        ["sort", "{f}", "-"],
        ["top", "{f}"],
        ["diff", "{f}", "{f}"],
        ["folded", "{f}"],
        ["frag", "{f}"],
        ["query", "{f}", "SELECT 1"],
        ["plot", "top", "{f}", "-o", "{png}"],
    ],
    ids=["info", "cat", "sort", "top", "diff", "folded", "frag", "query", "plot"],
)
def test_foreign_parquet_is_bad_input_in_every_command(tmp_path: Path, command: list[str]) -> None:
    """info, cat and sort said exit 1, the reports 2 (a usage error) with a message about frames."""
    import polars as pl

    foreign = tmp_path / "foreign.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(foreign)
    words = [str(foreign) if w == "{f}" else str(tmp_path / "x.png") if w == "{png}" else w for w in command]
    proc = subprocess.run([*PAGECOLS, *words], capture_output=True, check=False, timeout=120)
    want = f"Error: {foreign}: a Parquet file, but not one written by pagecols convert\n"
    assert (proc.returncode, proc.stderr.decode()) == (1, want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.parquet"]
