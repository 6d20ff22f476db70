"""llama-server, the engine of the embedded stack: its command line and what it answers over HTTP.

Standard library only; `labutils.stack` starts and stops it.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from .process import HOST

if TYPE_CHECKING:
    from . import Settings

# Environment variables llama-server reads as settings (LLAMA_ARG_*, its API key): a learner's shell must
# not change the engine behind the lab's back, so the command line `up` writes is the whole configuration.
_ENGINE_ENV_PREFIXES = ("LLAMA_ARG_", "LLAMA_API_KEY", "LLAMA_LOG_")
def default_threads() -> int:
    """Threads for llama-server when LAB_THREADS is unset: one core left free, at least one thread.

    llama.cpp's threads wait for each other at every step; when another busy process holds a core they
    wait for, generation collapses (2 threads on 2 busy cores: ~2 tokens/s, 1 thread: ~35). Slots, not
    threads, give the lab its parallelism (bench/engine_load.py measures both).
    """
    return max(1, (os.cpu_count() or 2) - 1)


def _get_json(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError, http.client.HTTPException):  # URLError is an OSError
        return None


def listed_models(url: str) -> list[str]:
    """Model ids listed by an OpenAI-style `/v1/models` at `url` (empty when nothing answers)."""
    body = _get_json(url.rstrip("/") + ("/models" if url.rstrip("/").endswith("/v1") else "/v1/models"))
    return [m.get("id") for m in (body or {}).get("data", [])]


def engine_command(s: Settings, model: Path, *, alias: str | None = None, port: int | None = None) -> list[str]:
    """The llama-server command line: every setting explicit, so nothing depends on its defaults.

    `--parallel` slots each get `n_ctx` tokens of context (a slot count given explicitly also means one
    KV cache per slot: a shared, unified one changed answers when prompts were batched together), flash
    attention is pinned off (on and off give different texts), every prompt is evaluated afresh
    (`--no-cache-prompt`: a prompt continued from an earlier request's cache gave another text for the
    same seed in 2 of 12 requests; bench/determinism.py), and `--poll 0` makes idle threads sleep
    instead of spin-waiting, so a busy laptop does not starve them. A further model's server gets the
    same settings with its own `alias` and `port`.
    """
    return [str(s.engine_binary()), "--model", str(model), "--alias", alias or s.model_alias,
            "--host", HOST, "--port", str(port or s.llama_port), "--parallel", str(s.slots), "--no-kv-unified",
            "--ctx-size", str(s.n_ctx * s.slots), "--threads", str(s.threads), "--threads-batch", str(s.threads),
            "--flash-attn", "off", "--no-cache-prompt", "--poll", "0", "--no-webui"]


def _engine_ready(url: str, alias: str) -> bool:
    """A llama-server at `url` (ending in /v1) says ok on /health and lists `alias`."""
    health = _get_json(url.removesuffix("/v1") + "/health") or {}
    return health.get("status") == "ok" and alias in listed_models(url)
