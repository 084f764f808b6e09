"""Ctrl-C ends every command at once with exit 130, quietly and with no file left;
SIGHUP, like SIGTERM, kills it with no temporary left; a signal ignored at start stays ignored.

polars puts its SIGINT handler in front of Python's with ``SA_RESTART``: a read blocked on a
pipe, a FIFO or a terminal went on waiting after Ctrl-C.  And Ctrl-C while the modules
loaded printed a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fifos import open_for_writing

from pagecols import synth


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "dump.txt"
    synth.write_dump(path, records=2000, seed=3, era="6.7")
    return path


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


#: The number of the read system call, which /proc/PID/syscall shows.
READ = {"x86_64": 0, "aarch64": 63}.get(platform.machine())


def _reading_stdin(pid: int) -> bool:
    """Whether a thread of ``pid`` is blocked in ``read(0, …)``."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            call = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
            if call[:2] == [str(READ), "0x0"]:
                return True
    return False


def pagecols(*, hangups: str = "SIG_DFL") -> list[str]:
    """``python -m pagecols`` with SIGINT and SIGHUP as a terminal's foreground job has them,
    even when the tests run as a background job (which starts with them ignored, and a child
    inherits that); ``hangups="SIG_IGN"`` is ``nohup``."""
    launch = "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    launch += f"signal.signal(signal.SIGHUP, signal.{hangups}); runpy.run_module('pagecols', run_name='__main__')"
    return [sys.executable, "-c", launch]


def _ended(proc: subprocess.Popen[bytes], *, within: float) -> tuple[int, bytes, float]:
    """The exit status, stderr and seconds taken of ``proc``, which must end ``within`` seconds.

    Not ``communicate``: it closes the command's stdin, and the end of input would end it.
    """
    start = time.monotonic()
    try:
        proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {within} s after the signal")
    assert proc.stderr is not None
    return proc.returncode, proc.stderr.read(), time.monotonic() - start


@pytest.mark.skipif(READ is None, reason="needs the read system call's number on this machine")
@pytest.mark.parametrize(
    "command",
    [["convert", "-", "-o", "{out}"], ["top", "-"], ["sort", "-m", "-", "-"], ["cat", "-"], ["info", "-"]],
    ids=["convert", "top", "sort", "cat", "info"],
)
def test_ctrl_c_ends_a_command_waiting_on_a_pipe(tmp_path: Path, command: list[str]) -> None:
    """``timeout -s INT 3 pagecols convert - -o x.parquet < <(sleep 15)`` took 15 s."""
    out = tmp_path / "x.parquet"
    argv = [str(out) if w == "{out}" else w for w in command]
    with subprocess.Popen(
        [*pagecols(), *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        # Nothing is written: the command blocks reading stdin, polars' handler in place by then.
        deadline = time.monotonic() + 60
        while not _reading_stdin(proc.pid):
            assert time.monotonic() < deadline, "the command never read its stdin"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        code, stderr, _ = _ended(proc, within=10)
        assert proc.stdin is not None
        proc.stdin.close()
    assert (code, stderr) == (130, b"")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_modules_load_is_quiet(dump: Path) -> None:
    """Sent as soon as the handlers are in place (the signal thread is the process's second),
    while typer and polars are still loading: no traceback."""
    for delay in (0, 0.005, 0.01, 0.02, 0.05, 0.1):
        with subprocess.Popen(
            [*pagecols(), "top", str(dump)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        ) as proc:
            deadline = time.monotonic() + 60
            while _threads(proc.pid) < 2:
                assert time.monotonic() < deadline, "the signal thread never started"
                time.sleep(0.001)
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            code, stderr, _ = _ended(proc, within=10)
        assert (code, stderr) == (130, b""), f"{delay} s after the handlers were in place"


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.0, 2.0])
def test_ctrl_c_at_any_moment_is_exit_130_or_a_finished_command(tmp_path: Path, dump: Path, delay: float) -> None:
    out = tmp_path / "out.parquet"
    with subprocess.Popen(
        [*pagecols(), "convert", str(dump), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        deadline = time.monotonic() + 60
        while _threads(proc.pid) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "the signal thread never started"
            time.sleep(0.001)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        code, stderr, _ = _ended(proc, within=10)
    assert stderr == b""
    if code == 0:
        assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    else:
        assert code == 130
        assert list(tmp_path.iterdir()) == []


def _while_writing(
    tmp_path: Path, dump: Path, sig: signal.Signals, *, ignore_hangups: bool = False
) -> tuple[int, bytes]:
    """Send ``sig`` to a convert whose temporary output exists and which waits for more input."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out.parquet"

    command = pagecols(hangups="SIG_IGN" if ignore_hangups else "SIG_DFL")
    with subprocess.Popen([*command, "convert", str(fifo), "-o", str(out)], stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 60
        feed = open_for_writing(fifo)
        try:
            os.set_blocking(feed, True)
            data = dump.read_bytes()
            os.write(feed, data[:60_000])
            while not [p for p in tmp_path.iterdir() if p.name.startswith(".out.parquet.")]:
                assert time.monotonic() < deadline, "convert never started its output"
                time.sleep(0.02)
            proc.send_signal(sig)
            if ignore_hangups:
                time.sleep(1)
                assert proc.poll() is None, "an ignored SIGHUP ended the command"
                os.write(feed, data[60_000:])
                os.close(feed)
                feed = -1
            code, stderr, _ = _ended(proc, within=60)
        finally:
            if feed >= 0:
                os.close(feed)
    return code, stderr


def test_ctrl_c_while_writing_leaves_no_file(tmp_path: Path, dump: Path) -> None:
    assert _while_writing(tmp_path, dump, signal.SIGINT) == (130, b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fifo"]


def test_sighup_while_writing_leaves_no_file(tmp_path: Path, dump: Path) -> None:
    """SIGKILL alone can leave a temporary (the next run removes it: test_whole_outputs)."""
    assert _while_writing(tmp_path, dump, signal.SIGHUP) == (-signal.SIGHUP, b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fifo"]


def test_an_ignored_sighup_stays_ignored(tmp_path: Path, dump: Path) -> None:
    """``nohup pagecols convert …``: the command goes on, and its output is whole."""
    code, stderr = _while_writing(tmp_path, dump, signal.SIGHUP, ignore_hangups=True)
    assert (code, stderr) == (0, b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fifo", "out.parquet"]


def test_a_signal_that_comes_while_held_acts_when_the_block_ends() -> None:
    """A dataset's renames happen all or none: the handlers, on whatever thread they run,
    wait for :func:`pagecols.outfile.signals_held` blocks to end (pthread_sigmask holds a
    signal off one thread only)."""
    from pagecols import outfile

    done: list[str] = []
    with outfile.signals_held():
        with outfile.signals_held():
            outfile.unless_held(lambda: done.append("first"))
        assert done == []
        outfile.unless_held(lambda: done.append("second"))
        assert done == []
    assert done == ["first", "second"]
    outfile.unless_held(lambda: done.append("now"))
    assert done == ["first", "second", "now"]
