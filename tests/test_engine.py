"""The engine, llama.cpp's llama-server, through the shared embedded stack: slots, determinism, defaults.

Real requests only: each test asserts what the engine does, measured, never a value written down here.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from labutils import Lab, ParameterError, stack
from labutils.lessons.ab import send_pair

pytestmark = pytest.mark.integration

STORY = "Write a long story about a dragon who learns to read."
SEEDED = [("Describe the sea at night.", 11), ("Explain what a compiler does.", 12), ("Name three birds.", 13),
          ("Write a haiku about autumn.", 14)]


def busy_slots(settings: stack.Settings) -> int:
    return sum(bool(s.get("is_processing")) for s in stack.engine_slots(settings))


def test_slots_answer_requests_at_the_same_time(lab, embedded_stack):
    props = stack.engine_props(embedded_stack)
    assert lab.slots == props["pool"]["slots"] == props["pool"]["engines"] * props["total_slots"] >= 2
    assert lab.slots == len(stack.engine_slots(embedded_stack)), "slots = the sum over the pool's engines"
    assert lab.engine_slots == props["total_slots"] and lab.concurrency == lab.slots
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(busy_slots(embedded_stack))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(lab.slots) as pool:
            done = list(pool.map(lambda i: lab.chat(STORY, temperature=0.7, seed=i, max_tokens=120),
                                 range(lab.slots)))
    finally:
        stop.set()
        watcher.join()
    assert all(d.completion_tokens > 0 for d in done)
    assert max(seen) == lab.slots, f"never saw {lab.slots} slots busy at once: {sorted(set(seen))}"


def test_a_seed_gives_the_same_text_alone_after_others_and_batched(lab):
    ask = {"temperature": 0.9, "max_tokens": 48}
    alone = [lab.chat(p, seed=s, **ask).text for p, s in SEEDED]
    lab.chat("Tell me a joke about cats.", temperature=1.0, seed=3, max_tokens=16)  # something else ran before
    after = [lab.chat(p, seed=s, **ask).text for p, s in SEEDED]
    others = [("List four colours.", 90 + i) for i in range(len(SEEDED))]
    mixed = [x for pair in zip(SEEDED, others) for x in pair]  # each seeded request beside another one
    with ThreadPoolExecutor(lab.slots) as pool:
        batched = list(pool.map(lambda ps: lab.chat(ps[0], seed=ps[1], **ask).text, mixed))[::2]
    assert after == alone
    assert batched == alone


def test_server_defaults_are_what_a_bare_request_gets(lab):
    defaults = lab.server_defaults()
    assert defaults.known and defaults.samplers[-1] == "temperature"
    chain = {k: defaults[k] for k in ("temperature", "top_p", "top_k", "min_p")}
    prompt = "Write one sentence about a cat."
    for seed in (1, 2, 3):
        bare = lab.chat(prompt, seed=seed, max_tokens=24).text
        explicit = lab.chat(prompt, seed=seed, max_tokens=24, **chain).text
        greedy = lab.chat(prompt, seed=seed, max_tokens=24, temperature=0).text
        assert bare == explicit, f"seed {seed}: the defaults /props reports are not what a bare request gets"
    assert bare != greedy or any(lab.chat(prompt, seed=s, max_tokens=24).text != greedy for s in (4, 5, 6))


def test_a_remote_stack_has_unknown_defaults_with_the_reason(lab):
    remote = Lab(lab.client, lab.model, "http://example.invalid:8321")
    defaults = remote.server_defaults()
    assert not defaults.known and "remote" in defaults.reason
    with pytest.raises(KeyError, match="unknown"):
        defaults["temperature"]
    assert remote.slots is None and remote.concurrency >= 1


def test_context_length_is_the_one_the_engine_serves(lab, embedded_stack):
    props = stack.engine_props(embedded_stack)
    assert lab.context_length == props["default_generation_settings"]["n_ctx"]


MOON = "Write one sentence about the moon."
SEA = "Repeat the word 'sea' many times, then write a poem about the sea."


@pytest.fixture(scope="module")
def moon(lab):
    """MOON's answers at temperature 1.5 for seeds 1-4 (a set), and its greedy answer: asked once for the module."""
    return {"plain": {lab.chat(MOON, temperature=1.5, seed=s, max_tokens=20).text for s in range(1, 5)},
            "greedy": lab.chat(MOON, temperature=0, max_tokens=20).text}


@pytest.fixture(scope="module")
def sea(lab):
    """SEA's answers with no sampler of the chain set, for seeds 1-3: asked once for the module."""
    return [lab.chat(SEA, temperature=0.8, seed=s, max_tokens=40).text for s in (1, 2, 3)]


@pytest.mark.parametrize(("sampler", "value", "greedy"), [
    ("top_k", 1, True), ("min_p", 1.0, True), ("typical_p", 0.01, False)])
def test_a_cut_to_one_token_leaves_no_chance(lab, moon, sampler, value, greedy):
    # at its extreme each of these keeps one token per step, so every seed writes the same text: for top_k
    # and min_p the most likely token (the greedy text), for typical_p the most *typical* one, whose
    # surprise is closest to the entropy (not always the most likely: a separate text)
    cut = {lab.chat(MOON, temperature=1.5, seed=s, max_tokens=20, **{sampler: value}).text for s in range(1, 5)}
    assert len(moon["plain"]) > 1, "at temperature 1.5 the seeds should differ (else this test proves nothing)"
    assert len(cut) == 1
    if greedy:
        assert cut == {moon["greedy"]}


@pytest.mark.parametrize("params", [
    {"repeat_penalty": 1.8}, {"presence_penalty": 1.5}, {"frequency_penalty": 1.5}, {"dry_multiplier": 2.0},
    {"xtc_probability": 1.0, "xtc_threshold": 0.05}])
def test_each_sampler_changes_the_answer(lab, sea, params):
    changed = [lab.chat(SEA, temperature=0.8, seed=s, max_tokens=40, **params).text for s in (1, 2, 3)]
    assert changed != sea, f"{params} was sent but changed no answer"


@pytest.mark.parametrize(("params", "message"), [
    ({"top_k": -1}, "top_k=-1 is not allowed"), ({"min_p": 1.5}, "min_p=1.5 is not allowed"),
    ({"repeat_penalty": float("nan")}, "repeat_penalty=nan is not allowed"),
    ({"presence_penalty": "high"}, "presence_penalty='high' is not allowed"),
    ({"typical_p": 0}, "typical_p=0 is not allowed")])
def test_bad_sampler_values_are_refused_before_sending(lab, params, message, monkeypatch):
    sent = []  # the lab's own client records what it sends (the shared engine may serve other tests meanwhile)
    monkeypatch.setattr(lab.client.chat.completions, "create", lambda **kw: sent.append(kw))
    with pytest.raises(ParameterError, match=message):
        lab.chat("Hi", **params)
    assert sent == []


def test_the_ab_panel_streams_both_at_once(lab):
    firsts: dict[str, float] = {}
    t0 = time.perf_counter()

    def first(side):
        return lambda piece: firsts.setdefault(side, time.perf_counter() - t0)

    result = send_pair(lab, STORY, {"temperature": 0.7, "seed": 1, "max_tokens": 100},
                          {"temperature": 1.2, "seed": 1, "max_tokens": 100},
                          on_token_a=first("a"), on_token_b=first("b"))
    a_done = result["a"].latency_s
    assert set(firsts) == {"a", "b"}
    assert firsts["b"] < a_done, "B started streaming only after A had finished"
