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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..client.parallel import Stop, run_all
from .report import table, write_report
from .submissions import LESSONS, TAG, exercise_calls, expected_exercises, tampering

# --- the cells the grader inserts and the record they write ---------------------------------------

_CHECK_CELL = """\
# inserted by labutils.grading: checks the answer above with the real check (not part of the submission)
import sys as _grading_sys
for _grading_m in [m for m in list(_grading_sys.modules)
                   if m.split(".")[:2] in (["labutils", "grading"], ["labutils", "exercises"])]:
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

    stop = Stop()
    done = run_all(one, todo, jobs, stop=stop, counted=False)  # the lab's one pool (a notebook per worker)
    if stop.interrupted:
        raise KeyboardInterrupt
    for i in range(len(todo)):
        if isinstance(done[i], Exception):
            raise done[i]
    return [done[i] for i in range(len(todo))]


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
