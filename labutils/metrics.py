"""Text metrics per answer, and `summarize(runs)`: one row per parameter cell.

Formulas (words are lower-cased whitespace tokens):
- distinct-n = unique n-grams / all n-grams of one answer (1.0 = no n-gram repeats; 0 words -> 0);
- repetition = 1 - distinct-1 (share of words that repeat an earlier word);
- similarity(a, b) = Jaccard index of the two answers' word-bigram sets (unigrams when one word);
  `pairwise_similarity` is its mean over all pairs of samples in a cell;
- unique_frac = distinct answer texts / samples in the cell;
- mode_share = share of the samples giving the cell's most common answer (1.0 = every sample agrees);
- first_word_entropy = entropy in bits of the answers' first words across the samples (0 = all start
  alike; log2(samples) = all start differently): it keeps separating temperatures when answers are
  short and share no bigram at all.
Every per-cell number of `summarize` comes with a 95% interval (`<metric>_lo`, `<metric>_hi`): a
seeded bootstrap over the samples for means and set metrics, Wilson for rates (`length_frac`, scorers).
See `labutils.intervals`. Taught in notebooks/02_temperature.ipynb.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import combinations, pairwise
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from . import intervals
from .errors import ParameterError
from .params import cell_columns, shown

TEXT_METRICS = ["words", "chars", "distinct_1", "distinct_2", "repetition"]


def words(text: str) -> list[str]:
    return text.lower().split()


def distinct_n(text: str, n: int) -> float:
    """Unique n-grams over all n-grams (0.0 for an answer with fewer than n words)."""
    w = words(text)
    grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def text_metrics(text: str) -> dict[str, float]:
    """words, chars, distinct_1, distinct_2 and repetition of one answer."""
    d1 = distinct_n(text, 1)
    return {"words": len(words(text)), "chars": len(text), "distinct_1": d1,
            "distinct_2": distinct_n(text, 2), "repetition": 1.0 - d1 if words(text) else 0.0}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the word-bigram sets of two answers (1.0 = same bigrams)."""
    def grams(t: str) -> set:
        w = words(t)
        return set(pairwise(w)) if len(w) > 1 else set(w)
    ga, gb = grams(a), grams(b)
    if not ga and not gb:
        return 1.0
    return len(ga & gb) / len(ga | gb)


def pairwise_similarity(texts: list[str]) -> float:
    """Mean `similarity` over every pair of texts (NaN for fewer than two)."""
    pairs = list(combinations(texts, 2))
    return sum(similarity(a, b) for a, b in pairs) / len(pairs) if pairs else float("nan")


def add_text_metrics(runs: pd.DataFrame) -> pd.DataFrame:
    """A copy of `runs` with the per-answer metric columns added (errored rows get NaN)."""
    out = runs.copy()
    ok = out["error"].isna() if "error" in out else pd.Series(True, index=out.index)
    rows = [text_metrics(t) if good and isinstance(t, str) else {} for t, good in zip(out["text"], ok)]
    metrics = pd.DataFrame(rows, index=out.index, columns=TEXT_METRICS)
    for col in TEXT_METRICS:
        out[col] = metrics[col].astype(float)
    return out


def common_prefix_words(a: str, b: str) -> int:
    """How many leading words two answers share (case-insensitive): where a sample leaves another answer,
    e.g. the greedy one. Keeps separating temperatures after whole answers stop being equal."""
    n = 0
    for x, y in zip(words(a), words(b)):
        if x != y:
            break
        n += 1
    return n


def first_word(text: str) -> str:
    w = words(text)
    return w[0].strip(".,!?:;\"'*") if w else ""


def mode_share(texts: list[str]) -> float:
    """Share of the texts equal to the most common one (NaN for none)."""
    return Counter(texts).most_common(1)[0][1] / len(texts) if texts else float("nan")


def first_word_entropy(texts: list[str]) -> float:
    """Entropy (bits) of the first words of the texts: 0 when all start alike (NaN for none)."""
    if not texts:
        return float("nan")
    counts = np.array(list(Counter(first_word(t) for t in texts).values()), dtype=float)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def first_words_differ(a: str, b: str) -> float:
    """1.0 when two answers start with different words, else 0.0 (the pair behind `first_word_spread`)."""
    return float(first_word(a).lower() != first_word(b).lower())


def first_word_spread(texts: list[str]) -> float:
    """The share of pairs of answers whose first words differ, 0-1: 0 when all start alike, 1 when no two
    do (NaN below two texts). Moves with top_p and temperature even where whole answers share no word pair
    (bigram similarity is near 0 for any two short samples). `paired.pairwise_stat(first_words_differ,
    ...)` compares it between cells. Taught in notebooks/03_top_p.ipynb."""
    pairs = list(combinations(texts, 2))
    return sum(first_words_differ(a, b) for a, b in pairs) / len(pairs) if pairs else float("nan")


def _codes(items: list) -> tuple[np.ndarray, int]:
    index: dict = {}
    return np.array([index.setdefault(x, len(index)) for x in items], dtype=int), len(index)


def _counts(codes: np.ndarray, k: int, idx: np.ndarray) -> np.ndarray:
    """(n_boot, k) counts of each code in each resample."""
    drawn = codes[idx]
    return (drawn[:, :, None] == np.arange(k)).sum(axis=1)


def _set_intervals(texts: list[str], level: float) -> dict[str, tuple[float, float]]:
    """Bootstrap intervals of the set metrics of one cell (resampling its samples, seeded)."""
    n = len(texts)
    out: dict[str, tuple[float, float]] = {}
    codes, k = _codes(texts)
    firsts, kf = _codes([first_word(t) for t in texts])
    sim = np.array([[similarity(a, b) for b in texts] for a in texts]) if n > 1 else np.zeros((n, n))

    def unique(idx):
        return (_counts(codes, k, idx) > 0).sum(axis=1) / n

    def mode(idx):
        return _counts(codes, k, idx).max(axis=1) / n

    def entropy(idx):
        p = _counts(firsts, kf, idx) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)

    def similar(idx):
        # mean similarity over pairs of resampled answers that are different samples (a sample is not
        # compared with its own copy, which would inflate the similarity)
        s = sim[idx[:, :, None], idx[:, None, :]]
        pair = (idx[:, :, None] != idx[:, None, :]) & np.triu(np.ones((n, n), bool), 1)[None]
        total = np.where(pair, s, 0.0).sum(axis=(1, 2))
        count = pair.sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    # a resample repeats answers: fewer distinct ones, a larger mode, fewer first words than the cell had;
    # these three intervals are shifted back by that bias (similarity skips a sample's copies instead)
    ranges = {"unique_frac": (1 / max(n, 1), 1.0), "mode_share": (1 / max(n, 1), 1.0),
              "first_word_entropy": (0.0, math.log2(max(n, 1)))}
    for name, stat in (("unique_frac", unique), ("mode_share", mode), ("first_word_entropy", entropy),
                       ("similarity", similar)):
        out[name] = intervals.bootstrap_cells(n, stat, level, debias=ranges.get(name))
    return out


@dataclass(frozen=True)
class CostFit:
    """latency ≈ fixed_s + per_token_s x completion tokens, fitted over `n` calls."""

    fixed_s: float
    per_token_s: float
    n: int

    @property
    def tokens_per_s(self) -> float:
        """The generation speed without the fixed cost: 1 / the cost per token."""
        return 1 / self.per_token_s if self.per_token_s > 0 else float("nan")


def cost_per_token(runs: pd.DataFrame) -> CostFit:
    """A straight line through (completion tokens, latency) of every successful call of `runs`. Cached rows
    count too: they carry the latency measured when they were sent, so a re-run on a warm cache fits the
    same line. Taught in notebooks/04_max_tokens_and_stop.ipynb.
    """
    missing = [c for c in ("completion_tokens", "latency_s") if c not in runs.columns]
    if missing:
        raise ParameterError(f"runs has no column {missing}; it has {list(runs.columns)}")
    ok = runs[runs["error"].isna()] if "error" in runs.columns else runs
    ok = ok.dropna(subset=["completion_tokens", "latency_s"])
    if ok["completion_tokens"].nunique() < 2:
        raise ParameterError(f"a line needs calls of at least two different lengths; runs has {len(ok)} successful "
                         f"calls with completion tokens {sorted(ok['completion_tokens'].unique().tolist())}: "
                         "sweep more than one max_tokens")
    per_token, fixed = np.polyfit(ok["completion_tokens"].to_numpy(float), ok["latency_s"].to_numpy(float), 1)
    return CostFit(float(fixed), float(per_token), len(ok))


def _scorer_columns(runs: pd.DataFrame, scores: list[str] | None) -> list[str]:
    names = _names("scores", scores, runs) if scores is not None else list(runs.attrs.get("scorers", []))
    missing = [s for s in names if s not in runs.columns]
    if missing:
        raise ParameterError(f"runs has no scorer column {missing}; score it first (labutils.scorers.score)")
    return names


def _names(name: str, value: str | list[str], runs: pd.DataFrame) -> list[str]:
    """`value` (one column name or a list of them) as a list of columns of `runs`; a ParameterError otherwise."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(c, str) for c in items):
        raise ParameterError(f"{name}={shown(value)} is not allowed: {name} must be a column name or a list of "
                             "column names of runs")
    missing = [c for c in items if c not in runs.columns]
    if missing:
        raise ParameterError(f"{name}={shown(value)} is not allowed: runs has no column {shown(missing)}; it has "
                             f"{shown(list(runs.columns), 400)}")
    return list(items)


def _check_summarize(runs: Any, by: Any, scores: Any, values: Any, level: Any) -> tuple[list[str], list[str]]:
    """`summarize`'s arguments checked before any work: (by, values) as lists of columns."""
    if not isinstance(runs, pd.DataFrame):
        raise ParameterError(f"runs={shown(runs)} is not allowed: pass the DataFrame a sweep returned (runs)")
    if isinstance(level, bool) or not isinstance(level, Real) or not 0 < level < 1:
        raise ParameterError(f"level={shown(level)} is not allowed: level must be a number in (0, 1), e.g. 0.95 "
                             "for 95% intervals")
    empty = by is None or (isinstance(by, (list, tuple)) and not by)
    by = cell_columns(runs.columns) if empty else _names("by", by, runs)
    vals = _names("values", values, runs) if values is not None else []
    for c in vals:
        if not (pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_bool_dtype(runs[c])):
            raise ParameterError(f"values={shown(values)} is not allowed: column {c!r} holds {runs[c].dtype}, not "
                                 "numbers (values names numeric columns, one number per answer)")
    return by, vals


def summarize(runs: pd.DataFrame, by: list[str] | None = None, *, scores: list[str] | None = None,
              values: list[str] | None = None, level: float = intervals.LEVEL) -> pd.DataFrame:
    """One row per parameter cell (every axis column of `runs`), each number with a `level` interval.

    Per cell: n and errors; mean, std and interval (`_mean`, `_std`, `_lo`, `_hi`) of the text metrics,
    completion_tokens, latency_s and tokens_per_s; the set metrics similarity, unique_frac, mode_share
    and first_word_entropy with bootstrap intervals, and first_word_spread (0-1); length_frac (share cut
    by max_tokens) and each
    scorer's pass rate (`<scorer>_rate`; scorers from `runs.attrs["scorers"]` or `scores=`) with Wilson
    intervals. `values` names further numeric columns of `runs` (one number per answer) to report the same
    way as the text metrics. Intervals are NaN below two samples; the bootstrap is seeded, so reruns print
    the same.
    """
    by, values = _check_summarize(runs, by, scores, values, level)
    level = float(level)
    missing = [c for c in [*by, "text"] if c not in runs.columns]
    if missing:
        raise ParameterError(f"runs has no column {missing}; it has {shown(list(runs.columns), 400)}")
    if runs.empty:
        raise ParameterError("runs is empty: nothing to summarize (did every call fail or was the grid empty?)")
    scored = _scorer_columns(runs, scores)
    data = add_text_metrics(runs)
    rows = []
    if not by:
        raise ParameterError("runs has no axis column to group by (temperature, top_p, ...): pass by=[...]")
    for cell, group in data.groupby(by, sort=True, dropna=False):
        good = group[group["error"].isna()] if "error" in group else group
        texts = [t for t in good["text"] if isinstance(t, str)]
        row = dict(zip(by, cell if isinstance(cell, tuple) else (cell,)))
        row.update({"n": len(good), "errors": len(group) - len(good)})
        for m in [*TEXT_METRICS, "completion_tokens", "latency_s", "tokens_per_s", *(values or [])]:
            vals = good[m].astype(float) if m in good and len(good) else pd.Series(dtype=float)
            row[f"{m}_mean"] = vals.mean() if len(vals) else float("nan")
            if m in TEXT_METRICS:
                row[f"{m}_std"] = vals.std(ddof=0) if len(vals) else float("nan")
            row[f"{m}_lo"], row[f"{m}_hi"] = intervals.bootstrap(vals.tolist(), level)
        row["similarity"] = pairwise_similarity(texts)
        row["unique_frac"] = len(set(texts)) / len(texts) if texts else float("nan")
        row["mode_share"] = mode_share(texts)
        row["first_word_entropy"] = first_word_entropy(texts)
        row["first_word_spread"] = first_word_spread(texts)
        for name, (lo, hi) in _set_intervals(texts, level).items():
            row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi
        cut = int((good["finish_reason"] == "length").sum()) if len(good) else 0
        row["length_frac"] = cut / len(good) if len(good) else float("nan")
        row["length_frac_lo"], row["length_frac_hi"] = intervals.wilson(cut, len(good), level)
        for name in scored:
            vals = good[name].dropna().astype(bool)
            k = int(vals.sum())
            row[f"{name}_rate"] = k / len(vals) if len(vals) else float("nan")
            row[f"{name}_lo"], row[f"{name}_hi"] = intervals.wilson(k, len(vals), level)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["scorers"] = scored
    return out


__all__ = ["TEXT_METRICS", "CostFit", "add_text_metrics", "common_prefix_words", "cost_per_token", "distinct_n",
           "first_word_entropy", "first_word_spread", "first_words_differ", "mode_share", "pairwise_similarity",
           "similarity", "summarize", "text_metrics", "words"]
