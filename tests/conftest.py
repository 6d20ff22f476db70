"""Shared fixtures: the real embedded stack, started once per test session.

Integration tests use the `lab` fixture. If the session started the stack, it stops it at the end;
a stack that was already running (a learner's, or another test run's) is left as it was.
"""

from __future__ import annotations

import pytest

from labutils import stack


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
    """Settings of a stack of the test's own: free ports, state under tmp_path; stopped at the end."""
    stack_port, llama_port = stack.free_ports(2)
    s = stack.Settings(stack_port=stack_port, llama_port=llama_port, state=tmp_path / "stack", start_timeout=120)
    yield s
    stack.down(s, quiet=True)


@pytest.fixture
def own_stack(private_settings):
    """A running stack of the test's own (never the shared one), for tests that break it."""
    return stack.up(private_settings, quiet=True)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty response cache of the test's own."""
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "responses.sqlite"
