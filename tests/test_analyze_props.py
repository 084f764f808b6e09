"""Report invariants on seeded synthetic dumps of every era (hypothesis picks seed, era and size)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_analyze_data import int_min, int_sum

import pagecols
from pagecols import analyze, synth

KEYS = ["stack", "where", "comm", "pid", "memcg", "module", "allocator", "gfp", "migratetype", "order"]
SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(min_value=0, max_value=2**31)
eras = st.sampled_from(synth.ERAS)


def dump(records: int, seed: int, era: str) -> pl.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dump.txt"
        synth.write_dump(path, records=records, seed=seed, era=era)
        return pagecols.read_dump(path)


@SETTINGS
@given(seed=seeds, era=eras, records=st.integers(min_value=20, max_value=400))
def test_groupings_partition_the_dump(seed: int, era: str, records: int) -> None:
    table = dump(records, seed, era)
    total = table["pages"].sum()
    for key in KEYS:
        out = analyze.top(table, by=key, n=None)
        assert out["pages"].sum() == total, key
        assert out["allocations"].sum() == table.height, key
        assert out["percent"].sum() == pytest.approx(100.0), key
        assert out["pages"].to_list() == sorted(out["pages"].to_list(), reverse=True), key
    assert analyze.folded(table)["weight"].sum() == total
    assert analyze.folded(table, weight="allocations")["weight"].sum() == table.height
    assert analyze.stacks(table)["pages"].sum() == total
    assert analyze.decode(table).filter(pl.col("stack") != "").collect()["where"].null_count() == 0


@SETTINGS
@given(seed=seeds, era=eras, before=st.integers(min_value=0, max_value=200), grown=st.integers(1, 200))
def test_diff_of_a_dump_and_its_growth(seed: int, era: str, before: int, grown: int) -> None:
    # The synthetic writer's first N records are a prefix of any longer dump of the same
    # seed: the later dump only adds allocations, so nothing shrinks or vanishes.
    old, new = dump(before + 1, seed, era), dump(before + 1 + grown, seed, era)
    for key in ("stack", "where", "comm"):
        same = analyze.diff(new, new, by=key)
        assert set(same["delta_pages"]) == {0}
        assert set(same["status"]) == {"same"}
        changes = analyze.diff(old, new, by=key)
        totals = analyze.diff_totals(changes)
        assert totals["delta_pages"].item() == int_sum(new["pages"]) - int_sum(old["pages"])
        assert totals["delta_allocations"].item() == grown
        assert int_min(changes["delta_pages"]) >= 0
        assert not {"shrank", "vanished"} & set(changes["status"])
        backwards = analyze.diff(new, old, by=key)
        assert analyze.diff_totals(backwards)["delta_pages"].item() == -totals["delta_pages"].item()


@SETTINGS
@given(seed=seeds, era=eras, records=st.integers(min_value=20, max_value=600))
def test_frag_matches_a_per_record_count(seed: int, era: str, records: int) -> None:
    table = dump(records, seed, era)
    block_type: dict[int, str] = {}
    foreign: dict[int, int] = defaultdict(int)
    for row in table.iter_rows(named=True):
        if row["block"] is None or row["block_migratetype"] is None:
            continue
        block_type[row["block"]] = row["block_migratetype"]
        if row["migratetype"] != row["block_migratetype"]:
            foreign[row["block"]] += row["pages"]
    expected: dict[str, tuple[int, int, int]] = {}
    for block, kind in block_type.items():
        blocks, mixed, pages = expected.get(kind, (0, 0, 0))
        expected[kind] = (blocks + 1, mixed + (foreign[block] > 0), pages + foreign[block])
    got = analyze.frag(table)
    assert {r[0]: (r[1], r[2], r[4]) for r in got.iter_rows()} == expected
    culprits = analyze.frag_stacks(table, n=None)
    assert culprits["pages"].sum() == sum(foreign.values())
