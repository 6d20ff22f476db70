"""connect(), Lab.chat and error translation against the real embedded stack."""

from __future__ import annotations

import logging

import pytest

import labutils
from labutils.errors import ConnectionFailed, ModelNotFound, ParameterError, RequestFailed

from .helpers import counting_lab

pytestmark = pytest.mark.integration
PROMPT = "Write one sentence about the sea."


def test_connect_lists_the_model(lab):
    assert lab.model in lab.models()
    assert lab.model in [m.id for m in lab.client.models.list()]  # the raw client agrees


def test_seed_gives_the_same_text_twice(lab):
    a = lab.chat(PROMPT, temperature=0.9, seed=42, max_tokens=24)
    b = lab.chat(PROMPT, temperature=0.9, seed=42, max_tokens=24)
    assert a.text == b.text and a.text
    assert a.params == {"temperature": 0.9, "max_tokens": 24, "seed": 42}
    assert a.finish_reason in ("stop", "length") and a.completion_tokens <= 24 and a.prompt_tokens > 0
    assert a.latency_s > 0 and a.tokens_per_s > 0


def test_streamed_completion_yields_chunks(lab):
    pieces = []
    done = lab.chat(PROMPT, temperature=0, max_tokens=16, on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == done.text
    assert done.finish_reason in ("stop", "length")


def test_top_logprobs_come_back(lab):
    done = lab.chat("Say hello.", temperature=0, max_tokens=3, logprobs=True, top_logprobs=3)
    assert done.logprobs and all(len(t["top"]) == 3 for t in done.logprobs)
    assert done.logprobs[0]["token"] == done.logprobs[0]["top"][0][0]  # greedy picks the top token


@pytest.mark.parametrize(("params", "message"), [
    ({"temperature": -1}, "temperature=-1 is not allowed"),
    ({"top_p": 1.5}, "top_p=1.5 is not allowed"),
    ({"max_tokens": 0}, "max_tokens=0 is not allowed"),
])
def test_bad_params_fail_before_any_request(lab, params, message):
    counted, sent = counting_lab(lab)
    with pytest.raises(ParameterError, match=message):
        counted.chat(PROMPT, **params)
    assert sent == []


def test_server_rejection_is_translated(lab):
    with pytest.raises(RequestFailed, match=r"HTTP 400.*temperature") as err:
        lab._send([{"role": "user", "content": "hi"}], {"temperature": -1}, None)  # skips validation on purpose
    assert err.value.status == 400 and not err.value.retryable


def test_unreachable_url_is_named():
    with pytest.raises(ConnectionFailed, match=r"nothing answers at http://127\.0\.0\.1:9"):
        labutils.connect("http://127.0.0.1:9")


def test_unknown_model_lists_available(lab):
    with pytest.raises(ModelNotFound) as err:
        labutils.connect(lab.base_url, model="no-such-model")
    assert "'no-such-model'" in str(err.value) and lab.model in str(err.value)


def test_env_picks_url_and_model(lab, monkeypatch):
    monkeypatch.setenv("LLAMA_STACK_URL", lab.base_url)
    monkeypatch.setenv("LAB_MODEL", lab.model)
    assert labutils.connect().model == lab.model
    monkeypatch.setenv("LAB_MODEL", "nope")
    with pytest.raises(ModelNotFound, match="'nope'"):
        labutils.connect()


def test_httpx_request_logs_are_quiet_unless_configured(lab):
    logger = logging.getLogger("httpx")
    assert logger.level == logging.WARNING  # set by connect()
    logger.setLevel(logging.DEBUG)  # a user's own choice is kept
    try:
        labutils.connect(lab.base_url)
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(logging.WARNING)
