"""``pagecols sort`` as a command: argv as typed, exit codes, stdout/stderr, atomic output."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pagecols.cli import app
from pagecols.compat import run_sort

ROOT = Path(__file__).resolve().parent.parent
HANDMADE = ROOT / "data" / "handmade-6.3.txt"
GOLDEN = ROOT / "tests" / "golden" / "handmade-6.3.txt"


def invoke(*argv: str, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(app, ["sort", *argv], input=stdin)
    return result.exit_code, result.stdout_bytes, result.stderr


def test_writes_the_output_file_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "sorted.txt"
    code, stdout, stderr = invoke("-m", str(HANDMADE), "--cull=st", str(out))
    assert (code, stdout, stderr) == (0, b"", "")
    assert out.read_bytes() == (GOLDEN / "m-cull-st.out").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["sorted.txt"]  # no temporary file left behind


def test_dash_output_is_stdout() -> None:
    code, stdout, _ = invoke("--cull=tg", str(HANDMADE), "-")
    assert code == 0
    assert stdout == (GOLDEN / "cull-tg.out").read_bytes()


def test_stdin_and_compressed_input(tmp_path: Path) -> None:
    text = HANDMADE.read_bytes()
    packed = tmp_path / "dump.gz"
    packed.write_bytes(gzip.compress(text))
    expected = (GOLDEN / "default.out").read_bytes()
    assert invoke(str(packed), "-")[:2] == (0, expected)
    assert invoke("-", "-", stdin=text)[:2] == (0, expected)


def test_double_dash_reaches_the_parser(tmp_path: Path) -> None:
    odd = tmp_path / "-odd name.txt"
    odd.write_bytes(HANDMADE.read_bytes())
    out = tmp_path / "out.txt"
    code, _, stderr = invoke("--cull=p", "--", str(odd), str(out))
    assert (code, stderr) == (0, "")
    assert out.read_bytes() == (GOLDEN / "cull-p.out").read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sort=pidd", "IN", "OUT"], "Error: wrong argument after --sort option: `pidd`: unknown key `pidd`"),
        (["--cull=x", "IN", "OUT"], "Error: wrong argument after --cull option: `x`"),
        (["--pid=1,a", "IN", "OUT"], "Error: wrong/invalid pid in --pid list `1,a`: bad entry `a`"),
        (["-z", "IN", "OUT"], "Error: invalid option `-z`"),
        (["IN"], "Error: expected INPUT and OUTPUT"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_write_nothing(tmp_path: Path, argv: list[str], message: str) -> None:
    out = tmp_path / "out.txt"
    argv = [str(HANDMADE) if a == "IN" else str(out) if a == "OUT" else a for a in argv]
    code, stdout, stderr = invoke(*argv)
    assert code == 2
    assert stdout == b""
    assert stderr.startswith(message)
    assert stderr.count("\n") == 1
    assert not out.exists()


def test_input_errors_exit_1_and_leave_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(b"previous run\n")
    not_a_dump = tmp_path / "garbage.txt"
    not_a_dump.write_bytes(b"\x00\x01 binary garbage\n")
    for src in (tmp_path / "missing.txt", not_a_dump):
        code, _, stderr = invoke(str(src), str(out))
        assert code == 1
        assert stderr.startswith("Error: ")
        assert stderr.count("\n") == 1
    assert out.read_bytes() == b"previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.txt", "out.txt"]


def test_unwritable_output_is_an_input_error(tmp_path: Path) -> None:
    code, _, stderr = invoke(str(HANDMADE), str(tmp_path / "no" / "such" / "dir" / "out.txt"))
    assert code == 1
    assert stderr.startswith("Error: cannot write output")


def test_run_sort_library_entry_point(tmp_path: Path) -> None:
    err = io.StringIO()
    out = io.BytesIO()
    assert run_sort(["--cull=n,f", str(HANDMADE), "-"], stdout=out, stderr=err) == 0
    assert out.getvalue() == (GOLDEN / "cull-n-f.out").read_bytes()
    assert err.getvalue() == ""
    assert run_sort(["--sort"], stderr=err) == 2
    assert err.getvalue() == "Error: option `--sort` requires an argument\n"


def test_debug_goes_to_stderr_only(tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    code, stdout, stderr = invoke("-d", "--cull=p", str(HANDMADE), str(out))
    assert (code, stdout) == (0, b"")
    assert stderr.splitlines() == [
        "pagecols sort: sort=-times cull=pid",
        "loaded 18",
        "sorting ....",
        "culling",
        "pagecols sort: loaded 18, selected 18, wrote 11 groups",
    ]


def test_as_a_process_through_a_pipe() -> None:
    """The console script, its stdout cut short by `head`: exit 0 and no traceback."""
    proc = subprocess.run(
        f"{sys.executable} -m pagecols sort {HANDMADE} - | head -c 10",
        shell=True,
        capture_output=True,
        check=False,
    )
    assert proc.stdout == (GOLDEN / "default.out").read_bytes()[:10]
    assert b"Traceback" not in proc.stderr


def test_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """``--name`` takes bytes, as page_owner_sort does: in a UTF-8 dump such a name selects
    nothing (no traceback), and in a dump that has it, it selects that record."""
    argv: list[str | bytes] = [sys.executable, "-m", "pagecols", "sort", b"--name=ab\xe9c"]
    proc = subprocess.run([*argv, str(HANDMADE), "-"], capture_output=True, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    odd = b"Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 5, tgid 5 (ab\xe9c), ts 7 ns\n a+0x1/0x2\n\n"
    dump = tmp_path / "dump.txt"
    dump.write_bytes(HANDMADE.read_bytes() + odd)
    proc = subprocess.run([*argv, str(dump), "-"], capture_output=True, check=False)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout == b"1 times, 1 pages, allocated by OTHERS :\n" + odd


def test_output_mode_symlink_and_device(tmp_path: Path) -> None:
    """The output file gets the mode open() would give; symlinks and devices are written through."""
    import os
    import stat

    out = tmp_path / "new.txt"
    assert invoke("--cull=p", str(HANDMADE), str(out))[0] == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    kept = tmp_path / "kept.txt"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    assert invoke("--cull=p", str(HANDMADE), str(kept))[0] == 0
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    link = tmp_path / "link.txt"
    link.symlink_to(kept)
    assert invoke("--cull=tg", str(HANDMADE), str(link))[0] == 0
    assert link.is_symlink()
    assert kept.read_bytes() == (GOLDEN / "cull-tg.out").read_bytes()
    assert invoke("--cull=tg", str(HANDMADE), os.devnull)[0] == 0
    assert Path(os.devnull).is_char_device()


def test_big_output_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """Output far beyond the pipe buffer, reader gone after 10 bytes: exit 0, nothing on stderr."""
    from pagecols import synth

    dump = tmp_path / "d.txt"
    synth.write_dump(dump, records=5000, seed=3, era="5.18")
    proc = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m pagecols sort {dump} - | head -c 10; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) == 10
    assert proc.stderr == b""


def _process(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pagecols", "sort", *argv], capture_output=True, check=False)


def test_the_console_script_runs_sort_without_typer_and_the_same() -> None:
    """`pagecols sort` skips typer's start-up; output, messages and exit codes are the typer path's."""
    for argv in (["--cull=tg", str(HANDMADE), "-"], ["-m", str(HANDMADE), "--cull=st", "-"]):
        proc = _process(*argv)
        code, stdout, stderr = invoke(*argv)
        assert (proc.returncode, proc.stdout, proc.stderr.decode()) == (code, stdout, stderr)
    for argv in (["--sort=bogus", str(HANDMADE), "-"], [str(ROOT / "no-such-dump.txt"), "-"]):
        proc = _process(*argv)
        code, stdout, stderr = invoke(*argv)
        assert proc.returncode == code != 0
        assert proc.stderr.decode() == stderr
    probe = "import os, sys; sys.argv = ['pagecols', 'sort', '-m', '--cull=st', sys.argv[1], '-']\n"
    probe += "exits = []; os._exit = exits.append\n"
    probe += "from pagecols.entry import main; main(); print('typer' in sys.modules, exits, file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", probe, str(HANDMADE)], capture_output=True, check=True)
    assert proc.stderr.strip() == b"False [0]"


def test_sort_help_still_comes_from_typer() -> None:
    proc = _process("--help")
    assert proc.returncode == 0
    assert b"Drop-in page_owner_sort" in proc.stdout
