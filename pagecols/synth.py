"""Seeded synthetic page_owner dumps, realistic enough to test and benchmark on.

One generative model serves every output era of page-owner-format.md A.2/A.3: a machine whose
pageblocks have migratetypes, a pool of a few thousand kernel stacks reused
with a heavy tail, processes from kernel threads to `Web Content`, and the
trailers the kernel prints.  The same seed gives the same pages in every era;
only the text differs (and `register_early_stack` records, which the 3.19-4.5
kernels did not have).

Eras (page-owner-format.md A.2/A.3): "3.19" (3.19-4.5), "4.6" (4.6-5.10), "5.11", "5.12"
(5.12-5.17), "5.18" (5.18-6.4, the 6.3 format; alias "6.3"), "6.5" (6.5-6.6,
PFN in hex), "6.7" (6.7+, no free_ts) and "mm-2026" (the 2026 mm tree read in
mode=stack_handle: the stack, then ``handle: N``).

Only the standard library and numpy are used, so the benchmarks can make
their inputs without importing polars.  Records are drawn in batches of
``_BATCH`` with one numpy generator per batch, so the first N records do not
depend on how many follow: ``write_dump(records=N)`` is a prefix of any longer
dump of the same seed and era, and equals the rendered ``generate_records(N)``.

Examples
--------
>>> from pagecols import synth
>>> rec = synth.generate_records(1, seed=3, era="6.3")[0]
>>> synth.render_record(rec, era="5.18").startswith("Page allocated via order ")
True
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import lzma
import os
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import IO, Any, BinaryIO, Final, Protocol

import numpy as np

from pagecols.errors import UsageError

#: Output formats, oldest first; "6.3" is accepted as an alias of "5.18".
ERAS: Final[tuple[str, ...]] = ("3.19", "4.6", "5.11", "5.12", "5.18", "6.5", "6.7", "mm-2026")
ALIASES: Final[dict[str, str]] = {"6.3": "5.18"}
COMPRESSIONS: Final[tuple[str, ...]] = ("gzip", "zstd", "xz")

#: Names of the kernel's migratetypes, in the enum order of 4.4+ (the 3.19-era
#: PFN line prints the pageblock's type as this index).
MIGRATETYPES: Final[tuple[str, ...]] = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")
_UNMOVABLE, _MOVABLE, _RECLAIMABLE, _HIGHATOMIC, _CMA = 0, 1, 2, 3, 4

MIGRATE_REASONS: Final[tuple[str, ...]] = (
    "compaction",
    "memory_failure",
    "memory_hotplug",
    "syscall_or_cpuset",
    "mempolicy_mbind",
    "numa_misplaced",
    "contig_range",
    "longterm_pin",
    "demotion",
)
_MIGRATE_WEIGHTS = (60, 1, 3, 3, 3, 10, 8, 5, 4)

_BATCH: Final = 8192
_PAGEBLOCK_ORDER: Final = 9
_STACK_DEPTH: Final = 16  # PAGE_OWNER_STACK_DEPTH: the kernel keeps the innermost 16 frames
_GFP_MOVABLE, _GFP_RECLAIMABLE, _GFP_COMP = 0x08, 0x10, 0x40000
# x86-64 leaves PFNs 3-4 GiB to PCI; memory resumes at 4 GiB.
_PCI_HOLE: Final = (0xC0000, 0x100000)


@dataclass(frozen=True, slots=True)
class SynthRecord:
    """One record's facts, as the kernel of the chosen era printed them.

    A field is None where that era prints nothing for it.  ``page_flags`` is
    the text after ``Flags `` (era-specific); ``stack`` holds the frame lines
    as printed, each with its leading space and without the newline.  The
    3.19 era keeps ``migratetype`` although it prints only whether it differs
    from the pageblock's (``Fallback``).
    """

    order: int
    gfp_mask: int
    gfp_flags: str | None
    pid: int | None
    tgid: int | None
    comm: str | None
    ts: int | None
    free_ts: int | None
    pfn: int
    migratetype: str
    block: int
    block_migratetype: str
    page_flags: str
    stack: tuple[str, ...]
    handle: int | None
    migrate_reason: str | None
    slab_cache_page: bool | None
    memcg: str | None
    memcg_via_objcg: bool | None
    memcg_offline: bool | None


# --- eras ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Era:
    name: str
    gen: str  # which kernel generation's function names the stacks use
    gfp_names: bool  # mask %#x(%pGg) rather than 0x%x
    pid: bool
    tgid_comm: bool
    ts: bool
    free_ts: bool
    pfn: str  # "legacy" (3.19-4.5), "dec" or "hex"
    flags: str  # "slots" (3.19-4.5), "names" (%#lx(%pGp) before 5.14) or "fields" (%pGp 5.14+)
    layout: str  # page-flag bit numbering
    migrate: bool
    memcg: bool
    handle: bool
    early: bool  # register_early_stack records exist


_ERA_SPECS: Final[dict[str, _Era]] = {
    e.name: e
    for e in (
        _Era("3.19", "g3", False, False, False, False, False, "legacy", "slots", "v4", False, False, False, False),
        _Era("4.6", "g4", True, False, False, False, False, "dec", "names", "v4", True, False, False, True),
        _Era("5.11", "g5", True, True, False, True, False, "dec", "names", "v4", True, False, False, True),
        _Era("5.12", "g5", True, True, False, True, True, "dec", "names", "v4", True, False, False, True),
        _Era("5.18", "g6", True, True, True, True, True, "dec", "fields", "v6", True, True, False, True),
        _Era("6.5", "g6", True, True, True, True, True, "hex", "fields", "v6", True, True, False, True),
        _Era("6.7", "g67", True, True, True, True, False, "hex", "fields", "v6", True, True, False, True),
        _Era("mm-2026", "g26", True, True, True, True, False, "hex", "fields", "v612", True, True, True, True),
    )
}


def _era(era: str) -> _Era:
    spec = _ERA_SPECS.get(ALIASES.get(era, era))
    if spec is None:
        known = ", ".join(f"`{e}`" for e in (*ERAS, *ALIASES))
        raise UsageError(f"unknown era `{era}`; known eras: {known}")
    return spec


# --- page flags ------------------------------------------------------------------------------------

# Bit numbers of the flags the generator uses, per kernel generation.  Names print in bit order.
_LAYOUTS: Final[dict[str, dict[str, int]]] = {
    "v4": {  # 4.x-5.x
        "locked": 0, "referenced": 1, "uptodate": 2, "dirty": 3, "lru": 4, "active": 5, "workingset": 6,
        "error": 8, "slab": 9, "reserved": 12, "private": 13, "writeback": 15, "head": 16,
        "mappedtodisk": 17, "reclaim": 18, "swapbacked": 19,
    },
    "v6": {  # 5.18-6.9
        "locked": 0, "writeback": 1, "referenced": 2, "uptodate": 3, "dirty": 4, "lru": 5, "head": 6,
        "active": 8, "workingset": 9, "error": 10, "slab": 11, "reserved": 14, "private": 15,
        "mappedtodisk": 17, "reclaim": 18, "swapbacked": 19,
    },
    "v612": {  # 6.12+: PG_slab and PG_error are gone
        "locked": 0, "writeback": 1, "referenced": 2, "uptodate": 3, "dirty": 4, "lru": 5, "head": 6,
        "active": 8, "workingset": 9, "reserved": 13, "private": 14, "reclaim": 16, "swapbacked": 17,
    },
}  # fmt: skip

# The 3.19-4.5 PFN line prints twelve one-character slots (K E R U D L A S W C B M).
_SLOTS: Final = (
    ("locked", "K"), ("error", "E"), ("referenced", "R"), ("uptodate", "U"), ("dirty", "D"), ("lru", "L"),
    ("active", "A"), ("slab", "S"), ("writeback", "W"), ("head", "C"), ("swapcache", "B"),
    ("mappedtodisk", "M"),
)  # fmt: skip


def _zone_node(pfn: int) -> tuple[int, int]:
    zone = 0 if pfn < 0x1000 else 1 if pfn < 0x100000 else 2
    return zone, 0 if pfn < 0x240000 else 1


def _page_flags(names: Sequence[str], pfn: int, era: _Era) -> str:
    zone, node = _zone_node(pfn)
    if era.flags == "slots":
        present = set(names)
        return "".join(ch if name in present else " " for name, ch in _SLOTS)
    layout = _LAYOUTS[era.layout]
    kept = sorted((n for n in names if n in layout), key=layout.__getitem__)
    # The node, zone and last-cpupid fields sit above the flag bits of page->flags.
    value = sum(1 << layout[n] for n in kept) | (0x1FFFFF << 30) | (zone << 51) | (node << 53)
    if era.flags == "names":
        return f"{value:#x}({'|'.join(kept)})"
    return f"{value:#x}({'|'.join([*kept, f'node={node}', f'zone={zone}', 'lastcpupid=0x1fffff'])})"


# --- stack vocabulary -----------------------------------------------------------------------------

# Tokens starting with "@" expand to the frames of a kernel generation (later
# generations inherit from earlier ones); "fn[mod]" is a module frame.
_BASE_TOKENS: Final[dict[str, tuple[str, ...]]] = {
    "@A": ("get_page_from_freelist", "__alloc_pages_nodemask"),
    "@AS": ("get_page_from_freelist", "__alloc_pages_slowpath", "__alloc_pages_nodemask"),
    "@AP": ("prep_new_page", "get_page_from_freelist", "__alloc_pages_nodemask"),
    "@P": ("alloc_pages_current",),
    "@F": ("__page_cache_alloc",),
    "@V": ("alloc_pages_vma",),
    "@BULK": ("get_page_from_freelist", "__alloc_pages_nodemask"),
    "@VAA": (),
    "@VAN": ("__vmalloc_area_node",),
    "@VMR": ("__vmalloc_node_range",),
    "@VN": ("__vmalloc_node",),
    "@KMC": ("kmem_cache_alloc",),
    "@KM": ("__kmalloc",),
    "@KMN": ("kmem_cache_alloc_node",),
    "@KML": ("kmem_cache_alloc_lru",),
    "@SLAB": ("allocate_slab", "new_slab", "___slab_alloc", "__slab_alloc"),
    "@SYS": ("do_syscall_64", "entry_SYSCALL_64_after_hwframe"),
    "@PF": ("__do_page_fault", "do_page_fault", "page_fault"),
    "@HMF": ("__handle_mm_fault", "handle_mm_fault"),
    "@RF": ("kthread", "ret_from_fork"),
    "@WQ": ("process_one_work", "worker_thread", "kthread", "ret_from_fork"),
    "@SIRQ": ("__do_softirq",),
    "@IRQ": ("irq_exit", "do_IRQ", "ret_from_intr"),
    "@MP": ("mempool_alloc",),
    "@EARLY": ("register_early_stack", "init_page_owner", "page_ext_init", "kernel_init_freeable"),
}
_GEN_TOKENS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "g3": {"@SYS": ("system_call_fastpath",)},
    "g4": {},
    "g5": {
        "@PF": ("do_user_addr_fault", "exc_page_fault", "asm_exc_page_fault"),
        "@IRQ": ("irq_exit_rcu", "common_interrupt", "asm_common_interrupt"),
    },
    "g6": {
        "@A": ("post_alloc_hook", "get_page_from_freelist", "__alloc_pages"),
        "@AS": ("post_alloc_hook", "get_page_from_freelist", "__alloc_pages_slowpath.constprop.0", "__alloc_pages"),
        "@AP": ("post_alloc_hook", "get_page_from_freelist", "__alloc_pages"),
        "@P": ("alloc_pages",),
        "@F": ("folio_alloc",),
        "@V": ("vma_alloc_folio",),
        "@BULK": ("post_alloc_hook", "__alloc_pages_bulk"),
        "@VAA": ("vm_area_alloc_pages",),
        "@SLAB": ("allocate_slab", "___slab_alloc", "__slab_alloc.constprop.0"),
        "@EARLY": ("register_early_stack", "init_page_owner", "page_alloc_init_late", "kernel_init_freeable"),
    },
    "g67": {
        "@RF": ("kthread", "ret_from_fork", "ret_from_fork_asm"),
        "@WQ": ("process_one_work", "worker_thread", "kthread", "ret_from_fork", "ret_from_fork_asm"),
    },
    "g26": {
        "@A": ("post_alloc_hook", "get_page_from_freelist", "__alloc_pages_noprof"),
        "@AS": (
            "post_alloc_hook", "get_page_from_freelist", "__alloc_pages_slowpath.constprop.0",
            "__alloc_pages_noprof",
        ),
        "@AP": ("post_alloc_hook", "get_page_from_freelist", "__alloc_pages_noprof"),
        "@P": ("alloc_pages_mpol_noprof",),
        "@F": ("filemap_alloc_folio_noprof",),
        "@V": ("vma_alloc_folio_noprof",),
        "@BULK": ("post_alloc_hook", "alloc_pages_bulk_noprof"),
        "@VMR": ("__vmalloc_node_range_noprof",),
        "@VN": ("__vmalloc_node_noprof",),
        "@KMC": ("kmem_cache_alloc_noprof",),
        "@KM": ("__kmalloc_noprof",),
        "@KMN": ("kmem_cache_alloc_node_noprof",),
        "@KML": ("kmem_cache_alloc_lru_noprof",),
        "@SLAB": ("allocate_slab", "___slab_alloc", "__slab_alloc.isra.0"),
        "@SIRQ": ("handle_softirqs",),
        "@MP": ("mempool_alloc_noprof",),
    },
}  # fmt: skip
_GEN_PARENT: Final = {"g3": None, "g4": None, "g5": "g4", "g6": "g5", "g67": "g6", "g26": "g67"}


@lru_cache(maxsize=8)
def _tokens(gen: str) -> dict[str, tuple[str, ...]]:
    parent = _GEN_PARENT[gen]
    base = dict(_BASE_TOKENS) if parent is None else dict(_tokens(parent))
    base.update(_GEN_TOKENS[gen])
    return base


@dataclass(frozen=True)
class _Category:
    """A family of stacks with the same allocation properties."""

    name: str
    share: float  # fraction of the pool's stacks
    use: float  # how often its stacks are used, relative to others of the same Zipf rank
    gfp: tuple[tuple[int, str], ...]
    orders: tuple[tuple[int, float], ...]
    flags: tuple[tuple[str, ...], ...]  # page-flag variants
    memcg: str  # "none", "user" (Charged to), "kmem" (Charged (via objcg) to), "slab" (Slab cache page)
    procs: str  # default process class; a top may override it with "K:", "U:", "Q:", "V:", "I:"
    prefixes: tuple[str, ...]
    paths: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...]  # (cores, mids, tops) groups


_SYS = "@SYS"
_CLONE = "copy_process kernel_clone __do_sys_clone @SYS"
_EXEC = "bprm_execve do_execveat_common.isra.0 __x64_sys_execve @SYS"
_OPEN = "path_openat do_filp_open do_sys_openat2 __x64_sys_openat @SYS"
_KVM_RUN = (
    "kvm_mmu_page_fault[kvm] vmx_handle_exit[kvm_intel] vcpu_enter_guest.constprop.0[kvm] vcpu_run[kvm] "
    "kvm_arch_vcpu_ioctl_run[kvm] kvm_vcpu_ioctl[kvm] __x64_sys_ioctl @SYS"
)
_KVM_GUP = "V:hva_to_pfn[kvm] kvm_faultin_pfn[kvm] kvm_tdp_page_fault[kvm] " + _KVM_RUN
_RX = "__napi_poll net_rx_action @SIRQ"
_LOOKUP = (
    "path_lookupat filename_lookup vfs_statx __do_sys_newfstatat @SYS",
    "link_path_walk.part.0.constprop.0 " + _OPEN,
    "path_lookupat filename_lookup user_path_at_empty do_faccessat @SYS",
    "lookup_open.isra.0 open_last_lookups " + _OPEN,
)

# A category's stacks are every prefix x (core x mid x top of one path group), shuffled:
# the groups keep callers with the callees they really call.
_CATEGORIES: Final[tuple[_Category, ...]] = (
    _Category(
        "pagecache", 0.22, 1.0,
        ((0x140CCA, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"), (0x100CCA, "GFP_HIGHUSER_MOVABLE"),
         (0x52C4A, "GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP")),
        ((0, 0.95), (2, 0.03), (4, 0.02)),
        (("referenced", "uptodate", "lru", "active"), ("uptodate", "lru"),
         ("referenced", "uptodate", "lru", "workingset", "mappedtodisk"), ("uptodate", "dirty", "lru")),
        "user", "U",
        ("@A @P", "@A", "@AS @P"),
        (
            (("@F page_cache_ra_unbounded", "@F page_cache_ra_order", "@F filemap_alloc_folio page_cache_ra_unbounded",
              "@F page_cache_ra_unbounded page_cache_sync_ra"),
             ("filemap_get_pages filemap_read generic_file_read_iter ext4_file_read_iter",
              "filemap_get_pages filemap_read xfs_file_buffered_read[xfs] xfs_file_read_iter[xfs]",
              "filemap_get_pages filemap_read btrfs_file_read_iter[btrfs]",
              "filemap_get_pages filemap_read blkdev_read_iter"),
             ("vfs_read ksys_read @SYS", "vfs_read __x64_sys_pread64 @SYS",
              "io_read io_issue_sqe io_submit_sqes __do_sys_io_uring_enter @SYS",
              "splice_direct_to_actor do_splice_direct do_sendfile __x64_sys_sendfile64 @SYS",
              "K:lo_rw_aio[loop] loop_process_work[loop] @WQ")),
            (("@F page_cache_ra_order", "@F page_cache_ra_unbounded", "@F __filemap_get_folio"),
             ("filemap_fault __do_fault do_read_fault do_fault @HMF",
              "filemap_fault __do_fault do_cow_fault do_fault @HMF",
              "filemap_fault __do_fault do_shared_fault do_fault @HMF"),
             ("@PF", "__get_user_pages get_user_pages_remote get_arg_page copy_string_kernel kernel_execve "
              "call_usermodehelper_exec_async ret_from_fork", "__get_user_pages populate_vma_page_range __mm_populate "
              "vm_mmap_pgoff ksys_mmap_pgoff @SYS")),
            (("@F __filemap_get_folio", "@F __filemap_get_folio pagecache_get_page"),
             ("ext4_da_write_begin generic_perform_write ext4_buffered_write_iter ext4_file_write_iter",
              "iomap_write_begin iomap_write_iter iomap_file_buffered_write xfs_file_buffered_write[xfs]",
              "shmem_get_folio_gfp shmem_write_begin generic_perform_write shmem_file_write_iter"),
             ("vfs_write ksys_write @SYS", "vfs_write __x64_sys_pwrite64 @SYS",
              "io_write io_issue_sqe io_submit_sqes __do_sys_io_uring_enter @SYS")),
        ),
    ),
    _Category(
        "anon", 0.20, 1.0,
        ((0x140DCA, "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO"), (0x100DCA, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
         (0x100CCA, "GFP_HIGHUSER_MOVABLE")),
        ((0, 0.97), (2, 0.02), (4, 0.01)),
        (("referenced", "uptodate", "dirty", "lru", "active", "swapbacked"),
         ("uptodate", "dirty", "lru", "swapbacked"), ("referenced", "uptodate", "lru", "swapbacked")),
        "user", "U",
        ("@A", "@A @P", "@AS"),
        (
            (("@V do_anonymous_page", "@V wp_page_copy do_wp_page", "@V alloc_anon_folio do_anonymous_page",
              "@V __read_swap_cache_async swap_cluster_readahead swapin_readahead do_swap_page"),
             ("@HMF",),
             ("@PF",)),
            (("@V do_anonymous_page", "@V wp_page_copy do_wp_page", "@V alloc_anon_folio do_anonymous_page"),
             ("@HMF __get_user_pages populate_vma_page_range __mm_populate",),
             ("vm_mmap_pgoff ksys_mmap_pgoff @SYS", "do_mlock __x64_sys_mlock @SYS")),
            (("@V do_anonymous_page", "@V wp_page_copy do_wp_page"),
             ("@HMF fixup_user_fault",),
             ("futex_wake_op futex_wake do_futex __x64_sys_futex @SYS",)),
            (("@V do_anonymous_page", "@V wp_page_copy do_wp_page", "@V alloc_anon_folio do_anonymous_page"),
             ("@HMF __get_user_pages get_user_pages_unlocked",
              "@HMF __get_user_pages __gup_longterm_locked pin_user_pages_remote"),
             (_KVM_GUP, "vfio_pin_pages_remote[vfio_iommu_type1] vfio_iommu_type1_ioctl[vfio_iommu_type1] "
              "__x64_sys_ioctl @SYS",
              "process_vm_rw_core.constprop.0 process_vm_rw __x64_sys_process_vm_readv @SYS")),
        ),
    ),
    _Category(
        "thp", 0.05, 0.03,
        ((0x1C24CA, "GFP_TRANSHUGE"), (0x3C24CA, "GFP_TRANSHUGE|__GFP_THISNODE"),
         (0x1C20CA, "GFP_TRANSHUGE_LIGHT")),
        ((9, 1.0),),
        (("referenced", "uptodate", "dirty", "lru", "swapbacked"), ("uptodate", "dirty", "lru", "swapbacked")),
        "user", "U",
        ("@A", "@AS"),
        (
            (("@V do_huge_pmd_anonymous_page", "@V do_huge_pmd_anonymous_page.isra.0"),
             ("@HMF", "@HMF __get_user_pages populate_vma_page_range __mm_populate",
              "@HMF __get_user_pages get_user_pages_unlocked"),
             ("@PF", "vm_mmap_pgoff ksys_mmap_pgoff @SYS", _KVM_GUP)),
            (("@V shmem_alloc_hugefolio shmem_alloc_and_add_folio shmem_get_folio_gfp shmem_fault __do_fault",),
             ("do_shared_fault do_fault @HMF",),
             ("@PF",)),
            (("alloc_charge_folio",),
             ("collapse_huge_page hpage_collapse_scan_pmd",),
             ("K:khugepaged_scan_mm_slot.constprop.0 khugepaged @RF",)),
        ),
    ),
    _Category(
        "slab", 0.18, 0.5,
        ((0x52CC0, "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP"),
         (0x52820, "GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP"),
         (0x52800, "GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP"),
         (0x52C40, "GFP_NOFS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP"),
         (0xD20C0, "__GFP_IO|__GFP_FS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC")),
        ((0, 0.55), (1, 0.15), (2, 0.12), (3, 0.18)),
        (("slab",),),
        "slab", "A",
        ("@A @P @SLAB", "@AS @P @SLAB"),
        (
            (("@KMN", "__kmem_cache_alloc_node __kmalloc_node_track_caller kmalloc_reserve"),
             ("__alloc_skb alloc_skb_with_frags sock_alloc_send_pskb unix_stream_sendmsg sock_sendmsg",
              "__alloc_skb alloc_skb_with_frags sock_alloc_send_pskb unix_dgram_sendmsg sock_sendmsg"),
             ("____sys_sendmsg ___sys_sendmsg __sys_sendmsg @SYS", "__sys_sendto __x64_sys_sendto @SYS",
              "sock_write_iter vfs_write ksys_write @SYS")),
            (("@KMC", "@KMN"),
             ("dup_task_struct", "vm_area_dup dup_mmap dup_mm.constprop.0", "anon_vma_fork dup_mmap dup_mm.constprop.0",
              "prepare_creds", "copy_sighand"),
             (_CLONE, "K:kernel_thread kthreadd ret_from_fork")),
            (("@KMC", "@KM", "kmem_cache_alloc_bulk"),
             ("kernfs_new_node __kernfs_create_file sysfs_add_file_mode_ns internal_create_group",
              "seq_open single_open_size proc_single_open do_dentry_open vfs_open",
              "alloc_pipe_info create_pipe_files __do_pipe_flags do_pipe2", "alloc_empty_file path_openat"),
             ("do_filp_open do_sys_openat2 __x64_sys_openat @SYS", "__x64_sys_pipe2 @SYS",
              "K:do_one_initcall kernel_init_freeable kernel_init ret_from_fork")),
            (("@KMC", "@KM"),
             ("__nf_conntrack_alloc[nf_conntrack] init_conntrack.constprop.0[nf_conntrack] "
              "nf_conntrack_in[nf_conntrack] "
              "nf_hook_slow ip_rcv __netif_receive_skb_one_core",
              "dst_alloc ip_route_input_slow ip_route_input_noref ip_rcv_finish_core.isra.0 ip_rcv"),
             ("Q:process_backlog " + _RX + " @IRQ", "Q:e1000_clean[e1000] " + _RX + " @IRQ",
              "Q:virtnet_poll[virtio_net] " + _RX + " run_ksoftirqd smpboot_thread_fn @RF")),
            (("@KMC", "@MP"),
             ("bio_alloc_bioset submit_bh_wbc __block_write_full_folio writepage_cb write_cache_pages do_writepages",
              "xfs_trans_alloc[xfs] xfs_vn_update_time[xfs] touch_atime filemap_read",
              "jbd2__journal_start __ext4_journal_start_sb ext4_dirty_inode __mark_inode_dirty"),
             ("K:__writeback_single_inode writeback_sb_inodes wb_writeback wb_workfn @WQ",
              "vfs_read ksys_read @SYS", "generic_update_time file_update_time ext4_page_mkwrite do_page_mkwrite @PF")),
        ),
    ),
    _Category(
        "slab_r", 0.08, 0.4,
        ((0x52CD0, "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_RECLAIMABLE"),
         (0x52830, "GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_RECLAIMABLE"),
         (0x52C50, "GFP_NOFS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_RECLAIMABLE"),
         (0xD20D0, "__GFP_IO|__GFP_FS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC|__GFP_RECLAIMABLE")),
        ((0, 0.5), (1, 0.2), (2, 0.1), (3, 0.2)),
        (("slab",),),
        "slab", "A",
        ("@A @P @SLAB", "@AS @P @SLAB"),
        (
            (("@KML", "@KMC"),
             ("__d_alloc d_alloc d_alloc_parallel __lookup_slow walk_component",
              "ext4_alloc_inode alloc_inode iget_locked __ext4_iget ext4_lookup __lookup_slow walk_component",
              "xfs_inode_alloc[xfs] xfs_iget[xfs] xfs_lookup[xfs] xfs_vn_lookup[xfs] __lookup_slow walk_component",
              "alloc_inode new_inode proc_pid_make_inode proc_pident_instantiate proc_pident_lookup __lookup_slow "
              "walk_component"),
             _LOOKUP),
            (("@KML", "@KMC"),
             ("__d_alloc d_alloc_pseudo alloc_file_pseudo", "alloc_inode new_inode_pseudo sock_alloc"),
             ("__sys_socket __x64_sys_socket @SYS", "sock_alloc_file __sys_socketpair __x64_sys_socketpair @SYS",
              "create_pipe_files __do_pipe_flags do_pipe2 __x64_sys_pipe2 @SYS")),
            (("@KML", "@KMC"),
             ("shmem_alloc_inode alloc_inode new_inode shmem_get_inode shmem_mknod",
              "radix_tree_node_alloc.constprop.0 idr_get_free idr_alloc_u32 idr_alloc_cyclic __kernfs_new_node "
              "kernfs_new_node"),
             ("vfs_mkdir do_mkdirat __x64_sys_mkdir @SYS", "K:__kernfs_create_file sysfs_add_file_mode_ns "
              "internal_create_group do_one_initcall kernel_init_freeable kernel_init ret_from_fork")),
        ),
    ),
    _Category(
        "pgtable", 0.07, 0.4,
        ((0x400DC0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO"), (0x440DC0, "GFP_KERNEL_ACCOUNT|__GFP_COMP|__GFP_ZERO")),
        ((0, 0.9), (1, 0.1)),
        ((),),
        "kmem", "U",
        ("@A @P", "@A"),
        (
            (("pte_alloc_one __pte_alloc", "__pmd_alloc", "__pud_alloc"),
             ("do_anonymous_page @HMF", "@HMF", "@HMF __get_user_pages populate_vma_page_range __mm_populate"),
             ("@PF", "vm_mmap_pgoff ksys_mmap_pgoff @SYS")),
            (("pte_alloc_one __pte_alloc", "__pmd_alloc", "__pud_alloc alloc_new_pud.constprop.0"),
             ("copy_pte_range copy_p4d_range copy_page_range dup_mmap dup_mm.constprop.0",
              "move_page_tables relocate_vma_down setup_arg_pages load_elf_binary"),
             (_CLONE, _EXEC)),
            (("get_zeroed_page pgd_alloc mm_init", "__get_free_pages pgd_alloc mm_init"),
             ("mm_alloc alloc_bprm", "dup_mm.constprop.0"),
             ("do_execveat_common.isra.0 __x64_sys_execve @SYS", _CLONE)),
        ),
    ),
    _Category(
        "vmalloc", 0.09, 0.4,
        ((0x2DC2, "GFP_KERNEL|__GFP_HIGHMEM|__GFP_NOWARN|__GFP_ZERO"),
         (0x2CC2, "GFP_KERNEL|__GFP_HIGHMEM|__GFP_NOWARN"),
         (0x402DC2, "GFP_KERNEL_ACCOUNT|__GFP_HIGHMEM|__GFP_NOWARN|__GFP_ZERO")),
        ((0, 1.0),),
        ((),),
        "kmem", "A",
        # page_owner_sort's VMALLOC label needs "alloc_pages" on the line right above
        # __vmalloc_node_range; the "@VAN" shape puts __vmalloc_area_node between (OTHERS).
        ("@BULK @VMR", "@A @VAA @VMR", "@BULK @VAN @VMR", "@AS @VAA @VMR"),
        (
            (("@VN",),
             ("alloc_thread_stack_node dup_task_struct",),
             (_CLONE, "K:kernel_thread kthreadd ret_from_fork")),
            (("@VN vzalloc", "@VN vmalloc", "@VN kvmalloc_node"),
             ("xt_alloc_table_info do_ipt_set_ctl[ip_tables] nf_setsockopt ip_setsockopt",
              "bpf_prog_alloc_no_stats bpf_prog_alloc bpf_prog_load __sys_bpf",
              "n_tty_open tty_ldisc_open tty_ldisc_setup tty_init_dev ptmx_open chrdev_open do_dentry_open",
              "alloc_fdtable dup_fd"),
             ("do_sock_setsockopt __sys_setsockopt __x64_sys_setsockopt @SYS", "__x64_sys_bpf @SYS", _OPEN, _CLONE)),
            (("@VN",),
             ("pcpu_create_chunk pcpu_balance_workfn", "nf_ct_alloc_hashtable[nf_conntrack] nf_conntrack_hash_resize"
              "[nf_conntrack]"),
             ("K:@WQ",)),
            (("execmem_alloc module_alloc", "module_alloc"),
             ("move_module layout_and_allocate load_module",),
             ("init_module_from_file idempotent_init_module __x64_sys_finit_module @SYS",
              "__do_sys_init_module __x64_sys_init_module @SYS")),
        ),
    ),
    _Category(
        "net", 0.05, 0.3,
        ((0x2820, "GFP_ATOMIC|__GFP_NOWARN"),
         (0xD2820, "GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC")),
        ((0, 0.7), (3, 0.3)),
        ((),),
        "none", "Q",
        ("@A @P", "@A"),
        (
            (("__page_frag_cache_refill page_frag_alloc_align __napi_alloc_skb",
              "page_pool_alloc_pages page_pool_alloc_frag", "__page_frag_cache_refill page_frag_alloc_align "
              "__netdev_alloc_skb"),
             ("e1000_alloc_rx_buffers[e1000] e1000_clean[e1000]",
              "virtnet_receive[virtio_net] virtnet_poll[virtio_net]",
              "mlx5e_post_rx_wqes[mlx5_core] mlx5e_napi_poll[mlx5_core]", "igb_alloc_rx_buffers[igb] igb_poll[igb]"),
             (_RX + " @IRQ", "K:" + _RX + " run_ksoftirqd smpboot_thread_fn @RF")),
            (("skb_page_frag_refill sk_page_frag_refill",),
             ("tcp_sendmsg_locked tcp_sendmsg inet_sendmsg sock_sendmsg", "unix_stream_sendmsg sock_sendmsg"),
             ("U:__sys_sendto __x64_sys_sendto @SYS", "U:sock_write_iter vfs_write ksys_write @SYS")),
        ),
    ),
    _Category(
        "blockio", 0.04, 0.3,
        ((0x12C00, "GFP_NOIO|__GFP_NOWARN|__GFP_NORETRY"),
         (0x12D02, "GFP_NOIO|__GFP_HIGHMEM|__GFP_NOWARN|__GFP_NORETRY|__GFP_ZERO"), (0xC00, "GFP_NOIO")),
        ((0, 1.0),),
        (("locked", "writeback"), ("writeback",), ("locked",), ()),
        "none", "K",
        ("@A @P", "@A"),
        (
            (("mempool_alloc_pages @MP bio_alloc_bioset", "@MP bounce_clone_bio"),
             ("submit_bh_wbc __block_write_full_folio writepage_cb write_cache_pages do_writepages",
              "iomap_writepages blkdev_writepages do_writepages filemap_fdatawrite_wbc"),
             ("__writeback_single_inode writeback_sb_inodes wb_writeback wb_workfn @WQ",
              "U:file_write_and_wait_range blkdev_fsync vfs_fsync_range __x64_sys_fsync @SYS")),
            (("dm_bufio_alloc_buffer[dm_bufio] dm_bufio_new[dm_bufio] new_read[dm_bufio]",),
             ("dm_bm_read_lock[dm_persistent_data] dm_tm_read_lock[dm_persistent_data]",),
             ("do_worker[dm_thin_pool] @WQ",)),
            (("xfs_buf_alloc_pages[xfs] xfs_buf_find_insert[xfs] xfs_buf_get_map[xfs] xfs_buf_read_map[xfs]",),
             ("xfs_trans_read_buf_map[xfs] xfs_btree_read_buf_block[xfs] xfs_btree_lookup_get_block[xfs]",),
             ("xfs_btree_lookup[xfs] xfs_alloc_lookup_ge[xfs] xfs_alloc_ag_vextent_near[xfs] xfs_alloc_vextent[xfs] "
              "xfs_bmapi_allocate[xfs] xfs_bmapi_convert_delalloc[xfs] xfs_map_blocks[xfs] iomap_writepages @WQ",
              "xfsaild[xfs] @RF")),
            (("@P jbd2_alloc",),
             ("jbd2_journal_write_metadata_buffer jbd2_journal_commit_transaction",),
             ("kjournald2 @RF",)),
        ),
    ),
    _Category(
        "dma", 0.03, 0.08,
        ((0xCC0, "GFP_KERNEL"), (0x2CC1, "GFP_KERNEL|GFP_DMA|__GFP_NOWARN"), (0x40CC0, "GFP_KERNEL|__GFP_COMP"),
         (0x40DC0, "GFP_KERNEL|__GFP_COMP|__GFP_ZERO")),
        ((1, 0.2), (2, 0.2), (3, 0.15), (4, 0.15), (5, 0.1), (6, 0.06), (7, 0.04), (8, 0.03), (10, 0.07)),
        ((),),
        "none", "K",
        ("@A @P", "@A", "@AS"),
        (
            (("__dma_direct_alloc_pages.constprop.0 dma_direct_alloc dma_alloc_attrs",
              "iommu_dma_alloc dma_alloc_attrs"),
             ("nvme_alloc_queue[nvme] nvme_setup_io_queues[nvme] nvme_reset_work[nvme]",
              "mlx5_frag_buf_alloc_node[mlx5_core] mlx5e_create_cq[mlx5_core] mlx5e_open_channel[mlx5_core]",
              "ahci_port_start[libahci] ata_host_start ata_host_activate"),
             ("@WQ", "local_pci_probe work_for_cpu_fn @WQ")),
            (("atomic_pool_expand __dma_atomic_pool_init dma_atomic_pool_init",
              "alloc_large_system_hash inet_hashinfo2_init tcp_init inet_init"),
             ("do_one_initcall",),
             ("I:kernel_init_freeable kernel_init ret_from_fork",)),
            (("__kmalloc_large_node __kmalloc_node", "kmalloc_large kmalloc_trace", "__get_free_pages"),
             ("i915_gem_object_get_pages_internal[i915] ____i915_gem_object_get_pages[i915]",
              "snd_dma_alloc_dir_pages[snd_pcm] snd_pcm_lib_preallocate_pages[snd_pcm]",
              "kvmalloc_node seq_read_iter"),
             ("U:drm_ioctl[drm] __x64_sys_ioctl @SYS", "U:vfs_read ksys_read @SYS")),
        ),
    ),
    _Category(
        "kvm", 0.02, 0.15,
        ((0x400CC0, "GFP_KERNEL_ACCOUNT"), (0x400DC0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO")),
        ((0, 1.0),),
        ((),),
        "kmem", "V",
        ("@A @P", "@A"),
        (
            (("__get_free_pages", "get_zeroed_page"),
             ("__kvm_mmu_topup_memory_cache[kvm] mmu_topup_memory_caches[kvm]",
              "kvm_mmu_memory_cache_alloc[kvm] kvm_mmu_get_child_sp[kvm] kvm_tdp_mmu_map[kvm]"),
             ("kvm_mmu_load[kvm] vcpu_enter_guest.constprop.0[kvm] vcpu_run[kvm] kvm_arch_vcpu_ioctl_run[kvm] "
              "kvm_vcpu_ioctl[kvm] __x64_sys_ioctl @SYS", "kvm_tdp_page_fault[kvm] " + _KVM_RUN)),
            (("__get_free_pages", "get_zeroed_page"),
             ("alloc_apic_access_page[kvm_intel] vmx_vcpu_create[kvm_intel]", "kvm_arch_vcpu_create[kvm]"),
             ("kvm_vm_ioctl_create_vcpu[kvm] kvm_vm_ioctl[kvm] __x64_sys_ioctl @SYS",)),
        ),
    ),
)  # fmt: skip
_POOL_STACKS: Final = 3000  # distinct stacks besides the early-boot one
_ZIPF_S: Final = 1.0


def _frame_size(name: str) -> int:
    return 0x30 + (zlib.crc32(name.encode()) % 0x7D0 & ~0xF)


@lru_cache(maxsize=1 << 16)
def _frame_line(name: str, callee: str, site: int) -> str:
    """One ` sym+0xoff/0xsize [mod]` line; a call site's offset is fixed by caller, callee and site."""
    module = ""
    if name.endswith("]"):
        name, module = name[:-1].split("[")
        module = f" [{module}]"
    size = _frame_size(name)
    off = 1 + zlib.crc32(f"{name}>{callee}#{site}".encode()) % (size - 1)
    return f" {name}+{off:#x}/{size:#x}{module}"


def _expand(tokens: str, gen: str) -> list[str]:
    table = _tokens(gen)
    out: list[str] = []
    for tok in tokens.split():
        out.extend(table[tok] if tok.startswith("@") else (tok,))
    return out


# --- processes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Proc:
    pid: int
    tgid: int
    comm: str
    memcg: str | None
    weight: float


_P = _Proc
_FIREFOX = "app-gnome-firefox-2301.scope"
_QEMU = "machine-qemu\\x2d1\\x2dvm1.scope"  # systemd escapes "-" in unit names as \x2d
_PROCS: Final[dict[str, tuple[_Proc, ...]]] = {
    "U": (
        _P(1, 1, "systemd", "init.scope", 2), _P(534, 534, "systemd-journal", "systemd-journald.service", 3),
        _P(998, 998, "systemd", "user@1000.service", 1), _P(1002, 1002, "(sd-pam)", "user@1000.service", 1),
        _P(1450, 1450, "sshd", "ssh.service", 1), _P(2301, 2301, "firefox", _FIREFOX, 3),
        _P(2345, 2301, "Web Content", _FIREFOX, 8), _P(2350, 2301, "DOM Worker", _FIREFOX, 2),
        _P(2890, 2890, "Isolated Web Co", _FIREFOX, 4), _P(2990, 2990, "qemu-system-x86", _QEMU, 2),
        _P(3001, 2990, "CPU 0/KVM", _QEMU, 5), _P(3002, 2990, "CPU 1/KVM", _QEMU, 5),
        _P(3400, 3400, "postgres", "postgresql@15-main.service", 4), _P(3600, 3600, "java", "app-server.service", 4),
        _P(3620, 3600, "C2 CompilerThre", "app-server.service", 1),
        _P(3625, 3600, "GC Thread#0", "app-server.service", 2),
        _P(4000, 4000, "bash", "session-2.scope", 2), _P(4200, 4200, "my,app", "session-2.scope", 1),
        _P(4321, 4300, "rs:main Q:Reg", "rsyslog.service", 1), _P(5150, 5150, "nginx", "docker-3f2a9c1b7e4d.scope", 2),
        _P(5200, 5200, "gnome-shell", "session-2.scope", 2), _P(5230, 5230, "Xwayland", "session-2.scope", 1),
    ),
    "K": (
        _P(2, 2, "kthreadd", None, 3), _P(13, 13, "ksoftirqd/0", None, 1), _P(54, 54, "kcompactd0", None, 1),
        _P(62, 62, "kswapd0", None, 4), _P(63, 63, "khugepaged", None, 1), _P(87, 87, "kworker/u8:3", None, 6),
        _P(9, 9, "kworker/0:1", None, 4), _P(112, 112, "kworker/1:1H", None, 2),
        _P(311, 311, "jbd2/nvme0n1p2-", None, 2), _P(402, 402, "xfsaild/sda1", None, 1),
    ),
    "Q": (  # softirq context: whoever was running
        _P(0, 0, "swapper/0", None, 5), _P(0, 0, "swapper/1", None, 4), _P(13, 13, "ksoftirqd/0", None, 2),
        _P(22, 22, "ksoftirqd/1", None, 2), _P(5150, 5150, "nginx", None, 1),
    ),
    "V": (_P(3001, 2990, "CPU 0/KVM", _QEMU, 1), _P(3002, 2990, "CPU 1/KVM", _QEMU, 1)),
    "I": (_P(1, 1, "swapper/0", None, 1),),  # pid 1 before it execs init
}  # fmt: skip
_PROCS["A"] = _PROCS["U"] + _PROCS["K"]
_CLASSES: Final = ("U", "K", "Q", "V", "I", "A")
_OFFLINE_MEMCGS: Final = ("session-1.scope", "run-r8d1e7c0a52b14e3f.scope", "docker-9b1c4e2f7a3d.scope")


# --- the pool -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """Everything per stack, indexed by stack id; id 0 is the early-boot stack."""

    lines: tuple[tuple[str, ...], ...]
    order: np.ndarray[Any, np.dtype[np.int64]]
    mask: tuple[int, ...]
    gfp_names: tuple[str, ...]
    mt: np.ndarray[Any, np.dtype[np.int64]]  # page migratetype from the mask
    flags: tuple[tuple[tuple[str, ...], ...], ...]  # page-flag variants
    memcg: tuple[str, ...]
    cls: np.ndarray[Any, np.dtype[np.int64]]  # index into _CLASSES
    handle: tuple[int, ...]
    # Zipf pickers: per migratetype pool (Unmovable, Movable, Reclaimable) and all.
    pick_ids: tuple[np.ndarray[Any, np.dtype[np.int64]], ...]
    pick_cum: tuple[np.ndarray[Any, np.dtype[np.float64]], ...]
    blocktypes: np.ndarray[Any, np.dtype[np.int64]]  # pageblock -> migratetype, periodic


_BLOCK_PERIOD: Final = 1024  # pageblocks, 2 GiB


def _migratetype(mask: int) -> int:
    return _MOVABLE if mask & _GFP_MOVABLE else _RECLAIMABLE if mask & _GFP_RECLAIMABLE else _UNMOVABLE


@lru_cache(maxsize=64)
def _cdf(weights: tuple[float, ...]) -> list[float]:
    # Computed as numpy's Generator.choice(p=...) does, so one uniform draw picks the same item.
    w = np.array(weights, dtype=float)
    cdf = (w / w.sum()).cumsum()
    cdf /= cdf[-1]
    return [float(x) for x in cdf]


def _weighted(rng: np.random.Generator, pairs: Sequence[tuple[Any, float]]) -> Any:
    return pairs[bisect.bisect_right(_cdf(tuple(w for _, w in pairs)), rng.random())][0]


@lru_cache(maxsize=16)
def _pool(seed: int, era_name: str) -> _Pool:
    era = _ERA_SPECS[era_name]
    # The pool's draws do not depend on the era, so one seed gives the same stacks in every era.
    rng = np.random.default_rng([seed, 0x5374_6163])
    lines: list[tuple[str, ...]] = [tuple(_frame_line(f, c, 0) for f, c in _callees(_expand("@EARLY", era.gen)))]
    order, mask, names, memcg, cls = [0], [0], [""], ["none"], [_CLASSES.index("I")]
    flags: list[tuple[tuple[str, ...], ...]] = [((),)]
    use: list[float] = []
    for cat in _CATEGORIES:
        combos = [
            (p, c, m, t)
            for p in cat.prefixes
            for cores, mids, tops in cat.paths
            for c in cores
            for m in mids
            for t in tops
        ]
        want = round(cat.share * _POOL_STACKS)
        picks = rng.permutation(len(combos))
        sites = rng.integers(0, 4, size=(want * 2, 2))
        for k in range(want):
            p, c, m, t = combos[picks[k % len(combos)]]
            pc = cat.procs
            if t[1:2] == ":":
                pc, t = t[0], t[2:]
            frames = _expand(f"{p} {c} {m} {t}", era.gen)
            # Past the first round through the combinations, vary one call site:
            # the same functions calling each other from another line.
            site_at = -1 if k < len(combos) else int(sites[k, 0]) % len(frames)
            site = 1 + int(sites[k, 1]) % 3
            stack = [_frame_line(f, cal, site if i == site_at else 0) for i, (f, cal) in enumerate(_callees(frames))]
            if rng.random() < 0.03:
                # An address kallsyms cannot name (an unloaded module, a BPF trampoline).
                at = int(rng.integers(len(stack) // 2, len(stack)))
                stack.insert(at, f" {0xFFFFFFFFC0000000 + int(rng.integers(0, 0xFFFFFFF)):#x}")
            lines.append(tuple(stack[:_STACK_DEPTH]))
            gm, gn = cat.gfp[int(rng.integers(len(cat.gfp)))]
            mask.append(gm)
            names.append(gn)
            order.append(int(_weighted(rng, cat.orders)))
            flags.append(cat.flags)
            memcg.append(cat.memcg if cat.memcg != "slab" or rng.random() < 0.4 else "none")
            cls.append(_CLASSES.index(pc))
            use.append(cat.use)
    n = len(lines)
    mt = np.array([_migratetype(m) for m in mask], dtype=np.int64)
    # Stack depot handles: distinct 32-bit values.
    handles = np.unique(rng.integers(1 << 20, 1 << 31, size=2 * n))[:n]
    handles = handles[rng.permutation(len(handles))]
    # Heavy-tailed reuse: stack k of a pool gets weight 1/rank**s for a random rank.
    weights = np.zeros(n)
    weights[1:] = np.array(use) / rng.permutation(np.arange(1, n)) ** _ZIPF_S
    pick_ids, pick_cum = [], []
    for members in (mt == _UNMOVABLE, mt == _MOVABLE, mt == _RECLAIMABLE, np.ones(n, dtype=bool)):
        ids = np.flatnonzero(members[1:]) + 1  # never the early-boot stack
        cum = np.cumsum(weights[ids])
        pick_ids.append(ids)
        pick_cum.append(cum / cum[-1])
    return _Pool(
        lines=tuple(lines),
        order=np.array(order, dtype=np.int64),
        mask=tuple(mask),
        gfp_names=tuple(names),
        mt=mt,
        flags=tuple(flags),
        memcg=tuple(memcg),
        cls=np.array(cls, dtype=np.int64),
        handle=tuple(int(h) for h in handles),
        pick_ids=tuple(pick_ids),
        pick_cum=tuple(pick_cum),
        blocktypes=_blocktypes(rng),
    )


def _callees(frames: Sequence[str]) -> list[tuple[str, str]]:
    return [(f, frames[i - 1] if i else "") for i, f in enumerate(frames)]


def _blocktypes(rng: np.random.Generator) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Pageblock migratetypes in runs, as a booted machine has them."""
    kinds = np.array([_MOVABLE, _UNMOVABLE, _RECLAIMABLE, _HIGHATOMIC])
    out = np.empty(_BLOCK_PERIOD, dtype=np.int64)
    at = 0
    while at < _BLOCK_PERIOD:
        run = int(rng.geometric(1 / 6))
        out[at : at + run] = kinds[rng.choice(4, p=[0.62, 0.26, 0.1, 0.02])]
        at += run
    # The first pageblocks hold every type, so that a dump of a few hundred
    # records already shows them all; then a 64 MiB CMA area further up.
    out[:8] = (_UNMOVABLE, _CMA, _MOVABLE, _RECLAIMABLE, _UNMOVABLE, _MOVABLE, _HIGHATOMIC, _MOVABLE)
    out[600:632] = _CMA
    return out


# --- drawing records --------------------------------------------------------------------------------


@dataclass
class _State:
    cursor: int = 0x100  # first PFN after the BIOS area
    early_ts: int = 1_059_234_123


@dataclass
class _Batch:
    stack: list[int]
    proc: list[int]
    pfn: list[int]
    blocktype: list[int]
    ts: list[int]
    free_ts: list[int]
    migrate: list[int]  # index into MIGRATE_REASONS, or -1
    charged: list[int]  # 1 if a charged memcg is offline
    flagvar: list[int]
    zone_node: list[int]


_ALL_PROCS: Final[tuple[_Proc, ...]] = tuple(p for c in _CLASSES for p in _PROCS[c])
_CLASS_BASE: Final = tuple(sum(len(_PROCS[c]) for c in _CLASSES[:i]) for i in range(len(_CLASSES)))


def _draw_batch(pool: _Pool, era: _Era, seed: int, number: int, state: _State) -> _Batch:
    rng = np.random.default_rng([seed, number, 0x4261_7463])
    n = _BATCH
    u = rng.random((6, n))
    picks = [ids[np.minimum(np.searchsorted(cum, u[k]), len(ids) - 1)].tolist()
             for k, (ids, cum) in enumerate(zip(pool.pick_ids, pool.pick_cum, strict=True))]  # fmt: skip
    # Mostly the next pages are in use too; else a run of free pages lies between.
    gaps = np.where(u[4] < 0.7, 0, rng.geometric(1 / 8, size=n)).tolist()
    off_type = (u[5] < 0.04).tolist()
    early_start = (rng.random(n) < (0.004 if era.early else 0.0)).tolist()
    early_len = rng.geometric(1 / 48, size=n).tolist()

    table = pool.blocktypes.tolist()
    orders = pool.order.tolist()
    mt = pool.mt.tolist()
    by_type = (picks[0], picks[1], picks[2], picks[0], picks[1])  # HighAtomic -> Unmovable, CMA -> Movable
    cursor = state.cursor
    stack = [0] * n
    pfn = [0] * n
    early = np.zeros(n, dtype=bool)
    left = 0
    for i in range(n):
        bt = table[(cursor >> _PAGEBLOCK_ORDER) % _BLOCK_PERIOD]
        if left and bt == _UNMOVABLE:
            left -= 1
            early[i] = True
            pfn[i] = cursor
            cursor += 1
            continue
        left = 0
        if bt == _UNMOVABLE and early_start[i]:
            left = early_len[i] - 1
            early[i] = True
            pfn[i] = cursor
            cursor += 1
            continue
        s = picks[3][i] if off_type[i] and bt != _CMA else by_type[bt][i]
        # A CMA area lends its pages to movable allocations, but most of it stays free.
        gap = gaps[i] * 16 + 1 if bt == _CMA else gaps[i]
        for movable_only in (False, True):
            if movable_only:
                s = picks[_MOVABLE][i]
            size = 1 << orders[s]
            p = (cursor + gap + size - 1) & -size
            if _PCI_HOLE[0] <= p < _PCI_HOLE[1] or _PCI_HOLE[0] <= p + size - 1 < _PCI_HOLE[1]:
                p = _PCI_HOLE[1]
            # The gap or the alignment may have led into a CMA pageblock: only movable pages go there.
            if table[(p >> _PAGEBLOCK_ORDER) % _BLOCK_PERIOD] != _CMA or mt[s] == _MOVABLE:
                break
        stack[i] = s
        pfn[i] = p
        cursor = p + size
    state.cursor = cursor

    stacks = np.array(stack, dtype=np.int64)
    pfns = np.array(pfn, dtype=np.int64)
    blocktype = pool.blocktypes[(pfns >> _PAGEBLOCK_ORDER) % _BLOCK_PERIOD]

    # Processes: each stack draws from its class, with a heavy tail within the class.
    cls = pool.cls[stacks]
    proc = np.empty(n, dtype=np.int64)
    for k, c in enumerate(_CLASSES):
        members = _PROCS[c]
        w = np.array([p.weight for p in members])
        chosen = rng.choice(len(members), size=n, p=w / w.sum())
        sel = cls == k
        proc[sel] = _CLASS_BASE[k] + chosen[sel]

    # Allocation times: a burst during boot, the rest over two hours of uptime.
    boot = rng.random(n) < 0.25
    ts = np.where(boot, rng.uniform(1.1e9, 30e9, n), rng.uniform(30e9, 7.2e12, n)).astype(np.int64)
    n_early = int(early.sum())
    early_ts = state.early_ts + np.cumsum(rng.integers(250, 1200, size=n_early))
    ts[early] = early_ts
    if n_early:
        state.early_ts = int(early_ts[-1])
    # free_ts is the page's previous free: 0 if never freed, else usually before ts.
    fkind = rng.random(n)
    before = ts - (rng.random(n) * (ts - 1_000_000_000)).astype(np.int64) - 1
    after = ts + rng.integers(1, 5_000_000_000, size=n)
    free_ts = np.where(fkind < 0.45, 0, np.where(fkind < 0.997, before, after))
    movable = pool.mt[stacks] == _MOVABLE
    migrated = movable & (rng.random(n) < 0.03) & ~early & era.migrate
    mw = np.array(_MIGRATE_WEIGHTS, dtype=float)
    reason = np.where(migrated, rng.choice(len(MIGRATE_REASONS), size=n, p=mw / mw.sum()), -1)
    free_ts = np.where(migrated, ts, free_ts)  # migration copies the old ts into free_ts
    free_ts[early] = 0
    offline = rng.random(n) < 0.04
    flagvar = rng.integers(0, 1 << 16, size=n)
    zone = np.where(pfns < 0x1000, 0, np.where(pfns < 0x100000, 1, 2))
    node = (pfns >= 0x240000).astype(np.int64)
    return _Batch(
        stack=stacks.tolist(),
        proc=proc.tolist(),
        pfn=pfn,
        blocktype=blocktype.tolist(),
        ts=ts.tolist(),
        free_ts=free_ts.tolist(),
        migrate=reason.tolist(),
        charged=offline.astype(np.int64).tolist(),
        flagvar=flagvar.tolist(),
        zone_node=(zone + 3 * node).tolist(),
    )


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise UsageError(f"the seed must not be negative, got {seed}")


def _batches(seed: int, era: _Era) -> Iterator[tuple[_Pool, _Batch]]:
    pool = _pool(seed, era.name)
    state = _State()
    number = 0
    while True:
        yield pool, _draw_batch(pool, era, seed, number, state)
        number += 1


# --- records and their text ---------------------------------------------------------------------


def _flag_names(pool: _Pool, s: int, variant: int) -> tuple[str, ...]:
    variants = pool.flags[s]
    names = variants[variant % len(variants)]
    if pool.order[s] and pool.mask[s] & _GFP_COMP:
        names = (*names, "head")
    return names


def _memcg(
    pool: _Pool, era: _Era, s: int, proc: _Proc, offline: bool
) -> tuple[bool | None, str | None, bool | None, bool | None]:
    """slab_cache_page, memcg, via_objcg, offline for one record."""
    if not era.memcg:
        return None, None, None, None
    kind = pool.memcg[s]
    # Kernel threads charge nothing; a slab page of an accounted cache says only "Slab cache page".
    if kind == "none" or proc.memcg is None:
        return False, None, None, None
    if kind == "slab":
        return True, None, None, None
    name = _OFFLINE_MEMCGS[proc.pid % len(_OFFLINE_MEMCGS)] if offline else proc.memcg
    return False, name, kind == "kmem", offline


def _record(pool: _Pool, era: _Era, b: _Batch, i: int) -> SynthRecord:
    s, proc = b.stack[i], _ALL_PROCS[b.proc[i]]
    pfn = b.pfn[i]
    slab, memcg, via, off = _memcg(pool, era, s, proc, bool(b.charged[i]))
    return SynthRecord(
        order=int(pool.order[s]),
        gfp_mask=pool.mask[s],
        gfp_flags=pool.gfp_names[s] if era.gfp_names else None,
        pid=proc.pid if era.pid else None,
        tgid=proc.tgid if era.tgid_comm else None,
        comm=proc.comm if era.tgid_comm else None,
        ts=b.ts[i] if era.ts else None,
        free_ts=b.free_ts[i] if era.free_ts else None,
        pfn=pfn,
        migratetype=MIGRATETYPES[int(pool.mt[s])],
        block=pfn >> _PAGEBLOCK_ORDER,
        block_migratetype=MIGRATETYPES[b.blocktype[i]],
        page_flags=_page_flags(_flag_names(pool, s, b.flagvar[i]), pfn, era),
        stack=pool.lines[s],
        handle=pool.handle[s] if era.handle else None,
        migrate_reason=MIGRATE_REASONS[b.migrate[i]] if b.migrate[i] >= 0 else None,
        slab_cache_page=slab,
        memcg=memcg,
        memcg_via_objcg=via,
        memcg_offline=off,
    )


def generate_records(n: int, *, seed: int = 0, era: str = "5.18") -> list[SynthRecord]:
    """The first ``n`` records of the dump ``write_dump`` makes with the same seed and era."""
    spec = _era(era)
    _check_seed(seed)
    if n < 0:
        raise UsageError(f"`n` must not be negative, got {n}")
    out: list[SynthRecord] = []
    if n == 0:
        return out
    for pool, batch in _batches(seed, spec):
        take = min(n - len(out), _BATCH)
        out.extend(_record(pool, spec, batch, i) for i in range(take))
        if len(out) >= n:
            return out
    raise AssertionError("unreachable")  # pragma: no cover


def _need(value: Any, field: str, era: _Era) -> Any:
    if value is None:
        raise UsageError(f"era `{era.name}` prints `{field}`, but the record has none")
    return value


def render_record(rec: SynthRecord, *, era: str) -> str:
    """The record's text as the era's kernel prints it, without the blank line after it.

    ``page_flags`` and ``stack`` are era-specific text and are printed as they are;
    the era decides which header fields and trailers appear.  A field the era
    prints but the record lacks (None) raises :class:`UsageError`.
    """
    e = _era(era)
    parts = [f"Page allocated via order {rec.order}, mask {rec.gfp_mask:#x}"]
    if e.gfp_names:
        parts.append(f"({_need(rec.gfp_flags, 'gfp_flags', e)})")
    if e.pid:
        parts.append(f", pid {_need(rec.pid, 'pid', e)}")
    if e.tgid_comm:
        parts.append(f", tgid {_need(rec.tgid, 'tgid', e)} ({_need(rec.comm, 'comm', e)})")
    if e.ts:
        parts.append(f", ts {_need(rec.ts, 'ts', e)} ns")
    if e.free_ts:
        parts.append(f", free_ts {_need(rec.free_ts, 'free_ts', e)} ns")
    parts.append("\n")
    if e.pfn == "legacy":
        fallback = "Fallback" if rec.migratetype != rec.block_migratetype else "        "
        parts.append(
            f"PFN {rec.pfn} Block {rec.block} type {MIGRATETYPES.index(rec.block_migratetype)} {fallback} "
            f"Flags {rec.page_flags}\n"
        )
    else:
        pfn = f"{rec.pfn:#x}" if e.pfn == "hex" else str(rec.pfn)
        parts.append(
            f"PFN {pfn} type {rec.migratetype} Block {rec.block} type {rec.block_migratetype} Flags {rec.page_flags}\n"
        )
    parts.extend(f"{line}\n" for line in rec.stack)
    if e.handle and rec.handle is not None:
        parts.append(f"handle: {rec.handle}\n")
    if e.migrate and rec.migrate_reason is not None:
        parts.append(f"Page has been migrated, last migrate reason: {rec.migrate_reason}\n")
    if e.memcg:
        if rec.slab_cache_page:
            parts.append("Slab cache page\n")
        if rec.memcg is not None:
            via = "(via objcg) " if rec.memcg_via_objcg else ""
            off = "offline " if rec.memcg_offline else ""
            parts.append(f"Charged {via}to {off}memcg {rec.memcg}\n")
    return "".join(parts)


# --- the fast path --------------------------------------------------------------------------------


class _Texts:
    """Per-stack and per-process pieces of the text, built once per (seed, era)."""

    def __init__(self, pool: _Pool, era: _Era) -> None:
        self.era = era
        self.pool = pool
        self.head = [
            f"Page allocated via order {o}, mask {m:#x}" + (f"({g})" if era.gfp_names else "")
            for o, m, g in zip(pool.order.tolist(), pool.mask, pool.gfp_names, strict=True)
        ]
        self.who = [
            (f", pid {p.pid}" if era.pid else "") + (f", tgid {p.tgid} ({p.comm})" if era.tgid_comm else "")
            for p in _ALL_PROCS
        ]
        handle = [f"handle: {h}\n" if era.handle else "" for h in pool.handle]
        self.body = ["".join(f"{x}\n" for x in lines) + h for lines, h in zip(pool.lines, handle, strict=True)]
        self.mt = [MIGRATETYPES[m] for m in pool.mt.tolist()]
        self.mt_index = pool.mt.tolist()
        self.migrate = [
            *(f"Page has been migrated, last migrate reason: {r}\n" for r in MIGRATE_REASONS),
            "",  # index -1
        ]
        self.flags: dict[int, str] = {}
        self.trailer: dict[tuple[int, int, int], str] = {}

    def page_flags(self, s: int, variant: int, zone_node: int) -> str:
        key = (s * 65536 + variant % len(self.pool.flags[s])) * 8 + zone_node
        got = self.flags.get(key)
        if got is None:
            # _page_flags wants a PFN; any PFN of the same zone and node prints the same.
            zone, node = zone_node % 3, zone_node // 3
            pfn = (0x10, 0x1000, 0x100000)[zone] if node == 0 else 0x240000
            got = self.flags[key] = _page_flags(_flag_names(self.pool, s, variant), pfn, self.era)
        return got

    def memcg_lines(self, s: int, p: int, offline: int) -> str:
        key = (s, p, offline)
        got = self.trailer.get(key)
        if got is None:
            slab, memcg, via, off = _memcg(self.pool, self.era, s, _ALL_PROCS[p], bool(offline))
            got = "Slab cache page\n" if slab else ""
            if memcg is not None:
                got += f"Charged {'(via objcg) ' if via else ''}to {'offline ' if off else ''}memcg {memcg}\n"
            self.trailer[key] = got
        return got


@lru_cache(maxsize=16)
def _texts(seed: int, era_name: str) -> _Texts:
    return _Texts(_pool(seed, era_name), _ERA_SPECS[era_name])


def _render_batch(t: _Texts, b: _Batch) -> list[str]:
    """Each record's text plus its blank line; the same bytes as render_record, much faster."""
    e = t.era
    head, who, body, mt, mig = t.head, t.who, t.body, t.mt, t.migrate
    flags, memcg = t.page_flags, t.memcg_lines
    names = MIGRATETYPES
    out: list[str] = []
    append = out.append
    rows = zip(b.stack, b.proc, b.pfn, b.blocktype, b.ts, b.free_ts, b.migrate, b.charged, b.flagvar, b.zone_node,
               strict=True)  # fmt: skip
    if e.pfn == "legacy":
        mti = t.mt_index
        for s, _p, pfn, bt, _ts, _fts, _m, _c, fv, zn in rows:
            fb = "Fallback" if mti[s] != bt else "        "
            append(f"{head[s]}\nPFN {pfn} Block {pfn >> 9} type {bt} {fb} Flags {flags(s, fv, zn)}\n{body[s]}\n")
        return out
    pf = "#x" if e.pfn == "hex" else "d"
    if e.ts and e.free_ts:
        for s, p, pfn, bt, ts, fts, m, c, fv, zn in rows:
            append(
                f"{head[s]}{who[p]}, ts {ts} ns, free_ts {fts} ns\n"
                f"PFN {pfn:{pf}} type {mt[s]} Block {pfn >> 9} type {names[bt]} Flags {flags(s, fv, zn)}\n"
                f"{body[s]}{mig[m]}{memcg(s, p, c)}\n"
            )
    elif e.ts:
        for s, p, pfn, bt, ts, _fts, m, c, fv, zn in rows:
            append(
                f"{head[s]}{who[p]}, ts {ts} ns\n"
                f"PFN {pfn:{pf}} type {mt[s]} Block {pfn >> 9} type {names[bt]} Flags {flags(s, fv, zn)}\n"
                f"{body[s]}{mig[m]}{memcg(s, p, c)}\n"
            )
    else:
        for s, p, pfn, bt, _ts, _fts, m, c, fv, zn in rows:
            append(
                f"{head[s]}{who[p]}\n"
                f"PFN {pfn:{pf}} type {mt[s]} Block {pfn >> 9} type {names[bt]} Flags {flags(s, fv, zn)}\n"
                f"{body[s]}{mig[m]}{memcg(s, p, c)}\n"
            )
    return out


# --- writing ------------------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def close(self) -> None: ...


def _compressed(raw: IO[bytes], compression: str | None) -> _Sink:
    """A writer over ``raw``; closing it finishes the stream but leaves ``raw`` open."""
    if compression is None:
        return raw
    if compression == "gzip":
        # mtime=0 and no file name keep the bytes a function of the seed alone.
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="")
    if compression == "zstd":
        import zstandard

        writer: _Sink = zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
        return writer
    if compression == "xz":
        return lzma.LZMAFile(raw, "wb", preset=6)
    raise UsageError(f"unknown compression `{compression}`; use one of: gzip, zstd, xz")


def write_dump(
    dest: str | os.PathLike[str] | BinaryIO,
    *,
    records: int | None = None,
    size: int | None = None,
    seed: int = 0,
    era: str = "5.18",
    compression: str | None = None,
) -> int:
    """Write a synthetic dump and return how many records it holds.

    Each record is followed by one blank line.  Writing stops after ``records``
    records, or after the record that brings the (uncompressed) text to
    ``size`` bytes or more, whichever comes first.  A path is created or
    truncated; an open binary file is written to and left open.
    """
    spec = _era(era)
    _check_seed(seed)
    if records is None and size is None:
        raise UsageError("give `records` or `size`")
    if (records is not None and records < 0) or (size is not None and size < 0):
        raise UsageError("`records` and `size` must not be negative")
    if compression is not None and compression not in COMPRESSIONS:
        raise UsageError(f"unknown compression `{compression}`; use one of: gzip, zstd, xz")
    limit = records if records is not None else sys.maxsize
    budget = size if size is not None else sys.maxsize
    raw: IO[bytes]
    if isinstance(dest, (str, os.PathLike)):
        raw = open(dest, "wb")  # noqa: SIM115  (closed below, after the compressor)
        owned = True
    else:
        raw, owned = dest, False
    written = 0
    done_bytes = 0
    try:
        out = _compressed(raw, compression)
        try:
            texts = _texts(seed, spec.name)
            for _, batch in _batches(seed, spec):
                if written >= limit or done_bytes >= budget:
                    break
                chunk = _render_batch(texts, batch)[: limit - written]
                ends = list(accumulate(map(len, chunk), initial=done_bytes))[1:]
                # The record that reaches the budget is the last one written.
                cut = bisect.bisect_left(ends, budget) + 1
                chunk = chunk[:cut]
                out.write("".join(chunk).encode())
                written += len(chunk)
                done_bytes = ends[len(chunk) - 1]
        finally:
            if out is not raw:
                out.close()
    finally:
        if owned:
            raw.close()
    return written


# --- command line -----------------------------------------------------------------------------------

_UNITS: Final = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``"1G"`` -> 1073741824: a byte count with an optional binary K/M/G/T suffix (``B``/``iB`` allowed)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _UNITS and t[-1:] else ""
    number = t[: len(t) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"bad size `{text}`: use a number with an optional K, M, G or T") from None
    if value < 0:
        raise UsageError(f"bad size `{text}`: it is negative")
    return int(value * _UNITS[unit])


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _guess_compression(path: str) -> str | None:
    for suffix, name in ((".gz", "gzip"), (".zst", "zstd"), (".xz", "xz")):
        if path.endswith(suffix):
            return name
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pagecols.synth OUT --size 1G --seed 1 --era 5.18 [--compression gzip]``."""
    parser = argparse.ArgumentParser(
        prog="python -m pagecols.synth",
        description="Write a seeded synthetic page_owner dump (the same options give the same bytes).",
    )
    parser.add_argument("out", help="output file, or - for stdout")
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--size", type=_size_arg, help="stop once this much text is written (e.g. 1G, 200M)")
    amount.add_argument("--records", type=int, help="number of records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--era", default="5.18", choices=[*ERAS, *ALIASES], help="kernel output format")
    parser.add_argument(
        "--compression", choices=COMPRESSIONS, default=None, help="compress the output (default: by OUT's suffix)"
    )
    args = parser.parse_args(argv)
    compression = args.compression or _guess_compression(args.out)
    try:
        if args.out == "-":
            n = write_dump(sys.stdout.buffer, records=args.records, size=args.size, seed=args.seed, era=args.era,
                           compression=compression)  # fmt: skip
            sys.stdout.buffer.flush()
        else:
            n = write_dump(args.out, records=args.records, size=args.size, seed=args.seed, era=args.era,
                           compression=compression)  # fmt: skip
    except UsageError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} records to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
