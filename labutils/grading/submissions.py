"""Reading a submitted notebook: its exercise calls, the exercises its lesson expects, and signs of
tampering (a learner's code rebinding the checks). Pure functions of the notebook; `labutils.grading`
uses them. Taught to instructors in deploy/README.md ("Teaching a class").
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
LESSONS = ROOT / "notebooks"
TAG = "labutils-grading"  # the tag of the cells the grader inserts (never read as the learner's)

# names a learner's code has no business rebinding, and modules it has no business touching
_GUARDED = {"exercise", "verdict", "REGISTRY", "passed", "failed", "is_placeholder", "register", "record"}
_GUARDED_MODULES = {"builtins", "importlib", "labutils.grading", "sys.modules"}


# --- reading a notebook ---------------------------------------------------------------------------

def _code(source: str) -> str:
    """A cell's source with IPython magics and shell escapes blanked, so `ast` can parse the rest."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_code(source))
    except SyntaxError:
        return None


@dataclass(frozen=True)
class Call:
    """One `exercise(id, ...)` call in a code cell: the cell's index and the argument expressions."""

    cell: int
    id: str
    args: str    # the positional answer expressions after the id, as source
    kwargs: str  # the keyword arguments, as source (`lab=lab`)


def exercise_calls(nb) -> list[Call]:
    """Every `exercise("ID", answer, ...)` call in the notebook's code cells (any receiver: `exercise`,
    `labutils.exercises.exercise`, ...), in cell order. `nb` may also be a list of cells."""
    calls = []
    for i, cell in enumerate(nb if isinstance(nb, list) else nb.cells):
        if cell.cell_type != "code" or TAG in cell.get("metadata", {}).get("tags", []):
            continue
        tree = _parse(cell.source)
        for node in ast.walk(tree) if tree else ():
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            first = node.args[0]
            if name == "exercise" and isinstance(first, ast.Constant) and isinstance(first.value, str):
                args = "".join(f"{ast.unparse(a)}, " for a in node.args[1:])
                kwargs = ", ".join(f"{k.arg}={ast.unparse(k.value)}" for k in node.keywords if k.arg)
                calls.append(Call(i, first.value, args, kwargs))
    return calls


def expected_exercises(lesson_stem: str, lessons: Path = LESSONS) -> list[str] | None:
    """The exercise ids of the reference lesson with this file name, or None when there is none."""
    import nbformat

    path = lessons / f"{lesson_stem}.ipynb"
    if not path.exists():
        return None
    return list(dict.fromkeys(c.id for c in exercise_calls(nbformat.read(path, as_version=4))))


def tampering(nb) -> list[str]:
    """What in the learner's code rebinds the checks or reaches around them (empty when nothing does)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or TAG in cell.get("metadata", {}).get("tags", []):
            continue
        tree = _parse(cell.source)
        for node in ast.walk(tree) if tree else ():
            what = _suspicious(node)
            if what:
                found.append(f"cell {i}: {what}")
    return found


def _target_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr, *_target_names(node.value)]
    if isinstance(node, ast.Subscript):
        return _target_names(node.value)
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for e in node.elts for n in _target_names(e)]
    return []


def _suspicious(node: ast.AST) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in _GUARDED:
        return f"defines {node.name}"
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = getattr(node, "targets", None) or [node.target]
    for t in targets:
        hit = _GUARDED & set(_target_names(t))
        if hit:
            return f"rebinds {', '.join(sorted(hit))}"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        module = getattr(node, "module", None) or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            if any(x == g or x.startswith(f"{g}.") for x in (full, module, alias.name) for g in _GUARDED_MODULES):
                return f"imports {full}"
            if (alias.asname or alias.name) in _GUARDED and module != "labutils.exercises":
                return f"imports {alias.asname or alias.name} from {module or alias.name}"
    if isinstance(node, ast.Call):
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in {"setattr", "delattr", "exec", "eval", "__import__", "reload"}:
            return f"calls {name}"
        if name == "register" and isinstance(node.func, ast.Attribute) and "events" in _target_names(node.func):
            return "registers an IPython event hook"
    if isinstance(node, ast.Attribute) and node.attr == "modules" and _target_names(node.value) == ["sys"]:
        return "reaches into sys.modules"
    if getattr(node, "attr", None) == "REGISTRY" or getattr(node, "id", None) == "REGISTRY":
        return "reaches into the exercise REGISTRY"
    return None
