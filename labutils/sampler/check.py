"""Theory against experiment: predict the first token's distribution from the chain, then sample it live.

`check_sampler(lab, prompt, samples=300, temperature=..., top_k=..., ...)`:
1. asks the server for the next token's top-20 candidates with their real log-probabilities, and for
   its own post-chain probabilities (`post_sampling_probs`: what it really samples from);
2. predicts the distribution by applying llama-server's chain in its own order (`labutils.sampler.chain`),
   each unset parameter at the server's default (`Lab.server_defaults()`); with a presence or frequency
   penalty or DRY on, the prompt's tokens are read from the engine (`prompt_tokens`, `prompt_window`);
   with XTC on, the prediction is the mixture of the chain where XTC fires and the chain where it does not;
3. draws `samples` seeded first tokens (max_tokens=1, random seeds drawn from `first_seed`) through `Lab.send`;
4. compares: total-variation distance, Pearson's chi-square p-value (`labutils.sampler.gof`), and, when they
   disagree, which stage the disagreement points to: the prediction is re-run with each parameter the
   request set replaced by the server's default ("the server ignored top_k"), with the textbook order
   (temperature first), with XTC firing on every draw, and draws outside the returned candidates are
   counted as unseen mass.
Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..client.parallel import Stop, run_all
from ..errors import Interrupted, LabError, RequestFailed
from ..params import MAX_SAMPLES, RANDOM_SEED, integer
from . import chain as chain_mod
from . import gof
from .prediction import CANDIDATES, _picks, _prompt_state, _top, post_sampling

if TYPE_CHECKING:
    from ..client.lab import Lab

ALPHA = 0.01
OTHER = "(not among the candidates)"


def server_distance(chain: chain_mod.Chain, server: pd.Series, digits: int = 3) -> str:
    """How far the server's own post-chain probabilities (one seeded request) are from the prediction, in
    words. With XTC on, one request is one draw of it, so it is compared with each branch (the chain where
    XTC does not fire and the one where it fires), not with their mixture."""
    if len(chain.branches) == 2:
        (_, kept), (_, cut) = chain.branches
        return (f"{gof.tv_distance(kept, server):.{digits}f} TV from the chain where XTC does not fire and "
                f"{gof.tv_distance(cut, server):.{digits}f} from the one where it fires (the prediction mixes the "
                "two over seeds)")
    return f"{gof.tv_distance(chain.final, server):.{digits}f} TV from the prediction"


@dataclass
class SamplerCheck:
    """Predicted vs observed first tokens for one prompt and parameter set, with the evidence."""

    prompt: Any
    params: dict[str, Any]
    chain: chain_mod.Chain
    counts: pd.Series
    server: pd.Series | None  # the server's post-chain probabilities (None if it did not say)
    alternatives: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: list[str] = field(default_factory=list)
    server_note: str = ""
    lost: int = 0  # draws the server failed twice and the check left out

    @property
    def predicted(self) -> pd.Series:
        return self.chain.final

    @property
    def samples(self) -> int:
        return int(self.counts.sum())

    @property
    def observed(self) -> pd.Series:
        return (self.counts / self.samples).rename("observed")

    @property
    def fit(self) -> gof.Fit:
        return gof.fit(self.counts, self.predicted)

    @property
    def tv(self) -> float:
        return gof.tv_distance(self.predicted, self.observed)

    @property
    def noise_tv(self) -> float:
        """The median TV distance that sampling noise alone gives with this many draws (simulated)."""
        rng = np.random.default_rng(0)
        p = self.predicted
        sims = [0.5 * np.abs(rng.multinomial(self.samples, p.to_numpy()) / self.samples - p.to_numpy()).sum()
                for _ in range(200)]
        return float(np.median(sims))

    @property
    def agrees(self) -> bool:
        return self.fit.p_value > ALPHA

    def table(self) -> pd.DataFrame:
        """One row per token: predicted, the server's own post-chain probability, observed share and count."""
        tokens = list(dict.fromkeys([*self.predicted.index, *self.counts.index]))
        out = pd.DataFrame(index=tokens)
        out["predicted"] = self.predicted.reindex(tokens).fillna(0.0)
        if self.server is not None:
            out["server says"] = self.server.reindex(tokens).fillna(0.0)
        out["observed"] = self.observed.reindex(tokens).fillna(0.0)
        out["count"] = self.counts.reindex(tokens).fillna(0).astype(int)
        out.index.name = "token"
        return out

    def diagnosis(self) -> str:
        """Which stage a disagreement points to, in one paragraph (or why it agrees)."""
        f = self.fit
        if f.df == 0 and not f.impossible:
            return (f"Too few draws to test: with N={self.samples} every token is expected fewer than 5 times, so "
                    "all were pooled into one bin; raise samples.")
        if self.agrees:
            return (f"Agreement: the observed frequencies are what the prediction leads one to expect "
                    f"(chi-square p = {f.p_value:.3f} > {ALPHA}).")
        parts = [f"Disagreement: p = {f.p_value:.2g} < {ALPHA}."]
        unseen = int(self.counts.get(OTHER, 0))
        if unseen:
            parts.append(f"{unseen} of {self.samples} draws were tokens outside the {CANDIDATES} returned "
                         "candidates: mass the prediction could not see (raise the candidates' coverage or "
                         "cut harder with top_k/min_p).")
        elif f.impossible:
            parts.append(f"{f.impossible} draws were tokens the prediction cut: the server kept tokens that the "
                         "chain, as predicted, removes.")
        if self.skipped:
            parts.append(f"The prediction left out samplers this request turns on: {', '.join(self.skipped)}.")
        fits = self.alternatives[self.alternatives.p_value > ALPHA] if len(self.alternatives) else []
        if len(fits):
            best = fits.sort_values("p_value", ascending=False).iloc[0]
            # hypotheses that predict the same distribution explain the draws equally: name them all
            same = fits[np.isclose(fits.p_value, best.p_value, rtol=1e-9) & np.isclose(fits.tv, best.tv, rtol=1e-9)]
            named = " or ".join(same.hypothesis)
            parts.append(f"Best explanation: {named} (p = {best.p_value:.3f}, TV {best.tv:.3f}).")
        elif len(self.alternatives):
            parts.append("No single-stage change to the prediction explains the draws either.")
        if not self.chain.complete:
            parts.append(f"Note: the prediction was not exact: {self.chain.why}.")
        return " ".join(parts)

    def report(self) -> str:
        """The evidence in words: N, TV distance against noise, chi-square, coverage, and the diagnosis."""
        f = self.fit
        server = ""
        if self.server is not None:
            server = (f" The server's own post-chain probabilities (post_sampling_probs, one seeded request) are "
                      f"{server_distance(self.chain, self.server, 4)}; they hold {self.server.sum():.1%} of the mass "
                      f"over {len(self.server)} tokens.")
        lost = f" ({self.lost} more failed on the server and were left out)" if self.lost else ""
        return (f"{self.samples} seeded draws{lost}; the {len(self.chain.stages[0])} candidates held "
                f"{self.chain.coverage:.1%} of the model's probability; the chain keeps {len(self.predicted)} "
                f"token(s). TV distance predicted vs observed: {self.tv:.3f} (sampling noise alone gives about "
                f"{self.noise_tv:.3f} with N={self.samples}). Chi-square {f.statistic:.2f} on {f.df} df, "
                f"p = {f.p_value:.3g}.{server} {self.diagnosis()}")

    def plot(self, ax=None):
        from .plots import predicted_vs_observed

        return predicted_vs_observed(self, ax=ax)

    def _repr_html_(self) -> str:
        import html

        return (f"<p>{html.escape(self.report())}</p>"
                + self.table().to_html(float_format=lambda v: f"{v:.4f}"))


def check_sampler(lab: Lab, prompt: str | list[dict], samples: int = 200, *, first_seed: int = 1,
                  concurrency: int | None = None, **params: Any) -> SamplerCheck:
    """Predict the first token's distribution under `params` and test it against `samples` live draws.

    `params` are chain parameters (temperature, top_k, top_p, min_p, typical_p, presence_penalty,
    frequency_penalty, xtc_probability, xtc_threshold, the dry_* settings; repeat_penalty is sent but not
    modelled).
    Every input is validated before any request. See the module docstring.

    >>> res = check_sampler(lab, "The capital of France is", 300, temperature=1.0, top_k=5)  # doctest: +SKIP
    >>> res.fit.p_value > 0.01  # doctest: +SKIP
    """
    samples = integer("samples", samples, low=1, high=MAX_SAMPLES, why=" (the number of seeded draws to compare)")
    first_seed = integer("first_seed", first_seed, low=0, high=RANDOM_SEED - 1)
    for bad in ("seed", "max_tokens", "logprobs", "top_logprobs", "n", "post_sampling_probs"):
        if bad in params:
            raise LabError(f"check_sampler sets {bad} itself (seeds {first_seed}.., one token, top 20); leave it out")
    lab.prepare(prompt, **params)  # every value checked before anything is sent
    sent = {**params, "max_tokens": 1, "logprobs": True, "top_logprobs": CANDIDATES}
    defaults = lab.server_defaults()
    known = defaults.known
    order = (getattr(defaults, "samplers", None) or list(chain_mod.ORDER)) if known else list(chain_mod.ORDER)
    settings = chain_mod.settings_for(params, defaults.values if known else None)
    seen, context = _prompt_state(lab, prompt, params, defaults.values if known else None)
    server, server_note = post_sampling(lab, prompt, {**params, "seed": first_seed})

    # seeds are drawn at random (from `first_seed`): consecutive seeds 1..300 gave a sample far too even
    # for independent draws (chi-square 0.03 on 4 df, measured), which would make the test blind
    # with two slots on one engine, one request returns two choices, and llama-server gives choice i the seed
    # seed+i (one request never spans two engines of a pool: it is one engine's slots that count)
    per = 2 if (lab.engine_slots or 1) >= 2 and samples >= 2 else 1
    seeds = np.random.default_rng(first_seed).choice(2**30, size=(samples + per - 1) // per, replace=False) * 2

    def draw(seed: int) -> list[str]:
        # a draw the server fails (timeout, 5xx) is tried once more, then left out: losing it does not bias
        # the sample (which token a seed gives has nothing to do with whether the server was busy)
        try:
            return _picks(lab.send(prompt, {**sent, "seed": int(seed), **({"n": per} if per > 1 else {})}))
        except RequestFailed:  # a timeout is not marked retryable, but a second try often works
            return _picks(lab.send(prompt, {**sent, "seed": int(seed), **({"n": per} if per > 1 else {})}))

    stop = Stop()
    drawn = run_all(draw, seeds, concurrency or lab.concurrency, stop=stop)
    if stop.interrupted:
        raise Interrupted(f"interrupted (Ctrl-C) after {len(drawn)} of {len(seeds)} draws; nothing was checked")
    lost = [str(drawn.get(i, f"not sent: {stop.cause}")) for i in range(len(seeds))
            if not isinstance(drawn.get(i), list)]
    picks = [t for i in range(len(seeds)) if isinstance(drawn.get(i), list) for t in drawn[i]][:samples]
    if len(lost) * per > 0.1 * samples or not picks:
        raise LabError(f"{len(lost) * per} of {samples} draws failed on the server ({lost[0]}); the check needs "
                       "them all but a few: try again when the server is less busy, or with fewer samples")
    try:
        candidates = lab.send(prompt, {**sent, "seed": first_seed})
    except RequestFailed as e:
        if not e.retryable:
            raise
        candidates = lab.send(prompt, {**sent, "seed": first_seed})  # once more, as for the draws
    tokens, lps, _ = _top(candidates)
    chain = chain_mod.run_chain(tokens, lps, settings, order, seen=seen, context=context)
    counts = pd.Series(picks).value_counts()
    res = check_counts(chain, counts, params, prompt, defaults.values if known else None, server=server,
                       server_note=server_note)
    res.lost = len(lost) * per
    return res


def check_counts(chain: chain_mod.Chain, counts: pd.Series, params: dict[str, Any], prompt: Any = None,
                 defaults: dict[str, Any] | None = None, *, server: pd.Series | None = None,
                 server_note: str = "") -> SamplerCheck:
    """The predicted-vs-observed check of first tokens already drawn: `counts` (token -> draws; a token
    outside the chain's candidates may be given as itself or as `OTHER`) against `chain`'s prediction for
    `params`, with the single-stage alternatives a disagreement is tested against. No request is sent."""
    known_tokens = set(chain.stages[0].tokens)
    counts = counts[counts > 0].groupby(lambda t: t if t in known_tokens else OTHER).sum().rename("count")
    skipped = chain_mod.unpredicted(params, prompt_known=chain.prompt_known)
    res = SamplerCheck(prompt, dict(params), chain, counts, server, skipped=skipped, server_note=server_note)
    res.alternatives = _alternatives(res, chain.settings, chain.order, defaults or {})
    return res


def _alternatives(res: SamplerCheck, settings, order, defaults) -> pd.DataFrame:
    """The prediction re-run with one change each: a parameter the request set back at the server's
    default (as if the server dropped it), temperature applied first, or XTC (when it fires at random)
    firing on every draw."""
    rows = []
    base = {**chain_mod.LLAMA_DEFAULTS, **{k: v for k, v in defaults.items() if k in chain_mod.LLAMA_DEFAULTS}}
    hyps = [(f"the server ignored {k}={res.params[k]} (used its default {base[k]})", {**settings, k: base[k]}, order)
            for k in chain_mod.LLAMA_DEFAULTS if res.params.get(k) is not None and res.params[k] != base[k]]
    textbook = ["temperature", *[s for s in order if s != "temperature"]]
    hyps.append(("temperature applied first (the textbook order)", settings, textbook))
    if len(res.chain.branches) > 1:
        hyps.append((f"XTC fired on every draw, not on a share {settings['xtc_probability']:g} of them",
                     {**settings, "xtc_probability": 1.0}, order))
    t_fit = _fitted_temperature(res.counts, res.chain, settings, order)
    if t_fit is not None and abs(t_fit - float(settings["temperature"])) > 0.05:
        hyps.append((f"a different temperature: the draws fit T = {t_fit:.2f} best (sent "
                     f"{settings['temperature']})", {**settings, "temperature": t_fit}, order))
    for label, s, o in hyps:
        pred = res.chain.rerun(s, o).final
        f = gof.fit(res.counts, pred)
        rows.append({"hypothesis": label, "p_value": f.p_value, "tv": gof.tv_distance(pred, res.observed)})
    return pd.DataFrame(rows, columns=["hypothesis", "p_value", "tv"])


def _fitted_temperature(counts: pd.Series, chain: chain_mod.Chain, settings, order) -> float | None:
    """The temperature in (0, 2] under which the observed draws are most likely (a grid search), or None."""
    best, best_ll = None, -np.inf
    for t in np.arange(0.05, 2.0001, 0.05):
        pred = chain.rerun({**settings, "temperature": float(t)}, order).final
        c, p = counts.align(pred, fill_value=0)
        if (c[p <= 0] > 0).any():
            continue
        ll = float((c[c > 0] * np.log(p[c > 0])).sum())
        if ll > best_ll:
            best, best_ll = round(float(t), 2), ll
    return best


__all__ = ["ALPHA", "OTHER", "SamplerCheck", "check_counts", "check_sampler", "server_distance"]
