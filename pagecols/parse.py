"""One chunk of dump text -> one Arrow record batch, vectorised.

Data flow inside a chunk:

1. numpy finds every line (the ``\\n`` bytes) and classifies it by its first
   bytes (:class:`~pagecols.formats.Kind`); records are runs of non-blank lines.
2. A zero-copy Arrow string array views every line; header, PFN and trailer
   lines are taken out by kind and their fields pulled with polars string
   expressions.
3. Each header and PFN line is rendered back from its fields and compared with
   the original.  A record whose every line is accounted for this way is
   stored as columns; any other record also keeps its exact text in ``raw``,
   and, unless it is a known older layout, a ``parse_error``.
4. Stacks are cut as one slice per record and dictionary-encoded; the hash,
   module and vmalloc test run once per distinct stack, not per record.

Nothing here loops over records in Python, except over the rare lines that the
fast path could not render back.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from pagecols import formats as F
from pagecols.formats import Kind
from pagecols.schema import ARROW_SCHEMA, ERAS

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Why a record needs its raw text, most telling first; 0 = it does not.
(
    _OK,
    _LEGACY,
    _UTF8,
    _NO_HEADER,
    _OTHER_LINE,
    _ORDER,
    _DUPLICATE,
    _BAD_HEADER,
    _BAD_PFN,
    _BAD_TRAILER,
    _RANGE,
) = range(11)
_MESSAGES = {
    _UTF8: "record is not valid UTF-8 text",
    _NO_HEADER: "record does not start with a 'Page allocated via order' header",
    _OTHER_LINE: "unrecognised line in record",
    _ORDER: "lines out of order in record",
    _DUPLICATE: "record has a line kind twice",
    _BAD_HEADER: "malformed header line",
    _BAD_PFN: "malformed PFN line",
    _BAD_TRAILER: "malformed trailer line",
    _RANGE: "number out of range",
}


@dataclass
class StackInfo:
    hash: int
    module: str
    vmalloc: bool


@dataclass
class StackCache:
    """Per-distinct-stack facts, shared by all chunks of one input."""

    known: dict[str, StackInfo] = field(default_factory=dict)

    def get(self, stack: str) -> StackInfo:
        info = self.known.get(stack)
        if info is None:
            info = StackInfo(stack_hash(stack), stack_module(stack), is_vmalloc(stack))
            self.known[stack] = info
        return info


def stack_hash(stack: str) -> int:
    return int.from_bytes(hashlib.blake2b(stack.encode(), digest_size=8).digest(), "big")


def stack_module(stack: str) -> str:
    m = F.MODULE_FRAME.search(stack)
    return m.group(1) if m else "vmlinux"


def is_vmalloc(stack: str) -> bool:
    """Spec B.4: the line just before the first ``__vmalloc_node_range`` mentions ``alloc_pages``."""
    at = stack.find(F.VMALLOC_FRAME)
    if at < 0:
        return False
    line_start = stack.rfind("\n", 0, at)
    if line_start < 0:
        return False  # first frame: the line before it is the header
    prev_start = stack.rfind("\n", 0, line_start) + 1
    return F.VMALLOC_CALLER in stack[prev_start:line_start]


@dataclass
class ParsedChunk:
    batch: pa.RecordBatch
    leading_blank_lines: int
    error_count: int
    first_errors: list[tuple[int, str, str]]  # (line, message, offending line)
    eras: Counter[str]


def _spread(values: pa.Array, where: I64, n: int) -> pa.Array:
    """A length-``n`` array holding ``values`` at the rows ``where``, null elsewhere."""
    idx = np.full(n, -1, dtype=np.int64)
    idx[where] = np.arange(len(where), dtype=np.int64)
    return values.take(pa.array(idx, mask=idx < 0))


def _pieces(data: bytes, cuts: I64) -> pa.LargeStringArray:
    """Zero-copy string array of ``data`` cut at the (ascending) offsets ``cuts``."""
    offsets = np.concatenate(([0], cuts, [len(data)])).astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def _take_lines(lines: pa.LargeStringArray, idx: I64) -> pl.Series:
    # Even pieces are line contents, odd pieces the "\n" after them.
    return pl.Series(lines.take(pa.array(2 * idx + 1)))


def _canonical(s: pl.Expr) -> pl.Expr:
    """A digit string that prints back the same after a round trip through an integer."""
    return s.is_null() | (s == "0") | ~s.str.starts_with("0")


def _parse_headers(lines: pl.Series) -> pl.DataFrame:
    line = pl.col("line")
    tgid = line.str.extract(F.HDR_TGID, 1)
    comm_start = (
        line.str.find(F.TGID_COMM_OPEN, literal=True) + len(F.TGID_COMM_OPEN) + tgid.str.len_bytes() + 2
    )
    comm_end = line.str.find(F.COMM_CLOSE, literal=True)
    df = (
        pl.DataFrame({"line": lines})
        .lazy()
        .with_columns(
            order=line.str.extract(F.HDR_ORDER, 1),
            gfp_mask=line.str.extract(F.HDR_MASK, 1),
            gfp_flags=line.str.extract(F.HDR_GFP, 1),
            pid=line.str.extract(F.HDR_PID, 1),
            tgid=tgid,
            comm=pl.when(comm_end >= comm_start).then(line.str.slice(comm_start, comm_end - comm_start)),
            ts=line.str.extract(F.HDR_TS, 1),
            free_ts=line.str.extract(F.HDR_FREE_TS, 1),
        )
        .collect()
    )
    rendered = df.select(_render_header_strings()).to_series()
    bad = (rendered != df["line"]).fill_null(True)
    if bad.any():
        return _reparse_strict(df, bad)
    return df.with_columns(_strict_ok=pl.lit(True))


def _opt(prefix: str, col: str, suffix: str = "") -> pl.Expr:
    return (
        pl.when(pl.col(col).is_not_null())
        .then(pl.lit(prefix) + pl.col(col) + pl.lit(suffix))
        .otherwise(pl.lit(""))
    )


def _render_header_strings() -> pl.Expr:
    return pl.concat_str(
        pl.lit(F.HEADER_PREFIX),
        pl.col("order"),
        pl.lit(", mask 0x"),
        pl.col("gfp_mask"),
        _opt("(", "gfp_flags", ")"),
        _opt(", pid ", "pid"),
        pl.when(pl.col("tgid").is_not_null())
        .then(pl.lit(", tgid ") + pl.col("tgid") + pl.lit(" (") + pl.col("comm") + pl.lit(")"))
        .otherwise(pl.lit("")),
        _opt(", ts ", "ts", " ns"),
        _opt(", free_ts ", "free_ts", " ns"),
    )


def _reparse_strict(df: pl.DataFrame, bad: pl.Series) -> pl.DataFrame:
    """Parse the few headers the fast path could not render back with the exact pattern."""
    rows = np.flatnonzero(bad.to_numpy())
    names = ["order", "gfp_mask", "gfp_flags", "pid", "tgid", "comm", "ts", "free_ts"]
    values: dict[str, list[str | None]] = {n: [] for n in names}
    ok = np.ones(len(df), dtype=bool)
    for row, text in zip(rows, df["line"].gather(rows).to_list(), strict=True):
        m = F.HDR_STRICT.match(text) if text is not None else None
        if m is None:
            ok[row] = False
        for n in names:
            values[n].append(m.group(n) if m else None)
    return df.with_columns(
        [df[n].scatter(rows, pl.Series(values[n], dtype=pl.String)) for n in names],
        _strict_ok=pl.Series(ok),
    )


def parse_chunk(data: bytes, *, first_line: int, first_record: int, cache: StackCache) -> ParsedChunk:
    """Parse whole records.  ``data`` has LF line ends and starts at a record or the input start."""
    if not data.endswith(b"\n"):
        data += b"\n"
    reason_utf8 = False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        # Arrow strings must be UTF-8: replace the bad bytes, and flag every record
        # holding a replacement character (a rare, reported, lossy path).
        data = data.decode("utf-8", "replace").encode()
        reason_utf8 = True

    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10).astype(np.int64)
    n = len(nl)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    blank = nl == starts
    # Pieces alternate: line content, then its "\n" (odd pieces hold the content, see _take_lines).
    lines = _pieces(data, np.ravel(np.column_stack((starts, nl))))

    kind = _classify(buf, starts, blank)

    nonblank = ~blank
    prev_blank = np.empty(n, dtype=bool)
    prev_blank[0] = True
    prev_blank[1:] = blank[:-1]
    rec_start = nonblank & prev_blank
    rec_of_line = np.cumsum(rec_start) - 1
    first_idx = np.flatnonzero(rec_start)
    nrec = len(first_idx)
    leading = int(first_idx[0]) if nrec else n
    if nrec == 0:
        return ParsedChunk(_empty_batch(), leading, 0, [], Counter())
    next_blank = np.empty(n, dtype=bool)
    next_blank[-1] = True
    next_blank[:-1] = blank[1:]
    last_idx = np.flatnonzero(nonblank & next_blank)
    blank_after = np.bincount(rec_of_line[blank & (rec_of_line >= 0)], minlength=nrec)

    nb = np.flatnonzero(nonblank)
    nb_rec = rec_of_line[nb]
    nb_kind = kind[nb]

    reason = np.zeros(nrec, dtype=np.int8)
    reason_line = first_idx.copy()  # which line an error points at

    def flag(recs: I64, code: int, at: I64 | None = None) -> None:
        fresh = reason[recs] == _OK
        recs, at = recs[fresh], (at[fresh] if at is not None else None)
        reason[recs] = code
        if at is not None:
            reason_line[recs] = at

    # Layout (spec A.1): header first, kinds in order, the single kinds at most once.
    flag(np.flatnonzero(kind[first_idx] != Kind.HEADER), _NO_HEADER)
    other = nb_kind == Kind.OTHER
    flag(nb_rec[other], _OTHER_LINE, nb[other])
    backwards = np.flatnonzero((nb_rec[1:] == nb_rec[:-1]) & (nb_kind[1:] < nb_kind[:-1])) + 1
    flag(nb_rec[backwards], _ORDER, nb[backwards])
    line_of: dict[Kind, I64] = {}
    for k in F.SINGLE_KINDS:
        sel = nb_kind == k
        recs = nb_rec[sel]
        twice = np.flatnonzero(recs[1:] == recs[:-1]) + 1
        flag(recs[twice], _DUPLICATE, nb[sel][twice])
        idx = np.full(nrec, -1, dtype=np.int64)
        idx[recs] = nb[sel]
        line_of[k] = idx

    cols: dict[str, pa.Array] = {}
    rec_line = first_idx + first_line
    cols["record"] = pa.array(np.arange(first_record, first_record + nrec, dtype=np.uint64))
    cols["line"] = pa.array(rec_line.astype(np.uint64))

    # --- header --------------------------------------------------------------------------------
    hdr_recs = np.flatnonzero(line_of[Kind.HEADER] >= 0)
    hdr = _parse_headers(_take_lines(lines, line_of[Kind.HEADER][hdr_recs]))
    strict_ok = hdr["_strict_ok"].to_numpy()
    flag(hdr_recs[~strict_ok], _BAD_HEADER, line_of[Kind.HEADER][hdr_recs[~strict_ok]])
    canonical = hdr.select(
        pl.all_horizontal(
            _canonical(pl.col(c)) for c in ("order", "gfp_mask", "pid", "tgid", "ts", "free_ts")
        )
    ).to_series()
    typed = hdr.select(
        order=pl.col("order").str.to_integer(strict=False).cast(pl.UInt8, strict=False),
        gfp_mask=pl.col("gfp_mask").str.to_integer(base=16, dtype=pl.UInt64, strict=False),
        gfp_flags=pl.col("gfp_flags"),
        pid=pl.col("pid").str.to_integer(dtype=pl.Int32, strict=False),
        tgid=pl.col("tgid").str.to_integer(dtype=pl.Int32, strict=False),
        comm=pl.col("comm"),
        ts=pl.col("ts").str.to_integer(dtype=pl.UInt64, strict=False),
        free_ts=pl.col("free_ts").str.to_integer(dtype=pl.UInt64, strict=False),
    )
    lost = pl.Series([False] * len(hdr))
    for c in ("order", "gfp_mask", "pid", "tgid", "ts", "free_ts"):
        lost = lost | (typed[c].is_null() & hdr[c].is_not_null())
    out_of_range = (lost | ~canonical | (typed["order"] > 63).fill_null(False)).to_numpy()
    flag(hdr_recs[out_of_range], _RANGE, line_of[Kind.HEADER][hdr_recs[out_of_range]])
    for c in ("order", "gfp_mask", "gfp_flags", "pid", "tgid", "comm", "ts", "free_ts"):
        cols[c] = _spread(typed[c].to_arrow(), hdr_recs, nrec)
    order = typed["order"].fill_null(0).to_numpy().astype(np.uint64)
    no_pages = (typed["order"].is_null() | (typed["order"] > 63)).to_numpy()
    pages = np.left_shift(np.uint64(1), np.minimum(order, np.uint64(63)))
    cols["pages"] = _spread(pa.array(pages, mask=no_pages), hdr_recs, nrec)

    # --- PFN line --------------------------------------------------------------------------------
    pfn_recs = np.flatnonzero(line_of[Kind.PFN] >= 0)
    pfn = _parse_pfn(_take_lines(lines, line_of[Kind.PFN][pfn_recs]))
    pfn_ok = pfn["ok"].to_numpy()
    legacy = pfn["legacy"].to_numpy()
    flag(pfn_recs[~pfn_ok & ~legacy], _BAD_PFN, line_of[Kind.PFN][pfn_recs[~pfn_ok & ~legacy]])
    flag(pfn_recs[legacy], _LEGACY)
    for c in ("pfn", "pfn_hex", "migratetype", "block", "block_migratetype", "page_flags"):
        cols[c] = _spread(pfn[c].to_arrow(), pfn_recs, nrec)
    is_cma = np.zeros(nrec, dtype=bool)
    is_slab = np.zeros(nrec, dtype=bool)
    is_cma[pfn_recs] = pfn["cma"].to_numpy()
    is_slab[pfn_recs] = pfn["slab"].to_numpy()

    # --- stack -------------------------------------------------------------------------------------
    st = nb_kind == Kind.STACK
    st_rec, st_line = nb_rec[st], nb[st]
    begin = np.ones(len(st_rec), dtype=bool)
    begin[1:] = st_rec[1:] != st_rec[:-1]
    end = np.ones(len(st_rec), dtype=bool)
    end[:-1] = st_rec[1:] != st_rec[:-1]
    has_stack = st_rec[begin]
    cut_a = starts[first_idx].copy()
    cut_b = cut_a.copy()
    cut_a[has_stack] = starts[st_line[begin]]
    cut_b[has_stack] = nl[st_line[end]]
    stacks = _pieces(data, np.ravel(np.column_stack((cut_a, cut_b)))).take(
        pa.array(np.arange(1, 2 * nrec, 2))
    )
    encoded = stacks.dictionary_encode()
    infos = [cache.get(s) for s in encoded.dictionary.to_pylist()]
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    hashes = np.array([i.hash for i in infos], dtype=np.uint64)
    vmalloc = np.array([i.vmalloc for i in infos], dtype=bool)[codes]
    no_stack = np.ones(nrec, dtype=bool)
    no_stack[has_stack] = False
    cols["stack"] = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), encoded.dictionary.cast(pa.string())
    ).cast(pa.string())
    cols["stack_hash"] = pa.array(hashes[codes])
    cols["module"] = pa.array([i.module for i in infos], type=pa.string()).take(pa.array(codes))

    alloc = np.where(is_cma, "CMA|", "")
    names = np.char.add(np.char.add(alloc, np.where(is_slab, "SLAB|", "")), np.where(vmalloc, "VMALLOC|", ""))
    names = np.char.rstrip(names, "|")
    cols["allocator"] = pa.array(np.where(names == "", "OTHERS", names), type=pa.string())

    # --- trailers -----------------------------------------------------------------------------------
    tr = _parse_trailers(lines, line_of, nrec)
    for rec_set, line_set in tr.pop("_bad"):
        flag(rec_set, _BAD_TRAILER, line_set)
    cols.update(tr)
    cols["blank_after"] = pa.array(blank_after.astype(np.uint32))

    # --- records that keep their text ----------------------------------------------------------------
    if reason_utf8:
        texts = _pieces(data, np.ravel(np.column_stack((starts[first_idx], nl[last_idx])))).take(
            pa.array(np.arange(1, 2 * nrec, 2))
        )
        has_fffd = pl.Series(texts).str.contains("\ufffd", literal=True).to_numpy()
        reason[has_fffd] = _UTF8
    need_raw = np.flatnonzero(reason != _OK)
    raw = _pieces(data, np.ravel(np.column_stack((starts[first_idx[need_raw]], nl[last_idx[need_raw]]))))
    cols["raw"] = _spread(
        raw.take(pa.array(np.arange(1, 2 * len(need_raw), 2))).cast(pa.string()), need_raw, nrec
    )
    codes_err = reason[need_raw]
    is_err = codes_err != _LEGACY
    err_recs = need_raw[is_err]
    msgs = np.array([_MESSAGES.get(int(c), "") for c in range(_RANGE + 1)], dtype=object)
    cols["parse_error"] = _spread(
        pa.array(msgs[codes_err[is_err]].tolist(), type=pa.string()), err_recs, nrec
    )
    first_errors = [
        (int(reason_line[r]) + first_line, str(msgs[reason[r]]), lines[2 * int(reason_line[r]) + 1].as_py())
        for r in err_recs[:10]
    ]

    batch = pa.RecordBatch.from_arrays([cols[f.name].cast(f.type) for f in ARROW_SCHEMA], schema=ARROW_SCHEMA)
    return ParsedChunk(batch, leading, len(err_recs), first_errors, _eras(batch, reason == _OK))


def _empty_batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=ARROW_SCHEMA)


def _classify(buf: npt.NDArray[np.uint8], starts: I64, blank: Bools) -> npt.NDArray[np.int8]:
    """Line kinds from the first bytes; the field parsers confirm each candidate."""
    last = len(buf) - 1
    b0 = buf[starts]
    b1 = buf[np.minimum(starts + 1, last)]
    b5 = buf[np.minimum(starts + 5, last)]
    kind = np.full(len(starts), Kind.OTHER, dtype=np.int8)
    kind[b0 == ord(" ")] = Kind.STACK
    p = b0 == ord("P")
    kind[p & (b1 == ord("a")) & (b5 == ord("a"))] = Kind.HEADER
    kind[p & (b1 == ord("a")) & (b5 == ord("h"))] = Kind.MIGRATE
    kind[p & (b1 == ord("F"))] = Kind.PFN
    kind[b0 == ord("S")] = Kind.SLAB
    kind[b0 == ord("C")] = Kind.CHARGED
    kind[b0 == ord("h")] = Kind.HANDLE
    kind[blank] = Kind.OTHER
    return kind


def _parse_pfn(lines: pl.Series) -> pl.DataFrame:
    parts = pl.col("line").str.splitn(" ", len(F.PFN_FIELDS)).struct.rename_fields(list(F.PFN_FIELDS))
    f = pl.col
    pfn_text = f("pfn")
    is_hex = pfn_text.str.starts_with("0x")
    digits = pl.when(is_hex).then(pfn_text.str.slice(2)).otherwise(pfn_text)
    legacy = pl.col("line").str.extract_groups(F.PFN_LEGACY)
    df = (
        pl.DataFrame({"line": lines})
        .lazy()
        .with_columns(parts.alias("p"), legacy.alias("legacy_m"))
        .unnest("p")
        .with_columns(
            pfn_num=pl.when(is_hex)
            .then(digits.str.to_integer(base=16, dtype=pl.UInt64, strict=False))
            .otherwise(digits.str.to_integer(dtype=pl.UInt64, strict=False)),
            block_num=f("block").str.to_integer(dtype=pl.UInt64, strict=False),
        )
        .with_columns(
            ok=(
                (f("PFN") == "PFN")
                & (f("type") == "type")
                & (f("Block") == "Block")
                & (f("type2") == "type")
                & f("flags").str.starts_with("Flags ")
                & (f("migratetype") != "")
                & (f("block_migratetype") != "")
                & (digits != "")
                & _canonical(digits)
                & _canonical(f("block"))
                & f("pfn_num").is_not_null()
                & f("block_num").is_not_null()
                & ~(is_hex & digits.str.contains("[A-F]"))
            ).fill_null(False)
        )
        .with_columns(legacy=~f("ok") & f("legacy_m").struct.field("1").is_not_null())
        .select(
            "ok",
            "legacy",
            pfn=pl.when(f("ok"))
            .then(f("pfn_num"))
            .otherwise(f("legacy_m").struct.field("1").str.to_integer(dtype=pl.UInt64, strict=False)),
            pfn_hex=pl.when(f("ok")).then(is_hex),
            migratetype=pl.when(f("ok")).then(f("migratetype")),
            block=pl.when(f("ok"))
            .then(f("block_num"))
            .otherwise(f("legacy_m").struct.field("2").str.to_integer(dtype=pl.UInt64, strict=False)),
            block_migratetype=pl.when(f("ok")).then(f("block_migratetype")),
            page_flags=pl.when(f("ok")).then(f("flags").str.slice(6)),
            cma=f("line").str.contains("CMA", literal=True),
            slab=f("line").str.contains("slab", literal=True),
        )
        .collect()
    )
    return df


def _parse_trailers(lines: pa.LargeStringArray, line_of: dict[Kind, I64], nrec: int) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    bad: list[tuple[I64, I64]] = []

    def take(kind: Kind) -> tuple[I64, pl.Series]:
        recs = np.flatnonzero(line_of[kind] >= 0)
        return recs, _take_lines(lines, line_of[kind][recs])

    recs, text = take(Kind.HANDLE)
    handle = text.str.extract(F.HANDLE, 1).str.to_integer(dtype=pl.UInt32, strict=False)
    wrong = handle.is_null().to_numpy()
    bad.append((recs[wrong], line_of[Kind.HANDLE][recs[wrong]]))
    out["handle"] = _spread(handle.to_arrow(), recs, nrec)

    recs, text = take(Kind.MIGRATE)
    ok = text.str.starts_with(F.MIGRATE_PREFIX).to_numpy()
    bad.append((recs[~ok], line_of[Kind.MIGRATE][recs[~ok]]))
    out["migrate_reason"] = _spread(text.str.slice(len(F.MIGRATE_PREFIX)).to_arrow(), recs, nrec)

    recs, text = take(Kind.SLAB)
    ok = (text == F.SLAB_LINE).to_numpy()
    bad.append((recs[~ok], line_of[Kind.SLAB][recs[~ok]]))
    slab = np.zeros(nrec, dtype=bool)
    slab[recs] = True
    out["slab_cache_page"] = pa.array(slab)

    recs, text = take(Kind.CHARGED)
    m = text.str.extract_groups(F.CHARGED)
    ok = m.struct.field("3").is_not_null().to_numpy()
    bad.append((recs[~ok], line_of[Kind.CHARGED][recs[~ok]]))
    out["memcg"] = _spread(m.struct.field("3").to_arrow(), recs, nrec)
    out["memcg_via_objcg"] = _spread(m.struct.field("1").is_not_null().to_arrow(), recs, nrec)
    out["memcg_offline"] = _spread(m.struct.field("2").is_not_null().to_arrow(), recs, nrec)
    out["_bad"] = bad  # type: ignore[assignment]
    return out


def _eras(batch: pa.RecordBatch, ok: Bools) -> Counter[str]:
    """Count records by header era (spec A.2/A.3), from which fields the kernel printed."""
    df = pl.from_arrow(batch.select(["gfp_flags", "pid", "tgid", "free_ts", "pfn_hex", "handle"]))
    assert isinstance(df, pl.DataFrame)
    era = (
        df.filter(pl.Series(ok))
        .select(
            pl.when(pl.col("gfp_flags").is_null())
            .then(pl.lit(ERAS[0]))
            .when(pl.col("pid").is_null())
            .then(pl.lit("4.6"))
            .when(pl.col("tgid").is_null() & pl.col("free_ts").is_null())
            .then(pl.lit("5.11"))
            .when(pl.col("tgid").is_null())
            .then(pl.lit("5.12"))
            .when(pl.col("free_ts").is_not_null() & ~pl.col("pfn_hex").fill_null(False))
            .then(pl.lit("5.18"))
            .when(pl.col("free_ts").is_not_null())
            .then(pl.lit("6.5"))
            .when(pl.col("handle").is_not_null())
            .then(pl.lit("mm-2026"))
            .otherwise(pl.lit("6.7"))
            .alias("era")
        )
        .to_series()
        .value_counts()
    )
    return Counter(dict(zip(era["era"].to_list(), era["count"].to_list(), strict=True)))
