"""Reading an input: line ends, chunk boundaries and compression (``pagecols.source``)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
import zstandard
from test_parse import STACK, record_63

import pagecols
from pagecols import ingest, source
from pagecols.errors import InputError

# Every oddity of line ends and blank lines a chunk boundary could split.
ODD = (
    b"\n\r\n\n"  # leading blank lines, one of them CRLF
    + record_63(ts=1).encode().replace(b"\n", b"\r\n")
    + record_63(ts=2, comm="a\rb").encode()  # a lone CR inside a line
    + b"\n\n\n"  # a run of blank lines
    + record_63(ts=3, stack=STACK.replace("\n", "\r\r\n")).encode()  # CR CR LF: one CR stays
    + b"\r\n\r\n"
    + record_63(ts=4).encode().rstrip(b"\n")
    + b"\r"  # ends in a CR, no LF
)


def expected_text(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def joined(path: Path, chunk_bytes: int) -> tuple[int, bytes]:
    parts = list(source.chunks(path, chunk_bytes=chunk_bytes))
    assert all(not p.data.startswith(b"\n") for p in parts[1:]), "a chunk starts at a record"
    return parts[0].leading_blank_lines, b"".join(bytes(p.data) for p in parts)


def test_chunks_do_not_depend_on_where_reads_end(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(ODD)
    want = expected_text(ODD)
    body = want.lstrip(b"\n")
    for size in range(1, len(ODD) + 2):
        assert joined(path, size) == (len(want) - len(body), body), f"chunk_bytes={size}"


def test_a_dump_round_trips_at_every_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(ODD)
    want = expected_text(ODD)
    for size in [*range(1, 200, 7), *range(len(ODD) - 40, len(ODD) + 2)]:
        monkeypatch.setattr(ingest, "chunk_size", lambda _source, size=size: size)
        df = pagecols.read_dump(path)
        assert df["ts"].to_list() == [1, 2, 3, 4], f"chunk_bytes={size}"
        out = io.BytesIO()
        pagecols.cat(path, out)
        assert out.getvalue() == want, f"chunk_bytes={size}"


@pytest.mark.parametrize("shift", [-2, -1, 0, 1, 2])
def test_the_real_chunk_size_is_no_boundary_either(tmp_path: Path, shift: int) -> None:
    # CR CR LF and a blank run placed across the 32 MiB read, as the default reads it.
    rec = record_63().encode()
    filler = rec * ((source.CHUNK_BYTES + shift) // len(rec))
    pad = b"x" * (source.CHUNK_BYTES + shift - len(filler) - 2)
    data = filler + rec.replace(b"\n", b" ", 1)[:-1] + pad + b"\r\r\n\n\n" + rec
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    assert joined(path, source.CHUNK_BYTES) == (0, expected_text(data))


def test_leading_blank_lines_beyond_a_read_are_all_kept(tmp_path: Path) -> None:
    # 40 MiB of blank lines came back as 33,554,431: the rest of the first read was dropped.
    blank = (40 << 20) + 3
    data = b"\n" * blank + record_63().encode()
    path = tmp_path / "blank.txt"
    path.write_bytes(data)
    df = pagecols.read_dump(path)
    assert df["line"].to_list() == [blank + 1]
    out = io.BytesIO()
    pagecols.cat(path, out)
    assert out.getvalue() == data


def zstd_cli(data: bytes, *args: str) -> bytes:
    return subprocess.run(["zstd", "-q", "-c", *args], input=data, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def text() -> bytes:
    return b"".join(record_63(ts=i, stack=STACK * (i % 5 + 1)).encode() for i in range(3000))


@pytest.mark.parametrize("cut", [0.02, 0.45, 0.7, 0.99])
def test_a_truncated_zstd_input_is_refused(tmp_path: Path, text: bytes, cut: float) -> None:
    packed = zstandard.ZstdCompressor().compress(text)
    path = tmp_path / "cut.zst"
    path.write_bytes(packed[: int(len(packed) * cut)])
    with pytest.raises(InputError, match=r"cut\.zst: compressed input is corrupt or truncated after [0-9,]+ bytes"):
        pagecols.convert(path, tmp_path / "out.parquet")
    assert not list(tmp_path.glob("*.parquet*"))


def test_zstd_frames_and_long_windows_read(tmp_path: Path, text: bytes) -> None:
    # Two frames, the second streamed with a 1 GiB window (`zstd --long=30` without a known size).
    path = tmp_path / "two.zst"
    path.write_bytes(zstd_cli(text[:5000]) + zstd_cli(text[5000:], "--long=30"))
    out = io.BytesIO()
    pagecols.cat(path, out)
    assert out.getvalue() == text


def test_garbage_after_a_zstd_frame_is_refused(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "tail.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(text) + b"\0" * 20)
    with pytest.raises(InputError, match=r"corrupt or truncated after [0-9,]+ bytes of text"):
        pagecols.read_dump(path)


@pytest.mark.parametrize(
    "content",
    [b"x\n\n" * (1 << 20), b"\xff" * (3 << 20), b"\xff\n" * (1 << 20), b"hello\n" * 1000],
    ids=["x-blank", "0xff", "0xff-lines", "short-text"],
)
def test_text_without_a_header_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    # 30 MB of "x\n\n" took 5.8 GB and 25 s to refuse: ten million one-line records, parsed.
    def no_parse(*_: object) -> None:
        raise AssertionError("a chunk of text that is not a dump was parsed")

    monkeypatch.setattr(ingest, "_parse", no_parse)
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"in\.txt: not a page_owner dump: no 'Page allocated via order' header"):
        pagecols.convert(path, tmp_path / "out.parquet")
    assert not list(tmp_path.glob("*.parquet*"))


@pytest.mark.parametrize("big", [True, False], ids=["big input", "small file"])
def test_records_that_never_parse_are_refused_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big: bool) -> None:
    parsed: list[int] = []
    parse = ingest._parse

    def counted(chunk: source.Chunk, cache: object) -> object:
        parsed.append(len(chunk.data))
        return parse(chunk, cache)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "_parse", counted)
    if big:  # chunks of the full size, as in an input of 256 MB or more
        monkeypatch.setattr(ingest, "CHUNK_BYTES", 2 << 20)
    path = tmp_path / "in.txt"
    text = b"Page allocated via order x\n\n" * 300_000 + record_63().encode()
    path.write_bytes(text)
    with pytest.raises(
        InputError, match=r"none of its first 1,000 records parses; first: .*in\.txt:1: malformed header"
    ):
        pagecols.convert(path, tmp_path / "out.parquet")
    first = (source.FIRST_CHUNK_BYTES // 28) * 28
    if big:
        assert parsed == [first], "the first MiB alone is parsed, then it is refused"
    else:
        # A small file's first chunk is parsed beside the two after it, each at most an eighth of it.
        assert sorted(parsed)[0] == first, parsed
        assert len(parsed) <= 3, parsed
        assert sum(parsed) <= first + 2 * ingest.chunk_size(path) < len(text)


def test_the_last_record_ends_the_last_read_instead_of_making_a_chunk_of_its_own(tmp_path: Path) -> None:
    text = "".join(record_63(ts=i) + "\n" for i in range(40)).encode()
    path = tmp_path / "d.txt"
    path.write_bytes(text)
    parts = list(source.chunks(path, chunk_bytes=len(text) // 3 + 1))
    assert b"".join(p.data for p in parts) == text
    assert len(parts) == 3
    assert parts[-1].is_last
    assert parts[-1].data.count(b"Page allocated via order") > 1


def test_dense_text_is_cut_in_chunks_of_bounded_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_CHUNK_LINES", 64)
    text = (record_63(ts=1) + "\n" * 100 + "Page allocated via order x\n\n" * 200 + record_63(ts=2)).encode()
    path = tmp_path / "dense.txt"
    path.write_bytes(text)
    parts = list(source.chunks(path, chunk_bytes=1 << 20))
    assert b"".join(p.data for p in parts) == text
    assert len(parts) > 10
    assert max(p.data.count(b"\n") for p in parts) <= 64 + 100, "at most the cap, or one record and its blank run"
    assert [p.is_last for p in parts] == [False] * (len(parts) - 1) + [True]


@pytest.mark.parametrize("max_lines", [1, 3, 10])
def test_cutting_dense_text_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_lines: int) -> None:
    monkeypatch.setattr(source, "MAX_CHUNK_LINES", max_lines)
    path = tmp_path / "odd.txt"
    path.write_bytes(ODD)
    want = expected_text(ODD)
    body = want.lstrip(b"\n")
    for size in range(1, len(ODD) + 2, 5):
        assert joined(path, size) == (len(want) - len(body), body), f"chunk_bytes={size}"
    out = io.BytesIO()
    pagecols.cat(path, out)
    assert out.getvalue() == want


def test_highly_compressed_zstd_comes_out_a_bounded_piece_at_a_time() -> None:
    # 64 MiB of "x\n\n" packs into a few KB: fed at once, it would be held whole.
    text = b"x\n\n" * (64 << 18)
    packed = zstandard.ZstdCompressor().compress(text)
    reader = source.ZstdFrames(io.BufferedReader(io.BytesIO(packed)))
    buf = bytearray(1 << 20)
    total, biggest = 0, 0
    while got := reader.readinto(memoryview(buf)):
        total += got
        biggest = max(biggest, len(reader._out))
    assert total == len(text)
    assert biggest <= 16 << 20


def test_not_a_dump_survives_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(source.NotADump("x: not a page_owner dump", " f+0x1/0x2")))
    assert (str(err), err.first_line) == ("x: not a page_owner dump", " f+0x1/0x2")
