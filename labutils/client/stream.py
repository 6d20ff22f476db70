"""Reading a streamed chat completion: the one way `Lab.send` receives an answer.

Every request is streamed, so an abandoned answer (a timeout, Ctrl-C, a cancelled panel) can be stopped on
the server by closing its connection; `collect` puts the pieces back together as the non-streamed answer
would have been. Private to `labutils.client`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import Interrupted, RequestFailed


@dataclass
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


class BrokenOff(Exception):
    """A stream ended without saying why the answer ended (no finish_reason): the server failed mid-answer."""


class TimedOut(Exception):
    """The whole answer took longer than the client's timeout (a stream's chunks each came in time)."""


def seconds(timeout: Any) -> float | None:
    """The client's timeout in seconds (a number, or an httpx.Timeout's read timeout), None for none."""
    if isinstance(timeout, httpx.Timeout):
        timeout = timeout.read
    return float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else None


def collect(stream, on_token, t0: float, timeout: float | None, cancel: threading.Event | None):
    """Read a chat completion stream: (raw, text, finish_reason, usage, logprobs, choices) of choice 0.

    Raises Interrupted as soon as `cancel` is set and TimedOut past `timeout` seconds; the caller closes
    the stream, which is what stops the generation on the server. A 200 answer that is not a chat
    completion stream (an HTML page, JSON of another shape) becomes a RequestFailed.
    """
    pieces, finish, usage, chunks, lp, indices = [], None, None, [], [], set()
    for chunk in stream:
        if cancel is not None and cancel.is_set():
            raise Interrupted("interrupted: the request was abandoned and the server told to stop generating it")
        if timeout is not None and time.perf_counter() - t0 > timeout:
            raise TimedOut
        chunks.append(chunk)
        usage = getattr(chunk, "usage", None) or usage
        choices = getattr(chunk, "choices", None)
        for choice in choices if isinstance(choices, list) else []:
            index = getattr(choice, "index", 0)
            indices.add(index)
            if index not in (0, None):
                continue
            piece = getattr(getattr(choice, "delta", None), "content", None)
            if isinstance(piece, str) and piece:
                pieces.append(piece)
                if on_token is not None:
                    on_token(piece)
            finish = getattr(choice, "finish_reason", None) or finish
            lp.extend(logprobs(getattr(choice, "logprobs", None)) or [])
    if not indices:
        shown = repr(chunks[0])[:120] if chunks else "nothing a chat completion stream would contain"
        raise RequestFailed(f"the server answered, but not with a chat completion: got {shown}. Is the URL a "
                            "Llama Stack (or an OpenAI-compatible server)?")
    if finish is None:
        raise BrokenOff(f"the answer stream ended after {len(pieces)} pieces without a finish_reason")
    if not isinstance(getattr(usage, "completion_tokens", None), int):
        usage = Usage(getattr(usage, "prompt_tokens", None), len(pieces))  # one token per chunk on llama.cpp
    return raw_response(chunks), "".join(pieces), finish, usage, lp or None, len(indices)


def raw_response(chunks: list) -> Any:
    """The streamed chunks as one non-streamed response (`ChatCompletion`): what `Completion.raw` holds.
    A server whose chunks do not fit that shape leaves the list of chunks instead."""
    from llama_stack_client.types.chat.completion_create_response import CompletionCreateResponse

    try:
        choices: dict[int, dict] = {}
        for chunk in chunks:
            for c in chunk.choices or []:
                d = choices.setdefault(c.index or 0, {"index": c.index or 0, "finish_reason": None, "logprobs": None,
                                                      "message": {"role": "assistant", "content": ""}})
                d["message"]["content"] += c.delta.content or ""
                d["finish_reason"] = c.finish_reason or d["finish_reason"]
                if c.logprobs is not None and c.logprobs.content:
                    d["logprobs"] = d["logprobs"] or {"content": []}
                    d["logprobs"]["content"].extend(t.model_dump() for t in c.logprobs.content)
        usage = next((ch.usage for ch in reversed(chunks) if ch.usage), None)
        last = chunks[-1]
        return CompletionCreateResponse.model_validate(
            {"id": last.id, "object": "chat.completion", "created": last.created, "model": last.model,
             "choices": [choices[i] for i in sorted(choices)], "usage": usage.model_dump() if usage else None})
    except Exception:  # an odd server's (or a test fake's) fields: keep the chunks rather than fail the answer
        return chunks


def logprobs(raw) -> list[dict] | None:
    """Per-token logprobs as plain dicts: token, logprob, top (list of (token, logprob))."""
    content = getattr(raw, "content", None)
    if not content:
        return None
    return [{"token": t.token, "logprob": t.logprob,
             "top": [(a.token, a.logprob) for a in (t.top_logprobs or [])]} for t in content]
