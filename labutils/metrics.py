"""Text metrics per answer, and `summarize(runs)`: one row per parameter cell.

Formulas (words are lower-cased whitespace tokens):
- distinct-n = unique n-grams / all n-grams of one answer (1.0 = no n-gram repeats; 0 words -> 0);
- repetition = 1 - distinct-1 (share of words that repeat an earlier word);
- similarity(a, b) = Jaccard index of the two answers' word-bigram sets (unigrams when one word);
  `pairwise_similarity` is its mean over all pairs of samples in a cell;
- unique_frac = distinct answer texts / samples in the cell.
Taught in notebooks/02_temperature.ipynb.
"""

from __future__ import annotations

from itertools import combinations, pairwise

import pandas as pd

from .params import cell_columns

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


def summarize(runs: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """One row per parameter cell (every axis column of `runs`): mean/std of the text metrics over samples,
    pairwise similarity, unique_frac, length_frac (share cut by max_tokens), mean latency and tokens/s, n and
    errors."""
    by = by or cell_columns(runs.columns)
    missing = [c for c in [*by, "text"] if c not in runs.columns]
    if missing:
        raise ValueError(f"runs has no column {missing}; it has {list(runs.columns)}")
    if runs.empty:
        raise ValueError("runs is empty: nothing to summarize (did every call fail or was the grid empty?)")
    data = add_text_metrics(runs)
    rows = []
    for cell, group in data.groupby(by, sort=True, dropna=False):
        good = group[group["error"].isna()] if "error" in group else group
        texts = [t for t in good["text"] if isinstance(t, str)]
        row = dict(zip(by, cell if isinstance(cell, tuple) else (cell,)))
        row.update({"n": len(good), "errors": len(group) - len(good)})
        for m in TEXT_METRICS:
            row[f"{m}_mean"] = good[m].mean()
            row[f"{m}_std"] = good[m].std(ddof=0) if len(good) else float("nan")
        row["similarity"] = pairwise_similarity(texts)
        row["unique_frac"] = len(set(texts)) / len(texts) if texts else float("nan")
        row["length_frac"] = (good["finish_reason"] == "length").mean() if len(good) else float("nan")
        for col in ("completion_tokens", "latency_s", "tokens_per_s"):
            row[f"{col}_mean"] = good[col].astype(float).mean() if col in good and len(good) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
