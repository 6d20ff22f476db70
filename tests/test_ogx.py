"""OGX 1.5 as the distribution in front of the model server (LAB_DISTRIBUTION=ogx), on ports of its own.

The first tests check `labutils.stack.distribution` alone (no server). The others (markers `integration`
and `ogx`) start llama-server and `ogx run run.yaml` from .venv-ogx, then drive them with the lab's own
client, llama-stack-client 0.7: the same answers, logprobs, streaming and errors as on Llama Stack.
Without .venv-ogx they are skipped, except under CI, where they fail: CI installs it (`make setup-ogx`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import pytest
from llama_stack_client import APIStatusError, LlamaStackClient

from labutils import stack
from labutils.errors import ConfigError, StackError
from labutils.stack import distribution

from .helpers import listening_addresses, private_settings_in

BINDIR = Path(sys.executable).parent
MESSAGES = [{"role": "user", "content": "Name three colors."}]


# --- the launch recipe, no server ------------------------------------------------------------------

def test_chosen_reads_lab_distribution(monkeypatch):
    monkeypatch.delenv("LAB_DISTRIBUTION", raising=False)
    assert distribution.chosen() == "llama-stack"
    monkeypatch.setenv("LAB_DISTRIBUTION", "ogx")
    assert distribution.chosen() == "ogx"
    assert distribution.chosen("llama-stack") == "llama-stack"
    monkeypatch.setenv("LAB_DISTRIBUTION", "ollama")
    with pytest.raises(ConfigError, match=r"LAB_DISTRIBUTION='ollama'.*llama-stack or ogx"):
        distribution.chosen()
    with pytest.raises(ConfigError, match=r"'vllm' is not one the lab can run.*llama-stack or ogx"):
        distribution.chosen("vllm")


def test_llama_stack_command_is_todays(tmp_path):
    (tmp_path / "llama").write_text("#!/bin/sh\n")
    (tmp_path / "llama").chmod(0o755)
    run = Path("/x/run.yaml")
    assert distribution.command("llama-stack", run, 9, tmp_path) == [
        str(tmp_path / "llama"), "stack", "run", "/x/run.yaml", "--port", "9"]
    assert distribution.command("llama-stack", run, 9, tmp_path / "none")[0] == "llama"  # left to PATH
    assert distribution.environment("llama-stack", port=9, state=tmp_path) == {
        "LLAMA_STACK_PORT": "9", "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken"), "LAB_STATE_DIR": str(tmp_path)}


def _console_script(path: Path) -> Path:
    path.write_text(f"#!{sys.executable}\nimport sys\n")
    path.chmod(0o755)
    return path


def test_ogx_command_and_environment(tmp_path, monkeypatch):
    ogx = _console_script(tmp_path / "ogx")
    monkeypatch.setenv("LAB_OGX", str(ogx))
    cmd = distribution.command("ogx", Path("/x/run.yaml"), 9, BINDIR)
    assert cmd == [str(ogx), "run", "/x/run.yaml", "--port", "9", "--insecure"]
    assert distribution.kind_of(cmd) == "ogx"
    assert distribution.kind_of([sys.executable, *cmd]) == "ogx"  # as /proc/PID/cmdline shows a script
    assert distribution.kind_of([sys.executable, str(BINDIR / "llama"), "stack", "run"]) == "llama-stack"
    env = distribution.environment("ogx", port=9, state=tmp_path / "stack")
    assert env["OGX_CONFIG_DIR"].startswith(str(tmp_path / "stack"))  # never ~/.ogx, and ~/.llama stays put
    assert env["TMPDIR"] == str(tmp_path / "stack")  # its temporary run config too (see leftovers)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" and env["OGX_METRICS_ENDPOINT_ENABLED"] == ""
    assert env["OGX_PORT"] == "9" and env["OGX_WORKERS"] == "1"
    assert env["LAB_STATE_DIR"] == str(tmp_path / "stack" / "ogx")  # its stores apart from Llama Stack's
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "ogx-run-abc.yaml").write_text("server: {}\n")
    assert [p.name for p in distribution.leftovers("ogx", tmp_path / "stack")] == ["ogx-run-abc.yaml"]
    assert distribution.leftovers("llama-stack", tmp_path / "stack") == []


def test_missing_ogx_names_make_setup_ogx(tmp_path, monkeypatch):
    monkeypatch.setattr(distribution, "OGX_VENV", tmp_path / ".venv-ogx")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LAB_OGX", raising=False)
    with pytest.raises(StackError, match=r"OGX is not installed.*make setup-ogx"):
        distribution.command("ogx", Path("run.yaml"), 9, BINDIR)
    monkeypatch.setenv("LAB_OGX", str(tmp_path / "nope"))
    with pytest.raises(StackError, match=r"LAB_OGX=.*nope is not an executable"):
        distribution.command("ogx", Path("run.yaml"), 9, BINDIR)
    on_path = _console_script(tmp_path / "ogx")
    monkeypatch.delenv("LAB_OGX")
    assert distribution.executable("ogx", BINDIR) == on_path


# --- the stack on OGX, live ------------------------------------------------------------------------

def _require(what: str, error: Exception | str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the stack on OGX too, but {what}: {error}", pytrace=False)
    pytest.skip(f"{what} ({error})")


@pytest.fixture(scope="module")
def home_ogx_existed() -> bool:
    """Whether ~/.ogx existed before this module started OGX (it must keep its config under the state folder)."""
    return (Path.home() / ".ogx").exists()


@pytest.fixture(scope="module")
def ogx_settings(tmp_path_factory, home_ogx_existed):
    """Settings of one stack with OGX in front for this module (free ports, state in a temp folder, one model),
    started by `ogx_stack` when a test first needs it and stopped at the end."""
    try:
        distribution.executable("ogx", BINDIR)
    except StackError as e:
        _require("OGX is not installed here; `make setup-ogx` installs it", e)
    s = private_settings_in(tmp_path_factory.mktemp("ogx") / "stack", distribution="ogx")
    yield s
    stack.down(s, quiet=True)


@pytest.fixture
def ogx_stack(ogx_settings):
    """The module's OGX stack, whole at the start of each test: `up` starts what the last test stopped (the tests
    share one cold start, as conftest's `own_stack` does; the one that stops it comes last)."""
    t0 = time.monotonic()
    s = stack.up(ogx_settings, quiet=True)
    print(f"up on OGX: {time.monotonic() - t0:.1f} s")
    return s


@pytest.fixture
def client(ogx_stack):
    return LlamaStackClient(base_url=ogx_stack.url, max_retries=0, timeout=120)


@pytest.mark.integration
@pytest.mark.ogx
def test_the_labs_client_works_against_ogx(ogx_stack, client):
    model = ogx_stack.model_id
    assert model in [m.id for m in client.models.list()]

    def text(**kw) -> str:
        params = {"seed": 42, "temperature": 0.8, "max_tokens": 16, **kw}
        return client.chat.completions.create(model=model, messages=MESSAGES, **params).choices[0].message.content

    seeded = text()
    assert seeded and text() == seeded, "same seed, same text"

    streamed, usage = "", None
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, seed=42, temperature=0.8,
                                                max_tokens=16, stream=True, stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            streamed += chunk.choices[0].delta.content
        usage = chunk.usage or usage
    assert streamed == seeded and usage and usage.completion_tokens >= 1

    r = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=3, logprobs=True, top_logprobs=5)
    tokens = r.choices[0].logprobs.content
    assert tokens and all(len(t.top_logprobs) == 5 and t.logprob <= 0 for t in tokens)

    # top_k=1 through extra_body reaches llama-server: greedy whatever the seed, even when hot
    assert len({text(seed=seed, temperature=1.5, extra_body={"top_k": 1}) for seed in range(3)}) == 1

    with pytest.raises(APIStatusError) as bad:
        client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=2, temperature=-1)
    assert bad.value.status_code == 400
    with pytest.raises(APIStatusError) as missing:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=2)
    assert missing.value.status_code == 404 and "no-such-model" in str(missing.value)


@pytest.mark.integration
@pytest.mark.ogx
def test_up_on_the_other_distribution_restarts_the_front(ogx_stack):
    s = ogx_stack
    front = stack.servers(s)[1]

    def running() -> str | None:
        return distribution.kind_of(json.loads(front.pidfile.read_text())["cmd"])

    on_llama_stack = stack.up(dataclasses.replace(s, distribution="llama-stack"), quiet=True)
    assert running() == "llama-stack" and stack.is_up(on_llama_stack)
    assert not distribution.leftovers("ogx", s.state), "the stopped OGX's run config is removed"
    stack.up(s, quiet=True)
    assert running() == "ogx" and stack.is_up(s)


@pytest.mark.integration
@pytest.mark.ogx
def test_up_status_down_on_ogx(ogx_stack, home_ogx_existed):
    s = ogx_stack
    rows = {r["server"]: r for r in stack.status(s)}
    assert all(r["running"] and r["listening"] for r in rows.values()), rows
    pids = [r["pid"] for r in rows.values()]
    front = stack.servers(s)[1]
    assert distribution.kind_of(json.loads(front.pidfile.read_text())["cmd"]) == "ogx"
    assert stack.is_up(s) and s.model_id in stack.listed_models(s.url)
    for port in (s.stack_port, s.llama_port):
        assert listening_addresses(port) == {"127.0.0.1"}, f"port {port} must listen on loopback only"
    assert (Path.home() / ".ogx").exists() == home_ogx_existed, "OGX must keep its config under the state folder"
    stack.down(s, quiet=True)
    assert not any(stack._start_time(pid) is not None and not stack._is_zombie(pid) for pid in pids)
    assert not stack.port_in_use(s.stack_port) and not stack.port_in_use(s.llama_port)
    assert not list(s.state.glob("*.pid"))
    assert not distribution.leftovers("ogx", s.state), "down removes the run config OGX leaves behind"
