"""The instructor kit: reference answers, solved lessons, nbgrader source copies, and the grading command.

Offline tests read the lessons and the committed sample submissions (tests/data/submissions, written by
its make_submissions.py). The grading tests run real kernels under papermill: tiny notebooks of lesson
02's offline exercise for the marks that need no server, and the sample submissions of lesson 00 against
the embedded stack for the class table (right, wrong, unattempted, failing, tampered twice, deleted,
corrupt, hanging).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labutils import grading
from labutils.exercises import REGISTRY
from labutils.grading import solutions, submissions

from .helpers import command_lines

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).parent / "data" / "submissions"
LESSON_00 = "00_setup_and_first_request"


def _lesson(stem: str):
    return nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)


# --- offline ---------------------------------------------------------------------------------------

def test_every_exercise_has_a_reference_answer_outside_the_package():
    answers = solutions.load()
    assert set(answers) == set(REGISTRY), (sorted(set(REGISTRY) - set(answers)), sorted(set(answers) - set(REGISTRY)))
    assert not solutions.ANSWERS.is_relative_to(ROOT / "labutils")  # never installed for learners
    for lesson in solutions.lessons():
        assert "BEGIN SOLUTION" not in lesson.read_text()


def test_lessons_call_every_registered_exercise_once():
    found = [c.id for p in solutions.lessons() for c in submissions.exercise_calls(nbformat.read(p, as_version=4))]
    assert sorted(found) == sorted(REGISTRY)


def test_solve_replaces_each_placeholder_and_nothing_else():
    answers = solutions.load()
    for path in solutions.lessons():
        nb = nbformat.read(path, as_version=4)
        solved = solutions.solve(nb, answers)
        nbformat.validate(solved)
        assert len(solved.cells) == len(nb.cells)
        changed = [i for i, (a, b) in enumerate(zip(nb.cells, solved.cells)) if a.source != b.source]
        calls = {c.cell for c in submissions.exercise_calls(nb)}
        assert set(changed) == calls, path.name
        assert not any(solutions.PLACEHOLDER.search(solved.cells[i].source) for i in changed)


def test_missing_answers_file_says_where_they_are_kept(tmp_path):
    with pytest.raises(FileNotFoundError, match="instructor"):
        solutions.load(tmp_path / "none.toml")
    code = subprocess.run([sys.executable, "-m", "labutils.grading.solutions", "render", "--answers",
                           str(tmp_path / "x"), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert code.returncode == 1 and "instructor" in code.stderr


def test_nbgrader_source_marks_solution_and_locked_check_cells():
    nb = solutions.nbgrader_source(_lesson("04_max_tokens_and_stop"), solutions.load())
    nbformat.validate(nb)
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    assert [(m["grade_id"], m["solution"], m["grade"], m["locked"]) for m in meta] == [
        ("answer-04_1", True, False, False), ("check-04_1", False, True, True)]
    (check,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert "verdict('04.1', answer, lab=lab)" in check.source and meta[1]["points"] == 1
    (answer,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert "### BEGIN SOLUTION\nanswer = [\".\", \"!\", \"?\"]" in answer.source


@pytest.mark.parametrize(("learner", "found"), [
    ("ada", False), ("bob", False), ("cy", False), ("dee", False), ("fay", False), ("hal", False),
    ("eve", "rebinds exercise"), ("ivy", "REGISTRY")])
def test_tampering_is_found_in_the_sample_submissions(learner, found):
    text = " ".join(submissions.tampering(nbformat.read(SUBMISSIONS / learner / f"{LESSON_00}.ipynb", as_version=4)))
    assert (found in text) if found else not text, text


@pytest.mark.parametrize("source", [
    "def exercise(id, answer): print('✅')", "import labutils.exercises as e\ne.verdict = lambda *a: (True, '')",
    "from labutils import exercises\nexercises.REGISTRY.clear()", "import sys\nsys.modules['labutils.grading'] = 0",
    "setattr(labutils.exercises, 'exercise', print)", "from builtins import print as exercise",
    "get_ipython().events.register('post_run_cell', f)", "exec('x = 1')"])
def test_tampering_patterns(source):
    assert submissions.tampering(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]))


def test_ordinary_code_is_not_tampering():
    cells = [nbformat.v4.new_code_cell(s) for s in (
        "import labutils\nimport labutils.exercises\nfrom labutils.exercises import exercise, hint",
        "%matplotlib inline\nanswer = [m for m in range(3)]\nexercise('03.1', answer)", "!ls", "x = (")]
    assert submissions.tampering(nbformat.v4.new_notebook(cells=cells)) == []


# --- real kernels, no server (lesson 02's offline exercise) ---------------------------------------

def _tiny(folder: Path, learner: str, *sources: str) -> Path:
    """A learner's 02_temperature.ipynb made of `sources` (the reference lesson says it has 02.1)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    path = folder / learner / "02_temperature.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


SETUP = "import labutils.exercises"


def test_grading_marks_without_a_server(tmp_path):
    _tiny(tmp_path, "right", SETUP, "answer = 0.658\nlabutils.exercises.exercise('02.1', answer)")
    _tiny(tmp_path, "wrong", SETUP, "answer = 0.5\nlabutils.exercises.exercise('02.1', answer)")
    _tiny(tmp_path, "blank", SETUP, "answer = ...\nlabutils.exercises.exercise('02.1', answer)")
    _tiny(tmp_path, "patched", SETUP, "labutils.exercises.REGISTRY['02.1'] = None",  # also breaks its own call
          "answer = 0.5\ntry:\n    labutils.exercises.exercise('02.1', answer)\nexcept Exception:\n    pass")
    _tiny(tmp_path, "printer", SETUP, "def exercise(id, answer):\n    print(f'✅ {id}: correct')",
          "answer = 0.1\nexercise('02.1', answer)")
    _tiny(tmp_path, "raiser", SETUP, "1 / 0", "answer = 0.658\nlabutils.exercises.exercise('02.1', answer)")
    graded = {g.learner: g for g in grading.grade(tmp_path, jobs=2, timeout=120)}
    marks = {name: g.marks["02.1"] for name, g in graded.items()}
    assert marks == {"right": "pass", "wrong": "fail", "blank": "not attempted", "patched": "tampered",
                     "printer": "tampered", "raiser": "not reached"}, {n: (g.marks, g.notes) for n, g in graded.items()}
    assert graded["raiser"].outcome == "error" and "ZeroDivisionError" in graded["raiser"].reasons["02.1"]
    assert "0.5 is P(cat) at T=1" in graded["patched"].reasons["02.1"]  # the real check, freshly imported


def test_a_hanging_notebook_is_killed_with_its_kernel(tmp_path):
    _tiny(tmp_path, "sleeper", SETUP, "import time\ntime.sleep(600)", "answer = 0.658\nexercise('02.1', answer)")
    (g,) = grading.grade(tmp_path, timeout=15)
    assert (g.outcome, g.marks) == ("timeout", {"02.1": "timeout"}) and g.seconds == 15
    leftovers = [argv for argv in command_lines().values()
                 if any("lab-grading-" in a for a in argv) and any("ipykernel" in a for a in argv)]
    assert not leftovers


# --- the sample submissions against the embedded stack ---------------------------------------------

@pytest.mark.integration
def test_class_table_of_the_sample_submissions(lab, tmp_path):
    out = tmp_path / "report"
    argv = [sys.executable, "-m", "labutils.grading", str(SUBMISSIONS), "--out", str(out), "--jobs", "2",
            "--cell-timeout", "30", "--timeout", "300", "--url", lab.base_url, "--keep", str(tmp_path / "kept")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env={**os.environ, "LAB_CACHE_DIR":
                                                                                  str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["learner"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert {n: r["00.1"] for n, r in rows.items()} == {
        "ada": "pass", "bob": "fail", "cy": "not attempted", "dee": "not reached", "eve": "tampered",
        "fay": "deleted", "gus": "corrupt", "hal": "timeout", "ivy": "tampered"}
    assert rows["ada"]["passed"] == "1" and sum(r["passed"] == "1" for r in rows.values()) == 1
    assert float(rows["ada"]["seconds"]) > 0 and "AttributeError" in json.loads(
        (out / "grades.json").read_text())[3]["reasons"]["00.1"]
    html = (out / "grades.html").read_text()
    assert html.count("<tr>") == 1 + len(rows) and "tampered" in html
    assert (out / "grades.png").stat().st_size > 5000


# --- nbgrader (its own venv, .venv-nbgrader, from tools/hub-deps.sh) -------------------------------

NBGRADER = ROOT / ".venv-nbgrader" / "bin" / "nbgrader"
KERNELS = ROOT / ".lab" / "nbgrader-kernels"  # a `python3` kernelspec that runs the lab's .venv python


@pytest.mark.integration
def test_nbgrader_generates_and_autogrades_a_lesson(lab, tmp_path):
    if not NBGRADER.exists() or not (KERNELS / "kernels" / "python3" / "kernel.json").exists():
        why = "nbgrader missing: run tools/hub-deps.sh"
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    course = tmp_path / "course"
    solutions.write_nbgrader("00", course / "source" / "lesson00")
    env = {**os.environ, "PATH": f"{NBGRADER.parent}:{os.environ['PATH']}", "JUPYTER_PATH": str(KERNELS),
           "LLAMA_STACK_URL": lab.base_url, "LAB_SHARED": "1", "LAB_CACHE_DIR": str(tmp_path / "cache")}

    def nbgrader(*args: str) -> None:
        done = subprocess.run([str(NBGRADER), *args], cwd=course, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    nbgrader("generate_assignment", "lesson00", "--force")
    released = course / "release" / "lesson00" / f"{LESSON_00}.ipynb"
    text = released.read_text()
    assert "BEGIN SOLUTION" not in text and "Tell me a long story" not in text
    assert text.count(solutions.STUB) == 1  # the learner sees the lab's own placeholder
    release = nbformat.read(released, as_version=4)
    for learner, nb in {"alice": solutions.solve(release, solutions.load()), "bob": release}.items():
        (course / "submitted" / learner / "lesson00").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / learner / "lesson00" / f"{LESSON_00}.ipynb")
    nbgrader("autograde", "lesson00", "--force")
    nbgrader("export")
    scores = {r["student_id"]: (float(r["score"]), float(r["max_score"]))
              for r in csv.DictReader((course / "grades.csv").open())}
    assert scores == {"alice": (1.0, 1.0), "bob": (0.0, 1.0)}
