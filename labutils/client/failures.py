"""What a failed request means, in words: `translate` turns a client or transport exception into a lab
error that names the part that failed and what to do. Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

import re

import httpx
import llama_stack_client

from .. import config
from ..errors import ContextTooLong, LabError, ModelNotFound, RequestFailed
from .stream import BrokenOff


def when_down(otherwise: str) -> str:
    """What to do when the stack does not answer: on a class hub (LAB_SHARED) wait for the shared stack,
    which the hub restarts; elsewhere `otherwise` (check or start the embedded stack)."""
    if config.get("LAB_SHARED"):
        return ("The class's shared Llama Stack is not answering (it may be restarting): run the cell again in "
                "a minute, and tell your instructor if it lasts.")
    return otherwise


_CONTEXT_FULL = re.compile(r"exceeds the available context size \((\d+) tokens\)")


def translate(exc: Exception | None, *, base_url: str, model: str,
              engine_down: str | None = None) -> LabError:
    """Turn a llama_stack_client or httpx exception into a lab error that says what failed and what to do.

    Failures where no server judged the request (connection refused or reset, timeout, HTTP 5xx) carry a
    `cause` naming the part that failed. `engine_down` is the address of the embedded llama-server when
    its /health does not answer: then the model server is named, not the Llama Stack in front of it.
    """
    if engine_down is not None:
        cause = f"the model server (llama-server at {engine_down}) is not answering"
        status = getattr(exc, "status_code", None)
        seen = f" (Llama Stack at {base_url} answered HTTP {status})" if status else ""
        shared = bool(config.get("LAB_SHARED"))  # a class hub restarts its stack: worth waiting for
        return RequestFailed(f"{cause}{seen}; {when_down('`python -m labutils.stack up` restarts it')}",
                             status=status, cause=cause, retryable=shared, down=not shared)
    if isinstance(exc, (llama_stack_client.APITimeoutError, httpx.TimeoutException)):
        return RequestFailed(f"request to {base_url} timed out: {str(exc).rstrip('.') or 'no answer'}. The server "
                             "was told to stop generating it; ask for fewer tokens (max_tokens) or connect with a "
                             "longer timeout.", cause=f"requests to {base_url} time out")
    if isinstance(exc, (llama_stack_client.APIConnectionError, httpx.TransportError)):
        refused = isinstance(exc.__cause__ or exc, httpx.ConnectError)
        what = "nothing answers there" if refused else "the connection broke"
        return RequestFailed(f"request to {base_url} could not connect ({what}: {str(exc).rstrip('.')}). "
                             f"{when_down('Is the stack up? (`python -m labutils.stack status`)')}", retryable=True,
                             cause=f"the Llama Stack at {base_url} is not answering" if refused
                             else f"connections to {base_url} break")
    if isinstance(exc, llama_stack_client.NotFoundError):
        return ModelNotFound(f"{base_url} does not serve model {model!r}: {_server_message(exc)}")
    if isinstance(exc, llama_stack_client.APIStatusError):
        status = exc.status_code
        told = _CONTEXT_FULL.search(_server_message(exc)) if status == 400 else None
        if told:  # llama.cpp's words; the only way a remote stack tells its context length
            error = ContextTooLong(f"the server refused the request: it does not fit the model's context of "
                                   f"{told[1]} tokens ({_server_message(exc)}). Send fewer or shorter messages "
                                   "(labutils.Chat: memory='window' or 'tokens'), or a smaller max_tokens.")
            error.context = int(told[1])
            return error
        return RequestFailed(f"the server answered HTTP {status}: {_server_message(exc)}", status=status,
                             retryable=status >= 500 or status == 429,
                             cause=f"{base_url} answers HTTP {status}" if status >= 500 else None)
    if isinstance(exc, (llama_stack_client.APIError, BrokenOff)):  # an error event, or a stream cut short
        said = _server_message(exc) if isinstance(exc, llama_stack_client.APIError) else str(exc)
        return RequestFailed(f"the server failed while answering: {said}", retryable=True,
                             cause=f"{base_url} fails mid-answer")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return RequestFailed(f"the server answered HTTP {status}", status=status, retryable=status >= 500,
                             cause=f"{base_url} answers HTTP {status}" if status >= 500 else None)
    return RequestFailed(f"request to {base_url} failed: {exc!r}", retryable=False)


def _server_message(exc: llama_stack_client.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body.get("detail", body))
    return str(body or exc)
