"""The kernel's line kinds and header eras: one named pattern each, with a real example line.

The parser finds line kinds by their first bytes and pulls fields out with the
cheap patterns here; it then renders every header and PFN line back from the
pulled fields and compares.  A line that does not come back byte for byte is
not trusted: its record keeps its raw text.  So these patterns may be loose
where looseness is caught by that check, and only need to be exact where they
decide a value.
"""

from __future__ import annotations

import re
from enum import IntEnum


class Kind(IntEnum):
    """Line kinds, numbered in the order they stand within a record (page-owner-format.md A.1)."""

    HEADER = 0  # Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 1, tgid 1 (swapper/0), ts 1 ns
    PFN = 1  # PFN 0x1000 type Unmovable Block 8 type Unmovable Flags 0xfffffc0000000(node=0|zone=1)
    STACK = 2  #  post_alloc_hook+0x1a5/0x1d0
    HANDLE = 3  # handle: 7340039
    MIGRATE = 4  # Page has been migrated, last migrate reason: compaction
    SLAB = 5  # Slab cache page
    CHARGED = 6  # Charged (via objcg) to memcg app-server.scope
    OTHER = 7  # anything else: the record is kept raw, with a parse error


HEADER_PREFIX = "Page allocated via order "
PFN_PREFIX = "PFN "
MIGRATE_PREFIX = "Page has been migrated, last migrate reason: "
SLAB_LINE = "Slab cache page"
CHARGED_PREFIX = "Charged "
HANDLE_PREFIX = "handle: "

#: The largest order a record may have.  The buddy allocator stops at MAX_PAGE_ORDER (10 on
#: most configurations, 13 on arm64 with 64 KiB pages), but a gigantic hugetlb page comes
#: whole from alloc_contig_pages: 1 GiB of 4 KiB pages is order 18.  A header with a larger
#: order keeps its raw text, and counts no pages (order 63 would wrap every total).
MAX_ORDER = 20

#: A number as printf's %u/%d (``DECIMAL_DIGITS``) and %x (``HEX_DIGITS``) print it.
DECIMAL_DIGITS = r"^(?:0|[1-9][0-9]*)$"
HEX_DIGITS = r"^(?:0|[1-9a-f][0-9a-f]*)$"

#: Kinds a record may hold at most once.
SINGLE_KINDS = (Kind.HEADER, Kind.PFN, Kind.HANDLE, Kind.MIGRATE, Kind.SLAB, Kind.CHARGED)

# --- header fields (page-owner-format.md A.2) -----------------------------------------------------
# Page allocated via order 5, mask 0x2cc1(GFP_KERNEL|GFP_DMA|__GFP_NOWARN), pid 1, tgid 1 (swapper/0), ts 1245636405 ns
# Page allocated via order 0, mask 0x100cca(GFP_HIGHUSER_MOVABLE), pid 2345, tgid 2301 (Web Content), ts 5 ns, free_ts 0 ns  # noqa: E501
# Page allocated via order 0, mask 0x200d2                          (3.19-4.5: no flag names)
HDR_ORDER = r"^Page allocated via order ([0-9]+), mask "
HDR_MASK = r"^Page allocated via order [0-9]+, mask 0x([0-9a-f]+)"
HDR_GFP = r"^Page allocated via order [0-9]+, mask 0x[0-9a-f]+\(([^)]*)\)"
HDR_PID = r", pid ([0-9]+)"
HDR_TGID = r", tgid ([0-9]+) \("
# The timestamps are anchored at the line end, so a comm that contains "ts 5 ns" cannot fool them.
HDR_TS = r", ts ([0-9]+) ns(?:, free_ts [0-9]+ ns)?$"
HDR_FREE_TS = r", free_ts ([0-9]+) ns$"
TGID_COMM_OPEN = ", tgid "
COMM_CLOSE = "), ts "
# The exact header, for the rare line the fast path could not render back (e.g. a comm holding "), ts ").
# The greedy comm anchors on the *last* "), ts " (page-owner-format.md A.2 field notes).
HDR_STRICT = re.compile(
    r"^Page allocated via order (?P<order>0|[1-9][0-9]*), mask 0x(?P<gfp_mask>0|[1-9a-f][0-9a-f]*)"
    r"(?:\((?P<gfp_flags>[^)]*)\))?"
    r"(?:, pid (?P<pid>0|[1-9][0-9]*))?"
    r"(?:, tgid (?P<tgid>0|[1-9][0-9]*) \((?P<comm>.*)\))?"
    r"(?:, ts (?P<ts>0|[1-9][0-9]*) ns)?"
    r"(?:, free_ts (?P<free_ts>0|[1-9][0-9]*) ns)?$",
    re.DOTALL,
)

# --- PFN line (page-owner-format.md A.3) ----------------------------------------------------------
# PFN 262144 type Movable Block 512 type Movable Flags 0x17ffffc0000014(uptodate|lru|node=0|zone=2)   (5.14-6.4)
# PFN 0x1000 type Unmovable Block 8 type Unmovable Flags 0xfffffc0000000(node=0|zone=1|lastcpupid=0x1fffff) (6.5+)
# It splits on single spaces into these nine fields; %pGp prints no spaces.
PFN_FIELDS = ("PFN", "pfn", "type", "migratetype", "Block", "block", "type2", "block_migratetype", "flags")
# PFN 4096 Block 8 type 0 Fallback Flags K  U                   (3.19-4.5: numeric types, one-char flags)
PFN_LEGACY = r"^PFN ([0-9]+) Block ([0-9]+) type "

# --- trailers (page-owner-format.md A.5) ----------------------------------------------------------
# Charged to memcg session-2.scope
# Charged (via objcg) to offline memcg app\x2dserver.scope
CHARGED_VIA = "(via objcg) "
CHARGED_OFFLINE = "offline "
# handle: 7340039
HANDLE = r"^handle: (0|[1-9][0-9]*)$"

# --- stack frames (page-owner-format.md A.4) ------------------------------------------------------
#  nf_hook_slow+0x44/0xc0 [nf_tables]      or, with a build id:  xfs_buf_alloc+0x1c/0x80 [xfs 3f1e...]
MODULE_FRAME = re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+\s*\[([^\]\s]+)")
VMALLOC_FRAME = "__vmalloc_node_range"
VMALLOC_CALLER = "alloc_pages"

# --- who took the page: the frames past the page allocator (docs/page-owner-format.md) -----------
#: The page allocator's own frames, innermost first on every era: post_alloc_hook (~6.0+),
#: prep_new_page or get_page_from_freelist before, and the ``*_noprof`` names of 6.10+.
#: Names match whole, with any compiler suffix (``.constprop.0``, ``.isra.0``, ``.cold``).
PAGE_ALLOCATOR_FRAMES = (
    "post_alloc_hook",
    "prep_new_page",
    "prep_compound_page",
    "get_page_from_freelist",
    "rmqueue.*",
    "__rmqueue.*",
    "__alloc_pages.*",
    "alloc_pages.*",
    "___alloc_pages.*",
    "__alloc_frozen_pages.*",
    "alloc_frozen_pages.*",
    "alloc_page_vma.*",
    "alloc_page_interleave",
    "__folio_alloc.*",
    "folio_alloc.*",
    "vma_alloc_folio.*",
    "__get_free_pages.*",
    "get_zeroed_page.*",
)
#: The slab allocators' functions that take pages from the page allocator to make a slab
#: (SLUB, SLAB, SLOB).  Not kmalloc's: a large kmalloc takes pages that are no slab.
#:  allocate_slab+0x379/0x4e0   (6.12: get_page_from_freelist, __alloc_pages_noprof, alloc_pages_mpol_noprof before it)
SLAB_PAGE_FRAMES = (
    "alloc_slab_page",
    "allocate_slab",
    "new_slab",
    "new_slab_objects",
    "___slab_alloc.*",
    "__slab_alloc.*",
    "slab_alloc_node.*",
    "kmem_cache_alloc.*",
    "__kmem_cache_alloc.*",
    "kmem_getpages",
    "cache_grow_begin",
    "cache_grow",
    "cache_alloc_refill",
    "fallback_alloc",
    "____cache_alloc.*",
    "slob_new_pages",
    "slob_alloc",
)


def frames_re(names: tuple[str, ...]) -> str:
    """A pattern matching a whole symbol among ``names``, with any compiler suffix."""
    return "^(?:" + "|".join(names) + r")(?:\.[A-Za-z_]+(?:\.\d+)?)*$"


#: A frame's symbol: `` sym+0xoff/0xsize [module]``, optionally prefixed ``[<ffffffff81234567>] ``
#: (Android); an unresolved frame is just its address, which then serves as the symbol.
FRAME_SYMBOL = r"^\s*(?:\[<[0-9a-fA-F]+>\]\s*)?([^\s+]+)"
