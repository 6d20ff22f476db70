"""The embedded stack's lifecycle, on ports of its own so the shared stack is left alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import labutils
from labutils import stack
from labutils.errors import StackError

from .helpers import listening_addresses

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(private_settings):
    """The stack these tests start, break and stop: ports and state of its own (conftest)."""
    return private_settings


def _alive(pid: int) -> bool:
    return stack._start_time(pid) is not None and not stack._is_zombie(pid)


def test_up_status_reuse_down(settings, monkeypatch):
    # llama-server reads LLAMA_ARG_* and LLAMA_API_KEY from the environment: a shell that has them set
    # must not move the server off loopback, lock it with a key or change its slots
    for var, value in (("LLAMA_ARG_HOST", "0.0.0.0"), ("LLAMA_API_KEY", "secret"), ("LLAMA_ARG_N_PARALLEL", "1"),
                       ("LLAMA_ARG_KV_UNIFIED", "1"), ("PORT", "1"), ("HOST", "0.0.0.0")):
        monkeypatch.setenv(var, value)
    stack.up(settings, quiet=True)
    rows = {r["server"]: r for r in stack.status(settings)}
    assert all(r["running"] and r["listening"] for r in rows.values())
    pids = {name: r["pid"] for name, r in rows.items()}
    assert {"balancer", "llama-stack", "engine-1"} <= set(pids)
    assert all(f"{name}.log" in stack.logs(settings) for name in pids)
    assert stack.is_up(settings)
    props = stack.engine_props(settings)
    assert props["total_slots"] == settings.slots, "the slot count is ours, not the environment's"
    engines = stack.pool_engines(settings)
    assert props["pool"]["engines"] == len(engines) >= 1 and props["pool"]["slots"] == len(engines) * settings.slots
    # every server listens on 127.0.0.1 only: the distribution, the balancer and each engine
    for port in (settings.stack_port, settings.llama_port, *(e.port for e in engines)):
        assert listening_addresses(port) == {"127.0.0.1"}
    # a second up reuses the running stack
    stack.up(settings, quiet=True)
    assert {r["server"]: r["pid"] for r in stack.status(settings)} == pids
    # another checkout (other state folder) reuses it too, and its `down` leaves it running
    elsewhere = stack.Settings(**{**settings.__dict__, "state": settings.state.parent / "other"})
    stack.up(elsewhere, quiet=True)
    stack.down(elsewhere, quiet=True)
    assert stack.is_up(settings) and not list(elsewhere.state.glob("*.pid"))
    stack.down(settings, quiet=True)
    assert not any(_alive(pid) for pid in pids.values())
    assert not stack.port_in_use(settings.stack_port) and not stack.port_in_use(settings.llama_port)
    assert not list(settings.state.glob("*.pid"))
    assert not stack.pool_engines(settings), "down forgets the pool"


def test_port_taken_is_named_and_leaves_nothing(settings):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.stack_port))
        squatter.listen()
        with pytest.raises(StackError, match=f"port {settings.stack_port} .* already taken.*LAB_STACK_PORT"):
            stack.up(settings, quiet=True)
    assert not stack.port_in_use(settings.llama_port), "no orphan llama.cpp server"
    assert not list(settings.state.glob("*.pid"))


def test_missing_model_file(settings):
    broken = stack.Settings(**{**settings.__dict__, "gguf": "/nonexistent/model.gguf"})
    with pytest.raises(StackError, match=r"model file not found: /nonexistent/model\.gguf"):
        stack.up(broken, quiet=True)


def test_server_dying_during_start_names_its_log(settings, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF but not really" * 10)
    broken = stack.Settings(**{**settings.__dict__, "gguf": str(fake)})
    with pytest.raises(StackError) as err:
        stack.up(broken, quiet=True)
    assert "engine-1 exited with code" in str(err.value) and str(broken.state / "engine-1.log") in str(err.value)
    assert not list(broken.state.glob("*.pid")) and not stack.port_in_use(settings.llama_port)


def test_an_exited_server_is_not_taken_for_a_running_one(settings):
    # a server that exited but was not reaped yet (a zombie) still has its /proc entry and start time:
    # `up` once took such a model server for alive and reused a stack that could no longer answer
    llama = stack.servers(settings)[0]
    proc = stack._spawn(llama, [sys.executable, "-c", "pass"], dict(os.environ))
    deadline = time.monotonic() + 10
    while not stack._is_zombie(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stack._start_time(proc.pid) is not None, "still a zombie, not reaped by anyone yet"
    assert llama.pid() is None
    assert stack._start_time(proc.pid) is None, "pid() reaped our exited child"


def test_connect_starts_the_embedded_stack_itself(settings, monkeypatch, capsys):
    monkeypatch.delenv("LLAMA_STACK_URL", raising=False)
    monkeypatch.delenv("LAB_MODEL", raising=False)
    monkeypatch.setenv("LAB_STACK_PORT", str(settings.stack_port))
    monkeypatch.setenv("LAB_LLAMA_PORT", str(settings.llama_port))
    monkeypatch.setenv("LAB_HOME", str(settings.state.parent))
    lab = labutils.connect()
    assert "starting the embedded one" in capsys.readouterr().err
    assert lab.embedded and lab.model == settings.model_id
    assert lab.chat("Say hi.", max_tokens=4, temperature=0).completion_tokens >= 1


def test_cli_status_and_down(settings):
    env = {**os.environ, "LAB_STACK_PORT": str(settings.stack_port), "LAB_LLAMA_PORT": str(settings.llama_port),
           "LAB_HOME": str(settings.state.parent)}
    out = subprocess.run([sys.executable, "-m", "labutils.stack", "status"], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "not running" in out and f"127.0.0.1:{settings.stack_port}" in out
    bad = subprocess.run([sys.executable, "-m", "labutils.stack", "up"], capture_output=True, text=True,
                         env={**env, "LAB_GGUF": "/nope.gguf"})
    assert bad.returncode == 1 and "model file not found" in bad.stderr


def test_up_reuses_a_busy_stack(own_stack):
    # a long generation occupies the engine: `up` must judge health by what answers while it works
    # (llama-server's /health), never restart the stack under a learner's running request
    settings = own_stack  # the session's breakable stack, running (conftest)
    pids = {r["server"]: r["pid"] for r in stack.status(settings)}
    lab = labutils.connect(settings.url)
    with ThreadPoolExecutor(settings.slots) as pool:
        busy = [pool.submit(lab.chat, "Write a long story about a dragon.", temperature=0, max_tokens=300)
                for _ in range(settings.slots)]
        time.sleep(2)
        assert not any(f.done() for f in busy), "the generations should still be running"
        stack.up(settings, quiet=True)
        assert {r["server"]: r["pid"] for r in stack.status(settings)} == pids
        assert all(f.result().completion_tokens > 0 for f in busy)


def test_a_pid_file_that_does_not_describe_its_process_is_not_ours(settings):
    # a forged (or stale, edited) pid file naming a live process that `up` did not start: `down` must
    # neither kill it nor claim to have stopped anything
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        llama = stack.servers(settings)[0]
        settings.state.mkdir(parents=True, exist_ok=True)
        llama.pidfile.write_text(json.dumps({"pid": victim.pid, "start": stack._start_time(victim.pid),
                                             "cmd": ["llama-server", "--port", str(settings.llama_port)]}))
        assert llama.pid() is None
        out = subprocess.run([sys.executable, "-m", "labutils.stack", "down"], capture_output=True, text=True,
                             env={**os.environ, "LAB_HOME": str(settings.state.parent),
                                  "LAB_STACK_PORT": str(settings.stack_port),
                                  "LAB_LLAMA_PORT": str(settings.llama_port)})
        assert "Stopped" not in out.stderr and victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_status_names_a_stack_started_elsewhere(own_stack, tmp_path):
    settings = own_stack  # the session's breakable stack, running (conftest)
    other = stack.Settings(**{**settings.__dict__, "state": tmp_path / "elsewhere" / "stack"})
    rows = {r["server"]: r for r in stack.status(other)}
    assert {r["owner"] for r in rows.values()} == {"elsewhere"} and not any(r["running"] for r in rows.values())
    env = {**os.environ, "LAB_STACK_PORT": str(settings.stack_port), "LAB_LLAMA_PORT": str(settings.llama_port),
           "LAB_HOME": str(tmp_path / "elsewhere"), "LAB_MODELS": "none"}  # the stack serves one model
    out = subprocess.run([sys.executable, "-m", "labutils.stack", "status"], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "started elsewhere" in out and "not running" not in out and settings.model_id in out
    assert f"x {settings.slots} slot(s) = {stack.engine_props(settings)['pool']['slots']} slots" in out
