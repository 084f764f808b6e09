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
