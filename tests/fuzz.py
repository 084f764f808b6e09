"""A seeded mutation fuzzer for the text parser, and the invariants every input must keep.

    python -m tests.fuzz --inputs 100000 --seed 1          # the long run, by hand
    python -m tests.fuzz --seed 1 --only 4711              # one input again, printed

Inputs are made from the records of the dumps in ``data/`` (every kernel era, a real 6.12
dump, a handmade one) by mutations: byte flips, line drops and duplications, numbers
swapped for other spellings and sizes, truncations, records spliced across eras, CR/LF
variants and blank-line runs.  Input ``i`` of seed ``s`` depends on nothing else, so a
failure can be made again alone.  For every input:

* no traceback: it converts, or it is refused with one :class:`~pagecols.PagecolsError`
  that says it is empty or not a dump, and no output is left behind;
* records in = records kept: the table has a row for every run of non-blank lines;
* ``cat`` of the Parquet file and of the text both give the input back, CRLF made LF;
* ``sort -m --cull=st`` of the text and of the Parquet file are the same bytes.

To go fast in one process, inputs are checked in batches: a batch is its inputs joined by
blank lines, itself an input that keeps the same invariants; only a batch that fails is
checked again input by input, to name the culprits.  Each batch is read with a chunk size
of its own, from a few bytes up, so records also fall across chunk boundaries.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pagecols
from pagecols import ingest, source
from pagecols.errors import PagecolsError

DATA = Path(__file__).resolve().parent.parent / "data"
SORT_OPTIONS = ["-m", "--cull=st"]
#: The messages with which an input may be refused: it holds no dump.
REFUSALS = ("empty input", "not a page_owner dump")


@cache
def corpus() -> dict[str, list[bytes]]:
    """The records of each sample dump in ``data/``, by name (a record: its lines, no blank line)."""
    found = {}
    for path in [*sorted(DATA.glob("synth-*.txt.gz")), DATA / "linux-6.12-memcg.page_owner.txt.gz"]:
        found[path.name.split(".txt")[0]] = _records(gzip.decompress(path.read_bytes()))
    found["handmade-6.3"] = _records((DATA / "handmade-6.3.txt").read_bytes())
    return found


def _records(text: bytes) -> list[bytes]:
    return [r.strip(b"\n") for r in re.split(rb"\n\n+", text.replace(b"\r\n", b"\n")) if r.strip(b"\n")][:400]


# --- mutations: each takes the input's lines (no "\n") and returns new ones -------------------------

_NUMBER = re.compile(rb"0x[0-9a-fA-F]+|[0-9]+")
_ODD_BYTES = b"\n\r \t(),:+-0123456789xX\x00\x7f\x80\xc3\xff"


def _spellings(rng: random.Random, number: bytes) -> bytes:
    value = int(number, 16) if number.startswith(b"0x") else int(number)
    choices = [
        b"+" + number,
        b"0" + number,
        b"-" + number,
        number.upper(),
        b"",
        str(2**63).encode(),
        str(2**64).encode(),
        str(2**64 - 1).encode(),
        str(rng.choice([0, 1, 18, 20, 21, 31, 63, 64, 255, 65536])).encode(),
        str(value * 10 ** rng.randint(1, 20)).encode(),
        b"%x" % value,
        b"0x%X" % value,
        b" " + number,
    ]
    return rng.choice(choices)


def flip_bytes(rng: random.Random, lines: list[bytes], _: Sequence[bytes]) -> list[bytes]:
    text = bytearray(b"\n".join(lines))
    for _i in range(rng.randint(1, 3)):
        if text:
            at = rng.randrange(len(text))
            text[at] = rng.choice(_ODD_BYTES) if rng.random() < 0.6 else text[at] ^ (1 << rng.randrange(8))
    return bytes(text).split(b"\n")


def drop_line(rng: random.Random, lines: list[bytes], _: Sequence[bytes]) -> list[bytes]:
    if lines:
        del lines[rng.randrange(len(lines))]
    return lines


def duplicate_line(rng: random.Random, lines: list[bytes], _: Sequence[bytes]) -> list[bytes]:
    if lines:
        at = rng.randrange(len(lines))
        lines.insert(at, lines[at])
    return lines


def swap_number(rng: random.Random, lines: list[bytes], _: Sequence[bytes]) -> list[bytes]:
    candidates = [i for i, line in enumerate(lines) if _NUMBER.search(line)]
    if candidates:
        i = rng.choice(candidates)
        found = list(_NUMBER.finditer(lines[i]))
        m = rng.choice(found)
        lines[i] = lines[i][: m.start()] + _spellings(rng, m.group()) + lines[i][m.end() :]
    return lines


def truncate(rng: random.Random, lines: list[bytes], _: Sequence[bytes]) -> list[bytes]:
    text = b"\n".join(lines)
    return text[: rng.randrange(len(text) + 1)].split(b"\n")


def splice_eras(rng: random.Random, lines: list[bytes], others: Sequence[bytes]) -> list[bytes]:
    """Lines of a record from another era (a header, a PFN line, a stack, a trailer) put in this one."""
    other = rng.choice(others).split(b"\n")
    start = rng.randrange(len(other))
    piece = other[start : start + rng.randint(1, 4)]
    at = rng.randrange(len(lines) + 1)
    if rng.random() < 0.5:
        return lines[:at] + piece + lines[at:]
    return lines[:at] + piece + lines[at + len(piece) :]


def line_ends(rng: random.Random, lines: list[bytes], _: Sequence[bytes]) -> list[bytes]:
    """CRLF, CR CR LF, a lone CR, LF CR: at the end of some lines, or of all."""
    variant = rng.choice([b"\r", b"\r\r", b"\r\n\r", b"\n\r", b"\r\n"])
    every = rng.random() < 0.3
    return [line + variant if every or rng.random() < 0.2 else line for line in lines]


def blank_runs(rng: random.Random, lines: list[bytes], _: Sequence[bytes]) -> list[bytes]:
    """A blank line added (a record cut in two) or taken away (two records made one)."""
    at = rng.randrange(len(lines) + 1)
    if rng.random() < 0.5:
        return lines[:at] + [b""] * rng.randint(1, 3) + lines[at:]
    return [line for i, line in enumerate(lines) if line or i < at]


MUTATIONS: dict[str, Callable[[random.Random, list[bytes], Sequence[bytes]], list[bytes]]] = {
    "flip": flip_bytes,
    "drop": drop_line,
    "dup": duplicate_line,
    "number": swap_number,
    "truncate": truncate,
    "splice": splice_eras,
    "crlf": line_ends,
    "blank": blank_runs,
}


@dataclass
class Input:
    seed: int
    index: int
    mutations: list[str]
    data: bytes


def make_input(seed: int, index: int) -> Input:
    """Input ``index`` of ``seed``: a few records of one sample, mutated one to four times."""
    rng = random.Random(f"{seed}:{index}")
    samples = corpus()
    name = rng.choice(sorted(samples))
    records = samples[name]
    others = [r for n in sorted(samples) if n != name for r in samples[n][:40]]
    start = rng.randrange(len(records))
    picked = records[start : start + rng.randint(1, 8)]
    lines: list[bytes] = []
    for record in picked:
        lines += record.split(b"\n") + [b""] * rng.choice([1, 1, 1, 2])
    if rng.random() < 0.5:
        lines.pop()  # no blank line after the last record, sometimes
    applied = rng.choices(sorted(MUTATIONS), k=rng.choice([1, 1, 2, 3, 4]))
    for mutation in applied:
        lines = MUTATIONS[mutation](rng, lines, others)
    ending = rng.choice([b"\n", b"\n", b"", b"\r\n"])
    return Input(seed, index, [name, *applied], b"\n".join(lines) + ending)


# --- the invariants ----------------------------------------------------------------------------


def expected_records(data: bytes) -> int:
    """Runs of non-blank lines, after CRLF -> LF (a line holding only a CR is not blank)."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # what follows the last newline is no line
    return sum(1 for i, line in enumerate(lines) if line and (i == 0 or not lines[i - 1]))


@contextmanager
def chunked(size: int | None) -> Iterator[None]:
    """Read text in chunks of ``size`` bytes, the input's first one half that (None: as shipped)."""
    if size is None:
        yield
        return
    saved = ingest.chunk_size, source.FIRST_CHUNK_BYTES
    ingest.chunk_size = lambda _source: size  # type: ignore[assignment]
    source.FIRST_CHUNK_BYTES = max(size // 2, 1)
    try:
        yield
    finally:
        ingest.chunk_size, source.FIRST_CHUNK_BYTES = saved


def check(data: bytes, workdir: Path, chunk: int | None = None) -> list[str]:
    """What ``data`` breaks of the invariants: empty when it keeps them all."""
    text, table = workdir / "in.txt", workdir / "in.parquet"
    text.write_bytes(data)
    table.unlink(missing_ok=True)
    want = data.replace(b"\r\n", b"\n")
    problems = []
    with chunked(chunk):
        try:
            pagecols.convert(text, table)
        except PagecolsError as e:
            if not any(r in str(e) for r in REFUSALS):
                problems.append(f"refused with an unexpected error: {e}")
            if list(workdir.glob("*.parquet*")):
                problems.append("a refused input left an output file")
            return problems
        except Exception:  # the invariant: nothing else, ever
            return [f"traceback in convert:\n{traceback.format_exc()}"]
        try:
            kept = pagecols.info(table)["records"]
            if kept != expected_records(data):
                problems.append(f"records in {expected_records(data)}, kept {kept}")
            for name, src in (("parquet", table), ("text", text)):
                out = io.BytesIO()
                pagecols.cat(src, out)
                if out.getvalue() != want:
                    problems.append(
                        f"cat of the {name} differs from the input at byte {_first_difference(out.getvalue(), want)}"
                    )
            sorted_text, sorted_table = io.BytesIO(), io.BytesIO()
            pagecols.sort(text, sorted_text, SORT_OPTIONS)
            pagecols.sort(table, sorted_table, SORT_OPTIONS)
            if sorted_text.getvalue() != sorted_table.getvalue():
                problems.append("sort -m --cull=st of the text and of the Parquet file differ")
        except Exception:
            problems.append(f"traceback after convert:\n{traceback.format_exc()}")
    return problems


def _first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Failure:
    input: Input
    problems: list[str]


@dataclass
class Result:
    inputs: int = 0
    batches: int = 0
    failures: list[Failure] = field(default_factory=list)
    mutations: Counter[str] = field(default_factory=Counter)


def run(
    *, inputs: int, seed: int, batch: int = 100, start: int = 0, say: Callable[[str], None] | None = None
) -> Result:
    """Make and check ``inputs`` inputs of ``seed`` (from index ``start``), ``batch`` at a time."""
    result = Result()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pagecols-fuzz-") as tmp:
        workdir = Path(tmp)
        for first in range(start, start + inputs, batch):
            members = [make_input(seed, i) for i in range(first, min(first + batch, start + inputs))]
            rng = random.Random(f"{seed}:batch:{first}")
            # Mostly as shipped; tiny chunks cost a parse each (test_source tries every size on a few inputs).
            chunk = rng.randint(8 << 10, 128 << 10) if rng.random() < 0.15 else None
            joined = b"\n\n".join(m.data for m in members)
            if check(joined, workdir, chunk):
                # Name the culprits; a failure of the batch alone is the batch's own.
                found = [Failure(m, p) for m in members if (p := check(m.data, workdir, chunk))]
                result.failures += found or [
                    Failure(Input(seed, first, ["batch"], joined), check(joined, workdir, chunk))
                ]
            result.inputs += len(members)
            result.batches += 1
            for m in members:
                result.mutations.update(m.mutations[1:])
            if say is not None and result.batches % 50 == 0:
                rate = result.inputs / (time.monotonic() - begun)
                say(f"{result.inputs:,} inputs, {len(result.failures)} failures, {rate:,.0f} inputs/s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=1000, help="how many inputs to make and check")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="index of the first input")
    parser.add_argument("--batch", type=int, default=100, help="inputs checked together (see above)")
    parser.add_argument("--only", type=int, help="print input ONLY of the seed and check it alone")
    parser.add_argument("--save", type=Path, help="write each failing input to this directory")
    args = parser.parse_args(argv)
    if args.only is not None:
        one = make_input(args.seed, args.only)
        sys.stdout.buffer.write(one.data)
        with tempfile.TemporaryDirectory() as tmp:
            problems = check(one.data, Path(tmp))
        print(f"\n--- mutations {one.mutations}: {problems or 'keeps every invariant'}", file=sys.stderr)
        return 1 if problems else 0
    begun = time.monotonic()
    result = run(
        inputs=args.inputs, seed=args.seed, batch=args.batch, start=args.start, say=lambda s: print(s, file=sys.stderr)
    )
    seconds = time.monotonic() - begun
    print(
        f"seed {args.seed}: {result.inputs:,} inputs in {result.batches:,} batches, {seconds:,.0f} s; "
        f"{len(result.failures)} failures"
    )
    print("mutations applied: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.mutations.items())))
    for f in result.failures:
        print(f"input {f.input.index} ({' '.join(f.input.mutations)}):")
        for p in f.problems:
            print("  " + p.replace("\n", "\n  "))
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"seed{args.seed}-input{f.input.index}.txt").write_bytes(f.input.data)
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
