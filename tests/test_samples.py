"""Every dump committed under data/ parses and comes back byte for byte through Parquet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import pagecols
from pagecols.source import open_binary

DATA = Path(__file__).resolve().parent.parent / "data"
DUMPS = sorted(
    p
    for p in DATA.iterdir()
    if p.name.endswith((".txt", ".txt.gz")) and "stacks" not in p.name and "handles" not in p.name
)


def test_there_are_samples() -> None:
    assert len(DUMPS) >= 8, [p.name for p in DUMPS]


@pytest.mark.parametrize("dump", DUMPS, ids=[p.name for p in DUMPS])
def test_sample_round_trips_through_parquet(dump: Path, tmp_path: Path) -> None:
    with open_binary(dump) as f:
        text = f.read().replace(b"\r\n", b"\n")
    out = tmp_path / "s.parquet"
    report = pagecols.convert(dump, out)
    assert report.unparsed == 0, report.error_lines()
    back = io.BytesIO()
    pagecols.cat(out, back)
    assert back.getvalue() == text
    facts = pagecols.info(out)
    assert facts["records"] == report.records > 0
    assert facts["format"] != "unknown"
