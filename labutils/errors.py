"""The lab's exceptions: each says what went wrong and what to do about it.

Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations


class LabError(Exception):
    """Base class of every error the lab raises on purpose.

    In a notebook it shows as its one message, not a traceback through the lab's code: the message already
    says what went wrong and what to do (IPython calls `_render_traceback_`).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class StackError(LabError):
    """The embedded Llama Stack could not be started, stopped or reached."""


class ConfigError(LabError, ValueError):
    """An environment variable holds a value the lab cannot use; the message names it and what is allowed."""


class ConnectionFailed(LabError):
    """Nothing answered at the Llama Stack URL."""


class ModelNotFound(LabError):
    """The requested model is not registered with the distribution."""


class ParameterError(LabError, ValueError):
    """A generation parameter or message is invalid; raised before any request is sent."""


class ParameterTypeError(LabError, TypeError):
    """An argument of the wrong type (a number where a table is needed, ...); raised before any work."""


class ExportError(LabError, ValueError):
    """A table cannot be saved to or loaded from a file (a path that is no file, a file that does not match its
    sidecar, a value no file can hold); the message names the path and why. Nothing was written."""


class RequestFailed(LabError):
    """The server refused or failed a request; the message carries its explanation.

    `cause` names the part that failed when the request never got an answer from the model (connection
    refused or reset, timeout, HTTP 5xx, the model server down), e.g. "the model server (llama-server at
    http://127.0.0.1:8322) is not answering"; it is None when a server judged the request (HTTP 4xx).
    A sweep stops sending after a few failures in a row with the same cause. `down`: that part was checked
    and does not answer (the embedded model server's /health), so every other request in flight fails too: a
    sweep gives up on the first such failure instead of waiting for theirs.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 cause: str | None = None, down: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.cause = cause
        self.down = down


class Interrupted(LabError):
    """A request was abandoned (Ctrl-C, or its sweep was stopped); the server was told to stop generating it."""


class TooManyCalls(LabError, ValueError):
    """A sweep has more calls than `max_calls` allows (counted from the grid's size, cached or not)."""


class ContextTooLong(LabError, ValueError):
    """A conversation cannot fit the model's context or the chat's token budget: raised before sending where
    the lab knows the context, else when the server refuses the request (then `context` is the size it said)."""

    context: int | None = None
