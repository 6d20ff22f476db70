"""Exercises of notebooks/11_predicting_the_sampler.ipynb."""

from __future__ import annotations

from ..sampler.dry import Context, dry_penalty, dry_scan
from .registry import failed, passed, register

# The tokens DRY has seen in exercise 11.1, oldest first, and the DRY settings there (llama.cpp's, multiplier 0.8)
TOY_DRY = ("A", "big", "red", "dog", "ran", ".", "A", "big", "red")


TOY_DRY_SETTINGS = {"dry_multiplier": 0.8, "dry_base": 1.75, "dry_allowed_length": 2}


@register("11.1", hint="DRY looks for an earlier place where the text's ending already occurred: find the longest "
          "ending of the tokens that appeared before, the token that followed it there (the one that would extend "
          "the repeat) and the repeat's length L. That token loses dry_multiplier x dry_base^(L - "
          "dry_allowed_length) from its logit (section 5). Answer with a dict {token: penalty}.",
          solution={"dog": 1.4}, wrong={"dog": 0.8})
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
