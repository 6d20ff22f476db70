"""Exercises of notebooks/10_sampler_chain.ipynb."""

from __future__ import annotations

import numpy as np

from ..sampler.chain import run_chain
from .registry import failed, passed, register

# The toy next-token distribution of lesson 10's exercises (model probabilities, temperature 1).
TOY_10 = {"Paris": 0.40, "the": 0.25, "a": 0.15, "France": 0.10, "located": 0.06, "in": 0.04}


def _kept(settings: dict) -> list[str]:
    return list(run_chain(list(TOY_10), np.log(list(TOY_10.values())), settings).final.index)


@register("10.1", hint="The chain runs top_k, then top_p, then min_p, then temperature. top_k=4 keeps Paris, the, "
          "a, France; min_p=0.3 then keeps tokens with p >= 0.3 x p(Paris) = 0.12. Temperature never removes a "
          "token (unless it is 0). Answer with the list of tokens left.",
          solution=["Paris", "the", "a"], wrong=["Paris", "the", "a", "France"])
def _(answer):
    expected = _kept({"top_k": 4, "min_p": 0.3, "temperature": 1.5})
    if not isinstance(answer, (list, tuple, set)):
        return failed(f"answer with a list of tokens, e.g. ['Paris'], not {type(answer).__name__}")
    if set(answer) == set(expected):
        return passed(f"top_k=4 keeps 4 tokens, min_p=0.3 cuts below 0.3 x 0.40 = 0.12: {expected} survive; "
                      "temperature 1.5 then flattens them but removes none.")
    extra, missing = set(answer) - set(expected), set(expected) - set(answer)
    return failed(f"not quite: {'kept too many: ' + ', '.join(sorted(extra)) if extra else ''}"
                  f"{'; missing: ' + ', '.join(sorted(missing)) if missing else ''}. Apply the stages in order.")


@register("10.2", hint="Find a min_p that keeps Paris alone: the threshold min_p x p(Paris) must be above the "
          "probability of the second most likely token. Solve that for min_p and pick a value above it; then the "
          "first token is 'Paris' whatever the seed, even at temperature 1.5.",
          solution=0.7, wrong=0.5)
def _(answer):
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not 0 <= answer <= 1:
        return failed(f"answer with a min_p between 0 and 1, not {answer!r}")
    kept = _kept({"top_k": 0, "min_p": float(answer), "temperature": 1.5})
    if kept == ["Paris"]:
        return passed(f"min_p={answer} keeps only Paris (threshold {answer * 0.4:.3f} > 0.25): greedy at any "
                      "temperature.")
    return failed(f"min_p={answer} keeps {len(kept)} tokens ({', '.join(kept)}): the threshold "
                  f"{answer * 0.4:.3f} is not above p(the) = 0.25.")
