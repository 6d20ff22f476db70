"""A/B comparison of two parameter sets on one prompt: both answers, their metrics and a word diff.

A and B may also name different models (`{"model": ...}`), e.g. an instruct model against a base one.
Plain functions; `labutils.widgets.ab_panel` is the panel over them. Taught in notebooks/05_playground.ipynb
and (two models) notebooks/13_models_side_by_side.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..client import Lab
from ..client.parallel import Stop, run_all
from ..errors import Interrupted, ParameterError
from ..metrics import text_metrics
from ..params import MODEL, shown
from ..views.tables import diff

if TYPE_CHECKING:
    from ..client import Completion


def send_pair(lab: Lab, prompt: str, a: dict[str, Any], b: dict[str, Any], *, system: str | None = None,
                 on_token_a: Callable[[str], None] | None = None,
                 on_token_b: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Send one prompt with parameters `a` and `b`; return both Completions, their metrics and a word diff.

    `a` or `b` may name a model (`"model": id`, see `Lab.using`); the other parameters go with the request.
    Both sides are validated (models included) before either is sent. When the stack answers two requests
    at once (the engine's slots, `lab.concurrency`, or two models each on its own engine), A and B are
    sent, and stream, at the same time; otherwise A then B. Returns {"a": Completion, "b": Completion,
    "metrics": DataFrame (rows A and B), "diff": TextDiff}. Taught in notebooks/05_playground.ipynb.
    """
    if not isinstance(lab, Lab):
        raise ParameterError(f"lab={shown(lab)} is not allowed: pass the connected lab (labutils.connect())")
    for name, fn in (("on_token_a", on_token_a), ("on_token_b", on_token_b)):
        if fn is not None and not callable(fn):
            raise ParameterError(f"{name}={shown(fn)} is not allowed: {name} must be a function or None")
    (lab_a, a), (lab_b, b) = _side(lab, a, "a"), _side(lab, b, "b")
    messages, sent_a = lab_a.prepare(prompt, system=system, **a)
    _, sent_b = lab_b.prepare(prompt, system=system, **b)
    if lab_a is lab_b and lab.concurrency < 2:
        return pair_result(lab_a.send(messages, sent_a, on_token=on_token_a),
                           lab_b.send(messages, sent_b, on_token=on_token_b))
    stop = Stop()  # both finish (or fail) before either error is raised
    sides = [(lab_a, sent_a, on_token_a), (lab_b, sent_b, on_token_b)]
    done = run_all(lambda s: s[0].send(messages, s[1], on_token=s[2], cancel=stop.cancel), sides, 2, stop=stop,
                   counted=False)
    if stop.interrupted:
        raise Interrupted("interrupted (Ctrl-C) before both answers were in")
    for side in (0, 1):
        if isinstance(done[side], Exception):
            raise done[side]
    return pair_result(done[0], done[1])


def _side(lab: Lab, params: dict[str, Any], name: str) -> tuple[Lab, dict[str, Any]]:
    """The lab that answers one side (its `model`, else `lab`'s) and the side's request parameters."""
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise ParameterError(f"{name}={shown(params)} is not allowed: {name} must be a dict of parameters, "
                             "e.g. {'temperature': 0.7}")
    rest = {k: v for k, v in params.items() if k != MODEL}
    return lab.using(params.get(MODEL)), rest


def pair_result(a: Completion, b: Completion) -> dict[str, Any]:
    """The result of comparing two answers: both, their metrics and the word diff from a to b."""
    return {"a": a, "b": b, "metrics": pair_metrics(a, b), "diff": diff(a, b)}


def pair_metrics(a: Completion, b: Completion) -> pd.DataFrame:
    """Text metrics, finish_reason, tokens and latency of two answers, one row each (A, B); their models
    first when they differ."""
    models = [{MODEL: c.model} if a.model != b.model else {} for c in (a, b)]
    rows = [{**m, **text_metrics(c.text), "finish_reason": c.finish_reason, "completion_tokens": c.completion_tokens,
             "latency_s": c.latency_s} for m, c in zip(models, (a, b))]
    return pd.DataFrame(rows, index=["A", "B"])


__all__ = ["pair_metrics", "pair_result", "send_pair"]
