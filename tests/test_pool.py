"""The pool: single-thread engines behind the balancer, on a stack of the module's own (nothing else runs on it).

Each engine answers the same seeded request with the same text, A and B of the panel stream each on an engine
of its own, an engine killed in the middle of a sweep leaves rotation without losing a finished row, and a killed
balancer is started again alone.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

import httpx
import pytest

import labutils
from labutils import Grid, stack
from labutils.client.cache import Cache
from labutils.lessons.ab import send_pair
from labutils.stack.process import port_freed

from .helpers import listening_addresses, private_settings_in, sweep_killing

pytestmark = pytest.mark.integration

STORY = "Write a long story about a dragon who learns to read."
SEEDED = [("Describe the sea at night.", 11), ("Explain what a compiler does.", 12), ("Name three birds.", 13)]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A stack of two single-thread engines (one slot each) behind the balancer, on free ports."""
    s = private_settings_in(tmp_path_factory.mktemp("pool") / "stack", pool_size=2, slots=1, threads=1)
    stack.up(s, quiet=True)
    yield s
    stack.down(s, quiet=True)


@pytest.fixture
def pool_lab(pool, monkeypatch):
    """A lab that sees the module's pool as the embedded stack (so it reads the pool's shape)."""
    monkeypatch.setenv("LAB_STACK_PORT", str(pool.stack_port))
    monkeypatch.setenv("LAB_LLAMA_PORT", str(pool.llama_port))
    monkeypatch.setenv("LAB_HOME", str(pool.state.parent))
    return labutils.connect(pool.url)


def _ask(port: int, prompt: str, seed: int) -> str:
    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=120, json={
        "model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": prompt}], "seed": seed,
        "temperature": 0.9, "max_tokens": 32})
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


def test_the_pool_is_what_status_and_the_lab_say(pool, pool_lab):
    engines = stack.pool_engines(pool)
    assert [e.name for e in engines] == ["engine-1", "engine-2"]
    rows = {r["server"]: r for r in stack.status(pool)}
    assert all(rows[name]["running"] for name in ("balancer", "llama-stack", "engine-1", "engine-2"))
    for port in (pool.llama_port, *(e.port for e in engines)):
        assert listening_addresses(port) == {"127.0.0.1"}
    assert pool_lab.slots == len(stack.engine_slots(pool)) == 2 and pool_lab.engine_slots == 1
    assert pool_lab.concurrency == 2 and pool_lab.context_length == pool.n_ctx
    assert pool_lab.engine["lab_engine"].startswith("xllamacpp " if pool.engine == "prebuilt" else "llama-server ")


def test_every_engine_gives_the_same_text_for_a_seed(pool):
    engines = stack.pool_engines(pool)
    texts = [[_ask(e.port, p, seed) for p, seed in SEEDED] for e in engines]
    through = [_ask(pool.llama_port, p, seed) for p, seed in SEEDED]
    assert texts[0] == texts[1] == through
    assert len(set(texts[0])) == len(SEEDED)


def test_a_and_b_stream_at_once_each_on_an_engine_of_its_own(pool, pool_lab):
    busy: list[list[bool]] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            busy.append([bool(s.get("is_processing")) for s in stack.engine_slots(pool)])
            time.sleep(0.05)

    pool_lab.chat("Hi", max_tokens=2, temperature=0, on_token=lambda _: None)  # a fresh stack's first stream is slow
    firsts: dict[str, float] = {}
    t0 = time.perf_counter()
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = send_pair(pool_lab, STORY, {"temperature": 0.7, "seed": 1, "max_tokens": 80},
                              {"temperature": 1.2, "seed": 1, "max_tokens": 80},
                              on_token_a=lambda _: firsts.setdefault("a", time.perf_counter() - t0),
                              on_token_b=lambda _: firsts.setdefault("b", time.perf_counter() - t0))
    finally:
        done.set()
        watcher.join()
    assert set(firsts) == {"a", "b"} and max(firsts.values()) < min(result[s].latency_s for s in "ab")
    assert [True, True] in busy, f"the two engines were never busy at once: {sorted(set(map(tuple, busy)))}"


def test_a_killed_engine_leaves_rotation_without_losing_a_row_and_up_starts_it_again(pool, pool_lab, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "responses.sqlite"
    victim = stack.pool_engines(pool)[0]
    grid = Grid(temperature=[0.5, 1.0], max_tokens=[8], samples=15)
    runs, after_kill = sweep_killing(pool_lab, grid, cache, 6, victim, within=120)
    assert after_kill is not None, "the sweep ended before 6 rows were stored"
    assert after_kill < 60, "the sweep hung on the dead engine"
    assert len(runs) == 30 and runs["text"].notna().sum() == len(Cache(cache)), "every finished answer is a row"
    assert runs["error"].isna().all(), f"the other engine should have answered: {runs['error'].dropna().tolist()}"
    assert victim.pid() is None and stack.engine_healthy(pool)
    stack.up(pool, quiet=True)  # reuses the stack and starts the dead engine again, on its port
    assert victim.pid() is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stack.listed_models(f"http://127.0.0.1:{victim.port}/v1"):
        time.sleep(0.25)
    assert _ask(victim.port, *SEEDED[0]) == _ask(pool.llama_port, *SEEDED[0])


def test_a_dead_engines_port_held_by_another_program_is_named_then_used_once_free(pool, monkeypatch, capsys):
    """`up` waits a while for a dead engine's port (a killed process may hold it a moment), names a program
    that keeps it rather than leaving the pool short without a word, and starts the engine once it is free."""
    import socket

    victim = stack.pool_engines(pool)[1]
    os.killpg(victim.pid(), signal.SIGKILL)
    assert port_freed(victim.port, 30), "the killed engine's port stayed taken"
    # the balancer's next health check (each second, labutils/stack/balancer.py) finds the port closed and takes
    # the engine out of rotation; a program listening there before that would be sent requests it never answers,
    # and `up` would find the pool unhealthy and start the whole stack again (a CI run did)
    time.sleep(2.5)
    monkeypatch.setattr(stack, "HEAL_PORT_WAIT", 1.0)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the dead engine's closed connections
        squatter.bind(("127.0.0.1", victim.port))
        squatter.listen()
        stack.up(pool)
        assert f"engine-2 had stopped and another program holds its port 127.0.0.1:{victim.port}" in (
            capsys.readouterr().err)
        assert victim.pid() is None
    stack.up(pool, quiet=True)
    assert victim.pid() is not None


def test_a_killed_balancer_is_started_again_alone_and_the_rest_keeps_running(pool, pool_lab):
    front_door, distribution = stack.servers(pool)
    kept = [distribution.pid(), *(e.pid() for e in stack.pool_engines(pool))]
    os.killpg(front_door.pid(), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while front_door.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert front_door.pid() is None and not stack.engine_healthy(pool)
    t0 = time.monotonic()
    stack.up(pool, quiet=True)
    print(f"up after a killed balancer: {time.monotonic() - t0:.1f} s")
    assert front_door.pid() is not None and stack.engine_healthy(pool)
    assert [distribution.pid(), *(e.pid() for e in stack.pool_engines(pool))] == kept, "up restarted more"
    assert pool_lab.chat("Name three birds.", seed=13, max_tokens=8).text  # Llama Stack reaches it again


def test_up_names_the_source_engine_when_it_is_missing(pool, tmp_path):
    s = dataclasses.replace(pool, engine="source", llama_server=str(tmp_path / "nope"), state=tmp_path / "stack",
                            stack_port=stack.free_ports(1)[0])
    with pytest.raises(labutils.errors.StackError, match="LAB_ENGINE=source make setup"):
        stack.up(s, quiet=True)
