"""Exercises of notebooks/13_models_side_by_side.ipynb."""

from __future__ import annotations

import pandas as pd

from ..intervals import CANT_TELL
from ..paired import compare
from .registry import failed, passed, register

NO_CLEAR = "no clear difference"
CANT = "can't tell yet"


def _example_runs() -> pd.DataFrame:
    """A two-model grid in the shape of lesson 13's `runs` (model, temperature, seed, text, correct)."""
    rows = [{"model": m, "temperature": t, "seed": s, "sample": s, "text": "Paris" if ok else "Rome",
             "correct": ok, "error": None}
            for m, good in (("instruct", 1.0), ("base", 0.2)) for t in (0.0, 1.0) for s in range(6)
            for ok in [s < good * 6]]
    return pd.DataFrame(rows)


def _more_often(runs: pd.DataFrame) -> tuple[str, str]:
    """The expected answer of 13.1 (a model id, "no clear difference" or CANT_TELL) and the evidence."""
    a, b = sorted(runs["model"].unique())[:2]
    d = compare(runs, "correct", {"model": a}, {"model": b}, on=["temperature", "seed"])
    expected = {"higher": b, "lower": a}.get(d.verdict, d.verdict)
    return expected, d.sentence("share of answers naming Paris")


@register("13.1", hint="Use the paired comparison of section 3: labutils.compare(runs, 'correct', "
          "{'model': A}, {'model': B}, on=['temperature', 'seed']). Its verdict says 'higher' or 'lower' only "
          "when the 95% interval of the difference excludes 0. Answer with the model id that names Paris more "
          "often, 'no clear difference', or \"can't tell yet\" when there are too few paired samples for any "
          "verdict.", solution="instruct", wrong="base", needs=("runs",),
          given=lambda: {"runs": _example_runs()})
def _(answer, *, runs):
    if not isinstance(answer, str):
        return failed(f"answer with a model id (a string such as {sorted(runs['model'].unique())[0]!r}), "
                      f"{NO_CLEAR!r} or {CANT!r}, not {answer!r}")
    if "correct" not in runs.columns or runs["model"].nunique() < 2:
        return failed("runs must be the two-model grid of section 2 (with its 'correct' scorer column)")
    expected, evidence = _more_often(runs)
    said = answer.strip().lower().replace("’", "'").replace("cant", "can't")
    if expected == CANT_TELL:  # too few pairs: a model id or "no clear difference" claims more than the run shows
        if said.startswith(CANT):
            return passed(f"yes: too few paired samples for any verdict ({evidence}); raise SAMPLES to decide")
        return failed(f"this run has too few paired samples to say that ({evidence}): the honest answer is "
                      f"{CANT!r}, until you raise SAMPLES")
    if said.startswith(CANT):
        return failed(f"this run has enough pairs for a verdict: {evidence}")
    if answer.strip() == expected:
        return passed(f"yes: {evidence}")
    return failed(f"not what this run shows: {evidence}")
