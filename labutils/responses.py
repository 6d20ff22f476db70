"""The Responses API beside chat.completions: what `Lab.respond` sends and how its streamed events are read.

`client.responses.create(model=..., input=..., instructions=..., max_output_tokens=...)` is Llama Stack's
second inference surface: the same model and sampler, other names (`input`/`instructions` for messages,
`max_output_tokens` for max_tokens, `output`/`output_text` for choices, `input_tokens`/`output_tokens` in
usage, `status`/`incomplete_details` for finish_reason), and a server that can keep the conversation
(`store`, `previous_response_id`, `conversation`). `Lab.respond` sends it through the lab's one request
path (`Lab.send`: validation in `labutils.params`, the cache rule, error translation); this module holds
what is particular to the surface. Private to `labutils.client`, except `Memory` and `finish_reason`.
Taught in notebooks/14_responses_api.ipynb.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import llama_stack_client

from ._stream import BrokenOff, TimedOut
from .errors import Interrupted, ParameterError, RequestFailed
from .params import responses_fields

if TYPE_CHECKING:
    from .client import Completion, Lab

SURFACE = "responses"


@dataclass(frozen=True)
class Memory:
    """What a Responses request keeps or reads on the server, besides its input.

    `instructions`: the system prompt, sent as its own field; `store`: keep the response on the server
    (so a later request can chain to it, and `client.responses.retrieve(id)` finds it); `previous_response_id`:
    continue from a stored response (the server prepends its input and output); `conversation`: a
    conversation object's id (`client.conversations.create()`), which the server extends turn by turn.
    """

    instructions: str | None = None
    store: bool = True
    previous_response_id: str | None = None
    conversation: str | None = None

    def __post_init__(self) -> None:
        for name in ("instructions", "previous_response_id", "conversation"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ParameterError(f"{name}={value!r} is not allowed: {name} must be a non-empty string or None")
        if not isinstance(self.store, bool):
            raise ParameterError(f"store={self.store!r} is not allowed: use True (the server keeps the response) "
                                 "or False")
        if self.previous_response_id is not None and self.conversation is not None:
            raise ParameterError(f"previous_response_id={self.previous_response_id!r} and conversation="
                                 f"{self.conversation!r} are not allowed together: the server keeps the history "
                                 "one way or the other, so pass one of them")

    @property
    def stateless(self) -> bool:
        """True when the answer depends on nothing the server keeps and is not kept: only such a request may
        be answered from the lab's response cache (a cached answer would create no response on the server,
        and a chained one depends on what the server holds)."""
        return not self.store and self.previous_response_id is None and self.conversation is None

    def key(self) -> dict[str, Any]:
        """What the response cache's key adds for this surface."""
        return {"api": SURFACE, "instructions": self.instructions}


def finish_reason(response: Any) -> str | None:
    """A response's status in chat.completions' words: 'completed' -> 'stop', 'incomplete' because of
    max_output_tokens -> 'length', anything else as the server said it (e.g. 'failed')."""
    status = getattr(response, "status", None)
    if status == "completed":
        return "stop"
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        return "length" if reason in ("max_output_tokens", "length") else f"incomplete: {reason}"
    return status


def _check_known(lab: Lab, memory: Memory) -> None:
    """Refuse, before generating, a previous_response_id or conversation the server does not hold."""
    checks = (("previous_response_id", memory.previous_response_id, lab.client.responses.retrieve,
               "no response with that id (it was deleted, never stored: store=False, or is another stack's); pass "
               "the .response_id of an answer sent with store=True"),
              ("conversation", memory.conversation, lab.client.conversations.retrieve,
               "no conversation with that id (it was deleted, or is another stack's); create one with "
               "lab.client.conversations.create()"))
    for name, value, look, why in checks:
        if value is None:
            continue
        try:
            look(value)
        except llama_stack_client.NotFoundError:
            raise ParameterError(f"{name}={value!r} is not allowed: {lab.base_url} holds {why}") from None
        except llama_stack_client.BadRequestError as e:  # a malformed id: the server says why
            raise ParameterError(f"{name}={value!r} is not allowed: the server says {e.message}") from None


def collect(stream, on_token: Callable[[str], None] | None, t0: float, timeout: float | None,
            cancel: threading.Event | None) -> tuple[Any, str]:
    """Read a Responses event stream: (the final response object, its text). Text comes in
    `response.output_text.delta` events; the last event (`response.completed`, `response.incomplete` or
    `response.failed`) carries the whole response with its status and usage."""
    pieces, final = [], None
    for event in stream:
        if cancel is not None and cancel.is_set():
            raise Interrupted("interrupted: the request was abandoned and the server told to stop generating it")
        if timeout is not None and time.perf_counter() - t0 > timeout:
            raise TimedOut
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            piece = getattr(event, "delta", None)
            if isinstance(piece, str) and piece:
                pieces.append(piece)
                if on_token is not None:
                    on_token(piece)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            final = event.response
        elif kind == "error":
            raise RequestFailed(f"the server failed while answering: {getattr(event, 'message', event)}",
                                retryable=True, cause="the server fails mid-answer")
    if final is None:
        raise BrokenOff(f"the response stream ended after {len(pieces)} pieces without a final status")
    if getattr(final, "status", None) == "failed":
        error = getattr(final, "error", None)
        raise RequestFailed(f"the server failed the response: {getattr(error, 'message', error)}", retryable=True,
                            cause="the server fails responses")
    return final, getattr(final, "output_text", None) or "".join(pieces)


def send(lab: Lab, messages: list[dict], params: dict[str, Any], memory: Memory,
         on_token: Callable[[str], None] | None, cancel: threading.Event | None, timeout: float | None) -> Completion:
    """One `client.responses.create`, streamed, as a `Completion` (raw: the final response object;
    `response_id` its id, for chaining). A single user message goes as the plain string `input`."""
    from .client import Completion

    _check_known(lab, memory)
    single = len(messages) == 1 and messages[0]["role"] == "user"
    request = {"input": messages[0]["content"] if single else messages, "store": memory.store,
               **({"instructions": memory.instructions} if memory.instructions else {}),
               **({"previous_response_id": memory.previous_response_id} if memory.previous_response_id else {}),
               **({"conversation": memory.conversation} if memory.conversation else {}),
               **responses_fields(params)}
    t0 = time.perf_counter()
    stream = lab.client.responses.create(model=lab.model, stream=True, **request)
    try:
        final, text = collect(stream, on_token, t0, timeout, cancel)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # an unfinished stream's connection is closed, so the server stops generating
    usage = getattr(final, "usage", None)
    return Completion(text=text, finish_reason=finish_reason(final),
                      prompt_tokens=getattr(usage, "input_tokens", None),
                      completion_tokens=getattr(usage, "output_tokens", None), latency_s=time.perf_counter() - t0,
                      model=lab.model, messages=messages, params=dict(params), raw=final,
                      response_id=getattr(final, "id", None), surface=SURFACE)


TRANSPORT_ERRORS = (llama_stack_client.APIError, httpx.HTTPError, BrokenOff)
