"""The probe: verdicts on the real embedded stack, and a fake distribution that breaks parameters."""

from __future__ import annotations

import json

import httpx
import pytest

import labutils
from labutils import stack
from labutils.errors import ParameterError, RequestFailed
from labutils.probe import COLUMNS, VERDICTS, _failure, probe
from labutils.probe.checks import stop_word
from labutils.views.tables import VERDICT_COLOURS, probe_table

from .conftest import FakeClient, FakeLab
from .helpers import FakeRoutes, counting_lab, serving

SAMPLERS = ["top_k", "min_p", "typical_p", "repeat_penalty", "presence_penalty", "frequency_penalty",
            "dry_multiplier", "xtc_probability"]

REAL = stack.Settings().url  # the embedded stack this session uses (LAB_STACK_PORT), not always 8321


# --- pure logic ---

def test_stop_word_is_the_third_word_first_seen_there():
    assert stop_word("The cat, a majestic feline.") == "majestic"
    assert stop_word("Cats nap. Cats purr a lot.") == "purr"  # 'Cats' also starts the text: skipped
    assert stop_word("Meow.") is None


def test_failures_become_verdicts_with_the_server_message():
    observed, verdict, why = _failure(RequestFailed("the server answered HTTP 400: top_p must be > 0", status=400))
    assert verdict == "rejected" and "top_p must be > 0" in observed and "HTTP 400" in why
    assert _failure(RequestFailed("HTTP 501: not implemented", status=501))[1] == "not supported"
    assert _failure(ParameterError("top_p=0 is not allowed"))[1] == "rejected"
    assert _failure(KeyError("choices"))[1] == "not supported"


def test_bad_samples_raise_before_any_request():
    lab = FakeLab()
    for samples in (1, 51):
        with pytest.raises(ParameterError, match=f"samples={samples}"):
            probe(lab, samples=samples)
    with pytest.raises(ParameterError, match="lab="):
        probe(object())  # type: ignore[arg-type]
    assert lab.client.requests == []


def test_probe_table_colours_each_verdict():
    import pandas as pd

    df = pd.DataFrame([{"parameter": v, "test": "t", "sent": "s", "observed": "o", "verdict": v,
                        "explanation": "e"} for v in VERDICTS], columns=COLUMNS)
    html = probe_table(df).to_html()
    for colour in VERDICT_COLOURS.values():
        assert colour in html


# --- the real embedded stack ---

@pytest.mark.integration
def test_probe_of_the_embedded_stack(lab, tmp_cache):
    counted, sent = counting_lab(lab)
    df = probe(counted, samples=3)
    assert list(df.columns) == COLUMNS
    assert list(df.parameter) == ["temperature", "seed", "max_tokens", "stop", "top_p", "n", "top_logprobs",
                                  *SAMPLERS]
    assert set(df.verdict) <= set(VERDICTS)
    assert (df.observed.str.len() > 0).all() and (df.explanation.str.len() > 0).all()
    verdict = dict(zip(df.parameter, df.verdict))
    assert verdict["temperature"] == "honoured"
    assert verdict["seed"] == "honoured"
    assert verdict["max_tokens"] == "honoured"
    n_row = df.set_index("parameter").loc["n"]  # llama-server returns n choices; llama-cpp-python did not
    assert (n_row.verdict, n_row.observed) in (("honoured", "2 choice(s)"), ("ignored", "1 choice(s)"))
    first = sent.count("POST /v1/chat/completions")

    sent.clear()
    again = probe(counted, samples=3)
    # only the fresh repeat of the seed check is sent again; the rest (n=2 included) comes from the cache
    assert sent.count("POST /v1/chat/completions") == 1 < first
    assert list(again.verdict) == list(df.verdict)


# --- a fake distribution that drops temperature and rejects top_p ---

class _Forwarder(FakeRoutes):
    """Speaks the two routes the lab calls and forwards them to the real stack, breaking parameters."""

    def do_GET(self):
        if self.path.split("?")[0] != "/v1/models":
            return self.reply(404, b'{"error": {"message": "not found"}}')
        r = httpx.get(REAL + self.path, timeout=60)
        self.reply(r.status_code, r.content)

    def do_POST(self):
        if self.path != "/v1/chat/completions":
            return self.reply(404, b'{"error": {"message": "not found"}}')
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(dict(body))
        if "top_p" in body:
            return self.reply(400, json.dumps({"error": {"message": "top_p is not accepted here"}}).encode())
        if "temperature" in body:
            body["temperature"] = 1.0  # the bug under test: whatever the user sent, the model gets 1.0
        r = httpx.post(REAL + self.path, json=body, timeout=120)
        self.reply(r.status_code, r.content)


@pytest.fixture
def fake_url(embedded_stack):
    with serving(_Forwarder, seen=[]) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen


@pytest.mark.integration
def test_probe_catches_a_distribution_that_drops_temperature(fake_url, tmp_cache):
    url, seen = fake_url
    fake = labutils.connect(base_url=url)
    assert not fake.embedded
    df = probe(fake, samples=3).set_index("parameter")
    assert df.loc["temperature", "verdict"] == "ignored"
    assert "temperature=0" in df.loc["temperature", "explanation"]
    assert df.loc["top_p", "verdict"] == "rejected"
    assert "top_p is not accepted here" in df.loc["top_p", "observed"]
    assert df.loc["seed", "verdict"] == "honoured"  # the fake keeps seeds: only the broken parameters fail
    assert any(body.get("temperature") == 0 for body in seen)  # the lab did send 0, the fake dropped it


# --- one check per sampler, each able to fail: a scripted engine that honours them, or drops one ---

class SamplerEngine(FakeClient):
    """Answers like a llama.cpp server: seeds matter at temperature > 0 unless a sampler leaves one
    candidate; a penalty or XTC changes the greedy answer. `drop` names a sampler it ignores."""

    def __init__(self, drop: str | None = None):
        super().__init__()
        self.drop = drop

    def create(self, *, model, messages, stream=False, stream_options=None, **fields):
        p = {**fields, **(fields.get("extra_body") or {})}
        p.pop(self.drop, None)
        one = (p.get("top_k") == 1 or p.get("min_p", 0) >= 1 or p.get("typical_p", 1) < 0.05
               or p.get("top_p", 1) < 0.05)
        changed = any(p.get(k, off) != off for k, off in [("repeat_penalty", 1), ("presence_penalty", 0),
                                                          ("frequency_penalty", 0), ("dry_multiplier", 0),
                                                          ("xtc_probability", 0)])
        if p.get("temperature") == 0 or one:
            self.text = ("A different cat naps all day long in the sun" if changed
                         else "A cat naps all day long in the sun")
        else:
            self.text = f"A cat number {p.get('seed')} naps all day long"
        return super().create(model=model, messages=messages, stream=stream, stream_options=stream_options, **fields)


def _sampler_verdicts(drop=None) -> dict[str, str]:
    lab = FakeLab()
    lab.client = SamplerEngine(drop)
    df = probe(lab, samples=3, cache=False)
    return dict(zip(df.parameter, df.verdict))


def test_every_sampler_has_a_check_that_passes_on_an_honest_engine():
    verdicts = _sampler_verdicts()
    assert [verdicts[s] for s in SAMPLERS] == ["honoured"] * len(SAMPLERS)


@pytest.mark.parametrize("dropped", ["top_k", "min_p", "typical_p", "repeat_penalty", "presence_penalty",
                                     "frequency_penalty", "dry_multiplier", "xtc_probability"])
def test_a_server_that_drops_a_sampler_is_flagged(dropped):
    verdicts = _sampler_verdicts(drop=dropped)
    assert verdicts[dropped] == "ignored"
    assert all(verdicts[s] == "honoured" for s in SAMPLERS if s != dropped)
