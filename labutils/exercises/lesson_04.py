"""Exercises of notebooks/04_max_tokens_and_stop.ipynb."""

from __future__ import annotations

import re

from .registry import failed, passed, register

# Exercise 04.1: the prompt whose first sentence the learner's stop sequence must keep. The check reads what
# the model really writes (no stop) and compares, so it holds for any model that writes two sentences or more
# (the old exercise counted "1, 2, 3, ..." and failed when the 135M model did not count).
SEA_PROMPT = "Write a short paragraph about the sea."  # the 135M model writes several sentences at T=0
_SEA_MAX_TOKENS = 60
_SENTENCE_END = re.compile(r"[.!?]")


@register("04.1", hint="First look at the answer without a stop: `lab.chat(labutils.exercises.SEA_PROMPT, "
          "temperature=0, max_tokens=60).text`. Generation ends just before the first occurrence of a stop "
          "string, which is left out of the text: which character ends a sentence? A list of up to 4 strings "
          "works too, e.g. for sentences that end in '!' or '?'.",
          solution=[".", "!", "?"], wrong="\n", needs=("lab",))
def _(answer, *, lab):
    if not (isinstance(answer, str) and answer) and not (
            isinstance(answer, list) and answer and all(isinstance(s, str) and s for s in answer)):
        return failed(f"give a stop string (or a list of up to 4 non-empty strings), not {answer!r}")
    full = lab.chat(SEA_PROMPT, temperature=0, max_tokens=_SEA_MAX_TOKENS).text
    cut = lab.chat(SEA_PROMPT, temperature=0, max_tokens=_SEA_MAX_TOKENS, stop=answer)
    text = cut.text.strip()
    if not text:
        return failed(f"with stop={answer!r} the answer is empty: the stop string came first; the model wrote "
                      f"{full[:80]!r}.")
    if cut.finish_reason != "stop":
        return failed(f"with stop={answer!r} the answer ran to max_tokens (finish_reason {cut.finish_reason!r}): "
                      f"the stop string never came. The whole answer: {full[:120]!r}.")
    if _SENTENCE_END.search(text):
        return failed(f"with stop={answer!r} the answer is {text!r}: it holds more than its first sentence (a "
                      "sentence ends in '.', '!' or '?'); stop on the character that ends it.")
    if len(text.split()) < 3:
        return failed(f"with stop={answer!r} the answer is just {text!r}: the stop string came before the first "
                      f"sentence had its words; the model wrote {full[:80]!r}.")
    rest = full.strip()[len(text):].strip()
    if not _SENTENCE_END.match(rest):
        return failed(f"with stop={answer!r} the answer is {text!r}: it ends before its first sentence is over "
                      f"(the model went on with {rest[:30]!r}).")
    if not rest[1:].strip():
        return failed(f"the model wrote one sentence only ({full[:80]!r}), so there is nothing to cut: this check "
                      "needs a model that writes a paragraph (the lab's default model does at temperature 0).")
    return passed(f"the answer is {text!r} (finish_reason 'stop'): its first sentence, without the stop string; "
                  f"the model would have gone on with {rest[1:50].strip()!r}...")
