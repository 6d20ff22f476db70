"""The lab's ranges against the engine's (issue 24): each numeric bound of `labutils.params.PARAMS`, and one step
beyond it, is sent to the real embedded stack with the lab's validation bypassed (the raw client), and the
lab's verdict must agree with the engine's: every value the lab accepts gets HTTP 200, so no declared range
is wider than the engine's. Where the lab is narrower than the engine (a soft clamp, a range the lessons
need no more of), the test prints it. Every request asks for one token. Last, an answer cut by the context
(a private stack with a 256-token context) says so, where the engine says "length" as for max_tokens.
"""

from __future__ import annotations

import llama_stack_client
import pytest

import labutils
from labutils import stack
from labutils.client.server import count_tokens
from labutils.errors import ParameterError
from labutils.params import PARAMS, RANDOM_SEED

pytestmark = pytest.mark.integration


def _points(name: str, lab) -> list[tuple[float, str]]:
    """(value, where) pairs: each bound the lab allows and one step beyond each bound."""
    p = PARAMS[name]
    step = p.step or (1 if p.kind is int else 0.01)
    high = lab.engine_slots if name == "n" and lab.engine_slots else p.high  # n: one engine's slots
    out = []
    if p.low is not None:
        out += [(p.low + step, "low, inside (open bound)") if p.low_open else (p.low, "low bound"),
                (p.low if p.low_open else p.low - step, "one step below")]
    if high is not None and name != "max_tokens":  # max_tokens at the context would generate a whole context
        out += [(high - step, "high, inside (open bound)") if p.high_open else (high, "high bound"),
                (high if p.high_open else high + step, "one step above")]
    return [(p.kind(round(v, 6)), where) for v, where in out]


def _engine_status(lab, name: str, value) -> int:
    """HTTP status of one raw request carrying `name=value` (no lab validation), max_tokens 1."""
    fields = {"extra_body": {name: value}} if PARAMS[name].extra else {name: value}
    if name == "top_logprobs":
        fields["logprobs"] = True
    fields.setdefault("max_tokens", 1)
    try:
        lab.client.chat.completions.create(model=lab.model, messages=[{"role": "user", "content": "Hi"}], **fields)
    except llama_stack_client.APIStatusError as e:
        return e.status_code
    return 200


def _lab_accepts(lab, name: str, value) -> bool:
    try:
        lab.prepare("Hi", **{name: value}, **({"logprobs": True} if name == "top_logprobs" else {}))
    except ParameterError:
        return False
    return True


@pytest.mark.parametrize("name", [n for n, p in PARAMS.items() if p.kind in (int, float)])
def test_the_labs_range_is_never_wider_than_the_engines(lab, name, capsys):
    wider, narrower = [], []
    for value, where in _points(name, lab):
        accepts, status = _lab_accepts(lab, name, value), _engine_status(lab, name, value)
        if accepts and status != 200:
            wider.append(f"{name}={value} ({where}): the lab accepts it, the engine answers HTTP {status}")
        if not accepts and status == 200:
            narrower.append(f"{name}={value} ({where})")
    with capsys.disabled():
        if narrower:
            print(f"\n  lab narrower than the engine: {'; '.join(narrower)}")
    assert not wider, wider


def test_the_random_seed_is_random_on_the_engine_so_the_lab_refuses_it(lab):
    texts = set()
    for _ in range(3):
        done = lab.client.chat.completions.create(model=lab.model, messages=[{"role": "user", "content": "Write a "
                                                  "random word."}], seed=RANDOM_SEED, temperature=1.5, max_tokens=8)
        texts.add(done.choices[0].message.content)
    assert len(texts) > 1, "llama.cpp's 0xFFFFFFFF seed is not random here: the lab could allow it"
    with pytest.raises(ParameterError, match="4294967294"):
        lab.chat("Write a random word.", seed=RANDOM_SEED, temperature=1.5, max_tokens=8)


def test_an_answer_cut_by_the_context_says_so_not_length(private_settings, tmp_cache, monkeypatch):
    """Issue 24, reproduction 9: llama-server ends an answer that fills the context with finish_reason "length", as
    it ends one cut by max_tokens; the lab says "context_length" for the first. A private stack with the smallest
    context the engine takes (256 tokens a slot) and a prompt that leaves about 16 of them keep it cheap; the
    LAB_* variables make it the stack connect() sees as embedded, so the lab reads its context."""
    s = private_settings
    for name, value in (("LAB_STACK_PORT", s.stack_port), ("LAB_LLAMA_PORT", s.llama_port), ("LAB_MODELS", "none"),
                        ("LAB_N_CTX", 256), ("LAB_ENGINES", 1)):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("LLAMA_STACK_URL", raising=False)
    monkeypatch.delenv("LAB_CONTEXT_LENGTH", raising=False)
    stack.up(stack.Settings(state=s.state, start_timeout=120), quiet=True)
    lab = labutils.connect()
    assert lab.context_length == 256

    def prompt(words: int) -> list[dict]:
        return [{"role": "user", "content": "apple " * words + "\nCount from one to one hundred in words."}]

    words = 200 - (count_tokens(lab.engine_url, prompt(200)) - (lab.context_length - 16))  # one token a word
    messages = prompt(words)
    assert lab.context_length - 20 <= count_tokens(lab.engine_url, messages) < lab.context_length - 8
    raw = lab.client.chat.completions.create(model=lab.model, messages=messages, temperature=0, seed=1)
    used = raw.usage.prompt_tokens + raw.usage.completion_tokens
    assert raw.choices[0].finish_reason == "length" and used >= lab.context_length, "the engine says length"
    cut = lab.chat(messages, temperature=0, seed=1)
    assert cut.finish_reason == "context_length", cut
    assert cut.prompt_tokens + cut.completion_tokens >= lab.context_length
    short = lab.chat(messages, temperature=0, seed=1, max_tokens=3)
    assert short.finish_reason == "length" and short.completion_tokens == 3, "max_tokens cut this one"
