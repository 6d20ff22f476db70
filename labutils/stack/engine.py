"""The engine of the embedded stack, llama.cpp's server: its command line and what it answers over HTTP.

Two ways to run the same server code (`LAB_ENGINE`): `prebuilt`, the pinned `xllamacpp` wheel held by the
lab's launcher (`labutils/stack/prebuilt.py`, no compiler), or `source`, the `llama-server` that
`LAB_ENGINE=source make setup` builds. Both get the same flags. Standard library only; `labutils.stack`
starts and stops them.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from . import prebuilt
from .process import HOST

if TYPE_CHECKING:
    from . import Settings

# Environment variables llama-server reads as settings (LLAMA_ARG_*, its API key): a learner's shell must
# not change the engine behind the lab's back, so the command line `up` writes is the whole configuration.
_ENGINE_ENV_PREFIXES = ("LLAMA_ARG_", "LLAMA_API_KEY", "LLAMA_LOG_")


def without_engine_settings(env: Mapping[str, str]) -> dict[str, str]:
    """`env` minus the variables llama-server reads as settings (`_ENGINE_ENV_PREFIXES`): what an engine, and
    the balancer beside it, are started with."""
    return {k: v for k, v in env.items() if not k.startswith(_ENGINE_ENV_PREFIXES)}


# What one engine holds beyond its model file (measured: SmolLM2-135M Q4_1, 2048-token slot, 295 MB RSS in all).
ENGINE_OVERHEAD_MB = 256


def memory_available_mb() -> int | None:
    """MemAvailable of /proc/meminfo in MB (None where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_engines(model: Path | None = None) -> int:
    """Engines of the first model when LAB_ENGINES is unset: one single-thread engine per core, fewer when
    they would take more than half of the available memory (each holds its own copy of the model).

    llama.cpp's threads wait for each other at every step, so two threads in one engine collapse beside a
    busy program (1 engine x 2 threads: 0.45 of idle beside a CPU hog); independent single-thread engines
    do not (2 engines: 2.04x one engine idle, 1.35x beside a hog; the README's measured section).
    """
    cores = os.cpu_count() or 1
    free = memory_available_mb()
    if free is None:
        return cores
    size = (model.stat().st_size // 2**20) if model is not None and model.is_file() else 0
    return max(1, min(cores, (free // 2) // (size + ENGINE_OVERHEAD_MB)))


def identity(kind: str) -> str:
    """The engine's name and version for `runs` and the cache key: the wheel's version for `prebuilt` (its
    /props says only `build_info: b0-unknown`), else "llama-server" (its /props names the build)."""
    return f"xllamacpp {prebuilt.version()}" if kind == "prebuilt" else "llama-server"


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
    """The engine's command line: every setting explicit, so nothing depends on either engine's defaults.

    `--parallel` slots each get `n_ctx` tokens of context (a slot count given explicitly also means one
    KV cache per slot: a shared, unified one changed answers when prompts were batched together), flash
    attention is pinned off (on and off give different texts), every prompt is evaluated afresh
    (`--no-cache-prompt`: a prompt continued from an earlier request's cache gave another text for the
    same seed in 2 of 12 requests; bench/determinism.py), and `--poll 0` makes idle threads sleep
    instead of spin-waiting, so a busy laptop does not starve them. The program is the prebuilt launcher
    (`LAB_ENGINE=prebuilt`, the default) or the source-built llama-server (`source`); each engine of the
    pool and each further model's engine gets the same settings with its own `alias` and `port`.
    """
    # the launcher as a file, its folder kept off sys.path (-P): `-m labutils.stack.prebuilt` would import the
    # labutils package and its client first, which the launcher never uses (an engine started with 1.6-1.75
    # CPU-s that way, 0.76-1.08 as a file; README, measured)
    program = ([str(s.engine_binary())] if s.engine == "source"
               else [sys.executable, "-P", prebuilt.__file__])
    return [*program, "--model", str(model), "--alias", alias or s.model_alias,
            "--host", HOST, "--port", str(port or s.llama_port), "--parallel", str(s.slots), "--no-kv-unified",
            "--ctx-size", str(s.n_ctx * s.slots), "--threads", str(s.threads), "--threads-batch", str(s.threads),
            "--flash-attn", "off", "--no-cache-prompt", "--poll", "0", "--no-webui"]


def _engine_ready(url: str, alias: str) -> bool:
    """A llama-server at `url` (ending in /v1) says ok on /health and lists `alias`."""
    health = _get_json(url.removesuffix("/v1") + "/health") or {}
    return health.get("status") == "ok" and alias in listed_models(url)
