"""Exercises of notebooks/03_top_p.ipynb."""

from __future__ import annotations

import numpy as np

from .lesson_02 import TOY
from .registry import failed, passed, register


@register("03.1", hint="Sort the tokens by probability and add them up until the sum reaches top_p: the tokens "
          "added so far (including the one that crossed the line) survive. cat (0.5) is not yet 0.7, so keep "
          "going.",
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
