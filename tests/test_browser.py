"""The playground in a real browser: JupyterLab and the classic Notebook UI, driven by headless Chromium.

The fixture notebook tests/browser/playground.ipynb is copied to a temp dir; a Jupyter server (one per
test) serves it on a free 127.0.0.1 port with a token and a temp runtime/config dir. The test opens it in
one front end (JupyterLab at /lab, or Notebook 7 at /notebooks), runs it, sets two sliders through their
editable readouts, clicks Run and waits for the answer that a direct `lab.chat` gives.
Chromium is Debian's (/usr/bin/chromium, `make browser-deps`); Playwright never downloads a browser.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from labutils.stack import free_ports

from .helpers import command_lines, wait_or_kill

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(150)]

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")  # Debian's, from make browser-deps
FIXTURE = Path(__file__).parent / "browser" / "playground.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWS = Path("/tmp/views")
UIS = {"jupyterlab": "/lab/tree/{name}", "notebook": "/notebooks/{name}"}  # the page that opens a notebook


def _need_chromium() -> None:
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} not found: run `make browser-deps` as root (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed in the venv"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {missing}")
        pytest.skip(missing)


def _api(url: str, token: str, method: str = "GET") -> object:
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read()
    return json.loads(body) if body else None


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains `text` (used to prove no kernel outlives the server)."""
    return [pid for pid, argv in command_lines().items() if any(text in a for a in argv)]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a copy of the fixture notebook; stopped (kernels included) at the end."""
    _need_chromium()
    root, runtime = tmp_path / "root", tmp_path / "runtime"
    root.mkdir()
    shutil.copy(FIXTURE, root / FIXTURE.name)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_ports(1)[0], secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    log = open(tmp_path / "jupyterlab.log", "wb")  # noqa: SIM115 - closed in the teardown below
    # the default python3 kernelspec says argv[0] = "python", which jupyter_client replaces with the
    # server's own interpreter: this venv's python (the notebook prints it and the test checks it)
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                             f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                             "--JupyterNotebookApp.expose_app_in_browser=True",
                             "--LabApp.extension_manager=readonly",  # no PyPI queries
                             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                             *(["--allow-root"] if os.geteuid() == 0 else [])],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _api(f"{base}/api/status", token)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (tmp_path / "jupyterlab.log").read_text()
                    raise RuntimeError(f"JupyterLab did not start: {log_text}") from None
                time.sleep(0.2)
        yield {"base": base, "token": token, "root": root}
    finally:
        try:
            for kernel in _api(f"{base}/api/kernels", token) or []:
                _api(f"{base}/api/kernels/{kernel['id']}", token, method="DELETE")
            _api(f"{base}/api/shutdown", token, method="POST")
        except OSError:
            pass
        wait_or_kill(proc, 15)
        log.close()
        leftovers = _processes_mentioning(str(runtime))  # kernels get their connection file from there
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"kernel processes outlived JupyterLab: {leftovers}"


def _set_readout(page, label: str, value: str) -> None:
    """Type a value into a slider's editable readout, as a user would, and commit it with Enter."""
    readout = page.locator(f".widget-slider:has(label:text-is('{label}')) .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([label, value]) => [...document.querySelectorAll('.widget-slider')].some(s => "
        "s.querySelector('label')?.textContent === label && s.querySelector('.widget-readout').textContent === value)",
        arg=[label, value], timeout=10_000)


@pytest.mark.parametrize("ui", UIS)
def test_playground_runs_in_the_browser(ui, jupyterlab, lab, tmp_path):
    from playwright.sync_api import sync_playwright

    expected = lab.chat("Name a colour.", system="Answer with one word.", temperature=0, top_p=1.0, max_tokens=6,
                        seed=0).text
    assert expected.strip()
    url = f"{jupyterlab['base']}{UIS[ui].format(name=FIXTURE.name)}?token={jupyterlab['token']}"
    shot = tmp_path / f"browser-{ui}.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(url)
            page.wait_for_function("window.jupyterapp?.shell?.currentWidget?.sessionContext && "
                                   "document.querySelector('.jp-Notebook .jp-CodeCell')", timeout=45_000)
            page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.ready; }")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            run = page.locator(".widget-button", has_text="Run")
            run.wait_for(timeout=45_000)
            assert ".venv" in page.locator(".jp-OutputArea-output", has_text="kernel python:").inner_text()
            _set_readout(page, "temperature", "0.00")
            _set_readout(page, "max_tokens", "6")
            run.click()
            want = " ".join(expected.split())
            answer = page.locator(".widget-output")
            deadline = time.monotonic() + 30
            while want not in " ".join(answer.inner_text().split()) and time.monotonic() < deadline:
                time.sleep(0.2)
            page.locator(".widget-html table").wait_for(timeout=10_000)  # the history table of the run
            assert want in " ".join(answer.inner_text().split()), answer.inner_text()
            history = page.locator(".widget-html table").inner_text()
            assert "max_tokens" in history and "0.00" in history
        finally:
            if browser.contexts and browser.contexts[0].pages:
                browser.contexts[0].pages[0].screenshot(path=str(shot), full_page=True)
            browser.close()
    VIEWS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, VIEWS / shot.name)
