"""The analyst commands end to end: exact output on a small hand-made dump (plain text, as when piped)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pagecols.cli import app

SLAB = [
    "get_page_from_freelist+0x330/0x1660",
    "__alloc_pages_noprof+0x169/0x310",
    "alloc_pages_mpol_noprof+0x8f/0x1e0",
    "allocate_slab+0x379/0x4e0",
    "___slab_alloc+0x7a6/0xbd0",
    "kmem_cache_alloc_noprof+0x29e/0x2f0",
]
INODE = [*SLAB, "security_inode_alloc+0x2c/0x160", "inode_init_always_gfp+0x1f9/0x220", "alloc_inode+0x36/0xc0"]
SKB = [*SLAB, "__alloc_skb+0x12b/0x1a0", "tcp_stream_alloc_skb+0x2e/0x150", "tcp_sendmsg_locked+0x3c4/0xe80"]
FAULT = [
    "get_page_from_freelist+0x330/0x1660",
    "__alloc_pages_noprof+0x169/0x310",
    "alloc_pages_mpol_noprof+0x8f/0x1e0",
    "vma_alloc_folio_noprof+0x6d/0xd0",
    "do_anonymous_page+0x26e/0x7b0",
    "__handle_mm_fault+0x5a0/0x6f0",
]
EXT4 = [
    "get_page_from_freelist+0x330/0x1660",
    "__alloc_pages_noprof+0x169/0x310",
    "ext4_mb_new_blocks+0x1d2/0x10f0 [ext4]",
    "ext4_ext_map_blocks+0x6b5/0x1840 [ext4]",
    "ksys_write+0x6b/0xf0",
]
KERNEL, MOVABLE, NOFS = "0xcc0(GFP_KERNEL)", "0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)", "0xc40(GFP_NOFS)"


def record(  # noqa: PLR0917 -- one argument per field of the printed record
    order: int,
    mask: str,
    pid: int,
    tgid: int,
    comm: str,
    ts: int,
    pfn: int,
    mt: str,
    block_mt: str,
    stack: list[str],
    trailers: tuple[str, ...] = (),
) -> str:
    """One record as a 6.12 kernel prints it (6.7+ header, PFN in hex, Block = pfn >> 9)."""
    lines = [
        f"Page allocated via order {order}, mask {mask}, pid {pid}, tgid {tgid} ({comm}), ts {ts} ns",
        f"PFN 0x{pfn:x} type {mt} Block {pfn >> 9} type {block_mt} Flags 0x4000000000000000(node=0|zone=1)",
        *(f" {frame}" for frame in stack),
        *trailers,
    ]
    return "\n".join(lines) + "\n\n"


# 16 pages: ext4 8 (order 3, Unmovable in a Reclaimable block), page faults 4+1, inodes 1+1,
# one skb page (Unmovable in a Movable block).  Blocks 8, 16 and 24; 16 and 24 are mixed.
OLD = [
    record(0, KERNEL, 1, 1, "swapper/0", 1_000_000_000, 0x1000, "Unmovable", "Unmovable", INODE),
    record(0, KERNEL, 1, 1, "swapper/0", 1_100_000_000, 0x1001, "Unmovable", "Unmovable", INODE),
    record(
        2,
        MOVABLE,
        300,
        300,
        "Web Content",
        5_000_000_000,
        0x2000,
        "Movable",
        "Movable",
        FAULT,
        ("Charged to memcg session-2.scope",),
    ),
    record(0, MOVABLE, 301, 300, "Web Content", 6_000_000_000, 0x2004, "Movable", "Movable", FAULT),
    record(0, KERNEL, 50, 50, "kworker/0:1", 7_000_000_000, 0x2008, "Unmovable", "Movable", SKB),
    record(3, NOFS, 500, 500, "dd", 9_000_000_000, 0x3000, "Unmovable", "Reclaimable", EXT4),
]
# Later: the inodes were freed, Web Content took an order-9 folio, kworker one more page.
NEW = [
    *OLD[2:],
    record(9, MOVABLE, 300, 300, "Web Content", 20_000_000_000, 0x4000, "Movable", "Movable", FAULT),
    record(0, KERNEL, 50, 50, "kworker/0:1", 21_000_000_000, 0x200A, "Unmovable", "Movable", SKB),
]
SHOW_STACKS = "".join("".join(f" {f}\n" for f in s) + f"nr_base_pages: {n}\n\n" for s, n in [(FAULT, 517), (SKB, 2)])


@pytest.fixture
def dumps(tmp_path: Path) -> Path:
    (tmp_path / "old.txt").write_text("".join(OLD))
    (tmp_path / "new.txt").write_text("".join(NEW))
    (tmp_path / "show_stacks").write_text(SHOW_STACKS)
    return tmp_path


def run(*args: str | Path, code: int = 0) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.stderr
    return result.stdout


def test_top_by_where(dumps: Path) -> None:
    assert run("top", dumps / "old.txt", "--by", "where") == (
        "where                 allocations  pages   mib  percent\n"
        "ext4_mb_new_blocks              1      8  0.03    50.00\n"
        "do_anonymous_page               2      5  0.02    31.25\n"
        "security_inode_alloc            2      2  0.01    12.50\n"
        "__alloc_skb                     1      1  0.00     6.25\n"
        "total: 16 pages (0.06 MiB), 6 allocations in 4 groups\n"
    )


def test_top_by_stack_shows_frames_and_limit(dumps: Path) -> None:
    assert run("top", dumps / "old.txt", "-n", "1") == (
        "stack                                    stack_hash          allocations  pages   mib  percent\n"
        "get_page_from_freelist+0x330/0x1660      0x7b25750a2bbd5b8b            1      8  0.03    50.00\n"
        "__alloc_pages_noprof+0x169/0x310\n"
        "ext4_mb_new_blocks+0x1d2/0x10f0 [ext4]\n"
        "ext4_ext_map_blocks+0x6b5/0x1840 [ext4]\n"
        "ksys_write+0x6b/0xf0\n"
        "total: 16 pages (0.06 MiB), 6 allocations in 4 groups\n"
        "1 of 4 groups shown; -n 0 for all\n"
    )


def test_top_machine_formats(dumps: Path, tmp_path: Path) -> None:
    assert run("top", dumps / "old.txt", "-b", "memcg,migratetype", "-f", "csv") == (
        "memcg,migratetype,allocations,pages,mib,percent\n"
        ",Unmovable,4,11,0.04296875,68.75\n"
        "session-2.scope,Movable,1,4,0.015625,25.0\n"
        ",Movable,1,1,0.00390625,6.25\n"
    )
    rows = json.loads(run("top", dumps / "old.txt", "-b", "comm", "-b", "tgid", "-f", "json"))
    assert rows[0] == {"comm": "dd", "tgid": 500, "allocations": 1, "pages": 8, "mib": 0.03125, "percent": 50.0}
    assert sum(r["pages"] for r in rows) == 16
    assert run("top", dumps / "old.txt", "-f", "parquet", "-o", tmp_path / "t.parquet") == ""
    import polars as pl

    assert pl.read_parquet(tmp_path / "t.parquet")["pages"].sum() == 16


def test_top_on_a_stack_file(dumps: Path) -> None:
    assert run("top", dumps / "show_stacks", "-b", "where") == (
        "where              allocations  pages   mib  percent\n"
        "do_anonymous_page            -    517  2.02    99.61\n"
        "__alloc_skb                  -      2  0.01     0.39\n"
        "total: 519 pages (2.03 MiB), - allocations in 2 groups\n"
    )


def test_diff_largest_change_first_with_totals(dumps: Path) -> None:
    assert run("diff", dumps / "old.txt", dumps / "new.txt", "-b", "where,comm") == (
        "where                 comm         pages_old  pages_new  delta_pages  delta_mib"
        "  allocations_old  allocations_new  delta_allocations  status\n"
        "do_anonymous_page     Web Content          5        517         +512      +2.00"
        "                2                3                 +1  grew\n"
        "security_inode_alloc  swapper/0            2          0           -2      -0.01"
        "                2                0                 -2  vanished\n"
        "__alloc_skb           kworker/0:1          1          2           +1      +0.00"
        "                1                2                 +1  grew\n"
        "ext4_mb_new_blocks    dd                   8          8           +0      +0.00"
        "                1                1                 +0  same\n"
        "total: 16 -> 527 pages, +511 pages (+2.00 MiB); 0 appeared, 1 vanished\n"
    )


def test_diff_with_itself_and_min_mib(dumps: Path) -> None:
    same = run("diff", dumps / "old.txt", dumps / "old.txt", "-b", "where", "-f", "csv")
    assert [line.split(",")[3] for line in same.splitlines()[1:]] == ["0", "0", "0", "0"]
    shown = run("diff", dumps / "old.txt", dumps / "new.txt", "-b", "where", "--min-mib", "1")
    assert shown.splitlines()[1].startswith("do_anonymous_page ")
    assert len(shown.splitlines()) == 3


def test_diff_fail_above_exits_3_after_printing(dumps: Path) -> None:
    result = CliRunner().invoke(app, ["diff", str(dumps / "old.txt"), str(dumps / "new.txt"), "--fail-above", "1.9"])
    assert result.exit_code == 3
    assert result.stdout.endswith("total: 16 -> 527 pages, +511 pages (+2.00 MiB); 0 appeared, 1 vanished\n")
    assert result.stderr == "Threshold exceeded: 1 group(s) grew by more than 1.9 MiB (largest +2.00 MiB)\n"
    run("diff", dumps / "old.txt", dumps / "new.txt", "--fail-above", "2")


def test_diff_a_dump_against_show_stacks(dumps: Path) -> None:
    out = run("diff", dumps / "new.txt", dumps / "show_stacks", "-b", "where", "-f", "csv")
    assert out == (
        "where,pages_old,pages_new,delta_pages,delta_mib,allocations_old,allocations_new,delta_allocations,status\n"
        "ext4_mb_new_blocks,8,0,-8,-0.03125,1,0,-1,vanished\n"
        "__alloc_skb,2,2,0,0.0,2,,,same\n"
        "do_anonymous_page,517,517,0,0.0,3,,,same\n"
    )


def test_folded(dumps: Path, tmp_path: Path) -> None:
    expected = (
        "__handle_mm_fault;do_anonymous_page;vma_alloc_folio_noprof;alloc_pages_mpol_noprof;"
        "__alloc_pages_noprof;get_page_from_freelist 5\n"
        "alloc_inode;inode_init_always_gfp;security_inode_alloc;kmem_cache_alloc_noprof;___slab_alloc;"
        "allocate_slab;alloc_pages_mpol_noprof;__alloc_pages_noprof;get_page_from_freelist 2\n"
        "ksys_write;ext4_ext_map_blocks [ext4];ext4_mb_new_blocks [ext4];__alloc_pages_noprof;"
        "get_page_from_freelist 8\n"
        "tcp_sendmsg_locked;tcp_stream_alloc_skb;__alloc_skb;kmem_cache_alloc_noprof;___slab_alloc;"
        "allocate_slab;alloc_pages_mpol_noprof;__alloc_pages_noprof;get_page_from_freelist 1\n"
    )
    assert run("folded", dumps / "old.txt") == expected
    assert run("folded", dumps / "old.txt", "-o", tmp_path / "f.folded") == ""
    assert (tmp_path / "f.folded").read_text() == expected
    weights = [
        int(line.rsplit(" ", 1)[1]) for line in run("folded", dumps / "old.txt", "-w", "allocations").splitlines()
    ]
    assert sum(weights) == 6


def test_frag(dumps: Path) -> None:
    assert run("frag", dumps / "old.txt", "-n", "1") == (
        "# mixed pageblocks by pageblock migratetype\n"
        "block_migratetype  blocks  mixed_blocks  pages  foreign_pages  mixed_percent\n"
        "Movable                 1             1      6              1         100.00\n"
        "Reclaimable             1             1      8              8         100.00\n"
        "Unmovable               1             0      2              0           0.00\n"
        "\n"
        "# stacks with pages in pageblocks of another migratetype\n"
        "block_migratetype  migratetype  where               stack                                    "
        "stack_hash          blocks  allocations  pages   mib\n"
        "Reclaimable        Unmovable    ext4_mb_new_blocks  get_page_from_freelist+0x330/0x1660      "
        "0x7b25750a2bbd5b8b       1            1      8  0.03\n"
        "                                                    __alloc_pages_noprof+0x169/0x310\n"
        "                                                    ext4_mb_new_blocks+0x1d2/0x10f0 [ext4]\n"
        "                                                    ext4_ext_map_blocks+0x6b5/0x1840 [ext4]\n"
        "                                                    ksys_write+0x6b/0xf0\n"
        "1 of 2 stacks shown; -n 0 for all\n"
    )
    assert run("frag", dumps / "old.txt", "--part", "blocks") == (
        "block  block_migratetype  allocations  pages  foreign_pages  foreign_migratetypes  mixed\n"
        "    8  Unmovable                    2      2              0                        no\n"
        "   16  Movable                      3      6              1  Unmovable             yes\n"
        "   24  Reclaimable                  1      8              8  Unmovable             yes\n"
    )
    assert run("frag", dumps / "old.txt", "-f", "csv").splitlines()[1] == "Movable,1,1,6,1,100.0"


def test_query(dumps: Path) -> None:
    sql = 'SELECT comm, "where", sum(pages) AS pages FROM pages GROUP BY 1, 2 ORDER BY 3 DESC, 1'
    assert run("query", dumps / "old.txt", sql) == (
        "comm         where                 pages\n"
        "dd           ext4_mb_new_blocks        8\n"
        "Web Content  do_anonymous_page         5\n"
        "swapper/0    security_inode_alloc      2\n"
        "kworker/0:1  __alloc_skb               1\n"
    )
    assert run("query", dumps / "show_stacks", "SELECT sum(pages) AS p FROM stacks", "-f", "csv") == "p\n519\n"


def test_top_by_allocator_finds_612_slab_pages(dumps: Path) -> None:
    """6.12 prints no `slab` flag: the inodes and the skb page are slab pages by their allocation path."""
    rows = [line.split(",") for line in run("top", dumps / "old.txt", "--by", "allocator", "-f", "csv").splitlines()]
    got = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(g["allocator"], g["allocations"], g["pages"]) for g in got] == [("OTHERS", "3", "13"), ("SLAB", "3", "3")]


@pytest.mark.parametrize("sql", ["DESCRIBE pages", "describe pages;", "DESC pages", "SHOW COLUMNS FROM pages"])
def test_query_describes_a_table(dumps: Path, sql: str) -> None:
    rows = run("query", dumps / "old.txt", sql, "-f", "csv").splitlines()
    assert rows[0] == "column,type,description"
    assert rows[1] == "record,Int64,0-based position of the record in the input"
    assert "where" in [row.split(",")[0] for row in rows[1:]]  # stored since schema 5
    assert [row.split(",")[0] for row in rows[1:]][-4:] == [
        "gfp_flag_names",
        "page_flag_names",
        "node",
        "zone",
    ]
    names = run("query", dumps / "old.txt", "SELECT * FROM pages LIMIT 1", "-f", "csv").splitlines()[0].split(",")
    assert [row.split(",")[0] for row in rows[1:]] == names
    stacks = run("query", dumps / "show_stacks", "DESCRIBE stacks", "-f", "csv").splitlines()
    assert [row.split(",")[0] for row in stacks[1:]] == [
        "stack",
        "stack_hash",
        "pages",
        "allocations",
        "handle",
        "where",
        "module",
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["top", "{d}/old.txt", "-b", "colour"], 2, "Error: unknown key `colour`", id="unknown-key"),
        pytest.param(["top", "{d}/nope.txt"], 1, "Error: `{d}/nope.txt` does not exist", id="missing-file"),
        pytest.param(["top", "{d}/old.txt", "-f", "xml"], 2, "Error: unknown format `xml`", id="unknown-format"),
        pytest.param(["top", "{d}/old.txt", "-f", "parquet"], 2, "Error: `--format parquet` needs", id="parquet-no-o"),
        pytest.param(
            ["top", "{d}/show_stacks", "-b", "comm"], 2, "Error: `comm` is not in a stack file", id="stack-key"
        ),
        pytest.param(["frag", "{d}/show_stacks"], 2, "Error: `frag` needs a page_owner dump", id="frag-stacks"),
        pytest.param(["frag", "{d}/old.txt", "--part", "x"], 2, "Error: unknown part `x`", id="frag-part"),
        pytest.param(
            ["diff", "{d}/old.txt", "{d}/new.txt", "--order", "size"], 2, "Error: unknown order `size`", id="order"
        ),
        pytest.param(["query", "{d}/old.txt", "SELEC"], 2, "Error: query failed: ", id="bad-sql"),
        pytest.param(
            ["query", "{d}/show_stacks", "DESCRIBE pages"],
            2,
            "Error: query failed: no table `pages`; tables: stacks",
            id="describe-missing",
        ),
        pytest.param(["folded", "{d}/show_stacks", "-w", "allocations"], 2, "Error: the source counts no", id="weight"),
        pytest.param(["plot", "timeline", "{d}/show_stacks", "-o", "{d}/x.png"], 2, "Error: ", id="timeline-stacks"),
    ],
)
def test_errors_are_one_line_with_exit_code(dumps: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(app, [a.format(d=dumps) for a in args])
    assert result.exit_code == code
    assert result.stderr.startswith(message.format(d=dumps))
    assert result.stderr.count("\n") == 1
    assert not (dumps / "x.png").exists()


def test_plots_are_written(dumps: Path) -> None:
    commands: list[list[str | Path]] = [
        ["plot", "timeline", dumps / "new.txt", "-o", dumps / "timeline.png"],
        ["plot", "timeline", dumps / "new.txt", "-o", dumps / "by-where.svg", "--split", "where", "--groups", "2"],
        ["plot", "top", dumps / "old.txt", "-o", dumps / "top.png", "-b", "comm"],
        ["plot", "top", dumps / "show_stacks", "-o", dumps / "stacks.png", "-b", "stack"],
    ]
    for args in commands:
        assert run(*args) == ""
        out = Path(args[args.index("-o") + 1])
        assert out.stat().st_size > 5000
    assert (dumps / "top.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (dumps / "by-where.svg").read_bytes()[:1000]
    assert sorted(p.name for p in dumps.iterdir() if ".tmp" in p.name) == []


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "linux-6.12-memcg.page_owner.txt.gz"


def test_machine_formats_give_every_row_and_a_table_says_what_it_left_out(tmp_path: Path) -> None:
    import polars as pl

    groups = 115  # distinct `where` of the sample
    assert len(run("top", SAMPLE, "-b", "where", "-f", "csv").splitlines()) == 1 + groups
    assert len(json.loads(run("top", SAMPLE, "-b", "where", "-f", "json"))) == groups
    run("top", SAMPLE, "-b", "where", "-f", "parquet", "-o", tmp_path / "t.parquet")
    assert pl.read_parquet(tmp_path / "t.parquet").height == groups
    assert len(run("top", SAMPLE, "-b", "where", "-f", "csv", "-n", "5").splitlines()) == 1 + 5
    # Piped, a table is whole too (the pty tests of test_terminal.py see 20 rows and the note).
    assert len(run("top", SAMPLE, "-b", "where").splitlines()) == 1 + groups + 1
    table = run("top", SAMPLE, "-b", "where", "-n", "20").splitlines()
    assert len(table) == 1 + 20 + 2
    assert table[-1] == "20 of 115 groups shown; -n 0 for all"
    assert pl.read_csv(io.StringIO(run("query", SAMPLE, "SELECT * FROM pages", "-f", "csv"))).height == 5661
    assert (
        run("query", SAMPLE, "SELECT record FROM pages", "-n", "2")
        == "record\n     0\n     1\n2 of 5,661 rows shown; -n 0 for all\n"
    )


def test_json_carries_hashes_and_times_exactly_and_csv_the_same_hash() -> None:
    import polars as pl

    import pagecols

    records = pagecols.read_dump(SAMPLE)
    sql = "SELECT record, ts, stack_hash, pfn, gfp_mask FROM pages WHERE record < 3 ORDER BY record"
    rows = json.loads(run("query", SAMPLE, sql, "-f", "json"))
    first = records.filter(pl.col("record") < 3).sort("record")
    # The hash's 64 bits, stored signed (schema 5).
    assert [r["stack_hash"] for r in rows] == [f"0x{h & (2**64 - 1):016x}" for h in first["stack_hash"]]
    assert [r["ts"] for r in rows] == [str(t) for t in first["ts"]]
    assert [r["pfn"] for r in rows] == first["pfn"].to_list()  # a double holds any PFN
    assert max(abs(h) for h in first["stack_hash"]) > 2**53  # the sample has hashes a double would round
    csv_rows = run("query", SAMPLE, sql, "-f", "csv").splitlines()[1:]
    assert [line.split(",")[2] for line in csv_rows] == [r["stack_hash"] for r in rows]
    plain = run("query", SAMPLE, sql).splitlines()
    assert plain[1].split() == ["0", rows[0]["ts"], rows[0]["stack_hash"], "0x100", "0x2cc1"]
    assert plain[2].split()[3:] == ["0x1000", "0x0"]


def test_gfp_mask_zero_is_labelled_in_a_table() -> None:
    out = run("top", SAMPLE, "-b", "gfp", "-n", "0").splitlines()
    assert any(line.startswith("(none) ") for line in out)
    # csv keeps the data: an empty string, told apart from a null.
    assert '""' in [line.split(",")[0] for line in run("top", SAMPLE, "-b", "gfp", "-f", "csv").splitlines()]


def test_frag_prints_nothing_before_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("garbage\n")
    result = CliRunner().invoke(app, ["frag", str(bad)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: ")


def test_frag_machine_formats_say_how_to_get_the_other_parts(dumps: Path) -> None:
    result = CliRunner().invoke(app, ["frag", str(dumps / "old.txt"), "-f", "json"])
    assert result.exit_code == 0
    assert [row["block_migratetype"] for row in json.loads(result.stdout)] == ["Movable", "Reclaimable", "Unmovable"]
    assert result.stderr == "frag: the summary only; --part stacks or --part blocks for the others\n"
    stacks = CliRunner().invoke(app, ["frag", str(dumps / "old.txt"), "-f", "json", "--part", "stacks"])
    assert (stacks.stderr, len(json.loads(stacks.stdout))) == ("", 2)


def test_query_reads_hex_numbers_as_the_reports_print_them() -> None:
    hashed = run("query", SAMPLE, "SELECT count(*) AS n FROM pages WHERE stack_hash = 0xf83852a29d8c4ffa", "-f", "csv")
    assert hashed == "n\n3253\n"  # register_early_stack's records
    ranged = "SELECT count(*) AS n FROM pages WHERE pfn >= 0x1000 AND pfn < 0x1002 AND comm <> '0x1000'"
    assert run("query", SAMPLE, ranged, "-f", "csv") == "n\n2\n"
    result = CliRunner().invoke(app, ["query", str(SAMPLE), "SELECT stack_hash, stack_hash FROM pages"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: query failed: ")
    assert result.stderr.count("\n") == 1
