"""llama.cpp's sampler chain, one stage at a time: what each stage keeps and what is finally sampled.

llama-server applies its samplers in a fixed order, which it reports in `GET /props`
(`default_generation_settings.params.samplers`; `Lab.server_defaults().samplers`):

    penalties > dry > top_n_sigma > top_k > typ_p > top_p > min_p > xtc > temperature > dist

Temperature comes LAST: top_k, typical_p, top_p, min_p and XTC all cut on the temperature-1 probabilities
(renormalised over the candidates still left), and temperature only reshapes what survives. The
stages, as in llama.cpp's src/llama-sampler.cpp (the pinned tree):

- top_k k: keep the k most likely (k <= 0: off);
- typical_p p: sort by |-log p_i - H| (H the entropy of the candidates), keep until the kept mass is
  strictly greater than p (p >= 1: off);
- top_p p: sort by probability, keep until the kept mass is >= p (p >= 1: off);
- min_p p: keep tokens with p_i >= p * p_max (p <= 0: off);
- xtc (exclude top choices) q, t: with probability q, if at least two candidates have p_i >= t (the
  temperature-1 probabilities renormalised over the candidates still left), remove all of them but the
  least likely one (q <= 0 or t > 0.5: off; llama-server's min_keep, 0, never stops it). Whether it
  fires is a random draw (`llama_sample_xtc_apply`), so across seeds the next token is drawn from the
  MIXTURE (1 - q) x chain-without-the-cut + q x chain-with-the-cut. That mixture is what the stage
  predicts: the XTC stage (and every stage after it) shows the mixed probabilities, its mass is the
  EXPECTED model mass kept, and `Chain.branches` holds the two chains;
- temperature t: divide the logits by t; t <= 0 keeps only the most likely token (greedy);
- dist: sample from the softmax of what is left.

- penalties (first stage): every token among the last `repeat_last_n` tokens seen (llama-server feeds
  it the whole prompt, chat template included, before the answer's first token) loses
  count x frequency_penalty + presence_penalty from its logit. Given those tokens (`seen`: token ->
  count, see `labutils.sampler_check.prompt_window`) this stage is modelled exactly: a shift of a logit
  is a shift of its log-probability. repeat_penalty divides a positive raw logit (multiplies a negative
  one); the API returns log-probabilities, never raw logits, so it is not modelled.

Why the mixture is exact: XTC and `dist` each own a std::mt19937 seeded with the request's seed, so both
see the same stream x1, x2, ... of 32-bit outputs. XTC fires when the float x1 / 2^32 is <= q (one output:
std::uniform_real_distribution<float>); `dist` picks the token with the double (x1 + x2 * 2^32) / 2^64 (two
outputs), which is x2 / 2^32 up to 2^-32. So whether XTC fires and which token is drawn hang on different
outputs, x1 and x2, and over the seeds a check draws these are independent (`tests/test_chain.py`
measures it on the Mersenne Twister itself, which numpy's legacy seeding reproduces).

repeat_penalty and DRY (which need the raw logits or the prompt's repeated sequences) and top_n_sigma
(off by default) are left out: `unpredicted()` names any that a request turns on. The math needs only the
candidates' log-probabilities, so it is exact when the candidates the server returned hold every token the
chain can keep (`Chain.complete`). Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .params import check

ORDER = ("penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature")
# the stage each chain parameter belongs to, and the value that turns the stage off
STAGE_PARAM = {"top_k": "top_k", "typ_p": "typical_p", "top_p": "top_p", "min_p": "min_p",
               "xtc": "xtc_probability", "temperature": "temperature"}
PENALTIES = ("presence_penalty", "frequency_penalty")  # the penalties modelled (given the tokens seen)
OFF = {"top_k": 0, "typical_p": 1.0, "top_p": 1.0, "min_p": 0.0, "temperature": 1.0, "presence_penalty": 0.0,
       "frequency_penalty": 0.0, "xtc_probability": 0.0, "xtc_threshold": 0.1}
# samplers the prediction does not model, with the value at which they do nothing
UNMODELLED = {"repeat_penalty": 1.0, "dry_multiplier": 0.0}
LLAMA_DEFAULTS = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "typical_p": 1.0,
                  "presence_penalty": 0.0, "frequency_penalty": 0.0, "xtc_probability": 0.0, "xtc_threshold": 0.1}
XTC_OFF_ABOVE = 0.5  # llama.cpp turns XTC off for a threshold above this


@dataclass
class Stage:
    """The candidates after one stage: `tokens` (in the server's order after the stage), `logits`
    (temperature applied where it has been), `probs` (softmax over them), and the model probability
    (temperature 1, whole vocabulary) the survivors hold: `mass`.

    After a random stage (XTC firing with probability q < 1) the next token comes from a mixture of
    branches: then `tokens` are every token some branch keeps, `mixed` their mixed probabilities (what
    `probs` returns) and `expected_mass` the model mass kept averaged over the branches (what `mass`
    returns)."""

    name: str
    setting: Any
    tokens: list[str]
    logits: np.ndarray
    model_probs: np.ndarray
    mixed: np.ndarray | None = None
    expected_mass: float | None = None

    @property
    def probs(self) -> np.ndarray:
        return _softmax(self.logits) if self.mixed is None else self.mixed

    @property
    def mass(self) -> float:
        return float(self.model_probs.sum()) if self.expected_mass is None else self.expected_mass

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class Chain:
    """Every stage of one sampling step; `final` is what is sampled from (a Series: token -> probability).

    `coverage` is the model probability the returned candidates held; `complete` says whether they
    certainly hold every token the chain keeps (then the prediction is exact); `why` says why not.
    `branches` are the ways a random stage (XTC) can go, each (its probability, the final it leads to):
    one (1.0, final) when nothing is random; `final` is their mixture.
    """

    stages: list[Stage]
    settings: dict[str, Any]
    coverage: float
    complete: bool
    why: str = ""
    skipped: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=lambda: list(ORDER))
    seen: dict[str, int] | None = None  # the tokens the penalties count (token -> count), when known
    branches: list[tuple[float, pd.Series]] = field(default_factory=list)  # (weight, final) per XTC branch

    def rerun(self, settings: dict[str, Any] | None = None, order: Sequence[str] | None = None) -> Chain:
        """The chain again on the same candidates and tokens seen, with other settings (or order): no request."""
        first = self.stages[0]
        return run_chain(first.tokens, first.logits, {**self.settings, **(settings or {})},
                         self.order if order is None else order, seen=self.seen)

    @property
    def final(self) -> pd.Series:
        last = self.stages[-1]
        return pd.Series(last.probs, index=last.tokens, name="predicted")

    def branch_labels(self) -> list[str]:
        """A name for each branch: whether XTC fires, with its share of the draws ('final' when nothing is random)."""
        if len(self.branches) == 2:
            (w0, _), (w1, _) = self.branches
            return [f"XTC does not fire ({w0:.0%} of draws)", f"XTC fires ({w1:.0%} of draws)"]
        return ["final"]

    def branch_frame(self) -> pd.DataFrame:
        """Tokens x branches: what each way of the random stage leaves to sample from, then their mixture (the
        prediction) when there are two; 0 where a branch removed the token."""
        out = pd.DataFrame({label: f for label, (_, f) in zip(self.branch_labels(), self.branches)})
        if len(self.branches) > 1:
            out["mixture (predicted)"] = self.final
        return out.reindex(self.final.index).fillna(0.0)

    def table(self) -> pd.DataFrame:
        """One row per stage: the setting, tokens kept, model probability mass kept, top token and its share.
        After XTC (fired at random) the tokens are those some branch keeps, and mass and share are expected
        values over the branches."""
        rows = []
        for s in self.stages:
            p = s.probs
            top = int(np.argmax(p))
            rows.append({"stage": s.name, "setting": s.setting, "tokens kept": len(s),
                         "model mass kept": round(s.mass, 4), "top token": s.tokens[top],
                         "top token's share": round(float(p[top]), 4)})
        return pd.DataFrame(rows)

    def frame(self) -> pd.DataFrame:
        """Tokens x stages: each token's probability after each stage (0 where cut)."""
        first = self.stages[0]
        out = pd.DataFrame(index=first.tokens)
        for s in self.stages:
            out[s.name] = pd.Series(s.probs, index=s.tokens).reindex(first.tokens).fillna(0.0)
        return out


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


def settings_for(params: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chain settings a request gets: each validated value sent, else the server's default (else llama.cpp's)."""
    base = {**LLAMA_DEFAULTS, **{k: v for k, v in (defaults or {}).items() if k in LLAMA_DEFAULTS}}
    return {k: check(k, params[k]) if params.get(k) is not None else base[k] for k in LLAMA_DEFAULTS}


def penalised(params: dict[str, Any]) -> bool:
    """Does `params` turn on a modelled penalty (presence_penalty or frequency_penalty not 0)?"""
    return any(params.get(k) not in (None, 0, 0.0) for k in PENALTIES) and params.get("repeat_last_n") != 0


def unpredicted(params: dict[str, Any], seen_known: bool = False) -> list[str]:
    """The samplers turned on in `params` that the prediction does not model (repeat_penalty, DRY; presence
    and frequency penalties too unless the tokens they count are known: `seen_known`)."""
    left_out = [k for k, off in UNMODELLED.items() if params.get(k) is not None and params[k] != off]
    if not seen_known:
        left_out += [k for k in PENALTIES if params.get(k) not in (None, 0, 0.0)]
    return left_out


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


def run_chain(tokens: Sequence[str], logprobs: Sequence[float], settings: dict[str, Any],
              order: Sequence[str] = ORDER, *, seen: dict[str, int] | None = None) -> Chain:
    """Apply the chain, in `order`, to candidates with their model log-probabilities.

    `settings` holds temperature, top_k, top_p, min_p, typical_p, xtc_probability, xtc_threshold and the
    presence/frequency penalties (see `settings_for`); `seen` the tokens the penalties count (token ->
    count), needed only when a penalty is on. Returns a `Chain` with one `Stage` per modelled stage (after
    "candidates", the input; XTC and the penalties only when on). XTC firing with probability 0 < q < 1
    splits the chain in two branches, weighted 1 - q (it did not fire) and q (it fired); every later stage
    runs on both, and the stages show their mixture (`Chain.branches` holds each branch's final).
    Exactness: the candidates are usually the server's top 20 (the API's cap); the prediction is exact when
    no token outside them could survive (top_k <= their number, or the cut falls inside them), else
    `complete` is False.

    >>> run_chain(["a", "b", "c"], np.log([0.5, 0.3, 0.2]), {"top_k": 2, "temperature": 1}).final.round(3).tolist()
    [0.625, 0.375]
    >>> run_chain(["a", "b", "c"], np.log([0.5, 0.3, 0.2]), {"xtc_probability": 0.5, "xtc_threshold": 0.25}
    ...           ).final.round(3).tolist()
    [0.25, 0.45, 0.3]
    """
    lp = np.asarray(logprobs, dtype=float)
    if len(tokens) != lp.size or lp.size == 0:
        raise ValueError(f"run_chain needs as many tokens as logprobs, at least one: got {len(tokens)} and {lp.size}")
    s = {**OFF, **{k: v for k, v in settings.items() if v is not None}}
    model_p = np.exp(lp)
    logits = lp
    branches: list[tuple[float, np.ndarray]] = [(1.0, np.arange(lp.size))]  # (weight, indices kept)
    stages = [Stage("candidates", f"{lp.size} returned", list(tokens), logits, model_p)]
    skipped, tempered, before_xtc = [], False, None

    def stage(name: str, setting: Any) -> Stage:
        return _stage(name, setting, tokens, logits, model_p, branches)

    for name in order:
        if name == "penalties" and penalised(s) and seen is not None:
            logits = penalties(logits, tokens, seen, float(s["presence_penalty"]), float(s["frequency_penalty"]))
            stages.append(stage(name, ", ".join(f"{k.split('_')[0]} {s[k]:g}" for k in PENALTIES if s[k])))
            continue
        if name not in STAGE_PARAM:
            skipped.append(name)
            continue
        value = s[STAGE_PARAM[name]]
        if name == "xtc":
            q, threshold = float(value), float(s["xtc_threshold"])
            if q <= 0 or threshold > XTC_OFF_ABOVE:
                continue  # off: no stage, as for the penalties
            before_xtc = _union(branches)
            split = []
            for w, idx in branches:
                whole = int(s["top_k"]) <= 0 and idx.size == lp.size and not tempered and logits is lp
                cut = idx[xtc(logits[idx], threshold, whole=whole)]
                if cut.size == idx.size:  # fewer than two tokens reach the threshold: firing removes nothing
                    split.append((w, idx))
                    continue
                if q < 1:
                    split.append((w * (1 - q), idx))
                split.append((w * min(q, 1.0), cut))
            branches = split
            stages.append(stage(name, f"probability {q:g}, threshold {threshold:g}"))
            continue
        if name == "temperature":
            branches = [(w, idx[temperature(logits[idx], float(value))[0]]) for w, idx in branches]
            if float(value) > 0:
                logits = logits / float(value)
            tempered = True
            stages.append(stage(name, value))
            continue
        cut_branches = []
        for w, idx in branches:
            cur = logits[idx]
            if name == "top_k":
                keep = top_k(cur, int(value))
            elif name == "typ_p":
                keep = typical_p(cur, float(value))
            elif name == "top_p":  # with top_k off the server renormalises over the whole vocabulary
                whole = int(s["top_k"]) <= 0 and idx.size == lp.size and not tempered and logits is lp
                keep = top_p(cur, float(value), whole=whole)
            else:
                keep = min_p(cur, float(value))
            cut_branches.append((w, idx[keep]))
        branches = cut_branches
        stages.append(stage(name, value))
    coverage = float(model_p.sum())
    shifted = stages[1].logits if len(stages) > 1 and stages[1].name == "penalties" else lp
    kept = _union(branches) if before_xtc is None else before_xtc
    complete, why = _complete(lp, shifted, s, kept, coverage)
    finals = [(w, pd.Series(_softmax(logits[idx]), index=[tokens[i] for i in idx], name="predicted"))
              for w, idx in branches]
    return Chain(stages, {k: s[k] for k in OFF}, coverage, complete, why, skipped, list(order), seen, finals)


def _union(branches: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """The indices some branch keeps, in the first branch's order, then the others'."""
    return np.array(list(dict.fromkeys(i for _, idx in branches for i in idx.tolist())), dtype=int)


def _stage(name: str, setting: Any, tokens: Sequence[str], logits: np.ndarray, model_p: np.ndarray,
           branches: list[tuple[float, np.ndarray]]) -> Stage:
    """The Stage after `name`: the tokens kept, or, with several branches, their union and mixture."""
    if len(branches) == 1:
        idx = branches[0][1]
        return Stage(name, setting, [tokens[i] for i in idx], logits[idx], model_p[idx])
    union = _union(branches)
    where = {int(i): k for k, i in enumerate(union)}
    mixed = np.zeros(union.size)
    for w, idx in branches:
        mixed[[where[int(i)] for i in idx]] += w * _softmax(logits[idx])
    expected = float(sum(w * model_p[idx].sum() for w, idx in branches))
    return Stage(name, setting, [tokens[i] for i in union], logits[union], model_p[union], mixed, expected)


def _complete(lp: np.ndarray, shifted: np.ndarray, s: dict[str, Any], kept: np.ndarray,
              coverage: float) -> tuple[bool, str]:
    """Is the prediction exact? Each unseen token has p <= the lowest returned one (a penalty only lowers it
    further), and the stages that renormalise (typical_p, top_p) must see the same candidates as the server.
    `shifted` are the candidates' logits after the penalties (`lp` itself when none applied)."""
    n, k, tail = lp.size, int(s["top_k"]), 1.0 - coverage
    unseen = float(lp.min())  # the highest logit a token the server did not return can have
    if tail < 1e-6:
        return True, ""
    if 0 < k <= n:
        if float(np.sort(shifted)[::-1][k - 1]) >= unseen:
            return True, ""
        return False, (f"a penalty pushed some of the top {k} candidates below tokens the server did not return "
                       "(whose probabilities are unknown), so the top_k cut may keep unseen tokens")
    why = (f"the {n} returned candidates hold {coverage:.1%} of the probability and the server's candidates "
           f"at this stage include unseen ones ({tail:.1%} of the mass): set top_k <= {n} for an exact prediction")
    if float(s["typical_p"]) < 1 or (k > n and float(s["top_p"]) < 1):
        return False, why
    if float(s["min_p"]) > 0 and unseen < float(shifted.max()) + np.log(float(s["min_p"])):
        return True, ""  # min_p's threshold lies above every unseen token
    if float(s["top_p"]) < 1 and kept.size < n and shifted is lp:
        return True, ""  # the nucleus (on the whole vocabulary's probabilities) closed inside the candidates
    return False, why


__all__ = ["LLAMA_DEFAULTS", "ORDER", "PENALTIES", "Chain", "Stage", "min_p", "penalised", "penalties", "run_chain",
           "settings_for", "temperature", "top_k", "top_p", "typical_p", "unpredicted", "xtc"]
