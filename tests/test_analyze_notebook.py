"""docs/notebook.md runs: each ```pycon block is a doctest, run in order in one namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from docrun import ROOT, run_pycon_blocks


def test_notebook_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_pycon_blocks(ROOT / "docs" / "notebook.md", tmp_path, monkeypatch)
    assert results.failed == 0
    assert results.attempted >= 20
    assert (tmp_path / "top.png").stat().st_size > 5000
    assert (tmp_path / "timeline.png").stat().st_size > 5000
    assert (tmp_path / "dump.folded").read_text().count("\n") > 100
