"""page_owner_sort's command line as glibc getopt_long reads it (compat.md B.1), and its errors."""

from __future__ import annotations

import pytest

from pagecols.compat.plan import CullKey, Plan, SortKey, SortSpec, parse_args
from pagecols.errors import UsageError


def sort_of(*argv: str) -> list[str]:
    return [str(s) for s in parse_args(list(argv), paths=False).sort]


def test_positionals_anywhere_and_options_permuted() -> None:
    for argv in (
        ["-m", "--cull=st", "in", "out"],
        ["in", "-m", "out", "--cull", "st"],
        ["in", "out", "--cull", "st", "-m"],
    ):
        plan = parse_args(argv)
        assert (plan.input, plan.output) == ("in", "out")
        assert plan.cull == {CullKey.STACKTRACE}
        assert [str(s) for s in plan.sort] == ["-pages"]


def test_double_dash_ends_options() -> None:
    plan = parse_args(["-m", "--", "-in", "--out"])
    assert (plan.input, plan.output) == ("-in", "--out")


def test_single_dash_is_a_path() -> None:
    plan = parse_args(["-", "-"])
    assert (plan.input, plan.output) == ("-", "-")


def test_long_option_value_forms_and_dash_values() -> None:
    assert sort_of("--sort=-pid") == ["-pid"]
    assert sort_of("--sort", "-pid") == ["-pid"]  # the next word is the value, even with a dash
    with pytest.raises(UsageError, match="unknown key `-`"):
        sort_of("--sort", "--")  # even "--": getopt takes it as the value


def test_value_taken_verbatim_even_when_it_looks_like_an_option() -> None:
    plan = parse_args(["--name", "-m", "--cull=n"], paths=False)
    assert plan.names == ("-m",)
    assert [str(s) for s in plan.sort] == ["-times"]


def test_unambiguous_prefixes_of_long_options() -> None:
    plan = parse_args(["--cu=st", "--so", "at", "--p=5", "--t=6", "--na=x"], paths=False)
    assert plan.cull == {CullKey.STACKTRACE}
    assert plan.sort == (SortSpec(SortKey.ALLOC_TS),)
    assert (plan.pids, plan.tgids, plan.names) == ((5,), (6,), ("x",))


def test_clustered_short_flags() -> None:
    plan = parse_args(["-fdm"], paths=False)
    assert plan.unreleased_only
    assert plan.debug
    assert [str(s) for s in plan.sort] == ["-pages"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["-times"]),  # compat.md §1 fix 3
        (["-a"], ["+alloc_ts"]),
        (["-m"], ["-pages"]),
        (["-p"], ["+pid"]),
        (["-P"], ["+tgid"]),
        (["-n"], ["+name"]),
        (["-r"], ["+free_ts"]),
        (["-s"], ["+stacktrace"]),
        (["-t"], ["-times"]),
        (["-a", "-m"], ["-pages"]),  # the last flag wins
        (["--sort=p,n,-at"], ["+pid", "+name", "-alloc_ts"]),
        (["--sort=p,n", "-a"], ["+alloc_ts"]),  # a flag cuts a multi-key list down to its key
        (["-a", "--sort=p,n"], ["+pid", "+name"]),
        (["--sort=p", "--sort=T"], ["+txt"]),
        (["--cull=st"], ["-times"]),
        (["--sort=n", "--cull=st"], ["+name"]),  # --cull sets times only when the list is empty
        (["-a", "--cull=st"], ["+alloc_ts"]),
        (["--cull=st", "--sort=ator"], ["+allocator"]),
        (["--sort=+ft,-ator,T"], ["+free_ts", "-allocator", "+txt"]),
    ],
)
def test_sort_list_left_to_right(argv: list[str], expected: list[str]) -> None:
    assert sort_of(*argv) == expected


def test_every_key_name_long_and_short() -> None:
    pairs = [("pid", "p"), ("tgid", "tg"), ("name", "n"), ("stacktrace", "st"), ("txt", "T"), ("free_ts", "ft")]
    pairs += [("alloc_ts", "at"), ("allocator", "ator")]
    for long, short in pairs:
        assert sort_of(f"--sort={long}") == sort_of(f"--sort={short}")
    for long, short in [("pid", "p"), ("tgid", "tg"), ("name", "n"), ("stacktrace", "st"), ("free", "f")]:
        a = parse_args([f"--cull={long}"], paths=False).cull
        assert a == parse_args([f"--cull={short}"], paths=False).cull
    assert parse_args(["--cull=allocator"], paths=False).cull == parse_args(["--cull=ator"], paths=False).cull


def test_cull_accumulates_and_keeps_the_comparator_order() -> None:
    plan = parse_args(["--cull=ator,n", "--cull", "st,f,tg,p"], paths=False)
    assert plan.cull_keys == (
        CullKey.STACKTRACE,
        CullKey.PID,
        CullKey.TGID,
        CullKey.COMM,
        CullKey.FREE,
        CullKey.ALLOCATOR,
    )


def test_selection_lists() -> None:
    plan = parse_args(["--pid=1, 2,+3,-1", "--tgid", "7", "--name=a b,,c"], paths=False)
    assert plan.pids == (1, 2, 3, -1)  # strtol skips leading blanks and takes a sign
    assert plan.tgids == (7,)
    assert plan.names == ("a b", "", "c")  # empty entries are kept, as explode() does
    assert parse_args(["--pid=1", "--pid=2"], paths=False).pids == (2,)  # the last list wins


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sort=pidd"], "unknown key `pidd`"),
        (["--sort=pidd"], "did you mean `pid`"),
        (["--sort=times"], "unknown key `times`"),  # -t only: times is no --sort key
        (["--sort=f"], "unknown key `f`"),  # a cull key, not a sort key
        (["--sort="], "an empty key"),
        (["--sort=p,"], "an empty key"),
        (["--cull=at"], "wrong argument after --cull option: `at`"),
        (["--cull=stack"], "did you mean `st"),
        (["--pid=1,x2"], "bad entry `x2`"),
        (["--pid=1,"], "bad entry ``"),
        (["--tgid=0x10"], "bad entry `0x10`"),
        (["--pid=5 "], "bad entry `5 `"),
        (["--pid=99999999999"], "out of range"),
        (["--pid"], "option `--pid` requires an argument"),
        (["--bogus=1"], "unrecognized option `--bogus`"),
        (["-x"], "invalid option `-x`"),
        (["-mx"], "invalid option `-x`"),
        (["-h"], "invalid option `-h`"),
    ],
)
def test_usage_errors_say_what_is_wrong(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_args(argv, paths=False)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        parse_args(["--sort=bogus"], paths=False)
    for name in ("pid", "tg", "stacktrace", "T", "free_ts", "at", "ator"):
        assert f" {name} " in str(info.value) or str(info.value).endswith(f" {name}")


@pytest.mark.parametrize("argv", [[], ["in"], ["in", "out", "extra"]])
def test_exactly_two_positionals(argv: list[str]) -> None:
    with pytest.raises(UsageError, match="expected INPUT and OUTPUT"):
        parse_args(argv)


def test_no_positionals_when_paths_are_given_elsewhere() -> None:
    with pytest.raises(UsageError, match="unexpected positional argument `in`"):
        parse_args(["in"], paths=False)


def test_plan_is_frozen_and_checked() -> None:
    plan = Plan()
    with pytest.raises(AttributeError):
        plan.sort = ()  # type: ignore[misc]
    with pytest.raises(UsageError, match="sort list is empty"):
        Plan(sort=())
    with pytest.raises(UsageError, match="--pid entry"):
        Plan(pids=(2**40,))
    with pytest.raises(UsageError, match="--name entry"):
        Plan(names=("a,b",))


def test_describe_reads_like_the_options() -> None:
    plan = parse_args(["--cull=n,st", "--pid=3", "-f", "-m"], paths=False)
    assert plan.describe() == "sort=-pages cull=stacktrace,name pid=3 filter=unreleased"
