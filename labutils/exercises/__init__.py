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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

Verdict = tuple[bool, str]
_NO_EXAMPLE = object()


def passed(reason: str) -> Verdict:
    """A passing verdict with its reason."""
    return True, reason


def failed(reason: str) -> Verdict:
    """A failing verdict with its reason (what is wrong and what to try)."""
    return False, reason


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its check, its hint, and a passing and a failing example answer."""

    id: str
    check: Callable[..., Verdict]
    hint: str
    solution: Any = _NO_EXAMPLE
    wrong: Any = _NO_EXAMPLE
    needs: tuple[str, ...] = ()
    given: Callable[[], dict[str, Any]] | None = None

    @property
    def needs_lab(self) -> bool:
        return "lab" in self.needs


REGISTRY: dict[str, Exercise] = {}


def register(id: str, *, hint: str, solution: Any = _NO_EXAMPLE, wrong: Any = _NO_EXAMPLE,
             needs: tuple[str, ...] = (), given: Callable[[], dict[str, Any]] | None = None,
             ) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    """Register the decorated function as the check of exercise `id` (e.g. "02.1").

    The function gets the answer (and each name in `needs` as a keyword) and returns
    `passed(...)`/`failed(...)`. `given()` returns offline examples of the needed values for the tests.
    """
    if id in REGISTRY:
        raise ValueError(f"exercise {id!r} is registered twice")
    if not hint or not hint.strip():
        raise ValueError(f"exercise {id!r} needs a hint")

    def decorate(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        REGISTRY[id] = Exercise(id, fn, " ".join(hint.split()), solution, wrong, tuple(needs), given)
        return fn

    return decorate


def is_placeholder(answer: Any) -> bool:
    """True for the untouched placeholder `...` (also inside a tuple, list or dict answer)."""
    if answer is Ellipsis:
        return True
    if isinstance(answer, dict):
        return any(v is Ellipsis for v in answer.values())
    if isinstance(answer, (list, tuple)):
        return any(v is Ellipsis for v in answer)
    return False


def _get(id: str) -> Exercise:
    try:
        return REGISTRY[id]
    except KeyError:
        raise KeyError(f"no exercise {id!r}; known: {', '.join(sorted(REGISTRY))}") from None


def verdict(id: str, answer: Any, **given: Any) -> Verdict | None:
    """The check's verdict without printing: None for the placeholder, else (ok, reason).

    `given` holds what the check needs besides the answer (`lab=`, `probe=`); a missing `lab` is connected.
    """
    ex = _get(id)
    if is_placeholder(answer):
        return None
    if "lab" in ex.needs and given.get("lab") is None:
        from ..client.lab import connect

        given["lab"] = connect()
    missing = [n for n in ex.needs if given.get(n) is None]
    if missing:
        return failed(f"this check also needs {', '.join(f'{n}=...' for n in missing)}: pass it to exercise()")
    try:
        return ex.check(answer, **{n: given[n] for n in ex.needs})
    except Exception as e:  # a wrong answer of a surprising type must not crash the lesson
        return failed(f"checking this answer raised {type(e).__name__}: {e}")


def exercise(id: str, answer: Any, **given: Any) -> bool:
    """Check the answer of exercise `id`; print ✅ or ❌ with a reason and return whether it passed.

    >>> exercise("03.1", ["cat", "dog"])  # doctest: +SKIP
    ✅ 03.1: ...
    """
    result = verdict(id, answer, **given)
    if result is None:
        print(f"⏳ {id}: not attempted yet: replace `...` with your answer and run the cell again.")
        return False
    ok, reason = result
    print(f"{'✅' if ok else '❌'} {id}: {reason}")
    if not ok:
        print(f"   (stuck? open the hint below, or run labutils.exercises.hint({id!r}))")
    return ok


@dataclass(frozen=True)
class Hint:
    """An exercise's hint: folded in a notebook (HTML <details>), one line of text elsewhere."""

    id: str
    text: str

    def _repr_markdown_(self) -> str:
        return f"<details><summary>Hint</summary>\n\n{self.text}\n\n</details>"

    def __repr__(self) -> str:
        return f"💡 {self.id}: {self.text}"


def hint(id: str) -> Hint:
    """The hint of exercise `id`, shown folded in a notebook (the lesson's hint cell is `hint(id)`)."""
    return Hint(id, _get(id).hint)


# The exercises register themselves on import, one module per lesson (lesson_NN.py).
from . import (  # noqa: E402,F401
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
from .lesson_02 import TOY  # noqa: E402
from .lesson_04 import SEA_PROMPT  # noqa: E402
from .lesson_07 import TICKET_SYSTEM  # noqa: E402
from .lesson_08 import GRID_08  # noqa: E402
from .lesson_10 import TOY_10  # noqa: E402
from .lesson_11 import TOY_DRY  # noqa: E402

__all__ = ["GRID_08", "REGISTRY", "SEA_PROMPT", "TICKET_SYSTEM", "TOY", "TOY_10", "TOY_DRY", "Exercise", "Hint",
           "exercise", "failed", "hint", "is_placeholder", "passed", "register", "verdict"]
