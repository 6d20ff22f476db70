"""The instructor's solutions view: solved copies of the lessons, and nbgrader source copies.

    python -m labutils.grading.solutions render  [--answers FILE] [--out solved/] [LESSON ...]
    python -m labutils.grading.solutions nbgrader LESSON --out COURSE/source/ASSIGNMENT [--answers FILE]

The reference answers live outside the learners' notebooks and outside the installed package, in
deploy/instructor/solutions.toml (one entry per exercise id: the code that replaces the placeholder line
`answer = ...  # change only this`). On a hub, learners get the package and the lessons, never that file.
`render` writes each lesson with its placeholders replaced (run it with papermill, or grade the copies:
every exercise passes). `nbgrader` writes a lesson in nbgrader's source format: each exercise cell
becomes an nbgrader solution cell (the answer between `### BEGIN SOLUTION` and `### END SOLUTION`) and
gets a locked, graded check cell after it, so `nbgrader generate_assignment` and `autograde` work.
The committed lessons stay free of nbgrader metadata (tests/test_notebooks.py keeps them clean).
Taught to instructors in deploy/README.md ("Teaching a class").
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import tomllib
from pathlib import Path

from .grader import new_cell
from .submissions import LESSONS, ROOT, exercise_calls

ANSWERS = ROOT / "deploy" / "instructor" / "solutions.toml"
PLACEHOLDER = re.compile(r"^answer\s*=\s*\.\.\..*$", re.MULTILINE)
# the stub nbgrader's ClearSolutions puts where the solution was: the lab's own placeholder line
STUB = "answer = ...  # change only this"
NBGRADER_CONFIG = f'''c = get_config()  # noqa
c.ClearSolutions.code_stub = {{"python": {STUB!r}}}
c.ClearSolutions.enforce_metadata = True
c.Execute.timeout = 300
'''


def load(path: str | Path = ANSWERS) -> dict[str, str]:
    """The reference answers: exercise id -> the code that replaces the placeholder line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no reference answers at {path}: they are kept in the instructor's checkout "
                                "(deploy/instructor/solutions.toml), not given to learners")
    with path.open("rb") as f:
        return {id: code.strip("\n") for id, code in tomllib.load(f).items()}


def _answer_cell(cell, answers: dict[str, str]) -> str | None:
    """The exercise id of a cell that holds a placeholder and an exercise call, else None."""
    if cell.cell_type != "code" or not PLACEHOLDER.search(cell.source):
        return None
    ids = [c.id for c in exercise_calls([cell])]
    if not ids:
        return None
    if ids[0] not in answers:
        raise KeyError(f"no reference answer for exercise {ids[0]!r}: add it to the solutions file")
    return ids[0]


def solve(nb, answers: dict[str, str]):
    """A copy of `nb` with each exercise's placeholder replaced by its reference answer."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        id = _answer_cell(cell, answers)
        if id is not None:
            cell.source = PLACEHOLDER.sub(lambda _m, id=id: answers[id], cell.source, count=1)
    return out


def nbgrader_source(nb, answers: dict[str, str], points: int = 1):
    """A copy of `nb` in nbgrader's source format: solution cells plus a locked check cell per exercise."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        id = _answer_cell(cell, answers)
        if cell.cell_type == "code" and id is None:
            cells.append(cell)
            continue
        if id is None:  # markdown: nbgrader leaves it alone, and locks nothing
            cells.append(cell)
            continue
        solution = f"### BEGIN SOLUTION\n{answers[id]}\n### END SOLUTION"
        cell.source = PLACEHOLDER.sub(lambda _m, s=solution: s, cell.source, count=1)
        cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "task": False,
                                     "grade_id": f"answer-{id.replace('.', '_')}", "schema_version": 3}
        check = new_cell(
            out, f"# the check of exercise {id} (locked; nbgrader restores it before grading)\n"
            "import labutils.exercises\n"
            f"_verdict = labutils.exercises.verdict({id!r}, answer{_given(cell, id)})\n"
            f"assert _verdict is not None, 'exercise {id}: not attempted'\n"
            "assert _verdict[0], _verdict[1]",
            {"nbgrader": {"solution": False, "grade": True, "locked": True, "task": False,
                                   "points": points, "grade_id": f"check-{id.replace('.', '_')}", "schema_version": 3}})
        cells += [cell, check]
    out.cells = cells
    return out


def _given(cell, id: str) -> str:
    """The keyword arguments the lesson passes to exercise(id, ...) (e.g. `, lab=lab`)."""
    for call in exercise_calls([cell]):
        if call.id == id and call.kwargs:
            return f", {call.kwargs}"
    return ""


def lessons(names: list[str] | None = None, folder: Path = LESSONS) -> list[Path]:
    """The lesson files named (by stem or by their NN prefix), or all of them."""
    every = sorted(folder.glob("*.ipynb"))
    if not names:
        return every
    chosen = [p for p in every if any(p.stem == n or p.stem.startswith(f"{n}_") or p.name == n for n in names)]
    missing = [n for n in names if not any(p.stem == n or p.stem.startswith(f"{n}_") or p.name == n for p in every)]
    if missing:
        raise FileNotFoundError(f"no lesson {', '.join(missing)} in {folder}")
    return chosen


def render(out: str | Path, names: list[str] | None = None, answers: str | Path = ANSWERS) -> list[Path]:
    """Write a solved copy of each lesson into `out`; returns the files written."""
    import nbformat

    refs, out = load(answers), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in lessons(names):
        nbformat.write(solve(nbformat.read(path, as_version=4), refs), out / path.name)
        written.append(out / path.name)
    return written


def write_nbgrader(lesson: str, out: str | Path, answers: str | Path = ANSWERS) -> Path:
    """Write one lesson as an nbgrader source notebook into `out` (COURSE/source/ASSIGNMENT) and the
    nbgrader_config.py that keeps the lab's placeholder as the stub (into COURSE, two levels up)."""
    import nbformat

    (path,) = lessons([lesson])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbgrader_source(nbformat.read(path, as_version=4), load(answers)), out / path.name)
    config = out.parent.parent / "nbgrader_config.py"
    if not config.exists():
        config.write_text(NBGRADER_CONFIG + f"c.CourseDirectory.root = {str(out.parent.parent.resolve())!r}\n")
    return out / path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labutils.grading.solutions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="write a solved copy of each lesson")
    r.add_argument("lessons", nargs="*", help="lesson stems or NN prefixes (default: all)")
    r.add_argument("--out", type=Path, default=Path("solved"))
    r.add_argument("--answers", type=Path, default=ANSWERS)
    n = sub.add_parser("nbgrader", help="write one lesson as an nbgrader source notebook")
    n.add_argument("lesson")
    n.add_argument("--out", type=Path, required=True, help="COURSE/source/ASSIGNMENT")
    n.add_argument("--answers", type=Path, default=ANSWERS)
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            for p in render(args.out, args.lessons, args.answers):
                print(p)
        else:
            print(write_nbgrader(args.lesson, args.out, args.answers))
    except (FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
