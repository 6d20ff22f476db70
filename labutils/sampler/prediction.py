"""The prediction's inputs, read from the server: the next token's top candidates (one request), the
server's own post-chain probabilities, the engine's tokens of the prompt, and the chain computed from them.

`predict(lab, prompt, **params)` is the chain, stage by stage (`labutils.sampler.chain`), for the next token
of `prompt`, each unset parameter at the server's default (`Lab.server_defaults()`); `server_view` what the
server itself samples from. Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..client import server
from ..errors import LabError
from . import chain as chain_mod
from .dry import Context, dry_on

if TYPE_CHECKING:
    from ..client import Lab

CANDIDATES = 20  # the API's top_logprobs cap


def _top(done) -> tuple[list[str], list[float], str]:
    if not done.logprobs or not done.logprobs[0].get("top"):
        raise LabError("the server returned no logprobs, so the next-token distribution cannot be predicted")
    first = done.logprobs[0]
    tokens, lps = zip(*first["top"])
    return list(tokens), list(lps), first["token"]


def _first_token_probs(content) -> pd.Series | None:
    extra = getattr(content, "model_extra", None) or {}
    top = extra.get("top_probs") or getattr(content, "top_probs", None)
    if not top:
        return None
    items = [(t["token"], float(t["prob"])) if isinstance(t, dict) else (t.token, float(t.prob)) for t in top]
    return pd.Series(dict(items), name="server").groupby(level=0).sum()


def post_sampling(lab: Lab, prompt: str | list[dict], params: dict[str, Any]) -> tuple[pd.Series | None, str]:
    """The server's post-chain probabilities of the next token (llama-server's `post_sampling_probs`), and
    a note on how they were obtained or why not. Sent through `Lab.send` like every request (unstreamed:
    see `Lab._send`)."""
    asked = {**params, "max_tokens": 1, "logprobs": True, "top_logprobs": CANDIDATES, "post_sampling_probs": True}
    try:
        done = lab.send(prompt, asked)
    except LabError as e:  # any failure is reported; the check goes on without it
        return None, f"the server's post-sampling probabilities are not available: {e}"
    for c in _choices(done.raw):
        content = getattr(getattr(c, "logprobs", None), "content", None)
        if content and _first_token_probs(content[0]) is not None:
            return _first_token_probs(content[0]), "reported by the server"
    return None, "the answer carried no post-sampling probabilities (a distribution that does not pass them on)"


def _choices(raw) -> list:
    """The choices of a response (`Completion.raw`: one response, or the list of streamed chunks)."""
    if raw is None:
        return []
    if hasattr(raw, "choices"):
        return list(raw.choices or [])
    return [c for chunk in raw for c in (getattr(chunk, "choices", None) or [])]


def _picks(done) -> list[str]:
    """The first token of every choice of an answer (choice index order)."""
    first: dict[int, str] = {}
    for c in _choices(done.raw):
        content = getattr(getattr(c, "logprobs", None), "content", None)
        index = getattr(c, "index", 0) or 0
        if content and index not in first:
            first[index] = content[0].token
    if not first:
        return [_top(done)[2]]
    return [first[i] for i in sorted(first)]


def _order(lab: Lab) -> tuple[list[str], dict[str, Any]]:
    defaults = lab.server_defaults()
    if defaults.known:
        return list(defaults.samplers or chain_mod.ORDER), dict(defaults.values)
    return list(chain_mod.ORDER), {}


def prompt_tokens(lab: Lab, prompt: str | list[dict]) -> Context | None:
    """The prompt as the engine's samplers see it before the answer's first token: its chat template
    applied, then its tokenizer, as token pieces in order (with the tokenizer, for DRY's sequence breakers).
    llama-server feeds the whole prompt to its penalties and to DRY, so the question (and the template: role
    names, markers) counts as text already written.

    None when the lab cannot ask the engine (a remote distribution: then the prediction leaves the
    penalties and DRY out and says so). Taught in notebooks/10_sampler_chain.ipynb.
    """
    engine = lab.engine_url
    if engine is None:
        return None
    messages = lab.prepare(prompt)[0]
    try:
        pieces = server.tokenize(engine, server.apply_template(engine, messages), special=True)
    except server.ENGINE_ERRORS:
        return None  # the prediction then leaves the penalties and DRY out, and says so
    return Context(tuple(pieces), lambda tail: server.tokenize(engine, tail, special=False))


def prompt_window(lab: Lab, prompt: str | list[dict], params: dict[str, Any],
                  defaults: dict[str, Any] | None = None,
                  context: Context | None = None) -> dict[str, int] | None:
    """The tokens the presence and frequency penalties count before the answer's first token: the last
    `repeat_last_n` tokens of the prompt as the engine sees it (`prompt_tokens`, or `context` when already
    read), as token -> count. Words of the question (and of the template) are penalised in the answer.

    None when no such penalty is on (nothing to count), or when the lab cannot ask the engine.
    """
    if not chain_mod.penalised(params):
        return None
    context = context or prompt_tokens(lab, prompt)
    if context is None:
        return None
    last = params.get("repeat_last_n")
    last = int((defaults or {}).get("repeat_last_n", 64) if last is None else last)
    pieces = list(context.tokens)
    window = pieces if last < 0 else pieces[len(pieces) - last:] if last > 0 else []
    return dict(Counter(window))


def _prompt_state(lab: Lab, prompt: str | list[dict], params: dict[str, Any],
                  defaults: dict[str, Any] | None) -> tuple[dict[str, int] | None, Context | None]:
    """What the penalties count (`prompt_window`) and what DRY searches (`prompt_tokens`), read from the
    engine once, and only when a penalty or DRY is on: (None, None) otherwise."""
    if not (chain_mod.penalised(params) or dry_on(params)):
        return None, None
    context = prompt_tokens(lab, prompt)
    return prompt_window(lab, prompt, params, defaults, context), context


def predict(lab: Lab, prompt: str | list[dict], **params: Any) -> chain_mod.Chain:
    """The chain, stage by stage, for the next token of `prompt` under `params` (unset = the server's
    defaults), from one request for the top-20 candidates (and, with a presence or frequency penalty or DRY
    on, the engine's tokens of the prompt: `prompt_tokens`). Taught in notebooks/10_sampler_chain.ipynb."""
    lab.prepare(prompt, **params)
    order, defaults = _order(lab)
    tokens, lps, _ = _top(lab.send(prompt, {**params, "max_tokens": 1, "logprobs": True, "top_logprobs": CANDIDATES,
                                            "temperature": 0}))
    seen, context = _prompt_state(lab, prompt, params, defaults)
    return chain_mod.run_chain(tokens, lps, chain_mod.settings_for(params, defaults), order, seen=seen,
                               context=context)


def server_view(lab: Lab, prompt: str | list[dict], **params: Any) -> pd.Series:
    """What the server really samples the next token from under `params` (its post-chain probabilities,
    at most 20 tokens), sorted; `.attrs["mass"]` is the share of that distribution the tokens shown hold
    (1.0 = all of it) and `.attrs["note"]` how it was obtained. Taught in notebooks/10_sampler_chain.ipynb."""
    lab.prepare(prompt, **params)
    probs, note = post_sampling(lab, prompt, {**params, "seed": 0})
    if probs is None:
        raise LabError(note)
    probs = probs.sort_values(ascending=False)
    probs.attrs.update(mass=float(probs.sum()), note=note)
    return probs


__all__ = ["CANDIDATES", "post_sampling", "predict", "prompt_tokens", "prompt_window", "server_view"]
