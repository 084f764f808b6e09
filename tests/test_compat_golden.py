"""Golden outputs of ``pagecols sort``: every input x every option set, text and Parquet.

Each case names the page_owner_sort options *and*, written out by hand, what they
mean (the reference model's :class:`Options`), so the golden files test the option
parser as well as the engine.  The expected files under ``tests/golden/<input>/``
were produced by the reference model (``tests/refmodel.py``) and reviewed by hand
(large outputs are kept as a digest and a preview, see ``WHOLE_LIMIT``);
to add an input or a case, run ``python tests/test_compat_golden.py --update`` and
review the new files like code.
"""

from __future__ import annotations

import functools
import hashlib
import io
import sys
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from pagecols import compat
from pagecols.compat import _load, _Loaded, query, sort_table
from pagecols.compat.plan import parse_args
from pagecols.compat.query import Needs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import refmodel as R

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden"

T = True
CASES: list[tuple[str, list[str], R.Options]] = [
    # No option: times DESC (compat.md §1 fix 3), groups of byte-identical records.
    ("default", [], R.Options()),
    # Every single-letter flag.
    ("a", ["-a"], R.Options(sort=[("alloc_ts", False)])),
    ("m", ["-m"], R.Options(sort=[("pages", T)])),
    ("p", ["-p"], R.Options(sort=[("pid", False)])),
    ("P", ["-P"], R.Options(sort=[("tgid", False)])),
    ("n", ["-n"], R.Options(sort=[("name", False)])),
    ("r", ["-r"], R.Options(sort=[("free_ts", False)])),
    ("s", ["-s"], R.Options(sort=[("stacktrace", False)])),
    ("t", ["-t"], R.Options(sort=[("times", T)])),
    ("f", ["-f"], R.Options(unreleased_only=T)),
    # Every --sort key, ascending (with and without +) and descending.
    ("sort-p", ["--sort=p"], R.Options(sort=[("pid", False)])),
    ("sort-minus-pid", ["--sort", "-pid"], R.Options(sort=[("pid", T)])),
    ("sort-plus-tg", ["--sort=+tg"], R.Options(sort=[("tgid", False)])),
    ("sort-minus-tgid", ["--sort=-tgid"], R.Options(sort=[("tgid", T)])),
    ("sort-name", ["--sort=name"], R.Options(sort=[("name", False)])),
    ("sort-minus-n", ["--sort=-n"], R.Options(sort=[("name", T)])),
    ("sort-st", ["--sort=st"], R.Options(sort=[("stacktrace", False)])),
    ("sort-minus-stacktrace", ["--sort=-stacktrace"], R.Options(sort=[("stacktrace", T)])),
    ("sort-T", ["--sort=T"], R.Options(sort=[("txt", False)])),
    ("sort-minus-txt", ["--sort=-txt"], R.Options(sort=[("txt", T)])),
    ("sort-ft", ["--sort=ft"], R.Options(sort=[("free_ts", False)])),
    ("sort-minus-free_ts", ["--sort=-free_ts"], R.Options(sort=[("free_ts", T)])),
    ("sort-at", ["--sort=at"], R.Options(sort=[("alloc_ts", False)])),
    ("sort-minus-alloc_ts", ["--sort=-alloc_ts"], R.Options(sort=[("alloc_ts", T)])),
    ("sort-ator", ["--sort=ator"], R.Options(sort=[("allocator", False)])),
    ("sort-minus-allocator", ["--sort=-allocator"], R.Options(sort=[("allocator", T)])),
    # Multi-key sorts: later keys break ties, also after at/ft (fix 2).
    ("sort-n-minus-at", ["--sort=n,-at"], R.Options(sort=[("name", False), ("alloc_ts", T)])),
    ("sort-ator-p-T", ["--sort=-ator,p,-T"], R.Options(sort=[("allocator", T), ("pid", False), ("txt", T)])),
    ("sort-ft-tg", ["--sort", "ft,tg"], R.Options(sort=[("free_ts", False), ("tgid", False)])),
    # Every cull key alone: --cull sets times DESC when no sort was given.
    ("cull-p", ["--cull=p"], R.Options(cull={"pid"})),
    ("cull-tg", ["--cull=tg"], R.Options(cull={"tgid"})),
    ("cull-name", ["--cull", "name"], R.Options(cull={"name"})),
    ("cull-f", ["--cull=f"], R.Options(cull={"free"})),
    ("cull-st", ["--cull=st"], R.Options(cull={"stacktrace"})),
    ("cull-ator", ["--cull=ator"], R.Options(cull={"allocator"})),
    # Pairs, in an order other than the comparator's, and st,pid,name.
    ("cull-p-st", ["--cull=p,st"], R.Options(cull={"pid", "stacktrace"})),
    ("cull-n-f", ["--cull=n,f"], R.Options(cull={"name", "free"})),
    ("cull-ator-tg", ["--cull=ator,tg"], R.Options(cull={"allocator", "tgid"})),
    # PID before TGID: the tied groups of labels-and-ties.txt come out in another order by tgid.
    ("cull-pid-tgid", ["--cull=pid,tgid"], R.Options(cull={"pid", "tgid"})),
    ("cull-f-st", ["--cull=free,stacktrace"], R.Options(cull={"free", "stacktrace"})),
    ("cull-st-pid-name", ["--cull=st,pid,name"], R.Options(cull={"stacktrace", "pid", "name"})),
    ("cull-twice", ["--cull=tg", "--cull=n"], R.Options(cull={"tgid", "name"})),
    # Selection: lists, failure values, and what they make the cull stanzas print.
    ("pid-list", ["--pid=2345,2350"], R.Options(pids=[2345, 2350])),
    ("cull-st-pid-list", ["--cull=st", "--pid", "2345,2350"], R.Options(cull={"stacktrace"}, pids=[2345, 2350])),
    ("tgid-cull-st", ["--tgid=2301,1", "--cull=st"], R.Options(cull={"stacktrace"}, tgids=[2301, 1])),
    (
        "name-list-cull-p",
        ["--name=Web Content,(sd-pam),swapper/0", "--cull=p"],
        R.Options(cull={"pid"}, names=[b"Web Content", b"(sd-pam)", b"swapper/0"]),
    ),
    ("pid-last-wins", ["--pid=1", "--pid=2345", "--cull=n"], R.Options(cull={"name"}, pids=[2345])),
    ("pid-minus-1", ["--pid=-1", "--cull=p"], R.Options(cull={"pid"}, pids=[-1])),
    ("f-cull-f", ["-f", "--cull=f"], R.Options(cull={"free"}, unreleased_only=T)),
    # Flags and --sort together: left to right, the last one wins the whole list.
    ("m-cull-st", ["-m", "--cull=st"], R.Options(sort=[("pages", T)], cull={"stacktrace"})),
    ("cull-st-then-a", ["--cull=st", "-a"], R.Options(sort=[("alloc_ts", False)], cull={"stacktrace"})),
    ("m-then-sort", ["-m", "--sort=p,-n"], R.Options(sort=[("pid", False), ("name", T)])),
    ("sort-then-m", ["--sort=p,-n", "-m"], R.Options(sort=[("pages", T)])),
    ("sort-then-cull", ["--sort=-at", "--cull=tg"], R.Options(sort=[("alloc_ts", T)], cull={"tgid"})),
    (
        "flags-clustered",
        ["-fp", "--cull=ator,n"],
        R.Options(sort=[("pid", False)], cull={"allocator", "name"}, unreleased_only=T),
    ),
]


def _is_dump(p: Path) -> bool:
    name = p.name
    text_like = name.endswith((".txt", ".txt.gz", ".txt.xz", ".txt.zst", ".txt.bz2"))
    return p.is_file() and text_like and "stack" not in name and "handle" not in name


def golden_inputs() -> list[Path]:
    """My hand-made inputs, and every page_owner dump sample in ``data/``."""
    mine = sorted((GOLDEN / "inputs").iterdir())
    data = sorted(p for p in (ROOT / "data").glob("*") if _is_dump(p)) if (ROOT / "data").is_dir() else []
    return [*mine, *data]


# Outputs up to this size are kept whole, to be read in review; larger ones (the 300-record
# synthetic samples and the real dump) as a SHA-256 digest with the first lines as a preview.
WHOLE_LIMIT = 32 << 10
PREVIEW_LINES = 20


def _golden_file(src: Path, case_id: str) -> Path:
    whole = GOLDEN / src.name / f"{case_id}.out"
    return whole if whole.exists() else whole.with_suffix(".sha256")


def _digest_text(data: bytes) -> str:
    preview = b"".join(data.splitlines(keepends=True)[:PREVIEW_LINES]).decode("utf-8", "replace")
    return (
        f"sha256 {hashlib.sha256(data).hexdigest()}\nbytes {len(data)}\n--- first {PREVIEW_LINES} lines ---\n{preview}"
    )


def _matches(golden: Path, data: bytes) -> bool:
    if golden.suffix == ".out":
        return golden.read_bytes() == data
    return golden.read_text().split("\n", 1)[0] == f"sha256 {hashlib.sha256(data).hexdigest()}"


def _write_golden(src: Path, case_id: str, data: bytes) -> None:
    whole = GOLDEN / src.name / f"{case_id}.out"
    for old in (whole, whole.with_suffix(".sha256")):
        old.unlink(missing_ok=True)
    if len(data) <= WHOLE_LIMIT:
        whole.write_bytes(data)
    else:
        whole.with_suffix(".sha256").write_text(_digest_text(data))


def _run(src: str | Path, argv: list[str]) -> bytes:
    buf = io.BytesIO()
    compat.sort(str(src), buf, argv)
    return buf.getvalue()


# Every field, the stacktraces and the txt: a load any plan can run on.
ALL = Needs(fields=frozenset(("pid", "tgid", "comm", "ts", "free_ts", "ator")), st=True, txt=True)
_LOADED: dict[tuple[str, Needs], _Loaded] = {}


def _loaded(src: Path, needs: Needs = ALL) -> _Loaded:
    # Parsing is the costly part of a small run: each input is read once.
    key = (str(src), needs)
    if key not in _LOADED:
        _LOADED[key] = _load(str(src), needs)
    return _LOADED[key]


def _run_loaded(src: Path, argv: list[str]) -> bytes:
    plan = parse_args(argv, paths=False)
    buf = io.BytesIO()
    sort_table(_loaded(src), plan, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def parquet_of(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import pagecols

    out = {}
    for src in golden_inputs():
        target = tmp_path_factory.mktemp("pq") / (src.name + ".parquet")
        pagecols.convert(str(src), target)
        out[src.name] = target
    return out


def test_every_input_has_goldens() -> None:
    missing = [s.name for s in golden_inputs() if not all(_golden_file(s, cid).exists() for cid, _, _ in CASES)]
    assert not missing, f"no golden files for {missing}: run `python tests/test_compat_golden.py --update` and review"


def test_cases_are_many_and_distinct() -> None:
    assert len(CASES) >= 30
    assert len({cid for cid, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("case_id", "argv", "options"), CASES, ids=[c[0] for c in CASES])
def test_options_mean_what_the_case_says(case_id: str, argv: list[str], options: R.Options) -> None:
    plan = parse_args(argv, paths=False)
    # The model's key names are page_owner_sort's long names, as are the plan's enum values.
    assert [(s.key.value, s.descending) for s in plan.sort] == options.sort
    assert {k.value for k in plan.cull} == options.cull
    assert (list(plan.pids) if plan.pids is not None else None) == options.pids
    assert (list(plan.tgids) if plan.tgids is not None else None) == options.tgids
    assert ([n.encode() for n in plan.names] if plan.names is not None else None) == options.names
    assert plan.unreleased_only == options.unreleased_only


@pytest.mark.parametrize("src", golden_inputs(), ids=lambda p: p.name)
@pytest.mark.parametrize(("case_id", "argv", "options"), CASES, ids=[c[0] for c in CASES])
def test_golden(src: Path, case_id: str, argv: list[str], options: R.Options) -> None:
    expected_file = _golden_file(src, case_id)
    if not expected_file.exists():
        pytest.fail(f"missing {expected_file.relative_to(ROOT)}: run `python tests/test_compat_golden.py --update`")
    assert _matches(expected_file, _run_loaded(src, argv))


# Plans that load little (pages only), the stacktraces, or the whole txt, run end to end:
# the golden runs above use one full load per input.
PATH_CASES = ["cull-p", "m-cull-st", "default", "cull-ator-tg", "sort-minus-txt", "f-cull-f"]
_NEEDS = [ALL, Needs(fields=frozenset(), st=False, txt=False)]


@pytest.mark.parametrize("src", golden_inputs(), ids=lambda p: p.name)
@pytest.mark.parametrize("needs", _NEEDS, ids=["all", "least"])
def test_text_and_parquet_load_the_same(src: Path, needs: Needs, parquet_of: dict[str, Path]) -> None:
    """The engine sees the same records from both inputs, so every golden case holds for both."""
    text, parquet = _loaded(src, needs), _load(str(parquet_of[src.name]), needs)
    assert text.leading_blank_lines == parquet.leading_blank_lines
    assert_frame_equal(text.recs, parquet.recs)
    assert_frame_equal(text.stacks.sort("stack_hash"), parquet.stacks.sort("stack_hash"))


@pytest.mark.parametrize("src", golden_inputs(), ids=lambda p: p.name)
@pytest.mark.parametrize("case_id", PATH_CASES)
def test_golden_end_to_end(src: Path, case_id: str, parquet_of: dict[str, Path]) -> None:
    argv = next(a for cid, a, _ in CASES if cid == case_id)
    golden = _golden_file(src, case_id)
    assert _matches(golden, _run(src, argv))
    assert _matches(golden, _run(parquet_of[src.name], argv))


TXT_CASES = ["default", "sort-T", "sort-minus-txt", "cull-ator", "sort-ator-p-T", "a"]


@pytest.mark.parametrize("src", golden_inputs(), ids=lambda p: p.name)
def test_header_string_path_agrees(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The integer txt keys are an optimisation: sorting the header strings gives the same bytes."""
    monkeypatch.setattr(query, "FAST_TXT_KEYS", False)
    for case_id in TXT_CASES:
        argv = next(a for cid, a, _ in CASES if cid == case_id)
        assert _matches(_golden_file(src, case_id), _run_loaded(src, argv)), case_id


def read_input(src: Path) -> bytes:
    """The dump's text, decompressed by its magic bytes (kept apart from pagecols' own reader)."""
    import bz2
    import gzip
    import lzma

    data = src.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data)
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(data)
    if data.startswith(b"BZh"):
        return bz2.decompress(data)
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def update() -> None:
    """Write the expected files from the reference model; review them before committing."""
    for src in golden_inputs():
        text = read_input(src)
        (GOLDEN / src.name).mkdir(parents=True, exist_ok=True)
        for case_id, _, options in CASES:
            _write_golden(src, case_id, R.sort_dump(text, options))
        print(f"{src.name}: {len(CASES)} cases")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        print(__doc__)


@pytest.mark.parametrize("src", golden_inputs(), ids=lambda p: p.name)
def test_text_in_many_chunks_loads_the_same(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A text dump parsed in many small batches, joined column by column, gives the same records."""
    from pagecols import ingest

    whole = _loaded(src)
    many_batches = functools.partial(ingest.iter_batches, chunk_bytes=1 << 16)
    monkeypatch.setattr(ingest, "iter_batches", many_batches)
    chunked = _load(str(src), ALL)
    assert chunked.leading_blank_lines == whole.leading_blank_lines
    assert_frame_equal(chunked.recs, whole.recs)
    assert_frame_equal(chunked.stacks.sort("stack_hash"), whole.stacks.sort("stack_hash"))
    assert _matches(_golden_file(src, "default"), _run(src, []))


LABELS_AND_TIES = GOLDEN / "inputs" / "labels-and-ties.txt"


@pytest.mark.parametrize("case_id", ["default", "cull-ator"])
def test_a_record_both_cma_and_slab_is_labelled_cma_then_slab(case_id: str) -> None:
    # Its PFN line says `type CMA` and has the `slab` flag; print_allocator() prints CMA first.
    argv = next(a for cid, a, _ in CASES if cid == case_id)
    for out in (_golden_file(LABELS_AND_TIES, case_id).read_bytes(), _run(LABELS_AND_TIES, argv)):
        assert b"allocated by CMA SLAB " in out
        assert b"SLAB CMA" not in out


def test_tied_cull_groups_come_in_pid_order_before_tgid_order() -> None:
    # (pid 300, tgid 500) and (pid 400, tgid 400) tie at 1 time: by pid 300 comes first, by tgid 400.
    lines = _run(LABELS_AND_TIES, ["--cull=pid,tgid"]).splitlines()
    assert lines[1:] == [b"1 times, 1 pages, PID 300, TGID 500", b"1 times, 1 pages, PID 400, TGID 400"]
