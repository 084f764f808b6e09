"""The clean ``allocator`` column says SLAB for slab pages on every kernel, 6.10+ included;
``pagecols sort`` keeps page_owner_sort v6.3's label (the ``slab`` page flag only).

The rule is in docs/page-owner-format.md ("Which allocator took a page").
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import polars as pl
import pytest
from test_parse import parse_text, record_63

import pagecols
from pagecols.parse import is_slab_stack

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE_612 = DATA / "linux-6.12-memcg.page_owner.txt.gz"

# The page allocator frames of a 6.12 slab page, as the real sample prints them.
PAGE_ALLOC_612 = (
    " get_page_from_freelist+0x330/0x1660\n __alloc_pages_noprof+0x169/0x310\n alloc_pages_mpol_noprof+0x8f/0x1e0\n"
)
NO_FLAGS_612 = (
    "PFN 0x11f8 type Unmovable Block 8 type Unmovable Flags 0xfffffc0000040(head|node=0|zone=1|lastcpupid=0x1fffff)"
)
SLAB_FLAG_63 = "PFN 262145 type Unmovable Block 512 type Unmovable Flags 0x17ffffc0000200(slab|node=0|zone=2)"


def frames(*names: str) -> str:
    return "".join(f" {n}+0x10/0x40\n" for n in names)


@pytest.mark.parametrize(
    ("stack", "slab"),
    [
        pytest.param(
            PAGE_ALLOC_612 + frames("allocate_slab", "___slab_alloc", "kmem_cache_alloc_noprof"), True, id="6.12"
        ),
        pytest.param(
            frames("post_alloc_hook", "get_page_from_freelist", "alloc_slab_page", "new_slab"), True, id="slub"
        ),
        pytest.param(frames("__alloc_pages_nodemask", "alloc_pages_current", "new_slab.isra.0"), True, id="suffix"),
        pytest.param(
            frames("__alloc_frozen_pages_noprof", "alloc_frozen_pages_noprof", "allocate_slab"), True, id="6.14"
        ),
        pytest.param(frames("__alloc_pages_nodemask", "kmem_getpages", "cache_grow_begin"), True, id="slab-allocator"),
        pytest.param(frames("__alloc_pages", "slob_new_pages", "slob_alloc"), True, id="slob"),
        pytest.param(
            " [<ffffffff81234567>] get_page_from_freelist+0x1/0x2\n [<ffffffff81234568>] allocate_slab+0x1/0x2",
            True,
            id="android-prefix",
        ),
        # A large kmalloc takes whole pages past the slab: no slab page.
        pytest.param(
            PAGE_ALLOC_612 + frames("___kmalloc_large_node", "__kmalloc_large_node_noprof"), False, id="kmalloc-large"
        ),
        # A slab frame further out does not count: the page went to what called the page allocator.
        pytest.param(frames("post_alloc_hook", "pte_alloc_one", "allocate_slab"), False, id="slab-further-out"),
        pytest.param(frames("post_alloc_hook", "get_page_from_freelist"), False, id="only-page-allocator"),
        pytest.param(frames("register_early_stack", "init_page_owner"), False, id="early"),
        pytest.param("", False, id="no-frames"),
        pytest.param(frames("__alloc_pages", "allocate_slabby"), False, id="whole-names"),
    ],
)
def test_slab_path_is_the_first_frame_past_the_page_allocator(stack: str, slab: bool) -> None:
    assert is_slab_stack(stack.rstrip("\n")) is slab


def test_a_slab_page_by_flag_trailer_or_path(tmp_path: Path) -> None:
    slab_stack = PAGE_ALLOC_612 + frames("allocate_slab", "___slab_alloc")
    early = frames("register_early_stack", "init_page_owner")
    records = [
        record_63(pfn_line=SLAB_FLAG_63),  # old kernels: the `slab` page flag
        record_63(pfn_line=NO_FLAGS_612, stack=early, trailers="Slab cache page\n"),  # the memcg trailer
        record_63(pfn_line=NO_FLAGS_612, stack=slab_stack),  # 6.10+: the allocation path
        record_63(pfn_line=NO_FLAGS_612, stack=PAGE_ALLOC_612 + frames("___kmalloc_large_node")),
        record_63(pfn_line="PFN 262144 type Movable Block 512 type CMA Flags 0x0()", stack=slab_stack),
    ]
    df = parse_text(tmp_path, "\n".join(records))
    assert df["allocator"].to_list() == ["SLAB", "SLAB", "SLAB", "OTHERS", "CMA|SLAB"]


def _slab_records_by_text(path: Path) -> tuple[int, int]:
    """Records and pages of ``path`` that a reader of the text calls slab pages, counted without pagecols."""
    records = pages = 0
    for block in gzip.decompress(path.read_bytes()).decode().split("\n\n"):
        lines = block.strip("\n").split("\n")
        if not lines[0].startswith("Page allocated"):
            continue
        symbols = [re.match(r" ([^+]+)", line).group(1) for line in lines[2:] if line.startswith(" ")]  # type: ignore[union-attr]
        caller = next(
            (
                s
                for s in symbols
                if s not in {"get_page_from_freelist", "__alloc_pages_noprof", "alloc_pages_mpol_noprof"}
            ),
            None,
        )
        if caller == "allocate_slab" or "Slab cache page" in lines or " slab" in lines[1].replace("|", " "):
            records += 1
            pages += 1 << int(re.search(r"order (\d+),", lines[0]).group(1))  # type: ignore[union-attr]
    return records, pages


def test_the_real_612_sample_has_slab_pages() -> None:
    """592 records come through allocate_slab and 6 early-boot pages carry `Slab cache page`."""
    assert _slab_records_by_text(SAMPLE_612) == (598, 936)
    top = pagecols.top(SAMPLE_612, by=["allocator"])
    slab = top.filter(pl.col("allocator") == "SLAB").row(0, named=True)
    assert (slab["allocations"], slab["pages"]) == (598, 936)


def test_every_era_of_one_machine_labels_the_same_pages_slab() -> None:
    """The synthetic eras print the same pages; mm-2026 has no `slab` flag and 3.19 spells it `S`."""
    labels = {
        era: pagecols.scan(DATA / f"synth-{era}.txt.gz")
        .select(pl.col("allocator").str.contains("SLAB"))
        .collect()
        .to_series()
        .to_list()
        for era in ("3.19", "4.6", "5.18", "6.7", "mm-2026")
    }
    assert sum(labels["6.7"]) > 0
    for era, slab in labels.items():
        assert slab == labels["6.7"], era


def test_sort_keeps_the_v63_label(tmp_path: Path) -> None:
    """page_owner_sort v6.3 looks at the `slab` flag only, so on a 6.12 dump it prints no SLAB."""
    out = tmp_path / "out.txt"
    from pagecols.compat import run_sort

    assert run_sort(["--cull=ator", str(SAMPLE_612), str(out)]) == 0
    text = out.read_text()
    assert "allocated by OTHERS" in text
    assert "SLAB" not in text
