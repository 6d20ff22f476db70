"""Exercise checks and hints: `exercise("02.1", answer)` prints ✅ or ❌ with a reason.

Every lesson ends with exercises: a placeholder `answer = ...  # change only this`, a call to
`exercise(id, answer)` and a hint kept out of sight (`hint(id)` prints it too). A check never raises
on a wrong answer: it prints why and returns False; the untouched placeholder `...` prints
"not attempted yet" (so a notebook executed unchanged, e.g. under papermill, does not fail).

Adding an exercise: write a function that takes the learner's answer (and `lab` when it needs the
server) and returns `passed(reason)` or `failed(reason)`, decorated with `@register`:

    @register("05.1", hint="...", solution=..., wrong=...)
    def _(answer):
        return passed("...") if ... else failed("...")

`solution` and `wrong` are an answer that passes and one that fails; tests/test_check.py runs them.
Lessons add their exercises below the comment line of their lesson range, at the end of this file.
Taught in notebooks/00_setup_and_first_request.ipynb (the first exercise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from numbers import Real
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .client import Lab

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
    needs_lab: bool = False


REGISTRY: dict[str, Exercise] = {}


def register(id: str, *, hint: str, solution: Any = _NO_EXAMPLE, wrong: Any = _NO_EXAMPLE,
             needs_lab: bool = False) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    """Register the decorated function as the check of exercise `id` (e.g. "02.1").

    The function gets the answer (and `lab=` when `needs_lab`) and returns `passed(...)`/`failed(...)`.
    """
    if id in REGISTRY:
        raise ValueError(f"exercise {id!r} is registered twice")
    if not hint or not hint.strip():
        raise ValueError(f"exercise {id!r} needs a hint")

    def decorate(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        REGISTRY[id] = Exercise(id, fn, hint.strip(), solution, wrong, needs_lab)
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


def verdict(id: str, answer: Any, *, lab: Lab | None = None) -> Verdict | None:
    """The check's verdict without printing: None for the placeholder, else (ok, reason)."""
    ex = _get(id)
    if is_placeholder(answer):
        return None
    try:
        if ex.needs_lab:
            if lab is None:
                from .client import connect

                lab = connect()
            return ex.check(answer, lab=lab)
        return ex.check(answer)
    except Exception as e:  # a wrong answer of a surprising type must not crash the lesson
        return failed(f"checking this answer raised {type(e).__name__}: {e}")


def exercise(id: str, answer: Any, *, lab: Lab | None = None) -> bool:
    """Check the answer of exercise `id`; print ✅ or ❌ with a reason and return whether it passed.

    >>> exercise("03.1", ["cat", "dog"])  # doctest: +SKIP
    ✅ 03.1: ...
    """
    result = verdict(id, answer, lab=lab)
    if result is None:
        print(f"⏳ {id}: not attempted yet: replace `...` with your answer and run the cell again.")
        return False
    ok, reason = result
    print(f"{'✅' if ok else '❌'} {id}: {reason}")
    if not ok:
        print(f"   (stuck? open the hint below, or run labutils.check.hint({id!r}))")
    return ok


def hint(id: str) -> None:
    """Print the hint of exercise `id`."""
    print(f"💡 {id}: {_get(id).hint}")


def _close(a: Any, b: float, tol: float = 0.01) -> bool:
    """True when `a` is a real number (numpy scalars included) within `tol` of `b`."""
    return isinstance(a, Real) and not isinstance(a, bool) and math.isclose(float(a), b, abs_tol=tol)


def _finish_reason(response: Any) -> str | None:
    """finish_reason of a raw response (choices[0]) or of a labutils Completion."""
    if hasattr(response, "choices"):
        return response.choices[0].finish_reason
    return getattr(response, "finish_reason", None)


# --- exercises of lessons 00-04 ---

@register("00.1", hint="Call client.chat.completions.create(model=model, messages=[...], max_tokens=...) with a "
          "max_tokens small enough that the answer is cut off (try 5), and assign the whole response to answer. "
          "The reason sits in response.choices[0].finish_reason.",
          solution=SimpleNamespace(choices=[SimpleNamespace(finish_reason="length")]),
          wrong=SimpleNamespace(choices=[SimpleNamespace(finish_reason="stop")]))
def _(answer):
    reason = _finish_reason(answer)
    if reason is None:
        return failed(f"expected a chat completion response (with .choices), got {type(answer).__name__}")
    if reason == "length":
        return passed("finish_reason is 'length': the answer hit max_tokens and was cut off.")
    return failed(f"finish_reason is {reason!r}: the model ended on its own before the limit; "
                  "use a smaller max_tokens.")


@register("01.1", hint="Start with {'role': 'system', 'content': ...}, then a user message and the assistant "
          "reply you want imitated (the few-shot example), then the real question as the last user message.",
          solution=[{"role": "system", "content": "Answer with one word."},
                    {"role": "user", "content": "Colour of the sky?"},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Colour of grass?"}],
          wrong=[{"role": "user", "content": "Colour of grass?"},
                 {"role": "system", "content": "Answer with one word."}])
def _(answer):
    from .errors import ParameterError
    from .params import messages_from

    try:
        messages = messages_from(answer)
    except ParameterError as e:
        return failed(str(e))
    roles = [m["role"] for m in messages]
    if roles[0] != "system" or "system" in roles[1:]:
        return failed(f"roles are {roles}: put exactly one system message, first.")
    turns = roles[1:]
    if "assistant" not in turns:
        return failed(f"roles are {roles}: add a user/assistant pair as a few-shot example.")
    if turns[-1] != "user":
        return failed(f"roles are {roles}: the last message must be the user's question the model answers.")
    if any(a == b for a, b in pairwise(turns)) or turns[0] != "user":
        return failed(f"roles are {roles}: after the system message, user and assistant take turns, user first.")
    return passed(f"roles {roles}: a system prompt, {turns.count('assistant')} few-shot pair(s), then the question.")


# The toy next-token distribution used by exercises 02.1 and 03.1.
TOY = {"cat": 0.5, "dog": 0.3, "fish": 0.2}


def _toy_temperature(t: float) -> dict[str, float]:
    w = {k: p ** (1 / t) for k, p in TOY.items()}
    z = sum(w.values())
    return {k: v / z for k, v in w.items()}


@register("02.1", hint="Temperature divides the logits: p_i ** (1/T), then renormalise so they sum to 1. "
          "For T=0.5 that is p squared: 0.25, 0.09, 0.04 before renormalising. "
          "labutils.sampling.apply_temperature does it for you.",
          solution=round(_toy_temperature(0.5)["cat"], 3), wrong=0.5)
def _(answer):
    want = _toy_temperature(0.5)["cat"]
    if _close(answer, want):
        return passed(f"P(cat) = {want:.3f} at T=0.5, up from 0.5: a low temperature sharpens the distribution.")
    if _close(answer, TOY["cat"]):
        return failed("0.5 is P(cat) at T=1; at T=0.5 each probability is raised to the power 1/T = 2 "
                      "and renormalised.")
    return failed(f"{answer!r} is not P(cat) at T=0.5 (give a probability between 0 and 1, rounded to 2 decimals "
                  "or better).")


@register("03.1", hint="Sort the tokens by probability and add them up until the sum reaches top_p: "
          "the tokens added so far (including the one that crossed the line) survive.",
          solution=["cat", "dog"], wrong=["cat"])
def _(answer):
    if isinstance(answer, (str, dict)) or not hasattr(answer, "__iter__"):
        return failed(f"give a list of tokens, e.g. ['cat'], not {answer!r}")
    items = list(answer)
    if items and all(isinstance(t, (bool, np.bool_)) for t in items):
        return failed("that is the kept mask (True/False per token); give the names of the kept tokens")
    got, want = {str(t) for t in items}, {"cat", "dog"}
    if not got <= set(TOY):
        return failed(f"{sorted(got - set(TOY))} are not tokens of TOY: give token names from {list(TOY)}")
    if got == want:
        return passed("cat (0.5) + dog (0.3) = 0.8 >= 0.7: the nucleus is {cat, dog}; fish is never sampled.")
    if got == {"cat"}:
        return failed("cat alone holds 0.5 < 0.7: keep adding tokens until the total reaches top_p.")
    if got == set(TOY):
        return failed("all three tokens are top_p=1.0; cat + dog already hold 0.8 >= 0.7, so fish is cut.")
    return failed(f"{sorted(got)} is not the nucleus: the most likely tokens come first, until 0.7 is reached.")


# Exercise 04.1: the prompt whose answer the learner's stop sequence must cut.
COUNT_PROMPT = "Count from 1 to 10, separated by commas."


@register("04.1", hint="At temperature 0 the model writes '1, 2, 3, 4, ...'. A stop sequence is a string: "
          "generation ends just before its first occurrence, which is left out of the text. "
          "Which string first appears right after the 3?",
          solution=", 4", wrong="\n\n", needs_lab=True)
def _(answer, *, lab):
    if not isinstance(answer, (str, list)):
        return failed(f"give a stop string (or a list of them), not {answer!r}")
    done = lab.chat(COUNT_PROMPT, temperature=0, max_tokens=40, stop=answer)
    text = done.text.strip()
    if "3" in text and "4" not in text:
        return passed(f"the answer is {text!r} (finish_reason {done.finish_reason!r}): it stops right after 3.")
    return failed(f"with stop={answer!r} the answer is {text!r}: it should contain 3 but not 4.")


# --- exercises of lessons 05-08 ---

# Exercise 05.1: the grid the learner must build (the axes as sets, since their order does not matter).
GRID_05 = {"temperature": {0.0, 1.0}, "top_p": {0.9, 1.0}, "max_tokens": {32}, "samples": 3}


@register("05.1", hint="labutils.Grid(temperature=[...], top_p=[...], max_tokens=[...], samples=...): each axis is "
          "a list of values, and every combination is run `samples` times. len(grid) counts the calls: "
          "2 x 2 x 1 x 3 = 12.",
          solution=SimpleNamespace(temperature=[0.0, 1.0], top_p=[0.9, 1.0], max_tokens=[32], samples=3),
          wrong=SimpleNamespace(temperature=[0.0, 1.0], top_p=[0.9, 1.0], max_tokens=[32], samples=1))
def _(answer):
    if not all(hasattr(answer, a) for a in GRID_05):
        return failed(f"expected a labutils.Grid, got {type(answer).__name__}")
    got = {a: set(getattr(answer, a)) for a in ("temperature", "top_p", "max_tokens")}
    for axis in got:
        if got[axis] != GRID_05[axis]:
            return failed(f"{axis} is {sorted(got[axis], key=str)}; the task asks for {sorted(GRID_05[axis])}.")
    if answer.samples != GRID_05["samples"]:
        return failed(f"samples={answer.samples}: the task asks for 3 answers per cell, so that each cell "
                      "shows a spread, not one anecdote.")
    return passed("2 temperatures x 2 top_p x 1 max_tokens x 3 samples = 12 calls, with the same 3 seeds in "
                  "every cell.")


@register("05.2", hint="summarize(runs) has one row per cell. Look at its columns (summary.columns): one of them "
          "is the share (0 to 1) of the cell's answers whose finish_reason is 'length'.",
          solution="length_frac", wrong="finish_reason")
def _(answer):
    if answer == "length_frac":
        return passed("length_frac = share of a cell's answers cut by max_tokens (finish_reason 'length'); "
                      "1.0 means every answer was cut.")
    if answer == "finish_reason":
        return failed("finish_reason is a column of runs (one answer each); summary condenses it per cell: "
                      "which summary column is the share of 'length'?")
    return failed(f"{answer!r} is not the summary column that measures answers cut by max_tokens.")


def _records(answer: Any) -> list[dict]:
    if hasattr(answer, "to_dict"):
        return answer.to_dict("records")
    return [dict(r) for r in answer]


@register("06.1", hint="Set pg.temperature.value above 0 (e.g. 1.0), type a seed in pg.seed (keep 'random' off), "
          "and run twice: pg.run(); pg.run(). Then answer = pg.history. Same seed + same parameters = same "
          "answer, even when sampling.",
          solution=[{"temperature": 1.0, "top_p": 1.0, "max_tokens": 40, "seed": 7, "system": None,
                     "prompt": "Hi", "text": "Hello there!", "error": None}] * 2,
          wrong=[{"temperature": 1.0, "top_p": 1.0, "max_tokens": 40, "seed": s, "system": None,
                  "prompt": "Hi", "text": t, "error": None} for s, t in ((1, "Hello!"), (2, "Hey you."))])
def _(answer):
    try:
        rows = _records(answer)
    except (TypeError, ValueError):
        return failed(f"give the playground's history (pg.history), not {type(answer).__name__}")
    keys = ("temperature", "top_p", "max_tokens", "seed", "system", "prompt")
    ok = [r for r in rows if isinstance(r, dict) and all(k in r for k in (*keys, "text"))
          and not r.get("error") and isinstance(r.get("text"), str)]
    if len(ok) < 2:
        return failed(f"the history has {len(ok)} successful run(s): run the playground at least twice.")
    sampled = [r for r in ok if (r["temperature"] or 0) > 0]
    if not sampled:
        return failed("every run used temperature 0 (greedy), which is reproducible anyway: raise the "
                      "temperature and reproduce a *sampled* answer.")
    groups: dict[tuple, set] = {}
    for r in sampled:
        groups.setdefault(tuple(str(r[k]) for k in keys), set()).add(r["text"])
    counts = {k: sum(1 for r in sampled if tuple(str(r[x]) for x in keys) == k) for k in groups}
    for k, texts in groups.items():
        if counts[k] >= 2 and len(texts) == 1:
            return passed(f"{counts[k]} runs at temperature {k[0]} with seed {k[3]} gave the same text: "
                          "the seed makes sampling reproducible.")
    return failed("no two runs with temperature > 0 share all parameters and the seed: set a fixed seed "
                  "(random off) and run twice without touching the sliders.")


@register("07.1", hint="A label has one right answer, so you want the most likely token every time "
          "(which temperature is greedy?), and a label is a word or two, so max_tokens can be small: "
          "it caps the cost when the model rambles.",
          solution={"temperature": 0.0, "max_tokens": 5}, wrong={"temperature": 1.0, "max_tokens": 200})
def _(answer):
    if not isinstance(answer, dict) or not {"temperature", "max_tokens"} <= set(answer):
        return failed("give a dict like {'temperature': ..., 'max_tokens': ...}")
    t, m = answer["temperature"], answer["max_tokens"]
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not isinstance(m, int) or isinstance(m, bool):
        return failed(f"temperature must be a number and max_tokens an integer, got {t!r} and {m!r}")
    if t > 0.2:
        return failed(f"temperature={t}: sampling makes a label change from run to run; classification wants "
                      "the most likely answer every time.")
    if not 1 <= m <= 16:
        return failed(f"max_tokens={m}: a one-word label needs a few tokens; a larger limit only lets a "
                      "rambling answer cost more (and a limit below 1 is not allowed).")
    return passed(f"temperature={t} (repeatable labels) and max_tokens={m} (a label is short; rambling is cut "
                  "and costs little).")


@register("08.1", hint="The system message is always sent. memory='window' with max_turns=2 keeps the 2 newest "
          "exchanges (a user message plus the assistant's reply each), and the new user message comes last.",
          solution=6, wrong=12)
def _(answer):
    if isinstance(answer, bool) or not isinstance(answer, int):
        return failed(f"give a number of messages, not {answer!r}")
    if answer == 6:
        return passed("1 system + 2 kept exchanges x 2 messages + 1 new user message = 6; exchanges 1 to 3 "
                      "are not sent.")
    if answer == 12:
        return failed("12 is what memory='full' sends (1 + 5 x 2 + 1): the window drops the older exchanges.")
    if answer == 5:
        return failed("5 leaves out the system message, which every memory strategy always sends.")
    if answer == 2:
        return failed("2 is memory='none' (system + the new message): the window keeps the 2 newest exchanges.")
    return failed(f"{answer} is not it: count the system message, the kept exchanges (2 messages each) and "
                  "the new message.")


# --- exercise of lesson 09 ---

@register("09.1", hint="Each row of the probe table has a verdict. Keep the rows whose verdict is not "
          "'honoured' (df[df.verdict != 'honoured']) and take their parameter column as a list (.tolist()).",
          solution=["n"], wrong=[], needs_lab=True)
def _(answer, *, lab):
    from .probe import probe

    if isinstance(answer, str) or not isinstance(answer, (list, tuple, set)):
        return failed(f"give a list of parameter names, e.g. ['stop'], not {answer!r}")
    df = probe(lab)  # seeded answers come from the cache: two fresh requests
    want = set(df.loc[df.verdict != "honoured", "parameter"])
    got = set(answer)
    if got == want:
        shown = ", ".join(f"{p} ({v})" for p, v in zip(df.parameter, df.verdict) if p in want) or "none"
        return passed(f"not honoured here: {shown}. Everything else took effect.")
    missing, extra = sorted(want - got), sorted(got - want)
    unknown = sorted(got - set(df.parameter))
    if unknown:
        return failed(f"{unknown} are not parameters the probe checks; use the names in the parameter column.")
    parts = ([f"{missing} are not honoured but missing from your list"] if missing else []) + (
        [f"{extra} were honoured"] if extra else [])
    return failed(f"not quite: {'; '.join(parts)}. Compare with the verdict column.")
