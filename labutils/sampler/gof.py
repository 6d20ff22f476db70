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


@dataclass(frozen=True)
class _Layout:
    """How `fit` bins counts over one index of tokens: the bins' tokens and expected counts, in the order of
    `Fit.bins` (the pooled bin last), and the tokens the prediction calls impossible."""

    tokens: list[list]  # each bin's tokens
    expected: np.ndarray
    names: list[str]  # each bin's row name in Fit.bins
    impossible: list  # tokens of the counts or the prediction that the prediction gives probability 0


def _layout(index: pd.Index, predicted: pd.Series, n: int) -> _Layout:
    """The bins of `fit` for counts over the tokens `index` (in the counts' order), `n` draws in all.

    Categories expected fewer than MIN_EXPECTED times are pooled, smallest first, into one bin. The order
    (and so which of several equally likely tokens is pooled) follows the counts aligned with the prediction;
    it depends on the counts' tokens, never on how often each was drawn.
    """
    _, predicted = pd.Series(0, index=index).align(predicted, fill_value=0)
    impossible = list(predicted.index[predicted <= 0])
    e = predicted[predicted > 0] * n
    order = e.sort_values().index
    e = e[order]
    pooled_e, pooled = 0.0, []
    while len(e) and (e.iloc[0] < MIN_EXPECTED or (pooled_e and pooled_e < MIN_EXPECTED)):
        pooled_e += e.iloc[0]
        pooled.append(e.index[0])
        e = e.iloc[1:]
    tokens = [[t] for t in e.index] + ([pooled] if pooled else [])
    names = list(e.index) + ([f"(pooled: {len(pooled)})"] if pooled else [])
    return _Layout(tokens, np.array([*e.to_numpy(dtype=float), *([pooled_e] if pooled else [])]), names, impossible)


def _observed(groups: list[list], count) -> np.ndarray:
    """Each bin's observed count, `count(item)` summed over its group in order (a pooled bin in the order its
    tokens were pooled, as `fit` always added them)."""
    out = []
    for group in groups:
        total = 0.0
        for item in group:
            total += float(count(item))
        out.append(total)
    return np.array(out)


def _test(layout: _Layout, observed: np.ndarray, impossible: bool) -> tuple[float, int, float]:
    """Pearson's statistic, degrees of freedom and p-value of `observed` counts in `layout`'s bins (`impossible`:
    a token the prediction calls impossible was drawn)."""
    df = len(layout.expected) - 1
    if impossible:
        return math.inf, max(df, 1), 0.0
    if df < 1:
        return 0.0, 0, 1.0
    stat = float(((observed - layout.expected) ** 2 / layout.expected).sum())
    return stat, df, chi2_sf(stat, df)


def fit(counts: pd.Series, predicted: pd.Series) -> Fit:
    """Compare token `counts` (N draws) with `predicted` probabilities (summing to 1 over their tokens).

    Categories expected fewer than 5 times are pooled, smallest first, into one bin ("(pooled)").
    Draws of a token the prediction calls impossible give statistic inf and p = 0: no chance can explain
    them. With one bin left there is nothing to test: p = 1.
    """
    n = int(counts.sum())
    if n <= 0:
        raise ParameterError("fit needs at least one observed draw")
    layout = _layout(counts.index, predicted, n)
    observed = _observed(layout.tokens, lambda t: counts.get(t, 0))
    rows = pd.DataFrame({"expected": layout.expected, "observed": observed}, index=layout.names)
    rows["contribution"] = (rows.observed - rows.expected) ** 2 / rows.expected
    impossible = int(sum(counts.get(t, 0) for t in layout.impossible))
    stat, df, p = _test(layout, observed, impossible > 0)
    return Fit(stat, df, p, rows, impossible)


def power(predicted: pd.Series, alternative: pd.Series, n: int, *, alpha: float = 0.01, sims: int = 400,
          seed: int = 0) -> float:
    """The chance that `fit` rejects `predicted` at level `alpha` when tokens really follow `alternative`,
    with `n` draws: the share of `sims` simulated experiments with p < alpha. Taught in
    notebooks/11_predicting_the_sampler.ipynb.

    Each simulated experiment is binned as `fit` bins it; the binning depends only on which tokens were
    drawn, so it is worked out once per set of drawn tokens, and each experiment costs a few array sums.
    """
    rng = np.random.default_rng(seed)
    alt = alternative / alternative.sum()
    tokens, p = alt.index, alt.to_numpy()
    where = {t: i for i, t in enumerate(tokens)}
    layouts: dict[bytes, tuple[_Layout, list[list[int]], bool]] = {}
    hits = 0
    for _ in range(sims):
        draws = rng.multinomial(n, p)
        mask = draws > 0
        key = mask.tobytes()
        if key not in layouts:  # `fit(draws[draws > 0], predicted)` bins these draws so
            layout = _layout(tokens[mask], predicted, n)
            positions = [[where[t] for t in group if t in where] for group in layout.tokens]
            layouts[key] = (layout, positions, any(t in where and mask[where[t]] for t in layout.impossible))
        layout, positions, impossible = layouts[key]
        hits += _test(layout, _observed(positions, draws.__getitem__), impossible)[2] < alpha
    return hits / sims


__all__ = ["Fit", "chi2_sf", "fit", "power", "tv_distance"]
