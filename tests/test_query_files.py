"""``query`` reads the source only: a file function in the SQL (``read_csv('/etc/passwd')``)
is refused unless ``--allow-files``; an invalid regular expression is one error line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PAGECOLS = [sys.executable, "-m", "pagecols"]
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "handmade-6.3.txt"


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM read_csv('{csv}')", "select * from READ_PARQUET ('{csv}')", "SELECT * FROM read_ndjson('{csv}')"],
)
def test_a_file_function_is_refused(tmp_path: Path, sql: str) -> None:
    csv = tmp_path / "secret.csv"
    csv.write_text("a,b\n1,2\n")
    proc = subprocess.run(
        [*PAGECOLS, "query", str(SAMPLE), sql.format(csv=csv)], capture_output=True, check=False, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("Error: query failed: `")
    assert proc.stderr.decode().endswith("` reads a file other than the source; --allow-files lets it\n")


def test_allow_files_lets_the_sql_read_a_file(tmp_path: Path) -> None:
    csv = tmp_path / "hosts.csv"
    csv.write_text("host,n\nweb01,7\n")
    sql = f"SELECT n FROM read_csv('{csv}')"
    proc = subprocess.run(
        [*PAGECOLS, "query", str(SAMPLE), sql, "--allow-files", "-f", "csv"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"n\n7\n", b"")


def test_an_invalid_regex_is_one_error_line() -> None:
    sql = "SELECT comm FROM pages WHERE regexp_like(comm, '(')"
    proc = subprocess.run([*PAGECOLS, "query", str(SAMPLE), sql], capture_output=True, check=False, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("Error: query failed: ")
    assert proc.stderr.count(b"\n") == 1
