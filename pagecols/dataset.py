"""Many dumps as one table: a hive-partitioned dataset of Parquet files, labelled by directory.

A dataset is a directory: ``fleet/host=web01/taken=2026-05-01/<checksum>.parquet``.  Each
``--label KEY=VALUE`` given to ``convert --into`` is a ``KEY=VALUE`` directory, in the order
given, as polars (``hive_partitioning=True``), DuckDB and Spark read it; each file is one dump,
named by the BLAKE2b of its text, so converting the same dump with the same labels again
replaces it.  Each file's pagecols metadata keeps the dump's facts (labels, source, checksum,
format, records, pages): :func:`dumps` reads them from the file footers alone.

Adding is atomic: the dumps are converted into a directory beside the dataset
(``.fleet.pagecols-tmp/``), then renamed into it, with Ctrl-C held off for the renames.  A
crash or Ctrl-C before that leaves the dataset as it was; processes adding at once each
rename whole files only.

Reading: :func:`scan_sources` takes a dataset, any partition directory of it (labels above it
still become columns), a glob, a file, or several of these, and returns one ``LazyFrame``.
Labels are string columns; a filter on them skips the files of other partitions unread.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import polars as pl

from pagecols import frames, outfile
from pagecols.derive import decode_records
from pagecols.errors import ExitCode, InputError, PagecolsError, UsageError, complain
from pagecols.schema import COLUMNS, SCHEMA_VERSION, DumpMeta

#: A label's key: a name any engine takes as a column.
if TYPE_CHECKING:
    from pagecols.ingest import IngestReport

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A label's value: characters a path holds as they are, which no engine escapes or splits on.
_VALUE = re.compile(r"[A-Za-z0-9._:@+,-]+")
_GLOB_CHARS = frozenset("*?[")
TMP_SUFFIX = ".pagecols-tmp"

Sources = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


# --- labels -------------------------------------------------------------------------------------


def parse_labels(items: Sequence[str]) -> dict[str, str]:
    """``["host=web01", "taken=1"]`` -> ``{"host": "web01", "taken": "1"}``, in the order given, checked."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"label `{item}` is not KEY=VALUE")
        if key in (k for k, _ in pairs):
            raise UsageError(f"label key `{key}` is given twice")
        pairs.append((key, value))
    labels = dict(pairs)
    check_labels(labels)
    return labels


def check_labels(labels: Mapping[str, str]) -> None:
    """Each key a name that is no column of the table, each value one a path holds as it is; else a UsageError."""
    for key, value in labels.items():
        if not _KEY.fullmatch(key):
            raise UsageError(f"label key `{key}` must be a name: letters, digits and _, not starting with a digit")
        if key in COLUMNS:
            raise UsageError(f"label key `{key}` is a column of the table")
        if not _VALUE.fullmatch(value) or value in (".", ".."):
            allowed = "letters, digits and . _ : @ + , - (a path holds them as they are)"
            raise UsageError(f"label value `{value}` of `{key}`: use {allowed}")


def labels_of(path: str | os.PathLike[str]) -> dict[str, str]:
    """The labels a file's path gives it: each ``KEY=VALUE`` directory above it, outermost first."""
    labels = {}
    for part in Path(path).parent.parts:
        key, sep, value = part.partition("=")
        if sep and _KEY.fullmatch(key):
            labels[key] = value
    return labels


def _partition(labels: Mapping[str, str]) -> Path:
    return Path(*(f"{k}={v}" for k, v in labels.items())) if labels else Path()


# --- adding dumps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    """One dump added to a dataset: its file, and what convert found."""

    path: Path
    report: IngestReport


#: Converts dumps into files of a staging directory: ``(items, staging, strict=, jobs=)`` -> each file and
#: its report, in the order of the items.  :func:`add_each` runs processes on this machine; the Spark
#: engine runs a task per dump (``pagecols.spark.convert``).
ConvertAll = Callable[..., list[tuple[Path, "IngestReport"]]]


def add(
    dumps: Sequence[str | os.PathLike[str]],
    into: str | os.PathLike[str],
    labels: Mapping[str, str],
    *,
    strict: bool = False,
    jobs: int | None = None,
    convert_all: ConvertAll | None = None,
) -> list[Added]:
    """Convert ``dumps`` into the dataset ``into`` under ``labels``; all of them or none.

    Several dumps convert in parallel, one process each, on up to ``jobs`` cores (all by
    default).  A dump already in the dataset with the same labels and the same text is
    replaced.  The labels must have the keys of the dataset's partitions, in their order.
    """
    return add_each([(dump, labels) for dump in dumps], into, strict=strict, jobs=jobs, convert_all=convert_all)


def add_each(
    items: Sequence[tuple[str | os.PathLike[str], Mapping[str, str]]],
    into: str | os.PathLike[str],
    *,
    strict: bool = False,
    jobs: int | None = None,
    convert_all: ConvertAll | None = None,
) -> list[Added]:
    """:func:`add` with labels of its own for each dump (the same keys, in the same order).

    ``convert_all`` converts the dumps into the staging directory (default: processes here).
    """
    if not items:
        raise UsageError("no dump to add")
    if any(str(dump) == "-" for dump, _ in items) and len(items) > 1:
        raise UsageError("stdin (`-`) can only be added alone")
    root = Path(into)
    if root.exists() and not root.is_dir():
        raise InputError(f"`{root}` is not a directory: a dataset is one")
    for _, labels in items:
        check_labels(labels)
    keys = {tuple(labels) for _, labels in items}
    if len(keys) > 1:
        raise UsageError("every dump added at once takes the same label keys, in the same order")
    _check_layout(root, list(keys.pop()))
    staging_root = root.absolute().parent / f".{root.absolute().name}{TMP_SUFFIX}"
    with _staging(staging_root) as staging:
        converted = (convert_all or _convert_all)(items, staging, strict=strict, jobs=jobs)
        with _signals_held():
            added = []
            for (staged, report), (_, labels) in zip(converted, items, strict=True):
                target = root / _partition(labels) / f"{report.checksum}.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
                added.append(Added(target, report))
    return added


def _check_layout(root: Path, wanted: list[str]) -> None:
    existing = next(iter(files_of(root)), None) if root.is_dir() else None
    if existing is None:
        return
    keys = list(labels_of(existing.relative_to(root)))
    if keys != wanted:
        want = ", ".join(f"--label {k}=…" for k in keys) or "no labels"
        raise UsageError(f"`{root}` is partitioned by {', '.join(keys) or 'nothing'}: give {want}, in that order")


@contextlib.contextmanager
def _staging(parent: Path) -> Iterator[Path]:
    """A fresh directory of this process under ``parent``, removed with ``parent`` if empty afterwards."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=parent))
    except OSError as err:
        raise InputError(f"cannot write beside the dataset in `{parent.parent}`: {err.strerror}") from err
    outfile.add_pending_dir(work)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        outfile.discard_pending_dir(work)
        with contextlib.suppress(OSError):  # another process may be adding
            parent.rmdir()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends: the renames that add the dumps happen all or none.

    The mask holds them off this thread; :func:`pagecols.outfile.signals_held` holds the
    console script's handlers, which may run on another (pagecols.entry).
    """
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    with outfile.signals_held():
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _convert_all(
    items: Sequence[tuple[str | os.PathLike[str], Mapping[str, str]]],
    staging: Path,
    *,
    strict: bool,
    jobs: int | None,
) -> list[tuple[Path, IngestReport]]:
    outs = [staging / f"{i}.parquet" for i in range(len(items))]
    cores = jobs if jobs is not None else len(os.sched_getaffinity(0))
    if len(items) == 1 or cores <= 1:
        return [
            (out, convert_one(dump, out, dict(labels), strict, 2))
            for (dump, labels), out in zip(items, outs, strict=True)
        ]
    # Processes, not threads: the parser's Python parts hold the GIL.  Spawned, not forked:
    # polars' and pyarrow's thread pools do not survive a fork.  Each parses on one thread.
    # Ctrl-C ends the command without closing the pool in order (pagecols.entry stops the workers):
    # multiprocessing's resource_tracker process then removes the pool's semaphores, warning of each.
    quiet = "ignore:resource_tracker:UserWarning"
    if quiet not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    with _started_ignoring_ctrl_c():
        pool = get_context("spawn").Pool(min(cores, len(items)), initializer=_worker_setup, initargs=(os.getpid(),))
    try:
        pending = [
            pool.apply_async(_convert_in_worker, (os.fspath(dump), out, dict(labels), strict))
            for (dump, labels), out in zip(items, outs, strict=True)
        ]
        reports = [_raised(job.get()) for job in pending]
        pool.close()
    except BaseException:
        pool.terminate()  # the other dumps are not wanted any more (an error, Ctrl-C)
        raise
    finally:
        pool.join()
    return list(zip(outs, reports, strict=True))


#: The signals a terminal sends to the whole process group, which the workers leave to the command.
_LEFT_TO_THE_COMMAND = (signal.SIGINT, signal.SIGHUP)
#: prctl's option that has the kernel signal a process when its parent ends (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def _worker_setup(command: int) -> None:
    """A worker leaves Ctrl-C and hang-up to the command, and ends with it.

    A terminal's Ctrl-C or hang-up reaches the whole process group: the command stops its
    workers and removes what they wrote, instead of each printing a traceback.  A worker
    the pool starts to replace one the command stopped would live on: it took a dump, and
    printed a BrokenPipeError when its result had nowhere to go.  So the kernel kills a
    worker when the command ends, however it ends (``PR_SET_PDEATHSIG``, Linux), and one
    that starts after that ends at once.
    """
    for signum in _LEFT_TO_THE_COMMAND:
        signal.signal(signum, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the worker may outlive a killed command
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != command:
        os._exit(0)


@contextlib.contextmanager
def _started_ignoring_ctrl_c() -> Iterator[None]:
    """Processes started in this block ignore Ctrl-C and hang-up from their first instruction.

    A new program keeps the signals its parent ignores; Python then leaves them so.  The
    worker's initializer came too late: a Ctrl-C while a worker still imported its modules
    printed a traceback there.  Meanwhile the signals are blocked here, so that one sent to
    this process waits for its own handlers instead of being lost.  (Only the main thread
    may set handlers: elsewhere the workers are started as they are.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _LEFT_TO_THE_COMMAND)
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in _LEFT_TO_THE_COMMAND}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: set outside Python, and not ours to guess
                signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)


@dataclass(frozen=True)
class _Failed:
    """A worker's error as text: some errors take keyword arguments, which unpickling cannot give
    back (and the pool would then wait for a result forever)."""

    kind: type[PagecolsError]
    message: str


def _convert_in_worker(dump: str, out: Path, labels: dict[str, str], strict: bool) -> IngestReport | _Failed:
    try:
        return convert_one(dump, out, labels, strict, 1)
    except PagecolsError as err:
        kind = (
            UsageError if isinstance(err, UsageError) else InputError if isinstance(err, InputError) else PagecolsError
        )
        return _Failed(kind, str(err))


def _raised(result: IngestReport | _Failed) -> IngestReport:
    if isinstance(result, _Failed):
        raise result.kind(result.message)
    return result


def convert_one(
    dump: str | os.PathLike[str], out: Path, labels: dict[str, str], strict: bool, workers: int
) -> IngestReport:
    """Convert one dump for a dataset, hashing its text for the file's name (in a worker process)."""
    # Here, not at the top: a report over a dataset parses nothing and needs no parser.
    from pagecols.ingest import convert

    return convert(dump, out, strict=strict, workers=workers, checksum=True, labels=labels)


def run_add(
    dumps: Sequence[str],
    into: str | os.PathLike[str],
    labels: Sequence[str],
    *,
    strict: bool,
    jobs: int | None,
    convert_all: ConvertAll | None = None,
) -> ExitCode:
    """The ``pagecols convert DUMP... --into DATASET`` command: each dump added, and its
    unparsed records, on stderr; returns the exit code."""
    from pagecols.ingest import print_errors

    try:
        added = add(dumps, into, parse_labels(labels), strict=strict, jobs=jobs, convert_all=convert_all)
    except PagecolsError as e:
        return complain(e)
    for one in added:
        print_errors(one.report)
        print(f"added {one.report.source} as {one.path} ({one.report.records:,} records)", file=sys.stderr)
    return ExitCode.OK


def cat(sources: Sources, out: BinaryIO) -> int:
    """Write the text of every dump ``sources`` names to ``out``, one after the other, each byte for byte."""
    from pagecols import textout

    return sum(textout.cat(path, out) for path in expand(sources))


# --- finding and reading the files --------------------------------------------------------------


def files_of(directory: str | os.PathLike[str]) -> list[Path]:
    """The Parquet files under ``directory``, sorted; hidden and ``_`` entries left out, as Spark does."""
    found = []
    for top, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [Path(top, n) for n in names if n.endswith(".parquet") and not n.startswith((".", "_"))]
    return sorted(found)


def expand(sources: Sources) -> list[str]:
    """The dumps ``sources`` names: each directory's Parquet files, each glob's matches, each path."""
    items = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    if not items:
        raise UsageError("no input given")
    out: list[str] = []
    for item in items:
        path = os.fspath(item)
        if path == "-" or (os.path.exists(path) and not os.path.isdir(path)):
            out.append(path)
        elif os.path.isdir(path):
            found = files_of(path)
            if not found:
                raise InputError(f"`{path}` holds no Parquet files: not a dataset")
            out += map(str, found)
        elif _GLOB_CHARS & set(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise InputError(f"`{path}` matches no file")
            for match in matches:
                out += map(str, files_of(match)) if os.path.isdir(match) else [match]
        else:
            raise InputError(f"`{path}` does not exist")
    return out


def is_many(sources: Sources) -> bool:
    """Whether ``sources`` may stand for more than one dump (several, a directory or a glob)."""
    if not isinstance(sources, str | os.PathLike):
        return True
    path = os.fspath(sources)
    return os.path.isdir(path) or (not os.path.exists(path) and bool(_GLOB_CHARS & set(path)))


def scan_sources(sources: Sources) -> pl.LazyFrame:
    """All the dumps ``sources`` names as one ``LazyFrame``, with their labels as string columns.

    The files of this schema version with the same label keys are one polars scan, so that
    a filter on a label prunes files; older files are upgraded one by one; text dumps are
    parsed.  A label missing for some dumps is null there.
    """
    scans = [part.frame for part in scan_parts(sources)]
    return scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal")


@dataclass(frozen=True)
class Part:
    """One frame of :func:`scan_parts`; ``sliced`` when it is a plain scan of Parquet files,
    whose row ranges polars reads without reading the rows before them.  Not a frame with a
    join (an older schema's, which joins ``where`` on): polars 2.1's streaming engine gives
    the wrong rows for a range of a left join."""

    frame: pl.LazyFrame
    sliced: bool


def scan_parts(sources: Sources) -> list[Part]:
    """:func:`scan_sources`'s frames before they are put together, in order."""
    parts: list[Part] = []
    by_keys: dict[tuple[str, ...], list[str]] = {}
    for path in expand(sources):
        labels = labels_of(path)
        clash = [k for k in labels if k in COLUMNS]
        if clash:
            raise InputError(f"`{path}`: directory label `{clash[0]}` is also a column of the table")
        sliced = True
        if path != "-" and frames.is_parquet(path):
            meta = frames.parquet_meta(path)
            if meta.schema_version == SCHEMA_VERSION:
                by_keys.setdefault(tuple(labels), []).append(path)
                continue
            lf = frames.upgrade(pl.scan_parquet(path), meta.schema_version)
            sliced = False  # upgrade joins `where` on
        else:
            lf = frames.scan(path)  # a text dump, staged into a Parquet file
        parts.append(Part(lf.with_columns(pl.lit(v, dtype=pl.String).alias(k) for k, v in labels.items()), sliced))
    for keys, paths in by_keys.items():
        hive = dict.fromkeys(keys, pl.String)
        parts.insert(0, Part(pl.scan_parquet(paths, hive_partitioning=bool(keys), hive_schema=hive or None), True))
    return parts


def label_keys(lf: pl.LazyFrame) -> list[str]:
    """The label columns of a scanned table: its columns that are not the schema's."""
    return [c for c in lf.collect_schema().names() if c not in COLUMNS]


def scan(sources: Sources, *, decoded: bool = False) -> pl.LazyFrame:
    """Dumps as a ``pl.LazyFrame`` with the columns of :mod:`pagecols.schema` and their labels.

    ``sources`` is a converted file or a text dump, a dataset from ``convert --into``, a
    partition directory of one (``fleet/host=web01``: the labels above it are still
    columns), a glob, or a list of these.  A filter on a label reads only the files of the
    partitions it keeps.  With ``decoded=True`` the frame also has ``gfp_flag_names`` and
    ``page_flag_names`` as lists, ``node`` and ``zone``.  Taken as ``pagecols.scan``, the
    frame has the ``.pagecols`` namespace (``lf.pagecols.top(by="comm")``).

    Examples
    --------
    >>> import pagecols
    >>> lf = pagecols.scan("data/handmade-6.3.txt")
    >>> lf.select("order", "comm").head(1).collect().columns
    ['order', 'comm']
    """
    lf = scan_sources(sources)
    return decode_records(lf) if decoded else lf


# --- facts ----------------------------------------------------------------------------------------


def dumps(sources: Sources) -> pl.DataFrame:
    """One row per dump: its labels, ``source``, ``checksum``, ``format``, ``records``, ``pages``, ``mib``
    and ``file``, read from the file footers (text dumps are parsed for it)."""
    rows = []
    for path in expand(sources):
        if path != "-" and frames.is_parquet(path):
            meta = frames.parquet_meta(path)
            facts = _facts(meta)
            if facts["pages"] is None:  # written before pagecols kept the count
                facts["pages"] = frames.info(path)["pages"]
        else:
            facts = frames.info(path)
            facts["labels"], facts["checksum"] = {}, None
        rows.append({**facts["labels"], **{k: facts[k] for k in _FACTS}, "file": path})
    keys = list(dict.fromkeys(k for row in rows for k in row if k not in (*_FACTS, "file")))
    schema = {
        **dict.fromkeys(keys, pl.String),
        "source": pl.String,
        "checksum": pl.String,
        "format": pl.String,
        "records": pl.Int64,
        "pages": pl.Int64,
        "file": pl.String,
    }
    frame = pl.DataFrame(rows, schema=schema)
    return frame.with_columns(mib=pl.col("pages").cast(pl.Float64) * frames.PAGE_SIZE / (1 << 20)).select(
        *keys, *_FACTS, "mib", "file"
    )


_FACTS = ("source", "checksum", "format", "records", "pages")


def _facts(meta: DumpMeta) -> dict[str, Any]:
    return {
        "labels": dict(meta.extra.get("labels", {})),
        "source": meta.source,
        "checksum": meta.extra.get("checksum"),
        "format": meta.format,
        "records": meta.records,
        "pages": meta.extra.get("pages"),
    }
