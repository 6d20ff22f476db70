"""Small test helpers shared by several test modules."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from llama_stack_client import LlamaStackClient

from labutils import Lab, stack


def private_settings_in(state: Path, **fields: Any) -> stack.Settings:
    """Settings of a stack of a test's own: free ports, `state` as its state folder, one model (no Gemma, even where
    `make model-gemma` installed it), a start timeout for a busy machine; `fields` change the rest."""
    stack_port, llama_port = stack.free_ports(2)
    return stack.Settings(**{"stack_port": stack_port, "llama_port": llama_port, "state": state, "start_timeout": 120,
                             "models": (), **fields})


def counting_lab(lab: Lab, record: Callable[[httpx.Request], Any] | None = None) -> tuple[Lab, list]:
    """A copy of `lab` whose client records every HTTP request it sends: `record(request)`, by default
    its method and path."""
    sent: list = []
    record = record or (lambda r: f"{r.method} {r.url.path}")
    http = httpx.Client(event_hooks={"request": [lambda r: sent.append(record(r))]})
    client = LlamaStackClient(base_url=lab.base_url, http_client=http, max_retries=0)
    return Lab(client, lab.model, lab.base_url, context_length=lab.context_length, embedded=lab.embedded,
               engine=lab.engine), sent  # the same engine: the same cache keys as `lab`


def command_lines() -> dict[int, list[str]]:
    """pid -> argv of every running process, read from /proc (a process that ends while it is read is left out)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                found[int(proc.name)] = proc.joinpath("cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
            except OSError:  # FileNotFoundError, ProcessLookupError: it ended between listing and reading
                continue
    return found


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket LISTENing on `port`, read from /proc/net/tcp{,6}."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                found.add(_addr(addr, width))
    return found


def _addr(hexaddr: str, width: int) -> str:
    if width == 8:
        return ".".join(str(int(hexaddr[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return "::1" if hexaddr == "00000000000000000000000001000000" else hexaddr  # v6: only loopback is named


def wait_or_kill(proc: subprocess.Popen, seconds: float) -> None:
    """Give a server started in its own process group `seconds` to exit, then SIGKILL the whole group."""
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class FakeRoutes(BaseHTTPRequestHandler):
    """Base of the fake servers in front of the real stack (tests that need a distribution that misbehaves):
    `reply` answers with a body, logging stays quiet. Subclasses write do_GET / do_POST."""

    def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], **attrs: Any) -> Iterator[ThreadingHTTPServer]:
    """`handler` served on a free loopback port in a thread, with `attrs` set on the server (the handler reads
    them as `self.server.NAME`); its address is `f"http://127.0.0.1:{server.server_address[1]}"`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for name, value in attrs.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def sweep_killing(lab: Lab, grid: Any, cache: Path, rows: int, server: Any, within: float) -> tuple[Any, float | None]:
    """`lab.sweep` of `grid` while a thread SIGKILLs `server`'s process group (a crash, with requests on it) as soon
    as `cache` holds `rows` answers (waiting `within` seconds at most). Returns the runs and the seconds from the
    kill to the sweep's return (None when the sweep ended first)."""
    import time

    from labutils.client.cache import Cache

    killed: list[float] = []

    def kill_after_rows():
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if cache.exists() and len(Cache(cache)) >= rows:
                os.killpg(server.pid(), signal.SIGKILL)
                killed.append(time.monotonic())
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_after_rows)
    killer.start()
    runs = lab.sweep("Name an animal.", grid, progress=False)
    returned = time.monotonic()
    killer.join()
    return runs, (returned - killed[0] if killed else None)
