"""pagecols: Linux page_owner dumps as a columnar table.

Parse a dump once (``convert``), then report on it with polars (``scan``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names -> defining module.  Imported lazily so that `pagecols info`
# does not pay for matplotlib or the report code.
_EXPORTS = {
    "convert": "pagecols.ingest",
    "info": "pagecols.frames",
    "cat": "pagecols.textout",
    "scan": "pagecols.dataset",
    "dumps": "pagecols.dataset",
    "trend": "pagecols.analyze",
    "read_dump": "pagecols.frames",
    "top": "pagecols.analyze",
    "diff": "pagecols.analyze",
    "folded": "pagecols.analyze",
    "frag": "pagecols.analyze",
    "query": "pagecols.analyze",
    "cull": "pagecols.analyze",
    "decode": "pagecols.analyze",
    "timeline": "pagecols.analyze",
    "read_stacks": "pagecols.stacks",
    "sort": "pagecols.compat",
    "PagecolsError": "pagecols.errors",
    "ParseError": "pagecols.errors",
    "InputError": "pagecols.errors",
    "UsageError": "pagecols.errors",
}

__all__ = [
    "InputError",
    "PagecolsError",
    "ParseError",
    "UsageError",
    "__version__",
    "cat",
    "convert",
    "cull",
    "decode",
    "diff",
    "dumps",
    "folded",
    "frag",
    "info",
    "query",
    "read_dump",
    "read_stacks",
    "scan",
    "sort",
    "timeline",
    "top",
    "trend",
]

if TYPE_CHECKING:
    from pagecols.analyze import cull, decode, diff, folded, frag, query, timeline, top, trend
    from pagecols.compat import sort
    from pagecols.dataset import dumps, scan
    from pagecols.errors import InputError, PagecolsError, ParseError, UsageError
    from pagecols.frames import info, read_dump
    from pagecols.ingest import convert
    from pagecols.stacks import read_stacks
    from pagecols.textout import cat


def __dir__() -> list[str]:
    # The public names are resolved lazily, so the module's globals alone would hide them
    # from dir() and from IPython's tab completion.
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pagecols' has no attribute {name!r}")
    import importlib

    # The `.pagecols` namespace on polars frames comes with the public API; it is registered
    # here, at the top, because it sits above the reports and frames.scan sits below them.
    from pagecols import polars_ext  # noqa: F401

    return getattr(importlib.import_module(module), name)
