"""The package's modules import one another one way only.

Every ``import`` counts, at module level or inside a function, so that a late import
cannot hide a cycle.  The package's ``__init__`` stands above all modules (it only
resolves the public names) and is left out, as is ``if TYPE_CHECKING:``, which never runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pagecols"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules ``module`` imports, anywhere in its code."""
    found: set[str] = set()
    skipped = {
        id(n) for top in ast.walk(tree) if isinstance(top, ast.If) and _is_type_checking(top) for n in ast.walk(top)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # `from pagecols import frames` imports the module pagecols.frames.
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = _imported(tree, name, path.name == "__init__.py", set(paths))
    # A package's __init__ is imported along with any of its modules, so an edge to it
    # would be a cycle by construction; only the top package is special-cased, and
    # nothing may import it by name.
    return {name: deps - {"pagecols"} for name, deps in graph.items() if name != "pagecols"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_finder_sees_function_level_cycles() -> None:
    tree = ast.parse("import pagecols.b\ndef f():\n    from pagecols import a\n")
    deps = _imported(tree, "pagecols.a", False, {"pagecols.a", "pagecols.b"})
    assert deps == {"pagecols.b"}
    tree_b = ast.parse("def g():\n    from pagecols.a import x\n")
    graph = {"pagecols.a": deps, "pagecols.b": _imported(tree_b, "pagecols.b", False, {"pagecols.a", "pagecols.b"})}
    assert find_cycle(graph) == ["pagecols.a", "pagecols.b", "pagecols.a"]


def test_relative_imports_resolve() -> None:
    known = {"pagecols.compat", "pagecols.compat.plan", "pagecols.errors"}
    tree = ast.parse("from .plan import Plan\nfrom ..errors import UsageError\n")
    assert _imported(tree, "pagecols.compat.query", False, known) == {"pagecols.compat.plan", "pagecols.errors"}


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert {"pagecols.frames", "pagecols.parse", "pagecols.textout", "pagecols.analyze"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("low", "high"),
    [
        pytest.param("pagecols.parse", "pagecols.frames", id="parse-below-frames"),
        pytest.param("pagecols.frames", "pagecols.textout", id="cat-above-frames"),
        pytest.param("pagecols.frames", "pagecols.analyze", id="frames-below-reports"),
    ],
)
def test_layers(low: str, high: str) -> None:
    """The read path's order: ``low`` never reaches ``high`` through any chain of imports."""
    graph = import_graph()
    seen, todo = set(), [low]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    assert high not in seen
