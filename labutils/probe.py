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
(`labutils.cache`), so a second probe of the same distribution is fast; the one call that checks a
repeat (same seed twice) is always sent fresh. `labutils.tables.probe_table`
shows the result with its verdicts coloured. Taught in notebooks/09_trust_but_verify.ipynb.

`probe(lab, api="responses")` runs the checks that apply to the Responses API (`Lab.respond`, stateless:
store=False): temperature and seed, max_output_tokens, top_p, and samplers sent through `extra_body`.
Taught in notebooks/14_responses_api.ipynb.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import cache as cache_mod
from ._frames import short
from .errors import ConnectionFailed, LabError, ParameterError, RequestFailed
from .params import (
    MAX_PROBE_SAMPLES,
    RESPONSES_FIELDS,
    RESPONSES_MIN_OUTPUT_TOKENS,
    check,
    choice,
    integer,
    messages_from,
    model_ids,
    shown,
)
from .responses import Memory

if TYPE_CHECKING:
    from .client import Completion, Lab

PROMPT = "Write one sentence about a cat."
COLUMNS = ["parameter", "test", "sent", "observed", "verdict", "explanation"]
VERDICTS = ("honoured", "ignored", "rejected", "not supported", "error")
MAX_TOKENS = 24  # the length of every probe answer: short, so the probe stays cheap
CUT = 5  # max_tokens of the truncation check
HIGH_T = 1.5
TINY_TOP_P = 0.01  # tiny enough that only the most likely token survives; params allows any top_p > 0
TOP_LOGPROBS = 3


APIS = ("chat", "responses")
STATELESS = Memory(store=False)  # the Responses probe keeps nothing on the server


@dataclass
class _Context:
    lab: Lab
    messages: list[dict]
    seeds: list[int]
    store: cache_mod.Cache | None
    memo: dict = field(default_factory=dict)
    api: str = "chat"

    def chat(self, **params: Any) -> Completion:
        """One probe request through `Lab.send` with the response cache (memoised within this probe)."""
        params = {"max_tokens": MAX_TOKENS, **params}
        k = repr(sorted(params.items()))
        if k not in self.memo:
            self.memo[k] = self.send(params, self.store)
        return self.memo[k]

    def send(self, params: dict[str, Any], store: cache_mod.Cache | None = None) -> Completion:
        """Send `params` (the lab's chat names) on this probe's API; on the Responses API max_tokens is
        max_output_tokens and nothing is stored on the server."""
        if self.api == "chat":
            return self.lab.send(self.messages, params, cache=store)
        params = {("max_output_tokens" if k == "max_tokens" else k): v for k, v in params.items()}
        return self.lab.send(self.messages, params, cache=store, memory=STATELESS)

    def texts(self, **params: Any) -> list[str]:
        """One answer per probe seed."""
        return [self.chat(seed=s, **params).text for s in self.seeds]


def _quoted(text: str | None, width: int = 40) -> str:
    return repr(short(text or "", width))


def _distinct(texts: list[str]) -> int:
    return len(set(texts))


# Each check returns (observed, verdict, explanation) and may raise: `probe` turns errors into verdicts.

def _temperature(ctx: _Context):
    zero, high = ctx.texts(temperature=0), ctx.texts(temperature=HIGH_T)
    n = len(ctx.seeds)
    observed = f"T=0: {_distinct(zero)} distinct of {n}; T={HIGH_T}: {_distinct(high)} distinct of {n}"
    if _distinct(zero) > 1:
        return observed, "ignored", (f"temperature=0 gave {_distinct(zero)} different answers for {n} seeds, so "
                                     "0 was not treated as greedy (perhaps dropped as 'unset' and replaced "
                                     "by a default).")
    if _distinct(high) == 1 and high[0] == zero[0]:
        return observed, "ignored", (f"temperature={HIGH_T} gave the greedy answer for every seed, so the "
                                     "server seems to decode greedily whatever temperature says.")
    return observed, "honoured", (f"temperature=0 repeated the same answer for every seed while "
                                  f"temperature={HIGH_T} changed it, as it should.")


def _seed(ctx: _Context):
    high = ctx.texts(temperature=HIGH_T)
    first = ctx.chat(temperature=HIGH_T, seed=ctx.seeds[0])
    # the repeat is sent fresh (never from the cache), otherwise it would trivially match
    again = ctx.send({"temperature": HIGH_T, "seed": ctx.seeds[0], "max_tokens": MAX_TOKENS})
    same, differ = again.text == first.text, _distinct(high) > 1
    observed = (f"seed {ctx.seeds[0]} twice: {'same' if same else 'different'}; "
                f"{len(ctx.seeds)} seeds: {_distinct(high)} distinct")
    if same and differ:
        return observed, "honoured", (f"the same seed gave the same answer twice and different seeds gave "
                                      f"{_distinct(high)} different answers at temperature {HIGH_T}.")
    if not same:
        return observed, "ignored", (f"the same seed gave two different answers ({_quoted(first.text, 25)} then "
                                     f"{_quoted(again.text, 25)}), so answers cannot be reproduced.")
    return observed, "ignored", (f"every seed gave the same answer at temperature {HIGH_T}, so the seed makes "
                                 "no difference.")


def _max_tokens(ctx: _Context):
    limit = CUT if ctx.api == "chat" else RESPONSES_MIN_OUTPUT_TOKENS  # the smallest the Responses API takes
    name = "max_tokens" if ctx.api == "chat" else "max_output_tokens"
    full = ctx.chat(temperature=0, seed=ctx.seeds[0], max_tokens=MAX_TOKENS if ctx.api == "chat" else LONG)
    cut = ctx.chat(temperature=0, seed=ctx.seeds[0], max_tokens=limit)
    tokens = cut.completion_tokens
    observed = f"{tokens} tokens, finish_reason={cut.finish_reason!r}: {_quoted(cut.text, 30)}"
    if tokens is None:
        return observed, "not supported", ("the server reported no completion token count, so the limit "
                                           "cannot be checked.")
    if tokens > limit:
        return observed, "ignored", f"the answer has {tokens} tokens, more than {name}={limit}."
    longer = (full.completion_tokens or 0) > limit
    if longer and cut.finish_reason != "length":
        return observed, "ignored", (f"the answer was cut to {tokens} tokens but finish_reason is "
                                     f"{cut.finish_reason!r}, not 'length', so a cut answer looks finished.")
    if not longer:
        return observed, "not supported", (f"even without the limit the answer has only {full.completion_tokens} "
                                           f"tokens, so {name}={limit} cannot be seen to cut it.")
    return observed, "honoured", (f"the answer stopped at {tokens} tokens (at most {limit}) with finish_reason "
                                  f"{cut.finish_reason!r}, where the unlimited one has {full.completion_tokens}.")


def stop_word(text: str) -> str | None:
    """The probe's stop string for an answer: its 3rd word (else its last), first seen at that word."""
    words = re.findall(r"[A-Za-z]{2,}", text)
    for w in words[2:] + words[1:2]:
        i = text.find(w)
        if i > 0 and text[:i].strip():
            return w
    return None


def _stop(ctx: _Context):
    full = ctx.chat(temperature=0, seed=ctx.seeds[0])
    word = stop_word(full.text)
    if word is None:
        return (f"unconstrained: {_quoted(full.text)}", "not supported",
                "the unconstrained answer has too few words to pick a stop string from, so this was not tested.")
    cut = ctx.chat(temperature=0, seed=ctx.seeds[0], stop=[word])
    observed = f"stop={word!r} -> {_quoted(cut.text, 30)}"
    if word not in cut.text and full.text.startswith(cut.text.rstrip()):
        return observed, "honoured", (f"the answer ended just before {word!r}, which the unconstrained "
                                      "answer contains.")
    if word in cut.text:
        return observed, "ignored", f"the answer still contains the stop string {word!r}."
    return observed, "ignored", ("the answer with the stop string is not the start of the unconstrained one, "
                                 "so something else changed it.")


def _top_p(ctx: _Context):
    greedy = ctx.chat(temperature=0, seed=ctx.seeds[0]).text
    tiny = ctx.texts(temperature=1.0, top_p=TINY_TOP_P)
    n = len(ctx.seeds)
    observed = f"{_distinct(tiny)} distinct of {n}; greedy answer: {'same' if tiny[0] == greedy else 'different'}"
    if _distinct(tiny) == 1:
        return observed, "honoured", (f"top_p={TINY_TOP_P} gave the same answer for all {n} seeds at temperature 1, "
                                      "as greedy decoding does.")
    return observed, "ignored", (f"top_p={TINY_TOP_P} gave {_distinct(tiny)} different answers for {n} seeds at "
                                 "temperature 1, so the nucleus was not applied.")


def _n(ctx: _Context):
    # n is a parameter like any other (labutils.params), but the lab draws samples as separate seeded
    # requests; this check only asks whether the server returns n choices in one response
    count = ctx.chat(n=2, temperature=1.0, seed=ctx.seeds[0]).choices
    observed = f"{count} choice(s)"
    if count == 2:
        return observed, "honoured", "n=2 returned two choices in one response."
    return observed, "ignored", (f"n=2 returned {count} choice(s), so the server ignores n; Lab.sweep draws "
                                 "samples as separate seeded requests instead.")


def _top_logprobs(ctx: _Context):
    done = ctx.chat(temperature=0, seed=ctx.seeds[0], logprobs=True, top_logprobs=TOP_LOGPROBS)
    lp = done.logprobs
    if not lp:
        return ("no logprobs", "ignored", "the answer came back without logprobs although logprobs=True was sent.")
    counts = sorted({len(t["top"]) for t in lp})
    observed = f"{len(lp)} tokens, alternatives per token: {', '.join(map(str, counts))}"
    if counts == [TOP_LOGPROBS]:
        return observed, "honoured", f"every token came back with its {TOP_LOGPROBS} most likely alternatives."
    return observed, "ignored", (f"tokens came back with {', '.join(map(str, counts))} alternatives instead of "
                                 f"the {TOP_LOGPROBS} requested.")


# One check per llama.cpp sampler (sent via extra_body; presence/frequency are OpenAI fields). A cut
# sampler at an extreme value leaves one candidate, so temperature 1.5 must stop varying across seeds; a
# penalty at a strong value must change the greedy answer of a prompt that invites repetition.
REPEAT_PROMPT = "Write the word cat ten times, separated by spaces."
CUTS = {"top_k": 1, "min_p": 1.0, "typical_p": 0.01}
PENALTIES = {"repeat_penalty": 2.0, "presence_penalty": 2.0, "frequency_penalty": 2.0, "dry_multiplier": 5.0}
XTC = {"xtc_probability": 1.0, "xtc_threshold": 0.1}


def _repeat(ctx: _Context) -> _Context:
    """The probe's context for the repetition prompt (same lab, seeds and cache)."""
    if "repeat" not in ctx.memo:
        ctx.memo["repeat"] = _Context(ctx.lab, messages_from(REPEAT_PROMPT), ctx.seeds, ctx.store, api=ctx.api)
    return ctx.memo["repeat"]


def _cut(name: str, value: float) -> Callable:
    def run(ctx: _Context):
        base, cut = ctx.texts(temperature=HIGH_T), ctx.texts(temperature=HIGH_T, **{name: value})
        n = len(ctx.seeds)
        observed = f"{name}={value}: {_distinct(cut)} distinct of {n}; without it: {_distinct(base)} distinct"
        if _distinct(base) == 1:
            return observed, "not supported", (f"even without {name} every seed gave the same answer at "
                                               f"temperature {HIGH_T}, so this check cannot tell.")
        if _distinct(cut) == 1:
            return observed, "honoured", (f"{name}={value} leaves one candidate per token, and all {n} seeds gave "
                                          f"the same answer at temperature {HIGH_T} (without it: {_distinct(base)}).")
        return observed, "ignored", (f"{name}={value} should leave one candidate per token, yet {n} seeds gave "
                                     f"{_distinct(cut)} different answers at temperature {HIGH_T}.")
    return run


def _changes(name: str, values: dict, on_repeat: bool = True) -> Callable:
    def run(ctx: _Context):
        where = _repeat(ctx) if on_repeat else ctx
        plain = where.chat(temperature=0, seed=ctx.seeds[0]).text
        changed = where.chat(temperature=0, seed=ctx.seeds[0], **values).text
        sent = ", ".join(f"{k}={v}" for k, v in values.items())
        observed = f"greedy {_quoted(plain, 25)}; with {sent}: {_quoted(changed, 25)}"
        if changed != plain:
            return observed, "honoured", f"{sent} changed the greedy answer, as it should."
        why = "the prompt invites repetition" if on_repeat else "XTC should remove the most likely tokens"
        return observed, "ignored", f"{sent} left the greedy answer unchanged, although {why}."
    return run


def _sampler_checks() -> list[tuple[str, str, str, Callable]]:
    rows = [(name, "an extreme value leaves one candidate: seeds stop mattering",
             f"temperature={HIGH_T}, {name}={value}", _cut(name, value)) for name, value in CUTS.items()]
    rows += [(name, "a strong penalty changes the greedy answer of a repetitive prompt",
              f"temperature=0, {name}={value}, prompt {REPEAT_PROMPT!r}", _changes(name, {name: value}))
             for name, value in PENALTIES.items()]
    rows.append(("xtc_probability", "XTC always on removes the top tokens: the greedy answer changes",
                 "temperature=0, xtc_probability=1, xtc_threshold=0.1", _changes("xtc", XTC, on_repeat=False)))
    return rows


def _checks(samples: int) -> list[tuple[str, str, str, Callable]]:
    seeds = f"seeds 1-{samples}"
    return [
        ("temperature", f"0 repeats across seeds; {HIGH_T} varies", f"temperature=0 and {HIGH_T}, {seeds}",
         _temperature),
        ("seed", "same seed, same answer; other seeds differ", f"temperature={HIGH_T}, seed 1 twice, {seeds}",
         _seed),
        ("max_tokens", f"at most {CUT} tokens, finish_reason 'length'", f"temperature=0, max_tokens={CUT}",
         _max_tokens),
        ("stop", "ends before a word of the unconstrained answer", "temperature=0, stop=[3rd word]", _stop),
        ("top_p", "a tiny nucleus decodes greedily", f"temperature=1, top_p={TINY_TOP_P}, {seeds}", _top_p),
        ("n", "n=2 returns two choices", "n=2, temperature=1", _n),
        ("top_logprobs", f"{TOP_LOGPROBS} alternatives per token", f"logprobs=True, top_logprobs={TOP_LOGPROBS}",
         _top_logprobs),
        *_sampler_checks(),
    ]


LONG = 48  # max_output_tokens of the Responses probe's uncut answer: longer than the 16 it cuts to


def _responses_checks(samples: int) -> list[tuple[str, str, str, Callable]]:
    """The checks that apply to the Responses API: its own fields and samplers sent through extra_body."""
    seeds = f"seeds 1-{samples} (extra_body)"
    cut = RESPONSES_MIN_OUTPUT_TOKENS
    return [
        ("temperature", f"0 repeats across seeds; {HIGH_T} varies", f"temperature=0 and {HIGH_T}, {seeds}",
         _temperature),
        ("seed", "same seed, same answer; other seeds differ", f"temperature={HIGH_T}, seed 1 twice, {seeds}",
         _seed),
        ("max_output_tokens", f"at most {cut} tokens, status 'incomplete' (finish_reason 'length')",
         f"temperature=0, max_output_tokens={cut} (the least allowed) vs {LONG}", _max_tokens),
        ("top_p", "a tiny nucleus decodes greedily", f"temperature=1, top_p={TINY_TOP_P}, {seeds}", _top_p),
        ("top_k", "extra_body top_k=1 leaves one candidate: seeds stop mattering",
         f"temperature={HIGH_T}, extra_body top_k=1, {seeds}", _cut("top_k", 1)),
        *[(name, "a strong penalty changes the greedy answer of a repetitive prompt",
           f"temperature=0, {name}={value}" + (" (extra_body)" if name not in RESPONSES_FIELDS else ""),
           _changes(name, {name: value})) for name, value in PENALTIES.items() if name != "dry_multiplier"],
    ]


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
    from .client import Lab

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
