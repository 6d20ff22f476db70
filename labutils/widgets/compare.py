"""The A/B compare panel: two parameter sets on one prompt, answers side by side, metrics and a word diff.

A view over `labutils.compare.compare_pair`. Taught in notebooks/06_playground.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from .._frames import short
from ..compare import compare_pair, pair_result
from .base import RunPanel, answer_box, output_text, prompt_boxes, set_text
from .controls import Params

if TYPE_CHECKING:
    from ..client import Lab


class Compare(RunPanel):
    """Two parameter panels (A and B) on one prompt: both answers side by side, their metrics and a word diff.

    `run()` sends A then B (one request at a time); `swap()` exchanges the panels (and their answers);
    `copy_a_to_b()` copies A's parameters to B. Taught in notebooks/06_playground.ipynb.
    """

    def __init__(self, lab: Lab, prompt: str | None = None, system: str | None = None):
        super().__init__(W.Button(description="Run A and B", button_style="primary", icon="play"))
        self.lab = lab
        self.a = Params(lab, temperature=0.0)
        self.b = Params(lab, temperature=1.5)
        self.system, self.prompt = prompt_boxes(prompt, system)
        self.swap_button = W.Button(description="swap", icon="exchange")
        self.copy_button = W.Button(description="copy A to B", icon="copy")
        self.output_a, self.output_b = answer_box(), answer_box()
        self.metrics_view, self.diff_view = W.HTML(), W.HTML()
        self.result: dict[str, Any] | None = None
        self.swap_button.on_click(lambda _: self.swap())
        self.copy_button.on_click(lambda _: self.copy_a_to_b())
        half = W.Layout(width="50%")
        sides = W.HBox([W.VBox([W.HTML("<b>A</b>"), self.a.box, self.output_a], layout=half),
                        W.VBox([W.HTML("<b>B</b>"), self.b.box, self.output_b], layout=half)])
        self._build([self.system, self.prompt,
                     W.HBox([self.run_button, self.swap_button, self.copy_button, self.status]),
                     sides, self.metrics_view, self.diff_view])

    def summary(self) -> str:
        lines = [f"Compare: A {self.a.describe()} | B {self.b.describe()}",
                 f"prompt: {short(self.prompt.value) or '(empty)'}"]
        if self.result:
            lines += [f"A: {short(self.result['a'].text)}", f"B: {short(self.result['b'].text)}",
                      f"diff: {short(str(self.result['diff']), 120)}"]
        return "\n".join(lines)

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

        return compare_pair(self.lab, self.prompt.value, self.a.values(), self.b.values(),
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
        """Exchange A's and B's parameters, and their answers, so each answer stays under its parameters."""
        a, b = self.a.state(), self.b.state()
        self.a.set(b)
        self.b.set(a)
        if self.result:
            self.result = pair_result(self.result["b"], self.result["a"])
        self._show_result()

    def copy_a_to_b(self) -> None:
        """Give B the same parameters as A; B's old answer no longer matches them, so it is cleared."""
        self.b.set(self.a.state())
        if self.result:
            self.result = None
            set_text(self.output_b, "")
            self.metrics_view.value = self.diff_view.value = ""
            self.status.value = "B now has A's parameters: run again to compare."


def compare(lab: Lab, prompt: str | None = None, system: str | None = None) -> Compare:
    """An A/B panel: one prompt, two parameter sets, answers side by side with metrics and a word diff.

    Taught in notebooks/06_playground.ipynb.
    """
    return Compare(lab, prompt, system)
