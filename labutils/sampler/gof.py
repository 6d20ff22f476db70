"""Goodness of fit for sampled tokens: total-variation distance, Pearson's chi-square test and its power.

No SciPy: the chi-square tail is the regularised upper incomplete gamma function Q(df/2, x/2)
(series and continued fraction, Numerical Recipes 6.2), checked against tabulated values in
tests/test_chain.py. Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ParameterError

MIN_EXPECTED = 5.0  # Pearson's rule of thumb: pool categories expected fewer than 5 times


def _gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a), the regularised upper incomplete gamma function."""
    if x <= 0:
        return 1.0
    lg = math.lgamma(a)
    if x < a + 1:  # series for P(a, x)
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - lg))
    b, c, d = x + 1 - a, 1e300, 1 / (x + 1 - a)  # Lentz's continued fraction for Q(a, x)
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - lg) * h)


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-square with `df` degrees of freedom.

    >>> round(chi2_sf(3.841, 1), 3)
    0.05
    """
    if df < 1:
        raise ParameterError(f"df={df} is not allowed: the chi-square test needs at least 1 degree of freedom")
    if math.isinf(x):
        return 0.0
    return _gamma_q(df / 2.0, x / 2.0)


def tv_distance(p: pd.Series, q: pd.Series) -> float:
    """Total-variation distance: half the summed absolute differences, over the union of tokens (0 to 1)."""
    p, q = p.align(q, fill_value=0.0)
    return float(0.5 * (p - q).abs().sum())


@dataclass
class Fit:
    """Pearson's test of observed counts against predicted probabilities, after pooling small categories."""

    statistic: float
    df: int
    p_value: float
    bins: pd.DataFrame  # one row per bin: expected, observed, (o - e)^2 / e
    impossible: int  # draws of tokens the prediction gives probability 0


def fit(counts: pd.Series, predicted: pd.Series) -> Fit:
    """Compare token `counts` (N draws) with `predicted` probabilities (summing to 1 over their tokens).

    Categories expected fewer than 5 times are pooled, smallest first, into one bin ("(pooled)").
    Draws of a token the prediction calls impossible give statistic inf and p = 0: no chance can explain
    them. With one bin left there is nothing to test: p = 1.
    """
    n = int(counts.sum())
    if n <= 0:
        raise ParameterError("fit needs at least one observed draw")
    counts, predicted = counts.align(predicted, fill_value=0)
    impossible = int(counts[predicted <= 0].sum())
    e, o = predicted[predicted > 0] * n, counts[predicted > 0].astype(float)
    order = e.sort_values().index
    e, o = e[order], o[order]
    pooled_e, pooled_o, names = 0.0, 0.0, []
    while len(e) and (e.iloc[0] < MIN_EXPECTED or (pooled_e and pooled_e < MIN_EXPECTED)):
        pooled_e += e.iloc[0]
        pooled_o += o.iloc[0]
        names.append(str(e.index[0]))
        e, o = e.iloc[1:], o.iloc[1:]
    rows = pd.DataFrame({"expected": e, "observed": o})
    if names:
        rows.loc[f"(pooled: {len(names)})"] = [pooled_e, pooled_o]
    rows["contribution"] = (rows.observed - rows.expected) ** 2 / rows.expected
    df = len(rows) - 1
    if impossible:
        return Fit(math.inf, max(df, 1), 0.0, rows, impossible)
    if df < 1:
        return Fit(0.0, 0, 1.0, rows, 0)
    stat = float(rows.contribution.sum())
    return Fit(stat, df, chi2_sf(stat, df), rows, 0)


def power(predicted: pd.Series, alternative: pd.Series, n: int, *, alpha: float = 0.01, sims: int = 400,
          seed: int = 0) -> float:
    """The chance that `fit` rejects `predicted` at level `alpha` when tokens really follow `alternative`,
    with `n` draws: the share of `sims` simulated experiments with p < alpha."""
    rng = np.random.default_rng(seed)
    alt = alternative / alternative.sum()
    hits = 0
    for _ in range(sims):
        draws = pd.Series(rng.multinomial(n, alt.to_numpy()), index=alt.index)
        hits += fit(draws[draws > 0], predicted).p_value < alpha
    return hits / sims


__all__ = ["Fit", "chi2_sf", "fit", "power", "tv_distance"]
