"""The one request path, `Lab.send`: validation, the cache rule and error translation, offline on the fake lab."""

from __future__ import annotations

from pathlib import Path

import httpx
import llama_stack_client
import pytest

from labutils import Grid, ParameterError, RequestFailed, probe
from labutils.cache import Cache
from labutils.probe import COLUMNS

from .conftest import FakeLab


@pytest.fixture
def store(tmp_path):
    s = Cache(tmp_path / "responses.sqlite")
    yield s
    s.close()


def test_only_reproducible_requests_use_the_cache(fake_lab, store):
    first = fake_lab.chat("Hi", temperature=0, cache=store)
    again = fake_lab.chat("Hi", temperature=0.0, cache=store)  # the same request after validation
    assert (first.cached, again.cached, again.text) == (False, True, first.text)
    assert again.tokens_per_s == first.tokens_per_s  # from the stored latency and tokens
    fake_lab.chat("Hi", temperature=1, cache=store)
    fake_lab.chat("Hi", temperature=1, cache=store)  # unseeded sampling: never cached
    assert fake_lab.chat("Hi", temperature=1, seed=3, cache=store).cached is False
    assert fake_lab.chat("Hi", temperature=1, seed=3, cache=store).cached is True
    assert len(fake_lab.client.requests) == 4
    assert fake_lab.chat("Hi", temperature=0).cached is False  # no cache given: always sent


def test_a_cached_answer_is_streamed_too(fake_lab, store):
    fake_lab.chat("Hi", temperature=0, cache=store)
    pieces = []
    done = fake_lab.chat("Hi", temperature=0, cache=store, on_token=pieces.append)
    assert done.cached and "".join(pieces) == done.text


def test_streaming_and_n_choices(fake_lab):
    pieces = []
    done = fake_lab.chat("Hi", max_tokens=5, on_token=pieces.append)
    assert "".join(pieces) == done.text and fake_lab.client.requests[-1]["stream"]
    assert fake_lab.chat("Hi", n=2).choices == 2


def test_validation_comes_first(fake_lab):
    for bad in ({"temperature": 3}, {"top_k": -1}, {"n": 0}, {"nope": 1}):
        with pytest.raises(ParameterError):
            fake_lab.chat("Hi", **bad)
    assert fake_lab.client.requests == []


def test_client_errors_are_translated_once():
    lab = FakeLab()

    def refuse(**_):
        raise llama_stack_client.APIConnectionError(request=httpx.Request("POST", "http://fake"))

    lab.client.chat.completions.create = refuse
    with pytest.raises(RequestFailed, match=r"request to http://fake could not connect.*Is the stack up") as err:
        lab.chat("Hi")
    assert err.value.retryable


def test_sweep_and_probe_share_the_cache(tmp_cache):
    lab = FakeLab()
    runs = lab.sweep("Hi", Grid(temperature=[0, 1], samples=2), progress=False)
    assert len(lab.client.requests) == 4 and not runs["cached"].any()
    again = lab.sweep("Hi", Grid(temperature=[0, 1], samples=2), progress=False)
    assert again["cached"].all() and len(lab.client.requests) == 4 and again["text"].equals(runs["text"])
    df = probe(lab, samples=2)
    sent = len(lab.client.requests)
    assert list(df.columns) == COLUMNS and df.set_index("parameter").loc["n", "verdict"] == "honoured"
    probe(lab, samples=2)
    assert len(lab.client.requests) == sent + 1  # only the seed's fresh repeat is sent again


def test_no_other_module_calls_the_client_directly():
    root = Path(__file__).resolve().parent.parent / "labutils"
    callers = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
               if "completions.create(" in p.read_text() and p.name not in ("client.py", "lesson_00.py")]
    assert callers == [], f"{callers} call chat.completions.create: send through Lab.send"
