"""Exercises of notebooks/04_max_tokens_and_stop.ipynb."""

from __future__ import annotations

from . import failed, passed, register

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
