"""Exercises of notebooks/02_temperature.ipynb."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from .registry import failed, passed, register


def _close(a: Any, b: float, tol: float = 0.01) -> bool:
    """True when `a` is a real number (numpy scalars included) within `tol` of `b`."""
    return isinstance(a, Real) and not isinstance(a, bool) and math.isclose(float(a), b, abs_tol=tol)


# The toy next-token distribution used by exercises 02.1 and 03.1.
TOY = {"cat": 0.5, "dog": 0.3, "fish": 0.2}


def _toy_cat(t: float) -> float:
    """P(cat) of TOY at temperature t, by the lab's own formula (labutils.sampling.apply_temperature)."""
    from ..sampler.distribution import apply_temperature

    return float(apply_temperature(np.log(list(TOY.values())), t)[0])


@register("02.1", hint="Temperature divides the log-probabilities by T: raise each probability to the power 1/T and "
          "divide by the sum. At T=0.5 that is squaring each probability; then divide cat's square by the sum of "
          "the three squares. Check yourself with section 4's `sampling.apply_temperature` on the TOY's "
          "log-probabilities.",
          solution=0.658, wrong=0.5)
def _(answer):
    want = _toy_cat(0.5)
    if isinstance(answer, str):
        return failed(f"{answer!r} is a string: give a number, e.g. 0.42 (no quotes).")
    if _close(answer, want):
        return passed(f"P(cat) = {want:.3f} at T=0.5, up from 0.5: a low temperature sharpens the distribution.")
    if _close(answer, TOY["cat"]):
        return failed("0.5 is P(cat) at T=1; at T=0.5 each probability is raised to the power 1/T = 2 "
                      "and renormalised.")
    return failed(f"{answer!r} is not P(cat) at T=0.5 (give a probability between 0 and 1, rounded to 2 decimals "
                  "or better).")
