"""Exercises of notebooks/07_use_cases.ipynb."""

from __future__ import annotations

from . import failed, passed, register

LABEL_MAX_TOKENS_LIMIT = 32  # 07.1: the lesson itself labels with max_tokens=20 (LABEL_MAX_TOKENS)


@register("07.1", hint="Look at section 3: which temperature gave the same label for the same review every time? "
          "And at `by_shots['tokens']` in section 1: how many tokens does a label take? A limit a little above "
          "that caps the cost of a rambling answer. Answer like `{'temperature': ..., 'max_tokens': ...}`.",
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
    if not 1 <= m <= LABEL_MAX_TOKENS_LIMIT:
        return failed(f"max_tokens={m}: a one- or two-word label needs a few tokens (at most "
                      f"{LABEL_MAX_TOKENS_LIMIT}); a larger limit only lets a rambling answer cost more (and a limit "
                      "below 1 is not allowed).")
    return passed(f"temperature={t} (repeatable labels) and max_tokens={m} (a label is short; rambling is cut "
                  "and costs little).")
