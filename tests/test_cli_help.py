"""The command line's conventions: help that fits 80 columns with an example, -h, -V/--version,
shell completion, and the public API that dir() and a type checker see."""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import pagecols
from pagecols.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _command_paths(command: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of the CLI, as the words that name it."""
    paths = [prefix]
    for name, sub in command.commands.items():
        if isinstance(sub, typer.core.TyperGroup):
            paths += _command_paths(sub, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_group(app))


def test_every_command_is_covered() -> None:
    assert {"convert", "info", "cat", "sort", "top", "diff", "folded", "frag", "query"} <= {p[0] for p in COMMANDS if p}
    assert ("plot", "timeline") in COMMANDS


@pytest.mark.parametrize("columns", [80, 132])
@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(p) or "pagecols" for p in COMMANDS])
def test_help_fits_80_columns_and_shows_an_example(words: tuple[str, ...], columns: int) -> None:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": str(columns)}, prog_name="pagecols")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Usage: {' '.join(('pagecols', *words))} [OPTIONS]")
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    example = lines[lines.index("  Example:") + 1 :]
    example = example[: example.index("")]
    assert any(line.startswith(f"    {' '.join(('pagecols', *words))} ") for line in example), example
    # typer 0.29's own notation, which cli._Command replaces: `{src}`, `<str>`, `--help <bool>`.
    for notation in ("{", "<str>", "<bool>", "<int", "<list", "<path>", "<float>"):
        assert notation not in result.stdout
    assert "Exit status:" in result.stdout


def _examples(words: tuple[str, ...]) -> list[str]:
    """The example lines of a command's help, a continued (further indented) line joined to the one before it."""
    lines = CliRunner().invoke(app, [*words, "--help"], prog_name="pagecols").stdout.splitlines()
    block = lines[lines.index("  Example:") + 1 :]
    examples: list[str] = []
    for line in block[: block.index("")]:
        if examples and line.startswith("      "):
            examples[-1] = examples[-1].removesuffix("\\").rstrip() + " " + line.strip()
        else:
            examples.append(line.strip())
    return examples


def _run_examples(words: tuple[str, ...]) -> int:
    """Run each pagecols command of the examples of ``words``' help in the current directory; how many ran.

    The rest of a pipeline (jq, cmp, flamegraph.pl) is the shell's and is not run.
    """
    ran = 0
    for example in _examples(words):
        for part in re.split(r"\s*(?:&&|\|)\s*", example):
            argv = shlex.split(part.split(" > ")[0])
            if argv[:1] != ["pagecols"]:
                continue
            argv = [path for word in argv[1:] for path in (sorted(glob.glob(word)) if "*" in word else [word])]
            result = CliRunner().invoke(app, argv)
            assert result.exit_code == 0, (part, result.output, result.exception)
            ran += 1
    return ran


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the examples name: dumps, a converted one, and the dataset `convert`'s example makes."""
    where = tmp_path_factory.mktemp("examples")
    sample = ROOT / "data" / "synth-6.7.txt.gz"
    for name in ("dump.txt.gz", "web01-a.txt.gz"):
        shutil.copy(sample, where / name)
    shutil.copy(ROOT / "data" / "synth-6.5.txt.gz", where / "web01-b.txt.gz")
    assert CliRunner().invoke(app, ["convert", str(sample), "-o", str(where / "dump.parquet")]).exit_code == 0
    for name in ("before.parquet", "after.parquet"):
        shutil.copy(where / "dump.parquet", where / name)
    cwd = Path.cwd()
    os.chdir(where)
    try:
        assert _run_examples(("convert",))
    finally:
        os.chdir(cwd)
    return where


#: Examples known to fail, with why (none since `trend --by stack` was fixed).
KNOWN_BROKEN: dict[tuple[str, ...], str] = {}


@pytest.mark.parametrize(
    "words",
    [
        pytest.param(p, marks=pytest.mark.xfail(reason=KNOWN_BROKEN[p], strict=True)) if p in KNOWN_BROKEN else p
        for p in COMMANDS
        if p
    ],
    ids=[" ".join(p) for p in COMMANDS if p],
)
def test_the_examples_run(words: tuple[str, ...], example_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pagecols command of a help's example runs on the files it names."""
    monkeypatch.chdir(example_dir)
    assert _run_examples(words)


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(p) or "pagecols" for p in COMMANDS])
def test_h_is_help(words: tuple[str, ...]) -> None:
    short = CliRunner().invoke(app, [*words, "-h"])
    assert (short.exit_code, short.stdout) == (0, CliRunner().invoke(app, [*words, "--help"]).stdout)


def test_report_options_list_their_choices_and_defaults() -> None:
    text = " ".join(CliRunner().invoke(app, ["top", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert "-b, --by KEY[,KEY...] group keys" in text
    assert "[default: stack]" in text
    assert "-f, --format FORMAT table (" in text
    assert "csv, json or parquet (needs -o) [default: table]" in text
    assert "-n, --limit N" in text
    frag = " ".join(CliRunner().invoke(app, ["frag", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert "--part PART summary, stacks or blocks [default:" in frag


def _console(*words: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``pagecols WORDS`` as the console script runs it."""
    script = "import sys; from pagecols.entry import main; sys.argv[0] = 'pagecols'; main()"
    return subprocess.run(
        [sys.executable, "-c", script, *words],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str) -> None:
    result = CliRunner().invoke(app, [flag])
    assert (result.exit_code, result.stdout) == (0, f"pagecols {pagecols.__version__}\n")


def test_sort_help_from_the_console_script() -> None:
    """`sort` skips typer, but not for -h or --help (page_owner_sort v6.3 has no -h)."""
    for flag in ("-h", "--help"):
        proc = _console("sort", flag)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("Usage: pagecols sort [OPTIONS] INPUT OUTPUT")


def test_shell_completion() -> None:
    script = _console("--show-completion", "bash")
    assert script.returncode == 0
    assert "_PAGECOLS_COMPLETE=complete_bash" in script.stdout
    words = _console(env={"_PAGECOLS_COMPLETE": "complete_bash", "COMP_WORDS": "pagecols to", "COMP_CWORD": "1"})
    assert words.stdout.split() == ["top"]
    options = _console(env={"_PAGECOLS_COMPLETE": "complete_bash", "COMP_WORDS": "pagecols top --f", "COMP_CWORD": "2"})
    assert options.stdout.split() == ["--format"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pagecols top --by comm,me", ["comm,memcg"]),
        ("pagecols top -f c", ["csv"]),
        ("pagecols frag x --part s", ["summary", "stacks"]),
        ("pagecols diff a b --order g", ["growth"]),
    ],
)
def test_shell_completion_of_option_values(line: str, expected: list[str]) -> None:
    env = {"_PAGECOLS_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(line.split()) - 1)}
    assert _console(env=env).stdout.split() == expected


def test_dir_lists_the_public_api() -> None:
    names = dir(pagecols)
    assert {"scan", "convert", "top", "diff", "query", "PagecolsError", "__version__"} <= set(names)
    assert "TYPE_CHECKING" not in names
    assert all(hasattr(pagecols, name) for name in names)


def test_the_package_ships_its_type_hints() -> None:
    assert (ROOT / "pagecols" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["pagecols"]
