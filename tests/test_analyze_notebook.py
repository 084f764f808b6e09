"""docs/notebook.md runs: each ```pycon block is a doctest, run in order in one namespace."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "notebook.md"
BLOCK = re.compile(r"^```pycon\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_notebook_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = NOTEBOOK.read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 5
    # The examples name data/ relative to the repository and write their files beside it:
    # run them in a scratch directory that sees data/.
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    # One doctest for all blocks: later blocks use what earlier ones defined, as in a notebook.
    test = parser.get_doctest("\n".join(blocks), {}, "docs/notebook.md", str(NOTEBOOK), 0)
    runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    assert results.attempted >= 20
    assert (tmp_path / "top.png").stat().st_size > 5000
    assert (tmp_path / "timeline.png").stat().st_size > 5000
    assert (tmp_path / "dump.folded").read_text().count("\n") > 100
