"""Two views of the sampler lab: the chain one stage at a time for the current settings (`chain_view`),
and an answer token by token with "continue from this alternative" (`token_view`).

Thin views over `labutils.sampler_check.predict` / `labutils.chain.run_chain` and
`labutils.tokens.answer_tokens` / `continue_from`; tests drive them by setting values and calling `.run()`.
Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as W

from .. import chain as chain_mod
from ..sampler_check import predict
from ..sampling import show_token
from ..tokens import answer_tokens, continue_from
from .base import RunPanel, answer_box, prompt_boxes, set_text
from .controls import slider

if TYPE_CHECKING:
    from ..client import Lab

CHAIN_PARAMS = ("temperature", "top_k", "top_p", "min_p", "typical_p")


class ChainView(RunPanel):
    """Sliders for the modelled samplers; `run()` fetches the prompt's candidates once (one request per
    prompt) and shows the stage table, with the mass each stage keeps and whether the prediction is exact."""

    fallback = "(chain view: run the notebook in Jupyter for the sliders; the stage table is printed below)"

    def __init__(self, lab: Lab, prompt: str = "The capital of France is"):
        super().__init__(W.Button(description="Show the chain", button_style="primary"))
        self.lab = lab
        _, self.prompt = prompt_boxes(prompt, None)
        self.sliders = {n: slider(n, chain_mod.LLAMA_DEFAULTS[n]) for n in CHAIN_PARAMS}
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
    return ChainView(lab, prompt)


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
    return TokenPanel(lab, prompt, **params)


__all__ = ["ChainView", "TokenPanel", "chain_view", "token_view"]
