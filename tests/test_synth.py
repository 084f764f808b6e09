"""The synthetic dump writer: determinism, the kernel's printf layouts per era, realism, sizes, compression.

The layout checks use regexes written here from page-owner-format.md A.2-A.5, independent of the
generator; they are also run over the real 6.12 dump and the hand-made samples,
so the regexes themselves are checked against kernel output.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import lzma
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
import zstandard

from pagecols import synth
from pagecols.errors import UsageError

DATA = Path(__file__).resolve().parent.parent / "data"
N = 2500  # records per era in the layout checks

# --- page-owner-format.md A.2: header layouts, one per era ----------------------------------------
HEX = r"0x(?:0|[1-9a-f][0-9a-f]*)"  # the kernel's %#x: no leading zeros, lower case, 0 -> 0x0
NUM = r"(?:0|[1-9][0-9]*)"
GFP = rf"mask (?P<mask>{HEX})\((?P<gfp>[A-Za-z0-9_|]*)\)"
HEAD = rf"^Page allocated via order (?P<order>{NUM}), "
PID = rf", pid (?P<pid>{NUM})"
TGID = rf", tgid (?P<tgid>{NUM}) \((?P<comm>.*)\)"
TS = rf", ts (?P<ts>{NUM}) ns"
FREE = rf", free_ts (?P<free_ts>{NUM}) ns"
HEADERS = {
    "3.19": re.compile(rf"{HEAD}mask (?P<mask>{HEX})$"),
    "4.6": re.compile(rf"{HEAD}{GFP}$"),
    "5.11": re.compile(rf"{HEAD}{GFP}{PID}{TS}$"),
    "5.12": re.compile(rf"{HEAD}{GFP}{PID}{TS}{FREE}$"),
    "5.18": re.compile(rf"{HEAD}{GFP}{PID}{TGID}{TS}{FREE}$"),
    "6.5": re.compile(rf"{HEAD}{GFP}{PID}{TGID}{TS}{FREE}$"),
    "6.7": re.compile(rf"{HEAD}{GFP}{PID}{TGID}{TS}$"),
    "mm-2026": re.compile(rf"{HEAD}{GFP}{PID}{TGID}{TS}$"),
}

# --- page-owner-format.md A.3: PFN line layouts ---------------------------------------------------
MT = r"(?:Unmovable|Movable|Reclaimable|HighAtomic|CMA|Isolate)"
BLOCK = rf"Block (?P<block>{NUM}) type (?P<bt>{MT})"
NAMES = r"(?:[a-z_0-9]+(?:\|[a-z_0-9]+)*)?"
FIELDS = rf"(?:[a-z_0-9]+\|)*node={NUM}\|zone={NUM}\|lastcpupid={HEX}"
PFN_OLD = re.compile(  # 4.6-5.13: Flags %#lx(%pGp), names only
    rf"^PFN (?P<pfn>{NUM}) type (?P<mt>{MT}) {BLOCK} Flags (?P<flags>{HEX}\({NAMES}\))$"
)
PFN_DEC = re.compile(rf"^PFN (?P<pfn>{NUM}) type (?P<mt>{MT}) {BLOCK} Flags (?P<flags>{HEX}\({FIELDS}\))$")
PFN_HEX = re.compile(rf"^PFN (?P<pfn>{HEX}) type (?P<mt>{MT}) {BLOCK} Flags (?P<flags>{HEX}\({FIELDS}\))$")
PFN_LEGACY = re.compile(  # 3.19-4.5: numeric pageblock type, Fallback or 8 spaces, 12 flag slots
    rf"^PFN (?P<pfn>{NUM}) Block (?P<block>{NUM}) type (?P<btnum>[0-5]) (?P<fb>Fallback| {{8}}) "
    r"Flags (?P<flags>[K ][E ][R ][U ][D ][L ][A ][S ][W ][C ][B ][M ])$"
)
PFNS = {
    "3.19": PFN_LEGACY,
    "4.6": PFN_OLD,
    "5.11": PFN_OLD,
    "5.12": PFN_OLD,
    "5.18": PFN_DEC,
    "6.5": PFN_HEX,
    "6.7": PFN_HEX,
    "mm-2026": PFN_HEX,
}

# --- page-owner-format.md A.4/A.5: stack and trailer lines ----------------------------------------
FRAME = re.compile(
    r"^ (?:[A-Za-z_][A-Za-z0-9_.]*\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[A-Za-z0-9_-]+(?: [0-9a-f]+)?\])?|0xffff[0-9a-f]{12})$"
)
TRAILERS = (  # in the order the kernel prints them
    ("handle", re.compile(rf"^handle: {NUM}$")),
    ("migrate", re.compile(r"^Page has been migrated, last migrate reason: [a-z_]+$")),
    ("slab", re.compile(r"^Slab cache page$")),
    ("charged", re.compile(r"^Charged (?:\(via objcg\) )?to (?:offline )?memcg [^\n]+$")),
)


def split_records(text: str) -> list[list[str]]:
    """Records of a dump whose records all end in exactly one blank line."""
    assert text.endswith("\n\n")
    return [block.split("\n") for block in text[:-2].split("\n\n")]


def check_record(lines: list[str], era: str) -> tuple[re.Match[str], re.Match[str]]:
    """Assert one record's lines have the era's layout; return the header and PFN matches."""
    head = HEADERS[era].match(lines[0])
    assert head, (era, lines[0])
    pfn = PFNS[era].match(lines[1])
    assert pfn, (era, lines[1])
    rest = lines[2:]
    depth = 0
    while depth < len(rest) and rest[depth].startswith(" "):
        assert FRAME.match(rest[depth]), rest[depth]
        depth += 1
    assert 4 <= depth <= 16, lines
    kinds = []
    for line in rest[depth:]:
        kind = [k for k, rx in TRAILERS if rx.match(line)]
        assert kind, (era, line)
        kinds.append(kind[0])
    order = [k for k, _ in TRAILERS]
    assert kinds == sorted(kinds, key=order.index), kinds
    assert len(set(kinds)) == len(kinds)
    return head, pfn


@pytest.fixture(scope="module")
def dumps() -> dict[str, tuple[list[synth.SynthRecord], str]]:
    out = {}
    for era in synth.ERAS:
        buf = io.BytesIO()
        assert synth.write_dump(buf, records=N, seed=11, era=era) == N
        out[era] = (synth.generate_records(N, seed=11, era=era), buf.getvalue().decode())
    return out


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synth.write_dump(a, records=500, seed=3, era="6.5")
    synth.write_dump(b, records=500, seed=3, era="6.5")
    synth.write_dump(c, records=500, seed=4, era="6.5")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_alias_6_3_is_the_5_18_format() -> None:
    a, b = io.BytesIO(), io.BytesIO()
    synth.write_dump(a, records=50, seed=1, era="6.3")
    synth.write_dump(b, records=50, seed=1, era="5.18")
    assert a.getvalue() == b.getvalue()


def test_write_dump_is_the_rendered_records_across_batches() -> None:
    # More than one batch, so the batch seam is crossed; a shorter dump is a prefix of a longer one.
    n = 9000
    recs = synth.generate_records(n, seed=2, era="5.12")
    text = "".join(synth.render_record(r, era="5.12") + "\n" for r in recs).encode()
    buf = io.BytesIO()
    assert synth.write_dump(buf, records=n, seed=2, era="5.12") == n
    assert buf.getvalue() == text
    short = io.BytesIO()
    synth.write_dump(short, records=777, seed=2, era="5.12")
    assert text.startswith(short.getvalue())
    assert short.getvalue().count(b"\nPage allocated") == 776


@pytest.mark.parametrize("era", synth.ERAS)
def test_fast_writer_matches_render_record(era: str, dumps: dict[str, tuple[list[synth.SynthRecord], str]]) -> None:
    recs, text = dumps[era]
    assert text == "".join(synth.render_record(r, era=era) + "\n" for r in recs)


def test_one_seed_is_one_machine_in_every_era(dumps: dict[str, tuple[list[synth.SynthRecord], str]]) -> None:
    # Same pages and processes whatever the era prints; only the 3.19 era has no early-boot records.
    base = dumps["5.18"][0]
    for era in ("4.6", "5.11", "5.12", "6.5", "6.7", "mm-2026"):
        recs = dumps[era][0]
        assert [(r.pfn, r.order, r.gfp_mask) for r in recs] == [(r.pfn, r.order, r.gfp_mask) for r in base]
    assert [r.ts for r in dumps["6.7"][0]] == [r.ts for r in base]


# --- layouts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", synth.ERAS)
def test_every_line_has_the_eras_printf_layout(era: str, dumps: dict[str, tuple[list[synth.SynthRecord], str]]) -> None:
    recs, text = dumps[era]
    blocks = split_records(text)
    assert len(blocks) == len(recs)
    for lines, rec in zip(blocks, recs, strict=True):
        head, pfn = check_record(lines, era)
        # What the line says is what the record holds.
        assert int(head["order"]) == rec.order
        assert int(head["mask"], 16) == rec.gfp_mask
        assert int(pfn["pfn"], 0) == rec.pfn
        assert int(pfn["block"]) == rec.block == rec.pfn >> 9
        assert tuple(lines[2 : 2 + len(rec.stack)]) == rec.stack
        if era != "3.19":
            assert head["gfp"] == rec.gfp_flags
            assert pfn["mt"] == rec.migratetype
            assert pfn["bt"] == rec.block_migratetype
        else:
            assert synth.MIGRATETYPES[int(pfn["btnum"])] == rec.block_migratetype
            assert (pfn["fb"] == "Fallback") == (rec.migratetype != rec.block_migratetype)
        fields = head.groupdict()
        for name in ("pid", "tgid", "ts", "free_ts"):
            shown = fields.get(name)
            assert getattr(rec, name) == (None if shown is None else int(shown))
        assert rec.comm == fields.get("comm")


@pytest.mark.parametrize("era", synth.ERAS)
def test_fields_are_none_where_the_era_prints_nothing(
    era: str, dumps: dict[str, tuple[list[synth.SynthRecord], str]]
) -> None:
    recs, text = dumps[era]
    old = era in ("3.19", "4.6")
    assert all((r.pid is None) == old and (r.ts is None) == old for r in recs)
    assert all((r.tgid is None) == (r.comm is None) == (era in ("3.19", "4.6", "5.11", "5.12")) for r in recs)
    assert all((r.free_ts is None) == (era not in ("5.12", "5.18", "6.5")) for r in recs)
    assert all((r.gfp_flags is None) == (era == "3.19") for r in recs)
    assert all((r.handle is None) == (era != "mm-2026") for r in recs)
    memcg_era = era in ("5.18", "6.5", "6.7", "mm-2026")
    assert all((r.slab_cache_page is None) == (not memcg_era) for r in recs)
    assert ("Charged " in text) == memcg_era
    assert all(r.migrate_reason is None for r in recs) == (era == "3.19")
    for r in recs:  # the memcg sub-fields exist exactly when a memcg is named
        assert (r.memcg is None) == (r.memcg_via_objcg is None) == (r.memcg_offline is None)


def test_mask_zero_prints_as_0x0(dumps: dict[str, tuple[list[synth.SynthRecord], str]]) -> None:
    text = dumps["5.18"][1]
    assert "mask 0x0(), pid 1, tgid 1 (swapper/0)" in text
    assert "mask 0x0\n" not in dumps["4.6"][1]


@pytest.mark.parametrize(
    ("path", "era"),
    [
        ("linux-6.12-memcg.page_owner.txt.gz", "6.7"),
        ("handmade-6.3.txt", "5.18"),
        ("edge-crlf.txt", "5.18"),
    ],
)
def test_layout_regexes_accept_the_committed_dumps(path: str, era: str) -> None:
    # The regexes above come from the spec; the real kernel's output keeps them honest.
    raw = (DATA / path).read_bytes()
    text = (gzip.decompress(raw) if path.endswith(".gz") else raw).decode().replace("\r\n", "\n")
    blocks = split_records(text)
    assert blocks
    for lines in blocks:
        check_record(lines, era)


# --- realism --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big() -> list[synth.SynthRecord]:
    return synth.generate_records(20000, seed=5, era="5.18")


def test_pfns_ascend_without_overlap_and_are_aligned(
    big: list[synth.SynthRecord], dumps: dict[str, tuple[list[synth.SynthRecord], str]]
) -> None:
    for recs in (big, dumps["3.19"][0]):
        end = 0
        for r in recs:
            assert r.pfn >= end
            assert r.pfn % (1 << r.order) == 0
            end = r.pfn + (1 << r.order)


def test_stack_reuse_has_a_heavy_tail(big: list[synth.SynthRecord]) -> None:
    counts = sorted(Counter(r.stack for r in big).values(), reverse=True)
    top = counts[: len(counts) // 10]
    assert sum(top) > 0.5 * len(big)
    assert len(counts) > 500  # yet many distinct stacks
    assert counts[0] < 0.25 * len(big)


def test_orders_are_mostly_zero_and_reach_high_orders(big: list[synth.SynthRecord]) -> None:
    orders = Counter(r.order for r in big)
    assert orders[0] > 0.7 * len(big)  # 73-94 % depending on the seed (97 % in the real 6.12 dump)
    assert set(orders) <= set(range(11))
    assert {1, 2, 3, 9} <= set(orders)


def test_record_kinds_are_all_there(big: list[synth.SynthRecord]) -> None:
    comms = {r.comm for r in big}
    assert {"kworker/u8:3", "kswapd0", "swapper/0", "Web Content", "CPU 0/KVM", "(sd-pam)", "my,app"} <= comms
    early = [r for r in big if r.stack[0].startswith(" register_early_stack+")]
    assert early
    assert all(r.order == 0 and r.gfp_mask == 0 and r.gfp_flags == "" and r.free_ts == 0 for r in early)
    assert all((r.pid, r.tgid, r.comm) == (1, 1, "swapper/0") for r in early)
    firsts = {r.stack[0].split("+")[0] for r in big}
    assert firsts == {" register_early_stack", " post_alloc_hook"}  # since about 6.0 (page-owner-format.md A.4)
    old = {r.stack[0].split("+")[0] for r in synth.generate_records(2000, seed=5, era="5.12")}
    assert old <= {" register_early_stack", " get_page_from_freelist", " prep_new_page"}
    cma = [r for r in big if r.block_migratetype == "CMA"]
    assert cma
    assert all(r.migratetype == "Movable" for r in cma)  # only movable pages may sit in CMA pageblocks
    assert any("|slab|" in r.page_flags or "(slab|" in r.page_flags for r in big)
    assert any(" [" in line for r in big for line in r.stack)
    assert any(line.startswith(" 0xffff") for r in big for line in r.stack)
    assert any(".constprop.0+" in line or ".isra.0+" in line for r in big for line in r.stack)


def test_vmalloc_stacks_come_in_both_shapes(big: list[synth.SynthRecord]) -> None:
    # The line above the first __vmalloc_node_range decides page_owner_sort's VMALLOC label (compat.md B.4).
    above = set()
    for r in big:
        at = [i for i, line in enumerate(r.stack) if "__vmalloc_node_range" in line]
        if at:
            above.add(r.stack[at[0] - 1].split("+")[0].strip())
    assert {"__alloc_pages_bulk", "vm_area_alloc_pages", "__vmalloc_area_node"} <= above


def test_timestamps_are_plausible(big: list[synth.SynthRecord]) -> None:
    assert all(r.ts is not None and r.free_ts is not None and r.ts > 10**9 for r in big)
    never_freed = sum(r.free_ts == 0 for r in big)
    before = sum(0 < r.free_ts < r.ts for r in big if r.free_ts is not None and r.ts is not None)
    assert never_freed > 0.3 * len(big)
    assert before > 0.3 * len(big)
    after = [r for r in big if r.free_ts is not None and r.ts is not None and r.free_ts > r.ts]
    assert 0 < len(after) < 0.01 * len(big)
    migrated = [r for r in big if r.migrate_reason is not None]
    assert migrated
    assert all(r.free_ts == r.ts for r in migrated)  # migration copies the old ts into free_ts


def test_memcg_trailers(big: list[synth.SynthRecord]) -> None:
    slab = [r for r in big if r.slab_cache_page]
    assert slab
    assert all(r.memcg is None for r in slab)  # a slab page prints no Charged line
    charged = [r for r in big if r.memcg is not None]
    assert {(r.memcg_via_objcg, r.memcg_offline) for r in charged} == {
        (False, False),
        (True, False),
        (False, True),
        (True, True),
    }
    kthreads = {"kworker/u8:3", "kswapd0", "kthreadd", "swapper/0"}
    assert not [r for r in charged if r.comm in kthreads]
    assert any(r.memcg is not None and "\\x2d" in r.memcg for r in charged)


def test_slab_page_flag_goes_in_6_10() -> None:
    old = synth.generate_records(3000, seed=5, era="6.7")
    new = synth.generate_records(3000, seed=5, era="mm-2026")
    assert any("slab" in r.page_flags for r in old)
    assert not any("slab" in r.page_flags for r in new)
    assert all(r.handle is not None for r in new)


# --- sizes, streaming, compression ----------------------------------------------------------------


def test_size_bound_stops_at_the_record_that_reaches_it() -> None:
    buf = io.BytesIO()
    size = 300_000
    n = synth.write_dump(buf, size=size, seed=9, era="6.7")
    text = buf.getvalue().decode()
    blocks = split_records(text)
    assert len(blocks) == n
    last = len("\n".join(blocks[-1])) + 2
    assert len(text) - last < size <= len(text)


def test_records_and_size_together_stop_at_the_first_limit() -> None:
    small, big_ = io.BytesIO(), io.BytesIO()
    assert synth.write_dump(small, records=10, size=10**9, seed=1) == 10
    assert synth.write_dump(big_, records=10**9, size=5000, seed=1) < 20
    assert synth.write_dump(io.BytesIO(), size=0, seed=1) == 0


class _Sink(io.RawIOBase):
    """A write-only stream that remembers the largest single write."""

    def __init__(self) -> None:
        self.total = 0
        self.largest = 0
        self.writes = 0

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        n = len(memoryview(b))  # type: ignore[arg-type]  # bytes-like by the io protocol
        self.total += n
        self.writes += 1
        self.largest = max(self.largest, n)
        return n


def test_writes_stream_in_bounded_chunks() -> None:
    sink = _Sink()
    synth.write_dump(sink, records=3 * 8192 + 5, seed=1, era="mm-2026")  # type: ignore[arg-type]
    # One write per batch of 8192 records: the dump is never held whole.
    assert sink.writes == 4
    assert sink.largest < 0.4 * sink.total


@pytest.mark.parametrize(
    ("compression", "decompress"),
    [
        ("gzip", gzip.decompress),
        ("zstd", zstandard.ZstdDecompressor().decompressobj().decompress),
        ("xz", lzma.decompress),
    ],
)
def test_compression_round_trip(tmp_path: Path, compression: str, decompress: object) -> None:
    plain = io.BytesIO()
    synth.write_dump(plain, records=400, seed=8, era="5.18")
    path = tmp_path / f"d.{compression}"
    assert synth.write_dump(path, records=400, seed=8, era="5.18", compression=compression) == 400
    packed = path.read_bytes()
    assert packed != plain.getvalue()
    assert decompress(packed) == plain.getvalue()  # type: ignore[operator]
    again = io.BytesIO()
    synth.write_dump(again, records=400, seed=8, era="5.18", compression=compression)
    assert again.getvalue() == packed  # no timestamp or file name in the stream
    assert not again.closed  # a caller's file stays open


# --- errors and the command line ------------------------------------------------------------------


def test_errors() -> None:
    with pytest.raises(UsageError, match=r"unknown era `2\.6`"):
        synth.generate_records(1, era="2.6")
    with pytest.raises(UsageError, match="give `records` or `size`"):
        synth.write_dump(io.BytesIO())
    with pytest.raises(UsageError, match="unknown compression `lz4`"):
        synth.write_dump(io.BytesIO(), records=1, compression="lz4")
    with pytest.raises(UsageError, match="seed must not be negative"):
        synth.generate_records(1, seed=-1)
    rec = synth.generate_records(1, seed=1, era="4.6")[0]
    with pytest.raises(UsageError, match="prints `pid`"):
        synth.render_record(rec, era="5.18")
    # Rendering for an older era leaves out the header fields it did not print
    # (page_flags and the stack are printed as stored).
    newer = synth.generate_records(1, seed=1, era="5.18")[0]
    text = synth.render_record(newer, era="4.6")
    assert HEADERS["4.6"].match(text.split("\n")[0])


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), ("10K", 10240), ("1.5M", 3 << 19), ("1G", 1 << 30), ("200MiB", 200 << 20), ("2gb", 2 << 30)],
)
def test_parse_size(text: str, value: int) -> None:
    assert synth.parse_size(text) == value


def test_main_writes_compressed_by_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.txt.gz"
    assert synth.main([str(out), "--size", "20K", "--seed", "1", "--era", "6.3"]) == 0
    text = gzip.decompress(out.read_bytes())
    assert len(text) >= 20 * 1024
    assert text.startswith(b"Page allocated via order ")
    assert "records to" in capsys.readouterr().err


def test_main_rejects_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        synth.main(["x", "--size", "1Q"])
    assert exc.value.code == 2
    assert "bad size `1Q`" in capsys.readouterr().err


# --- the committed samples ------------------------------------------------------------------------


def _make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", DATA / "make_samples.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_samples_match_the_generator() -> None:
    assert _make_samples().main(["--check"]) == 0


def test_edge_samples_have_their_shapes() -> None:
    crlf = (DATA / "edge-crlf.txt").read_bytes()
    assert crlf.count(b"\r\n") == crlf.count(b"\n") > 0
    unterminated = (DATA / "edge-unterminated.txt").read_bytes()
    assert b"\n\n\n\nPage" in unterminated  # a run of blank lines
    assert unterminated.endswith(b"\n")
    assert not unterminated.endswith(b"\n\n")
    assert not (DATA / "edge-no-eol.txt").read_bytes().endswith(b"\n")
