"""The compat renderer's plumbing: stitching pieces across batches, and the writes."""

from __future__ import annotations

import io

import polars as pl
import pytest

from pagecols.compat.render import Piece, _default_prefix, _Sink, _stitch, _write_strings


def test_stitch_lays_out_own_and_shared_pieces_stanza_by_stanza() -> None:
    part = pl.DataFrame({"n": [3, None, 12], "at": [1, 0, 1]})
    layout: list[Piece] = [
        pl.col("n").cast(pl.String),
        (pl.Series(["<a>", "<b>"]), pl.col("at")),
        (pl.Series([";\n"]), pl.lit(0)),
    ]
    stitched = _stitch(part, layout)
    # A null own piece prints nothing.
    assert "".join(stitched.to_list()) == "3<b>;\n<a>;\n12<b>;\n"


@pytest.mark.parametrize("big", [False, True], ids=["shared-lines", "numbers-too-big-to-pack"])
def test_default_count_line(big: bool) -> None:
    """``<num> times, <pages> pages, allocated by <names>:``, shared or built per group."""
    pages = [1, 2**40 if big else 8, 1]
    frame = pl.DataFrame(
        {"num": [1, 3, 1], "pages": pages, "ator": [2, 4 | 8, 16]},
        schema={"num": pl.UInt64, "pages": pl.UInt64, "ator": pl.UInt8},
    )
    layout = _default_prefix(frame)
    assert len(layout) == (4 if big else 1)
    assert "".join(_stitch(frame, layout).to_list()) == (
        "1 times, 1 pages, allocated by CMA :\n"
        f"3 times, {pages[1]} pages, allocated by SLAB VMALLOC :\n"
        "1 times, 1 pages, allocated by OTHERS :\n"
    )


@pytest.mark.parametrize("batch", [1, 2, 5, 100])
def test_render_output_does_not_depend_on_the_batch_size(batch: int) -> None:
    groups = pl.DataFrame({"x": [f"line {i}\n" for i in range(7)]})
    layout: list[Piece] = [pl.col("x"), (pl.Series(["-\n"]), pl.lit(0))]
    out = io.BytesIO()
    written = 0
    for offset in range(0, groups.height, batch):
        written += _write_strings(_stitch(groups.slice(offset, batch), layout), out)
    expected = "".join(f"line {i}\n-\n" for i in range(7)).encode()
    assert out.getvalue() == expected
    assert written == len(expected)


class _Trickle(io.RawIOBase):
    """A raw file that takes at most three bytes per write, as a pipe may."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        chunk = bytes(memoryview(b))[:3]  # type: ignore[arg-type]  # RawIOBase.write takes any buffer
        self.data += chunk
        return len(chunk)


def test_short_writes_are_retried_until_all_is_written() -> None:
    text = pl.Series(["é" * 50, "\n", "x" * 1000])
    sink = _Trickle()
    assert _write_strings(text, sink) == len("".join(text.to_list()).encode())  # type: ignore[arg-type]
    assert bytes(sink.data) == "".join(text.to_list()).encode()


class _ClosedPipe(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_pipe_stays_a_broken_pipe() -> None:
    """polars turns errors from write() into bare OSErrors; the writer restores the original."""
    with pytest.raises(BrokenPipeError):
        _write_strings(pl.Series(["x" * 100]), _ClosedPipe())  # type: ignore[arg-type]


def test_latin1_text_is_written_as_its_bytes_even_when_a_write_cuts_a_character() -> None:
    """With ``latin1`` each character stands for one byte (query.as_latin1); polars may end
    one write inside a character's UTF-8 and start the next with the rest."""
    out = io.BytesIO()
    sink = _Sink(out, latin1=True)
    given = [sink.write(part) for part in (b"ab", b"c\xc3", b"\xa9d\xc3\xbf", b"\n")]
    assert given == [2, 2, 4, 1]  # what polars handed over, taken whole
    assert out.getvalue() == b"abc\xe9d\xff\n"
    assert sink.written == 7
    assert _write_strings(pl.Series(["caf\u00e9 \u00ff", "\n"]), io.BytesIO(), latin1=True) == 7
