"""What a request that sets nothing gets: the server's own defaults, read from the server itself.

A bare request (a model and messages, nothing else) is not "no sampling": the engine fills in
every parameter the request leaves out. llama.cpp's `llama-server` says which in `GET /props`
(`default_generation_settings.params`, and the order of its sampler chain). `Lab.server_defaults()`
reads it for the embedded stack; a remote distribution does not say, so its defaults are "unknown"
with the reason, never guessed. Taught in notebooks/00_setup_and_first_request.ipynb and
05_playground.ipynb.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .. import stack
from ..errors import ContextTooLong, LabError, ParameterError
from ..params import PARAMS

# llama-server's names for the lab's parameters where they differ
_SERVER_NAMES = {"max_tokens": "n_predict"}


@dataclass(frozen=True)
class ServerDefaults:
    """The defaults of the connected engine: `values` (the lab's parameter names -> the server's value),
    `samplers` (the chain in the order the server applies it), or `known=False` and the `reason`."""

    known: bool
    values: dict[str, Any] = field(default_factory=dict)
    samplers: list[str] = field(default_factory=list)
    source: str = ""
    reason: str = ""

    @classmethod
    def from_props(cls, props: dict | None, base_url: str) -> ServerDefaults:
        """Build from llama-server's `/props` (None for a distribution the lab cannot ask)."""
        params = ((props or {}).get("default_generation_settings") or {}).get("params")
        if not params:
            return cls(False, reason=f"{base_url} is a remote distribution: Llama Stack does not report its "
                                     "engine's defaults, so a request that leaves a parameter out gets a value "
                                     "the lab cannot see. Set every parameter you compare explicitly.")
        values = {}
        for name, spec in PARAMS.items():
            server = params.get(_SERVER_NAMES.get(name, name))
            if server is None or spec.kind not in (int, float):
                continue
            if name == "max_tokens" and server < 0:
                server = None  # -1: until the answer ends or the context is full
            values[name] = round(server, 6) if isinstance(server, float) else server
        if params.get("seed") == 2**32 - 1:
            values["seed"] = None  # llama.cpp's "no seed": a random one per request
        return cls(True, values, list(params.get("samplers") or []),
                   source=f"llama-server {props.get('build_info', '')} GET /props")

    def __getitem__(self, name: str) -> Any:
        if not self.known:
            raise KeyError(f"{name}: the server's defaults are unknown ({self.reason})")
        return self.values[name]

    def only(self, *names: str) -> ServerDefaults:
        """The same defaults for `names` alone, without the sampler chain (lesson 00 shows three; the whole
        chain is taught in notebooks/10_sampler_chain.ipynb). An unknown name raises ParameterError."""
        unknown = [n for n in names if n not in PARAMS]
        if unknown or not names:
            raise ParameterError(f"names={names!r} is not allowed: name one or more of the lab's parameters "
                                 f"({', '.join(PARAMS)})")
        values = {n: self.values[n] for n in names if n in self.values}
        return ServerDefaults(self.known, values, [], source=self.source, reason=self.reason)

    def rows(self) -> list[dict[str, Any]]:
        """One row per parameter: name, the server's default, and what the value means."""
        def meaning(name: str, value: Any) -> str:
            if value is None:
                return {"max_tokens": "no limit: until the answer ends or the context is full",
                        "seed": "a new random seed for every request"}.get(name, "")
            return PARAMS[name].help
        return [{"parameter": k, "default": v, "meaning": meaning(k, v)} for k, v in self.values.items()]

    def __repr__(self) -> str:
        if not self.known:
            return f"ServerDefaults(unknown: {self.reason})"
        pairs = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        order = f"; sampler order: {' > '.join(self.samplers)}" if self.samplers else ""
        return f"ServerDefaults({pairs}{order})"

    def _repr_html_(self) -> str:
        if not self.known:
            return f"<p><b>Server defaults unknown</b>: {html.escape(self.reason)}</p>"
        body = "".join(f"<tr><td><code>{r['parameter']}</code></td><td>{html.escape(repr(r['default']))}</td>"
                       f"<td>{html.escape(r['meaning'])}</td></tr>" for r in self.rows())
        order = (f"; sampler order: <code>{html.escape(' → '.join(self.samplers))}</code>" if self.samplers
                 else "")
        return (f"<p>What a request that sets nothing gets ({html.escape(self.source)}){order}</p>"
                f"<table><tr><th>parameter</th><th>default</th><th>meaning</th></tr>{body}</table>")


__all__ = ["ServerDefaults"]


# --- the llama-server behind a model of the embedded stack, and its own endpoints: template, tokenizer ----

TEMPLATE_ROOM = 32  # tokens a chat template may add per message (roles, markers, a default system prompt)


def engine_of(model: str) -> stack.Settings | None:
    """Settings whose `llama_base` is the llama-server behind `model` on the embedded stack (None: unknown)."""
    try:
        s = stack.Settings()
        ports = {server.name: server.port for server in stack.engines(s)}
        ports[stack.PROVIDER_ID] = stack.servers(s)[0].port  # the first model: its pool's balancer
    except LabError:  # a bad LAB_* variable: connect() reports it; here the engine is just unknown
        return None
    port = ports.get(model.split("/")[0])
    return None if port is None else dataclasses.replace(s, llama_port=port)


def check_fits(messages: list[dict], context_length: int | None, engine: Callable[[], stack.Settings | None]) -> None:
    """Refuse, before sending, a prompt that cannot fit the model's context.

    A token holds at least one byte, so a prompt of fewer bytes (plus room for the chat template) than
    the context surely fits and is not counted. A longer one is counted exactly by the embedded
    llama-server behind `engine()` (its chat template, then its tokenizer). A remote distribution's
    tokenizer is unknown, and a guess could refuse a prompt that fits, so there the server decides.
    """
    size = sum(len(m["content"].encode("utf-8")) for m in messages)
    if not context_length or size + TEMPLATE_ROOM * (len(messages) + 1) < context_length:
        return
    found = engine()
    count = None if found is None else count_tokens(found.llama_base, messages)
    if count is not None and count >= context_length:
        raise ContextTooLong(f"the prompt is {count} tokens but the model's context holds {context_length} "
                             "(prompt and answer together): shorten the prompt or the conversation; nothing "
                             "was sent")


# --- llama-server's own endpoints (beside /v1): its chat template and its tokenizer -------------------

ENGINE_ERRORS = (httpx.HTTPError, ValueError, KeyError, TypeError)  # an engine that cannot answer these now


def apply_template(engine: str, messages: list[dict], timeout: float = 10) -> str:
    """The prompt text llama-server at `engine` makes of `messages` (its chat template: `/apply-template`)."""
    with httpx.Client(timeout=timeout) as http:
        return http.post(f"{engine}/apply-template", json={"messages": messages}).json()["prompt"]


def tokenize(engine: str, text: str, *, special: bool, timeout: float = 10) -> list[str]:
    """The engine's tokens of `text` as pieces (`special`: add the model's special tokens and read marker
    text such as <|im_start|> as one token, as a prompt is read; off for a sequence breaker's tail)."""
    with httpx.Client(timeout=timeout) as http:
        tokens = http.post(f"{engine}/tokenize", json={"content": text, "add_special": special,
                                                       "parse_special": special, "with_pieces": True}).json()["tokens"]
    return [t["piece"] if isinstance(t["piece"], str) else bytes(t["piece"]).decode("utf-8", "replace")
            for t in tokens]


def count_tokens(engine: str, messages: list[dict]) -> int | None:
    """Prompt tokens of `messages` on llama-server at `engine` (its chat template, then its tokenizer), or
    None when it cannot say now (the server will judge)."""
    try:
        with httpx.Client(timeout=5) as http:
            prompt = http.post(f"{engine}/apply-template", json={"messages": messages}).json()["prompt"]
            return len(http.post(f"{engine}/tokenize", json={"content": prompt, "add_special": True}).json()["tokens"])
    except ENGINE_ERRORS:
        return None


def engine_identity(props: dict | None) -> str | None:
    """The engine behind a stack, as far as the lab can tell: its name and version (the `xllamacpp` wheel's,
    or a source-built llama-server's build) and the model file."""
    if not props:
        return None
    engine = props.get("lab_engine") or f"llama-server {props.get('build_info')}"
    return f"{engine} {Path(str(props.get('model_path'))).name}"
