"""The token-level view: probabilities and alternatives per token, and continuing from an alternative."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from labutils.errors import ParameterError
from labutils.sampler.tokens import answer_tokens, continue_from

from .conftest import FakeClient, FakeLab

TOKENS = [("The", -0.1, [("The", -0.1), ("A", -2.5)]), (" capital", -0.7, [(" capital", -0.7), (" city", -0.9)])]


class LogprobClient(FakeClient):
    """Streams a fixed two-token answer with logprobs; an assistant prefix is continued (and echoed)."""

    def create(self, *, model, messages, stream=False, stream_options=None, **fields):
        self.requests.append({"messages": messages, **fields})
        if messages[-1]["role"] == "assistant":
            pieces = [(messages[-1]["content"] + " is Paris.", None)]
        else:
            pieces = [(t, SimpleNamespace(content=[SimpleNamespace(
                token=t, logprob=lp, top_logprobs=[SimpleNamespace(token=a, logprob=b) for a, b in top])]))
                for t, lp, top in TOKENS]
        chunks = [SimpleNamespace(usage=None, choices=[SimpleNamespace(
            index=0, delta=SimpleNamespace(content=p), finish_reason=None, logprobs=lp)]) for p, lp in pieces]
        chunks[-1].choices[0].finish_reason = "stop"
        return iter(chunks)


def lab() -> FakeLab:
    fake = FakeLab()
    fake.client = LogprobClient()
    return fake


def test_the_view_has_each_token_its_probability_and_alternatives():
    view = answer_tokens(lab(), "Capital of France?", temperature=0, max_tokens=4)
    assert view.tokens == ["The", " capital"] and view.probs[1] == pytest.approx(math.exp(-0.7))
    assert view.alternatives[1][1][0] == " city"
    assert list(view.forks(0.6).token) == ["␣capital"]
    html = view.html()
    assert "of the mass" in html and "hsl(" in html


def test_continue_from_an_alternative_sends_the_prefix_as_the_assistant_turn():
    fake = lab()
    view = answer_tokens(fake, "Capital of France?", temperature=0, max_tokens=4)
    text = continue_from(fake, view, 1, " city")
    sent = fake.client.requests[-1]["messages"]
    assert sent[-1] == {"role": "assistant", "content": "The city"}
    assert text == "The city is Paris." and "logprobs" not in fake.client.requests[-1]


def test_bad_positions_and_alternatives_are_refused_before_sending():
    fake = lab()
    view = answer_tokens(fake, "Capital of France?", temperature=0, max_tokens=4)
    before = len(fake.client.requests)
    with pytest.raises(ParameterError, match="index=5"):
        continue_from(fake, view, 5, "A")
    with pytest.raises(ParameterError, match="alternative"):
        continue_from(fake, view, 0, "")
    assert len(fake.client.requests) == before


def test_token_panel_answers_and_forks_without_a_browser():
    from labutils.widgets.tokens import token_view

    panel = token_view(lab(), "Capital of France?")
    panel.run()
    assert "capital" in panel.tokens_html.value and len(panel.position.options) == 2
    panel.position.value = 1
    assert [v for _, v in panel.alternative.options] == [" capital", " city"]
    panel.alternative.value = " city"
    assert panel.fork() == "The city is Paris."


def test_chain_view_recomputes_the_stages_from_one_request():
    from labutils.widgets.tokens import chain_view

    fake = lab()
    view = chain_view(fake, "Capital of France?")
    first = view.run()
    assert first is not None and len(fake.client.requests) == 1
    view.sliders["top_k"].value = 1
    assert list(view.chain.final.index) == ["The"] and len(fake.client.requests) == 1  # no new request
    assert "cover" in repr(view) or "top_k" in repr(view)
