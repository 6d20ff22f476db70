"""The paired comparison: is cell B of a sweep different from cell A in a metric? (`labutils.compare`)

Every cell of a `Grid` uses the same seeds, so sample i of cell A and sample i of cell B are a pair;
resampling the pairs (not the two cells apart) gives an interval for the difference B - A, and a verdict
read from it (`intervals.verdict`): "higher" only when the whole interval is above 0, "lower" only when it
is below, "no clear difference" when it holds 0, and "can't tell yet" when there are fewer than
`MIN_PAIRS` pairs. `pairwise_stat(pair, name)` is a number of a whole cell that is the mean of `pair(a, b)`
over its pairs of answers (similarity, "the two differ"); `compare` bootstraps it without ever pairing a
sample with its own copy: a resample holds copies, and a copy compared with itself is identical, which would
pull every resampled value towards "the same" and the interval away from the number it is an interval of.
Taught in notebooks/02_temperature.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ParameterError
from .intervals import CANT_TELL, LEVEL, N_BOOT, SEED, bootstrap, bootstrap_cells, signed, verdict
from .metrics import TEXT_METRICS, add_text_metrics


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
    repeats: bool = False  # each cell gave one and the same answer on every seed: more samples repeat it

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
            if self.repeats:
                return (f"{what}, {cells}: {same} in every one of the {self.n} paired samples (no interval: each "
                        "cell gave one and the same answer on every seed, so more samples would only repeat it)")
            return (f"{what}, {cells}: {same} in every one of the {self.n} paired samples (no interval: "
                    "resampling pairs that all differ alike gives no spread; raise SAMPLES before trusting it)")
        where = ("includes 0" if self.lo <= 0 <= self.hi else "all above 0" if self.lo > 0 else "all below 0")
        ci = f"{self.level:.0%} CI [{signed(self.lo)}, {signed(self.hi)}], {where}; {self.n} paired samples"
        if v == "no clear difference":
            return f"{what}, {cells}: no clear difference ({signed(self.diff)}; {ci})"
        return f"{what}, {cells}: {v} by {abs(self.diff):.3g} ({ci})"


def _cell(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _select(runs: pd.DataFrame, cell: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=runs.index)
    for k, v in cell.items():
        if k not in runs.columns:
            raise ParameterError(f"runs has no column {k!r}; it has {list(runs.columns)}")
        mask &= runs[k].isna() if v is None else runs[k] == v
    out = runs[mask]
    if "error" in out.columns:
        out = out[out["error"].isna()]
    if out.empty:
        raise ParameterError(f"runs has no successful answers in the cell {_cell(cell)}")
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
    if isinstance(metric, str) and metric in TEXT_METRICS and metric not in runs.columns:
        runs = add_text_metrics(runs)
    ra, rb = _select(runs, a), _select(runs, b)
    key = list(on) if on else ["seed" if "seed" in runs.columns and runs["seed"].notna().all() else "sample"]
    if ra.duplicated(key).any() or rb.duplicated(key).any():
        raise ParameterError(f"pairs by {key} are not unique in a cell: pass on=[...] with the columns that tell the "
                         "repeated prompts apart")
    joined = ra.set_index(key).add_suffix("_a").join(rb.set_index(key).add_suffix("_b"), how="inner")
    n = len(joined)
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    if isinstance(metric, str):
        if metric not in ra.columns:
            raise ParameterError(f"metric={metric!r} is not a column of runs nor a text metric "
                                 f"({', '.join(TEXT_METRICS)})")
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
    repeats = n > 1 and all(f"text_{side}" in joined and joined[f"text_{side}"].nunique() == 1 for side in "ab")
    return Difference(name, dict(a), dict(b), diff, lo, hi, n, level, repeats)


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


__all__ = ["Difference", "compare", "named_stat", "pairwise_stat"]
