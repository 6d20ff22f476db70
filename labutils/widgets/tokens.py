"""Views of the sampler lab: the chain one stage at a time for the current settings (`chain_view`, and
`ChainFold` under the playground's "advanced" fold), and an answer token by token with "continue from
this alternative" (`token_view`).

Thin views over `labutils.sampler.predict` / `labutils.sampler.chain.run_chain` and
`labutils.sampler.answer_tokens` / `continue_from`; tests drive them by setting values and calling `.run()`.
Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import pandas as pd

from ..params import PARAMS
from ..sampler import chain as chain_mod
from ..sampler.check import server_distance
from ..sampler.distribution import show_token
from ..sampler.prediction import post_sampling, predict
from ..sampler.tokens import answer_tokens, continue_from
from .base import RunPanel, answer_box, checked, prompt_boxes, set_text
from .controls import slider

if TYPE_CHECKING:
    from ..client.lab import Lab

CHAIN_PARAMS = ("temperature", "top_k", "top_p", "min_p", "typical_p")


class ChainView(RunPanel):
    """Sliders for the modelled samplers; `run()` fetches the prompt's candidates once (one request per
    prompt) and shows the stage table, with the mass each stage keeps and whether the prediction is exact."""

    fallback = "(chain view: run the notebook in Jupyter for the sliders; the stage table is printed below)"

    def __init__(self, lab: Lab, prompt: str = "The capital of France is"):
        super().__init__(W.Button(description="Show the chain", button_style="primary"))
        self.lab = lab
        _, self.prompt = prompt_boxes(prompt, None)
        self.sliders = {n: slider(n, PARAMS[n].default) for n in CHAIN_PARAMS}
        for s in self.sliders.values():
            s.observe(lambda _: self._redraw(), names="value")
        self.out = answer_box()
        self._candidates: dict[str, tuple[list[str], list[float], list[str]]] = {}
        self.chain: chain_mod.Chain | None = None
        self._build([self.prompt, *self.sliders.values(), self.run_button, self.status, self.out])

    @property
    def settings(self) -> dict[str, Any]:
        return {n: s.value for n, s in self.sliders.items()}

    def _work(self) -> chain_mod.Chain:
        text = self.prompt.value
        if text not in self._candidates:
            first = predict(self.lab, text, **self.settings)
            self._candidates[text] = (first.stages[0].tokens, list(first.stages[0].logits), first.order)
        return self._redraw()

    def _redraw(self) -> chain_mod.Chain | None:
        cached = self._candidates.get(self.prompt.value)
        if cached is None:
            return None
        tokens, logprobs, order = cached
        self.chain = chain_mod.run_chain(tokens, logprobs, self.settings, order)
        exact = "exact" if self.chain.complete else f"NOT exact: {self.chain.why}"
        set_text(self.out, f"{self.chain.table().to_string(index=False)}\n\nThe {len(tokens)} candidates cover "
                           f"{self.chain.coverage:.1%} of the probability; this prediction is {exact}.")
        return self.chain

    def _ok(self, result: Any) -> str:
        return "" if result is None else f"{len(result.final)} token(s) left to sample from"

    def summary(self) -> str:
        return self.chain.table().to_string(index=False) if self.chain is not None else "(not run yet)"


def chain_view(lab: Lab, prompt: str = "The capital of France is") -> ChainView:
    """The sampler chain, stage by stage, for the slider settings. Taught in notebooks/10_sampler_chain.ipynb."""
    checked("chain_view", lab, texts={"prompt": prompt})
    return ChainView(lab, prompt)


def chain_report(chain: chain_mod.Chain, params: dict[str, Any], server: pd.Series | None = None,
                 note: str = "") -> str:
    """The chain in plain words and numbers: the stage table, how much the candidates cover, whether the
    prediction is exact, the samplers it leaves out, and how far the server's own distribution is from it."""
    exact = "exact" if chain.complete else f"NOT exact: {chain.why}"
    lines = [chain.table().to_string(index=False), "",
             f"The {len(chain.stages[0])} candidates cover {chain.coverage:.1%} of the model's probability; "
             f"{len(chain.final)} token(s) are left to sample from; this prediction is {exact}."]
    left_out = chain_mod.unpredicted(params, prompt_known=chain.prompt_known)
    if left_out:
        lines.append(f"Not in the prediction: {', '.join(f'{k}={params[k]:g}' for k in left_out)} (repeat_penalty "
                     "needs the raw logits; the penalties and DRY the prompt's tokens, which a remote distribution "
                     "does not give); the server's own probabilities include them.")
    if chain.dry is not None:
        lines.append(chain.dry.explain())
    if server is not None:
        lines.append(f"The server's own post-chain probabilities (one seeded request): {len(server)} tokens holding "
                     f"{server.sum():.1%} of what it samples from, {server_distance(chain, server)}.")
    elif note:
        lines.append(f"The server's own post-chain probabilities: {note}.")
    return "\n".join(lines)


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes, closed afterwards (so a notebook does not also show it)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


class ChainFold(RunPanel):
    """The chain for a panel's current prompt and settings, one stage at a time: the candidates after each
    stage (penalties, DRY, top_k, typical_p, top_p, min_p, XTC, temperature) with the model's probability
    each keeps, as a table and a plot, next to what the server itself says it samples from.

    Lives under the playground's "advanced" fold. Nothing is sent until its button is pressed (`run()`);
    then two one-token requests: the next token's top-20 candidates (`sampler_check.predict`) and the
    server's post-chain probabilities (`sampler_check.post_sampling`). `request()` returns (messages,
    params) from the panel. A failure shows in `status` in plain words; `summary()` is the plain-text view.
    """

    fallback = "(the chain for these settings: open this notebook in JupyterLab for the plot; the stages are below)"
    busy = "asking the server for the next token's candidates…"

    def __init__(self, lab: Lab, request: Callable[[], tuple[list[dict], dict[str, Any]]]):
        super().__init__(W.Button(description="show the chain for these settings", icon="list-ol",
                                  layout=W.Layout(width="auto"),
                                  tooltip="one request for the next token's candidates, one for the server's own "
                                          "probabilities: nothing is sent before you press it"))
        self.lab, self.request = lab, request
        self.table = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.chain: chain_mod.Chain | None = None
        self.server: pd.Series | None = None
        self.params: dict[str, Any] = {}
        self.note = ""
        self._build([W.HBox([self.run_button, self.status]), self.table, self.image])

    def _start(self) -> None:
        self.chain, self.server, self.note = None, None, ""
        self.table.value, self.image.value = "", b""

    def _work(self) -> chain_mod.Chain:
        messages, params = self.request()
        sent = {k: v for k, v in params.items() if k != "max_tokens"}  # the chain is about the next token only
        chain = predict(self.lab, messages, **sent)
        self.server, self.note = post_sampling(self.lab, messages, sent)
        self.chain, self.params = chain, sent
        self._show()
        return chain

    def _show(self) -> None:
        from ..sampler.plots import chain_stages

        chain = self.chain
        frame = chain.frame().head(12)
        if self.server is not None:
            frame["server says"] = self.server.reindex(frame.index).fillna(0.0)
        frame.index = [show_token(t) for t in frame.index]
        words = html.escape(chain_report(chain, self.params, self.server, self.note)
                            .split("\n\n", 1)[1]).replace("\n", "<br>")
        self.table.value = (chain.table().to_html(index=False, classes="lab-chain")
                            + f"<p style='font-size:12px'>{words}</p>"
                            + frame.to_html(float_format=lambda v: f"{v:.3f}", classes="lab-chain"))
        self.image.value = figure_png(chain_stages(chain))

    def _ok(self, chain: chain_mod.Chain) -> str:
        exact = "exact" if chain.complete else "not exact"
        return (f"{len(chain.final)} token(s) left to sample from · candidates cover {chain.coverage:.0%} · "
                f"prediction {exact}")

    def stale(self) -> None:
        """An input changed: the chain shown no longer describes the settings (nothing is sent)."""
        if self.chain is not None:
            self.status.value = "<i>settings changed since: press the button to show their chain</i>"

    def summary(self) -> str:
        if self.chain is None:
            return "(press 'show the chain for these settings')"
        return chain_report(self.chain, self.params, self.server, self.note)


class TokenPanel(RunPanel):
    """Run a prompt, see its answer coloured token by token, pick a position and an alternative, continue."""

    fallback = "(token view: run the notebook in Jupyter to pick alternatives; the answer's tokens are below)"

    def __init__(self, lab: Lab, prompt: str, **params: Any):
        super().__init__(W.Button(description="Answer", button_style="primary"))
        self.lab, self.params = lab, {"temperature": 0, "max_tokens": 24, **params}
        _, self.prompt = prompt_boxes(prompt, None)
        self.tokens_html = W.HTML()
        self.position = W.Dropdown(description="position", options=[])
        self.alternative = W.Dropdown(description="alternative", options=[])
        self.position.observe(lambda _: self._alternatives(), names="value")
        self.go = W.Button(description="Continue from it")
        self.go.on_click(lambda _: self.fork())
        self.fork_out = answer_box()
        self.view = None
        self.forked: list[str] = []
        self._build([self.prompt, self.run_button, self.status, self.tokens_html,
                     W.HBox([self.position, self.alternative, self.go]), self.fork_out])

    def _work(self):
        self.view = answer_tokens(self.lab, self.prompt.value, **self.params)
        self.tokens_html.value = self.view.html()
        self.position.options = [(f"#{i} {show_token(t)} ({p:.2f})", i)
                                 for i, (t, p) in enumerate(zip(self.view.tokens, self.view.probs))]
        return self.view

    def _alternatives(self) -> None:
        if self.view is None or self.position.value is None:
            return
        alts = self.view.alternatives[self.position.value]
        self.alternative.options = [(f"{show_token(a)} ({p:.2f})", a) for a, p in alts]

    def fork(self) -> str | None:
        """Continue the answer from the chosen position with the chosen alternative; the new answer."""
        if self.view is None or self.position.value is None or not self.alternative.value:
            return None
        try:
            text = continue_from(self.lab, self.view, self.position.value, self.alternative.value)
        except Exception as e:  # shown, never raised: the panel stays usable
            set_text(self.fork_out, f"failed: {e}", "stderr")
            return None
        self.forked.append(text)
        set_text(self.fork_out, text)
        return text

    def summary(self) -> str:
        return self.view.frame().to_string() if self.view is not None else "(not run yet)"


def token_view(lab: Lab, prompt: str, **params: Any) -> TokenPanel:
    """An answer token by token, with "continue from this alternative". Taught in notebooks/10_sampler_chain.ipynb."""
    checked("token_view", lab, texts={"prompt": prompt}, params=params)
    return TokenPanel(lab, prompt, **params)


__all__ = ["ChainFold", "ChainView", "TokenPanel", "chain_report", "chain_view", "token_view"]
