"""Theory against experiment: predict the first token's distribution from the chain, then sample it live.

`check_sampler(lab, prompt, samples=300, temperature=..., top_k=..., ...)`:
1. asks the server for the next token's top-20 candidates with their real log-probabilities, and for
   its own post-chain probabilities (`post_sampling_probs`: what it really samples from);
2. predicts the distribution by applying llama-server's chain in its own order (`labutils.chain`),
   each unset parameter at the server's default (`Lab.server_defaults()`); with a presence or frequency
   penalty or DRY on, the prompt's tokens are read from the engine (`prompt_tokens`, `prompt_window`);
   with XTC on, the prediction is the mixture of the chain where XTC fires and the chain where it does not;
3. draws `samples` seeded first tokens (max_tokens=1, random seeds drawn from `first_seed`) through `Lab.send`;
4. compares: total-variation distance, Pearson's chi-square p-value (`labutils.gof`), and, when they
   disagree, which stage the disagreement points to: the prediction is re-run with each parameter the
   request set replaced by the server's default ("the server ignored top_k"), with the textbook order
   (temperature first), with XTC firing on every draw, and draws outside the returned candidates are
   counted as unseen mass.
Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import chain as chain_mod
from . import gof, intervals
from .errors import LabError, ParameterError, RequestFailed
from .params import check, integer

if TYPE_CHECKING:
    from .client import Lab

ALPHA = 0.01
OTHER = "(not among the candidates)"
CANDIDATES = 20  # the API's top_logprobs cap


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
        from .sampler_plots import predicted_vs_observed

        return predicted_vs_observed(self, ax=ax)

    def _repr_html_(self) -> str:
        import html

        return (f"<p>{html.escape(self.report())}</p>"
                + self.table().to_html(float_format=lambda v: f"{v:.4f}"))


def _top(done) -> tuple[list[str], list[float], str]:
    if not done.logprobs or not done.logprobs[0].get("top"):
        raise LabError("the server returned no logprobs, so the next-token distribution cannot be predicted")
    first = done.logprobs[0]
    tokens, lps = zip(*first["top"])
    return list(tokens), list(lps), first["token"]


def _first_token_probs(content) -> pd.Series | None:
    extra = getattr(content, "model_extra", None) or {}
    top = extra.get("top_probs") or getattr(content, "top_probs", None)
    if not top:
        return None
    items = [(t["token"], float(t["prob"])) if isinstance(t, dict) else (t.token, float(t.prob)) for t in top]
    return pd.Series(dict(items), name="server").groupby(level=0).sum()


def post_sampling(lab: Lab, prompt: str | list[dict], params: dict[str, Any]) -> tuple[pd.Series | None, str]:
    """The server's post-chain probabilities of the next token (llama-server's `post_sampling_probs`), and
    a note on how they were obtained or why not. Sent through `Lab.send` like every request (unstreamed:
    see `Lab._send`)."""
    asked = {**params, "max_tokens": 1, "logprobs": True, "top_logprobs": CANDIDATES, "post_sampling_probs": True}
    try:
        done = lab.send(prompt, asked)
    except LabError as e:  # any failure is reported; the check goes on without it
        return None, f"the server's post-sampling probabilities are not available: {e}"
    for c in _choices(done.raw):
        content = getattr(getattr(c, "logprobs", None), "content", None)
        if content and _first_token_probs(content[0]) is not None:
            return _first_token_probs(content[0]), "reported by the server"
    return None, "the answer carried no post-sampling probabilities (a distribution that does not pass them on)"


def _choices(raw) -> list:
    """The choices of a response (`Completion.raw`: one response, or the list of streamed chunks)."""
    if raw is None:
        return []
    if hasattr(raw, "choices"):
        return list(raw.choices or [])
    return [c for chunk in raw for c in (getattr(chunk, "choices", None) or [])]


def _picks(done) -> list[str]:
    """The first token of every choice of an answer (choice index order)."""
    first: dict[int, str] = {}
    for c in _choices(done.raw):
        content = getattr(getattr(c, "logprobs", None), "content", None)
        index = getattr(c, "index", 0) or 0
        if content and index not in first:
            first[index] = content[0].token
    if not first:
        return [_top(done)[2]]
    return [first[i] for i in sorted(first)]


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
    samples = integer("samples", samples, low=1, why=" (the number of seeded draws to compare)")
    first_seed = integer("first_seed", first_seed, low=0)
    for bad in ("seed", "max_tokens", "logprobs", "top_logprobs", "n", "post_sampling_probs"):
        if bad in params:
            raise LabError(f"check_sampler sets {bad} itself (seeds {first_seed}.., one token, top 20); leave it out")
    lab.prepare(prompt, **params)  # every value checked before anything is sent
    sent = {**params, "max_tokens": 1, "logprobs": True, "top_logprobs": CANDIDATES}
    defaults = lab.server_defaults() if hasattr(lab, "server_defaults") else None
    known = getattr(defaults, "known", False)
    order = (getattr(defaults, "samplers", None) or list(chain_mod.ORDER)) if known else list(chain_mod.ORDER)
    settings = chain_mod.settings_for(params, defaults.values if known else None)
    seen, context = _prompt_state(lab, prompt, params, defaults.values if known else None)
    server, server_note = post_sampling(lab, prompt, {**params, "seed": first_seed})

    # seeds are drawn at random (from `first_seed`): consecutive seeds 1..300 gave a sample far too even
    # for independent draws (chi-square 0.03 on 4 df, measured), which would make the test blind
    # with two slots on one engine, one request returns two choices, and llama-server gives choice i the seed
    # seed+i (one request never spans two engines of a pool: it is one engine's slots that count)
    per = 2 if (getattr(lab, "engine_slots", getattr(lab, "slots", None)) or 1) >= 2 and samples >= 2 else 1
    seeds = np.random.default_rng(first_seed).choice(2**30, size=(samples + per - 1) // per, replace=False) * 2

    lost: list[str] = []

    def draw(seed: int) -> list[str]:
        # a draw the server fails (timeout, 5xx) is tried once more, then left out: losing it does not bias
        # the sample (which token a seed gives has nothing to do with whether the server was busy)
        for attempt in (1, 2):
            try:
                return _picks(lab.send(prompt, {**sent, "seed": int(seed), **({"n": per} if per > 1 else {})}))
            except RequestFailed as e:  # a timeout is not marked retryable, but a second try often works
                if attempt == 2:
                    lost.append(str(e))
        return []

    workers = concurrency or getattr(lab, "concurrency", 2) or 2
    with ThreadPoolExecutor(max_workers=workers) as pool:
        picks = [t for ts in pool.map(draw, seeds) for t in ts][:samples]
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


def _order(lab: Lab) -> tuple[list[str], dict[str, Any]]:
    defaults = lab.server_defaults() if hasattr(lab, "server_defaults") else None
    if getattr(defaults, "known", False):
        return list(defaults.samplers or chain_mod.ORDER), dict(defaults.values)
    return list(chain_mod.ORDER), {}


def _tokenize(engine: str, text: str, *, special: bool) -> list[str]:
    """The engine's tokens of `text` as pieces (`special`: add the model's special tokens and read marker
    text such as <|im_start|> as one token, as a prompt is read; off for a sequence breaker's tail)."""
    import httpx

    with httpx.Client(timeout=10) as http:
        tokens = http.post(f"{engine}/tokenize", json={"content": text, "add_special": special,
                                                       "parse_special": special, "with_pieces": True}).json()["tokens"]
    return [t["piece"] if isinstance(t["piece"], str) else bytes(t["piece"]).decode("utf-8", "replace")
            for t in tokens]


def prompt_tokens(lab: Lab, prompt: str | list[dict]) -> chain_mod.Context | None:
    """The prompt as the engine's samplers see it before the answer's first token: its chat template
    applied, then its tokenizer, as token pieces in order (with the tokenizer, for DRY's sequence breakers).
    llama-server feeds the whole prompt to its penalties and to DRY, so the question (and the template: role
    names, markers) counts as text already written.

    None when the lab cannot ask the engine (a remote distribution: then the prediction leaves the
    penalties and DRY out and says so). Taught in notebooks/10_sampler_chain.ipynb.
    """
    engine = getattr(lab, "engine_url", None)
    if engine is None:
        return None
    messages = lab.prepare(prompt)[0]
    import httpx

    try:
        with httpx.Client(timeout=10) as http:
            text = http.post(f"{engine}/apply-template", json={"messages": messages}).json()["prompt"]
        pieces = _tokenize(engine, text, special=True)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None  # the prediction then leaves the penalties and DRY out, and says so
    return chain_mod.Context(tuple(pieces), lambda tail: _tokenize(engine, tail, special=False))


def prompt_window(lab: Lab, prompt: str | list[dict], params: dict[str, Any],
                  defaults: dict[str, Any] | None = None,
                  context: chain_mod.Context | None = None) -> dict[str, int] | None:
    """The tokens the presence and frequency penalties count before the answer's first token: the last
    `repeat_last_n` tokens of the prompt as the engine sees it (`prompt_tokens`, or `context` when already
    read), as token -> count. Words of the question (and of the template) are penalised in the answer.

    None when no such penalty is on (nothing to count), or when the lab cannot ask the engine.
    """
    if not chain_mod.penalised(params):
        return None
    context = context or prompt_tokens(lab, prompt)
    if context is None:
        return None
    last = params.get("repeat_last_n")
    last = int((defaults or {}).get("repeat_last_n", 64) if last is None else last)
    pieces = list(context.tokens)
    window = pieces if last < 0 else pieces[len(pieces) - last:] if last > 0 else []
    return dict(Counter(window))


def _prompt_state(lab: Lab, prompt: str | list[dict], params: dict[str, Any],
                  defaults: dict[str, Any] | None) -> tuple[dict[str, int] | None, chain_mod.Context | None]:
    """What the penalties count (`prompt_window`) and what DRY searches (`prompt_tokens`), read from the
    engine once, and only when a penalty or DRY is on: (None, None) otherwise."""
    if not (chain_mod.penalised(params) or chain_mod.dry_on(params)):
        return None, None
    context = prompt_tokens(lab, prompt)
    return prompt_window(lab, prompt, params, defaults, context), context


def predict(lab: Lab, prompt: str | list[dict], **params: Any) -> chain_mod.Chain:
    """The chain, stage by stage, for the next token of `prompt` under `params` (unset = the server's
    defaults), from one request for the top-20 candidates (and, with a presence or frequency penalty or DRY
    on, the engine's tokens of the prompt: `prompt_tokens`). Taught in notebooks/10_sampler_chain.ipynb."""
    lab.prepare(prompt, **params)
    order, defaults = _order(lab)
    tokens, lps, _ = _top(lab.send(prompt, {**params, "max_tokens": 1, "logprobs": True, "top_logprobs": CANDIDATES,
                                            "temperature": 0}))
    seen, context = _prompt_state(lab, prompt, params, defaults)
    return chain_mod.run_chain(tokens, lps, chain_mod.settings_for(params, defaults), order, seen=seen,
                               context=context)


def server_view(lab: Lab, prompt: str | list[dict], **params: Any) -> pd.Series:
    """What the server really samples the next token from under `params` (its post-chain probabilities,
    at most 20 tokens), sorted; `.attrs["mass"]` is the share of that distribution the tokens shown hold
    (1.0 = all of it) and `.attrs["note"]` how it was obtained. Taught in notebooks/10_sampler_chain.ipynb."""
    lab.prepare(prompt, **params)
    probs, note = post_sampling(lab, prompt, {**params, "seed": 0})
    if probs is None:
        raise LabError(note)
    probs = probs.sort_values(ascending=False)
    probs.attrs.update(mass=float(probs.sum()), note=note)
    return probs


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


# --- one sampler over a grid: prediction, live draws, the check of every cell, the trend with intervals ---

# What every first-token grid of lesson 10 holds fixed (the varied sampler aside): one-token answers, top_p off,
# top_k 20 (the candidates the API returns, so each prediction is exact), min_p and typical_p off, no penalty,
# XTC off (at llama.cpp's own threshold, 0.1, which is then what an XTC grid uses unless told otherwise).
# Every grid holding the same values shares its base cell: the second grid gets it from the response cache.
HELD = {"top_p": 1.0, "max_tokens": 1, "top_k": 20, "min_p": 0.0, "typical_p": 1.0, "presence_penalty": 0.0,
        "xtc_probability": 0.0, "xtc_threshold": 0.1}
_NEUTRAL = {"frequency_penalty": 0.0}


@dataclass
class SamplerGrid:
    """One sampler, prediction first, then a grid of live first tokens: lesson 10's experiment.

    Built from `base` (a `Chain` whose candidates were fetched once, e.g. by `predict`), the sampler `varied`
    and its `values`, at `temperature` with the rest held (`HELD`, changed by `overrides`). No request is
    sent here: `predicted()` is the chain for each value. `held()` gives the other axes of the `Grid` to
    sweep and `scorer` the pass/fail column it scores: a first token the strictest value removes (for a
    cut: top_k, min_p, typical_p, top_p), a token of the prompt (for a penalty), a token that would extend
    a repeat (for DRY: dry_multiplier, dry_base, ...; the breakers held in overrides), or one of the top choices
    XTC removes when it fires (for xtc_probability, the threshold held: its share falls as 1 - q). After the sweep,
    `observe(runs, summary)` (summary from `labutils.summarize`) adds the observed side: `check(value)` is
    the predicted-vs-observed test of one cell, `table()` both sides with 95% intervals, `sentence()` what
    they allow one to say. Taught in notebooks/10_sampler_chain.ipynb.
    """

    base: chain_mod.Chain
    varied: str
    values: list
    temperature: float = 1.0
    overrides: dict[str, Any] = field(default_factory=dict)
    runs: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    checks: dict[Any, SamplerCheck] = field(default_factory=dict)

    def __post_init__(self) -> None:
        allowed = [k for k in chain_mod.LLAMA_DEFAULTS
                   if k not in ("temperature", "xtc_threshold", "dry_sequence_breakers")]
        if self.varied not in allowed:
            raise ParameterError(f"varied={self.varied!r} is not allowed: a SamplerGrid varies one of "
                                 f"{', '.join(allowed)} (for XTC: xtc_probability, with xtc_threshold in "
                                 "overrides; DRY's sequence breakers go in overrides too)")
        self.values = sorted({check(self.varied, v) for v in self.values})
        if len(self.values) < 2:
            raise ParameterError(f"{self.varied}={self.values} is not allowed: a grid needs at least two values")
        self.temperature = check("temperature", self.temperature)
        self.overrides = {k: check(k, v) for k, v in self.overrides.items()}
        self.penalty = self.varied in chain_mod.PENALTIES
        self.dry = self.varied in chain_mod.DRY
        if self.penalty and self.base.seen is None:
            raise LabError("the prompt's tokens are unknown, so a penalty cannot be predicted: build the base chain "
                           f"with `predict(lab, prompt, {self.varied}=1.0)` on the embedded stack")
        if self.dry and self.base.context is None:
            raise LabError("the prompt's tokens are unknown, so DRY cannot be predicted: build the base chain with "
                           "`predict(lab, prompt, dry_multiplier=1.0)` on the embedded stack")
        self.chains = {v: self.base.rerun(self.settings(v)) for v in self.values}
        self.xtc = self.varied == "xtc_probability"
        if self.penalty:
            self.tokens = set(self.base.seen)
            self.metric, self.what = "repeats_prompt", "first tokens that repeat a token of the prompt"
        elif self.dry:  # the tokens some cell's DRY penalises (those holding a sequence breaker never are)
            self.tokens = {t for c in self.chains.values() for t in c.dry_penalties()}
            self.metric, self.what = "extends_repeat", "first tokens that would extend a repeat (DRY's targets)"
        elif self.xtc:  # every value keeps every token some of the time: score the top choices a firing removes
            self.strictest = max(self.values)
            self.threshold = float(self.chains[self.strictest].settings["xtc_threshold"])
            self.kept = set(self.base.rerun({**self.settings(self.strictest), "xtc_probability": 1.0}).final.index)
            self.metric = "removed"
            self.what = f"first tokens that XTC (threshold {self.threshold:g}) removes when it fires"
        else:
            self.strictest = min(self.values, key=lambda v: (len(self.chains[v].final), self.values.index(v)))
            self.kept = set(self.chains[self.strictest].final.index)
            self.metric = "removed"
            self.what = f"first tokens that {self.varied}={self.strictest:g} removes"

    def settings(self, value: Any) -> dict[str, Any]:
        """The chain settings of the cell where the varied sampler is `value`."""
        held = {k: v for k, v in {**HELD, **_NEUTRAL, **self.overrides}.items() if k in chain_mod.OFF}
        return {**held, "temperature": self.temperature, self.varied: value}

    def held(self) -> dict[str, list]:
        """The Grid's other axes, one value each: `Grid(<varied>=values, **grid.held(), samples=...)`."""
        held = {"temperature": self.temperature, **HELD, **self.overrides}
        held.pop(self.varied, None)
        return {k: [v] for k, v in held.items()}

    def request(self, value: Any) -> dict[str, Any]:
        """The sampling parameters the cell at `value` sends (the held ones and the varied one)."""
        return {**{k: v[0] for k, v in self.held().items()}, self.varied: check(self.varied, value)}

    def per_seed(self, lab: Lab, prompt: str | list[dict], n: int = 6, value: Any = None) -> pd.DataFrame:
        """One seeded request is ONE draw of XTC, never the mixture: for the first `n` seeds of the sweep's cell
        at `value` (default: the strictest), the first token the sweep drew, and what the server itself samples
        from for that seed (its post-chain probabilities, one request each) against each branch of the
        prediction (`Chain.branches`): the TV distance to each, the branch it is (TV < 0.01, else 'neither'),
        and whether that branch can give the token drawn."""
        if self.runs is None:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        value = self.default_cell if value is None else check(self.varied, value)
        c, labels = self.chains[value], self.chains[value].branch_labels()
        cell = self.runs[(self.runs[self.varied] == value) & self.runs["error"].isna()].sort_values("sample")
        rows = []
        for seed, text in cell[["seed", "text"]].head(integer("n", n, low=1)).itertuples(index=False):
            probs, note = post_sampling(lab, prompt, {**self.request(value), "seed": int(seed)})
            if probs is None:
                raise LabError(note)
            tvs = [gof.tv_distance(f, probs) for _, f in c.branches]
            best = int(np.argmin(tvs))
            which = labels[best] if tvs[best] < 0.01 else "neither"
            rows.append({"seed": int(seed), "first token drawn": text,
                         **{f"TV to '{label}'": round(tv, 4) for label, tv in zip(labels, tvs)},
                         "the server samples from": which,
                         "token possible there": which != "neither" and c.branches[best][1].get(text, 0.0) > 0})
        return pd.DataFrame(rows)

    @property
    def scorer(self):
        """The pass/fail column of the sweep (see the class docstring), named after `metric`."""
        if self.penalty or self.dry:
            def hit(text: str) -> bool:
                return text in self.tokens
        else:
            def hit(text: str) -> bool:
                return text not in self.kept
        hit.__name__ = self.metric
        return hit

    def share(self, value: Any) -> float:
        """The predicted share of draws that `scorer` passes, for the cell at `value`."""
        final = self.chains[value].final
        if self.penalty or self.dry:
            return float(final[[t in self.tokens for t in final.index]].sum())
        return float(final[[t not in self.kept for t in final.index]].sum())

    def predicted(self, samples: int | None = None) -> pd.DataFrame:
        """One row per value: tokens kept, model mass kept, the top token and its share, the predicted share
        of `what`, and (given `samples`) the distinct first tokens expected in that many draws."""
        rows = []
        for v, c in self.chains.items():
            final = c.final
            row = {self.varied: v, "tokens kept": len(final), "model mass kept": round(c.stages[-1].mass, 3),
                   "top token": final.idxmax(), "top share": round(float(final.max()), 3),
                   f"predicted {self.metric}": round(self.share(v), 3), "exact": c.complete}
            if samples:
                row["expected distinct"] = round(expected_distinct(final, samples), 1)
            rows.append(row)
        return pd.DataFrame(rows)

    def forecast(self) -> str:
        """The prediction in words, before any draw, with the share of the probability the candidates cover."""
        a, b = self.values[0], self.values[-1]
        ca, cb = self.chains[a], self.chains[b]
        inexact = [c for c in self.chains.values() if not c.complete]
        exact = ("exact for every value: no token outside them survives" if not inexact
                 else f"not exact for every value: {inexact[0].why}")
        return (f"Prediction at temperature {self.temperature:g}, from the {len(self.base.stages[0])} candidates "
                f"holding {self.base.coverage:.0%} of the model's probability ({exact}): from {self.varied}={a:g} "
                f"to {b:g} the tokens kept go from {len(ca.final)} to {len(cb.final)}, the largest probability "
                f"left from {ca.final.max():.2f} to {cb.final.max():.2f}, and the share of {self.what} from "
                f"{self.share(a):.2f} to {self.share(b):.2f}.{self._xtc_forecast()}{self._dry_forecast()}")

    def _dry_forecast(self) -> str:
        """For a DRY grid: what DRY finds in the prompt and what each value subtracts from its targets' logits."""
        if not self.dry:
            return ""
        on = {v: c for v, c in self.chains.items() if c.dry is not None}
        if not on:
            return " DRY is off in every cell (multiplier 0, or no window to search)."
        scan = on[self.default_cell].dry if self.default_cell in on else next(iter(on.values())).dry
        if not self.tokens:
            return f" {scan.explain()}"
        cells = []
        for v, c in self.chains.items():
            penalties = sorted(c.dry_penalties().items(), key=lambda kv: -kv[1])[:3]
            cells.append(f"{self.varied}={v:g}: " + (", ".join(f"{t!r} -{p:.2f}" for t, p in penalties) or "none"))
        return (f" {scan.explain()} A target loses dry_multiplier x dry_base^(repeat length - dry_allowed_length) "
                f"from its logit: {'; '.join(cells)}.")

    def _xtc_forecast(self) -> str:
        """For an XTC grid: which tokens a firing removes, and the mixture the prediction is."""
        if not self.xtc:
            return ""
        unfired = self.base.rerun({**self.settings(self.strictest), "xtc_probability": 0.0}).final
        removed = [t for t in unfired.index if t not in self.kept]
        if not removed:
            return (f" Fewer than two tokens reach XTC's threshold {self.threshold:g}, so a firing removes nothing "
                    "here: lower the threshold.")
        return (f" When XTC fires it removes {', '.join(map(repr, removed))} (every token at or above "
                f"{self.threshold:g} but the least likely of them); it fires on a share q of the draws (its own "
                "random draw), so each prediction is the mixture (1 - q) x the chain without XTC + q x the chain "
                "with the cut.")

    def observe(self, runs: pd.DataFrame, summary: pd.DataFrame) -> SamplerGrid:
        """Add the sweep's `runs` (scored by `scorer`) and their `summary`; every cell is checked against its
        prediction (no request). Returns self."""
        if self.varied not in runs.columns or self.metric not in runs.columns:
            raise ValueError(f"runs needs the columns {self.varied!r} and {self.metric!r}: sweep a Grid over "
                             f"{self.varied} with scorers=[this.scorer]")
        found = sorted(runs[self.varied].dropna().unique().tolist())
        if found != self.values:
            raise ValueError(f"the runs vary {self.varied} over {found}, the prediction over {self.values}")
        self.runs, self.summary = runs, summary
        ok = runs[runs["error"].isna()]
        self.checks = {v: check_counts(self.chains[v], ok[ok[self.varied] == v]["text"].value_counts(),
                                       {**self.settings(v)}, runs.attrs.get("messages"))
                       for v in self.values}
        return self

    def check(self, value: Any = None) -> SamplerCheck:
        """The predicted-vs-observed check of one cell (default: the strictest value, or the strongest penalty)."""
        if not self.checks:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        return self.checks[self.default_cell if value is None else check(self.varied, value)]

    @property
    def default_cell(self) -> Any:
        if self.dry:  # the strongest DRY: the smallest predicted share of its targets (allowed_length: the smallest)
            return min(reversed(self.values), key=self.share)
        return self.values[-1] if self.penalty else self.strictest

    def table(self) -> pd.DataFrame:
        """One row per value: predicted and observed share of `what` (95% Wilson interval), distinct first
        tokens (expected and observed), the cell's chi-square p-value and its `verdict`."""
        if self.summary is None:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        lo, hi = intervals.interval_columns(f"{self.metric}_rate")
        s = self.summary.set_index(self.varied)
        rows = []
        for v in self.values:
            c = self.checks[v]
            n = int(s.loc[v, "n"])
            rows.append({self.varied: v, "draws": n, f"predicted {self.metric}": round(self.share(v), 3),
                         f"observed {self.metric}": round(float(s.loc[v, f"{self.metric}_rate"]), 3),
                         "95% interval": intervals.ci_text(s.loc[v, lo], s.loc[v, hi]),
                         "tokens kept": len(self.chains[v].final),
                         "expected distinct": round(expected_distinct(self.chains[v].final, n), 1),
                         "observed distinct": round(float(s.loc[v, "unique_frac"]) * n),
                         "chi-square p": round(c.fit.p_value, 3), "check": self.verdict(v)})
        return pd.DataFrame(rows)

    def verdict(self, value: Any) -> str:
        """'agrees', 'disagrees', or 'too few draws' (every token expected fewer than 5 times: no test)."""
        c = self.checks[value]
        if c.fit.df == 0 and not c.fit.impossible:
            return "too few draws"
        return "agrees" if c.agrees else "disagrees"

    def sentence(self, tests: bool = True) -> str:
        """What the run allows one to say about the trend of `what`, read from the intervals of the two ends
        of the grid (`labutils.intervals.trend`), with the prediction next to it; then (`tests=True`) the
        cells' checks, or (`tests=False`, lesson 10, before the test is taught) only the tokens drawn that the
        prediction says are impossible."""
        if self.summary is None:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        metric = f"{self.metric}_rate"
        lo, hi = intervals.interval_columns(metric)
        s = self.summary.set_index(self.varied)
        a, b = self.values[0], self.values[-1]

        word = intervals.trend(self.summary, metric, self.varied)
        # two decimals, unless at two decimals the intervals would seem to touch when they overlap (or the
        # reverse): then three, so the printed bounds show what the verdict reads
        ends = [s.loc[a, lo], s.loc[a, hi], s.loc[b, lo], s.loc[b, hi]]
        apart = word in ("rises", "falls")
        digits = 2
        if not any(pd.isna(x) for x in ends):
            r = [round(float(x), 2) for x in ends]
            if (r[2] > r[1] or r[0] > r[3]) != apart or r[2] == r[1] or r[0] == r[3]:
                digits = 3

        def cell(v: Any) -> str:
            return f"{s.loc[v, metric]:.{digits}f} {intervals.ci_text(s.loc[v, lo], s.loc[v, hi], digits)}"

        predicted = f"predicted {self.share(a):.2f} -> {self.share(b):.2f}"
        if word in ("rises", "falls"):
            head = (f"The share of {self.what} {word} from {cell(a)} at {self.varied}={a:g} to {cell(b)} at "
                    f"{self.varied}={b:g} (95% intervals; {predicted}).")
        else:
            why = "the intervals overlap, so " if word != intervals.CANT_TELL else ""
            head = (f"The share of {self.what}: {cell(a)} at {self.varied}={a:g}, {cell(b)} at {self.varied}={b:g} "
                    f"({predicted}): {why}this run {intervals.CANT_TELL}.")
        if not tests:
            ok = self.runs[self.runs["error"].isna()]
            cut = {v: int((~ok[ok[self.varied] == v]["text"].isin(self.chains[v].final.index)).sum())
                   for v in self.values if self.chains[v].complete}
            if not cut:
                return head
            if not any(cut.values()):
                return head + " Every token drawn is one the prediction keeps for its cell."
            return head + " Tokens the prediction removes were drawn: " + ", ".join(
                f"{n} at {self.varied}={v:g}" for v, n in cut.items() if n) + " (lesson 11 tests such a disagreement)."
        verdicts = {v: self.verdict(v) for v in self.values}
        tested = [v for v in self.values if verdicts[v] != "too few draws"]
        agree = [v for v in tested if verdicts[v] == "agrees"]
        tail = ""
        if tested:
            tail = (f" The draws of {len(agree)} of {len(tested)} tested cells agree with their prediction "
                    f"(chi-square, {ALPHA:.0%} level).")
        if len(tested) < len(self.values):
            few = ", ".join(f"{self.varied}={v:g}" for v in self.values if v not in tested)
            tail += f" {few}: too few draws to test against the prediction, raise SAMPLES."
        for v in tested:
            if verdicts[v] == "disagrees":
                tail += f" {self.varied}={v:g}: {self.checks[v].diagnosis()}"
        return head + tail

    def plot(self, ax=None):
        from .sampler_plots import grid_reading

        return grid_reading(self, ax=ax)


def expected_distinct(probs: pd.Series, n: int) -> float:
    """The number of distinct tokens expected among `n` independent draws from `probs`:
    sum_i 1 - (1 - p_i)^n."""
    p = np.asarray(probs, dtype=float)
    return float((1 - (1 - p) ** n).sum())


__all__ = ["ALPHA", "HELD", "OTHER", "SamplerCheck", "SamplerGrid", "check_counts", "check_sampler",
           "expected_distinct", "post_sampling", "predict", "prompt_tokens", "prompt_window", "server_view"]
