"""The README's notebook example runs and prints what it shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from docrun import ROOT, run_pycon_blocks


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_pycon_blocks(ROOT / "README.md", tmp_path, monkeypatch)
    assert results.failed == 0
    assert results.attempted >= 5
