"""The parameter playground: one prompt, the parameters as sliders, a streamed answer, a history of runs.

Taught in notebooks/05_playground.ipynb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as W
import pandas as pd

from .. import runs as runs_mod
from .._frames import short
from ..errors import ParameterError
from ..params import axes
from .base import RunPanel, answer_box, output_text, prompt_boxes, set_text
from .controls import CORE, Params
from .tokens import ChainFold

if TYPE_CHECKING:
    from ..client import Completion, Lab

LEADING, TRAILING = ["run"], ["system", "prompt"]


class Playground(RunPanel):
    """One prompt, the sampling parameters as sliders, a streamed answer and the history of every run.

    `run()` (or `run_button.click()`) sends one request through `Lab.chat(..., on_token=...)`;
    `history` is a DataFrame of every run (its `runs` row plus run number, system and prompt),
    `to_runs()` the same in `runs` form for the plotting functions. Errors (a bad value, the server down)
    show in `status` and the playground stays usable. Under the "advanced" fold, `chain_fold` (a
    `widgets.tokens.ChainFold`) shows the sampler chain for the current prompt and settings, stage by stage,
    when its button is pressed. Taught in notebooks/05_playground.ipynb and 10_sampler_chain.ipynb.
    """

    def __init__(self, lab: Lab, prompt: str | None = None, system: str | None = None):
        super().__init__(W.Button(description="Run", button_style="primary", icon="play"))
        self.lab = lab
        self.params = Params(lab)
        self.temperature, self.top_p = self.params.temperature, self.params.top_p
        self.max_tokens, self.seed, self.random_seed = self.params.max_tokens, self.params.seed, self.params.random_seed
        self.system, self.prompt = prompt_boxes(prompt, system)
        self.chain_fold = ChainFold(lab, self._chain_request)
        self.params.add_to_fold(self.chain_fold.widget)
        self.output = answer_box()
        self.history_view = W.HTML()
        self.rows: list[dict[str, Any]] = []
        self._pieces: list[str] = []
        self._row: dict[str, Any] = {}
        self._build([self.params.box, self.system, self.prompt, W.HBox([self.run_button, self.status]),
                     self.output, W.HTML("<b>History</b> (newest first)"), self.history_view])
        self._errored = False
        for control in (self.system, self.prompt, *(self.params.control(n) for n in (*CORE, "seed")),
                        *self.params.advanced.values()):
            control.observe(self._edited, "value")

    def _edited(self, _change: dict) -> None:
        """An input changed after a failed run: the old error no longer describes what Run would send."""
        self.chain_fold.stale()
        if self._errored:
            self._errored = False
            self.status.value = "<i>changed since the last error: press Run</i>"

    def summary(self) -> str:
        last = self.rows[-1] if self.rows else None
        tail = (f"\nlast answer ({last['finish_reason'] or 'error'}): {short(last['text'] or last['error'])}"
                if last else "")
        shown = self.chain_fold.chain is not None
        chain = f"\nthe chain for these settings:\n{self.chain_fold.summary()}" if shown else ""
        return (f"Playground: {self.params.describe()}\nprompt: {short(self.prompt.value) or '(empty)'}\n"
                f"{len(self.rows)} run(s) so far{tail}{chain}")

    def _chain_request(self) -> tuple[list[dict], dict[str, Any]]:
        """What the chain view asks about: this prompt and system, the settings the next run would send (a
        random seed is not drawn for it)."""
        system = self.system.value.strip() or None
        messages, _ = self.lab.prepare(self.prompt.value, system=system)
        return messages, self.params.settings()

    @property
    def answer(self) -> str:
        """The answer text currently shown."""
        return output_text(self.output)

    def _on_token(self, piece: str) -> None:
        self._pieces.append(piece)
        set_text(self.output, "".join(self._pieces))

    def _start(self) -> None:
        set_text(self.output, "")
        self._pieces, self._row = [], {}
        self._errored = False

    def _work(self) -> Completion:
        params = self.params.values()
        system = self.system.value.strip() or None
        cell = runs_mod.Cell({k: v for k, v in params.items() if k in axes()}, 0, params["seed"])
        self._row = {"run": len(self.rows) + 1, "system": system, "prompt": self.prompt.value, "_cell": cell}
        reply = self.lab.chat(self.prompt.value, system=system, on_token=self._on_token, **params)
        set_text(self.output, reply.text)
        self._record(reply)
        return reply

    def _record(self, reply: Completion | None, error: str | None = None) -> None:
        cell = self._row.pop("_cell")
        self.rows.append({**self._row, **runs_mod.row(cell, reply, error=error)})

    def _ok(self, reply: Completion) -> str:
        return (f"finish_reason <code>{reply.finish_reason}</code> · {reply.completion_tokens} "
                f"tokens · {reply.latency_s:.2f} s")

    def _failed(self, error: Exception) -> None:
        self._errored = True
        if not isinstance(error, ParameterError) and "_cell" in self._row:  # a request was attempted
            self._record(None, str(error))
            self.rows[-1]["text"] = "".join(self._pieces) or None

    def _finish(self) -> None:
        self._show_history()

    def _extra_axes(self) -> list[str]:
        return sorted({k for r in self.rows for k in r if k in axes()})

    @property
    def history(self) -> pd.DataFrame:
        """One row per run: run number, its `runs` row (parameters, text, tokens, latency, error), system, prompt."""
        return runs_mod.frame(self.rows, self._extra_axes(), leading=LEADING, trailing=TRAILING)

    def to_runs(self) -> pd.DataFrame:
        """The history as `runs`, so the plots and tables of a sweep work on it.

        `sample` numbers the runs of each cell; attrs carry model and base_url, and `messages` when every
        run used the same messages (else None).
        """
        hist = self.history
        cells = runs_mod.axis_columns(self._extra_axes())
        runs = hist.drop(columns=LEADING + TRAILING)
        runs["sample"] = hist.groupby(cells, dropna=False).cumcount() if len(hist) else []
        prompts = {(r["system"], r["prompt"]) for r in self.rows}
        messages = None
        if len(prompts) == 1:
            system, prompt = prompts.pop()
            messages = self.lab.prepare(prompt, system=system)[0]
        runs.attrs.update(model=self.lab.model, base_url=self.lab.base_url, messages=messages, stop=None)
        return runs

    def _show_history(self) -> None:
        hist = self.history.drop(columns=["system", "prompt", "sample", "cached"])
        hist = hist[[c for c in hist.columns if c != "text"] + ["text"]].astype(object)
        hist = hist.where(hist.notna(), "").iloc[::-1]  # newest first: the run you just made is in view
        hist["text"] = hist["text"].map(lambda t: short(t, 100))
        fmt = {c: (lambda v: f"{v:.2f}" if isinstance(v, float) else str(v))
               for c in hist.columns if c not in ("run", "text", "error", "finish_reason")}
        table = hist.to_html(index=False, formatters=fmt, escape=True, classes="lab-history")
        self.history_view.value = HISTORY_STYLE + f'<div class="lab-history-box">{table}</div>'


# Numbers on one line each, the answer text wrapping in a wide column, the table scrolling inside its box
# (never off the notebook's right edge), rows a line or two high.
HISTORY_STYLE = """<style>
.lab-history-box {max-height: 18em; max-width: 100%; overflow: auto;}
.lab-history {border-collapse: collapse; font-size: 12px; table-layout: auto;}
.lab-history th, .lab-history td {white-space: nowrap; padding: 1px 6px; text-align: right; vertical-align: top;}
.lab-history td:last-child, .lab-history th:last-child {white-space: normal; min-width: 24em; max-width: 40em;
  text-align: left;}
</style>"""


def playground(lab: Lab, prompt: str | None = None, system: str | None = None) -> Playground:
    """A parameter playground for `lab`: sliders, a streamed answer and a history of every run.

    >>> pg = playground(lab, "Describe the sea in one sentence.")  # doctest: +SKIP
    >>> pg  # the widget; pg.history / pg.to_runs() afterwards      # doctest: +SKIP

    Taught in notebooks/05_playground.ipynb.
    """
    return Playground(lab, prompt, system)
