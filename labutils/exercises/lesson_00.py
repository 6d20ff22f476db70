"""Exercises of notebooks/00_setup_and_first_request.ipynb."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .registry import failed, passed, register


def _finish_reason(response: Any) -> str | None:
    """finish_reason of a raw response (choices[0]) or of a labutils Completion."""
    if hasattr(response, "choices"):
        return response.choices[0].finish_reason
    return getattr(response, "finish_reason", None)


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
