"""Run the ```pycon blocks of a Markdown file as one doctest, like cells of a notebook."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```pycon\n(.*?)^```", re.DOTALL | re.MULTILINE)


def run_pycon_blocks(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> doctest.TestResults:
    """Run every block of ``doc`` in order in one namespace, from a scratch directory that sees data/."""
    blocks = BLOCK.findall(doc.read_text())
    assert blocks, f"{doc} has no pycon blocks"
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, doc.name, str(doc), 0)
    runner.run(test)
    return runner.summarize(verbose=False)
