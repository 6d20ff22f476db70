"""A/B comparison of two parameter sets on one prompt: both answers, their metrics and a word diff.

Plain functions; `labutils.widgets.compare` is the panel over them. Taught in notebooks/06_playground.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

import pandas as pd

from .metrics import text_metrics
from .tables import diff

if TYPE_CHECKING:
    from .client import Completion, Lab


def compare_pair(lab: Lab, prompt: str, a: dict[str, Any], b: dict[str, Any], *, system: str | None = None,
                 on_token_a: Callable[[str], None] | None = None,
                 on_token_b: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Send one prompt with parameters `a` and `b`; return both Completions, their metrics and a word diff.

    Both are validated before either is sent. When the stack answers two requests at once (the embedded
    engine's slots, `lab.concurrency`), A and B are sent, and stream, at the same time; otherwise A
    then B. Returns {"a": Completion, "b": Completion, "metrics": DataFrame (rows A and B), "diff":
    TextDiff}. Taught in notebooks/06_playground.ipynb.
    """
    messages, sent_a = lab.prepare(prompt, system=system, **a)
    _, sent_b = lab.prepare(prompt, system=system, **b)
    if lab.concurrency < 2:
        return pair_result(lab.send(messages, sent_a, on_token=on_token_a),
                           lab.send(messages, sent_b, on_token=on_token_b))
    with ThreadPoolExecutor(2) as pool:  # both finish (or fail) before either error is raised
        fa = pool.submit(lab.send, messages, sent_a, on_token=on_token_a)
        fb = pool.submit(lab.send, messages, sent_b, on_token=on_token_b)
        wait([fa, fb])
    return pair_result(fa.result(), fb.result())


def pair_result(a: Completion, b: Completion) -> dict[str, Any]:
    """The result of comparing two answers: both, their metrics and the word diff from a to b."""
    return {"a": a, "b": b, "metrics": pair_metrics(a, b), "diff": diff(a, b)}


def pair_metrics(a: Completion, b: Completion) -> pd.DataFrame:
    """Text metrics, finish_reason, tokens and latency of two answers, one row each (A, B)."""
    rows = [{**text_metrics(c.text), "finish_reason": c.finish_reason, "completion_tokens": c.completion_tokens,
             "latency_s": c.latency_s} for c in (a, b)]
    return pd.DataFrame(rows, index=["A", "B"])


__all__ = ["compare_pair", "pair_metrics", "pair_result"]
