"""Property tests: any record the kernel could print survives writer -> parser -> columns -> text."""

from __future__ import annotations

import io
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Literal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pagecols
from pagecols import synth
from pagecols.formats import MAX_ORDER

ERAS = [e for e in synth.ERAS if e != "3.19"]  # 3.19 records are kept raw; covered by test_parse
# Annotated: mypy types a bare ("Cs",) argument as tuple[str], not as a tuple of category-name literals.
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
LINE_TEXT = st.characters(blacklist_categories=SURROGATES, blacklist_characters="\n\r\x00")
WORD = st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="()|,"), min_size=1, max_size=12)
U64 = st.integers(min_value=0, max_value=2**64 - 1)
#: The largest number the stored columns hold (schema 4 is signed); a record with a bigger one keeps its text.
I64_MAX = 2**63 - 1
#: A number the kernel prints as an unsigned long: one in eight past I64_MAX, so that most records fit.
NUMBER = st.one_of(*[st.integers(0, I64_MAX)] * 7, st.integers(I64_MAX + 1, 2**64 - 1))
I32 = st.integers(min_value=0, max_value=2**31 - 1)


@st.composite
def records(draw: st.DrawFn, era: str) -> synth.SynthRecord:
    order = draw(st.integers(0, 63))
    frame = st.builds(lambda s, o, z: f" {s}+{o:#x}/{z:#x}", WORD, U64, U64)
    return synth.SynthRecord(
        order=order,
        gfp_mask=draw(NUMBER),
        gfp_flags="|".join(draw(st.lists(WORD, max_size=4))),
        pid=draw(I32),
        tgid=draw(I32),
        comm=draw(st.text(LINE_TEXT, max_size=24)),
        ts=draw(NUMBER),
        free_ts=draw(NUMBER),
        pfn=draw(NUMBER),
        migratetype=draw(st.sampled_from(synth.MIGRATETYPES)),
        block=draw(NUMBER),
        block_migratetype=draw(st.sampled_from(synth.MIGRATETYPES)),
        page_flags=draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)),
        stack=tuple(draw(st.lists(frame, min_size=0, max_size=6))),
        handle=draw(st.none() | st.integers(0, 2**32 - 1)),
        migrate_reason=draw(st.none() | st.text(LINE_TEXT, max_size=20)),
        slab_cache_page=draw(st.booleans()),
        memcg=draw(st.none() | st.text(LINE_TEXT, max_size=30)),
        memcg_via_objcg=draw(st.booleans()),
        memcg_offline=draw(st.booleans()),
    )


@st.composite
def dumps(draw: st.DrawFn) -> tuple[str, list[synth.SynthRecord], str]:
    era = draw(st.sampled_from(ERAS))
    recs = draw(st.lists(records(era), min_size=1, max_size=8))
    blanks = draw(st.lists(st.integers(0, 3), min_size=len(recs), max_size=len(recs)))
    blanks = [max(b, 1) for b in blanks[:-1]] + [blanks[-1]]  # records need a blank line between them
    text = "".join(synth.render_record(r, era=era) + "\n" * b for r, b in zip(recs, blanks, strict=True))
    return era, recs, text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dumps())
def test_writer_parser_round_trip(case: tuple[str, list[synth.SynthRecord], str]) -> None:
    era, recs, text = case
    shown = synth._era(era)
    errors = [_error(rec, shown) for rec in recs]
    fits = [e is None for e in errors]
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "dump.txt"
        path.write_bytes(text.encode())
        if not any(fits):
            with pytest.raises(pagecols.InputError, match="no record parses"):
                pagecols.read_dump(path)
            return
        df = pagecols.read_dump(path)
        out = io.BytesIO()
        pagecols.cat(path, out)
    assert out.getvalue() == text.encode()
    assert df.height == len(recs)
    assert df["parse_error"].to_list() == errors
    for row, rec, ok in zip(df.iter_rows(named=True), recs, fits, strict=True):
        if not ok:
            assert row["raw"] is not None
            continue
        assert row["order"] == rec.order
        assert row["pages"] == 2**rec.order
        assert row["gfp_mask"] == rec.gfp_mask
        assert row["pfn"] == rec.pfn
        assert row["block"] == rec.block
        assert row["stack"] == "\n".join(rec.stack)
        if shown.tgid_comm:
            assert (row["tgid"], row["comm"]) == (rec.tgid, rec.comm)
        if shown.ts:
            assert row["ts"] == rec.ts
        if shown.free_ts:
            assert row["free_ts"] == rec.free_ts
        else:
            assert row["free_ts"] is None
        if shown.memcg:
            assert row["memcg"] == rec.memcg
            assert row["slab_cache_page"] == bool(rec.slab_cache_page)


def _error(rec: synth.SynthRecord, shown: synth._Era) -> str | None:
    """The record's parse error, None when it parses: the header's checks come before the
    PFN line's, a number that does not fit its signed column before an order above MAX_ORDER."""
    header: list[int | None] = [rec.gfp_mask]
    header += [rec.ts] if shown.ts else []
    header += [rec.free_ts] if shown.free_ts else []
    if not all(n is None or n <= I64_MAX for n in header):
        return "number out of range"
    if rec.order > MAX_ORDER:
        return f"order above {MAX_ORDER}"
    if not all(n is None or n <= I64_MAX for n in (rec.pfn, rec.block)):
        return "number out of range"
    return None


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), era=st.sampled_from(synth.ERAS), n=st.integers(1, 300))
def test_synthetic_dumps_round_trip_through_parquet(seed: int, era: str, n: int) -> None:
    with TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "d.txt", Path(tmp) / "d.parquet"
        synth.write_dump(src, records=n, seed=seed, era=era)
        report = pagecols.convert(src, out)
        text = io.BytesIO()
        pagecols.cat(out, text)
        assert text.getvalue() == src.read_bytes()
        assert report.records == n
        assert report.unparsed == 0
        df = pl.read_parquet(out)
    assert df["record"].to_list() == list(range(n))
    assert df["stack_hash"].n_unique() == df["stack"].n_unique()
