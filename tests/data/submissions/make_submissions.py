"""Write the sample submissions of lesson 00 that tests/test_grading.py grades (one folder per learner).

    .venv/bin/python tests/data/submissions/make_submissions.py

Each learner's notebook is the lesson with one change, so each exercises one mark of the class table:
ada right, bob wrong, cy unattempted, dee failing (a typo stops the notebook), eve tampered (redefines
`exercise` to print a pass over a wrong answer), fay tampered (deleted the exercise cell), gus corrupt
(not JSON), hal hanging (sleeps forever), ivy tampered (a right answer, but patches the registry).
The files are committed; re-run this after lesson 00's exercise cell changes.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from labutils.grading import solutions
from labutils.grading.grader import new_cell

HERE = Path(__file__).parent
LESSON = solutions.LESSONS / "00_setup_and_first_request.ipynb"
PLACEHOLDER = "answer = ...  # change only this"


def _exercise_cell(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if 'exercise("00.1"' in c.source)


def _with_answer(nb, code: str):
    nb = copy.deepcopy(nb)
    cell = nb.cells[_exercise_cell(nb)]
    cell.source = cell.source.replace(PLACEHOLDER, code)
    return nb


def _insert(nb, before: int, source: str):
    nb = copy.deepcopy(nb)
    nb.cells.insert(before, new_cell(nb, source, {}))
    return nb


def main() -> None:
    base = nbformat.read(LESSON, as_version=4)
    right = solutions.load()["00.1"]
    wrong = 'answer = "length"  # the finish reason as text, not the response'
    typo = copy.deepcopy(base)
    first = next(c for c in typo.cells if "response = client.chat.completions.create" in c.source)
    first.source = first.source.replace("client.chat.completions.create", "client.chat.completion.create")
    deleted = copy.deepcopy(base)
    del deleted.cells[_exercise_cell(deleted)]
    eve = _with_answer(base, wrong)
    eve = _insert(eve, _exercise_cell(eve),
                  'labutils.exercises.exercise = lambda id, answer, **given: print(f"✅ {id}: correct!") or True')
    hal = _with_answer(base, "import time\ntime.sleep(3600)  # thinking very hard\n" + right)
    ivy = _with_answer(base, right)
    ivy = _insert(ivy, _exercise_cell(ivy),
                  'from labutils.exercises import REGISTRY, passed\n'
                  'REGISTRY["00.1"] = REGISTRY["00.1"].__class__("00.1", lambda a: passed("ok"), "no hint")')
    notebooks = {"ada": _with_answer(base, right), "bob": _with_answer(base, wrong), "cy": base, "dee": typo,
                 "eve": eve, "fay": deleted, "hal": hal, "ivy": ivy}
    for learner, nb in notebooks.items():
        (HERE / learner).mkdir(exist_ok=True)
        nbformat.write(nb, HERE / learner / LESSON.name)
    (HERE / "gus").mkdir(exist_ok=True)
    text = LESSON.read_text()
    (HERE / "gus" / LESSON.name).write_text(text[: len(text) // 2])  # cut half-way: not JSON


if __name__ == "__main__":
    main()
