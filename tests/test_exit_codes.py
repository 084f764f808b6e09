"""Exit status: one code per kind of ending, the same in every command, documented in --help and README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from pagecols.cli import app
from pagecols.errors import (
    EXIT_CODE_MEANINGS,
    EXIT_CODES_HELP,
    ExitCode,
    PagecolsError,
    ThresholdExceeded,
    UsageError,
    complain,
)

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "data" / "handmade-6.3.txt"


def commands(group: TyperGroup, prefix: str = "") -> list[tuple[str, object]]:
    """Every command and group under ``group``, by its full name."""
    found: list[tuple[str, object]] = [(prefix or "pagecols", group)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            found += commands(command, f"{prefix} {name}".strip())
        else:
            found.append((f"{prefix} {name}".strip(), command))
    return found


def test_every_command_lists_the_exit_codes() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    found = commands(group)
    assert {"convert", "top", "diff", "sort", "plot timeline"} <= {name for name, _ in found}
    assert [name for name, command in found if getattr(command, "epilog", None) != EXIT_CODES_HELP] == []


def test_help_text_names_every_code() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130]
    assert ExitCode["INPUT"] is ExitCode.ERROR
    assert list(EXIT_CODE_MEANINGS) == list(ExitCode)
    for code, meaning in EXIT_CODE_MEANINGS.items():
        assert f"{int(code)} {meaning}" in EXIT_CODES_HELP


def test_readme_table_is_the_help_text() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", readme, re.MULTILINE)
    assert [(int(c), m) for c, m in rows] == [(int(c), m) for c, m in EXIT_CODE_MEANINGS.items()]


@pytest.mark.parametrize(
    ("err", "code", "line"),
    [
        pytest.param(PagecolsError("`x` does not exist"), 1, "Error: `x` does not exist\n", id="error"),
        pytest.param(UsageError("unknown key `k`"), 2, "Error: unknown key `k`\n", id="usage"),
        pytest.param(ThresholdExceeded("1 group grew"), 3, "Threshold exceeded: 1 group grew\n", id="threshold"),
    ],
)
def test_complain(err: PagecolsError, code: int, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert complain(err) == code
    assert capsys.readouterr().err == line


def pagecols(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pagecols", *map(str, args)], capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        pytest.param(["top", DUMP, "-n", "1"], 0, "", id="ok"),
        pytest.param(["top", "/nonexistent/dump.txt"], 1, "Error: `/nonexistent/dump.txt` does not exist", id="input"),
        pytest.param(["sort", "/nonexistent/dump.txt", "-"], 1, "Error: ", id="sort-input"),
        pytest.param(["top", DUMP, "--by", "colour"], 2, "Error: unknown key `colour`", id="usage-key"),
        pytest.param(["top", DUMP, "--colour"], 2, "", id="usage-option"),
        pytest.param(["sort", "--colour", DUMP, "-"], 2, "Error: ", id="sort-usage"),
        pytest.param(["diff", DUMP, DUMP, "--fail-above", "0"], 0, "", id="no-growth"),
    ],
)
def test_exit_codes_of_the_real_command(args: list[str | Path], code: int, stderr: str) -> None:
    proc = pagecols(*args)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(stderr)


def test_fail_above_is_told_apart_from_a_missing_file(tmp_path: Path) -> None:
    grown = tmp_path / "grown.txt"
    text = DUMP.read_text()
    grown.write_text(text + text.replace("order 0", "order 9"))
    proc = pagecols("diff", DUMP, grown, "--fail-above", "0.5", "-f", "csv")
    assert proc.returncode == ExitCode.THRESHOLD, proc.stderr
    assert proc.stderr.startswith("Threshold exceeded: ")
    assert proc.stderr.count("\n") == 1
    assert proc.stdout.startswith("stack,")
    missing = pagecols("diff", DUMP, tmp_path / "missing.txt", "--fail-above", "0.5")
    assert (missing.returncode, missing.stdout) == (ExitCode.ERROR, "")
