"""Uncertainty: confidence intervals for per-cell metrics, and "is cell A different from cell B?".

- `wilson(k, n)`: the Wilson score interval of a pass rate (k passes in n answers); it stays inside
  [0, 1] and is sensible at 0 of n and n of n, where the textbook p ± z·se interval collapses.
- `bootstrap(values)`: the percentile bootstrap interval of the mean (or of any statistic of the
  samples): resample the samples with replacement `n_boot` times, take the middle `level` of the
  statistic. Seeded, so re-running a lesson prints the same interval.
- `compare(runs, metric, a, b)`: the paired comparison. Every cell of a `Grid` uses the same seeds, so
  sample i of cell A and sample i of cell B are a pair; resampling the pairs (not the two cells apart)
  gives an interval for the difference B - A, and a verdict read from it: "higher" only when the whole
  interval is above 0, "lower" only when it is below, "no clear difference" when it holds 0, and "can't
  tell yet" when there are fewer than `MIN_PAIRS` pairs.
- `pairwise_stat(pair, name)`: a number of a whole cell that is the mean of `pair(a, b)` over its pairs of
  answers (similarity, "the two differ"). `compare` bootstraps it without ever pairing a sample with its own
  copy: a resample holds copies, and a copy compared with itself is identical, which would pull every
  resampled value towards "the same" and the interval away from the number it is an interval of.
Taught in notebooks/02_temperature.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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
        raise ValueError(f"wilson(k={k}, n={n}): k must be between 0 and n")
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


@dataclass(frozen=True)
class Difference:
    """B - A for one metric over the paired samples of two cells, with its interval and verdict."""

    metric: str
    a: dict
    b: dict
    diff: float
    lo: float
    hi: float
    n: int
    level: float = LEVEL

    @property
    def verdict(self) -> str:
        return verdict(self.lo, self.hi, self.n)

    def sentence(self, what: str | None = None) -> str:
        """One line a lesson can print, the interval written as a learner reads it right: 'words at
        temperature=1.5 vs temperature=0: higher by 3.1 (95% CI [+1.2, +5], all above 0; 8 paired samples)',
        'no clear difference (+0.167; 95% CI [0, +0.5], includes 0; 8 paired samples)'. When every pair
        differs by the same amount the interval has no width: the line says so, and why, instead of
        presenting '[+1, +1]' as evidence."""
        what = what or self.metric
        cells = f"{_cell(self.b)} vs {_cell(self.a)}"
        v = self.verdict
        if v == CANT_TELL:
            return f"{what}, {cells}: {v} (difference {signed(self.diff)}, only {self.n} paired samples)"
        if self.lo == self.hi:
            same = "no difference" if self.diff == 0 else f"{v} by {abs(self.diff):.3g}"
            return (f"{what}, {cells}: {same} in every one of the {self.n} paired samples (no interval: "
                    "resampling pairs that all differ alike gives no spread; raise SAMPLES before trusting it)")
        where = ("includes 0" if self.lo <= 0 <= self.hi else "all above 0" if self.lo > 0 else "all below 0")
        ci = f"{self.level:.0%} CI [{signed(self.lo)}, {signed(self.hi)}], {where}; {self.n} paired samples"
        if v == "no clear difference":
            return f"{what}, {cells}: no clear difference ({signed(self.diff)}; {ci})"
        return f"{what}, {cells}: {v} by {abs(self.diff):.3g} ({ci})"


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


def _cell(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _select(runs: pd.DataFrame, cell: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=runs.index)
    for k, v in cell.items():
        if k not in runs.columns:
            raise ValueError(f"runs has no column {k!r}; it has {list(runs.columns)}")
        mask &= runs[k].isna() if v is None else runs[k] == v
    out = runs[mask]
    if "error" in out.columns:
        out = out[out["error"].isna()]
    if out.empty:
        raise ValueError(f"runs has no successful answers in the cell {_cell(cell)}")
    return out


def compare(runs: pd.DataFrame, metric: str | Callable[[list[str]], float], a: dict, b: dict, *,
            on: list[str] | None = None, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = SEED) -> Difference:
    """Is cell `b` different from cell `a` in `metric`? Paired by seed.

    `metric` is a column of `runs` (a scorer, `completion_tokens`, `latency_s`) or a per-answer text
    metric (`words`, `distinct_1`, ...; computed here), whose mean is compared; or a function of a list of
    answer texts (a number of the whole cell, e.g. the share agreeing with the most common answer); a
    `pairwise_stat` (a mean over pairs of answers) is resampled over pairs of different samples only.
    `on` names the columns that make a pair (default: the seed); add any column that repeats the grid, e.g.
    `on=["review", "seed"]` when several prompts' sweeps are stacked.

    >>> d = compare(runs, "correct", {"temperature": 0}, {"temperature": 1})  # doctest: +SKIP
    >>> d.verdict  # doctest: +SKIP
    'lower'
    """
    from .metrics import TEXT_METRICS, add_text_metrics

    if isinstance(metric, str) and metric in TEXT_METRICS and metric not in runs.columns:
        runs = add_text_metrics(runs)
    ra, rb = _select(runs, a), _select(runs, b)
    key = list(on) if on else ["seed" if "seed" in runs.columns and runs["seed"].notna().all() else "sample"]
    if ra.duplicated(key).any() or rb.duplicated(key).any():
        raise ValueError(f"pairs by {key} are not unique in a cell: pass on=[...] with the columns that tell the "
                         "repeated prompts apart")
    joined = ra.set_index(key).add_suffix("_a").join(rb.set_index(key).add_suffix("_b"), how="inner")
    n = len(joined)
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    if isinstance(metric, str):
        if metric not in ra.columns:
            raise ValueError(f"metric={metric!r} is not a column of runs nor a text metric ({', '.join(TEXT_METRICS)})")
        xa = joined[f"{metric}_a"].astype(float).to_numpy()
        xb = joined[f"{metric}_b"].astype(float).to_numpy()
        d = xb - xa
        diff = float(np.nanmean(d)) if n else math.nan
        lo, hi = bootstrap(d, level, n_boot, seed)
    elif getattr(metric, "pair", None) is not None:
        ta, tb = list(joined["text_a"]), list(joined["text_b"])
        diff = float(metric(tb) - metric(ta)) if n else math.nan
        lo, hi = bootstrap_cells(n, _pairwise_difference(metric.pair, ta, tb), level, n_boot, seed)
    else:
        ta, tb = list(joined["text_a"]), list(joined["text_b"])
        diff = float(metric(tb) - metric(ta)) if n else math.nan

        def stat(idx: np.ndarray) -> np.ndarray:
            return np.array([metric([tb[i] for i in row]) - metric([ta[i] for i in row]) for row in idx])

        lo, hi = bootstrap_cells(n, stat, level, min(n_boot, 400), seed)
    return Difference(name, dict(a), dict(b), diff, lo, hi, n, level)


def _pair_matrix(pair: Callable[[str, str], float], texts: list[str]) -> np.ndarray:
    n = len(texts)
    m = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            m[i, j] = m[j, i] = float(pair(texts[i], texts[j]))
    return m


def _pairwise_difference(pair: Callable[[str, str], float], ta: list[str],
                         tb: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    """The bootstrap statistic of `compare` for a pairwise stat: per resample, the mean of pair() over the
    pairs of *different* samples in cell B minus the same in cell A (NaN when a resample has no such pair)."""
    ma, mb = _pair_matrix(pair, ta), _pair_matrix(pair, tb)
    n = len(ta)
    upper = np.triu(np.ones((n, n), bool), 1)[None]

    def chunk(idx: np.ndarray) -> np.ndarray:
        mask = (idx[:, :, None] != idx[:, None, :]) & upper
        count = mask.sum(axis=(1, 2))
        ii, jj = idx[:, :, None], idx[:, None, :]
        d = np.where(mask, mb[ii, jj] - ma[ii, jj], 0.0).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, d / np.maximum(count, 1), np.nan)

    def stat(idx: np.ndarray) -> np.ndarray:
        rows = max(1, 2_000_000 // max(n * n, 1))  # resamples per chunk: memory stays ~ 50 MB for any n
        return np.concatenate([chunk(idx[i:i + rows]) for i in range(0, len(idx), rows)])
    return stat


def pairwise_stat(pair: Callable[[str, str], float], name: str) -> Callable[[list[str]], float]:
    """A number of a cell: the mean of `pair(a, b)` over every pair of its answers (NaN below two answers).

    `compare` resamples such a stat over pairs of different samples only (see the module docstring), e.g.
    `pairwise_stat(metrics.similarity, "similarity of the samples")` or
    `pairwise_stat(lambda a, b: a != b, "share of pairs that differ")`.
    """
    def stat(texts: list[str]) -> float:
        m = _pair_matrix(pair, list(texts))
        n = len(m)
        return float(m[np.triu_indices(n, 1)].mean()) if n > 1 else math.nan
    stat.__name__ = name
    stat.pair = pair
    return stat


def named_stat(fn: Callable[[list[str]], float], name: str) -> Callable[[list[str]], float]:
    """`fn` (a number of a list of answers) with a readable name for `compare`'s sentences."""
    def stat(texts: list[str]) -> float:
        return fn(texts)
    stat.__name__ = name
    return stat


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
    """'[0.41, 0.93]' or '[n/a]' for an interval."""
    if pd.isna(lo) or pd.isna(hi):
        return "[n/a]"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


__all__ = ["CANT_TELL", "Difference", "bootstrap", "bootstrap_cells", "ci_text", "compare", "interval_columns",
           "named_stat", "pairwise_stat", "rate_sentence", "signed", "trend", "verdict", "wilson"]
