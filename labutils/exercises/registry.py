"""The exercises' registry: `register` (a lesson module declares its checks), `exercise`/`verdict` (run one),
`hint`. Private to `labutils.exercises`, whose face re-exports it; lesson modules import from here, so the
package imports them without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
        from ..client.connection import connect

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
