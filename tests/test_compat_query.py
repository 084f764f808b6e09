"""The compat query's building blocks, on hand-made frames."""

from __future__ import annotations

import polars as pl
import pytest

from pagecols.compat.plan import parse_args
from pagecols.compat.query import Needs, distinct_ids, table_columns


@pytest.mark.parametrize("hashed", [True, False])
def test_distinct_ids_groups_equal_rows_nulls_included(hashed: bool) -> None:
    frame = pl.DataFrame(
        {
            "s": ["a", None, "a", "b", None, "a", ""],
            "i": [1, None, 1, 1, None, 2, 1],
            "u": pl.Series([2**64 - 1, 0, 2**64 - 1, 5, 0, 7, 5], dtype=pl.UInt64),
            "b": [True, None, True, False, None, True, None],
        }
    )
    distinct, ids = distinct_ids(frame, hashed=hashed)
    rows = frame.rows()
    # Same id exactly when the rows are equal; the distinct rows in order of first appearance.
    first_seen = list(dict.fromkeys(rows))
    assert distinct.rows() == first_seen
    assert ids.to_list() == [first_seen.index(r) for r in rows]


def test_distinct_ids_survives_hash_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pl.DataFrame({"s": ["x", "y", "x", None], "i": [1, 1, 1, None], "gone": [None, None, None, None]})
    expected = distinct_ids(frame, hashed=False)

    def one_hash(self: pl.DataFrame, *args: object, **kwargs: object) -> pl.Series:
        return pl.Series([7] * self.height, dtype=pl.UInt64)

    # Every row hashes alike: only the row comparison can tell them apart.
    monkeypatch.setattr(pl.DataFrame, "hash_rows", one_hash)
    distinct, ids = distinct_ids(frame)
    assert distinct.rows() == expected[0].rows() == [("x", 1, None), ("y", 1, None), (None, None, None)]
    assert ids.to_list() == expected[1].to_list() == [0, 1, 0, 2]


def test_distinct_ids_of_no_rows_and_of_null_columns() -> None:
    empty = pl.DataFrame(schema={"a": pl.String})
    assert [len(x) for x in distinct_ids(empty)] == [0, 0]
    nulls = pl.DataFrame({"a": [None, None, None]}, schema={"a": pl.String})
    distinct, ids = distinct_ids(nulls)
    assert distinct.rows() == [(None,)]
    assert ids.to_list() == [0, 0, 0]


def test_needs_read_only_what_the_plan_uses() -> None:
    cull_st = Needs.of(parse_args(["-m", "--cull=st"], paths=False))
    assert cull_st.fields == frozenset()
    assert (cull_st.st, cull_st.txt) == (True, False)
    assert "comm" not in table_columns(cull_st)
    default = Needs.of(parse_args([], paths=False))
    assert default.fields == {"ator"}
    assert (default.st, default.txt) == (True, True)
    selected = Needs.of(parse_args(["--cull=p", "--name=x", "-f"], paths=False))
    assert selected.fields == {"pid", "comm", "ts", "free_ts"}
    assert (selected.st, selected.txt) == (False, False)
    assert Needs.of(parse_args(["--cull=ator"], paths=False)).txt  # the adjacent-duplicate shortcut compares txt
