"""The one run-panel base of every view: it owns the button, the status line, the busy guard and errors.

The shape of ipywidgets' `interactive`: one VBox holds the controls, the button and the output; while a
run is in flight the button is disabled (that is the busy guard), and a failure is explained in the
status line in plain words, so the panel stays usable. A view only says what a run does (`_work`).
Where widgets cannot render (papermill, plain IPython), a view shows a plain-text summary instead.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W

from ..errors import LabError, ParameterError, RequestFailed
from ..params import shown

FALLBACK = "Interactive widget: open this notebook in JupyterLab to use the sliders."
CHAT_FALLBACK = "Interactive widget: open this notebook in JupyterLab to chat."
SLIDER_STYLE = {"description_width": "7em"}


def checked(view: str, lab: Any, *, texts: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
            lab_name: str = "lab") -> None:
    """The boundary of every view's function: its lab (or chat), its text boxes' starting strings and the
    parameters it sends are checked before any widget is built, so a bad one is a ParameterError naming it
    (never a widget's TraitError, nor an error on the first click). `lab` is a Lab, or a Chat with
    `lab_name="chat"`."""
    from ..chat import Chat
    from ..client import Lab

    kind = Chat if lab_name == "chat" else Lab
    if not isinstance(lab, kind):
        what = "a labutils.Chat, e.g. Chat(lab)" if kind is Chat else "the connected lab, e.g. labutils.connect()"
        raise ParameterError(f"{lab_name}={shown(lab)} is not allowed: {view}() takes {what}")
    for name, text in (texts or {}).items():
        if text is not None and not isinstance(text, str):
            raise ParameterError(f"{name}={shown(text)} is not allowed: {name} must be a string (the text box's "
                                 "starting text) or None")
    if params:
        (lab.lab if kind is Chat else lab).prepare("Hi", **params)  # every name and value, as sending would check


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


def error_html(message: str) -> str:
    """A message on a red background, as the status line shows errors."""
    return f'<div style="color:#842029;background:#f8d7da;padding:4px 8px;white-space:pre-wrap">⚠ ' \
           f"{html.escape(message)}</div>"


def set_text(out: W.Output, text: str, name: str = "stdout") -> None:
    """Show `text` as the only content of an Output widget (works with or without a kernel)."""
    out.outputs = ({"output_type": "stream", "name": name, "text": text},) if text else ()


def output_text(out: W.Output) -> str:
    """The text an Output widget shows (its stream outputs joined)."""
    return "".join(o.get("text", "") for o in out.outputs if o.get("output_type") == "stream")


def prompt_boxes(prompt: str | None, system: str | None) -> tuple[W.Textarea, W.Textarea]:
    """The system and user text areas of a panel."""
    area = {"layout": W.Layout(width="100%"), "style": SLIDER_STYLE}
    return (W.Textarea(value=system or "", description="system", placeholder="(optional)", rows=2, **area),
            W.Textarea(value=prompt or "", description="user", placeholder="Type a prompt", rows=3, **area))


def answer_box() -> W.Output:
    return W.Output(layout=W.Layout(border="1px solid #ccc", min_height="3em", padding="4px"))


class RunPanel:
    """A view with one run button: `run()` (or a click) does `_work()` with the button disabled meanwhile.

    Subclasses build their controls, call `_build(children)` and implement `_work()` (returning the
    result, or raising), `summary()` (the plain-text state) and optionally `_refuse()` (a reason not to
    run), `_start()`, `_ok(result)` (the status line after success), `_failed(error)` and `_finish()`.
    """

    fallback = FALLBACK
    busy = "running…"

    def __init__(self, button: W.Button):
        self.run_button = button
        self.status = W.HTML()
        self.widget: W.VBox | None = None
        button.on_click(lambda _: self.run())

    def _build(self, children: list) -> None:
        self.widget = W.VBox(children)

    def run(self) -> Any:
        """Run once; None if a run is already in flight or it failed (the reason shows in `status`)."""
        if self.run_button.disabled:
            return None
        problem = self._refuse()
        if problem:
            self.status.value = error_html(problem)
            return None
        self.run_button.disabled = True
        self.status.value = f"<i>{self.busy}</i>"
        self._start()
        try:
            result = self._work()
        except Exception as e:  # every failure is shown in the widget, which stays usable
            self.status.value = error_html(explain(e))
            self._failed(e)
            result = None
        else:
            self.status.value = self._ok(result)
        finally:
            self.run_button.disabled = False
        self._finish()
        return result

    def _refuse(self) -> str | None:
        return None

    def _start(self) -> None:
        pass

    def _work(self) -> Any:
        raise NotImplementedError

    def _ok(self, result: Any) -> str:
        return ""

    def _failed(self, error: Exception) -> None:
        pass

    def _finish(self) -> None:
        pass

    def summary(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"{self.fallback}\n{self.summary()}"
