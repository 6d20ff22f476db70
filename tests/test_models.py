"""More than one local model: LAB_MODELS, the optional Gemma 3 270M of `make model-gemma`, one llama-server per
model behind one Llama Stack, on ports and state of the tests' own (the shared stack is left alone).

The Gemma tests need the model file (`make model-gemma`); without it they are skipped on a developer's
machine and fail under CI, which must install it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import labutils
from labutils import config, stack
from labutils.errors import ConfigError, ModelNotFound, StackError

ROOT = Path(__file__).resolve().parent.parent
GEMMA = stack.models_dir() / stack.GEMMA_FILE
GEMMA_ID = "llama-cpp2/gemma3-270m"
SMOL_ID = "llama-cpp/smollm2-135m-instruct"


def _gemma() -> Path:
    """The installed Gemma file, else skip (developer machine) or fail (CI, which must install it)."""
    if GEMMA.is_file():
        return GEMMA
    reason = f"Gemma 3 270M is not installed ({GEMMA} is missing): run `make model-gemma`"
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI installs it)")
    pytest.skip(reason)


def _settings(tmp_path: Path, models, **kw) -> stack.Settings:
    stack_port, llama_port, extra_port = stack.free_ports(3)
    return stack.Settings(stack_port=stack_port, llama_port=llama_port, extra_ports=(extra_port,), models=models,
                          state=tmp_path / "stack", start_timeout=120, **kw)


@pytest.fixture
def stacks():
    """Stops every stack a test started."""
    started: list[stack.Settings] = []
    yield started
    for s in started:
        stack.down(s, quiet=True)


# --- configuration and command lines (no server) ---------------------------------------------------

@pytest.mark.parametrize(("value", "parsed"), [
    ("none", ()), ("NONE", ()), ("a.gguf", ((None, "a.gguf"),)),
    ("base=/m/a.gguf, b.gguf", (("base", "/m/a.gguf"), (None, "b.gguf"))),
    ("x=/m/a=b.gguf", (("x", "/m/a=b.gguf"),)),
])
def test_lab_models_list_form(monkeypatch, value, parsed):
    monkeypatch.setenv("LAB_MODELS", value)
    assert config.get("LAB_MODELS") == parsed


@pytest.mark.parametrize("value", ["=a.gguf", "a/b=x.gguf", "a.gguf,,b.gguf", "a,b,c,d"])
def test_lab_models_bad_values_say_what_is_allowed(monkeypatch, value):
    monkeypatch.setenv("LAB_MODELS", value)
    with pytest.raises(ConfigError, match=r"LAB_MODELS.*up to 3 comma-separated"):
        config.get("LAB_MODELS")


def test_extra_models_gemma_when_installed_else_none(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("LAB_MODELS", raising=False)
    s = stack.Settings(llama_port=9000)
    assert s.extra_models() == [] and s.model_ids == [s.model_id] and s.engine_ports() == []
    (tmp_path / stack.GEMMA_FILE).write_bytes(b"GGUF")
    s = stack.Settings(llama_port=9000)
    assert s.extra_models() == [("gemma3-270m", tmp_path / stack.GEMMA_FILE)]
    assert s.model_ids == [s.model_id, GEMMA_ID] and s.engine_ports() == [9001]
    monkeypatch.setenv("LAB_MODELS", "none")
    assert stack.Settings().extra_models() == []
    monkeypatch.setenv("LAB_MODELS", f"mine={tmp_path / 'a.gguf'},{tmp_path / 'My Model.Q8.gguf'}")
    s = stack.Settings(llama_port=9000, extra_ports=(7001, 7002))
    assert s.model_ids[1:] == ["llama-cpp2/mine", "llama-cpp3/my-model.q8"] and s.engine_ports() == [7001, 7002]
    assert [e.name for e in stack.engines(s)] == ["llama-cpp2", "llama-cpp3"]


def test_engine_command_of_a_further_model(tmp_path):
    s = stack.Settings(llama_port=9000, llama_server=sys.executable)
    cmd = stack.engine_command(s, tmp_path / "g.gguf", alias="gemma3-270m", port=9001)
    assert cmd[cmd.index("--alias") + 1] == "gemma3-270m" and cmd[cmd.index("--port") + 1] == "9001"
    first = stack.engine_command(s, tmp_path / "g.gguf")
    assert first[first.index("--alias") + 1] == s.model_alias and first[first.index("--port") + 1] == "9000"
    same = [a for a in first if a not in (s.model_alias, "9000")]
    assert [a for a in cmd if a not in ("gemma3-270m", "9001")] == same


def test_missing_file_and_clashing_alias_are_clear_errors(tmp_path):
    s = _settings(tmp_path, ((None, str(tmp_path / "nope.gguf")),))
    with pytest.raises(StackError, match=r"model file not found: .*nope.gguf .*make model-gemma"):
        stack.up(s, quiet=True)
    (tmp_path / "x.gguf").write_bytes(b"GGUF")
    s = _settings(tmp_path, (("smollm2-135m-instruct", str(tmp_path / "x.gguf")),))
    with pytest.raises(StackError, match="two models would be served as 'smollm2-135m-instruct'"):
        stack.up(s, quiet=True)
    assert not list(s.state.glob("*.pid")), "nothing was started"


def test_run_config_declares_every_further_provider():
    text = (ROOT / "labutils" / "stack" / "run.yaml").read_text()
    for n in range(2, stack.MAX_EXTRA + 2):
        assert f"${{env.LAB_LLAMA_CPP{n}_URL:+llama-cpp{n}}}" in text and f"${{env.LAB_MODEL{n}_ALIAS:=}}" in text
    assert not re.search(r"llama-cpp5", text)


def test_opt_in_script_is_pinned_and_checked():
    req = (ROOT / "requirements-gemma.txt").read_text().splitlines()
    pins = [line for line in req if line and not line.startswith("#")]
    assert len(pins) == 5 and all("==1.0.0 --hash=sha256:" in line for line in pins)
    script = (ROOT / "tools" / "models.sh").read_text()
    assert "--require-hashes" in script and "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818" in script


# --- real servers ------------------------------------------------------------------------------------

@pytest.mark.integration
def test_without_a_second_model_the_stack_is_as_before(tmp_path, monkeypatch, stacks):
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "no-models"))  # no Gemma there
    monkeypatch.setenv("LAB_LLAMA_CPP2_URL", "http://127.0.0.1:9/v1")  # a shell's value is not a provider
    monkeypatch.setenv("LAB_MODEL2_ALIAS", "ghost")
    s = _settings(tmp_path, None)
    stacks.append(stack.up(s, quiet=True))
    assert stack.listed_models(s.url) == [SMOL_ID] and stack.missing_models(s) == []
    engines = [e.name for e in stack.pool_engines(s)]
    assert [r["server"] for r in stack.status(s)] == ["balancer", "llama-stack", *engines] and engines
    assert sorted(p.name for p in s.state.glob("*.pid")) == sorted(["balancer.pid", "llama-stack.pid",
                                                                    *(f"{e}.pid" for e in engines)])
    for store in ("kvstore.db", "sql_store.db"):  # the databases the distribution opens (every prompt): private
        assert (s.state / "stack" / store).stat().st_mode & 0o077 == 0


@pytest.mark.integration
def test_a_second_gguf_file_by_lab_models(tmp_path, stacks):
    """The machinery without Gemma: the SmolLM2 file once more, under another alias, on a server of its own."""
    smol = stack.Settings().model_path()
    s = _settings(tmp_path, (("smollm2-copy", str(smol)),), slots=1)
    stacks.append(stack.up(s, quiet=True))
    assert stack.listed_models(s.url) == [SMOL_ID, "llama-cpp2/smollm2-copy"]
    rows = {r["server"]: r for r in stack.status(s)}
    assert rows["llama-cpp2"]["running"] and rows["llama-cpp2"]["address"] == f"127.0.0.1:{s.extra_ports[0]}"
    lab = labutils.connect(s.url, "llama-cpp2/smollm2-copy")
    reply = lab.client.chat.completions.create(model=lab.model, messages=[{"role": "user", "content": "Hi"}],
                                               max_tokens=4, temperature=0)
    assert reply.choices[0].message.content
    pids = [r["pid"] for r in stack.status(s)]
    stack.down(s, quiet=True)
    assert not any(stack.running(p) for p in pids) and not list(s.state.glob("*.pid"))


@pytest.mark.integration
@pytest.mark.parametrize("distribution", ["llama-stack", "ogx"])
def test_gemma_next_to_smollm2(tmp_path, stacks, distribution):
    _gemma()
    if distribution == "ogx":
        try:
            from labutils.stack import distribution as dist
            dist.executable("ogx", Path(sys.executable).parent)
        except StackError as e:
            pytest.skip(str(e))
    s = _settings(tmp_path, ((None, str(GEMMA)),), distribution=distribution)
    stacks.append(stack.up(s, quiet=True))
    assert stack.listed_models(s.url) == [SMOL_ID, GEMMA_ID]  # the first listed stays the default model
    assert labutils.connect(s.url).model == SMOL_ID
    lab = labutils.connect(s.url, GEMMA_ID)
    # a base model: a plain completion continues the text
    text = lab.client.completions.create(model=GEMMA_ID, prompt="The capital of France is", max_tokens=8,
                                         temperature=0).choices[0].text
    assert text.strip()
    for model in (SMOL_ID, GEMMA_ID):
        reply = lab.client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                                   max_tokens=8, temperature=0)
        assert reply.choices[0].message.content is not None
    with pytest.raises(ModelNotFound) as err:
        labutils.connect(s.url, "llama-cpp/gemma")
    assert "available: " + ", ".join([SMOL_ID, GEMMA_ID]) in str(err.value)
    # started again without it, on the same state: only SmolLM2 is listed (no stale registration)
    stack.down(s, quiet=True)
    s = stack.Settings(**{**s.__dict__, "models": ()})
    stack.up(s, quiet=True)
    assert stack.listed_models(s.url) == [SMOL_ID]


@pytest.mark.integration
def test_a_running_stack_is_reused_not_restarted_when_gemma_appears(tmp_path, stacks):
    _gemma()
    s = _settings(tmp_path, ())
    stacks.append(stack.up(s, quiet=True))
    pids = {r["server"]: r["pid"] for r in stack.status(s)}
    later = stack.Settings(**{**s.__dict__, "models": ((None, str(GEMMA)),)})
    stacks.append(later)
    env = {**os.environ, "LAB_STACK_PORT": str(s.stack_port), "LAB_LLAMA_PORT": str(s.llama_port),
           "LAB_HOME": str(tmp_path), "LAB_MODELS": str(GEMMA)}
    out = subprocess.run([sys.executable, "-m", "labutils.stack", "up"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert "reusing it" in out.stderr and GEMMA_ID in out.stderr and "make down && make up" in out.stderr
    assert {r["server"]: r["pid"] for r in stack.status(s)} == pids
    assert stack.missing_models(later) == [GEMMA_ID]
