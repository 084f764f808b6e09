"""The mutation fuzzer (tests/fuzz.py) on a short budget; ``python -m tests.fuzz --inputs 100000`` is the long run."""

from __future__ import annotations

from pathlib import Path

import fuzz
import polars as pl
import pytest

from pagecols import parse


def test_a_short_run_keeps_every_invariant() -> None:
    result = fuzz.run(inputs=60, seed=0, batch=12)
    assert result.inputs == 60
    assert [(f.input.index, f.input.mutations, f.problems) for f in result.failures] == []
    assert set(result.mutations) == set(fuzz.MUTATIONS), "every mutation was tried"


def test_a_few_inputs_alone_in_small_chunks(tmp_path: Path) -> None:
    for index in range(8):
        one = fuzz.make_input(0, index)
        assert fuzz.check(one.data, tmp_path, chunk=64 + 37 * index) == [], one.mutations


def test_inputs_are_made_again_from_seed_and_index() -> None:
    assert fuzz.make_input(3, 17) == fuzz.make_input(3, 17)
    assert fuzz.make_input(3, 17).data != fuzz.make_input(3, 18).data


@pytest.mark.parametrize(
    ("data", "records"),
    [
        (b"", 0),
        (b"\n\n", 0),
        (b"a\nb\n\nc", 2),
        (b"a\r\n\r\nb\r\n", 2),
        (b"a\n\r\nb\n", 2),
        (b"a\n\r\r\nb\n", 1),
        (b"\na\n\n\n", 1),
    ],
)
def test_expected_records_counts_runs_of_non_blank_lines(data: bytes, records: int) -> None:
    assert fuzz.expected_records(data) == records


def test_a_planted_bug_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The parser as it was: "+0" read as a clean 0, so `cat` printed "order 0".
    def lax(s: pl.Expr, *, hex: bool = False) -> pl.Expr:
        return s.is_null() | (s == "0") | ~s.str.starts_with("0")

    record = next(r for r in fuzz.corpus()["synth-5.18"] if r.startswith(b"Page allocated via order 0,"))
    data = record.replace(b"order 0,", b"order +0,", 1) + b"\n"
    assert fuzz.check(data, tmp_path) == []
    monkeypatch.setattr(parse, "_canonical", lax)
    assert fuzz.check(data, tmp_path) == [
        "cat of the parquet differs from the input at byte 25",
        "cat of the text differs from the input at byte 25",
    ]
