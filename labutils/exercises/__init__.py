"""Exercises: `exercise("02.1", answer)` prints ✅ or ❌ with a reason; `hint("02.1")` shows the hint.

Every lesson ends with exercises: a placeholder `answer = ...  # change only this`, a call to
`exercise(id, answer)` and a hint kept out of sight: the lesson's hint cell is `hint(id)`, which shows
the hint registered with the exercise, folded (an HTML <details>), so each hint is written once. A check
never raises on a wrong answer: it prints why and returns False; the untouched placeholder `...` prints
"not attempted yet" (so a notebook executed unchanged, e.g. under papermill, does not fail).

Adding an exercise: write a function that takes the learner's answer (and `lab` when it needs the
server) and returns `passed(reason)` or `failed(reason)`, decorated with `@register`:

    @register("08.1", hint="...", solution=..., wrong=...)
    def _(answer):
        return passed("...") if ... else failed("...")

`solution` and `wrong` are an answer that passes and one that fails; tests/test_exercises.py runs them.
A check that needs more than the answer names it in `needs` ("lab", or e.g. "probe" for the table the
lesson made) and gets it as a keyword; `given` holds offline examples of those for the tests.
Each lesson's exercises live in the module of that lesson, `lesson_NN.py`.
Taught in notebooks/00_setup_and_first_request.ipynb (the first exercise).
"""

from __future__ import annotations

# The exercises register themselves on import, one module per lesson (lesson_NN.py).
from . import (  # noqa: F401
    lesson_00,
    lesson_01,
    lesson_02,
    lesson_03,
    lesson_04,
    lesson_05,
    lesson_06,
    lesson_07,
    lesson_08,
    lesson_09,
    lesson_10,
    lesson_11,
    lesson_12,
    lesson_13,
    lesson_14,
)
from .lesson_02 import TOY
from .lesson_04 import SEA_PROMPT
from .lesson_07 import TICKET_SYSTEM
from .lesson_08 import GRID_08
from .lesson_10 import TOY_10
from .lesson_11 import TOY_DRY
from .registry import (
    _NO_EXAMPLE,  # noqa: F401  (tests read it)
    REGISTRY,
    Exercise,
    Hint,
    exercise,
    failed,
    hint,
    is_placeholder,
    passed,
    register,
    verdict,
)

__all__ = ["GRID_08", "REGISTRY", "SEA_PROMPT", "TICKET_SYSTEM", "TOY", "TOY_10", "TOY_DRY", "Exercise", "Hint",
           "exercise", "failed", "hint", "is_placeholder", "passed", "register", "verdict"]
