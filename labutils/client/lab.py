"""`Lab`: the connected lab and its one send path, `Lab.send` (validate, cached, send, store); `connect()` makes one.

Taught in notebooks/00_setup_and_first_request.ipynb (the raw client calls come first there;
`Lab.chat` is the same call plus validation, timing and readable errors).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import llama_stack_client
from llama_stack_client import LlamaStackClient

from .. import config, stack
from ..errors import (
    ContextTooLong,
    LabError,
    ModelNotFound,
    ParameterError,
    RequestFailed,
)
from ..params import check_all, shown
from . import cache as cache_mod
from . import responses
from .cache import Cache
from .completion import Completion
from .failures import translate
from .request import check_responses, messages_from, model_ids, request_fields
from .responses import Memory
from .server import ServerDefaults, check_fits, engine_identity, engine_of
from .stream import BrokenOff, TimedOut, collect, logprobs, seconds


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
        and each text piece is passed to it as it arrives. With `cache` (a `labutils.client.Cache`),
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
        if cache is not None and not isinstance(cache, Cache):
            raise ParameterError(f"cache={shown(cache)} is not allowed: cache must be a labutils.client.Cache or None")
        messages, sent = self.prepare(prompt_or_messages, system=system, memory=memory, **(params or {}))
        cache = cache if memory is None or memory.stateless else None  # server state is never cached
        hit = self.cached(messages, sent, cache, memory)
        if hit is None and cache is not None and cache_mod.cacheable(sent):
            k = self.cache_key(messages, sent, memory)
            with cache.in_flight(k, seconds(getattr(self.client, "timeout", None)) or 600.0, cancel) as record:
                if record is None:  # this request generates the answer for everyone sharing the cache
                    done = self._generate(messages, sent, on_token, cancel, memory)
                    cache.put(k, done.to_record())
                    return done
                hit = Completion(**record, cached=True)
        if hit is None:
            return self._generate(messages, sent, on_token, cancel, memory)
        if on_token is not None and hit.text:
            on_token(hit.text)
        return hit

    def _generate(self, messages: list[dict], sent: dict[str, Any], on_token: Callable[[str], None] | None,
                  cancel: threading.Event | None, memory: Memory | None) -> Completion:
        self._check_fits(messages)
        return self._send(messages, sent, on_token, cancel, memory)

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
        """Refuse, before sending, a prompt that cannot fit the model's context (`server.check_fits`)."""
        check_fits(messages, self.context_length, self._engine)

    def _engine(self) -> stack.Settings | None:
        """Settings whose `llama_base` is the llama-server behind this lab's model (embedded stack only)."""
        return engine_of(self.model) if self.embedded else None

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
        from ..grid import sweep

        return sweep(self, prompt_or_messages, grid, **kwargs)


QUEUE_SHARE = 0.5  # an answer slower than this share of the client timeout warns that requests are queueing


def llm_ids(client: LlamaStackClient) -> list[str]:
    """Ids of the models of type llm that a distribution lists."""
    ids = []
    for m in client.models.list():
        meta = getattr(m, "custom_metadata", None) or {}
        kind = meta.get("model_type") or getattr(m, "model_type", None) or "llm"
        if kind == "llm":
            ids.append(m.id)
    return ids
