"""Uncertainty: confidence intervals for per-cell metrics, and "is cell A different from cell B?".

- `wilson(k, n)`: the Wilson score interval of a pass rate (k passes in n answers); it stays inside
  [0, 1] and is sensible at 0 of n and n of n, where the textbook p ± z·se interval collapses.
- `bootstrap(values)`: the percentile bootstrap interval of the mean (or of any statistic of the
  samples): resample the samples with replacement `n_boot` times, take the middle `level` of the
  statistic. Seeded, so re-running a lesson prints the same interval.
- `verdict(lo, hi, n)`: the word an interval for a difference supports: "higher" only when the whole
  interval is above 0, "lower" only when it is below, "no clear difference" when it holds 0, and "can't
  tell yet" when there are fewer than `MIN_PAIRS` pairs. The paired comparison that computes such an
  interval (`compare`, `pairwise_stat`: why pairs of copies are left out) is `labutils.paired`.
Taught in notebooks/02_temperature.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ParameterError

LEVEL = 0.95
N_BOOT = 1000
SEED = 0
MIN_PAIRS = 4  # below this many paired samples a comparison says "can't tell yet"
CANT_TELL = "can't tell yet, raise SAMPLES"


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials ((nan, nan) when n == 0).

    >>> [round(x, 4) for x in wilson(8, 10)]
    [0.4902, 0.9433]
    """
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ParameterError(f"wilson(k={k}, n={n}): k must be between 0 and n")
    z = _z(level)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap(values: Sequence[float], level: float = LEVEL, n_boot: int = N_BOOT, seed: int = SEED,
              stat: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaNs dropped; (nan, nan) below 2 values).

    `stat`, when given, maps a (n_boot, n) array of resampled values to n_boot statistics.
    """
    x = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    if len(x) < 2:
        return (math.nan, math.nan)
    draws = x[_indices(len(x), n_boot, seed)]
    stats = draws.mean(axis=1) if stat is None else stat(draws)
    return _percentiles(stats, level)


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    stats = np.asarray(stats, dtype=float)
    stats = stats[np.isfinite(stats)]
    if not len(stats):
        return (math.nan, math.nan)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo) + 0.0, float(hi) + 0.0)  # + 0.0: no "-0.0" in a printed interval


def bootstrap_cells(n: int, stat: Callable[[np.ndarray], np.ndarray], level: float = LEVEL, n_boot: int = N_BOOT,
                    seed: int = SEED, *, debias: tuple[float, float] | None = None) -> tuple[float, float]:
    """Interval of a statistic of a whole cell: `stat` maps a (n_boot, n) array of resampled sample
    indices to n_boot values (used for similarity, unique share, agreement: numbers of the set).

    `debias=(low, high)` (the statistic's range) is for statistics that resampling itself pushes one way:
    a resample repeats some answers, so it holds fewer distinct answers than the cell (8 different answers
    resample to about 5 distinct ones). The percentile interval is then shifted by that bias (the mean of
    the resampled statistics minus the observed one) and clipped to the range, so it sits around the
    observed value instead of below it.
    """
    if n < 2:
        return (math.nan, math.nan)
    stats = np.asarray(stat(_indices(n, n_boot, seed)), dtype=float)
    lo, hi = _percentiles(stats, level)
    if debias is None or math.isnan(lo):
        return (lo, hi)
    bias = float(np.nanmean(stats) - stat(np.arange(n)[None, :])[0])
    return (float(np.clip(lo - bias, *debias)) + 0.0, float(np.clip(hi - bias, *debias)) + 0.0)


def verdict(lo: float, hi: float, n: int, min_n: int = MIN_PAIRS) -> str:
    """The word an interval for a difference supports: 'higher', 'lower', 'no clear difference', or
    "can't tell yet, raise SAMPLES" (fewer than `min_n` pairs, or no interval)."""
    if n < min_n or pd.isna(lo) or pd.isna(hi):
        return CANT_TELL
    if lo > 0:
        return "higher"
    if hi < 0:
        return "lower"
    return "no clear difference"


def signed(x: float) -> str:
    """A difference with its sign, 3 significant digits; zero as plain '0' (never '+0', which reads as above 0)."""
    return "0" if x == 0 else f"{x:+.3g}"


def rate_sentence(k: int, n: int, what: str, level: float = LEVEL) -> str:
    """'8 of 8 same as greedy (95% interval [0.68, 1]: ...)': a pass rate with its Wilson interval, and one
    line of reason where a bound looks odd (k = n gives a low bound under 1; k = 0 a high bound over 0).
    Taught in notebooks/02_temperature.ipynb."""
    lo, hi = wilson(k, n, level)
    if n == 0:
        return f"0 answers {what}: no rate to give"
    line = f"{k} of {n} {what} ({level:.0%} interval [{lo:.2f}, {hi:.2f}]"
    if k == n:
        return line + f": {n} of {n} cannot rule out a true rate as low as {lo:.2f}; more answers raise that bound)"
    if k == 0:
        return line + f": 0 of {n} cannot rule out a true rate as high as {hi:.2f}; more answers lower that bound)"
    return line + ")"


def interval_columns(metric: str) -> tuple[str, str]:
    """The summary columns holding `metric`'s interval: 'words_mean' -> ('words_lo', 'words_hi')."""
    for suffix in ("_mean", "_rate"):
        if metric.endswith(suffix):
            metric = metric[: -len(suffix)]
            break
    return f"{metric}_lo", f"{metric}_hi"


def trend(summary: pd.DataFrame, metric: str, x: str) -> str:
    """'rises', 'falls', 'does not clearly change' or "can't tell yet" for `metric` between the lowest and
    the highest `x` of `summary`, read from the two cells' intervals (the intervals must not overlap)."""
    lo_col, hi_col = interval_columns(metric)
    rows = summary.sort_values(x)
    first, last = rows.iloc[0], rows.iloc[-1]
    if pd.isna(first[lo_col]) or pd.isna(last[lo_col]) or min(first.get("n", 0), last.get("n", 0)) < MIN_PAIRS:
        return CANT_TELL
    if last[lo_col] > first[hi_col]:
        return "rises"
    if last[hi_col] < first[lo_col]:
        return "falls"
    return "does not clearly change"


def ci_text(lo: Any, hi: Any, digits: int = 2) -> str:
    """'[0.41, 0.93]' or '[n/a]' for an interval; one of no width says why it has none ('[0.12, 0.12], no spread:
    the samples all gave it'), so it never reads as a precise measurement."""
    if pd.isna(lo) or pd.isna(hi):
        return "[n/a]"
    if lo == hi:
        return f"[{lo:.{digits}f}, {hi:.{digits}f}], no spread: the samples all gave it"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


__all__ = ["CANT_TELL", "bootstrap", "bootstrap_cells", "ci_text", "interval_columns", "rate_sentence", "signed",
           "trend", "verdict", "wilson"]
