"""page_owner_sort's command line -> a frozen, checked :class:`Plan`.

The options are read the way glibc ``getopt_long`` reads them for the v6.3 tool
(compat.md B.1): argv is permuted, so options may stand before, between or after the
two positionals; ``--`` ends the options; short flags may be clustered
(``-mf``); a long option takes its value as ``--sort=x`` or ``--sort x`` (the
next word is taken even when it starts with ``-``, so ``--sort -pid`` works);
a long option may be abbreviated to any unambiguous prefix (``--cu=st``).

Options take effect left to right, as in the C tool: a single-letter sort flag
replaces the whole sort list, ``--sort`` replaces it, ``--cull`` sets
``times DESC`` only if the list is still empty then, and ``--pid/--tgid/--name``
given twice keep the last list.  With no sort option and no ``--cull`` the sort
is ``times DESC`` (compat.md §1, fix 3).
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pagecols.errors import UsageError

K = TypeVar("K")

__all__ = [
    "CULL_ORDER",
    "CullKey",
    "Plan",
    "SortKey",
    "SortSpec",
    "parse_args",
]


class SortKey(enum.Enum):
    """What a sort list entry compares; the value is the long name page_owner_sort uses."""

    PID = "pid"
    TGID = "tgid"
    COMM = "name"
    STACKTRACE = "stacktrace"
    TXT = "txt"
    FREE_TS = "free_ts"
    ALLOC_TS = "alloc_ts"
    ALLOCATOR = "allocator"
    # Reachable only through the -t and -m flags, never through --sort (compat.md B.1).
    TIMES = "times"
    PAGES = "pages"


class CullKey(enum.Enum):
    """A grouping key of ``--cull``; the value is its long name."""

    STACKTRACE = "stacktrace"
    PID = "pid"
    TGID = "tgid"
    COMM = "name"
    FREE = "free"
    ALLOCATOR = "allocator"


#: The cull comparator's fixed key order, whatever order the command line gave (compat.md B.7).
CULL_ORDER: tuple[CullKey, ...] = (
    CullKey.STACKTRACE,
    CullKey.PID,
    CullKey.TGID,
    CullKey.COMM,
    CullKey.FREE,
    CullKey.ALLOCATOR,
)

# Key names exactly as page_owner_sort v6.3 spells them (get_arg_type), long then short.
SORT_NAMES: dict[str, SortKey] = {
    "pid": SortKey.PID,
    "p": SortKey.PID,
    "tgid": SortKey.TGID,
    "tg": SortKey.TGID,
    "name": SortKey.COMM,
    "n": SortKey.COMM,
    "stacktrace": SortKey.STACKTRACE,
    "st": SortKey.STACKTRACE,
    "txt": SortKey.TXT,
    "T": SortKey.TXT,
    "free_ts": SortKey.FREE_TS,
    "ft": SortKey.FREE_TS,
    "alloc_ts": SortKey.ALLOC_TS,
    "at": SortKey.ALLOC_TS,
    "allocator": SortKey.ALLOCATOR,
    "ator": SortKey.ALLOCATOR,
}
CULL_NAMES: dict[str, CullKey] = {
    "pid": CullKey.PID,
    "p": CullKey.PID,
    "tgid": CullKey.TGID,
    "tg": CullKey.TGID,
    "name": CullKey.COMM,
    "n": CullKey.COMM,
    "stacktrace": CullKey.STACKTRACE,
    "st": CullKey.STACKTRACE,
    "free": CullKey.FREE,
    "f": CullKey.FREE,
    "allocator": CullKey.ALLOCATOR,
    "ator": CullKey.ALLOCATOR,
}


@dataclass(frozen=True)
class SortSpec:
    """One entry of the sort list: a key and its direction."""

    key: SortKey
    descending: bool = False

    def __str__(self) -> str:
        return ("-" if self.descending else "+") + self.key.value


# The single-letter flags and the one-key sort list each one sets (compat.md B.1).
FLAG_SORTS: dict[str, SortSpec] = {
    "a": SortSpec(SortKey.ALLOC_TS),
    "m": SortSpec(SortKey.PAGES, descending=True),
    "p": SortSpec(SortKey.PID),
    "P": SortSpec(SortKey.TGID),
    "n": SortSpec(SortKey.COMM),
    "r": SortSpec(SortKey.FREE_TS),
    "s": SortSpec(SortKey.STACKTRACE),
    "t": SortSpec(SortKey.TIMES, descending=True),
}
SHORT_FLAGS = "adfmnprstP"  # v6.3's getopt string; none takes an argument
LONG_OPTIONS = ("pid", "tgid", "name", "cull", "sort")  # all require an argument

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class Plan:
    """What one ``pagecols sort`` run does: select -> cull -> sort -> render.

    ``sort`` is the final sort list, never empty.  ``cull`` is empty in the
    default mode, where groups are byte-identical records.  A selection is
    ``None`` when not asked for (an empty tuple would select nothing).
    """

    sort: tuple[SortSpec, ...] = (SortSpec(SortKey.TIMES, descending=True),)
    cull: frozenset[CullKey] = frozenset()
    pids: tuple[int, ...] | None = None
    tgids: tuple[int, ...] | None = None
    names: tuple[str, ...] | None = None
    unreleased_only: bool = False
    debug: bool = False
    input: str | None = None
    output: str | None = None

    def __post_init__(self) -> None:
        if not self.sort:
            raise UsageError("the sort list is empty")
        for spec in self.sort:
            if not isinstance(spec, SortSpec) or not isinstance(spec.key, SortKey):
                raise UsageError(f"not a sort key: {spec!r}")
        for key in self.cull:
            if not isinstance(key, CullKey):
                raise UsageError(f"not a cull key: {key!r}")
        for label, values in (("pid", self.pids), ("tgid", self.tgids)):
            if values is None:
                continue
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int) or not _INT32_MIN <= v <= _INT32_MAX:
                    raise UsageError(f"invalid --{label} entry `{v}`: not a 32-bit integer")
        if self.names is not None:
            for name in self.names:
                if not isinstance(name, str) or "," in name:
                    raise UsageError(f"invalid --name entry {name!r}")

    @property
    def cull_keys(self) -> tuple[CullKey, ...]:
        """The cull keys in the comparator's fixed order."""
        return tuple(k for k in CULL_ORDER if k in self.cull)

    def needs(self, key: SortKey) -> bool:
        return any(spec.key is key for spec in self.sort)

    def describe(self) -> str:
        """One line for ``-d``: the plan as page_owner_sort's own words."""
        parts = ["sort=" + ",".join(str(s) for s in self.sort)]
        parts.append("cull=" + (",".join(k.value for k in self.cull_keys) or "txt"))
        if self.pids is not None:
            parts.append("pid=" + ",".join(map(str, self.pids)))
        if self.tgids is not None:
            parts.append("tgid=" + ",".join(map(str, self.tgids)))
        if self.names is not None:
            parts.append("name=" + ",".join(self.names))
        if self.unreleased_only:
            parts.append("filter=unreleased")
        return " ".join(parts)


def _explode(value: str) -> list[str]:
    # page_owner_sort's explode(): plain comma split, empty pieces kept ("a," -> ["a", ""]).
    return value.split(",")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _parse_sort(value: str) -> tuple[SortSpec, ...]:
    specs = []
    for entry in _explode(value):
        descending = entry.startswith("-")
        name = entry[1:] if entry[:1] in ("-", "+") else entry
        specs.append(SortSpec(_key("sort", value, name, SORT_NAMES), descending))
    return tuple(specs)


def _key(option: str, value: str, name: str, names: Mapping[str, K]) -> K:
    """The key ``name`` of ``--option value``, or page_owner_sort's error, with the valid keys and a close match."""
    key = names.get(name)
    if key is None:
        shown = "an empty key" if not name else f"unknown key `{name}`"
        raise UsageError(
            f"wrong argument after --{option} option: `{value}`: {shown}; valid keys: "
            + " ".join(names)
            + _did_you_mean(name, list(names))
        )
    return key


def _parse_cull(value: str) -> set[CullKey]:
    keys = set()
    for name in _explode(value):
        keys.add(_key("cull", value, name, CULL_NAMES))
    return keys


def _parse_ids(option: str, value: str) -> tuple[int, ...]:
    out = []
    for entry in _explode(value):
        # strtol(..., 10) with the whole entry consumed: leading blanks and a sign are allowed.
        text = entry.lstrip(" \t\n\v\f\r")
        digits = text[1:] if text[:1] in ("+", "-") else text
        if not digits.isascii() or not digits.isdigit():
            raise UsageError(f"wrong/invalid {option} in --{option} list `{value}`: bad entry `{entry}`")
        number = int(text)
        # The C tool would silently truncate to int here; refusing is clearer.
        if not _INT32_MIN <= number <= _INT32_MAX:
            raise UsageError(f"wrong/invalid {option} in --{option} list `{value}`: `{entry}` is out of range")
        out.append(number)
    return tuple(out)


def _long_name(word: str) -> str:
    exact = [o for o in LONG_OPTIONS if o == word]
    if exact:
        return exact[0]
    matches = [o for o in LONG_OPTIONS if o.startswith(word)] if word else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"option `--{word}` is ambiguous; possibilities: " + " ".join("--" + m for m in matches))
    raise UsageError(
        f"unrecognized option `--{word}`; valid options: -{' -'.join(SHORT_FLAGS)} "
        + " ".join("--" + o for o in LONG_OPTIONS)
        + _did_you_mean(word, list(LONG_OPTIONS))
    )


def parse_args(argv: Sequence[str], *, paths: bool = True) -> Plan:
    """Read page_owner_sort's options (and, with ``paths``, its ``INPUT OUTPUT``) into a :class:`Plan`.

    Raises :class:`~pagecols.errors.UsageError` with one clear line on any bad option,
    unknown key, bad id list, or wrong number of positionals.

    Examples
    --------
    >>> plan = parse_args(["-m", "in.txt", "--cull", "st", "out.txt"])
    >>> [str(s) for s in plan.sort], [k.value for k in plan.cull_keys], plan.input
    (['-pages'], ['stacktrace'], 'in.txt')
    >>> [str(s) for s in parse_args(["--sort=-pid,at"], paths=False).sort]
    ['-pid', '+alloc_ts']
    """
    sort: tuple[SortSpec, ...] = ()
    cull: set[CullKey] = set()
    pids: tuple[int, ...] | None = None
    tgids: tuple[int, ...] | None = None
    names: tuple[str, ...] | None = None
    unreleased_only = False
    debug = False
    positionals: list[str] = []

    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positionals.extend(args[i:])
            break
        if arg.startswith("--"):
            word, eq, inline = arg[2:].partition("=")
            name = _long_name(word)
            if eq:
                value = inline
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError(f"option `--{name}` requires an argument")
            if name == "sort":
                sort = _parse_sort(value)
            elif name == "cull":
                cull |= _parse_cull(value)
                if not sort:
                    sort = (FLAG_SORTS["t"],)
            elif name == "pid":
                pids = _parse_ids("pid", value)
            elif name == "tgid":
                tgids = _parse_ids("tgid", value)
            else:
                names = tuple(_explode(value))
            continue
        if arg.startswith("-") and arg != "-":
            for flag in arg[1:]:
                if flag not in SHORT_FLAGS:
                    raise UsageError(
                        f"invalid option `-{flag}`; valid options: -{' -'.join(SHORT_FLAGS)} "
                        + " ".join("--" + o for o in LONG_OPTIONS)
                    )
                if flag == "f":
                    unreleased_only = True
                elif flag == "d":
                    debug = True
                else:
                    sort = (FLAG_SORTS[flag],)
            continue
        positionals.append(arg)

    if paths and len(positionals) != 2:
        got = "no" if not positionals else f"{len(positionals)}"
        raise UsageError(
            f"expected INPUT and OUTPUT, got {got} positional argument(s): usage: sort [OPTIONS] INPUT OUTPUT"
        )
    if not paths and positionals:
        raise UsageError(f"unexpected positional argument `{positionals[0]}`")
    return Plan(
        sort=sort or (FLAG_SORTS["t"],),
        cull=frozenset(cull),
        pids=pids,
        tgids=tgids,
        names=names,
        unreleased_only=unreleased_only,
        debug=debug,
        input=positionals[0] if paths else None,
        output=positionals[1] if paths else None,
    )
