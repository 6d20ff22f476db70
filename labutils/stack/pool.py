"""The pool: the first model's single-thread engines behind the balancer (stdlib only).

`up` records the engines' ports and what they run in the state folder (`pool.json`); `status`, `down`
and the tests read it back. Each engine has a pid file of its own (`engine-1.pid`, ...).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import balancer
from .engine import _get_json
from .process import HOST, Server

if TYPE_CHECKING:
    from .settings import Settings

POOL_FILE = "pool.json"


def recorded(s: Settings) -> dict:
    """What `up` wrote about the running pool: {"ports": [...], "engine": ..., "slots": ..., ...} (empty if none)."""
    try:
        info = json.loads((s.state / POOL_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def record(s: Settings, info: dict) -> None:
    (s.state / POOL_FILE).write_text(json.dumps(info))


def forget(s: Settings) -> None:
    (s.state / POOL_FILE).unlink(missing_ok=True)


def engine_servers(s: Settings, *, every: bool = False) -> list[Server]:
    """The pool's engines (`engine-1` ...) on their recorded ports; with `every`, also any other engine
    pid file left in the state folder (what `down` stops, whatever was recorded)."""
    found = [Server(f"engine-{i}", port, s) for i, port in enumerate(recorded(s).get("ports") or [], 1)]
    if every and s.state.is_dir():
        names = {e.name for e in found}
        found += [Server(p.stem, 0, s) for p in sorted(s.state.glob("engine-*.pid")) if p.stem not in names]
    return found


def info(s: Settings, timeout: float = 2.0) -> dict | None:
    """The pool's shape as the balancer at `LAB_LLAMA_PORT` tells it (engines, slots, engine), or None."""
    return _get_json(s.llama_base + balancer.POOL_PATH, timeout=timeout)


def slots(s: Settings) -> list[dict]:
    """Every slot of every engine of the pool (each engine's `GET /slots`), in engine order; a lone engine's
    own when no pool is recorded (another checkout's stack, a further model's engine)."""
    ports = recorded(s).get("ports") or []
    bases = [f"http://{HOST}:{p}" for p in ports] or [s.llama_base]
    found: list[dict] = []
    for base in bases:
        found += _get_json(base + "/slots", timeout=5) or []
    return found
