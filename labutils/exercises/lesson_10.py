"""Exercises of notebooks/10_sampler_chain.ipynb."""

from __future__ import annotations

import numpy as np

from ..chain import Context, dry_penalty, dry_scan, run_chain
from . import failed, passed, register

# The toy next-token distribution of lesson 10's exercises (model probabilities, temperature 1).
TOY_10 = {"Paris": 0.40, "the": 0.25, "a": 0.15, "France": 0.10, "located": 0.06, "in": 0.04}


# The tokens DRY has seen in exercise 10.3, oldest first, and the DRY settings there (llama.cpp's, multiplier 0.8)
TOY_DRY = ("A", "big", "red", "dog", "ran", ".", "A", "big", "red")


TOY_DRY_SETTINGS = {"dry_multiplier": 0.8, "dry_base": 1.75, "dry_allowed_length": 2}


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


@register("10.2", hint="Find a min_p that keeps Paris alone: min_p x 0.40 must be above p(the) = 0.25. Any "
          "min_p above 0.625 does it; then the first token is 'Paris' whatever the seed, even at temperature 1.5.",
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


@register("10.3", hint="DRY looks for earlier places where the text's ending already occurred: the last three tokens "
          "'A big red' occurred before, followed by 'dog', so 'dog' would extend a repeat of L = 3 tokens. It loses "
          "dry_multiplier x dry_base^(L - dry_allowed_length) = 0.8 x 1.75^(3 - 2) from its logit. Answer with a "
          "dict {token: penalty}.", solution={"dog": 1.4}, wrong={"dog": 0.8})
def _(answer):
    s = TOY_DRY_SETTINGS
    scan = dry_scan(Context(TOY_DRY), s["dry_allowed_length"], 64)
    expected = {t: dry_penalty(n, s["dry_multiplier"], s["dry_base"], s["dry_allowed_length"])
                for t, n in scan.targets.items()}
    if not isinstance(answer, dict) or not all(isinstance(v, (int, float)) for v in answer.values()):
        return failed(f"answer with a dict of token -> penalty, e.g. {{'red': 2.0}}, not {answer!r}")
    if set(answer) != set(expected):
        extra = ", ".join(map(repr, sorted(set(answer) - set(expected))))
        return failed(f"DRY penalises {len(expected)} token(s) here{', not ' + extra if extra else ''}: which token "
                      "followed the earlier occurrence of the text's ending?")
    off = {t: v for t, v in answer.items() if abs(v - expected[t]) > 0.01}
    if off:
        return failed(f"the right token, the wrong penalty ({', '.join(f'{v:g}' for v in off.values())}): how long is "
                      "the repeat it would extend, and how many tokens of it are free (dry_allowed_length)?")
    return passed(f"{scan.explain()} Each loses 0.8 x 1.75^(L - 2): "
                  + ", ".join(f"{t!r} {v:.2f}" for t, v in expected.items()) + ".")
