"""`connect()`: find the Llama Stack (starting the embedded one when it is the target) and pick a model.

Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

import logging
import sys
from numbers import Real

import llama_stack_client
from llama_stack_client import LlamaStackClient

from .. import config, stack
from ..errors import ConnectionFailed, ModelNotFound, ParameterError
from ..params import shown
from .failures import when_down
from .lab import Lab, llm_ids

LOCAL_URL = "http://127.0.0.1:8321"
MAX_TIMEOUT_S = 86_400  # a day: the longest client timeout connect() accepts


def quiet_http_logs() -> None:
    """Hide httpx's per-request INFO lines, unless the user configured that logger themselves."""
    logger = logging.getLogger("httpx")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


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


def _slow(url: str, timeout: float) -> str:
    """The message of a stack that accepts connections but answers no request within the timeout."""
    return (f"{url} did not answer GET /v1/models within {timeout:g} s (the timeout), but nothing refused the "
            "connection either: a server listens there and is busy, paused or hung. It was left running (the lab "
            "never restarts a stack that may be alive); try again, connect with a longer timeout=..., or restart "
            "it yourself (`make down && make up`).")


