"""A real JupyterHub for a class: deploy/jupyterhub/jupyterhub_config.py with the shared stack as a service.

One hub (configurable-http-proxy from npm, run by the node wheel's node; the dummy authenticator;
SimpleLocalProcessSpawner since the tests run as root and learners need no system accounts) on free
loopback ports, with its own state and its own shared stack. Two learners' servers start; in each, a
kernel connects to the shared stack and runs lesson 00 under papermill; no second llama-server starts (a
learner's connect() never starts a private stack). Headless Chromium logs in as one learner and sees the
lab with the lessons. Everything the test started is stopped: the hub stops the learners' servers and the
shared stack with itself.
`tools/hub-deps.sh` installs what it needs (jupyterhub and node in .venv, the proxy in .lab/node).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from labutils.stack import free_ports

from .helpers import command_lines, wait_or_kill

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
CHP = ROOT / ".lab" / "node" / "bin" / "configurable-http-proxy"  # the node wheel's node runs it
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")  # Debian's, from make browser-deps
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
USERS = ("ada", "bob")


def _need(what: bool, why: str) -> None:
    if not what:
        if os.environ.get("CI"):
            pytest.fail(f"the hub test cannot run in CI: {why}")
        pytest.skip(why)


def _api(url: str, token: str, method: str = "GET", body: dict | None = None, timeout: float = 10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read()
    return json.loads(text) if text else None


def _llama_servers() -> dict[int, str]:
    """pid -> environment of every running engine process, prebuilt or source-built (to tell whose it is)."""
    found = {}
    for pid, argv in command_lines().items():
        prebuilt = any(a.endswith("labutils/stack/prebuilt.py") for a in argv[:3])
        if argv and (Path(argv[0]).name == "llama-server" or prebuilt):
            with contextlib.suppress(OSError):  # it ended since
                found[pid] = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return found


def _wait(what: str, check, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError):
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the hub exited: {log.read_text()[-3000:] if log else ''}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout} s: {log.read_text()[-3000:] if log else ''}")
        time.sleep(0.5)


@pytest.fixture
def hub(tmp_path):
    """The class hub with its shared stack; stopped at the end (servers and service with it)."""
    _need(CHP.exists(), f"{CHP} missing: run tools/hub-deps.sh")
    _need(Path(sys.executable).with_name("jupyterhub").exists(), "jupyterhub missing: run tools/hub-deps.sh")
    hub_port, api_port, proxy_port, stack_port, llama_port = free_ports(5)
    token, password = secrets.token_hex(16), secrets.token_hex(8)
    env = {**os.environ, "LAB_HUB_MODE": "test", "LAB_HUB_STATE": str(tmp_path / "hub"),
           "LAB_HUB_PORT": str(hub_port), "LAB_HUB_API_PORT": str(api_port),
           "LAB_HUB_PROXY_API_PORT": str(proxy_port), "LAB_HUB_STACK_PORT": str(stack_port),
           "LAB_HUB_LLAMA_PORT": str(llama_port), "LAB_HUB_SLOTS": "2", "LAB_HUB_USERS": ",".join(USERS),
           "LAB_HUB_INSTRUCTOR_TOKEN": token, "LAB_HUB_PASSWORD": password,
           "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(16)}
    for name in ("LLAMA_STACK_URL", "LAB_HOME", "LAB_CACHE_DIR", "LAB_STACK_PORT", "LAB_LLAMA_PORT"):
        env.pop(name, None)  # the hub's own settings decide, not the test runner's
    before = set(_llama_servers())
    log_path = tmp_path / "hub.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("jupyterhub")), "-f", str(CONFIG)], cwd=tmp_path,
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{hub_port}"
    try:
        _wait("the hub did not answer", lambda: _api(f"{base}/hub/api/", token), 60, proc, log_path)
        _wait("the shared stack did not start", lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{stack_port}/v1/models", timeout=5).status == 200, 240, proc, log_path)
        yield {"base": base, "token": token, "password": password, "stack_port": stack_port,
               "llama_port": llama_port, "before": before, "state": tmp_path / "hub",
               "homes": tmp_path / "hub" / "homes", "log": log_path,
               "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)  # the hub stops the learners' servers and its services
        wait_or_kill(proc, 60)
        log.close()
        def left() -> list[int]:  # the hub's llama-servers (other test runs' stacks are not ours)
            return [pid for pid, environ in _llama_servers().items() if pid not in before and str(tmp_path) in environ]

        deadline = time.monotonic() + 30
        while left() and time.monotonic() < deadline:
            time.sleep(0.5)
        remaining = left()
        for pid in remaining:
            os.kill(pid, signal.SIGKILL)
        assert not remaining, f"llama-server outlived the hub: {remaining}"


def _run_in_kernel(base: str, user: str, token: str, code: str, timeout: float = 300) -> str:
    """Start a kernel on the learner's server (through the hub's proxy), run `code`, return its stdout."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    server = f"{base}/user/{user}"
    kernel = _api(f"{server}/api/kernels", token, method="POST", body={"name": "python3"}, timeout=60)

    async def run() -> str:
        ws_url = server.replace("http://", "ws://") + f"/api/kernels/{kernel['id']}/channels"
        ws = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}))
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": user, "session": msg_id,
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = await ws.read_message()
            if raw is None:
                break
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append("ERROR " + "\n".join(msg["content"]["traceback"]))
            elif kind == "execute_reply":
                break
        ws.close()
        return "".join(out)

    try:
        return asyncio.run(run())
    finally:
        _api(f"{server}/api/kernels/{kernel['id']}", token, method="DELETE")


KERNEL_CODE = """
import json, os, papermill, labutils
lab = labutils.connect()
home = os.environ["HOME"]
papermill.execute_notebook(f"{home}/notebooks/00_setup_and_first_request.ipynb", f"{home}/00_out.ipynb",
                           kernel_name="python3", parameters={"MAX_TOKENS": 16}, progress_bar=False)
print(json.dumps({"url": lab.base_url, "embedded": lab.embedded, "home": home, "model": lab.model,
                  "shared": os.environ.get("LAB_SHARED"), "cache": os.environ.get("LAB_CACHE_DIR")}))
"""


@pytest.mark.browser
def test_two_learners_share_one_stack_and_one_sees_the_lab(hub, tmp_path):
    base, token = hub["base"], hub["token"]
    shared = f"http://127.0.0.1:{hub['stack_port']}"
    for user in USERS:
        if not _exists(base, user, token):
            _api(f"{base}/hub/api/users/{user}", token, method="POST")
        _api(f"{base}/hub/api/users/{user}/server", token, method="POST", timeout=60)
    for user in USERS:
        _wait(f"{user}'s server did not start", lambda u=user: _api(f"{base}/hub/api/users/{u}", token)
              ["servers"].get("", {}).get("ready"), 120, hub["proc"], hub["log"])
    for user in USERS:
        out = _run_in_kernel(base, user, token, KERNEL_CODE)
        # no error, except ipykernel's note when its shutdown is slow on a busy machine (after the work)
        errors = [line for line in out.splitlines() if "ERROR" in line and "KeyboardInterrupt caught" not in line]
        assert not errors, out
        seen = json.loads(out.strip().splitlines()[-1])
        assert seen["url"] == shared and seen["shared"] == "1" and not seen["embedded"], seen
        assert seen["home"] == str(hub["homes"] / user)
        executed = json.loads((hub["homes"] / user / "00_out.ipynb").read_text())
        text = json.dumps(executed["cells"])
        assert shared in text and "not attempted yet" in text  # lesson 00 ran through to its exercise
    # the class's llama-servers (one per model the stack serves) are the shared stack's, none a learner's
    # (other llama-servers on this machine, e.g. other test runs' private stacks, are not the hub's)
    ours = {pid: env for pid, env in _llama_servers().items()
            if pid not in hub["before"] and (str(hub["state"]) in env or _learner(env))}
    assert ours, "the shared stack runs no llama-server"
    for pid, environ in ours.items():
        assert not _learner(environ), f"llama-server {pid} was started under a learner's server"
        assert "JUPYTERHUB_SERVICE_NAME=llama-stack\0" in environ
    assert any(f"LAB_LLAMA_PORT={hub['llama_port']}\0" in env for env in ours.values())
    _browser_login(base, USERS[0], hub["password"], tmp_path)


def _learner(environ: str) -> bool:
    """True when a process runs under a learner's server (JupyterHub sets JUPYTERHUB_USER to their name)."""
    return re.search(r"(^|\0)JUPYTERHUB_USER=[^\0]", environ) is not None


def _exists(base: str, user: str, token: str) -> bool:
    try:
        _api(f"{base}/hub/api/users/{user}", token)
        return True
    except urllib.error.HTTPError:
        return False


def _browser_login(base: str, user: str, password: str, tmp_path: Path) -> None:
    _need(CHROMIUM.exists(), f"{CHROMIUM} not found: run `make browser-deps`")
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "hub-login.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/hub/login")
            page.fill("#username_input", user)
            page.fill("#password_input", password)
            page.click("#login_submit")
            page.wait_for_url(f"{base}/user/{user}/lab**", timeout=90_000)
            page.locator(".jp-DirListing-item", has_text="00_setup_and_first_request").wait_for(timeout=90_000)
            assert page.locator(".jp-DirListing-item", has_text="09_trust_but_verify").count() == 1
        finally:
            if browser.contexts and browser.contexts[0].pages:
                browser.contexts[0].pages[0].screenshot(path=str(shot))
            browser.close()
    views = Path("/tmp/views")
    views.mkdir(exist_ok=True)
    (views / shot.name).write_bytes(shot.read_bytes())


# --- faults a class meets: the shared stack restarts, a learner's kernel dies mid-sweep ------------

def test_shared_stack_restart_mid_class_is_a_retryable_error_then_works(own_stack, monkeypatch):
    """LAB_SHARED: connect() never starts a stack; a call while the shared stack is down fails with a
    retryable message that says so, and works again once the stack is back."""
    import labutils
    from labutils import ConnectionFailed, RequestFailed, stack

    monkeypatch.setenv("LLAMA_STACK_URL", own_stack.url)
    monkeypatch.setenv("LAB_SHARED", "1")
    # the shared stack on the port a learner's own embedded stack would use: still never started by connect()
    monkeypatch.setenv("LAB_STACK_PORT", str(own_stack.stack_port))
    monkeypatch.setenv("LAB_LLAMA_PORT", str(own_stack.llama_port))
    lab = labutils.connect()
    assert lab.chat("Say hi.", max_tokens=4, temperature=0).text
    stack.down(own_stack, quiet=True)
    with pytest.raises(RequestFailed) as failed:
        lab.chat("Say hi.", max_tokens=4, temperature=0)
    assert failed.value.retryable and "shared" in str(failed.value) and "again" in str(failed.value)
    before = set(_llama_servers())
    with pytest.raises(ConnectionFailed, match="shared"):
        labutils.connect()
    assert not set(_llama_servers()) - before, "connect() started a stack although LAB_SHARED is set"
    stack.up(own_stack, quiet=True)  # the hub's service brings it back
    assert lab.chat("Say hi.", max_tokens=4, temperature=0).text


SWEEP = """
import labutils
lab = labutils.connect()
grid = labutils.Grid(temperature=[0.0, 0.5, 1.0], max_tokens=[24], samples=4, seed=11)
runs = lab.sweep("Count to five.", grid, progress=False, concurrency=1)
print("cached", int(runs["cached"].sum()), "of", len(runs), "errors", int(runs["error"].notna().sum()))
"""


def test_a_learner_killed_mid_sweep_leaves_cache_and_stack_healthy(own_stack, tmp_path):
    from labutils import stack
    from labutils.client import cache

    env = {**os.environ, "LLAMA_STACK_URL": own_stack.url, "LAB_SHARED": "1", "LAB_CONTEXT_LENGTH": "2048",
           "LAB_CACHE_DIR": str(tmp_path / "class-cache")}
    learner = subprocess.Popen([sys.executable, "-c", SWEEP], env=env, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    store = tmp_path / "class-cache" / "responses.sqlite"
    _wait("the first answers in the class cache", lambda: store.exists() and len(cache.Cache(store)) >= 2, 120)
    os.killpg(learner.pid, signal.SIGKILL)  # the kernel dies mid-sweep, mid-write perhaps
    learner.wait(10)
    assert stack.is_up(own_stack)
    done = subprocess.run([sys.executable, "-c", SWEEP], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cached, total, errors = (int(x) for x in re.findall(r"\d+", done.stdout.strip().splitlines()[-1]))
    assert total == 12 and errors == 0 and cached >= 2, done.stdout  # what the dead learner got is reused
