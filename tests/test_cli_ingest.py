"""`pagecols convert`, `info` and `cat` as a user runs them: exact output, exit codes, files left behind."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pagecols import synth
from pagecols.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "dump.txt"
    synth.write_dump(path, records=400, seed=5, era="5.18")
    return path


def test_convert_then_info_then_cat(tmp_path: Path, dump: Path) -> None:
    out = tmp_path / "d.parquet"
    result = runner.invoke(app, ["convert", str(dump), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # convert prints nothing on stdout
    assert out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"], "no temporary file left behind"

    info = runner.invoke(app, ["info", "--json", str(out)])
    assert info.exit_code == 0
    facts = json.loads(info.stdout)
    assert facts["records"] == 400
    assert facts["format"] == "5.18"
    assert facts["unparsed"] == 0
    assert facts["mib"] == facts["pages"] * 4096 / 2**20

    cat = subprocess.run([sys.executable, "-m", "pagecols", "cat", str(out)], capture_output=True, check=True)
    assert cat.stdout == dump.read_bytes()


def test_info_table_is_aligned(dump: Path) -> None:
    result = runner.invoke(app, ["info", str(dump)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "source",
        "format",
        "records",
        "pages",
        "mib",
        "ts_first_s",
        "ts_last_s",
        "span_s",
        "distinct_stacks",
        "unparsed",
        "not_utf8",
    ]
    assert len({line.index(line.split()[1]) for line in lines}) == 1, "values start in one column"
    assert "records          400" in result.stdout


def test_convert_default_output_name(tmp_path: Path, dump: Path) -> None:
    """Without -o the file's name was pagecols' choice: stderr says which file, and when it replaced one."""
    src = tmp_path / "machine.txt.gz"
    src.write_bytes(gzip.compress(dump.read_bytes()))
    first = runner.invoke(app, ["convert", str(src)])
    assert (first.exit_code, first.stdout) == (0, "")
    assert first.stderr == f"wrote {tmp_path / 'machine.parquet'} (400 records)\n"
    assert (tmp_path / "machine.parquet").exists()
    again = runner.invoke(app, ["convert", str(src)])
    assert again.stderr == f"replaced {tmp_path / 'machine.parquet'} (400 records)\n"
    named = runner.invoke(app, ["convert", str(src), "-o", str(tmp_path / "named.parquet")])
    assert (named.exit_code, named.stdout, named.stderr) == (0, "", "")


def test_a_pipe_needs_an_output_name(tmp_path: Path, dump: Path) -> None:
    """`pagecols convert <(zcat d.gz)` is `/dev/fd/N`: nothing to put the output beside."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pagecols", "convert", f"/dev/fd/{read}"],
        pass_fds=[read],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(read)
    with os.fdopen(write, "wb") as pipe, contextlib.suppress(BrokenPipeError):
        pipe.write(dump.read_bytes())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err == f"Error: `/dev/fd/{read}` is a pipe or a device, not a file: name the output with -o\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("words", [["convert"], ["convert", "--strict"], ["info"], ["cat"]], ids=" ".join)
def test_a_stacks_file_is_named_with_the_commands_that_read_it(words: list[str], tmp_path: Path) -> None:
    stacks = Path(__file__).resolve().parent.parent / "data" / "linux-6.12-memcg.show_stacks.txt.gz"
    out = ["-o", str(tmp_path / "x.parquet")] if "--strict" in words else []
    result = runner.invoke(app, [*words, str(stacks), *out])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {stacks}: a page_owner_stacks file (show_stacks), not a page_owner dump: "
        "`top`, `diff`, `folded`, `query` and `plot top` read it\n"
    )


def test_convert_from_stdin(tmp_path: Path, dump: Path) -> None:
    out = tmp_path / "s.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "pagecols", "convert", "-", "-o", str(out)],
        input=gzip.compress(dump.read_bytes()),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    cat = subprocess.run([sys.executable, "-m", "pagecols", "cat", str(out)], capture_output=True, check=True)
    assert cat.stdout == dump.read_bytes()


def test_a_stacks_file_on_stdin_is_named_too() -> None:
    """`top` reads a stacks file, but not from stdin or a pipe, which are read as dumps."""
    stacks = Path(__file__).resolve().parent.parent / "data" / "linux-6.12-memcg.show_stacks.txt.gz"
    result = runner.invoke(app, ["top", "-"], input=gzip.decompress(stacks.read_bytes()))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: <stdin>: a page_owner_stacks file (show_stacks), not a page_owner dump")
    assert result.stderr.endswith("read it from a file (a pipe or stdin is read as a dump)\n")


def test_stdin_needs_an_output_name() -> None:
    result = runner.invoke(app, ["convert", "-"], input="")
    assert result.exit_code == 2
    assert result.stderr == "Error: reading stdin: name the output with -o\n"


def test_unparsed_records_are_counted_on_stderr(tmp_path: Path, dump: Path) -> None:
    src = tmp_path / "mixed.txt"
    src.write_bytes(dump.read_bytes() + b"garbage line\n\nPage allocated via order x\n")
    out = tmp_path / "m.parquet"
    result = runner.invoke(app, ["convert", str(src), "-o", str(out)])
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines[0] == f"{src}: 2 of 402 records did not parse; they are kept with their raw text and a parse_error"
    total_lines = dump.read_bytes().count(b"\n")
    assert lines[1].startswith(f"  {src}:{total_lines + 1}: record does not start with")
    assert lines[2].startswith(f"  {src}:{total_lines + 3}: malformed header line")
    facts = json.loads(runner.invoke(app, ["info", "--json", str(out)]).stdout)
    assert (facts["records"], facts["unparsed"]) == (402, 2)


def test_records_that_are_not_utf8_are_counted_apart(tmp_path: Path, dump: Path) -> None:
    """A task name is bytes: a record whose bytes are not UTF-8 but that parses is counted as
    such, not as unparsed, and ``--strict`` takes it; one that does not parse either counts
    as both.  ``cat`` gives every byte back."""
    text = dump.read_bytes()
    first = text.index(b"\n\n") + 2  # the second record
    odd = text[:first] + text[first:].replace(b")", b"\xe9)", 1)  # in its task name
    bad = b"Page allocated via order x \xff\n"
    src = tmp_path / "odd.txt"
    src.write_bytes(odd + bad)
    out = tmp_path / "odd.parquet"
    odd_line, bad_line = text[:first].count(b"\n") + 1, text.count(b"\n") + 1
    result = runner.invoke(app, ["convert", str(src), "-o", str(out)])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{src}: 2 of 401 records are not valid UTF-8; `raw` keeps their bytes, "
        "and their text columns show U+FFFD for the bad ones",
        f"  {src}:{odd_line}: the first of them",
        f"{src}: 1 of 401 records did not parse; they are kept with their raw text and a parse_error",
        f"  {src}:{bad_line}: malformed header line: 'Page allocated via order x \ufffd'",
    ]
    facts = json.loads(runner.invoke(app, ["info", "--json", str(out)]).stdout)
    assert (facts["records"], facts["unparsed"], facts["not_utf8"]) == (401, 1, 2)
    cat = subprocess.run([sys.executable, "-m", "pagecols", "cat", str(out)], capture_output=True, check=True)
    assert cat.stdout == odd + bad
    # Without the record that does not parse, --strict has nothing to stop at.
    src.write_bytes(odd)
    strict = runner.invoke(app, ["convert", "--strict", str(src), "-o", str(out)])
    assert strict.exit_code == 0, strict.stderr
    assert "1 of 400 records are not valid UTF-8" in strict.stderr


def test_strict_fails_with_place_and_leaves_no_file(tmp_path: Path, dump: Path) -> None:
    src = tmp_path / "bad.txt"
    src.write_bytes(dump.read_bytes() + b"garbage line\n")
    out = tmp_path / "bad.parquet"
    result = runner.invoke(app, ["convert", "--strict", str(src), "-o", str(out)])
    assert result.exit_code == 1
    line = dump.read_bytes().count(b"\n") + 1
    assert result.stderr == (
        f"Error: {src}:{line}: record does not start with a 'Page allocated via order' header: 'garbage line'\n"
    )
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty input: no page_owner records"),
        (b"\x00\x01\x02binary\xff\xfe" * 100, "not a page_owner dump"),
    ],
    ids=["empty", "binary"],
)
def test_bad_input_is_one_error_line(tmp_path: Path, content: bytes, message: str) -> None:
    src = tmp_path / "in"
    src.write_bytes(content)
    result = runner.invoke(app, ["convert", str(src), "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == [src]


def test_missing_input_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", str(tmp_path / "nope.parquet")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot open {tmp_path / 'nope.parquet'}: No such file or directory\n"


def test_foreign_parquet_is_refused(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "other.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(path)
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 1
    assert "not one written by pagecols convert" in result.stderr


def test_cat_into_a_closed_pipe_is_quiet(dump: Path) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m pagecols cat {dump} | head -c 10",
        shell=True,
        capture_output=True,
        check=True,
    )
    assert proc.stdout == dump.read_bytes()[:10]
    assert proc.stderr == b""


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["d.txt"], ("d.txt", None, False)),
        (["d.txt", "-o", "o.pq"], ("d.txt", "o.pq", False)),
        (["--strict", "--out", "o.pq", "-"], ("-", "o.pq", True)),
        (["--out=o.pq", "d.txt", "--strict"], ("d.txt", "o.pq", True)),
        ([], None),
        (["--help"], None),
        (["d.txt", "e.txt"], None),
        (["d.txt", "-o"], None),
        (["d.txt", "-o", "-x"], None),
        (["d.txt", "-oo.pq"], None),
        (["d.txt", "-o", "a", "-o", "b"], None),
        (["d.txt", "--strict", "--strict"], None),
        (["--", "d.txt"], None),
        (["d.txt", "--out="], None),
        (["--out=-x", "d.txt"], ("d.txt", "-x", False)),
        (["d.txt", "--bogus"], None),
    ],
)
def test_convert_words_read_only_the_plain_spellings(words: list[str], expected: object) -> None:
    from pagecols.entry import convert_words

    assert convert_words(words) == expected


def _console(*argv: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pagecols", "convert", *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        input=stdin,
    )


def test_the_console_script_converts_without_typer_and_the_same(tmp_path: Path, dump: Path) -> None:
    """`pagecols convert` skips typer's start-up; files, messages and exit codes are the typer path's."""
    bad = tmp_path / "bad.txt"
    bad.write_bytes(dump.read_bytes() + b"garbage line\n")
    text = dump.read_text()
    for name, words, stdin in (
        ("a", [str(dump), "-o", "{out}/o.parquet"], None),
        ("b", ["--out={out}/o.parquet", str(bad)], None),
        ("c", ["--strict", str(bad), "--out", "{out}/o.parquet"], None),
        ("d", [str(tmp_path / "missing.txt"), "-o", "{out}/o.parquet"], None),
        ("e", ["-", "-o", "{out}/o.parquet"], text),
        ("f", [str(dump), "-o", "{out}/no-such-dir/o.parquet"], None),
    ):
        fast_dir, typer_dir = tmp_path / f"fast-{name}", tmp_path / f"typer-{name}"
        fast_dir.mkdir()
        typer_dir.mkdir()
        proc = _console(*(w.format(out=fast_dir) for w in words), cwd=tmp_path, stdin=stdin)
        result = runner.invoke(app, ["convert", *(w.format(out=typer_dir) for w in words)], input=stdin)
        # The messages may name the output, whose directory differs.
        fast_err, typer_err = proc.stderr.replace(str(fast_dir), "OUT"), result.stderr.replace(str(typer_dir), "OUT")
        assert (proc.returncode, proc.stdout, fast_err) == (result.exit_code, result.stdout, typer_err)
        fast_files = sorted(p.name for p in fast_dir.iterdir())
        assert fast_files == sorted(p.name for p in typer_dir.iterdir())
        if fast_files:
            assert (fast_dir / "o.parquet").read_bytes() == (typer_dir / "o.parquet").read_bytes()
    probe = "import os, sys; sys.argv = ['pagecols', 'convert', sys.argv[1], '-o', sys.argv[2]]\n"
    probe += "exits = []; os._exit = exits.append\n"
    probe += "from pagecols.entry import main; main(); print('typer' in sys.modules, exits, file=sys.stderr)"
    out = tmp_path / "probe.parquet"
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(dump), str(out)], capture_output=True, text=True, check=True
    )
    assert proc.stderr.strip() == "False [0]"
    assert out.exists()


@pytest.mark.parametrize("command", ["convert", "sort", "info"])
def test_the_console_script_sets_the_libraries_up_before_they_load(tmp_path: Path, dump: Path, command: str) -> None:
    """pyarrow allocates with malloc and OpenBLAS keeps to one thread: both read the environment only once."""
    words = {"convert": ["-o", str(tmp_path / "o.parquet")], "sort": [str(tmp_path / "o.txt")], "info": []}[command]
    probe = f"import os, sys; sys.argv = ['pagecols', {command!r}, *sys.argv[1:]]\n"
    probe += "exits = []; os._exit = exits.append\n"
    probe += "from pagecols.entry import main; main()\n"
    probe += "import pyarrow as pa\n"
    probe += "print(pa.default_memory_pool().backend_name, os.environ['OPENBLAS_NUM_THREADS'], exits)"
    env = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "OPENBLAS_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(dump), *words], capture_output=True, text=True, check=True, env=env
    )
    assert proc.stdout.splitlines()[-1] == "system 1 [0]"


def test_convert_help_still_comes_from_typer(tmp_path: Path) -> None:
    proc = _console("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "Parse a dump once and write it as Parquet." in proc.stdout


def test_ctrl_c_outside_typer_ends_as_typer_ends_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """typer turns Ctrl-C into a quiet exit 130; the commands run without it do the same."""
    from pagecols import entry

    codes: list[int] = []
    monkeypatch.setattr(entry, "exit_now", codes.append)

    def interrupted() -> int:
        raise KeyboardInterrupt

    entry._run(interrupted)
    entry._run(lambda: 3)
    assert codes == [130, 3]
    assert capsys.readouterr() == ("", "")


def test_an_output_directory_that_does_not_exist_is_one_error_line(tmp_path: Path, dump: Path) -> None:
    out = tmp_path / "no-such-dir" / "o.parquet"
    proc = _console(str(dump), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == f"Error: cannot write output `{out}`: No such file or directory\n"
    assert not out.parent.exists()


@pytest.mark.parametrize("command", [["convert", "-", "-o", "{out}"], ["sort", "-", "{out}"]])
def test_ctrl_c_on_the_console_script_ends_quietly_with_130_and_leaves_no_file(
    tmp_path: Path, dump: Path, command: list[str]
) -> None:
    """Interrupted while it reads its input: exit 130, nothing on stderr, no output or temporary file."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # `python -m pagecols`, with Python's own SIGINT handler even if this test runs with SIGINT
    # ignored (as a background job does), which the child would inherit.
    launch = "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    launch += "runpy.run_module('pagecols', run_name='__main__')"
    proc = subprocess.Popen(
        [sys.executable, "-c", launch, *(w.format(out=out_dir / "o") for w in command)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(dump.read_bytes()[:2000])
    proc.stdin.flush()
    # Past start-up once the main thread waits for more of the input pipe (the kernel
    # function it sleeps in: pipe_read, anon_pipe_read or pipe_wait, by kernel version).
    wchan = Path(f"/proc/{proc.pid}/wchan")
    deadline = time.monotonic() + 60
    while "pipe" not in wchan.read_text():
        assert time.monotonic() < deadline, "the command never waited on its input"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stderr) == (130, b"")
    assert list(out_dir.iterdir()) == []
