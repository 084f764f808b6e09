"""Every dump committed under data/ parses and comes back byte for byte through Parquet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import pagecols
from pagecols.schema import ERAS
from pagecols.source import open_binary

DATA = Path(__file__).resolve().parent.parent / "data"
DUMPS = sorted(
    p
    for p in DATA.iterdir()
    if p.name.endswith((".txt", ".txt.gz")) and "stacks" not in p.name and "handles" not in p.name
)

#: The header era of each sample (``info()["format"]``), written out by hand: see data/README.md.
FORMATS = {
    "edge-crlf.txt": "5.18",
    "edge-no-eol.txt": "5.18",
    "edge-unterminated.txt": "5.18",
    "handmade-6.3.txt": "5.18",
    "linux-6.12-memcg.page_owner.txt.gz": "6.7",
    "synth-3.19.txt.gz": "3.19",
    "synth-4.6.txt.gz": "4.6",
    "synth-5.11.txt.gz": "5.11",
    "synth-5.12.txt.gz": "5.12",
    "synth-5.18.txt.gz": "5.18",
    "synth-6.5.txt.gz": "6.5",
    "synth-6.7.txt.gz": "6.7",
    "synth-mm-2026.txt.gz": "mm-2026",
}


def test_there_are_samples() -> None:
    assert len(DUMPS) >= 8, [p.name for p in DUMPS]


def test_every_sample_has_its_era_and_every_era_a_sample() -> None:
    assert sorted(FORMATS) == [p.name for p in DUMPS]
    assert set(FORMATS.values()) == set(ERAS)


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
    assert facts["format"] == pagecols.info(dump)["format"] == FORMATS[dump.name]
