"""The A/B panel: two parameter sets on one prompt, answers side by side, metrics and a word diff.

A view over `labutils.ab.send_pair`. When the stack lists several models, each side has a model
menu, so A and B may also be two models. Taught in notebooks/05_playground.ipynb and (two models)
notebooks/13_models_side_by_side.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import llama_stack_client

from ..lessons.ab import pair_result, send_pair
from ..params import MODEL
from ..views._frames import short
from .base import RunPanel, answer_box, checked, output_text, prompt_boxes, set_text
from .controls import Params

if TYPE_CHECKING:
    from ..client.lab import Lab


class ABPanel(RunPanel):
    """Two parameter panels (A and B) on one prompt: both answers side by side, their metrics and a word diff.

    `run()` sends A and B (together when the stack answers two at once); `swap()` exchanges the panels
    (and their answers); `copy_a_to_b()` copies A's parameters (and model) to B. `model_a`/`model_b` pick
    each side's model (shown when the stack lists more than one). Taught in notebooks/05_playground.ipynb.
    """

    def __init__(self, lab: Lab, prompt: str | None = None, system: str | None = None):
        super().__init__(W.Button(description="Run A and B", button_style="primary", icon="play"))
        self.lab = lab
        self.a = Params(lab, temperature=0.0)
        self.b = Params(lab, temperature=1.5)
        self.model_a, self.model_b = _model_menu(lab), _model_menu(lab)
        self.system, self.prompt = prompt_boxes(prompt, system)
        self.swap_button = W.Button(description="swap", icon="exchange")
        self.copy_button = W.Button(description="copy A to B", icon="copy")
        self.output_a, self.output_b = answer_box(), answer_box()
        self.metrics_view, self.diff_view = W.HTML(), W.HTML()
        self.result: dict[str, Any] | None = None
        self.swap_button.on_click(lambda _: self.swap())
        self.copy_button.on_click(lambda _: self.copy_a_to_b())
        half = W.Layout(width="50%")
        sides = W.HBox([W.VBox([W.HTML("<b>A</b>"), self.model_a, self.a.box, self.output_a], layout=half),
                        W.VBox([W.HTML("<b>B</b>"), self.model_b, self.b.box, self.output_b], layout=half)])
        self._build([self.system, self.prompt,
                     W.HBox([self.run_button, self.swap_button, self.copy_button, self.status]),
                     sides, self.metrics_view, self.diff_view])

    def summary(self) -> str:
        lines = [f"Compare: A {self._model_note(self.model_a)}{self.a.describe()} | "
                 f"B {self._model_note(self.model_b)}{self.b.describe()}",
                 f"prompt: {short(self.prompt.value) or '(empty)'}"]
        if self.result:
            lines += [f"A: {short(self.result['a'].text)}", f"B: {short(self.result['b'].text)}",
                      f"diff: {short(str(self.result['diff']), 120)}"]
        return "\n".join(lines)

    def _model_note(self, menu: W.Dropdown) -> str:
        return "" if self.model_a.value == self.model_b.value else f"model={menu.value} "

    def _side(self, params: Params, menu: W.Dropdown) -> dict[str, Any]:
        """What one side sends: its parameters, and its model when it is not the lab's."""
        return {**params.values(), **({MODEL: menu.value} if menu.value != self.lab.model else {})}

    @property
    def answers(self) -> tuple[str, str]:
        """The texts shown under A and B."""
        return output_text(self.output_a), output_text(self.output_b)

    def _start(self) -> None:
        self.result = None
        self._show_result()

    def _work(self) -> dict[str, Any]:
        streams: dict[str, list[str]] = {"a": [], "b": []}

        def streamer(side: str, out: W.Output) -> Callable[[str], None]:
            def on_token(piece: str) -> None:
                streams[side].append(piece)
                set_text(out, "".join(streams[side]))
            return on_token

        return send_pair(self.lab, self.prompt.value, self._side(self.a, self.model_a),
                            self._side(self.b, self.model_b),
                            system=self.system.value.strip() or None,
                            on_token_a=streamer("a", self.output_a), on_token_b=streamer("b", self.output_b))

    def _ok(self, result: dict[str, Any]) -> str:
        self.result = result
        self._show_result()
        return ""

    def _show_result(self) -> None:
        r = self.result
        if r is None:
            for out in (self.output_a, self.output_b):
                set_text(out, "")
            self.metrics_view.value = self.diff_view.value = ""
            return
        set_text(self.output_a, r["a"].text)
        set_text(self.output_b, r["b"].text)
        self.metrics_view.value = r["metrics"].to_html(float_format=lambda v: f"{v:.2f}", na_rep="")
        self.diff_view.value = "<b>Word diff (A → B)</b>" + r["diff"]._repr_html_()

    def swap(self) -> None:
        """Exchange A's and B's parameters and models, and their answers, so each answer stays under its
        parameters."""
        a, b = self.a.state(), self.b.state()
        self.a.set(b)
        self.b.set(a)
        self.model_a.value, self.model_b.value = self.model_b.value, self.model_a.value
        if self.result:
            self.result = pair_result(self.result["b"], self.result["a"])
        self._show_result()

    def copy_a_to_b(self) -> None:
        """Give B the same parameters (and model) as A; B's old answer no longer matches them, so it is cleared."""
        self.b.set(self.a.state())
        self.model_b.value = self.model_a.value
        if self.result:
            self.result = None
            set_text(self.output_b, "")
            self.metrics_view.value = self.diff_view.value = ""
            self.status.value = "B now has A's parameters: run again to compare."


def _model_menu(lab: Lab) -> W.Dropdown:
    """A menu of the stack's models, on the lab's; hidden when the stack lists only one (or cannot list)."""
    try:
        models = lab.models()
    except llama_stack_client.APIError:  # cannot list now: this side keeps the lab's model
        models = []
    options = [lab.model, *(m for m in models if m != lab.model)]
    return W.Dropdown(options=options, value=lab.model, description="model",
                      layout=W.Layout(display=None if len(options) > 1 else "none", width="95%"))


def ab_panel(lab: Lab, prompt: str | None = None, system: str | None = None) -> ABPanel:
    """An A/B panel: one prompt, two parameter sets, answers side by side with metrics and a word diff.

    Taught in notebooks/05_playground.ipynb.
    """
    checked("ab_panel", lab, texts={"prompt": prompt, "system": system})
    return ABPanel(lab, prompt, system)
