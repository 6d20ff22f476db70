"""A look inside the sampler: the real next-token distribution, and what temperature and top_p do to it.

`next_token_distribution` asks the server for the top log-probabilities of the NEXT token (one request,
max_tokens=1, temperature=0). The math is then done locally, over those top-k tokens only:

- temperature: p_i = exp(l_i / T) / sum_j exp(l_j / T), with l_i the log-probabilities. T < 1 sharpens,
  T > 1 flattens, T = 1 gives back the model's probabilities (renormalised over the k tokens), and
  T = 0 is the limit: all mass on the most likely token (greedy decoding).
- top_p (nucleus): sort tokens by probability, highest first, and keep the smallest prefix whose
  cumulative probability is >= top_p; the kept probabilities are renormalised to sum to 1
  (top_p = 1 keeps everything, as llama.cpp does).

Order matters. The textbook order (Hugging Face transformers, vLLM) applies temperature first and then
the nucleus ("temperature_first", the default here). llama.cpp, the engine of the embedded stack, cuts
the nucleus on the temperature-1 probabilities and then applies temperature to what is left
("top_p_first"); it also applies top_k=40 and min_p=0.05 by default. Pass `order=` to see either.
Taught in notebooks/03_top_p.ipynb (and 02_temperature.ipynb for temperature).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from ..errors import LabError, ParameterError
from ..params import PARAMS, check, choice, integer

if TYPE_CHECKING:
    from ..client.lab import Lab

ORDERS = ("temperature_first", "top_p_first")


@dataclass
class TokenDistribution:
    """The server's top-k candidates for the next token, most likely first.

    `logprobs` are the model's real log-probabilities (over the whole vocabulary); `coverage` is the
    share of the probability the k tokens hold together; `chosen` is the token the server picked at
    temperature 0. Taught in notebooks/03_top_p.ipynb.
    """

    tokens: list[str]
    logprobs: list[float]
    chosen: str | None = None
    messages: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.tokens, (list, tuple)) or not all(isinstance(t, str) for t in self.tokens):
            raise ParameterError(f"tokens={self.tokens!r} is not allowed: tokens must be a list of strings")
        self.logprobs = _logprob_array(self.logprobs).tolist() if len(self.logprobs) == len(self.tokens) \
            else list(self.logprobs)
        if len(self.tokens) != len(self.logprobs) or not self.tokens:
            raise ParameterError(f"a TokenDistribution needs as many tokens as logprobs, at least one: got "
                             f"{len(self.tokens)} tokens and {len(self.logprobs)} logprobs")
        order = sorted(range(len(self.tokens)), key=lambda i: -self.logprobs[i])  # stable: ties keep order
        self.tokens = [self.tokens[i] for i in order]
        self.logprobs = [float(self.logprobs[i]) for i in order]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def probs(self) -> np.ndarray:
        """The model's probabilities exp(logprob) of the k tokens (they sum to `coverage`, not to 1)."""
        return np.exp(np.asarray(self.logprobs, dtype=float))

    @property
    def coverage(self) -> float:
        """How much of the total probability the k tokens hold (1.0 = all of it)."""
        return float(self.probs.sum())

    def to_frame(self) -> pd.DataFrame:
        """One row per token: token, logprob, prob (the model's), prob_renorm (over the k tokens)."""
        p = self.probs
        return pd.DataFrame({"token": self.tokens, "logprob": self.logprobs, "prob": p, "prob_renorm": p / p.sum()})

    def _repr_html_(self) -> str:
        head = (f"<p>Next-token candidates: top {len(self)} hold {self.coverage:.0%} of the probability; "
                f"chosen at temperature 0: <code>{_html(show_token(self.chosen or ''))}</code></p>")
        frame = self.to_frame().assign(token=lambda d: d["token"].map(show_token))
        return head + frame.to_html(index=False, float_format=lambda v: f"{v:.4f}")


def show_token(token: str) -> str:
    """A token made visible: spaces as ␣, newlines as ↵, tabs as \\t (so ' the' and 'the' differ)."""
    return token.replace(" ", "␣").replace("\n", "↵").replace("\t", "\\t") if token else "∅"


def _html(text: str) -> str:
    import html

    return html.escape(text)


def next_token_distribution(lab: Lab, prompt: str | list[dict], top_k: int = 20, *,
                            system: str | None = None) -> TokenDistribution:
    """Ask the server for the `top_k` most likely next tokens and their real log-probabilities.

    One request: `lab.chat(prompt, max_tokens=1, temperature=0, logprobs=True, top_logprobs=top_k)`.
    `top_k` is 1 to 20 (the API's top_logprobs limit).

    >>> dist = next_token_distribution(lab, "The capital of France is")  # doctest: +SKIP
    >>> dist.tokens[0] == dist.chosen  # doctest: +SKIP
    True

    Taught in notebooks/03_top_p.ipynb.
    """
    top_k = integer("top_k", top_k, 1, int(PARAMS["top_logprobs"].high), why=" (the API's top_logprobs limit)")
    done = lab.chat(prompt, system=system, max_tokens=1, temperature=0, logprobs=True, top_logprobs=top_k)
    if not done.logprobs or not done.logprobs[0].get("top"):
        raise LabError(f"{lab.base_url} returned no logprobs for model {lab.model!r}: this distribution does "
                       "not support logprobs=True/top_logprobs, so the next-token view cannot be shown")
    first = done.logprobs[0]
    tokens, logprobs = zip(*first["top"])
    return TokenDistribution(list(tokens), list(logprobs), chosen=first["token"], messages=done.messages)


def _numbers(name: str, values: Any, what: str) -> np.ndarray:
    """`values` as a 1-D float array, refused (naming `name`) unless it is a flat sequence of real numbers."""
    try:
        raw = np.asarray(values)
    except (ValueError, TypeError):  # ragged nested lists
        raw = np.asarray(values, dtype=object)
    if raw.dtype.kind not in "iuf":
        raise ParameterError(f"{name}={values!r} is not allowed: {name} must be {what}, numbers (not strings or "
                             "booleans)")
    if raw.ndim != 1:
        raise ParameterError(f"{name} is not allowed with shape {raw.shape}: {name} must be one-dimensional, "
                             f"{what} (one per token)")
    return raw.astype(float)


def _logprob_array(logprobs: Any) -> np.ndarray:
    if isinstance(logprobs, TokenDistribution):
        logprobs = logprobs.logprobs
    arr = _numbers("logprobs", logprobs, "log-probabilities")
    if (arr > 1e-6).any():
        raise ParameterError(f"logprobs={arr.tolist()} is not allowed: log-probabilities are <= 0 (a probability "
                             "is at most 1); pass log(p), e.g. dist.logprobs, not probabilities")
    if arr.size == 0:
        raise ParameterError("logprobs is empty: pass at least one log-probability (e.g. dist.logprobs)")
    if np.isnan(arr).any() or np.isposinf(arr).any() or not np.isfinite(arr).any():
        raise ParameterError(f"logprobs must be finite numbers (-inf allowed for impossible tokens, but not all): "
                         f"got {arr.tolist()}")
    return arr


def apply_temperature(logprobs: Sequence[float] | np.ndarray | TokenDistribution, t: float) -> np.ndarray:
    """Probabilities after temperature `t`, renormalised over the given tokens.

    p_i = exp(l_i / t) / sum_j exp(l_j / t)   (computed as softmax of (l - max l) / t, so it never overflows).
    t = 0 is the greedy limit: probability 1 on the argmax (the first one on ties), 0 elsewhere.
    `t` must be in [0, 2], the range the lab allows everywhere. Taught in notebooks/02_temperature.ipynb.

    >>> apply_temperature(np.log([0.5, 0.25, 0.25]), 1.0).round(2).tolist()
    [0.5, 0.25, 0.25]
    """
    t = check("temperature", t)
    lp = _logprob_array(logprobs)
    if t == 0:
        out = np.zeros_like(lp)
        out[int(np.argmax(lp))] = 1.0
        return out
    z = (lp - lp.max()) / t
    e = np.exp(z)
    return e / e.sum()


class Nucleus(NamedTuple):
    """What top_p keeps: `kept` (boolean mask, in the input's order) and `probs` (renormalised, 0 where cut)."""

    kept: np.ndarray
    probs: np.ndarray


def nucleus(probs: Sequence[float] | np.ndarray, top_p: float) -> Nucleus:
    """The nucleus: the smallest set of tokens, highest probability first, whose total is >= top_p.

    Probabilities are first normalised to sum to 1. Token i (in descending order) is kept when the
    probability of the tokens before it is still < top_p; the kept ones are renormalised:
    p'_i = p_i / sum_{kept} p_j, and p'_i = 0 for cut tokens. top_p = 1 keeps every token; at least one
    token is always kept. `top_p` must be in (0, 1]. Taught in notebooks/03_top_p.ipynb.

    >>> nucleus([0.5, 0.3, 0.2], 0.7).kept.tolist()
    [True, True, False]
    """
    top_p = check("top_p", top_p)
    p = _numbers("probs", probs, "probabilities")
    if p.size == 0:
        raise ParameterError("probs is empty: pass at least one probability")
    if not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise ParameterError(f"probs must be finite, non-negative and not all zero: got {p.tolist()}")
    p = p / p.sum()
    if top_p >= 1.0:
        return Nucleus(np.ones(p.size, dtype=bool), p)
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(p[order]) - p[order]  # mass of the tokens ranked above each one
    keep_sorted = before < top_p
    keep_sorted[0] = True
    kept = np.zeros(p.size, dtype=bool)
    kept[order[keep_sorted]] = True
    out = np.where(kept, p, 0.0)
    return Nucleus(kept, out / out.sum())


@dataclass
class Sampled:
    """Every stage of one sampling step: `before` (temperature 1), `tempered` (temperature t, nothing cut),
    `kept` (the nucleus mask) and `after` (what is actually sampled from)."""

    before: np.ndarray
    tempered: np.ndarray
    kept: np.ndarray
    after: np.ndarray
    temperature: float
    top_p: float
    order: str


def apply_sampling(logprobs: Sequence[float] | np.ndarray | TokenDistribution, temperature: float = 1.0,
                   top_p: float = 1.0, order: str = "temperature_first") -> Sampled:
    """Temperature and top_p together, in the given `order` (see the module docstring).

    "temperature_first": after = nucleus(apply_temperature(l, T), top_p).
    "top_p_first" (llama.cpp): the nucleus is cut on apply_temperature(l, 1); then temperature T is
    applied to the kept tokens only. Taught in notebooks/03_top_p.ipynb.
    """
    choice("order", order, ORDERS)
    before = apply_temperature(logprobs, 1.0)
    tempered = apply_temperature(logprobs, temperature)
    if order == "temperature_first":
        kept, after = nucleus(tempered, top_p)
    else:
        kept = nucleus(before, top_p).kept
        lp = _logprob_array(logprobs)
        after = np.zeros_like(lp)
        after[kept] = apply_temperature(lp[kept], temperature)
    return Sampled(before, tempered, kept, after, check("temperature", temperature), check("top_p", top_p), order)


__all__ = ["ORDERS", "Nucleus", "Sampled", "TokenDistribution", "apply_sampling", "apply_temperature",
           "next_token_distribution", "nucleus", "show_token"]

