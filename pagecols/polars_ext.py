"""The ``pagecols`` namespace on polars frames, so a notebook stays in polars.

Importing this module registers it (``import pagecols`` does too)::

    >>> import polars as pl
    >>> import pagecols.polars_ext
    >>> lf = pl.LazyFrame({"stack": [" a+0x1/0x2", " b+0x1/0x2"], "stack_hash": [1, 2], "pages": [1, 3]})
    >>> lf.pagecols.top(by="where").select("where", "pages").rows()
    [('b', 3), ('a', 1)]

Each method is the library function of the same name with the frame as its source;
reports return ``pl.DataFrame``, :meth:`PagecolsFrame.decode` a ``pl.LazyFrame``.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from pagecols import analyze

_Frame = pl.LazyFrame | pl.DataFrame


class PagecolsFrame:
    """``frame.pagecols``: the reports of :mod:`pagecols.analyze` on a page_owner or stacks frame."""

    def __init__(self, frame: _Frame) -> None:
        self._frame = frame

    def top(
        self, by: analyze.Keys = "stack", *, n: int | None = 20, page_size: int = analyze.PAGE_SIZE
    ) -> pl.DataFrame:
        """Groups of ``by`` holding the most pages: see :func:`pagecols.analyze.top`."""
        return analyze.top(self._frame, by=by, n=n, page_size=page_size)

    def cull(self, keys: analyze.Keys = "st", *, sort: str = "-pages", n: int | None = None) -> pl.DataFrame:
        """page_owner_sort's ``--cull`` keys on clean columns: see :func:`pagecols.analyze.cull`."""
        return analyze.cull(self._frame, keys, sort=sort, n=n)

    def diff(
        self,
        new: analyze.Source,
        *,
        by: analyze.Keys = "stack",
        n: int | None = None,
        min_mib: float | None = None,
        order: analyze.DiffOrder = "change",
    ) -> pl.DataFrame:
        """This frame (old) against ``new``, the largest change first: see :func:`pagecols.analyze.diff`."""
        return analyze.diff(self._frame, new, by=by, n=n, min_mib=min_mib, order=order)

    def folded(self, *, weight: Literal["pages", "allocations"] = "pages") -> pl.DataFrame:
        """Folded stacks for flame graphs: see :func:`pagecols.analyze.folded`."""
        return analyze.folded(self._frame, weight=weight)

    def frag(self) -> pl.DataFrame:
        """Mixed pageblocks per migratetype: see :func:`pagecols.analyze.frag`."""
        return analyze.frag(self._frame)

    def frag_stacks(self, *, n: int | None = 20) -> pl.DataFrame:
        """The stacks behind mixed pageblocks: see :func:`pagecols.analyze.frag_stacks`."""
        return analyze.frag_stacks(self._frame, n=n)

    def stacks(self) -> pl.DataFrame:
        """One row per stack with its pages and allocations."""
        return analyze.stacks(self._frame)

    def decode(self) -> pl.LazyFrame:
        """The rows plus ``where``, flag-name lists, ``node`` and ``zone``: see :func:`pagecols.analyze.decode`."""
        return analyze.decode(self._frame)

    def query(self, sql: str) -> pl.DataFrame:
        """SQL over this frame as ``pages`` (and ``stacks``): see :func:`pagecols.analyze.query`."""
        return analyze.query(self._frame, sql)


pl.api.register_lazyframe_namespace("pagecols")(PagecolsFrame)
pl.api.register_dataframe_namespace("pagecols")(PagecolsFrame)
