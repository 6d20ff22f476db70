"""Binder's files: `binder/start` brings the stack up in the background and hands over to the command.

Runs against a stack of its own (free ports, LAB_HOME in a temp folder), never the shared one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from labutils import stack

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"

# The trivial "Jupyter" that binder/start hands over to: wait for the stack, print what it serves.
WAIT_AND_LIST = """
import time
from labutils import stack
s = stack.Settings()
deadline = time.monotonic() + 240
while not stack.is_up(s) and time.monotonic() < deadline:
    time.sleep(0.5)
print("models:", stack.listed_models(s.url))
"""


@pytest.fixture
def own_stack_env(private_settings):
    """The environment that points binder/start at a stack of the test's own, and its Settings."""
    s = private_settings
    env = {**os.environ, "LAB_STACK_PORT": str(s.stack_port), "LAB_LLAMA_PORT": str(s.llama_port),
           "LAB_HOME": str(s.state.parent), "LAB_MODELS": "none"}  # one model, like private_settings
    env.pop("LAB_GGUF", None)
    return env, s


def _wait_for(path: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.2)
    return content


def test_binder_files_are_in_place():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.12"
    for script in ("start", "postBuild"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
    post = (BINDER / "postBuild").read_text()
    assert "tools/setup.sh" in post, "postBuild reuses tools/setup.sh rather than duplicating it"
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')


def test_start_hands_over_at_once_even_if_the_stack_cannot_start(own_stack_env):
    env, settings = own_stack_env
    env = {**env, "LAB_GGUF": "/nonexistent/model.gguf"}  # the background start fails fast
    t0 = time.monotonic()
    done = subprocess.run([str(BINDER / "start"), "sh", "-c", 'echo "args: $0 $1"; exit 7', "a b", "c"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 10, "start must not wait for the stack"
    assert done.returncode == 7 and done.stdout.strip() == "args: a b c"
    log = _wait_for(settings.state.parent / "binder-start.log", "model file not found")
    assert "model file not found: /nonexistent/model.gguf" in log


@pytest.mark.integration
def test_start_brings_up_its_own_stack(own_stack_env):
    env, settings = own_stack_env
    shared = stack.Settings()  # the shared stack on the default ports must be left as it is
    shared_was_up = stack.is_up(shared)
    done = subprocess.run([str(BINDER / "start"), sys.executable, "-c", WAIT_AND_LIST], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"models: ['{settings.model_id}']" in done.stdout
    assert stack.is_up(settings)
    assert all(row["running"] for row in stack.status(settings))
    log = _wait_for(settings.state.parent / "binder-start.log", "Llama Stack is up")
    assert f"Llama Stack is up at {settings.url}" in log
    assert stack.is_up(shared) == shared_was_up


@pytest.mark.integration
def test_two_starts_at_once_share_one_stack(own_stack_env):
    """binder/start and a lesson's connect() may both call `up`; they take turns and reuse one stack."""
    _env, settings = own_stack_env
    errors: list[BaseException] = []

    def up() -> None:
        try:
            stack.up(settings, quiet=True)
        except BaseException as e:  # collected and re-raised in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=up) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert stack.is_up(settings) and all(row["running"] for row in stack.status(settings))
    for server in stack.servers(settings):  # each server was spawned once (a header line per spawn)
        assert server.log.read_text().count("\n--- ") == 1, server.log.read_text()[-2000:]
