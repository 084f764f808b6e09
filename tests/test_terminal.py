"""Every report in a real pseudo-terminal of 80 and 132 columns: nothing wider, key columns and numbers whole.

The command runs as a user runs it, its stdout a pty whose size is set with TIOCSWINSZ
(COLUMNS unset), and its rows are checked against the same report as csv.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "data" / "linux-6.12-memcg.page_owner.txt.gz"
STACKS = ROOT / "data" / "linux-6.12-memcg.show_stacks.txt.gz"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WIDTHS = [80, 132]


def in_terminal(args: list[str | Path], columns: int) -> tuple[int, str]:
    """Run ``pagecols ARGS`` with its stdout on a pty ``columns`` wide; its exit code and output without colours."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pagecols", *map(str, args)],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # EIO: the pty closed with the command
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    proc.wait(timeout=120)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == 0, err
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return proc.returncode, ANSI.sub("", text)


def as_csv(args: list[str | Path]) -> list[dict[str, str]]:
    out = subprocess.run(
        [sys.executable, "-m", "pagecols", *map(str, args), "-f", "csv"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return list(csv.DictReader(io.StringIO(out)))


def data_rows(text: str, header: str) -> list[str]:
    """The table's rows: the lines after ``header`` (a pattern) up to its footer, without frames and blanks."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(header, line))
    frame = re.compile(r"    (\[\d+ allocator frames\]|\S+\+0x)")
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith(("total: ", "#")) or " shown; " in line:
            break
        if line.strip() and not frame.match(line):
            rows.append(line)
    return rows


def shows(value: str, row: str) -> bool:
    """``row`` holds ``value`` whole, or its start (3 characters or more) cut with a visible ``…``."""
    return value in row or any(value[:k] + "…" in row for k in range(3, len(value)))


def numbers(value: str, *, signed: bool = False) -> set[str]:
    """A csv number as a terminal shows it: thousands separators (dropped when narrow), 2 decimals for a float."""
    spec = ("+" if signed else "") + ","
    shown = format(float(value), spec + ".2f") if "." in value else format(int(value), spec + "d")
    return {shown, shown.replace(",", "")}


REPORTS = [
    pytest.param(["top", DUMP, "-b", "where"], "where", ["where"], ["allocations", "pages"], id="top-where"),
    pytest.param(["top", DUMP, "-b", "comm,memcg,where"], "comm", ["comm", "where"], ["pages", "mib"], id="top-3"),
    pytest.param(["top", DUMP, "-b", "gfp"], "gfp flags", ["gfp_flags"], ["pages", "percent"], id="top-gfp"),
    pytest.param(
        ["diff", DUMP, STACKS, "-b", "where", "-n", "5"],
        "where",
        ["where"],
        ["pages_old", "pages_new", "delta_pages"],
        id="diff-where",
    ),
    pytest.param(
        ["diff", ROOT / "data" / "synth-6.7.txt.gz", DUMP, "-b", "where,comm"],
        "where",
        ["where", "comm"],
        ["pages_new", "delta_pages", "delta_allocations"],
        id="diff-2",
    ),
    pytest.param(["frag", DUMP, "--part", "blocks"], "block", ["block_migratetype"], ["pages"], id="frag-blocks"),
    pytest.param(["top", STACKS, "-b", "where"], "where", ["where"], ["pages", "mib"], id="top-stack-file"),
    pytest.param(
        ["query", DUMP, "SELECT comm, count(*) AS n, sum(pages) AS pages FROM pages GROUP BY 1 ORDER BY 2 DESC, 1"],
        "comm",
        ["comm"],
        ["n", "pages"],
        id="query",
    ),
]


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize(("args", "header", "keys", "measures"), REPORTS)
def test_a_report_fits_and_shows_keys_and_numbers_whole(
    args: list[str | Path], header: str, keys: list[str], measures: list[str], columns: int
) -> None:
    _, text = in_terminal(args, columns)
    assert max(len(line) for line in text.splitlines()) <= columns, text
    rows = data_rows(text, header)
    expected = as_csv([*args, "-n", str(len(rows))])
    assert len(rows) == len(expected) > 0
    for row, want in zip(rows, expected, strict=True):
        for key in keys:
            assert shows(want[key] or "(none)", row), (key, want[key], row)
        for name in measures:
            shown = numbers(want[name], signed=name.startswith("delta_"))
            assert shown & set(row.split()), (name, shown, row)


@pytest.mark.parametrize("columns", WIDTHS)
def test_stacks_are_printed_below_their_row_from_the_allocation_site(columns: int) -> None:
    _, text = in_terminal(["top", DUMP, "-n", "3"], columns)
    lines = text.splitlines()
    assert max(map(len, lines)) <= columns
    hashes = [f"0x{int(row['stack_hash'], 16):016x}" for row in as_csv(["top", DUMP, "-n", "3"])]
    rows = data_rows(text, "stack")
    assert [row.split()[0] for row in rows] == [h[:10] for h in hashes]
    # The second stack of the sample goes through vmalloc: its allocator frames are folded
    # and its first frame shown is the allocation site.
    second = lines.index(rows[1])
    assert lines[second + 1] == "    [5 allocator frames]"
    assert lines[second + 2].startswith("    pcpu_create_chunk+0x")
    assert "get_page_from_freelist" not in text
    assert text.rstrip().endswith("3 of 372 groups shown; -n 0 for all")


@pytest.mark.parametrize("columns", WIDTHS)
def test_frag_reads_at_any_width(columns: int) -> None:
    _, text = in_terminal(["frag", DUMP], columns)
    lines = text.splitlines()
    assert max(map(len, lines)) <= columns
    assert "# stacks with pages in pageblocks of another migratetype" in lines
    row = data_rows(text, r"block type +type +where")[-1]
    assert row.split()[:2] == ["Reclaimable", "Unmovable"]
    assert "    register_early_stack+0x4b/0x80" in lines


def test_a_table_too_wide_for_any_terminal_lists_each_row_as_lines() -> None:
    _, text = in_terminal(["query", DUMP, "SELECT * FROM pages", "-n", "2"], 80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[1].startswith("-[ row 1 ]")
    assert "pfn                0x100" in lines
    assert "gfp_mask           0x2cc1" in lines
    assert "2 of 5,661 rows shown; -n 0 for all" in lines


def test_a_terminal_shows_20_rows_and_says_how_to_see_all() -> None:
    _, text = in_terminal(["top", DUMP, "-b", "where"], 80)
    assert len(data_rows(text, "where")) == 20
    assert text.splitlines()[-1] == "20 of 115 groups shown; -n 0 for all"
    _, everything = in_terminal(["top", DUMP, "-b", "where", "-n", "0"], 80)
    assert len(data_rows(everything, "where")) == 115
    assert " shown; " not in everything


GOLDEN = ROOT / "tests" / "golden" / "terminal"
# Relative to the repository, where the commands run, so that the titles read the same in any clone.
DUMP_NAME = str(DUMP.relative_to(ROOT))
STACKS_NAME = str(STACKS.relative_to(ROOT))


@pytest.mark.parametrize(
    ("name", "args"),
    [
        pytest.param("top-stack-80.txt", ["top", DUMP_NAME, "-n", "3"], id="top-stack"),
        pytest.param("diff-where-80.txt", ["diff", DUMP_NAME, STACKS_NAME, "-b", "where", "-n", "6"], id="diff-where"),
        pytest.param("frag-80.txt", ["frag", DUMP_NAME, "-n", "3"], id="frag"),
    ],
)
def test_golden_terminal_tables(name: str, args: list[str | Path]) -> None:
    """What a person sees at 80 columns, reviewed like code (PAGECOLS_REGOLD=1 rewrites the files)."""
    _, text = in_terminal(args, 80)
    if os.environ.get("PAGECOLS_REGOLD"):
        (GOLDEN / name).write_text(text)
    assert text == (GOLDEN / name).read_text()
