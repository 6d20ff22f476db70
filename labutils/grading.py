"""Grading a class: run every submitted notebook against the shared stack and tabulate its exercises.

    python -m labutils.grading SUBMISSIONS --out REPORT [--jobs 2] [--timeout 600] [--url URL]

SUBMISSIONS holds one folder per learner (`alice/00_setup_and_first_request.ipynb`, or nbgrader's
`submitted/alice/00/...`: the first folder under SUBMISSIONS names the learner). Each notebook runs under
papermill in a fresh kernel, at most `jobs` at once, with `LLAMA_STACK_URL` set to the shared stack and
`LAB_SHARED=1` (a learner's notebook never starts a stack of its own). REPORT receives `grades.csv`,
`grades.html` and `grades.png`: one row per learner, one column per exercise, plus the time taken.

The learner's own output is never trusted. Before running, the grader inserts after each exercise cell a
cell of its own that re-imports the checks fresh from disk and checks the same answer expression; its
verdict goes to a results file with a nonce the learner's code cannot know in advance. So a learner who
redefines `exercise`, patches the registry or prints a fake ✅ does not pass: the answer is checked by the
real check, and the notebook is marked `tampered` (a pass under tampering is never counted as a pass).
An exercise cell deleted from the notebook is `deleted`. A notebook that raises stops there (its later
exercises are `not reached`), one that runs past `timeout` is killed (`timeout`), and a file that is not a
notebook is `corrupt`: each gets its mark and the run goes on.
Taught to instructors in deploy/README.md ("Teaching a class").
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "notebooks"
TAG = "labutils-grading"  # the tag of the cells the grader inserts

# cell marks, best first; colours of the plot and the HTML table
STATUS_COLOURS = {
    "pass": "#2e7d32", "fail": "#c62828", "not attempted": "#9e9e9e", "deleted": "#6a1b9a",
    "tampered": "#ad1457", "not reached": "#ef6c00", "timeout": "#4e342e", "error": "#ef6c00",
    "corrupt": "#212121",
}
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
            if full in _GUARDED_MODULES or module in _GUARDED_MODULES or alias.name in _GUARDED_MODULES:
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


# --- the cells the grader inserts and the record they write ---------------------------------------

_CHECK_CELL = """\
# inserted by labutils.grading: checks the answer above with the real check (not part of the submission)
import sys as _grading_sys
for _grading_m in [m for m in list(_grading_sys.modules)
                   if m == "labutils.grading" or m.startswith("labutils.exercises")]:
    del _grading_sys.modules[_grading_m]
import labutils.grading as _grading
_grading.record({path!r}, {nonce!r}, {id!r}, lambda: ({args}), lambda: dict({kwargs}))
del _grading, _grading_sys"""


def instrument(nb, results: Path, nonce: str):
    """A copy of `nb` with a check cell (tagged `labutils-grading`) after every exercise cell."""
    import copy

    out = copy.deepcopy(nb)
    for call in sorted(exercise_calls(nb), key=lambda c: c.cell, reverse=True):
        source = _CHECK_CELL.format(path=str(results), nonce=nonce, id=call.id, args=call.args, kwargs=call.kwargs)
        out.cells.insert(call.cell + 1, new_cell(out, source, {"tags": [TAG]}))
    return out


def new_cell(nb, source: str, metadata: dict):
    """A code cell that fits `nb`: with an id from nbformat 4.5 on, without one before (4.4 forbids it)."""
    import nbformat

    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        cell.pop("id", None)
    return cell


def record(path: str, nonce: str, id: str, args, kwargs) -> None:
    """Check one answer with the freshly imported check and append the verdict to the results file.

    Runs inside the learner's kernel, called by the cell `instrument` inserted; never raises.
    """
    entry: dict[str, Any] = {"nonce": nonce, "id": id}
    try:
        from labutils.exercises import verdict

        answer = args()
        result = verdict(id, *answer, **kwargs()) if answer else (False, "no answer was passed to exercise()")
        if result is None:
            entry.update(status="not attempted", reason="the placeholder `...` is still there")
        else:
            entry.update(status="pass" if result[0] else "fail", reason=str(result[1]))
    except Exception as e:  # e.g. NameError: the answer variable was never defined
        entry.update(status="fail", reason=f"checking raised {type(e).__name__}: {e}")
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


# --- running one notebook -------------------------------------------------------------------------

@dataclass
class Graded:
    """One submitted notebook: who, which lesson, the mark of each exercise, and how the run went."""

    learner: str
    lesson: str
    path: str
    outcome: str = "ok"          # ok, error, timeout, corrupt
    seconds: float = 0.0
    marks: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def grade_notebook(path: Path, learner: str, *, url: str | None = None, timeout: float = 600,
                   cell_timeout: float | None = None, parameters: dict | None = None,
                   lessons: Path = LESSONS, keep: Path | None = None) -> Graded:
    """Run one submission under papermill with the grader's check cells and mark each exercise.

    Never raises for a bad submission: a corrupt file, a failing cell or a hang becomes a mark.
    `keep` is a folder for the executed notebook (named learner__lesson.ipynb).
    """
    import nbformat

    g = Graded(learner, path.stem, str(path))
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # not JSON, not a notebook, a schema error: all the same to the class table
        g.outcome, g.notes = "corrupt", [f"not a readable notebook: {type(e).__name__}: {str(e)[:200]}"]
        for id in expected_exercises(path.stem, lessons) or []:
            g.marks[id] = "corrupt"
        return g
    calls = exercise_calls(nb)
    expected = expected_exercises(path.stem, lessons)
    if expected is None:
        expected = list(dict.fromkeys(c.id for c in calls))
        g.notes.append(f"no reference lesson {path.stem}.ipynb: graded the exercises it calls")
    tampered = tampering(nb)
    g.notes += [f"tampering: {t}" for t in tampered]
    nonce = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="lab-grading-") as tmp:
        work = Path(tmp)
        results = work / "results.jsonl"
        results.touch()
        nbformat.write(instrument(nb, results, nonce), work / "in.ipynb")
        executed = work / "out.ipynb"
        g.outcome, detail, g.seconds = _papermill(work / "in.ipynb", executed, url=url, timeout=timeout,
                                                  cell_timeout=cell_timeout, parameters=parameters,
                                                  cwd=path.parent)
        if detail:
            g.notes.append(detail)
        records = _read_records(results, nonce)
        claimed = _claimed_passes(executed)
        if keep is not None and executed.exists():
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{learner}__{path.stem}.ipynb").write_bytes(executed.read_bytes())
    called = {c.id for c in calls}
    for id in expected:
        if id not in called:
            g.marks[id], g.reasons[id] = "deleted", "the exercise cell is not in the notebook"
        elif id in records:
            status, reason = records[id]["status"], records[id]["reason"]
            if tampered and status in ("pass", "fail"):
                status, reason = "tampered", f"the real check says {status}: {reason}; but the notebook " \
                                             f"tampers with the checks ({tampered[0]})"
            elif id in claimed and status != "pass":
                status, reason = "tampered", f"the notebook printed a pass, the real check says: {reason}"
            g.marks[id], g.reasons[id] = status, reason
        else:
            g.marks[id] = "timeout" if g.outcome == "timeout" else "not reached"
            g.reasons[id] = detail or "the notebook stopped before this exercise"
    return g


def _papermill(src: Path, dst: Path, *, url, timeout, cell_timeout, parameters, cwd) -> tuple[str, str, float]:
    # the kernel's connection file goes to the run's own folder, so its command line names that folder
    # and a kernel that outlives a kill can be found (`_kill_leftovers`)
    env = config.child_environment(LAB_SHARED="1", PYTHONUNBUFFERED="1", JUPYTER_RUNTIME_DIR=str(src.parent),
                                   **({"LLAMA_STACK_URL": url} if url else {}))
    argv = [sys.executable, "-m", "papermill", str(src), str(dst), "-k", "python3", "--cwd", str(cwd),
            "--no-progress-bar"]
    if cell_timeout:
        argv += ["--execution-timeout", str(int(cell_timeout))]
    if parameters:
        argv += ["-y", json.dumps(parameters)]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)  # its own group: a timeout kills the kernel too
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return "timeout", f"killed after {timeout:.0f} s (the notebook hangs or is too slow)", timeout
        finally:
            _kill_group(proc)
            _kill_leftovers(str(src.parent))  # a kernel left behind by papermill
        seconds = time.perf_counter() - t0
        if code == 0:
            return "ok", "", seconds
        log.seek(0)
        text = log.read().decode(errors="replace")
    if "CellTimeoutError" in text or "Cell execution timed out" in text:
        return "timeout", f"a cell ran past the cell timeout of {cell_timeout:.0f} s (the notebook hangs)", seconds
    return "error", _error_line(text), seconds


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _kill_leftovers(marker: str) -> None:
    """Kill the processes whose command line names `marker` (the run's folder): kernels only."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _error_line(log: str) -> str:
    """The learner-readable reason papermill stopped: the exception line of the failing cell."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", ln) and "PapermillExecutionError" not in ln:
            return f"a cell raised {ln[:200]}"
    return f"papermill failed: {lines[-1][:200] if lines else 'no output'}"


def _read_records(path: Path, nonce: str) -> dict[str, dict]:
    """The verdicts of the grader's own cells (lines with the right nonce); the last one per id wins."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("nonce") == nonce:
            out[entry["id"]] = entry
    return out


def _claimed_passes(executed: Path) -> set[str]:
    """Ids the learner's own cells printed a ✅ for (compared with the real verdicts)."""
    import nbformat

    if not executed.exists():
        return set()
    ids = set()
    for cell in nbformat.read(executed, as_version=4).cells:
        if cell.cell_type != "code" or TAG in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            text = out.get("text", "") or "".join(out.get("data", {}).get("text/plain", ""))
            ids |= set(re.findall(r"✅ (\d\d\.\d+)", text))
    return ids


# --- a class ---------------------------------------------------------------------------------------

def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(learner, notebook) for every .ipynb under `folder`; the first folder below it names the learner."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if ".ipynb_checkpoints" in rel.parts:
            continue
        found.append((rel.parts[0] if len(rel.parts) > 1 else path.stem, path))
    return found


def grade(folder: str | Path, *, jobs: int = 2, url: str | None = None, timeout: float = 600,
          cell_timeout: float | None = None, parameters: dict[str, dict] | None = None,
          lessons: Path = LESSONS, keep: Path | None = None, progress: bool = False) -> list[Graded]:
    """Grade every submission under `folder`, at most `jobs` notebooks at once.

    `parameters` maps a lesson's file stem to the papermill parameters it runs with (e.g. small grids).
    """
    todo = submissions(Path(folder))

    def one(item):
        learner, path = item
        g = grade_notebook(path, learner, url=url, timeout=timeout, cell_timeout=cell_timeout,
                           parameters=(parameters or {}).get(path.stem), lessons=lessons, keep=keep)
        if progress:
            print(f"{learner:>16}  {path.stem:<32} {g.outcome:<8} {g.seconds:6.1f} s  "
                  + " ".join(f"{k}={v}" for k, v in g.marks.items()), flush=True)
        return g

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, todo))


def table(graded: list[Graded]):
    """The class table: one row per learner, one column per exercise (its mark), then seconds and notes."""
    import pandas as pd

    rows: dict[str, dict] = {}
    for g in graded:
        row = rows.setdefault(g.learner, {"learner": g.learner, "seconds": 0.0, "notebooks": [], "notes": []})
        row.update(g.marks)
        row["seconds"] += g.seconds
        row["notebooks"].append(f"{g.lesson}: {g.outcome}")
        row["notes"] += [f"{g.lesson}: {n}" for n in g.notes]
    ids = sorted({id for g in graded for id in g.marks})
    frame = pd.DataFrame(list(rows.values()))
    if frame.empty:
        return pd.DataFrame(columns=["learner", *ids, "passed", "seconds", "notebooks", "notes"])
    for id in ids:
        frame[id] = frame[id].fillna("not submitted") if id in frame else "not submitted"
    frame["passed"] = (frame[ids] == "pass").sum(axis=1)
    frame["seconds"] = frame["seconds"].round(1)
    frame["notebooks"] = frame["notebooks"].map("; ".join)
    frame["notes"] = frame["notes"].map("; ".join)
    return frame[["learner", *ids, "passed", "seconds", "notebooks", "notes"]].sort_values("learner",
                                                                                        ignore_index=True)


def plot(frame):
    """A learners x exercises grid coloured by mark, with the time each learner's notebooks took."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    ids = [c for c in frame.columns if re.fullmatch(r"\d\d\.\d+", str(c))]
    marks = [*STATUS_COLOURS, "not submitted"]
    colours = [*STATUS_COLOURS.values(), "#ffffff"]
    codes = frame[ids].map(lambda m: marks.index(m) if m in marks else len(marks) - 1).to_numpy()
    fig = Figure(figsize=(max(7.0, 3.7 + 0.7 * len(ids)), max(2.5, 1.2 + 0.4 * len(frame))))
    ax = fig.add_subplot()
    ax.imshow(codes, cmap=ListedColormap(colours), vmin=0, vmax=len(marks) - 1, aspect="auto")
    ax.set_xticks(range(len(ids)), ids)
    ax.set_yticks(range(len(frame)), [f"{n} ({s:.0f} s)" for n, s in zip(frame["learner"], frame["seconds"])])
    ax.set_xlabel("exercise")
    ax.set_title("class table: mark per learner and exercise (time taken)")
    used = sorted({m for m in frame[ids].to_numpy().ravel()}, key=lambda m: marks.index(m) if m in marks else 99)
    ax.legend(handles=[Patch(color=colours[marks.index(m)] if m in marks else "#fff", label=m) for m in used],
              loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    fig.tight_layout()
    plt.close("all")
    return fig


def html(frame) -> str:
    """The class table as a standalone HTML page, each mark coloured (text escaped)."""
    import html as h

    head = "".join(f"<th>{h.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            value = str(row[c])
            colour = STATUS_COLOURS.get(value)
            style = f' style="background:{colour};color:white"' if colour else ""
            cells.append(f"<td{style}>{h.escape(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<!doctype html><meta charset='utf-8'><title>Class table</title>"
            "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
            "table{border-collapse:collapse}</style><h1>Class table</h1>"
            f"<table><tr>{head}</tr>{''.join(body)}</table>")


def write_report(graded: list[Graded], out: str | Path) -> dict[str, Path]:
    """Write grades.csv, grades.html, grades.png (and grades.json with every reason) into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = table(graded)
    paths = {"csv": out / "grades.csv", "html": out / "grades.html", "png": out / "grades.png",
             "json": out / "grades.json"}
    frame.to_csv(paths["csv"], index=False)
    paths["html"].write_text(html(frame), encoding="utf-8")
    plot(frame).savefig(paths["png"], dpi=100)
    paths["json"].write_text(json.dumps([g.__dict__ for g in graded], indent=1), encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labutils.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="one folder per learner, each with its notebooks")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="folder for grades.csv/.html/.png")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once (default 2)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one notebook may take (default 600)")
    parser.add_argument("--cell-timeout", type=float, default=None, help="seconds one cell may take")
    parser.add_argument("--url", default=None, help="the shared Llama Stack (default: $LLAMA_STACK_URL)")
    parser.add_argument("--parameters", type=Path, default=None,
                        help="a JSON file mapping lesson file stems to papermill parameters")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the executed notebooks")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of submissions", file=sys.stderr)
        return 2
    params = json.loads(args.parameters.read_text()) if args.parameters else None
    graded = grade(args.submissions, jobs=args.jobs, url=args.url, timeout=args.timeout,
                   cell_timeout=args.cell_timeout, parameters=params, keep=args.keep, progress=True)
    paths = write_report(graded, args.out)
    print(table(graded).drop(columns=["notes"]).to_string(index=False))
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
