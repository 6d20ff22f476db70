"""Trust but verify: does the connected distribution honour each generation parameter?

`probe(lab)` sends a few cheap, seeded requests per parameter and returns one row per check with
what was sent, what came back and a verdict:

- "honoured": the parameter had the effect it should;
- "ignored": the server accepted it, but the answer is what it would be without it;
- "rejected": the server (or the lab, before sending) refused the request; the message is the evidence;
- "not supported": the server said it does not implement it (HTTP 501, "not supported/implemented"),
  or the check could not run at all;
- "error": the request never reached a server that could judge it (connection refused or reset, timeout,
  HTTP 5xx, the model server down), so nothing is known about the parameter; fix the stack and re-run.

A failing check never raises: it becomes a verdict with its evidence. Every request goes through
`Lab.send`, the lab's one request path: seeded answers go through the response cache like a sweep's
(`labutils.client.cache`), so a second probe of the same distribution is fast; the one call that checks a
repeat (same seed twice) is always sent fresh. `labutils.tables.probe_table`
shows the result with its verdicts coloured. Taught in notebooks/09_trust_but_verify.ipynb.

`probe(lab, api="responses")` runs the checks that apply to the Responses API (`Lab.respond`, stateless:
store=False): temperature and seed, max_output_tokens, top_p, and samplers sent through `extra_body`.
Taught in notebooks/14_responses_api.ipynb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..client import cache as cache_mod
from ..client.request import messages_from, model_ids
from ..errors import ConnectionFailed, LabError, ParameterError, RequestFailed
from ..params import (
    MAX_PROBE_SAMPLES,
    check,
    choice,
    integer,
    shown,
)
from .checks import MAX_TOKENS, TINY_TOP_P, TOP_LOGPROBS, _checks, _Context, _responses_checks

if TYPE_CHECKING:
    from ..client import Lab

PROMPT = "Write one sentence about a cat."
COLUMNS = ["parameter", "test", "sent", "observed", "verdict", "explanation"]
VERDICTS = ("honoured", "ignored", "rejected", "not supported", "error")
APIS = ("chat", "responses")
def _failure(exc: Exception) -> tuple[str, str, str]:
    """A check's exception as (observed, verdict, explanation)."""
    message = " ".join(str(exc).split())
    lowered = message.lower()
    unsupported = any(s in lowered for s in ("not supported", "not implemented", "unsupported"))
    if isinstance(exc, RequestFailed) and (exc.status == 501 or unsupported):
        return message, "not supported", f"the server says it does not implement this: {message}"
    if isinstance(exc, ConnectionFailed) or (isinstance(exc, RequestFailed) and exc.cause is not None):
        return message, "error", ("the request failed before any server judged the parameter, so nothing is "
                                  f"known about it: {message}")
    if isinstance(exc, RequestFailed) and exc.status is not None and 400 <= exc.status < 500:
        return message, "rejected", f"the server refused the request with HTTP {exc.status}: {message}"
    if isinstance(exc, ParameterError):
        return message, "rejected", f"the lab refused the value before sending it: {message}"
    if isinstance(exc, LabError):
        return message, "rejected", f"the request failed, so the parameter could not be checked: {message}"
    return repr(exc), "not supported", f"the check could not run: {exc!r}"


def probe(lab: Lab, *, samples: int = 5, prompt: str | None = None, cache: bool = True,
          model: str | list[str] | None = None, api: str = "chat") -> pd.DataFrame:
    """Check, with a few short seeded requests, whether `lab`'s distribution honours each parameter.

    Returns one row per check: parameter, test, sent, observed, verdict (honoured, ignored, rejected,
    not supported or error) and a one-sentence explanation. `samples` seeds are compared where randomness
    matters; `prompt` should have an answer that varies at high temperature. Never raises on a failing
    check. `model` probes another of the distribution's models; a list of models gives one block of rows
    per model, with a leading `model` column (each engine may honour different things). `api="responses"`
    probes the Responses API instead of chat.completions (notebooks/14_responses_api.ipynb). Taught in
    notebooks/09_trust_but_verify.ipynb.

    >>> labutils.probe(lab)[["parameter", "verdict"]]  # doctest: +SKIP
    """
    from ..client.lab import Lab

    if not isinstance(lab, Lab):
        raise ParameterError(f"lab={shown(lab)} is not allowed: pass the connected lab, e.g. probe(labutils.connect())")
    samples = integer("samples", samples, low=2, high=MAX_PROBE_SAMPLES, why=" (answers are compared across seeds)")
    if not isinstance(cache, bool):
        raise ParameterError(f"cache={shown(cache)} is not allowed: cache must be True or False")
    if prompt is not None and not isinstance(prompt, str):
        raise ParameterError(f"prompt={shown(prompt)} is not allowed: prompt must be a string or None")
    messages_from(PROMPT if prompt is None else prompt)  # a bad prompt is refused before any request
    api = choice("api", api, APIS)
    if model is not None and not isinstance(model, str):
        targets = [lab.using(m) for m in model_ids("model", model)]  # every model known before any request
        df = pd.concat([probe(t, samples=samples, prompt=prompt, cache=cache, api=api).assign(model=t.model)
                        for t in targets], ignore_index=True)
        df = df[["model", *COLUMNS]]
        df.attrs.update(model=[t.model for t in targets], base_url=lab.base_url,
                        messages=messages_from(PROMPT if prompt is None else prompt), samples=samples)
        return df
    lab = lab.using(model)
    messages = messages_from(PROMPT if prompt is None else prompt)
    check("top_p", TINY_TOP_P)
    check("top_logprobs", TOP_LOGPROBS)
    check("max_tokens", MAX_TOKENS, max_tokens_limit=lab.context_length)
    store = cache_mod.Cache() if cache else None
    ctx = _Context(lab, messages, list(range(1, samples + 1)), store, api=api)
    rows = []
    try:
        for parameter, test, sent, run in (_checks if api == "chat" else _responses_checks)(samples):
            try:
                observed, verdict, explanation = run(ctx)
            except Exception as e:  # a failed check is a verdict with its evidence, never an exception
                observed, verdict, explanation = _failure(e)
            rows.append({"parameter": parameter, "test": test, "sent": sent, "observed": observed,
                         "verdict": verdict, "explanation": explanation})
    finally:
        if store is not None:
            store.close()
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs.update(model=lab.model, base_url=lab.base_url, messages=messages, samples=samples, api=api)
    return df
