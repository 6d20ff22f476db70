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
def tmp_cache(tmp_path, monkeypatch):
    """An empty response cache of the test's own."""
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "responses.sqlite"
