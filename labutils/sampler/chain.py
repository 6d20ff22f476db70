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
  count, see `labutils.sampler.prompt_window`) this stage is modelled exactly: a shift of a logit
  is a shift of its log-probability. repeat_penalty divides a positive raw logit (multiplies a negative
  one); the API returns log-probabilities, never raw logits, so it is not modelled.
- dry (Don't Repeat Yourself, second stage): in the last `dry_penalty_last_n` tokens seen, find every
  earlier place where the context's ending already occurred; the token that followed it would extend
  that repeat. A token that would extend a repeat of length L >= dry_allowed_length loses
  dry_multiplier x dry_base^(L - dry_allowed_length) from its logit (the longest L if several). A
  repeat never reaches back across a sequence breaker (`dry_sequence_breakers`, default newline, colon,
  quote, asterisk), and a token holding a breaker is never penalised. Given the prompt's tokens in order
  (`Context`), this is modelled exactly, as llama.cpp's `llama_sampler_dry_apply` (`labutils.sampler.dry`).
  At the first token of a chat answer the default breakers switch DRY off: the chat template's last
  token is a newline.

repeat_penalty (it needs raw logits) and top_n_sigma (off by default) are left out, and so are the penalties
and DRY when the prompt's tokens are unknown: `unpredicted()` names any a request turns on. The math needs
only the candidates' log-probabilities, so it is exact when the candidates the server returned hold every
token the chain can keep (`Chain.complete`). Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..params import PARAMS, check
from .dry import Context, DryScan, dry, dry_on, dry_penalty, dry_scan
from .stages import XTC_OFF_ABOVE, _softmax, min_p, penalties, temperature, top_k, top_p, typical_p, xtc

ORDER = ("penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature")
SETTINGS = ("temperature", "top_k", "top_p", "min_p", "typical_p", "presence_penalty", "frequency_penalty",  # modelled;
            "xtc_probability", "xtc_threshold", "dry_multiplier", "dry_base",  # their facts: PARAMS; any other
            "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers")  # sampler on: `unpredicted`
_SEVERAL = ("penalties", "dry")  # stages switched by several parameters: run_chain reads those itself
STAGE_PARAM = {PARAMS[n].stage: n for n in SETTINGS if PARAMS[n].off is not None and PARAMS[n].stage not in _SEVERAL}
PENALTIES = tuple(n for n in SETTINGS if PARAMS[n].stage == "penalties")  # modelled given the tokens seen
LLAMA_DEFAULTS = {n: PARAMS[n].default for n in SETTINGS}
OFF = {n: PARAMS[n].default if PARAMS[n].off is None else PARAMS[n].off for n in SETTINGS}  # every stage off


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
    context: Context | None = None  # the prompt's tokens in order (for DRY), when known
    dry: DryScan | None = None  # what DRY found in them, when it is on

    def rerun(self, settings: dict[str, Any] | None = None, order: Sequence[str] | None = None) -> Chain:
        """The chain again on the same candidates and prompt tokens, with other settings (or order): no request."""
        first = self.stages[0]
        return run_chain(first.tokens, first.logits, {**self.settings, **(settings or {})},
                         self.order if order is None else order, seen=self.seen, context=self.context)

    @property
    def final(self) -> pd.Series:
        last = self.stages[-1]
        return pd.Series(last.probs, index=last.tokens, name="predicted")

    @property
    def prompt_known(self) -> bool:
        """Were the prompt's tokens read (so the penalties and DRY are in the prediction when on)?"""
        return self.seen is not None or self.context is not None

    def dry_penalties(self) -> dict[str, float]:
        """Token -> what DRY subtracts from its logit (the tokens it penalises, candidates or not; {} when off)."""
        if self.dry is None:
            return {}
        s = self.settings
        return {t: dry_penalty(n, s["dry_multiplier"], s["dry_base"], self.dry.allowed_length)
                for t, n in self.dry.targets.items()}

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


def settings_for(params: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chain settings a request gets: each validated value sent, else the server's default (else llama.cpp's)."""
    base = {**LLAMA_DEFAULTS, **{k: v for k, v in (defaults or {}).items() if k in LLAMA_DEFAULTS}}
    return {k: check(k, params[k]) if params.get(k) is not None else base[k] for k in LLAMA_DEFAULTS}


def penalised(params: dict[str, Any]) -> bool:
    """Does `params` turn on a modelled penalty (presence_penalty or frequency_penalty not 0)?"""
    return any(params.get(k) not in (None, 0, 0.0) for k in PENALTIES) and params.get("repeat_last_n") != 0


def unpredicted(params: dict[str, Any], prompt_known: bool = False) -> list[str]:
    """The samplers turned on in `params` that the prediction does not model: repeat_penalty; the presence
    and frequency penalties and DRY too unless the prompt's tokens are known (`prompt_known`)."""
    left_out = [k for k, p in PARAMS.items() if p.off is not None and k not in SETTINGS
                and params.get(k) is not None and params[k] != p.off]
    if not prompt_known:
        left_out += [k for k in PENALTIES if params.get(k) not in (None, 0, 0.0)]
        left_out += ["dry_multiplier"] if dry_on(params) else []
    return left_out


def run_chain(tokens: Sequence[str], logprobs: Sequence[float], settings: dict[str, Any],
              order: Sequence[str] = ORDER, *, seen: dict[str, int] | None = None,
              context: Context | None = None) -> Chain:
    """Apply the chain, in `order`, to candidates with their model log-probabilities.

    `settings` holds temperature, top_k, top_p, min_p, typical_p, xtc_probability, xtc_threshold, the
    presence/frequency penalties and DRY's settings (see `settings_for`); `seen` the tokens the penalties
    count (token -> count), needed only when a penalty is on; `context` the prompt's tokens in order,
    needed only when DRY is on. Returns a `Chain` with one `Stage` per modelled stage (after
    "candidates", the input; XTC, DRY and the penalties only when on). XTC firing with probability 0 < q < 1
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
        raise ParameterError(f"run_chain needs as many tokens as logprobs, at least one: got {len(tokens)}, {lp.size}")
    s = {**OFF, **{k: v for k, v in settings.items() if v is not None}}
    model_p = np.exp(lp)
    logits = lp
    branches: list[tuple[float, np.ndarray]] = [(1.0, np.arange(lp.size))]  # (weight, indices kept)
    stages = [Stage("candidates", f"{lp.size} returned", list(tokens), logits, model_p)]
    skipped, tempered, before_xtc, shifted, scan = [], False, None, lp, None

    def stage(name: str, setting: Any) -> Stage:
        return _stage(name, setting, tokens, logits, model_p, branches)

    def whole(idx: np.ndarray) -> bool:
        """With top_k off the server renormalises over the whole vocabulary: do the logits still say that
        (every candidate left, nothing shifted or tempered)?"""
        return int(s["top_k"]) <= 0 and idx.size == lp.size and not tempered and logits is lp

    for name in order:
        if name == "penalties" and penalised(s) and seen is not None:
            logits = shifted = penalties(logits, tokens, seen, float(s["presence_penalty"]),
                                         float(s["frequency_penalty"]))
            stages.append(stage(name, ", ".join(f"{k.split('_')[0]} {s[k]:g}" for k in PENALTIES if s[k])))
            continue
        if name == "dry" and dry_on(s) and context is not None:
            scan = dry_scan(context, int(s["dry_allowed_length"]), int(s["dry_penalty_last_n"]),
                            tuple(s["dry_sequence_breakers"]))
            logits = shifted = dry(logits, tokens, scan, float(s["dry_multiplier"]), float(s["dry_base"]))
            stages.append(stage(name, f"multiplier {s['dry_multiplier']:g}, base {s['dry_base']:g}, allowed length "
                                      f"{s['dry_allowed_length']}, last {s['dry_penalty_last_n']}"))
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
                cut = idx[xtc(logits[idx], threshold, whole=whole(idx))]
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
            elif name == "top_p":
                keep = top_p(cur, float(value), whole=whole(idx))
            else:
                keep = min_p(cur, float(value))
            cut_branches.append((w, idx[keep]))
        branches = cut_branches
        stages.append(stage(name, value))
    coverage = float(model_p.sum())
    kept = _union(branches) if before_xtc is None else before_xtc
    complete, why = _complete(lp, shifted, s, kept, coverage)
    finals = [(w, pd.Series(_softmax(logits[idx]), index=[tokens[i] for i in idx], name="predicted"))
              for w, idx in branches]
    return Chain(stages, {k: s[k] for k in OFF}, coverage, complete, why, skipped, list(order), seen, finals,
                 context, scan)


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
    `shifted` are the candidates' logits after the penalties and DRY (`lp` itself when none applied)."""
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


__all__ = ["LLAMA_DEFAULTS", "OFF", "ORDER", "PENALTIES", "SETTINGS", "STAGE_PARAM", "Chain", "Stage", "penalised",
           "run_chain", "settings_for", "unpredicted"]
