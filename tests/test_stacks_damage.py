"""A damaged page_owner_stacks file is one error line naming the file and line, exit 1, in
every command that reads one: a byte that is not UTF-8 was a 66-line UnicodeEncodeError,
a handle past u32 an InvalidOperationError, and a count past i64 (or no number) a silent null."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pagecols import stacks
from pagecols.errors import ParseError

PAGECOLS = [sys.executable, "-m", "pagecols"]

GOOD = b" f+0x1/0x2\n g+0x3/0x4\nnr_base_pages: 4\n\n"
DAMAGE = {
    "not-utf8": (b" f+0x1/0x2\n g\xff+0x3/0x4\nnr_base_pages: 4\n\n", 2, "not valid UTF-8: ' g\ufffd+0x3/0x4'"),
    "huge-handle": (
        b" f+0x1/0x2\nhandle: 99999999999\nnr_base_pages: 4\n\n",
        2,
        "handle out of range (a u32): 'handle: 99999999999'",
    ),
    "huge-pages": (
        b" f+0x1/0x2\nnr_base_pages: 99999999999999999999999\n\n",
        2,
        "count out of range: 'nr_base_pages: 99999999999999999999999'",
    ),
    "no-number": (b" f+0x1/0x2\nstack_count: many\n\n", 2, "a count line without a number: 'stack_count: many'"),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
@pytest.mark.parametrize(
    "command",
    [["top", "{bad}"], ["folded", "{bad}"], ["diff", "{good}", "{bad}"], ["query", "{bad}", "SELECT * FROM stacks"]],
    ids=["top", "folded", "diff", "query"],
)
def test_a_damaged_stacks_file_is_one_error_line(tmp_path: Path, damage: str, command: list[str]) -> None:
    data, line, message = DAMAGE[damage]
    bad, good = tmp_path / "bad_stacks.txt", tmp_path / "good_stacks.txt"
    bad.write_bytes(data)
    good.write_bytes(GOOD)
    words = [str(bad) if w == "{bad}" else str(good) if w == "{good}" else w for w in command]
    proc = subprocess.run([*PAGECOLS, *words], capture_output=True, check=False, timeout=120)
    assert (proc.returncode, proc.stderr.decode()) == (1, f"Error: {bad}:{line}: {message}\n")


def test_the_largest_counts_the_kernel_prints_still_read(tmp_path: Path) -> None:
    path = tmp_path / "show_stacks_handles"
    path.write_bytes(b" f+0x1/0x2\nhandle: -1\nnr_base_pages: 9223372036854775807\n\n")
    row = stacks.read_stacks(path).row(0, named=True)
    assert (row["handle"], row["pages"]) == (2**32 - 1, 2**63 - 1)


def test_parse_stacks_refuses_a_handle_past_u32() -> None:
    with pytest.raises(ParseError, match="handle out of range"):
        stacks.parse_stacks(" f+0x1/0x2\nhandle: 4294967296\n\n")
