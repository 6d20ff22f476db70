"""Exercises of notebooks/05_playground.ipynb."""

from __future__ import annotations

from typing import Any

from .registry import failed, passed, register


def _records(answer: Any) -> list[dict]:
    if hasattr(answer, "to_dict"):
        return answer.to_dict("records")
    return [dict(r) for r in answer]


@register("05.1", hint="Section 1 drives the playground from code: set its controls' `.value`, call `pg.run()`. The "
          "check looks in the history for two successful runs with temperature > 0, identical parameters and "
          "seed, and the same text: same seed + same parameters = same answer, even when sampling.",
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
