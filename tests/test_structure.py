"""The house's shape, enforced: small modules, a short top level, wings that import down and never round
in a circle (labutils/README.md draws the map). Pure: reads the package's source with `ast`, imports nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "labutils"
MAX_LINES = 360  # "about 350": a module past it holds two jobs
MAX_TOP = 20  # modules and wings side by side at the top of labutils/
# The one known cycle, left to the lead's exercise split (not this job's to touch): each lesson's module does
# `from . import register, passed, failed` while exercises/__init__ imports every lesson module. Moving the
# registry to its own module (exercises/registry.py, imported by both) ends it; then drop this line.
KNOWN_CYCLES: list[set[str]] = []  # none: the exercises import their registry, not the package


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package's name is its __init__.py)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every import statement at any depth (functions included), except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            yield from (n for child in node.orelse for n in _imports_of(child))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def _edges(name: str) -> set[str]:
    """The labutils modules `name` imports by name: `from .x import y` is x.y when y is a module, else x."""
    package = name if _is_package(name) else name.rsplit(".", 1)[0]
    found = set()
    for node in _imports(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        found |= {f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _edges(name) for name in MODULES}


def test_no_module_over_about_350_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"


def test_at_most_20_modules_at_the_top():
    top = sorted(p.name for p in ROOT.iterdir() if (p.suffix == ".py" and p.name != "__init__.py")
                 or (p.is_dir() and (p / "__init__.py").exists()))
    assert len(top) <= MAX_TOP, f"{len(top)} modules and wings at the top of labutils/: {top}"


def test_no_import_cycle():
    """Tarjan's strongly connected components over the import graph: every cycle, each named once."""
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    known = [c for c in cycles if any(set(c) <= k for k in KNOWN_CYCLES)]
    assert not [c for c in cycles if c not in known], f"import cycles (a function-level import counts): {cycles}"


def test_the_cycle_finder_sees_a_function_level_import(tmp_path):
    """The walk reaches imports inside functions and skips those under TYPE_CHECKING."""
    tree = ast.parse("if TYPE_CHECKING:\n    from .a import A\ndef f():\n    from .b import B\n")
    found = [n.module for n in _imports(tree)]
    assert found == ["b"]


@pytest.mark.parametrize("low, high", [("params", "client"), ("metrics", "client"), ("client.cache", "client.lab"),
                                       ("views.plots", "client")])
def test_lower_rooms_do_not_reach_up(low, high):
    """`params`, `metrics` and the cache know nothing of the server; plots never send a request."""
    name = f"labutils.{low}"
    reach, todo = set(), [name]
    while todo:
        for w in GRAPH[todo.pop()] - reach:
            reach.add(w)
            todo.append(w)
    assert not {r for r in reach if r == f"labutils.{high}" or r.startswith(f"labutils.{high}.")}, reach


def test_every_labutils_import_resolves_function_level_ones_too():
    """An import inside a function runs only when the function does: a move that left one behind (a lesson's
    exercise check, the lab `exercise()` connects) would fail in front of a learner, not at import time."""
    import importlib

    broken = []
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or (node.level == 0 and not (node.module or "").startswith(
                    "labutils")):
                continue
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            module = importlib.import_module(target)
            for alias in node.names:
                if not hasattr(module, alias.name) and not (hasattr(module, "__path__")
                                                         and importlib.util.find_spec(f"{target}.{alias.name}")):
                    broken.append(f"{path.name}:{node.lineno} from {target} import {alias.name}")
    assert not broken, "imports that name nothing there: " + ", ".join(broken)
