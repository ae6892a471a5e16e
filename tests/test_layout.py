"""The straight core's shape, checked on every run (issue 24, ADR 0022): the layers are import-linter's
contract in pyproject.toml (``lint-imports`` in CI); this module checks what a contract does not say —
no import cycle of any kind, a short longest import chain, a short top level, units a person can
hold, one tool boundary, and ``__init__`` files that only re-export."""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "server" / "codex_fusion"
#: Issue 24's bound: the longest import chain, every import counted (27 before the redesign). What
#: keeps it there is in docs/adr/0033: value modules under each package, and protocols where a layer
#: uses a service the layer above starts (member/ports.py, tasks TaskMember, mcp/ports.py).
MAX_CHAIN = 12
MAX_TOP_LEVEL = 14


@functools.cache
def _edges() -> dict[str, frozenset[str]]:
    """Every import between the package's modules: module level, in functions and under
    ``TYPE_CHECKING`` alike (grimp counts them all)."""
    graph = grimp.build_graph("codex_fusion", cache_dir=None)
    return {m: frozenset(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def _components(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan): a component of more than one module is a cycle."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def longest_chain(edges: dict[str, frozenset[str]]) -> list[str]:
    """The longest path of imports, a cycle counting as all of its modules."""
    components = _components(edges)
    owner = {m: i for i, component in enumerate(components) for m in component}

    @functools.cache
    def height(i: int) -> tuple[int, tuple[int, ...]]:
        below = {owner[o] for m in components[i] for o in edges[m] if owner[o] != i}
        best: tuple[int, tuple[int, ...]] = (0, ())
        for j in below:
            candidate = height(j)
            if candidate[0] > best[0]:
                best = candidate
        return len(components[i]) + best[0], (i, *best[1])

    top = max(range(len(components)), key=lambda i: height(i)[0])
    return ["/".join(sorted(components[i])) for i in height(top)[1]]


def test_no_import_cycle_of_any_kind() -> None:
    cycles = [sorted(c) for c in _components(dict(_edges())) if len(c) > 1]
    assert cycles == []


def test_the_longest_import_chain_is_short() -> None:
    chain = longest_chain(dict(_edges()))
    assert sum(len(link.split("/")) for link in chain) <= MAX_CHAIN, " -> ".join(chain)


def test_a_cycle_counts_as_all_of_its_modules() -> None:
    """The measure itself: a two-module cycle under a module is a chain of three."""
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"b"})}
    assert max(len(c) for c in _components(edges)) == 2
    assert sum(len(link.split("/")) for link in longest_chain(edges)) == 3


def test_the_top_level_is_short() -> None:
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= MAX_TOP_LEVEL, sorted(entries)


def _units() -> list[tuple[str, str, int, int]]:
    """(kind, where, lines, bound) for every module, class and function over its bound."""
    over = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        where = str(path.relative_to(PACKAGE))
        if source.count("\n") > 450:
            over.append(("module", where, source.count("\n"), 450))
        for node in ast.walk(ast.parse(source)):
            lines = (node.end_lineno or 0) - getattr(node, "lineno", 0) + 1 if hasattr(node, "lineno") else 0
            if isinstance(node, ast.ClassDef) and lines > 300:
                over.append(("class", f"{where}:{node.name}", lines, 300))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and lines > 60:
                over.append(("function", f"{where}:{node.name}", lines, 60))
    return over


def test_units_a_person_can_hold() -> None:
    assert _units() == []


def test_one_tool_boundary() -> None:
    """Errors become what the host's model reads in one place (mcp/boundary.py)."""
    sites = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", "")) == "ToolError"
    ]
    assert len(sites) <= 2, sites


@pytest.mark.parametrize("init", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: str(p.parent.name))
def test_package_inits_only_re_export(init: Path) -> None:
    """An ``__init__`` holds nothing but a docstring, imports, ``__all__`` (and the version at the top)."""
    tree = ast.parse(init.read_text())
    allowed = (ast.Import, ast.ImportFrom, ast.Expr)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            assert names <= {"__all__", "__version__"}, f"{init}: {names}"
        else:
            assert isinstance(node, allowed), f"{init}:{node.lineno} holds {type(node).__name__}"
