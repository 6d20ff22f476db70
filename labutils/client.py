"""Connecting to a Llama Stack and sending one chat request: `connect()`, `Lab`, `Completion`.

Taught in notebooks/00_setup_and_first_request.ipynb (the raw client calls come first there;
`Lab.chat` is the same call plus validation, timing and readable errors).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import httpx
import llama_stack_client
from llama_stack_client import LlamaStackClient

from . import cache as cache_mod
from . import config, responses, stack
from ._stream import BrokenOff, TimedOut, collect, logprobs, seconds
from .cache import Cache
from .defaults import ServerDefaults
from .errors import (
    ConnectionFailed,
    ContextTooLong,
    LabError,
    ModelNotFound,
    ParameterError,
    RequestFailed,
)
from .failures import translate, when_down
from .params import check_all, check_responses, messages_from, model_ids, request_fields, shown
from .responses import Memory

LOCAL_URL = "http://127.0.0.1:8321"


@dataclass
class Completion:
    """One answer with what it cost: text, finish_reason, token counts, latency and the params sent.

    finish_reason is the engine's ("stop", "length"), except "context_length": prompt and answer filled the
    model's context before max_tokens was reached (the engine says "length" for that too).

    Taught in notebooks/00_setup_and_first_request.ipynb.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    model: str
    messages: list[dict]
    params: dict[str, Any]
    logprobs: list[dict] | None = None
    choices: int = 1
    raw: Any = field(default=None, repr=False)
    cached: bool = False
    response_id: str | None = None  # the Responses API's id of the answer (Lab.respond), for previous_response_id
    surface: str = "chat"  # which API answered: "chat" (chat.completions) or "responses"

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second of wall-clock latency."""
        if not self.completion_tokens or not self.latency_s:
            return None
        return self.completion_tokens / self.latency_s

    def to_record(self) -> dict[str, Any]:
        """The JSON-safe fields (no raw response) stored in the cache and in `runs` rows."""
        record = {"text": self.text, "finish_reason": self.finish_reason, "prompt_tokens": self.prompt_tokens,
                  "completion_tokens": self.completion_tokens, "latency_s": self.latency_s, "model": self.model,
                  "messages": self.messages, "params": self.params, "logprobs": self.logprobs,
                  "choices": self.choices}
        if self.surface != "chat":  # a chat answer's record stays as it always was
            record.update(surface=self.surface, response_id=self.response_id)
        return record

    def _repr_markdown_(self) -> str:
        sent = ", ".join(f"{k}={v!r}" for k, v in self.params.items()) or "server defaults"
        tps = f"{self.tokens_per_s:.0f} tok/s" if self.tokens_per_s else "-"
        return (f"{self.text}\n\n---\n*finish_reason* `{self.finish_reason}` · *tokens* "
                f"{self.prompt_tokens} in / {self.completion_tokens} out · {self.latency_s:.2f} s ({tps})"
                f"{' · cached' if self.cached else ''} · *sent* {sent}")


def quiet_http_logs() -> None:
    """Hide httpx's per-request INFO lines, unless the user configured that logger themselves."""
    logger = logging.getLogger("httpx")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class Lab:
    """A connected lab: the raw `client`, the chosen `model`, and helpers that use them.

    Build it with `labutils.connect()`. Taught in notebooks/00_setup_and_first_request.ipynb.
    """

    def __init__(self, client: LlamaStackClient, model: str, base_url: str, *,
                 context_length: int | None = None, embedded: bool = False, engine: dict | None = None):
        self.client = client
        self.model = model
        self.base_url = base_url
        self.context_length = context_length
        self.embedded = embedded
        self.engine = engine  # llama-server's /props when the lab can reach it (the embedded stack), else None
        self._others: dict[str, Lab] = {}  # labs of the distribution's other models, made by `using`

    @property
    def slots(self) -> int | None:
        """Requests the model's engines answer at once, when known: the slots of every engine of the
        embedded pool together (one single-thread engine per core), else one engine's parallel slots."""
        engine = self.engine or {}
        return (engine.get("pool") or {}).get("slots") or engine.get("total_slots")

    @property
    def engine_slots(self) -> int | None:
        """Slots of ONE engine (what a single request with `n` choices can use), when known."""
        return (self.engine or {}).get("total_slots")

    @property
    def concurrency(self) -> int:
        """Requests a sweep or panel sends at once by default: `LAB_CONCURRENCY`, else the engines' slots
        (more would only queue; fewer would leave a slot idle), else 4 for a remote stack."""
        return config.get("LAB_CONCURRENCY") or self.slots or 4

    def server_defaults(self) -> ServerDefaults:
        """What a request that sets no parameter gets: read from llama-server's `/props` on the embedded
        stack; unknown (with the reason) for a remote distribution, which does not say.

        Taught in notebooks/00_setup_and_first_request.ipynb and 05_playground.ipynb.
        """
        return ServerDefaults.from_props(self.engine, self.base_url)

    def __repr__(self) -> str:
        where = "embedded" if self.embedded else "remote"
        return f"Lab(model={self.model!r}, base_url={self.base_url!r}, {where})"

    @property
    def engine_url(self) -> str | None:
        """The URL of the llama-server behind this lab's model on the embedded stack (for what Llama Stack
        does not pass on: its tokenizer, its chat template), None on a remote distribution.

        Taught in notebooks/10_sampler_chain.ipynb.
        """
        found = self._engine()
        return None if found is None else found.llama_base

    def models(self) -> list[str]:
        """Ids of the LLMs the distribution lists."""
        return llm_ids(self.client)

    def using(self, model: str | None) -> Lab:
        """This lab answering with another of the distribution's models: same client, server and settings;
        its own engine (slots, defaults, context length) on the embedded stack. None or `self.model` is
        this lab. A model the server does not list is refused before any request, naming the ones it lists.

        >>> lab.using("llama-cpp2/gemma3-270m").chat("The capital of France is")  # doctest: +SKIP

        Taught in notebooks/13_models_side_by_side.ipynb.
        """
        if model is not None and not isinstance(model, str):
            raise ParameterError(f"model={shown(model)} is not allowed: using() takes one model id (a string) or "
                                 "None; a list of models is a Grid axis: Grid(model=[...])")
        if model is None or model == self.model:
            return self
        if model not in self._others:
            (model,) = model_ids("model", model)
            available = self.models()
            if model not in available:
                raise ModelNotFound(f"model={model!r} is not allowed: {self.base_url} does not list it; "
                                    f"available: {', '.join(available) or '(none)'}")
            other = Lab(self.client, model, self.base_url, embedded=self.embedded)
            other._read_engine(context=self.context_length)  # its own llama-server on the embedded stack
            self._others[model] = other
        return self._others[model]

    def prepare(self, prompt_or_messages: str | list[dict], *, system: str | None = None, memory: Memory | None = None,
                **params: Any) -> tuple[list[dict], dict[str, Any]]:
        """Validate messages and params exactly as `send` does, without sending anything (with `memory`: as a
        Responses request, whose system prompt is `memory.instructions`).

        `n` (choices per request) is also bounded by one engine's parallel slots where they are known:
        llama-server refuses more (HTTP 400)."""
        if memory is not None:
            return messages_from(prompt_or_messages), check_responses(params, max_tokens_limit=self.context_length)
        messages = messages_from(prompt_or_messages, system)
        sent = check_all(params, max_tokens_limit=self.context_length)
        slots = self.engine_slots if isinstance(self.engine_slots, int) else None
        if slots and sent.get("n", 1) > slots:
            raise ParameterError(f"n={sent['n']} is not allowed: the engine behind {self.model} answers at most "
                                 f"{slots} choices per request (its parallel slots), so n must be an integer in "
                                 f"[1, {slots}]")
        return messages, sent

    def chat(self, prompt_or_messages: str | list[dict], *, system: str | None = None,
             on_token: Callable[[str], None] | None = None, cache: Cache | None = None, **params: Any) -> Completion:
        """Send one chat completion and return a `Completion`.

        A string prompt becomes a user message, `system` prepends a system message. `params` are the
        names in `labutils.params.PARAMS` (temperature, top_p, max_tokens, seed, stop, logprobs,
        top_logprobs, n and llama.cpp's samplers such as top_k or min_p); each is validated before
        sending (None means "server default"; 0 is sent as 0). With `on_token`, the answer is streamed
        and each text piece is passed to it as it arrives. With `cache` (a `labutils.cache.Cache`),
        reproducible requests are answered from it and stored in it, as in a sweep.

        >>> lab.chat("Name a colour.", temperature=0, max_tokens=5).text  # doctest: +SKIP
        """
        return self.send(prompt_or_messages, params, system=system, on_token=on_token, cache=cache)

    def respond(self, input: str | list[dict], *, instructions: str | None = None, store: bool = True,
                previous_response_id: str | None = None, conversation: str | None = None,
                on_token: Callable[[str], None] | None = None, cache: Cache | None = None, **params: Any) -> Completion:
        """Send one request through the Responses API (`client.responses.create`) and return a `Completion`.

        The same request as `chat`, in the Responses API's words: `input` (a prompt or messages),
        `instructions` (the system prompt), `max_output_tokens` (at least 16) instead of max_tokens; seed and
        llama.cpp's samplers travel in `extra_body`. `store=True` keeps the answer on the server:
        its `.response_id` can be passed as `previous_response_id` to continue the conversation there, or
        `conversation` names a conversation object the server extends. An unknown id is refused before
        generating. `finish_reason` says 'stop' or 'length' as chat does (the response's status is in `.raw`).
        Only stateless requests (store=False, no previous_response_id or conversation) use `cache`.

        >>> first = lab.respond("My name is Ada.", temperature=0, max_output_tokens=32)  # doctest: +SKIP
        >>> lab.respond("What is my name?", previous_response_id=first.response_id).text  # doctest: +SKIP

        Taught in notebooks/14_responses_api.ipynb.
        """
        memory = Memory(instructions, store, previous_response_id, conversation)
        return self.send(input, params, on_token=on_token, cache=cache, memory=memory)

    def send(self, prompt_or_messages: str | list[dict], params: dict[str, Any] | None = None, *,
             system: str | None = None, on_token: Callable[[str], None] | None = None,
             cache: Cache | None = None, cancel: threading.Event | None = None,
             memory: Memory | None = None) -> Completion:
        """The one request path of the lab: validate, apply the cache rule, send, translate errors.

        Every live call (chat, sweep, probe, playground, compare, Chat, the sampler view) comes here.
        Only reproducible requests (`cache.cacheable`) are looked up in and stored to `cache`; while one is
        generated, the same request from another process sharing the cache waits for its answer instead of
        sending it again (`Cache.claim`). Setting `cancel` (a threading.Event) abandons the request; the
        server stops generating it. With `memory` the request goes to the Responses API (see `respond`);
        only a stateless one (`Memory.stateless`) uses the cache, under a key that names that API.
        """
        if on_token is not None and not callable(on_token):
            raise ParameterError(f"on_token={shown(on_token)} is not allowed: on_token must be a function that takes "
                                 "each text piece (e.g. print), or None")
        if params is not None and not (isinstance(params, dict) and all(isinstance(k, str) for k in params)):
            raise ParameterError(f"params={shown(params)} is not allowed: params must be a dict of parameters, "
                                 "e.g. {'temperature': 0.7}, or None")
        if cache is not None and not (hasattr(cache, "get") and hasattr(cache, "put")):
            raise ParameterError(f"cache={shown(cache)} is not allowed: cache must be a labutils.cache.Cache or None")
        messages, sent = self.prepare(prompt_or_messages, system=system, memory=memory, **(params or {}))
        cache = cache if memory is None or memory.stateless else None  # server state is never cached
        hit = self.cached(messages, sent, cache, memory)
        claimed = None  # the key this request generates for everyone sharing the cache
        if hit is None and cache is not None and cache_mod.cacheable(sent) and hasattr(cache, "claim"):
            k, ttl = self.cache_key(messages, sent, memory), seconds(getattr(self.client, "timeout", None)) or 600.0
            mine = cache.claim(k, ttl)
            if not mine:  # the same request is in flight elsewhere: its answer is ours too
                record = cache.wait(k, ttl, cancel)
                hit = None if record is None else Completion(**record, cached=True)
                mine = hit is None and cache.claim(k, ttl)  # it gave up: generate it here
            claimed = k if mine else None
        if hit is not None:
            if on_token is not None and hit.text:
                on_token(hit.text)
            return hit
        try:
            self._check_fits(messages)
            done = self._send(messages, sent, on_token, cancel, memory)
            if cache is not None and cache_mod.cacheable(sent):
                cache.put(self.cache_key(messages, sent, memory), done.to_record())
        finally:
            if claimed is not None:
                cache.release(claimed)
        return done

    def cache_key(self, messages: list[dict], params: dict[str, Any], memory: Memory | None = None) -> str:
        """The response cache's key of a validated request (URL, model, messages, every param, engine, and
        for a Responses request the API and its instructions)."""
        return cache_mod.key(self.base_url, self.model, messages, params, engine=engine_identity(self.engine),
                             surface=None if memory is None else memory.key())

    def cached(self, messages: list[dict], params: dict[str, Any], cache: Cache | None,
               memory: Memory | None = None) -> Completion | None:
        """The stored answer of a validated, reproducible request, or None (no cache, not cacheable, a miss)."""
        if cache is None or not cache_mod.cacheable(params):
            return None
        record = cache.get(self.cache_key(messages, params, memory))
        return None if record is None else Completion(**record, cached=True)

    def _send(self, messages: list[dict], params: dict[str, Any], on_token: Callable[[str], None] | None,
              cancel: threading.Event | None = None, memory: Memory | None = None) -> Completion:
        """Send one request, streamed: an abandoned answer (timeout, Ctrl-C, `cancel` set) closes its
        connection, and only a stream's closed connection makes Llama Stack stop the engine's generation
        (a non-streamed request runs to its end on the server, whatever the client does).

        The one exception: a request for `post_sampling_probs` goes unstreamed, because Llama Stack 0.7.3
        refuses a streamed chunk whose logprob is null, which is how llama-server reports them; such a
        request asks for the next token's probabilities (lesson 10), one short answer with nothing to cancel.
        """
        engine = self._engine() if self._engine_down else None
        if engine is not None and not stack.engine_healthy(engine):  # still down: fail without sending
            raise translate(None, base_url=self.base_url, model=self.model, engine_down=engine.llama_base)
        self._engine_down = False
        t0 = time.perf_counter()
        timeout = seconds(getattr(self.client, "timeout", None))
        try:
            if memory is not None:  # the Responses API (Lab.respond)
                return responses.send(self, messages, params, memory, on_token, cancel, timeout)
            if params.get("post_sampling_probs") and on_token is None and cancel is None:
                raw = self.client.chat.completions.create(model=self.model, messages=messages,
                                                          **request_fields(params))
                first = raw.choices[0]
                text, finish, usage = first.message.content or "", first.finish_reason, raw.usage
                lp, choices = logprobs(first.logprobs), len(raw.choices)
            else:
                stream = self.client.chat.completions.create(model=self.model, messages=messages, stream=True,
                                                             stream_options={"include_usage": True},
                                                             **request_fields(params))
                try:
                    raw, text, finish, usage, lp, choices = collect(stream, on_token, t0, timeout, cancel)
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()  # an unfinished stream's connection is closed, so the server stops generating
        except (llama_stack_client.APIError, httpx.HTTPError, BrokenOff) as e:
            raise self._failure(e) from None
        except TimedOut:
            raise RequestFailed(f"request to {self.base_url} timed out: no complete answer within {timeout:g} s "
                                "(the client's timeout). The server was told to stop generating it; ask for "
                                "fewer tokens (max_tokens) or connect with a longer timeout.",
                                cause=f"requests to {self.base_url} time out (after {timeout:g} s)") from None
        latency = time.perf_counter() - t0
        self._queueing(latency, timeout)
        finish = self._finish(finish, usage, params)
        return Completion(text=text, finish_reason=finish, prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None), latency_s=latency,
                          model=self.model, messages=messages, params=dict(params), logprobs=lp, choices=choices,
                          raw=raw)

    _queue_warned = False

    def _queueing(self, latency: float, timeout: float | None) -> None:
        """Warn once per lab when an answer took more than QUEUE_SHARE of the client's timeout: requests are
        waiting for the engine's slots (or one is long), and a little more would time out."""
        if timeout and latency > QUEUE_SHARE * timeout and not self._queue_warned:
            self._queue_warned = True
            warnings.warn(f"an answer took {latency:.0f} s, {latency / timeout:.0%} of the client's {timeout:g} s "
                          f"timeout: the engine is busy (requests are queueing for its {self.slots or 'unknown'} "
                          "slot(s)) or the request is long, so a little more will time out. Send fewer at once "
                          "(concurrency=..., LAB_CONCURRENCY), ask for fewer tokens, or connect with a longer "
                          "timeout. (Warned once.)", stacklevel=4)

    def _finish(self, finish: str | None, usage: Any, params: dict[str, Any]) -> str | None:
        """The finish_reason to report: "context_length" (not "length") when the answer stopped because prompt and
        answer filled the model's context before max_tokens was reached: the engine says "length" for both."""
        used = (getattr(usage, "prompt_tokens", None) or 0) + (getattr(usage, "completion_tokens", None) or 0)
        limit = params.get("max_tokens")
        if (finish == "length" and self.context_length and used >= self.context_length
                and (limit is None or (getattr(usage, "completion_tokens", None) or 0) < limit)):
            return "context_length"
        return finish

    _engine_down = False  # the last request found the embedded model server down: check it before sending

    def _read_engine(self, fallback: stack.Settings | None = None, context: int | None = None) -> None:
        """Read the llama-server behind this lab's model (embedded stack; `fallback` when its port is not
        found): `engine` is its `/props`, `context_length` is `LAB_CONTEXT_LENGTH`, else what it serves,
        else the stack's setting, else `context`. A remote stack's engine is unknown (None)."""
        found = (self._engine() or fallback) if self.embedded else None
        self.engine = stack.engine_props(found) if found is not None else None
        served = ((self.engine or {}).get("default_generation_settings") or {}).get("n_ctx")
        self.context_length = (config.get("LAB_CONTEXT_LENGTH") or served
                               or (found.n_ctx if found is not None else None) or context)

    def _check_fits(self, messages: list[dict]) -> None:
        """Refuse, before sending, a prompt that cannot fit the model's context.

        A token holds at least one byte, so a prompt of fewer bytes (plus room for the chat template) than
        the context surely fits and is not counted. A longer one is counted exactly by the embedded
        llama-server (its chat template, then its tokenizer). A remote distribution's tokenizer is
        unknown, and a guess could refuse a prompt that fits, so there the server decides.
        """
        size = sum(len(m["content"].encode("utf-8")) for m in messages)
        if not self.context_length or size + TEMPLATE_ROOM * (len(messages) + 1) < self.context_length:
            return
        engine = self._engine()
        count = None if engine is None else _count_tokens(engine.llama_base, messages)
        if count is not None and count >= self.context_length:
            raise ContextTooLong(f"the prompt is {count} tokens but the model's context holds {self.context_length} "
                                 "(prompt and answer together): shorten the prompt or the conversation; nothing "
                                 "was sent")

    def _engine(self) -> stack.Settings | None:
        """Settings whose `llama_base` is the llama-server behind this lab's model (embedded stack only)."""
        if not self.embedded:
            return None
        try:
            s = stack.Settings()
            ports = {server.name: server.port for server in stack.engines(s)}
            ports[stack.PROVIDER_ID] = stack.servers(s)[0].port  # the first model: its pool's balancer
        except LabError:  # a bad LAB_* variable: connect() reports it; here the engine is just unknown
            return None
        port = ports.get(self.model.split("/")[0])
        return None if port is None else dataclasses.replace(s, llama_port=port)

    def _failure(self, exc: Exception) -> LabError:
        """A transport error as a lab error naming the part that failed: when Llama Stack answers 5xx or
        drops the request and the embedded llama-server's /health does not answer, the model server."""
        err = translate(exc, base_url=self.base_url, model=self.model)
        if isinstance(err, ContextTooLong) and err.context and not self.context_length:
            self.context_length = err.context  # a remote server told its context: later requests check it first
        engine = self._engine() if isinstance(err, RequestFailed) and err.cause else None
        if engine is not None and not stack.engine_healthy(engine):
            self._engine_down = True
            return translate(exc, base_url=self.base_url, model=self.model, engine_down=engine.llama_base)
        return err

    def sweep(self, prompt_or_messages, grid, **kwargs):
        """Run `prompt_or_messages` over every cell of `grid`; see `labutils.grid.sweep`."""
        from .grid import sweep

        return sweep(self, prompt_or_messages, grid, **kwargs)


QUEUE_SHARE = 0.5  # an answer slower than this share of the client timeout warns that requests are queueing
TEMPLATE_ROOM = 32  # tokens a chat template may add per message (roles, markers, a default system prompt)


def _count_tokens(engine: str, messages: list[dict]) -> int | None:
    """Prompt tokens of `messages` on llama-server at `engine` (its /apply-template, then /tokenize), or None."""
    try:
        with httpx.Client(timeout=5) as http:
            prompt = http.post(f"{engine}/apply-template", json={"messages": messages}).json()["prompt"]
            return len(http.post(f"{engine}/tokenize", json={"content": prompt, "add_special": True}).json()["tokens"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None  # not countable now: the server will judge


def llm_ids(client: LlamaStackClient) -> list[str]:
    """Ids of the models of type llm that a distribution lists."""
    ids = []
    for m in client.models.list():
        meta = getattr(m, "custom_metadata", None) or {}
        kind = meta.get("model_type") or getattr(m, "model_type", None) or "llm"
        if kind == "llm":
            ids.append(m.id)
    return ids


def connect(base_url: str | None = None, model: str | None = None, *, start: bool = True,
            timeout: float = 120.0) -> Lab:
    """Connect to a Llama Stack and pick a model; start the embedded stack when it is the target.

    The URL comes from `base_url`, then `$LLAMA_STACK_URL`, else the embedded stack at
    http://127.0.0.1:8321 (started if nothing answers there and `start`, unless `$LAB_SHARED` says a
    class hub shares one stack: then nothing is ever started, see deploy/README.md). The model comes from `model`,
    then `$LAB_MODEL`, else the first llm listed. API keys for remote distributions are read from the
    environment by the client (`LLAMA_STACK_CLIENT_API_KEY`), never passed in a notebook.
    Taught in notebooks/00_setup_and_first_request.ipynb.
    """
    quiet_http_logs()
    if isinstance(timeout, bool) or not isinstance(timeout, Real) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise ParameterError(f"timeout={shown(timeout)} is not allowed: timeout must be a number of seconds in "
                             f"(0, {MAX_TIMEOUT_S}]")
    timeout = float(timeout)
    for name, value in (("base_url", base_url), ("model", model)):
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise ParameterError(f"{name}={shown(value)} is not allowed: {name} must be a non-empty string or None")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ParameterError(f"base_url={shown(base_url)} is not allowed: give an http:// or https:// URL, "
                             "e.g. http://127.0.0.1:8321")
    if not isinstance(start, bool):
        raise ParameterError(f"start={shown(start)} is not allowed: start must be True or False")
    settings = stack.Settings()
    url = (base_url or config.get("LLAMA_STACK_URL") or settings.url).rstrip("/")
    embedded = url in (settings.url, f"http://localhost:{settings.stack_port}")
    client = LlamaStackClient(base_url=url, timeout=timeout, max_retries=0)
    try:
        available = llm_ids(client)
    except llama_stack_client.APITimeoutError:  # something listens but does not answer: never restarted here
        raise ConnectionFailed(_slow(url, timeout)) from None
    except llama_stack_client.APIConnectionError:
        if config.get("LAB_SHARED"):  # a class hub: the shared stack is the hub's to start, never a learner's
            raise ConnectionFailed(f"nothing answers at {url}. {when_down('')}") from None
        if not (embedded and start):
            raise ConnectionFailed(f"nothing answers at {url}. Check the URL (argument or LLAMA_STACK_URL) "
                                   "and that the distribution is running; unset LLAMA_STACK_URL to use "
                                   "the embedded stack.") from None
        print(f"No Llama Stack answers at {url}: starting the embedded one (first start takes ~30 s)...",
              file=sys.stderr)
        stack.up(settings)
        try:
            available = llm_ids(client)
        except llama_stack_client.APITimeoutError:
            raise ConnectionFailed(_slow(url, timeout)) from None
        except llama_stack_client.APIConnectionError as e:
            raise ConnectionFailed(f"the embedded stack was started but nothing answers at {url} ({e}); "
                                   "see `make logs`") from None
    except llama_stack_client.APIStatusError as e:
        raise ConnectionFailed(f"{url} answered HTTP {e.status_code} to GET /v1/models: is it a Llama Stack?") from None
    chosen = model or config.get("LAB_MODEL") or (available[0] if available else None)
    if chosen is None:
        raise ModelNotFound(f"{url} lists no llm model; register one with the distribution first")
    if chosen not in available:
        raise ModelNotFound(f"model {chosen!r} is not registered at {url}; available: "
                            f"{', '.join(available) or '(none)'}")
    lab = Lab(client, chosen, url, embedded=embedded)
    lab._read_engine(fallback=settings)
    return lab


MAX_TIMEOUT_S = 86_400  # a day: the longest client timeout connect() accepts


def _slow(url: str, timeout: float) -> str:
    """The message of a stack that accepts connections but answers no request within the timeout."""
    return (f"{url} did not answer GET /v1/models within {timeout:g} s (the timeout), but nothing refused the "
            "connection either: a server listens there and is busy, paused or hung. It was left running (the lab "
            "never restarts a stack that may be alive); try again, connect with a longer timeout=..., or restart "
            "it yourself (`make down && make up`).")


def engine_identity(props: dict | None) -> str | None:
    """The engine behind a stack, as far as the lab can tell: its name and version (the `xllamacpp` wheel's,
    or a source-built llama-server's build) and the model file."""
    if not props:
        return None
    engine = props.get("lab_engine") or f"llama-server {props.get('build_info')}"
    return f"{engine} {Path(str(props.get('model_path'))).name}"
