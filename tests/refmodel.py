"""A small, slow, obviously-correct model of ``pagecols sort``: lists and ``sorted``, no polars.

It reads dump *text* the way page_owner_sort v6.3 does (compat.md B.2-B.9), with the
three fixes of compat.md §1 and the improvements of §2:

* blocks end at a blank line; a blank line right after another (or at the start)
  is an empty block; CRLF counts as LF; the last block is kept without its blank line;
* a record's own PFN line (the last one in the block) decides CMA/SLAB; none -> neither;
* a header that follows the kernel's grammar is read field by field (comm up to the
  last ``), ts``); any other block falls back to the B.3 regexes over the block;
* missing ts/free_ts count as 0, missing pid/tgid as -1, missing comm as "";
* TGID prints the tgid, ts comparisons are three-way, no sort option means times DESC.

Options come in as a plain :class:`Options`, not argv, so that the model shares
nothing with the parser under test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

CULL_ORDER = ("stacktrace", "pid", "tgid", "name", "free", "allocator")
CMA, SLAB, VMALLOC, OTHERS = 2, 4, 8, 16

_HEADER = re.compile(
    rb"Page allocated via order ([0-9]+), mask 0x([0-9a-f]+)(?:\(([^)]*)\))?(?:, pid ([0-9]+))?"
    rb"(?:, tgid ([0-9]+) \((.*)\))?(?:, ts ([0-9]+) ns)?(?:, free_ts ([0-9]+) ns)?",
    re.DOTALL,
)
# compat.md B.3, glibc's \s spelled out; ts without the trailing comma (compat.md §2).
_S = rb"[ \t\n\v\f\r]*"
_ORDER = re.compile(rb"order" + _S + rb"([0-9]*),")
_PID = re.compile(rb"pid" + _S + rb"([0-9]*),")
_TGID = re.compile(rb"tgid" + _S + rb"([0-9]*) ")
_COMM = re.compile(rb"tgid" + _S + rb"[0-9]*" + _S + rb"\((.*)\)," + _S + rb"ts")
_TS = re.compile(rb"ts" + _S + rb"([0-9]*)" + _S + rb"ns")
_FREE_TS = re.compile(rb"free_ts" + _S + rb"([0-9]*)" + _S + rb"ns")


@dataclass
class Options:
    """sort: (key, descending) pairs with keys pid tgid name stacktrace txt free_ts alloc_ts
    allocator times pages; cull: names from CULL_ORDER."""

    sort: list[tuple[str, bool]] = field(default_factory=lambda: [("times", True)])
    cull: set[str] = field(default_factory=set)
    pids: list[int] | None = None
    tgids: list[int] | None = None
    names: list[bytes] | None = None
    unreleased_only: bool = False


@dataclass
class Record:
    txt: bytes
    stacktrace: bytes
    pages: int
    pid: int
    tgid: int
    comm: bytes
    ts: int
    free_ts: int
    allocator: int
    num: int = 1


def blocks(text: bytes) -> list[list[bytes]]:
    lines = text.replace(b"\r\n", b"\n").split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    out: list[list[bytes]] = []
    cur: list[bytes] = []
    for line in lines:
        if line == b"":
            out.append(cur)
            cur = []
        else:
            cur.append(line)
    if cur:
        out.append(cur)
    return out


def _num(m: re.Match[bytes] | None, missing: int, bits: int, signed: bool) -> int:
    if m is None or not m.group(1):
        return missing
    v = int(m.group(1))
    if signed:
        if v >= 2**63:  # strtol's ERANGE
            return missing
        v &= (1 << bits) - 1  # C's truncation to int
        return v - (1 << bits) if v >= 1 << (bits - 1) else v
    return v if v < 1 << bits else missing


def allocator(txt: bytes, pfn_line: bytes | None) -> int:
    a = 0
    if pfn_line is not None and b"CMA" in pfn_line:
        a |= CMA
    if pfn_line is not None and b"slab" in pfn_line:
        a |= SLAB
    at = txt.find(b"__vmalloc_node_range")
    if at >= 0:
        line_start = txt.rfind(b"\n", 0, at)
        if line_start >= 0:
            prev_start = txt.rfind(b"\n", 0, line_start) + 1
            hit = txt.find(b"alloc_pages", prev_start)
            if 0 <= hit < at:
                a |= VMALLOC
    return a or OTHERS


def record(lines: list[bytes]) -> Record:
    kept = [line for line in lines if not line.startswith(b"PFN")]
    pfns = [line for line in lines if line.startswith(b"PFN")]
    txt = b"".join(line + b"\n" for line in kept)
    nl = txt.find(b"\n")
    stacktrace = txt[nl + 1 :] if nl >= 0 else b""
    m = _HEADER.fullmatch(kept[0]) if kept else None
    if m is not None:
        order = int(m.group(1))
        pages = 1 << order if order <= 63 else 0
        pid = int(m.group(4)) if m.group(4) is not None else -1
        tgid = int(m.group(5)) if m.group(5) is not None else -1
        comm = m.group(6) if m.group(6) is not None else b""
        ts = int(m.group(7)) if m.group(7) is not None else 0
        free_ts = int(m.group(8)) if m.group(8) is not None else 0
    else:
        order = _num(_ORDER.search(txt), -1, 64, True)
        pages = 1 << order if 0 <= order <= 63 else 0
        pid = _num(_PID.search(txt), -1, 32, True)
        tgid = _num(_TGID.search(txt), -1, 32, True)
        cm = _COMM.search(txt)
        comm = cm.group(1) if cm else b""
        ts = _num(_TS.search(txt), 0, 64, False)
        free_ts = _num(_FREE_TS.search(txt), 0, 64, False)
    return Record(txt, stacktrace, pages, pid, tgid, comm, ts, free_ts, allocator(txt, pfns[-1] if pfns else None))


def _selected(r: Record, o: Options) -> bool:
    if o.unreleased_only and r.free_ts != 0 and r.ts < r.free_ts:
        return False
    if o.pids is not None and r.pid not in o.pids:
        return False
    if o.tgids is not None and r.tgid not in o.tgids:
        return False
    return not (o.names is not None and r.comm not in o.names)


def _cull_key(r: Record, cull: set[str]) -> tuple[object, ...]:
    if not cull:
        return (r.txt,)
    values: dict[str, object] = {
        "stacktrace": r.stacktrace,
        "pid": r.pid,
        "tgid": r.tgid,
        "name": r.comm,
        "free": r.free_ts != 0,
        "allocator": r.allocator,
    }
    return tuple(values[k] for k in CULL_ORDER if k in cull)


def _sort_value(r: Record, key: str) -> int | bytes:
    values: dict[str, int | bytes] = {
        "pid": r.pid,
        "tgid": r.tgid,
        "name": r.comm,
        "stacktrace": r.stacktrace,
        "txt": r.txt,
        "free_ts": r.free_ts,
        "alloc_ts": r.ts,
        "allocator": r.allocator,
        "times": r.num,
        "pages": r.pages,
    }
    return values[key]


def _sort_key(key: str) -> Callable[[Record], int | bytes]:
    return lambda r: _sort_value(r, key)


def _allocator_names(a: int) -> bytes:
    return b"".join(
        name + b" "
        for bit, name in ((CMA, b"CMA"), (SLAB, b"SLAB"), (VMALLOC, b"VMALLOC"), (OTHERS, b"OTHERS"))
        if a & bit
    )


def sort_dump(text: bytes, o: Options) -> bytes:
    stored: list[Record] = []
    for lines in blocks(text):
        r = record(lines)
        # v6.3's adjacent-duplicate shortcut (B.6): it runs before the filters.
        if stored and stored[-1].txt == r.txt:
            stored[-1].num += 1
            stored[-1].pages += r.pages
            continue
        if _selected(r, o):
            stored.append(r)

    culled = sorted(stored, key=lambda r: _cull_key(r, o.cull))
    groups: list[Record] = []
    for r in culled:
        if groups and _cull_key(groups[-1], o.cull) == _cull_key(r, o.cull):
            groups[-1].num += r.num
            groups[-1].pages += r.pages
        else:
            groups.append(Record(**vars(r)))

    # Stable multi-key sort: last key first; reverse=True keeps ties in order.
    for key, descending in reversed(o.sort):
        groups.sort(key=_sort_key(key), reverse=descending)

    out = []
    for g in groups:
        if not o.cull:
            out.append(
                b"%d times, %d pages, allocated by %s:\n%s\n" % (g.num, g.pages, _allocator_names(g.allocator), g.txt)
            )
            continue
        s = b"%d times, %d pages" % (g.num, g.pages)
        if "pid" in o.cull or o.pids is not None:
            s += b", PID %d" % g.pid
        if "tgid" in o.cull or o.tgids is not None:
            s += b", TGID %d" % g.tgid
        if "name" in o.cull or o.names is not None:
            s += b", task_comm_name: " + g.comm
        if "allocator" in o.cull:
            s += b", allocated by " + _allocator_names(g.allocator)
        if "free" in o.cull:
            s += b" (UNRELEASED)" if g.free_ts != 0 else b" (RELEASED)"
        if "stacktrace" in o.cull:
            s += b":\n" + g.stacktrace
        out.append(s + b"\n")
    return b"".join(out)
