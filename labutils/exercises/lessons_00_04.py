"""Exercises of lessons 00-04: first request, messages, temperature, top_p, stop."""

from __future__ import annotations

import math
from itertools import pairwise
from numbers import Real
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import failed, passed, register


def _close(a: Any, b: float, tol: float = 0.01) -> bool:
    """True when `a` is a real number (numpy scalars included) within `tol` of `b`."""
    return isinstance(a, Real) and not isinstance(a, bool) and math.isclose(float(a), b, abs_tol=tol)


def _finish_reason(response: Any) -> str | None:
    """finish_reason of a raw response (choices[0]) or of a labutils Completion."""
    if hasattr(response, "choices"):
        return response.choices[0].finish_reason
    return getattr(response, "finish_reason", None)


# --- exercises of lessons 00-04 ---

@register("00.1", hint="`finish_reason` is `'length'` when the answer reaches `max_tokens` before the model ends "
          "it. Ask for something long (a story, a list) with a small limit, e.g. "
          "`client.chat.completions.create(model=model, messages=messages, max_tokens=5)`, and assign the whole "
          "response to `answer`: the check reads `response.choices[0].finish_reason`.",
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


@register("01.1", hint="The roles should read `system, user, assistant, user`: a system message, a user message and "
          "the assistant reply you want imitated (the few-shot example; more pairs are fine), then the real "
          "question as the last user message. Each message is a dict like `{'role': 'user', 'content': 'Name a "
          "fruit.'}`. Once it passes, try it: `lab.chat(answer, temperature=0, max_tokens=20)`.",
          solution=[{"role": "system", "content": "Answer with one word."},
                    {"role": "user", "content": "Colour of the sky?"},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Colour of grass?"}],
          wrong=[{"role": "user", "content": "Colour of grass?"},
                 {"role": "system", "content": "Answer with one word."}])
def _(answer):
    from ..errors import ParameterError
    from ..params import messages_from

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


def _toy_cat(t: float) -> float:
    """P(cat) of TOY at temperature t, by the lab's own formula (labutils.sampling.apply_temperature)."""
    from ..sampler.distribution import apply_temperature

    return float(apply_temperature(np.log(list(TOY.values())), t)[0])


@register("02.1", hint="Temperature divides the log-probabilities by T: raise each probability to the power 1/T and "
          "divide by the sum. At T=0.5 that is squaring: 0.25, 0.09, 0.04, then divide by their sum. Or let the "
          "lab do it: `sampling.apply_temperature(np.log(list(labutils.exercises.TOY.values())), 0.5)[0]`.",
          solution=0.658, wrong=0.5)
def _(answer):
    want = _toy_cat(0.5)
    if isinstance(answer, str):
        return failed(f"{answer!r} is a string: give a number, e.g. 0.42 (no quotes).")
    if _close(answer, want):
        return passed(f"P(cat) = {want:.3f} at T=0.5, up from 0.5: a low temperature sharpens the distribution.")
    if _close(answer, TOY["cat"]):
        return failed("0.5 is P(cat) at T=1; at T=0.5 each probability is raised to the power 1/T = 2 "
                      "and renormalised.")
    return failed(f"{answer!r} is not P(cat) at T=0.5 (give a probability between 0 and 1, rounded to 2 decimals "
                  "or better).")


@register("03.1", hint="Sort the tokens by probability and add them up until the sum reaches top_p: the tokens "
          "added so far (including the one that crossed the line) survive. cat (0.5) is not yet 0.7, so keep "
          "going. You can check with `sampling.nucleus(list(labutils.exercises.TOY.values()), 0.7).kept`.",
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


@register("04.1", hint="First look at the answer without a stop: `lab.chat(labutils.exercises.COUNT_PROMPT, "
          "temperature=0, max_tokens=40).text`. Generation ends just before the first occurrence of the stop "
          "string, which is left out of the text, so pick the characters that come right after the 3.",
          solution=", 4", wrong="\n\n", needs=("lab",))
def _(answer, *, lab):
    if not isinstance(answer, (str, list)):
        return failed(f"give a stop string (or a list of them), not {answer!r}")
    done = lab.chat(COUNT_PROMPT, temperature=0, max_tokens=40, stop=answer)
    text = done.text.strip()
    if "4" not in text and text.endswith("3"):
        return passed(f"the answer is {text!r} (finish_reason {done.finish_reason!r}): it stops right after 3.")
    if "3" in text and "4" not in text:
        return failed(f"with stop={answer!r} the answer is {text!r}: it has no 4, but it does not end on the 3 "
                      "(a trailing comma is left in): stop on what follows the 3, including the comma.")
    return failed(f"with stop={answer!r} the answer is {text!r}: it should contain 3 but not 4.")
