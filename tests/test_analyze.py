"""top, diff, folded, query, cull and the decoded columns, on hand-built tables."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from test_analyze_data import PAGE_FRAMES, SLAB_FRAMES, blake, frames, int_sum, make_records

from pagecols import analyze, derive
from pagecols.errors import UsageError
from pagecols.stacks import STACKS_SCHEMA

INODE = frames(*SLAB_FRAMES, "security_inode_alloc", "alloc_inode", "new_inode")
SKB = frames(*SLAB_FRAMES, "__alloc_skb", "tcp_sendmsg")
FAULT = frames(*PAGE_FRAMES, "alloc_pages_mpol_noprof", "vma_alloc_folio_noprof", "do_anonymous_page")
# Same caller as FAULT, other offsets: a different stack, the same `where`.
FAULT2 = FAULT.replace("+0x10/", "+0x11/")
EXT4 = frames(*PAGE_FRAMES, "ext4_mb_new_blocks@ext4", "ext4_ext_map_blocks@ext4", "ksys_write")


@pytest.fixture
def dump() -> pl.DataFrame:
    rows = [
        *[{"stack": INODE, "comm": "systemd", "pid": 1}] * 3,
        {"stack": SKB, "comm": "nginx", "pid": 300, "tgid": 300, "order": 2, "memcg": "web.service"},
        {"stack": SKB, "comm": "nginx", "pid": 301, "tgid": 300, "order": 2, "memcg": "web.service"},
        {"stack": FAULT, "comm": "Web Content", "pid": 400, "tgid": 400, "migratetype": "Movable"},
        {"stack": FAULT2, "comm": "Web Content", "pid": 400, "tgid": 400, "order": 1},
        {"stack": EXT4, "comm": "dd", "pid": 500, "tgid": 500, "order": 3, "gfp_flags": "GFP_NOFS|__GFP_NOFAIL"},
    ]
    return make_records(rows)


# --- where ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "where"),
    [
        pytest.param(INODE, "security_inode_alloc", id="slab-caller"),
        pytest.param(FAULT, "do_anonymous_page", id="page-fault"),
        pytest.param(EXT4, "ext4_mb_new_blocks", id="module-frame"),
        pytest.param(
            frames(
                "__alloc_pages_bulk.constprop.0",
                "vm_area_alloc_pages",
                "__vmalloc_node_range_noprof",
                "__vmalloc_node_noprof",
                "vmalloc_huge_noprof",
                "alloc_large_system_hash",
            ),
            "alloc_large_system_hash",
            id="vmalloc-and-suffix",
        ),
        pytest.param(frames("register_early_stack", "init_page_owner"), "register_early_stack", id="early"),
        pytest.param(frames("prep_new_page", "get_page_from_freelist"), "get_page_from_freelist", id="all-allocator"),
        pytest.param(
            " [<ffffffff81234567>] post_alloc_hook+0x1/0x2\n [<ffffffff81234568>] pipe_write+0x3/0x4",
            "pipe_write",
            id="address-prefix",
        ),
        pytest.param(" post_alloc_hook+0x1/0x2\n 0xffffffffc0a01234", "0xffffffffc0a01234", id="unresolved"),
        pytest.param(frames("alloc_pages_noprof", "kmalloc_reserve", "__alloc_skb"), "__alloc_skb", id="kmalloc"),
    ],
)
def test_where_is_the_first_frame_outside_the_allocators(stack: str, where: str) -> None:
    got = pl.DataFrame({"stack": [stack]}).select(derive.where_expr()).item()
    assert got == where


def test_module_is_the_first_bracketed_module_and_drops_build_ids() -> None:
    stacks = [EXT4, INODE, " f+0x1/0x2 [xfs 0123abcd]\n g+0x1/0x2 [ext4]"]
    got = pl.DataFrame({"stack": stacks}).select(derive.module_expr()).to_series().to_list()
    assert got == ["ext4", "vmlinux", "xfs"]


# --- top ------------------------------------------------------------------------------------------


def test_top_by_stack_totals_equal_the_dump(dump: pl.DataFrame) -> None:
    out = analyze.top(dump, by="stack", n=None)
    assert out.columns == ["stack", "stack_hash", "allocations", "pages", "mib", "percent"]
    assert out["pages"].sum() == dump["pages"].sum() == 3 + 8 + 1 + 2 + 8
    assert out["allocations"].sum() == dump.height
    assert out["percent"].sum() == pytest.approx(100.0)
    # largest first; SKB and EXT4 tie on 8 pages and are then ordered by allocations
    assert out.select("stack", "allocations", "pages").rows()[:3] == [(SKB, 2, 8), (EXT4, 1, 8), (INODE, 3, 3)]
    assert out.filter(pl.col("stack") == SKB)["stack_hash"].item() == blake(SKB)
    assert out.filter(pl.col("stack") == SKB)["mib"].item() == pytest.approx(8 * 4096 / 2**20)


def test_top_n_limits_rows_but_percent_is_of_everything(dump: pl.DataFrame) -> None:
    out = analyze.top(dump, by="comm", n=2)
    assert out.rows() == [
        ("nginx", 2, 8, pytest.approx(8 * 4096 / 2**20), pytest.approx(8 / 22 * 100)),
        ("dd", 1, 8, pytest.approx(8 * 4096 / 2**20), pytest.approx(8 / 22 * 100)),
    ]


def test_top_by_where_merges_stacks_with_one_caller(dump: pl.DataFrame) -> None:
    out = analyze.top(dump, by="where", n=None)
    assert dict(zip(out["where"], out["pages"], strict=True)) == {
        "__alloc_skb": 8,
        "ext4_mb_new_blocks": 8,
        "security_inode_alloc": 3,
        "do_anonymous_page": 3,
    }
    assert out.filter(pl.col("where") == "do_anonymous_page")["allocations"].item() == 2


def test_top_by_several_keys_and_aliases(dump: pl.DataFrame) -> None:
    out = analyze.top(dump, by=["where", "gfp"], n=None)
    assert out.columns[:2] == ["where", "gfp_flags"]
    assert ("ext4_mb_new_blocks", "GFP_NOFS|__GFP_NOFAIL", 1, 8) in out.select(out.columns[:4]).rows()
    by_comma = analyze.top(dump, by="where,gfp", n=None)
    assert by_comma.equals(out)


def test_top_groups_nulls_as_their_own_group(dump: pl.DataFrame) -> None:
    out = analyze.top(dump, by="memcg", n=None)
    assert out.select("memcg", "pages").rows() == [(None, 14), ("web.service", 8)]


def test_top_by_module_and_stack_keeps_stack_hash(dump: pl.DataFrame) -> None:
    out = analyze.top(dump, by=["module", "stack"], n=1)
    assert out.columns[:3] == ["module", "stack", "stack_hash"]
    assert out.row(0)[:2] == ("vmlinux", SKB)


def test_top_unknown_key_is_a_usage_error(dump: pl.DataFrame) -> None:
    with pytest.raises(UsageError, match="unknown key `colour`"):
        analyze.top(dump, by="colour")
    with pytest.raises(UsageError, match="`record`"):
        analyze.top(dump, by="record")


# --- stacks tables --------------------------------------------------------------------------------


def stack_table(rows: list[tuple[str, int | None, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"stack": s, "stack_hash": blake(s), "pages": p, "allocations": a, "handle": None} for s, p, a in rows],
        schema=STACKS_SCHEMA,
    )


def test_top_on_a_stacks_table_keeps_unknown_allocations_null() -> None:
    table = stack_table([(INODE, 4, None), (FAULT, 6, None), (FAULT2, 2, None)])
    out = analyze.top(table, by="where", n=None)
    assert out.select("where", "allocations", "pages").rows() == [
        ("do_anonymous_page", None, 8),
        ("security_inode_alloc", None, 4),
    ]
    with pytest.raises(UsageError, match="not in a stack file"):
        analyze.top(table, by="comm")


def test_stacks_of_a_dump_match_its_stacks(dump: pl.DataFrame) -> None:
    table = analyze.stacks(dump)
    assert table.schema == STACKS_SCHEMA
    assert table["pages"].sum() == dump["pages"].sum()
    assert sorted(table["stack"].to_list()) == sorted(set(dump["stack"].to_list()))


# --- diff -----------------------------------------------------------------------------------------


def test_diff_with_itself_is_all_zero(dump: pl.DataFrame) -> None:
    for by in ("stack", "where", ["comm", "memcg"]):
        out = analyze.diff(dump, dump, by=by)
        assert out["delta_pages"].to_list() == [0] * out.height
        assert set(out["status"]) == {"same"}
        assert out["pages_old"].to_list() == out["pages_new"].to_list()


def test_diff_marks_appeared_and_vanished_and_totals_add_up(dump: pl.DataFrame) -> None:
    old = dump.filter(pl.col("stack") != EXT4)
    extra = make_records([{"stack": SKB, "order": 4}, {"stack": FAULT, "order": 0}])
    new = pl.concat([dump.filter(pl.col("stack") != INODE), extra])
    out = analyze.diff(old, new, by="stack")
    by_stack = {row["stack"]: row for row in out.iter_rows(named=True)}
    assert by_stack[SKB]["delta_pages"] == 16
    assert by_stack[SKB]["status"] == "grew"
    assert by_stack[EXT4]["status"] == "appeared"
    assert (by_stack[EXT4]["pages_old"], by_stack[EXT4]["pages_new"]) == (0, 8)
    assert by_stack[INODE]["status"] == "vanished"
    assert by_stack[INODE]["delta_pages"] == -3
    assert by_stack[FAULT2]["status"] == "same"
    changes = [abs(d) for d in out["delta_pages"].to_list()]
    assert changes == sorted(changes, reverse=True)
    totals = analyze.diff_totals(out)
    assert totals["delta_pages"].item() == int_sum(new["pages"]) - int_sum(old["pages"])
    assert totals["delta_mib"].item() == pytest.approx(totals["delta_pages"].item() * 4096 / 2**20)
    assert (totals["appeared"].item(), totals["vanished"].item()) == (1, 1)


@pytest.mark.parametrize(
    ("order", "first"),
    [
        pytest.param("change", [16, 8, -3, 1, 0], id="change"),
        pytest.param("growth", [16, 8, 1, 0, -3], id="growth"),
        pytest.param("shrinkage", [-3, 0, 1, 8, 16], id="shrinkage"),
    ],
)
def test_diff_orders(dump: pl.DataFrame, order: analyze.DiffOrder, first: list[int]) -> None:
    old = dump.filter(pl.col("stack") != EXT4)
    extra = make_records([{"stack": SKB, "order": 4}, {"stack": FAULT, "order": 0}])
    new = pl.concat([dump.filter(pl.col("stack") != INODE), extra])
    assert analyze.diff(old, new, by="stack", order=order)["delta_pages"].to_list() == first


def test_diff_orders_by_size_and_key(dump: pl.DataFrame) -> None:
    old = dump.filter(pl.col("stack") != EXT4)
    new = pl.concat([dump.filter(pl.col("stack") != INODE), make_records([{"stack": SKB, "order": 4}])])
    by_size = analyze.diff(old, new, by="where", order="pages")
    sizes = [max(a, b) for a, b in by_size.select("pages_old", "pages_new").rows()]
    assert sizes == sorted(sizes, reverse=True)
    by_key = analyze.diff(old, new, by="where", order="key")["where"].to_list()
    assert by_key == sorted(by_key)
    with pytest.raises(UsageError, match="unknown order `size`; orders: change, growth"):
        analyze.diff(old, new, order="size")  # type: ignore[arg-type]


def test_diff_limits_and_fail_above(dump: pl.DataFrame) -> None:
    grown = pl.concat([dump, make_records([{"stack": SKB, "order": 9}])])
    out = analyze.diff(dump, grown, by="comm", min_mib=1.0)
    assert out.select("comm", "delta_pages").rows() == [("swapper/0", 512)]
    assert analyze.grew_above(analyze.diff(dump, grown, by="comm"), 1.99).height == 1
    assert analyze.grew_above(analyze.diff(dump, grown, by="comm"), 2.0).height == 0
    assert analyze.diff(dump, grown, n=1).height == 1


def test_diff_a_dump_against_a_stack_file_joins_on_stack_hash(dump: pl.DataFrame) -> None:
    later = stack_table([(INODE, 3, None), (SKB, 20, None)])
    out = analyze.diff(dump, later, by="stack")
    by_stack = {row["stack"]: row for row in out.iter_rows(named=True)}
    assert by_stack[SKB]["delta_pages"] == 12
    assert by_stack[INODE]["status"] == "same"
    assert by_stack[EXT4]["status"] == "vanished"
    # allocations are counted in the dump but not in the stack file
    assert by_stack[SKB]["allocations_new"] is None


def test_diff_status_follows_pages_when_allocations_move_the_other_way() -> None:
    # One order-3 allocation (8 pages) became two order-0 ones (2 pages): fewer pages, more allocations.
    old = make_records([{"stack": EXT4, "order": 3}])
    new = make_records([{"stack": EXT4, "order": 0}, {"stack": EXT4, "order": 0}])
    out = analyze.diff(old, new, by="stack")
    assert out.select("pages_old", "pages_new", "delta_pages", "delta_allocations", "status").rows() == [
        (8, 2, -6, 1, "shrank")
    ]


def test_diff_status_follows_allocations_where_pages_are_not_counted(tmp_path: Path) -> None:
    # stack_count files (page-owner-format.md A.6) count allocations only: pages are null and allocations decide.
    old, new = tmp_path / "old_stacks", tmp_path / "new_stacks"
    old.write_text(f"{INODE}\nstack_count: 2\n\n{SKB}\nstack_count: 5\n\n{FAULT}\nstack_count: 4\n\n")
    new.write_text(f"{INODE}\nstack_count: 3\n\n{SKB}\nstack_count: 1\n\n{FAULT}\nstack_count: 4\n\n")
    out = analyze.diff(old, new, by="stack")
    by_stack = {row["stack"]: row for row in out.iter_rows(named=True)}
    got = {s: (r["delta_pages"], r["delta_allocations"], r["status"]) for s, r in by_stack.items()}
    assert got == {INODE: (None, 1, "grew"), SKB: (None, -4, "shrank"), FAULT: (None, 0, "same")}


# --- folded ---------------------------------------------------------------------------------------


def test_folded_reverses_frames_drops_offsets_and_weights_sum(dump: pl.DataFrame) -> None:
    out = analyze.folded(dump)
    assert out["weight"].sum() == dump["pages"].sum()
    # FAULT and FAULT2 differ only in an offset: one line
    fault = (
        "do_anonymous_page;vma_alloc_folio_noprof;alloc_pages_mpol_noprof;__alloc_pages_noprof;"
        "get_page_from_freelist;post_alloc_hook"
    )
    assert out.filter(pl.col("folded") == fault)["weight"].item() == 3
    assert out.height == 4
    ext4 = out.filter(pl.col("folded").str.starts_with("ksys_write"))["folded"].item()
    assert ext4.startswith("ksys_write;ext4_ext_map_blocks [ext4];ext4_mb_new_blocks [ext4];")
    by_alloc = analyze.folded(dump, weight="allocations")
    assert by_alloc["weight"].sum() == dump.height


def test_write_folded_is_one_line_per_stack(dump: pl.DataFrame) -> None:
    buf = io.StringIO()
    analyze.write_folded(analyze.folded(dump), buf)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 4
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == 22
    assert lines == sorted(lines)


def test_folded_needs_the_counted_weight() -> None:
    table = stack_table([(INODE, 4, None)])
    with pytest.raises(UsageError, match="counts no allocations"):
        analyze.folded(table, weight="allocations")
    with pytest.raises(UsageError, match="unknown weight"):
        analyze.folded(table, weight="bytes")  # type: ignore[arg-type]


# --- query, decode, cull --------------------------------------------------------------------------


def test_query_sees_pages_with_decoded_columns_and_stacks(dump: pl.DataFrame) -> None:
    out = analyze.query(dump, 'SELECT "where", sum(pages) AS p FROM pages GROUP BY 1 ORDER BY p DESC, 1')
    assert out.rows() == [
        ("__alloc_skb", 8),
        ("ext4_mb_new_blocks", 8),
        ("do_anonymous_page", 3),
        ("security_inode_alloc", 3),
    ]
    assert analyze.query(dump, "SELECT count(*) AS n FROM stacks").item() == 5


def test_query_errors_are_usage_errors(dump: pl.DataFrame) -> None:
    with pytest.raises(UsageError, match="query failed"):
        analyze.query(dump, "SELEC 1")
    with pytest.raises(UsageError, match="query failed"):
        analyze.query(dump, "SELECT nope FROM pages")


def test_decode_splits_flags(dump: pl.DataFrame) -> None:
    flagged = dump.with_columns(
        page_flags=pl.lit("0x17ffffc0020000(uptodate|lru|node=1|zone=2|lastcpupid=0x1fffff)"),
    )
    row = analyze.decode(flagged).filter(pl.col("comm") == "dd").collect().row(0, named=True)
    assert row["gfp_flag_names"] == ["GFP_NOFS", "__GFP_NOFAIL"]
    assert row["page_flag_names"] == ["uptodate", "lru"]
    assert (row["node"], row["zone"]) == (1, 2)
    assert row["where"] == "ext4_mb_new_blocks"
    assert analyze.decode(dump).collect().height == dump.height


def test_cull_uses_page_owner_sort_keys_on_clean_columns(dump: pl.DataFrame) -> None:
    freed = dump.with_columns(free_ts=pl.when(pl.col("comm") == "nginx").then(5).otherwise(0).cast(pl.UInt64))
    out = analyze.cull(freed, "n,f", sort="-times")
    assert out.columns == ["comm", "freed_before", "allocations", "pages"]
    assert out.rows()[:2] == [("systemd", False, 3, 3), ("Web Content", False, 2, 3)]
    assert ("nginx", True, 2, 8) in out.rows()
    assert analyze.cull(dump, "st")["pages"].sum() == 22
    with pytest.raises(UsageError, match="unknown cull key"):
        analyze.cull(dump, "zz")
    with pytest.raises(UsageError, match="cannot sort"):
        analyze.cull(dump, "st", sort="-comm")


def test_the_namespace_orders_a_diff_too(dump: pl.DataFrame) -> None:
    import pagecols.polars_ext  # noqa: F401 -- registers .pagecols

    old = dump.filter(pl.col("stack") != EXT4)
    new = pl.concat([dump.filter(pl.col("stack") != INODE), make_records([{"stack": SKB, "order": 4}])])
    shrinkage = old.lazy().pagecols.diff(new, by="stack", order="shrinkage")  # type: ignore[attr-defined]
    assert shrinkage["delta_pages"].to_list() == analyze.diff(old, new, order="shrinkage")["delta_pages"].to_list()
    assert shrinkage["delta_pages"][0] < 0
