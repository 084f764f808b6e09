"""A pagecols Parquet file whose key-value metadata is not JSON, is ``{}``, has a
``schema_version`` that is not a number, or that lacks a column, is one error line naming
the file and exit 1 in every command (each was a Python traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pagecols import synth

PAGECOLS = [sys.executable, "-m", "pagecols"]


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("meta")
    synth.write_dump(tmp / "d.txt", records=300, seed=4, era="6.7")
    subprocess.run([*PAGECOLS, "convert", str(tmp / "d.txt"), "-o", str(tmp / "d.parquet")], check=True)
    return tmp / "d.parquet"


def _damaged(parquet: Path, damage: str, out: Path) -> str:
    table = pq.read_table(parquet)
    meta = dict(table.schema.metadata)
    body = json.loads(meta[b"pagecols"])
    if damage == "not-json":
        meta[b"pagecols"] = b"{not json"
        why = "damaged pagecols metadata: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    elif damage == "empty":
        meta[b"pagecols"] = b"{}"
        why = "damaged pagecols metadata: no `schema_version`"
    elif damage == "version-a-string":
        meta[b"pagecols"] = json.dumps({**body, "schema_version": str(body["schema_version"])}).encode()
        why = f'damaged pagecols metadata: `schema_version` is "{body["schema_version"]}", not a number'
    else:
        table = table.drop(["stack"])
        why = "a pagecols file without the column(s) `stack`: damaged, or not from convert"
    pq.write_table(table.replace_schema_metadata(meta), out)
    return why


@pytest.mark.parametrize("damage", ["not-json", "empty", "version-a-string", "no-stack-column"])
@pytest.mark.parametrize(
    "command",
    [
        ["info", "{f}"],
        ["cat", "{f}"],
        ["sort", "-m", "{f}", "-"],
        ["top", "{f}"],
        ["diff", "{f}", "{f}"],
        ["folded", "{f}"],
        ["query", "{f}", "SELECT count(*) AS n FROM pages"],
        ["plot", "top", "{f}", "-o", "{png}"],
    ],
    ids=["info", "cat", "sort", "top", "diff", "folded", "query", "plot"],
)
def test_damaged_metadata_is_one_error_line(tmp_path: Path, parquet: Path, damage: str, command: list[str]) -> None:
    bad = tmp_path / "bad.parquet"
    why = _damaged(parquet, damage, bad)
    words = [str(bad) if w == "{f}" else str(tmp_path / "x.png") if w == "{png}" else w for w in command]
    proc = subprocess.run([*PAGECOLS, *words], capture_output=True, check=False, timeout=120)
    assert (proc.returncode, proc.stderr.decode()) == (1, f"Error: {bad}: {why}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["bad.parquet"]
