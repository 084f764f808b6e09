"""Regenerate the synthetic samples in data/ from pagecols.synth.

    python data/make_samples.py           # rewrite them
    python data/make_samples.py --check   # exit 1 if a committed sample differs from what the generator makes

The samples are a function of (seed, records, era) and the generator's code, so a
change to pagecols/synth.py that alters them shows up here (and in
tests/test_synth.py).  Compressed samples are compared by their text, since
gzip's bytes depend on the zlib build.  See data/README.md for what each file is for.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from collections.abc import Callable
from pathlib import Path

from pagecols import synth

DATA = Path(__file__).resolve().parent

#: One seed for every era, so the eras print the same machine's pages: seed 65's
#: first 300 records hold every feature listed in data/README.md in every era.
SEED = 65
RECORDS = 300
EDGE_SEED = 7
EDGE_ERA = "6.3"


def era_sample(era: str) -> str:
    return f"synth-{era}.txt.gz"


def _records(n: int) -> list[str]:
    recs = synth.generate_records(n, seed=EDGE_SEED, era=EDGE_ERA)
    return [synth.render_record(r, era=EDGE_ERA) for r in recs]


def edge_crlf() -> bytes:
    """Four records, every line ending in CRLF (blank separators too)."""
    return "".join(r + "\n" for r in _records(4)).replace("\n", "\r\n").encode()


def edge_unterminated() -> bytes:
    """Two extra blank lines after the first record, one after the third, none after the last."""
    a, b, c, d = _records(4)
    return (a + "\n\n\n" + b + "\n" + c + "\n\n" + d).encode()


def edge_no_eol() -> bytes:
    """Three records; the last line of the file has no newline at all."""
    a, b, c = _records(3)
    return (a + "\n" + b + "\n" + c.removesuffix("\n")).encode()


def era_text(era: str) -> bytes:
    buf = io.BytesIO()
    synth.write_dump(buf, records=RECORDS, seed=SEED, era=era)
    return buf.getvalue()


def expected() -> dict[str, Callable[[], bytes]]:
    """File name -> its uncompressed content."""
    out: dict[str, Callable[[], bytes]] = {era_sample(era): (lambda e=era: era_text(e)) for era in synth.ERAS}
    out["edge-crlf.txt"] = edge_crlf
    out["edge-unterminated.txt"] = edge_unterminated
    out["edge-no-eol.txt"] = edge_no_eol
    return out


def _write(path: Path, text: bytes) -> None:
    if path.name.endswith(".gz"):
        # mtime=0 and no name in the header: rerunning changes no bytes.
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(text)
    else:
        path.write_bytes(text)


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, make in expected().items():
        path = DATA / name
        text = make()
        if args.check:
            if not path.exists() or _read(path) != text:
                stale.append(name)
        else:
            _write(path, text)
            print(f"wrote {path.relative_to(DATA.parent)}", file=sys.stderr)
    if stale:
        print("out of date (run python data/make_samples.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
