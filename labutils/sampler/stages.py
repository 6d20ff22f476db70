"""The stages of llama-server's sampler chain, one function each: which candidates a stage keeps (or how it
shifts their logits), as in llama.cpp's src/llama-sampler.cpp. `labutils.sampler.chain` runs them in the
engine's order and explains each; DRY is `labutils.sampler.dry`.

Why the chain's XTC mixture is exact: XTC and `dist` each own a std::mt19937 seeded with the request's seed,
so both see the same stream x1, x2, ... of 32-bit outputs. XTC fires when the float x1 / 2^32 is <= q (one output:
std::uniform_real_distribution<float>); `dist` picks the token with the double (x1 + x2 * 2^32) / 2^64 (two
outputs), which is x2 / 2^32 up to 2^-32. So whether XTC fires and which token is drawn hang on different
outputs, x1 and x2, and over the seeds a check draws these are independent (`tests/test_chain.py`
measures it on the Mersenne Twister itself, which numpy's legacy seeding reproduces).
Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

XTC_OFF_ABOVE = 0.5  # llama.cpp turns XTC off for a threshold above this


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=float)
    if z.size == 0:
        return z
    e = np.exp(z - z.max())
    return e / e.sum()


def _f32_probs(logits: np.ndarray) -> np.ndarray:
    """Softmax in float32, as llama.cpp computes it (so a cut at a cumulative threshold matches its rounding)."""
    z = np.asarray(logits, dtype=np.float32)
    e = np.exp(z - z.max())
    return e / np.float32(e.sum(dtype=np.float32))


def top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """Indices kept by top_k, most likely first (k <= 0: all, in their order)."""
    if k <= 0:
        return np.arange(len(logits))
    return np.argsort(-np.asarray(logits), kind="stable")[:min(k, len(logits))]


def top_p(logits: np.ndarray, p: float, *, whole: bool = False) -> np.ndarray:
    """Indices kept by top_p: most likely first, until the kept mass is >= p (p >= 1: all).

    The mass is renormalised over the given candidates, as llama.cpp does; `whole=True` reads the logits
    as log-probabilities over the whole vocabulary instead (when the server's candidates are all of it)."""
    if p >= 1.0:
        return np.arange(len(logits))
    order = np.argsort(-np.asarray(logits), kind="stable")
    probs = np.exp(np.asarray(logits, dtype=np.float32)) if whole else _f32_probs(logits)
    cum = np.cumsum(probs[order], dtype=np.float32)
    last = int(np.argmax(cum >= np.float32(p))) + 1 if (cum >= np.float32(p)).any() else len(order)
    return order[:last]


def min_p(logits: np.ndarray, p: float) -> np.ndarray:
    """Indices kept by min_p: p_i >= p * p_max, i.e. logit_i >= max logit + log p (order kept; p <= 0: all)."""
    z = np.asarray(logits, dtype=float)
    if p <= 0.0:
        return np.arange(len(z))
    return np.flatnonzero(z >= z.max() + np.log(p))


def typical_p(logits: np.ndarray, p: float) -> np.ndarray:
    """Indices kept by locally typical sampling, closest to the entropy first, until the mass is > p."""
    if p >= 1.0:
        return np.arange(len(logits))
    order = np.argsort(-np.asarray(logits), kind="stable")
    probs = _f32_probs(np.asarray(logits)[order])
    entropy = float(-(probs * np.log(probs)).sum())
    shifted = np.abs(-np.log(probs) - entropy)
    by_typical = np.argsort(shifted, kind="stable")
    cum = np.cumsum(probs[by_typical], dtype=np.float32)
    over = cum > np.float32(p)
    last = int(np.argmax(over)) + 1 if over.any() else len(order)
    return order[by_typical[:last]]


def temperature(logits: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(indices kept, new logits): t <= 0 keeps only the (first) most likely token; else logits / t."""
    z = np.asarray(logits, dtype=float)
    if t <= 0:
        i = int(np.argmax(z))
        return np.array([i]), z[[i]]
    return np.arange(len(z)), z / t


def penalties(logits: np.ndarray, tokens: Sequence[str], seen: dict[str, int], presence: float,
              frequency: float) -> np.ndarray:
    """llama.cpp's presence and frequency penalties: a token seen `c` times (c >= 1) loses
    c x frequency + presence from its logit; tokens not seen keep theirs.

    >>> penalties(np.log([0.5, 0.5]), ["a", "b"], {"a": 2}, 1.0, 0.5).round(3).tolist()
    [-2.693, -0.693]
    """
    counts = np.array([seen.get(t, 0) for t in tokens], dtype=float)
    return np.asarray(logits, dtype=float) - counts * frequency - (counts > 0) * presence


def xtc(logits: np.ndarray, threshold: float, min_keep: int = 0, *, whole: bool = False) -> np.ndarray:
    """Indices kept when XTC fires: if at least two candidates have p_i >= threshold, all of them but the
    least likely one are removed (kept: that one and every token below the threshold, most likely first);
    otherwise, or when fewer than `min_keep` tokens would stay (llama-server's default min_keep is 0), or
    for a threshold above 0.5 (off), all are kept in their order.

    As `llama_sample_xtc_apply` in llama.cpp's src/llama-sampler.cpp: a softmax of the logits over the
    candidates given (float32), sorted, then the run of leading tokens at or above the threshold. `whole=True`
    reads the logits as log-probabilities over the whole vocabulary (see `top_p`).

    >>> xtc(np.log([0.5, 0.3, 0.2]), 0.25).tolist()
    [1, 2]
    """
    z = np.asarray(logits, dtype=float)
    if threshold > XTC_OFF_ABOVE or z.size < 2:
        return np.arange(z.size)
    order = np.argsort(-z, kind="stable")
    probs = np.exp(z[order].astype(np.float32)) if whole else _f32_probs(z[order])
    above = probs >= np.float32(threshold)
    leading = int(np.argmin(above)) if not above.all() else above.size  # llama.cpp stops at the first below
    pos_last = leading - 1  # the least likely token at or above the threshold
    if pos_last <= 0 or z.size - pos_last < min_keep:
        return np.arange(z.size)
    return order[pos_last:]


__all__ = ["XTC_OFF_ABOVE", "min_p", "penalties", "temperature", "top_k", "top_p", "typical_p", "xtc"]
