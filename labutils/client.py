"""Connecting to a Llama Stack and sending one chat request: `connect()`, `Lab`, `Completion`.

Taught in notebooks/00_setup_and_first_request.ipynb (the raw client calls come first there;
`Lab.chat` is the same call plus validation, timing and readable errors).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import llama_stack_client
from llama_stack_client import LlamaStackClient

from . import cache as cache_mod
from . import config, stack
from .cache import Cache
from .defaults import ServerDefaults
from .errors import ConnectionFailed, ModelNotFound, RequestFailed
from .params import check_all, messages_from, request_fields

LOCAL_URL = "http://127.0.0.1:8321"


@dataclass
class Completion:
    """One answer with what it cost: text, finish_reason, token counts, latency and the params sent.

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

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second of wall-clock latency."""
        if not self.completion_tokens or not self.latency_s:
            return None
        return self.completion_tokens / self.latency_s

    def to_record(self) -> dict[str, Any]:
        """The JSON-safe fields (no raw response) stored in the cache and in `runs` rows."""
        return {"text": self.text, "finish_reason": self.finish_reason, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "latency_s": self.latency_s, "model": self.model,
                "messages": self.messages, "params": self.params, "logprobs": self.logprobs,
                "choices": self.choices}

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


def translate(exc: Exception, *, base_url: str, model: str) -> RequestFailed | ConnectionFailed | ModelNotFound:
    """Turn a llama_stack_client exception into a lab error that says what to do."""
    if isinstance(exc, llama_stack_client.APIConnectionError):
        kind = "timed out" if isinstance(exc, llama_stack_client.APITimeoutError) else "could not connect"
        return RequestFailed(f"request to {base_url} {kind}: {str(exc).rstrip('.')}. Is the stack up? "
                             "(`python -m labutils.stack status`)", retryable=True)
    if isinstance(exc, llama_stack_client.NotFoundError):
        return ModelNotFound(f"{base_url} does not serve model {model!r}: {_server_message(exc)}")
    if isinstance(exc, llama_stack_client.APIStatusError):
        status = exc.status_code
        return RequestFailed(f"the server answered HTTP {status}: {_server_message(exc)}", status=status,
                             retryable=status >= 500 or status == 429)
    return RequestFailed(f"request failed: {exc!r}", retryable=False)


def _server_message(exc: llama_stack_client.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body.get("detail", body))
    return str(body or exc)


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

    @property
    def slots(self) -> int | None:
        """Requests the engine answers at once (llama-server's parallel slots), when known."""
        return (self.engine or {}).get("total_slots")

    @property
    def concurrency(self) -> int:
        """Requests a sweep or panel sends at once by default: `LAB_CONCURRENCY`, else the engine's slots
        (more would only queue; fewer would leave a slot idle), else 4 for a remote stack."""
        return config.get("LAB_CONCURRENCY") or self.slots or 4

    def server_defaults(self) -> ServerDefaults:
        """What a request that sets no parameter gets: read from llama-server's `/props` on the embedded
        stack; unknown (with the reason) for a remote distribution, which does not say.

        Taught in notebooks/00_setup_and_first_request.ipynb and 06_playground.ipynb.
        """
        return ServerDefaults.from_props(self.engine, self.base_url)

    def __repr__(self) -> str:
        where = "embedded" if self.embedded else "remote"
        return f"Lab(model={self.model!r}, base_url={self.base_url!r}, {where})"

    def models(self) -> list[str]:
        """Ids of the LLMs the distribution lists."""
        return llm_ids(self.client)

    def prepare(self, prompt_or_messages: str | list[dict], *, system: str | None = None,
                **params: Any) -> tuple[list[dict], dict[str, Any]]:
        """Validate messages and params exactly as `send` does, without sending anything."""
        return messages_from(prompt_or_messages, system), check_all(params, max_tokens_limit=self.context_length)

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

    def send(self, prompt_or_messages: str | list[dict], params: dict[str, Any] | None = None, *,
             system: str | None = None, on_token: Callable[[str], None] | None = None,
             cache: Cache | None = None) -> Completion:
        """The one request path of the lab: validate, apply the cache rule, send, translate errors.

        Every live call (chat, sweep, probe, playground, compare, Chat, the sampler view) comes here.
        Only reproducible requests (`cache.cacheable`) are looked up in and stored to `cache`.
        """
        messages, sent = self.prepare(prompt_or_messages, system=system, **(params or {}))
        hit = self.cached(messages, sent, cache)
        if hit is not None:
            if on_token is not None and hit.text:
                on_token(hit.text)
            return hit
        done = self._send(messages, sent, on_token)
        if cache is not None and cache_mod.cacheable(sent):
            cache.put(self.cache_key(messages, sent), done.to_record())
        return done

    def cache_key(self, messages: list[dict], params: dict[str, Any]) -> str:
        """The response cache's key of a validated request (URL, model, messages, every param, engine)."""
        return cache_mod.key(self.base_url, self.model, messages, params, engine=engine_identity(self.engine))

    def cached(self, messages: list[dict], params: dict[str, Any], cache: Cache | None) -> Completion | None:
        """The stored answer of a validated, reproducible request, or None (no cache, not cacheable, a miss)."""
        if cache is None or not cache_mod.cacheable(params):
            return None
        record = cache.get(self.cache_key(messages, params))
        return None if record is None else Completion(**record, cached=True)

    def _send(self, messages: list[dict], params: dict[str, Any],
              on_token: Callable[[str], None] | None) -> Completion:
        t0 = time.perf_counter()
        fields = request_fields(params)
        try:
            if on_token is None:
                raw = self.client.chat.completions.create(model=self.model, messages=messages, **fields)
                choice = raw.choices[0]
                text, finish, usage = choice.message.content or "", choice.finish_reason, raw.usage
                lp, choices = _logprobs(choice.logprobs), len(raw.choices)
            else:
                raw, text, finish, usage, lp, choices = self._stream(messages, fields, on_token)
        except llama_stack_client.APIError as e:
            raise translate(e, base_url=self.base_url, model=self.model) from None
        except httpx.HTTPError as e:  # e.g. the server dropped a stream half-way
            raise RequestFailed(f"request to {self.base_url} failed: {e!r}", retryable=True) from None
        latency = time.perf_counter() - t0
        return Completion(text=text, finish_reason=finish, prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None), latency_s=latency,
                          model=self.model, messages=messages, params=dict(params), logprobs=lp, choices=choices,
                          raw=raw)

    def _stream(self, messages, fields, on_token):
        pieces, finish, usage, chunks, lp, indices = [], None, None, [], [], set()
        stream = self.client.chat.completions.create(model=self.model, messages=messages, stream=True,
                                                     stream_options={"include_usage": True}, **fields)
        for chunk in stream:
            chunks.append(chunk)
            usage = getattr(chunk, "usage", None) or usage
            for choice in chunk.choices or []:
                indices.add(getattr(choice, "index", 0))
                piece = getattr(choice.delta, "content", None)
                if piece:
                    pieces.append(piece)
                    on_token(piece)
                finish = choice.finish_reason or finish
                lp.extend(_logprobs(getattr(choice, "logprobs", None)) or [])
        if usage is None:  # llama.cpp sends no usage when streaming: it streams one token per chunk
            usage = _Usage(None, len(pieces))
        return chunks, "".join(pieces), finish, usage, lp or None, max(1, len(indices))

    def sweep(self, prompt_or_messages, grid, **kwargs):
        """Run `prompt_or_messages` over every cell of `grid`; see `labutils.grid.sweep`."""
        from .grid import sweep

        return sweep(self, prompt_or_messages, grid, **kwargs)


@dataclass
class _Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


def _logprobs(raw) -> list[dict] | None:
    """Per-token logprobs as plain dicts: token, logprob, top (list of (token, logprob))."""
    content = getattr(raw, "content", None)
    if not content:
        return None
    return [{"token": t.token, "logprob": t.logprob,
             "top": [(a.token, a.logprob) for a in (t.top_logprobs or [])]} for t in content]


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
    http://127.0.0.1:8321 (started if nothing answers there and `start`). The model comes from `model`,
    then `$LAB_MODEL`, else the first llm listed. API keys for remote distributions are read from the
    environment by the client (`LLAMA_STACK_CLIENT_API_KEY`), never passed in a notebook.
    Taught in notebooks/00_setup_and_first_request.ipynb.
    """
    quiet_http_logs()
    settings = stack.Settings()
    url = (base_url or config.get("LLAMA_STACK_URL") or settings.url).rstrip("/")
    embedded = url in (settings.url, f"http://localhost:{settings.stack_port}")
    client = LlamaStackClient(base_url=url, timeout=timeout, max_retries=0)
    try:
        available = llm_ids(client)
    except llama_stack_client.APIConnectionError:
        if not (embedded and start):
            raise ConnectionFailed(f"nothing answers at {url}. Check the URL (argument or LLAMA_STACK_URL) "
                                   "and that the distribution is running; unset LLAMA_STACK_URL to use "
                                   "the embedded stack.") from None
        print(f"No Llama Stack answers at {url}: starting the embedded one (first start takes ~30 s)...",
              file=sys.stderr)
        stack.up(settings)
        available = llm_ids(client)
    except llama_stack_client.APIStatusError as e:
        raise ConnectionFailed(f"{url} answered HTTP {e.status_code} to GET /v1/models: is it a Llama Stack?") from None
    chosen = model or config.get("LAB_MODEL") or (available[0] if available else None)
    if chosen is None:
        raise ModelNotFound(f"{url} lists no llm model; register one with the distribution first")
    if chosen not in available:
        raise ModelNotFound(f"model {chosen!r} is not registered at {url}; available: "
                            f"{', '.join(available) or '(none)'}")
    engine = stack.engine_props(settings) if embedded else None
    served = ((engine or {}).get("default_generation_settings") or {}).get("n_ctx")
    context = config.get("LAB_CONTEXT_LENGTH") or served or (settings.n_ctx if embedded else None)
    return Lab(client, chosen, url, context_length=context, embedded=embedded, engine=engine)


def engine_identity(props: dict | None) -> str | None:
    """The engine behind a stack, as far as the lab can tell: llama-server's build and model file."""
    if not props:
        return None
    return f"llama-server {props.get('build_info')} {Path(str(props.get('model_path'))).name}"
