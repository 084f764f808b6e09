"""``pagecols sort`` against the reference model on generated dumps and random option sets.

The dumps come from the synthetic writer (every era), with page_owner_sort's awkward
cases mixed in: byte-identical neighbours (the adjacent-duplicate shortcut), runs of
blank lines (empty records), blank lines before the first record, and a last record
without its blank line.  The options are drawn as data and written out as argv, so
the parser is on the path too.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagecols import compat, ingest, synth

sys.path.insert(0, str(Path(__file__).resolve().parent))
import refmodel as R

SORT_KEYS = ["pid", "tgid", "name", "stacktrace", "txt", "free_ts", "alloc_ts", "allocator"]
SHORT = {"pid": "p", "tgid": "tg", "name": "n", "stacktrace": "st", "txt": "T", "free_ts": "ft", "alloc_ts": "at"}
SHORT["allocator"] = "ator"
FLAGS = {"a": ("alloc_ts", False), "m": ("pages", True), "p": ("pid", False), "P": ("tgid", False)}
FLAGS |= {"n": ("name", False), "r": ("free_ts", False), "s": ("stacktrace", False), "t": ("times", True)}
CULL_SHORT = {"stacktrace": "st", "pid": "p", "tgid": "tg", "name": "n", "free": "f", "allocator": "ator"}
ERAS = ["5.18", "6.5", "6.7", "5.12", "5.11", "4.6", "mm-2026", "3.19"]


# Task names beyond ASCII, as str; a lone surrogate stands for a byte that is not UTF-8
# (surrogateescape), as Python spells such bytes in argv.  "\ufffd" is a valid character.
ODD_COMMS = ["caf\u00e9", "ab\udce9c", "\udcff", "x\udcc3", "\ufffd", "\U0001f600", "\udce9\u00e9", "\u00e9"]
# Blocks that do not parse, some not UTF-8 either: page_owner_sort reads them with its
# regexes all the same (B.3), and so must a sort from the text or from its Parquet file.
ODD_BLOCKS = [
    "Page allocated via order 1, mask 0x\udcff(GFP_KERNEL), pid 3, tgid 3 (a\udce9), ts 9 ns\n f+0x1/0x2\n",
    "Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 4, tgid 4 (b), ts 7 ns\nodd \udcfe line\n g+0x1/0x2\n",
    "garbage \udce9 pid 5, tgid 6 (c\u00e9), ts 8 ns, free_ts 2 ns\n",
]


@st.composite
def dumps(draw: st.DrawFn, *, odd_comms: bool = False) -> tuple[bytes, list[int], list[int], list[str]]:
    """A dump and the pids, tgids and names its records have.  ``odd_comms``: some task
    names are not ASCII, and some not even UTF-8 (``ODD_COMMS``), and a block may not parse
    (``ODD_BLOCKS``)."""
    era = draw(st.sampled_from(["5.18", "6.5", "6.7", "mm-2026"] if odd_comms else ERAS))
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(1, 30))
    recs = synth.generate_records(n, seed=seed, era=era)
    if odd_comms:
        recs = [
            dataclasses.replace(r, comm=draw(st.sampled_from(ODD_COMMS))) if draw(st.booleans()) else r for r in recs
        ]
    texts = [synth.render_record(r, era=era) for r in recs]
    out = ["\n" * draw(st.integers(0, 2))]
    for text in texts:
        copies = draw(st.sampled_from([1, 1, 1, 2, 3]))
        for _ in range(copies):
            out.append(text + "\n" * draw(st.sampled_from([1, 1, 1, 1, 2, 3])))
    if odd_comms and draw(st.booleans()):
        out.insert(draw(st.integers(1, len(out))), draw(st.sampled_from(ODD_BLOCKS)) + "\n")
    body = "".join(out)
    if draw(st.booleans()):
        body = body.rstrip("\n") + "\n"  # the last record without its blank line
    pids = sorted({r.pid for r in recs if r.pid is not None})
    tgids = sorted({r.tgid for r in recs if r.tgid is not None})
    comms = sorted({r.comm for r in recs if r.comm is not None and "," not in r.comm})
    return body.encode("utf-8", "surrogateescape"), pids, tgids, comms


@st.composite
def options(draw: st.DrawFn, pids: list[int], tgids: list[int], comms: list[str]) -> tuple[list[str], R.Options]:
    argv: list[str] = []
    o = R.Options(sort=[])
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            flag = draw(st.sampled_from(sorted(FLAGS)))
            argv.append(f"-{flag}")
            o.sort = [FLAGS[flag]]
        else:
            keys = draw(
                st.lists(st.tuples(st.sampled_from(SORT_KEYS), st.sampled_from(["", "+", "-"])), min_size=1, max_size=3)
            )
            words = [sign + (SHORT[k] if draw(st.booleans()) else k) for k, sign in keys]
            argv.append("--sort=" + ",".join(words))
            o.sort = [(k, sign == "-") for k, sign in keys]
        if draw(st.booleans()):
            cull = draw(st.sets(st.sampled_from(sorted(CULL_SHORT)), min_size=1, max_size=3))
            argv.append("--cull=" + ",".join(CULL_SHORT[k] for k in sorted(cull)))
            o.cull |= cull
            if not o.sort:
                o.sort = [("times", True)]
    if not o.sort:
        o.sort = [("times", True)]
    if pids and draw(st.integers(0, 4)) == 0:
        o.pids = draw(st.lists(st.sampled_from([*pids, -1]), min_size=1, max_size=3))
        argv.append("--pid=" + ",".join(map(str, o.pids)))
    if tgids and draw(st.integers(0, 4)) == 0:
        o.tgids = draw(st.lists(st.sampled_from(tgids), min_size=1, max_size=3))
        argv.append("--tgid=" + ",".join(map(str, o.tgids)))
    if comms and draw(st.integers(0, 4)) == 0:
        chosen = draw(st.lists(st.sampled_from(comms), min_size=1, max_size=3))
        o.names = [c.encode("utf-8", "surrogateescape") for c in chosen]
        argv.append("--name=" + ",".join(chosen))
    if draw(st.integers(0, 4)) == 0:
        o.unreleased_only = True
        argv.append("-f")
    return argv, o


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sort_matches_the_model(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    text, pids, tgids, comms = data.draw(dumps())
    argv, o = data.draw(options(pids, tgids, comms))
    path = tmp_path_factory.mktemp("dump") / "dump.txt"
    path.write_bytes(text)
    buf = io.BytesIO()
    compat.sort(str(path), buf, argv)
    assert buf.getvalue() == R.sort_dump(text, o), argv


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_names_beyond_ascii_and_utf8_sort_as_bytes(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Task names beyond ASCII, some not UTF-8: page_owner_sort compares and prints bytes,
    and so does pagecols, from the text dump and from its Parquet file alike."""
    text, pids, tgids, comms = data.draw(dumps(odd_comms=True))
    argv, o = data.draw(options(pids, tgids, comms))
    path = tmp_path_factory.mktemp("dump") / "dump.txt"
    path.write_bytes(text)
    want = R.sort_dump(text, o)
    buf = io.BytesIO()
    compat.sort(str(path), buf, argv)
    assert buf.getvalue() == want, argv
    parquet = path.with_suffix(".parquet")
    ingest.convert(path, parquet)
    buf = io.BytesIO()
    compat.sort(str(parquet), buf, argv)
    assert buf.getvalue() == want, argv


@settings(max_examples=15, deadline=None)
@given(dumps())
def test_culling_keeps_every_page(dump: tuple[bytes, list[int], list[int], list[str]]) -> None:
    """Whatever the cull keys, the groups' times and pages add up to the records'."""
    text = dump[0]
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dump.txt"
        path.write_bytes(text)
        runs = [
            (compat.sort(str(path), buf, argv), buf)
            for argv in ([], ["--cull=st"], ["--cull=p,n,f"], ["--cull=ator,tg"])
            for buf in [io.BytesIO()]
        ]
    for result, buf in runs:
        lines = [ln for ln in buf.getvalue().split(b"\n") if b" times, " in ln and ln[:1].isdigit()]
        times = sum(int(ln.split(b" ")[0]) for ln in lines)
        pages = sum(int(ln.split(b", ")[1].split(b" ")[0]) for ln in lines)
        assert times == result.selected == result.records
        totals.append(pages)
    assert len(set(totals)) == 1


def _header(ts: int, free: int | None, pid: int = 7) -> str:
    tail = f", free_ts {free} ns" if free is not None else ""
    return f"Page allocated via order 0, mask 0x0(), pid {pid}, tgid {pid} (a), ts {ts} ns{tail}\n"


@pytest.mark.parametrize("widest", [4, 19], ids=["ts-up-to-4-digits", "ts-up-to-19-digits"])
@pytest.mark.parametrize(
    "argv", [[], ["--sort=T"], ["--sort=-T"], ["--sort=at,-T"], ["--cull=ator"]], ids=lambda a: " ".join(a) or "default"
)
def test_ts_digits_of_every_width_sort_as_text(argv: list[str], widest: int, tmp_path: Path) -> None:
    """strcmp order of ts digits ("12" < "120" < "13"), the widths mixed.

    The integer txt keys pad the digits to the widest ts, and put the header's rank in
    front of them in one u64 when it fits (4 digits) or rank them first (19 digits);
    this holds both to the bytes.
    """
    values = [0, 1, 9, 10, 12, 120, 1200, 13, 99, 10**18, 10**19 - 1, 1234567890123456789, 12, 120]
    values = [v for v in values if v < 10**widest]
    blocks = []
    for i, ts in enumerate(values):
        free = None if i % 3 == 0 else [0, 12, 10**19 - 1, 5][i % 4]
        stack = " a+0x1/0x2\n" if i % 2 else " b+0x1/0x2\n"
        blocks.append(
            _header(ts, free, pid=7 + i % 2) + "PFN 1 type Movable Block 0 type Movable Flags 0x0()\n" + stack
        )
    text = "\n".join(blocks).encode() + b"\n"
    path = tmp_path / "dump.txt"
    path.write_bytes(text)
    buf = io.BytesIO()
    compat.sort(str(path), buf, argv)
    sort = {
        (): [("times", True)],
        ("--sort=T",): [("txt", False)],
        ("--sort=-T",): [("txt", True)],
        ("--sort=at,-T",): [("alloc_ts", False), ("txt", True)],
        ("--cull=ator",): [("times", True)],
    }[tuple(argv)]
    options = R.Options(sort=sort, cull={"allocator"} if argv == ["--cull=ator"] else set())
    assert buf.getvalue() == R.sort_dump(text, options)
