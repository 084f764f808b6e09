"""The repository stands alone: a clone anywhere has every file its docs, code and tests name.

The project's specs and samples were once read from outside the repository; what users need of
them is in docs/ (page-owner-format.md, compat.md) and data/.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Paths outside the repository, and the names of the documents that lived there.
OUTSIDE = re.compile(r"/work/|\.\./shared|shared/(?:spec|samples)|DECISIONS\.md|\bspec [A-E]\.\d")
# A tracker number means nothing to a user; the user-facing text gives none.
TRACKER = re.compile(r"\b[Ii]ssue \d+|\btracker\b")


def _tracked(*patterns: str) -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / n for n in names if n.endswith((".py", ".md", ".toml", ".cfg", ".txt")) and "golden" not in n]


def _hits(paths: list[Path], pattern: re.Pattern[str]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in paths
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if pattern.search(line) and p.name != "test_standalone.py"
    ]


def test_nothing_names_a_path_outside_the_repository() -> None:
    files = _tracked("pagecols", "tests", "docs", "data", "benchmarks", "README.md", "pyproject.toml")
    assert len(files) > 40
    assert _hits(files, OUTSIDE) == []


def test_user_facing_text_cites_no_tracker_numbers() -> None:
    assert _hits(_tracked("pagecols", "docs", "README.md", "data/README.md"), TRACKER) == []


@pytest.mark.parametrize("doc", ["README.md", "data/README.md", "docs/compat.md", "docs/page-owner-format.md"])
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        assert (path.parent / target).exists(), f"{doc} links {target}"


def test_the_docs_name_the_sections_the_code_cites() -> None:
    """`page-owner-format.md A.3` or `compat.md B.7` in the code: that section exists."""
    sections = {
        doc: set(re.findall(r"^#+ ((?:[A-C]\.\d+|§\d))\b", (ROOT / "docs" / doc).read_text(), re.M))
        for doc in ("page-owner-format.md", "compat.md")
    }
    cite = re.compile(r"(page-owner-format\.md|compat\.md),? ([A-C]\.\d+|§\d)")
    files = _tracked("pagecols", "tests", "data/README.md")
    cited = {hit for p in files for hit in cite.findall(p.read_text(encoding="utf-8"))}
    assert cited, "the code cites the docs"
    missing = sorted(f"{doc} {section}" for doc, section in cited if section not in sections[doc])
    assert missing == []
