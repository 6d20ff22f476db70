"""Interactive views: a parameter playground, an A/B compare panel and a chat window.

Each is a thin ipywidgets view over plain functions and methods (`Lab.chat`, `compare_pair`,
`Chat.send`), so tests drive them without a browser: set a slider's `.value`, call `.run()` or
`button.click()`, read `.history`, the `Output` widgets and `.status`. Slider bounds come from
`labutils.params.SPECS`. Where widgets cannot render (papermill, plain IPython), each view shows a
plain-text summary of its state instead. Taught in notebooks/06_playground.ipynb (playground,
compare) and notebooks/08_chatbot_with_memory.ipynb (chat_ui).
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import pandas as pd

from .errors import LabError, ParameterError, RequestFailed
from .grid import COLUMNS
from .metrics import text_metrics
from .params import SPECS
from .tables import diff

if TYPE_CHECKING:
    from .chat import Chat
    from .client import Completion, Lab

FALLBACK = "Interactive widget: open this notebook in JupyterLab to use the sliders."
CHAT_FALLBACK = "Interactive widget: open this notebook in JupyterLab to chat."
MAX_TOKENS_CAP = 4096  # slider maximum when the model's context length is unknown
SLIDER_STYLE = {"description_width": "7em"}
HISTORY_COLUMNS = ["run", "temperature", "top_p", "max_tokens", "seed", "system", "prompt", "text",
                   "finish_reason", "prompt_tokens", "completion_tokens", "latency_s", "tokens_per_s", "error"]


class Panel(W.VBox):
    """A VBox whose text/plain form says it is interactive and summarises its state (papermill, IPython)."""

    def __init__(self, children: list, describe: Callable[[], str], fallback: str = FALLBACK, **kwargs: Any):
        super().__init__(children, **kwargs)
        self._describe, self._fallback = describe, fallback

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = f"{self._fallback}\n{self._describe()}"
        return bundle


class _View:
    """Shared display logic: `widget` is the Panel; the view displays as it, or as text without a frontend."""

    widget: Panel

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"{self.widget._fallback}\n{self.summary()}"

    def summary(self) -> str:
        raise NotImplementedError


def _short(text: Any, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def explain(error: Exception) -> str:
    """The plain-words message a widget shows for a failed run."""
    if isinstance(error, ParameterError):
        return f"Not sent: {error}. Change the value and run again."
    if isinstance(error, RequestFailed) and (error.retryable or error.status is None):
        return (f"The server could not answer: {error}. If the stack is down, `python -m labutils.stack up` "
                "restarts it; then press the button again.")
    if isinstance(error, LabError):
        return f"The request failed: {error}"
    return f"Unexpected error ({type(error).__name__}): {error}"


def _error_html(message: str) -> str:
    return f'<div style="color:#842029;background:#f8d7da;padding:4px 8px;white-space:pre-wrap">⚠ ' \
           f"{html.escape(message)}</div>"


def _set_text(out: W.Output, text: str, name: str = "stdout") -> None:
    """Show `text` as the only content of an Output widget (works with or without a kernel)."""
    out.outputs = ({"output_type": "stream", "name": name, "text": text},) if text else ()


def output_text(out: W.Output) -> str:
    """The text an Output widget shows (its stream outputs joined)."""
    return "".join(o.get("text", "") for o in out.outputs if o.get("output_type") == "stream")


class Params:
    """The parameter controls of one panel: temperature, top_p, max_tokens sliders, a seed box and "random".

    Bounds are read from labutils.params.SPECS; max_tokens goes up to the model's context length.
    Sliders use continuous_update=False so dragging sends nothing until the value is released.
    """

    def __init__(self, lab: Lab, *, temperature: float = 0.7, top_p: float = 1.0, max_tokens: int = 64,
                 seed: int = 0):
        t, p, m, s = SPECS["temperature"], SPECS["top_p"], SPECS["max_tokens"], SPECS["seed"]
        high = int(lab.context_length or MAX_TOKENS_CAP)
        common = {"continuous_update": False, "style": SLIDER_STYLE}
        self.temperature = W.FloatSlider(value=temperature, min=t.low, max=t.high, step=0.05, readout_format=".2f",
                                         description="temperature", tooltip=t.help, **common)
        self.top_p = W.FloatSlider(value=top_p, min=p.low, max=p.high, step=0.05, readout_format=".2f",
                                   description="top_p", tooltip=f"{p.help}; must be > 0", **common)
        self.max_tokens = W.IntSlider(value=min(max_tokens, high), min=int(m.low), max=high, description="max_tokens",
                                      tooltip=m.help, **common)
        self.seed = W.BoundedIntText(value=seed, min=int(s.low), max=int(s.high), description="seed",
                                     tooltip=s.help, style=SLIDER_STYLE, layout=W.Layout(width="16em"))
        self.random_seed = W.Checkbox(value=False, description="random", indent=False,
                                      tooltip="draw a new seed for every run")
        self.random_seed.observe(lambda ch: setattr(self.seed, "disabled", ch["new"]), "value")
        self.box = W.VBox([self.temperature, self.top_p, self.max_tokens, W.HBox([self.seed, self.random_seed])])

    def values(self) -> dict[str, Any]:
        """The parameters of the next run; with "random" on, a fresh seed is drawn and shown in the box."""
        if self.random_seed.value:
            self.seed.value = random.randint(int(SPECS["seed"].low), 2**31 - 1)
        return {"temperature": float(self.temperature.value), "top_p": float(self.top_p.value),
                "max_tokens": int(self.max_tokens.value), "seed": int(self.seed.value)}

    def state(self) -> dict[str, Any]:
        return {"temperature": self.temperature.value, "top_p": self.top_p.value,
                "max_tokens": self.max_tokens.value, "seed": self.seed.value, "random_seed": self.random_seed.value}

    def set(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            getattr(self, name).value = value

    def describe(self) -> str:
        v = self.state()
        seed = "random" if v["random_seed"] else v["seed"]
        return f"temperature={v['temperature']:.2f} top_p={v['top_p']:.2f} max_tokens={v['max_tokens']} seed={seed}"


# ---------------------------------------------------------------- playground


class Playground(_View):
    """One prompt, the sampling parameters as sliders, a streamed answer and the history of every run.

    `run()` (or `run_button.click()`) sends one request through `Lab.chat(..., on_token=...)`;
    `history` is a DataFrame of every run, `to_runs()` the same in `runs` form for the plotting
    functions. Errors (a bad value, the server down) show in `status` and the playground stays usable.
    Taught in notebooks/06_playground.ipynb.
    """

    def __init__(self, lab: Lab, prompt: str | None = None, system: str | None = None):
        self.lab = lab
        self.params = Params(lab)
        self.temperature, self.top_p = self.params.temperature, self.params.top_p
        self.max_tokens, self.seed, self.random_seed = self.params.max_tokens, self.params.seed, self.params.random_seed
        area = {"layout": W.Layout(width="100%"), "style": SLIDER_STYLE}
        self.system = W.Textarea(value=system or "", description="system", placeholder="(optional)", rows=2, **area)
        self.prompt = W.Textarea(value=prompt or "", description="user", placeholder="Type a prompt", rows=3, **area)
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.status = W.HTML()
        self.output = W.Output(layout=W.Layout(border="1px solid #ccc", min_height="3em", padding="4px"))
        self.history_view = W.HTML()
        self.rows: list[dict[str, Any]] = []
        self._busy = False
        self.run_button.on_click(lambda _: self.run())
        self.widget = Panel([self.params.box, self.system, self.prompt, W.HBox([self.run_button, self.status]),
                             self.output, W.HTML("<b>History</b>"), self.history_view], self.summary)

    def summary(self) -> str:
        last = self.rows[-1] if self.rows else None
        tail = (f"\nlast answer ({last['finish_reason'] or 'error'}): {_short(last['text'] or last['error'])}"
                if last else "")
        return (f"Playground: {self.params.describe()}\nprompt: {_short(self.prompt.value) or '(empty)'}\n"
                f"{len(self.rows)} run(s) so far{tail}")

    @property
    def answer(self) -> str:
        """The answer text currently shown."""
        return output_text(self.output)

    def run(self) -> Completion | None:
        """Send the prompt with the current parameters, streaming into `output`; None if it failed."""
        if self._busy:
            return None
        self._busy, self.run_button.disabled = True, True
        self.status.value = "<i>running…</i>"
        _set_text(self.output, "")
        pieces: list[str] = []

        def on_token(piece: str) -> None:
            pieces.append(piece)
            _set_text(self.output, "".join(pieces))

        params = self.params.values()
        system, prompt = self.system.value.strip() or None, self.prompt.value
        row = {"run": len(self.rows) + 1, **params, "system": system, "prompt": prompt}
        try:
            reply = self.lab.chat(prompt, system=system, on_token=on_token, **params)
        except Exception as e:  # every failure is shown in the widget, which stays usable
            self.status.value = _error_html(explain(e))
            if not isinstance(e, ParameterError):  # a request was attempted: it belongs to the history
                self.rows.append({**row, "text": "".join(pieces) or None, "error": str(e)})
            reply = None
        else:
            _set_text(self.output, reply.text)
            self.rows.append({**row, "text": reply.text, "finish_reason": reply.finish_reason,
                              "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                              "latency_s": reply.latency_s, "tokens_per_s": reply.tokens_per_s, "error": None})
            self.status.value = (f"finish_reason <code>{reply.finish_reason}</code> · {reply.completion_tokens} "
                                 f"tokens · {reply.latency_s:.2f} s")
        finally:
            self._busy, self.run_button.disabled = False, False
        self._show_history()
        return reply

    @property
    def history(self) -> pd.DataFrame:
        """One row per run: its parameters, prompt, text, finish_reason, token counts, latency and error."""
        return pd.DataFrame(self.rows, columns=HISTORY_COLUMNS)

    def to_runs(self) -> pd.DataFrame:
        """The history as `runs` (grid.COLUMNS), so the plots and tables of a sweep work on it.

        `sample` numbers the runs of each (temperature, top_p, max_tokens) cell; attrs carry model and
        base_url, and `messages` when every run used the same messages (else None).
        """
        hist = self.history
        runs = hist.reindex(columns=COLUMNS)
        runs["sample"] = hist.groupby(["temperature", "top_p", "max_tokens"]).cumcount() if len(hist) else []
        runs["cached"] = False
        prompts = {(r["system"], r["prompt"]) for r in self.rows}
        messages = None
        if len(prompts) == 1:
            system, prompt = prompts.pop()
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt}]
        runs.attrs.update(model=self.lab.model, base_url=self.lab.base_url, messages=messages, stop=None)
        return runs

    def _show_history(self) -> None:
        cols = [c for c in HISTORY_COLUMNS if c not in ("system", "prompt", "text")] + ["text"]
        hist = self.history[cols].astype(object)
        hist = hist.where(hist.notna(), "")
        hist["text"] = hist["text"].map(lambda t: _short(t, 100))
        fmt = {c: (lambda v: f"{v:.2f}" if isinstance(v, float) else str(v))
               for c in ("temperature", "top_p", "latency_s", "tokens_per_s")}
        self.history_view.value = hist.to_html(index=False, formatters=fmt, escape=True)


def playground(lab: Lab, prompt: str | None = None, system: str | None = None) -> Playground:
    """A parameter playground for `lab`: sliders, a streamed answer and a history of every run.

    >>> pg = playground(lab, "Describe the sea in one sentence.")  # doctest: +SKIP
    >>> pg  # the widget; pg.history / pg.to_runs() afterwards      # doctest: +SKIP

    Taught in notebooks/06_playground.ipynb.
    """
    return Playground(lab, prompt, system)


# ---------------------------------------------------------------- A/B compare


def compare_pair(lab: Lab, prompt: str, a: dict[str, Any], b: dict[str, Any], *, system: str | None = None,
                 on_token_a: Callable[[str], None] | None = None,
                 on_token_b: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Send one prompt with parameters `a`, then `b`; return both Completions, their metrics and a word diff.

    Returns {"a": Completion, "b": Completion, "metrics": DataFrame (rows A and B), "diff": TextDiff}.
    Taught in notebooks/06_playground.ipynb.
    """
    lab.prepare(prompt, system=system, **a)  # validate both before sending either
    lab.prepare(prompt, system=system, **b)
    ra = lab.chat(prompt, system=system, on_token=on_token_a, **a)
    rb = lab.chat(prompt, system=system, on_token=on_token_b, **b)
    return {"a": ra, "b": rb, "metrics": pair_metrics(ra, rb), "diff": diff(ra, rb)}


def pair_metrics(a: Completion, b: Completion) -> pd.DataFrame:
    """Text metrics, finish_reason, tokens and latency of two answers, one row each (A, B)."""
    rows = [{**text_metrics(c.text), "finish_reason": c.finish_reason, "completion_tokens": c.completion_tokens,
             "latency_s": c.latency_s} for c in (a, b)]
    return pd.DataFrame(rows, index=["A", "B"])


class Compare(_View):
    """Two parameter panels (A and B) on one prompt: both answers side by side, their metrics and a word diff.

    `run()` sends A then B (one request at a time); `swap()` exchanges the panels (and their answers);
    `copy_a_to_b()` copies A's parameters to B. Taught in notebooks/06_playground.ipynb.
    """

    def __init__(self, lab: Lab, prompt: str | None = None, system: str | None = None):
        self.lab = lab
        self.a = Params(lab, temperature=0.0)
        self.b = Params(lab, temperature=1.5)
        area = {"layout": W.Layout(width="100%"), "style": SLIDER_STYLE}
        self.system = W.Textarea(value=system or "", description="system", placeholder="(optional)", rows=2, **area)
        self.prompt = W.Textarea(value=prompt or "", description="user", placeholder="Type a prompt", rows=3, **area)
        self.run_button = W.Button(description="Run A and B", button_style="primary", icon="play")
        self.swap_button = W.Button(description="swap", icon="exchange")
        self.copy_button = W.Button(description="copy A to B", icon="copy")
        self.status = W.HTML()
        box = {"layout": W.Layout(border="1px solid #ccc", min_height="3em", padding="4px")}
        self.output_a, self.output_b = W.Output(**box), W.Output(**box)
        self.metrics_view, self.diff_view = W.HTML(), W.HTML()
        self.result: dict[str, Any] | None = None
        self._busy = False
        self.run_button.on_click(lambda _: self.run())
        self.swap_button.on_click(lambda _: self.swap())
        self.copy_button.on_click(lambda _: self.copy_a_to_b())
        half = W.Layout(width="50%")
        sides = W.HBox([W.VBox([W.HTML("<b>A</b>"), self.a.box, self.output_a], layout=half),
                        W.VBox([W.HTML("<b>B</b>"), self.b.box, self.output_b], layout=half)])
        self.widget = Panel([self.system, self.prompt,
                             W.HBox([self.run_button, self.swap_button, self.copy_button, self.status]),
                             sides, self.metrics_view, self.diff_view], self.summary)

    def summary(self) -> str:
        lines = [f"Compare: A {self.a.describe()} | B {self.b.describe()}",
                 f"prompt: {_short(self.prompt.value) or '(empty)'}"]
        if self.result:
            lines += [f"A: {_short(self.result['a'].text)}", f"B: {_short(self.result['b'].text)}",
                      f"diff: {_short(str(self.result['diff']), 120)}"]
        return "\n".join(lines)

    @property
    def answers(self) -> tuple[str, str]:
        """The texts shown under A and B."""
        return output_text(self.output_a), output_text(self.output_b)

    def run(self) -> dict[str, Any] | None:
        """Send A then B, streaming each into its output; show metrics and the diff. None if it failed."""
        if self._busy:
            return None
        self._busy, self.run_button.disabled = True, True
        self.status.value = "<i>running…</i>"
        for out in (self.output_a, self.output_b):
            _set_text(out, "")
        self.metrics_view.value = self.diff_view.value = ""
        streams: dict[str, list[str]] = {"a": [], "b": []}

        def streamer(side: str, out: W.Output) -> Callable[[str], None]:
            def on_token(piece: str) -> None:
                streams[side].append(piece)
                _set_text(out, "".join(streams[side]))
            return on_token

        try:
            self.result = compare_pair(self.lab, self.prompt.value, self.a.values(), self.b.values(),
                                       system=self.system.value.strip() or None,
                                       on_token_a=streamer("a", self.output_a), on_token_b=streamer("b", self.output_b))
        except Exception as e:  # shown in the widget, which stays usable
            self.result = None
            self.status.value = _error_html(explain(e))
        else:
            self.status.value = ""
            self._show_result()
        finally:
            self._busy, self.run_button.disabled = False, False
        return self.result

    def _show_result(self) -> None:
        r = self.result
        if r is None:
            for out in (self.output_a, self.output_b):
                _set_text(out, "")
            self.metrics_view.value = self.diff_view.value = ""
            return
        _set_text(self.output_a, r["a"].text)
        _set_text(self.output_b, r["b"].text)
        self.metrics_view.value = r["metrics"].to_html(float_format=lambda v: f"{v:.2f}", na_rep="")
        self.diff_view.value = "<b>Word diff (A → B)</b>" + r["diff"]._repr_html_()

    def swap(self) -> None:
        """Exchange A's and B's parameters, and their answers, so each answer stays under its parameters."""
        a, b = self.a.state(), self.b.state()
        self.a.set(b)
        self.b.set(a)
        if self.result:
            ra, rb = self.result["b"], self.result["a"]
            self.result = {"a": ra, "b": rb, "metrics": pair_metrics(ra, rb), "diff": diff(ra, rb)}
        self._show_result()

    def copy_a_to_b(self) -> None:
        """Give B the same parameters as A; B's old answer no longer matches them, so it is cleared."""
        self.b.set(self.a.state())
        if self.result:
            self.result = None
            _set_text(self.output_b, "")
            self.metrics_view.value = self.diff_view.value = ""
            self.status.value = "B now has A's parameters: run again to compare."


def compare(lab: Lab, prompt: str | None = None, system: str | None = None) -> Compare:
    """An A/B panel: one prompt, two parameter sets, answers side by side with metrics and a word diff.

    Taught in notebooks/06_playground.ipynb.
    """
    return Compare(lab, prompt, system)


# ---------------------------------------------------------------- chat


def transcript_html(chat: Chat) -> str:
    """The conversation as HTML; turns the memory left out of the last request are greyed and marked."""
    history = chat.history
    sent = chat.last_sent or []
    has_system = bool(chat.system)
    turns = history[1:] if has_system else history
    # kept turns are always the newest exchanges before the latest one: count them from the request
    kept_before = max(0, len(sent) - int(has_system) - 1)
    first_sent = len(turns) - 2 - kept_before if chat.last_sent else 0
    parts = []
    if has_system:
        parts.append(f'<div style="color:#555"><b>system</b>: {html.escape(chat.system or "")}</div>')
    for i, m in enumerate(turns):
        faded = chat.last_sent is not None and i < first_sent
        style = "opacity:0.45" if faded else ""
        note = " <i>(not sent last time)</i>" if faded else ""
        colour = "#0b5394" if m["role"] == "user" else "#38761d"
        parts.append(f'<div style="{style};white-space:pre-wrap"><b style="color:{colour}">{m["role"]}</b>: '
                     f"{html.escape(m['content'])}{note}</div>")
    return "".join(parts) or "<i>(no messages yet)</i>"


class ChatUI(_View):
    """A chat window over a `Chat`: transcript, input box, Send and Reset, the memory mode and token use.

    `send()` (or `send_button.click()`) sends `input.value` with `params` (e.g. max_tokens) and shows
    the reply. Taught in notebooks/08_chatbot_with_memory.ipynb.
    """

    def __init__(self, chat: Chat, **params: Any):
        from .chat import MEMORIES

        self.chat = chat
        self.params = params
        self.transcript = W.HTML(layout=W.Layout(border="1px solid #ccc", padding="4px", min_height="4em"))
        self.input = W.Textarea(placeholder="Type a message", rows=2, layout=W.Layout(width="100%"))
        self.send_button = W.Button(description="Send", button_style="primary", icon="paper-plane")
        self.reset_button = W.Button(description="Reset", icon="trash")
        self.memory = W.Dropdown(options=list(MEMORIES), value=chat.memory, description="memory",
                                 layout=W.Layout(width="14em"))
        self.tokens = W.HTML()
        self.status = W.HTML()
        self._busy = False
        self.send_button.on_click(lambda _: self.send())
        self.reset_button.on_click(lambda _: self.reset())
        self.memory.observe(self._on_memory, "value")
        self.widget = Panel([self.transcript, self.input,
                             W.HBox([self.send_button, self.reset_button, self.memory, self.tokens]), self.status],
                            self.summary, CHAT_FALLBACK)
        self.refresh()

    def summary(self) -> str:
        lines = [f"Chat (memory={self.chat.memory!r}): {self.token_text()}"]
        lines += [f"{m['role']}: {_short(m['content'], 80)}" for m in self.chat.history]
        return "\n".join(lines)

    def token_text(self) -> str:
        n = len(self.chat.history)
        text = f"history: {n} message{'s' * (n != 1)}, ~{self.chat.token_count()} tokens"
        if self.chat.last_sent is not None:
            reported = self.chat.last.prompt_tokens if self.chat.last else None
            text += f" · last request sent {len(self.chat.last_sent)} messages"
            if reported:
                text += f" ({reported} prompt tokens, reported by the server)"
        return text

    def refresh(self) -> None:
        self.transcript.value = transcript_html(self.chat)
        self.tokens.value = html.escape(self.token_text())

    def _on_memory(self, change: dict) -> None:
        self.chat.memory = change["new"]
        self.refresh()

    def send(self) -> Completion | None:
        """Send the input box's text; on success clear the box and show the reply. None if it failed."""
        text = self.input.value
        if self._busy:
            return None
        if not text.strip():
            self.status.value = _error_html("Type a message first.")
            return None
        self._busy, self.send_button.disabled = True, True
        self.status.value = "<i>waiting for the reply…</i>"
        try:
            reply = self.chat.send(text, **self.params)
        except Exception as e:  # shown in the widget, which stays usable
            self.status.value = _error_html(explain(e))
            reply = None
        else:
            self.input.value = ""
            self.status.value = ""
        finally:
            self._busy, self.send_button.disabled = False, False
        self.refresh()
        return reply

    def reset(self) -> None:
        """Forget the conversation (the system message stays)."""
        self.chat.reset()
        self.status.value = ""
        self.refresh()


def chat_ui(chat: Chat, **params: Any) -> ChatUI:
    """A chat window over `chat`; `params` (e.g. max_tokens=60) are sent with every message.

    Taught in notebooks/08_chatbot_with_memory.ipynb.
    """
    return ChatUI(chat, **params)


__all__ = ["CHAT_FALLBACK", "FALLBACK", "ChatUI", "Compare", "Panel", "Params", "Playground", "chat_ui", "compare",
           "compare_pair", "explain", "output_text", "pair_metrics", "playground", "transcript_html"]
