"""Exercises of notebooks/09_trust_but_verify.ipynb."""

from __future__ import annotations

from .registry import failed, passed, register


@register("09.1", hint="Each row of `df` has a `verdict`. Keep the rows whose verdict is not `'honoured'` (pandas "
          "boolean indexing, `df[df.verdict != ...]`) and take their `parameter` column as a list with `.tolist()`.",
          solution=["n"], wrong=[], needs=("probe",), given=lambda: {"probe": _example_probe()})
def _(answer, *, probe):
    """Compared with the probe table the lesson made (same samples), not with a new probe."""
    df = probe
    if isinstance(answer, str) or not isinstance(answer, (list, tuple, set)):
        return failed(f"give a list of parameter names, e.g. ['stop'], not {answer!r}")
    want = set(df.loc[df.verdict != "honoured", "parameter"])
    got = set(answer)
    if got == want:
        shown = ", ".join(f"{p} ({v})" for p, v in zip(df.parameter, df.verdict) if p in want) or "none"
        return passed(f"not honoured here: {shown}. Everything else took effect.")
    missing, extra = sorted(want - got), sorted(got - want)
    unknown = sorted(got - set(df.parameter))
    if unknown:
        return failed(f"{unknown} are not parameters the probe checks; use the names in the parameter column.")
    parts = ([f"{missing} are not honoured but missing from your list"] if missing else []) + (
        [f"{extra} were honoured"] if extra else [])
    return failed(f"not quite: {'; '.join(parts)}. Compare with the verdict column.")


def _example_probe():
    """A probe table like the lesson's, for the offline test of 09.1."""
    import pandas as pd

    verdicts = {"temperature": "honoured", "seed": "honoured", "n": "ignored", "top_logprobs": "honoured"}
    return pd.DataFrame({"parameter": list(verdicts), "verdict": list(verdicts.values())})
