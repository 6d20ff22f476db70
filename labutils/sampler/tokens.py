"""The token-level view of an answer: every token with its probability and its top alternatives, and
"continue from this alternative" to see where the answer could have gone.

`answer_tokens(lab, prompt, ...)` sends one request with logprobs and returns a `TokenView`; its HTML
colours each token by the probability the model gave it (red = unlikely, green = likely) and shows the
alternatives on hover. `continue_from(lab, view, i, alternative)` sends the answer's first i tokens plus
the alternative as the start of the assistant's reply (llama-server continues a final assistant message:
its `--prefill-assistant` default) and returns the new answer. Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import LabError, ParameterError
from ..params import integer
from .distribution import show_token

if TYPE_CHECKING:
    from ..client.lab import Lab

ALTERNATIVES = 5


@dataclass
class TokenView:
    """One answer, token by token: `tokens`, their probabilities `probs`, and `alternatives` (per token, a
    list of (token, probability), the model's top candidates, the chosen one included)."""

    messages: list[dict]
    tokens: list[str]
    probs: list[float]
    alternatives: list[list[tuple[str, float]]]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def frame(self) -> pd.DataFrame:
        """One row per token: position, token, probability, the top alternatives and the mass they cover."""
        return pd.DataFrame({
            "token": [show_token(t) for t in self.tokens], "prob": self.probs,
            "alternatives": [", ".join(f"{show_token(a)} {p:.2f}" for a, p in alts) for alts in self.alternatives],
            "mass shown": [sum(p for _, p in alts) for alts in self.alternatives]})

    def forks(self, threshold: float = 0.5) -> pd.DataFrame:
        """The positions where the chosen token had probability below `threshold`: where the answer could fork."""
        f = self.frame()
        return f[f.prob < threshold]

    def html(self) -> str:
        spans = []
        for i, (t, p, alts) in enumerate(zip(self.tokens, self.probs, self.alternatives)):
            hue = int(120 * p)  # 0 = red (unlikely) .. 120 = green (certain)
            tip = " | ".join(f"{a!r} {q:.3f}" for a, q in alts)
            tip += f" | shown: {sum(q for _, q in alts):.0%} of the mass"
            spans.append(f'<span title="#{i}: {html.escape(tip)}" style="background:hsl({hue},70%,80%);'
                         f'padding:1px;border-radius:2px">{html.escape(t)}</span>')
        low = sum(p < 0.5 for p in self.probs)
        return (f"<div style='line-height:1.9'>{''.join(spans)}</div><p><small>{len(self.tokens)} tokens, {low} "
                "chosen with probability < 0.5; hover a token for its alternatives and the share of the "
                "probability they cover.</small></p>")

    def _repr_html_(self) -> str:
        return self.html()


def answer_tokens(lab: Lab, prompt: str | list[dict], *, alternatives: int = ALTERNATIVES, system: str | None = None,
                  **params: Any) -> TokenView:
    """Send `prompt` once with logprobs and return the answer's `TokenView`.

    >>> view = answer_tokens(lab, "The capital of France is", temperature=0, max_tokens=12)  # doctest: +SKIP
    """
    alternatives = integer("alternatives", alternatives, 1, 20, why=" (the API's top_logprobs limit)")
    done = lab.send(prompt, {**params, "logprobs": True, "top_logprobs": alternatives}, system=system)
    if not done.logprobs:
        raise LabError("the server returned no logprobs, so the token view cannot be shown")
    tokens = [t["token"] for t in done.logprobs]
    probs = [math.exp(t["logprob"]) if t["logprob"] is not None else math.nan for t in done.logprobs]
    alts = [[(a, math.exp(lp)) for a, lp in t["top"]] for t in done.logprobs]
    return TokenView(done.messages, tokens, probs, alts, dict(done.params))


def continue_from(lab: Lab, view: TokenView, index: int, alternative: str, **params: Any) -> str:
    """The answer that starts with the view's first `index` tokens, then `alternative`, and goes on.

    The prefix is sent as a final assistant message, which llama-server continues; what comes back is the
    whole new answer (prefix included). `params` default to the view's (max_tokens, temperature, seed...).
    """
    index = integer("index", index, 0, len(view.tokens) - 1)
    if not isinstance(alternative, str) or not alternative:
        raise ParameterError(f"alternative={alternative!r} is not allowed: pass one of the token strings shown")
    prefix = "".join(view.tokens[:index]) + alternative
    if not prefix.strip():
        raise ParameterError("the prefix is only whitespace: pick a later position or another alternative")
    sent = {k: v for k, v in {**view.params, **params}.items() if k not in ("logprobs", "top_logprobs")}
    done = lab.send([*view.messages, {"role": "assistant", "content": prefix}], sent)
    text = done.text
    return text if text.startswith(prefix) else prefix + text


__all__ = ["TokenView", "answer_tokens", "continue_from"]
