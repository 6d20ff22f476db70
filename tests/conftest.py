"""Shared fixtures: the real embedded stack, started once per test session, and the offline ones.

Integration tests use the `lab` fixture. If the session started the stack, it stops it at the end;
a stack that was already running (a learner's, or another test run's) is left as it was.
Offline tests use `FakeLab` (the one fake lab: a real `Lab` over a scripted client, so validation,
the cache rule and the send path are the lab's own) and `runs_fixture` (a committed sweep).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from labutils import Lab, RequestFailed, stack

from .helpers import private_settings_in

RUNS_FIXTURE = Path(__file__).parent / "data" / "runs.jsonl"


class FakeClient:
    """Answers `chat.completions.create` like llama-server would, from a script; records every request."""

    def __init__(self, text=None, prompt_tokens=None, fail=False, models=("fake",)):
        self.text, self.prompt_tokens, self.fail = text, prompt_tokens, fail
        self.requests: list[dict] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))
        self.models = SimpleNamespace(list=lambda: [SimpleNamespace(id=m, custom_metadata={"model_type": "llm"})
                                                    for m in models])

    def create(self, *, model, messages, stream=False, stream_options=None, **fields):
        if self.fail:
            raise RequestFailed("request to http://fake could not connect", retryable=True)
        self.requests.append({"model": model, "messages": messages, "stream": stream, **fields})
        text = self.text if self.text is not None else f"reply {len(self.requests)}"
        limit = fields.get("max_tokens")
        words = text.split(" ")
        cut = limit is not None and len(words) > limit
        text = " ".join(words[:limit]) if cut else text
        finish = "length" if cut else "stop"
        usage = SimpleNamespace(prompt_tokens=self.prompt_tokens(messages) if self.prompt_tokens else None,
                                completion_tokens=len(text.split(" ")))
        n = fields.get("n", 1)
        if not stream:
            choices = [SimpleNamespace(message=SimpleNamespace(content=text), finish_reason=finish, logprobs=None)
                       for _ in range(n)]
            return SimpleNamespace(choices=choices, usage=usage)
        pieces = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
        chunks = [SimpleNamespace(usage=None, choices=[SimpleNamespace(
            delta=SimpleNamespace(content=p), finish_reason=None, index=k, logprobs=None)])
            for k in range(n) for p in pieces]
        for k in range(n):
            chunks[(k + 1) * len(pieces) - 1].choices[0].finish_reason = finish
        if (stream_options or {}).get("include_usage"):  # llama-server's last chunk: usage, no choices
            chunks.append(SimpleNamespace(usage=usage, choices=[]))
        return iter(chunks)


class FakeLab(Lab):
    """A real `Lab` over `FakeClient`: no server. `sent` lists the messages of every request,
    `client.requests` the full keyword arguments (extra_body included); `models` are what it lists (the
    first is the lab's own)."""

    def __init__(self, context_length: int | None = 2048, *, text=None, prompt_tokens=None, fail=False,
                 models=("fake",)):
        super().__init__(FakeClient(text, prompt_tokens, fail, models), models[0], "http://fake",
                         context_length=context_length)

    @property
    def sent(self) -> list[list[dict]]:
        return [r["messages"] for r in self.client.requests]

    @property
    def fail(self) -> bool:
        return self.client.fail

    @fail.setter
    def fail(self, value: bool) -> None:
        self.client.fail = value


@pytest.fixture
def fake_lab():
    return FakeLab()


@pytest.fixture
def runs_fixture():
    """`runs` of a small sweep (2 temperatures x 2 top_p x 2 max_tokens x 2 samples), read with export.load."""
    from labutils.views import export

    return export.load(RUNS_FIXTURE)


@pytest.fixture(scope="session")
def embedded_stack():
    settings = stack.Settings()
    was_up = stack.is_up(settings)
    stack.up(settings, quiet=True)
    yield settings
    if not was_up:
        stack.down(settings, quiet=True)


@pytest.fixture(scope="session")
def lab(embedded_stack):
    import labutils

    return labutils.connect()


@pytest.fixture
def private_settings(tmp_path):
    """Settings of a stack of the test's own: free ports, state under tmp_path, one model (no Gemma, even
    where `make model-gemma` installed it: tests/test_models.py starts those); stopped at the end."""
    s = private_settings_in(tmp_path / "stack")
    yield s
    stack.down(s, quiet=True)


@pytest.fixture(scope="session")
def breakable_settings(tmp_path_factory):
    """Settings of one private stack per test session (free ports, state in a temp folder, one model), for the
    tests that break a stack; started by `own_stack` when a test first needs it, stopped at the end."""
    s = private_settings_in(tmp_path_factory.mktemp("breakable") / "stack")
    yield s
    stack.down(s, quiet=True)


@pytest.fixture
def own_stack(breakable_settings):
    """A running private stack (never the shared one) that the test may break: kill a server, stop the stack. The
    session's tests share it: `up` before each test starts again whatever the last test killed or stopped (and
    reuses what still runs), so every test finds it whole, without a cold start of its own."""
    return stack.up(breakable_settings, quiet=True)


@pytest.fixture
def embedded_private(breakable_settings, monkeypatch):
    """The session's breakable private stack (conftest's `own_stack`), as `connect()` sees the embedded one: the
    LAB_*_PORT variables point at it. Whole at the start of each test (`up` starts again what a test killed)."""
    monkeypatch.setenv("LAB_STACK_PORT", str(breakable_settings.stack_port))
    monkeypatch.setenv("LAB_LLAMA_PORT", str(breakable_settings.llama_port))
    monkeypatch.setenv("LAB_MODELS", "none")
    return stack.up(stack.Settings(state=breakable_settings.state, start_timeout=120), quiet=True)


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path, monkeypatch):
    """Every test's response cache is its own (`LAB_CACHE_DIR` under tmp_path), so nothing a test stores (a `Chat`
    at temperature 0 caches its replies) answers another test, or the next run, from the work tree's .lab/cache."""
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty response cache of the test's own."""
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "responses.sqlite"
