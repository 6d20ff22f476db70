"""Issue 24: every bad input named before any request. Offline: the reproductions of the issue, then a
property test (hypothesis) that feeds arbitrary Python values to every argument of every public entry point
and counts the requests that reach a scripted client (`FakeLab`'s, or a spy in place of LlamaStackClient).

An argument is either accepted (and what is sent is valid) or refused with a lab error that names it,
before anything is sent; never a raw Overflow/Attribute/numpy/pandas/httpx error.
"""

from __future__ import annotations

import math
import socket
import sqlite3
import sys
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labutils
from labutils import Chat, Grid, probe, summarize
from labutils.client import cache as cache_mod
from labutils.client import connection as client_mod
from labutils.errors import ConnectionFailed, LabError, ParameterError, TooManyCalls
from labutils.lessons.ab import send_pair
from labutils.params import PARAMS, RANDOM_SEED, check, check_all
from labutils.views import export

from .conftest import FakeLab
from .test_faults import ok, scripted_lab, sse


def refused(call, *names: str):
    """Run `call`; assert it raises a lab error naming one of `names`; return the message."""
    with pytest.raises(LabError) as err:
        call()
    assert any(n in str(err.value) for n in names), str(err.value)
    return str(err.value)


# ---------------------------------------------------------------- reproductions of the issue

def test_1_the_random_seed_is_refused_with_its_bound_as_an_integer():
    msg = refused(lambda: check("seed", RANDOM_SEED), "seed=4294967295")
    assert "4294967294]" in msg and "e+09" not in msg
    assert check("seed", RANDOM_SEED - 1) == RANDOM_SEED - 1
    assert "1000000]" in PARAMS["max_tokens"].allowed(1_000_000)


def test_2_counts_are_bounded_and_the_call_cap_comes_before_the_work(tmp_cache, monkeypatch):
    lab = FakeLab()
    refused(lambda: Grid(samples=10**400), "samples=")
    refused(lambda: lab.sweep("hi", Grid(temperature=[0], max_tokens=[2], samples=10**6)), "samples=1000000")
    refused(lambda: Grid(temperature=range(10**9)), "temperature=range")
    refused(lambda: probe(lab, samples=1000), "samples=1000")
    looked, built = [], []
    real_cached, real_iter = lab.cached, Grid.__iter__
    monkeypatch.setattr(lab, "cached", lambda *a: looked.append(1) or real_cached(*a))
    monkeypatch.setattr(Grid, "__iter__", lambda self: built.append(1) or real_iter(self))
    grid = Grid(temperature=[0], top_p=[0.5, 1], max_tokens=[2], samples=10_000)
    for cache in (True, False):
        msg = refused(lambda c=cache: lab.sweep("hi", grid, progress=False, cache=c), "max_calls=2000")
        assert "20000 calls" in msg
    assert lab.client.requests == [] and looked == [] and built == [], "cells built or looked up beyond the cap"
    small = Grid(temperature=[0], samples=3)
    lab.sweep("hi", small, progress=False, max_calls=3)  # a grid of exactly the cap runs, then is cached
    refused(lambda: lab.sweep("hi", small, progress=False, max_calls=2), "max_calls=2")
    assert len(lab.client.requests) == 3, "the cap counts cached calls too: refused from the size alone"


@pytest.mark.parametrize(("params", "name"), [
    ({"repeat_penalty": 0}, "repeat_penalty=0"), ({"repeat_last_n": -1}, "repeat_last_n=-1"),
    ({"n": 3}, "n=3"), ({"seed": 2**32 - 1}, "seed"),
])
def test_3_values_the_engine_refuses_are_refused_before_sending(params, name):
    lab = FakeLab()
    lab.engine = {"total_slots": 2}  # llama-server: n at most its parallel slots
    refused(lambda: lab.chat("hi", **params), name)
    refused(lambda: lab.sweep("hi", Grid(temperature=[0.5], max_tokens=[2], samples=20), progress=False, **params),
            name)
    assert lab.client.requests == []
    assert lab.chat("hi", n=2).choices == 2


def test_3_a_refusal_4xx_stops_the_cell_and_then_the_sweep(tmp_cache):
    refusal = httpx.Response(400, json={"error": {"message": "Field 'x': Value must be between 0 and 1"}})
    lab, sent = scripted_lab(lambda n: refusal)
    runs = lab.sweep("hi", Grid(temperature=[0.5], max_tokens=[2], samples=20), concurrency=1, progress=False)
    assert len(runs) == 20 and runs["error"].notna().all()
    assert len(sent) == 1, "the other 19 samples of the refused cell are not sent"
    lab, sent = scripted_lab(lambda n: refusal)
    runs = lab.sweep("hi", Grid(temperature=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], max_tokens=[2], samples=2),
                     concurrency=1, progress=False)
    assert len(sent) == 3 and runs["error"].str.startswith("not sent").sum() >= 6
    lab, sent = scripted_lab(lambda n: refusal if n == 1 else ok())  # one refused cell costs no other cell
    runs = lab.sweep("hi", Grid(temperature=[0.1, 0.2], max_tokens=[2], samples=3), concurrency=1, progress=False)
    assert len(sent) == 4 and runs["text"].notna().sum() == 3


@pytest.mark.parametrize("scorers", [lambda t: True, 5, "correct", [print, 5], {"x": 5}])
def test_4_scorers_are_checked_before_sending(scorers, tmp_cache):
    lab = FakeLab()
    refused(lambda: lab.sweep("hi", Grid(temperature=[0.5], samples=4), scorers=scorers, progress=False), "scorers")
    refused(lambda: Grid(temperature=[0.5], scorers=scorers), "scorers")
    assert lab.client.requests == []


def test_5_chat_send_takes_one_message_and_keeps_its_roles():
    lab = FakeLab()
    chat = Chat(lab, system="Be brief.")
    turns = [{"role": "system", "content": "other"}, {"role": "assistant", "content": "I said"}]
    refused(lambda: chat.send(turns), "text=")
    assert lab.client.requests == [] and chat.history == [{"role": "system", "content": "Be brief."}]
    chat.send("hi")
    assert [m["role"] for m in lab.sent[0]] == ["system", "user"]


class _Spy:
    """In place of LlamaStackClient: counts requests; `models.list` answers or raises `error`."""

    requests = 0

    def __init__(self, error=None, **kwargs):
        self.timeout = kwargs.get("timeout")
        self.error = error

        def listed():
            type(self).requests += 1
            if self.error is not None:
                raise self.error
            return [SimpleNamespace(id="fake", custom_metadata={"model_type": "llm"})]
        self.models = SimpleNamespace(list=listed)


@pytest.fixture
def spy(monkeypatch):
    """connect() with a spy client; the embedded stack is never started; the URL is not the embedded one."""
    _Spy.requests = 0
    monkeypatch.setenv("LLAMA_STACK_URL", "http://fake.invalid:9")
    monkeypatch.setattr(client_mod, "LlamaStackClient", _Spy)
    monkeypatch.setattr(client_mod.stack, "up", lambda *a, **k: pytest.fail("the stack was (re)started"))
    return _Spy


def test_6_a_timeout_is_not_nothing_listening_and_nothing_is_restarted(monkeypatch):
    import llama_stack_client

    quiet = socket.socket()  # listens (the kernel completes the handshake) but never answers
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(8)
    port = quiet.getsockname()[1]
    monkeypatch.delenv("LLAMA_STACK_URL", raising=False)
    monkeypatch.setenv("LAB_STACK_PORT", str(port))  # the embedded stack's port: connect() may start one
    monkeypatch.setattr(client_mod.stack, "up", lambda *a, **k: pytest.fail("a stack that listens was restarted"))
    try:
        for timeout in (0.3, 1e-300):
            msg = refused(lambda t=timeout: labutils.connect(timeout=t), "did not answer")
            assert "within" in msg and "left running" in msg and "nothing answers" not in msg
    finally:
        quiet.close()
    assert issubclass(llama_stack_client.APITimeoutError, llama_stack_client.APIConnectionError), \
        "why the order of the except clauses matters"


@pytest.mark.parametrize(("call", "name"), [
    (lambda lab, runs: summarize("x"), "runs="),
    (lambda lab, runs: summarize(runs, level=2), "level=2"),
    (lambda lab, runs: summarize(runs, level=0), "level=0"),
    (lambda lab, runs: summarize(runs, values=["nope"]), "values=['nope']"),
    (lambda lab, runs: summarize(runs, values="text"), "values='text'"),
    (lambda lab, runs: probe("notalab"), "lab='notalab'"),
    (lambda lab, runs: labutils.connect(base_url=5), "base_url=5"),
    (lambda lab, runs: lab.using([lab.model]), "model=['fake']"),
    (lambda lab, runs: Grid(max_tokens=b"\x10\x20"), "max_tokens=b"),
    (lambda lab, runs: lab.chat("hi", temperature=10**400), "temperature="),
    (lambda lab, runs: lab.chat("hi", top_k=-10**400), "top_k="),
    (lambda lab, runs: lab.chat("hi", response_format={"type": "json_schema", "json_schema": {
        "name": 5, "schema": {"type": "object"}}}), "name=5"),
    (lambda lab, runs: export.load("/"), "path='/'"),
    (lambda lab, runs: export.save(runs, "a\x00b.csv"), "path="),
    (lambda lab, runs: export.save(runs, "/dev/null/x.csv"), "path="),
])
def test_7_no_raw_errors(call, name, runs_fixture, spy):
    lab = FakeLab()
    refused(lambda: call(lab, runs_fixture), name)
    assert lab.client.requests == [] and spy.requests == 0


def test_7_an_empty_or_odd_file_without_sidecar_is_a_lab_error(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    refused(lambda: export.load(tmp_path / "empty.csv"), "empty.csv")
    (tmp_path / "dir.csv").mkdir()
    refused(lambda: export.load(tmp_path / "dir.csv"), "is a folder")
    refused(lambda: export.save(pd.DataFrame({"a": [1]}), tmp_path / "dir.csv"), "is a folder")


def test_7_minus_zero_is_zero_and_has_one_cache_key():
    zero = check("temperature", -0.0)
    assert zero == 0.0 and math.copysign(1, zero) == 1.0
    lab = FakeLab()
    keys = {lab.cache_key([{"role": "user", "content": "hi"}], check_all({"temperature": t})) for t in (0, -0.0, 0.0)}
    assert len(keys) == 1


def test_8_csv_cells_that_start_a_formula_are_neutralised_and_load_back(tmp_path):
    texts = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "'=x", "''+y", "'plain", "plain",
             "", "<NA>", "=<NA>"]
    df = pd.DataFrame({"text": texts, "n": range(len(texts))})
    path = export.save(df, tmp_path / "runs.csv")
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        cells = [row[0] for row in csv.reader(f)][1:]
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    assert cells[0] == "'" + texts[0] and cells[8] == "'plain"
    pd.testing.assert_frame_equal(export.load(path), df)


def _no_writes(conn):
    """A full disk as SQLite meets it at open: WAL needs its -shm file, every write fails."""
    conn.set_authorizer(lambda action, *rest: sqlite3.SQLITE_DENY if action in (
        sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE, sqlite3.SQLITE_PRAGMA,
        sqlite3.SQLITE_CREATE_TABLE) else sqlite3.SQLITE_OK)


def test_9_a_cache_that_cannot_open_for_writing_still_serves_reads(tmp_path, monkeypatch):
    path = tmp_path / "c.sqlite"
    store = cache_mod.Cache(path)
    for i in range(6):
        store.put(f"k{i}", {"text": f"answer {i}"})
    store.close()
    real = sqlite3.connect

    def full(target, *a, **kw):  # the read-write connection fails to open (SQLITE_FULL); read-only works
        if "immutable=1" in str(target):
            return real(target, *a, **kw)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite3, "connect", full)
    store = cache_mod.Cache(path)
    with pytest.warns(UserWarning, match="cannot be written"):
        answers = [store.get(f"k{i}") for i in range(6)]
    assert answers == [{"text": f"answer {i}"} for i in range(6)]
    store.put("new", {"text": "x"})  # refused quietly (warned once)
    store.close()


def test_9_damage_during_a_sweep_is_reported_when_it_happens(tmp_cache, monkeypatch):
    import time
    import warnings

    monkeypatch.setattr(cache_mod, "WATCH_S", 0.0, raising=False)
    seen: list[int] = []  # warnings already shown when each request was sent
    with warnings.catch_warnings(record=True) as shown_:
        warnings.simplefilter("always")

        def answer(n):
            seen.append(sum("moved it to" in str(w.message) for w in shown_))
            if n == 2:  # the file is overwritten under the sweep's open connection
                tmp_cache.write_bytes(b"garbage" * 1000)
            time.sleep(0.3)  # the sweep's loop looks at its cache between answers
            return ok()

        lab, sent = scripted_lab(answer)
        runs = lab.sweep("hi", Grid(temperature=[0], top_p=[0.1, 0.2, 0.3, 0.4, 0.5]), concurrency=1, progress=False)
    assert runs["text"].notna().all() and len(sent) == 5
    assert seen[-1] == 1, f"damage reported only at the sweep's end (warnings seen per request: {seen})"
    assert sum("moved it to" in str(w.message) for w in shown_) == 1
    assert list(tmp_cache.parent.glob("responses.sqlite.corrupt-*"))
    assert len(cache_mod.Cache(tmp_cache)) >= 2, "the answers after the damage are stored in a new file"


def test_9_a_cache_removed_during_a_sweep_is_said_so(tmp_cache, monkeypatch):
    import time

    monkeypatch.setattr(cache_mod, "WATCH_S", 0.0, raising=False)

    def answer(n):
        if n == 2:
            for p in tmp_cache.parent.glob("responses.sqlite*"):
                p.unlink()
        time.sleep(0.3)
        return ok()

    lab, _ = scripted_lab(answer)
    with pytest.warns(UserWarning, match="was removed while in use"):
        runs = lab.sweep("hi", Grid(temperature=[0], top_p=[0.1, 0.2, 0.3, 0.4]), concurrency=1, progress=False)
    assert runs["text"].notna().all() and len(cache_mod.Cache(tmp_cache)) >= 1


def test_9_a_prompt_cut_by_the_context_says_so():
    cut = sse().replace(b'"finish_reason": "stop"', b'"finish_reason": "length"')  # 3 prompt + 2 answer tokens
    lab, _ = scripted_lab(lambda n: httpx.Response(200, content=cut, headers={"content-type": "text/event-stream"}))
    lab.context_length = 5  # the context is full after 5 tokens
    assert lab.chat("hi").finish_reason == "context_length"
    assert lab.chat("hi", max_tokens=2).finish_reason == "length", "max_tokens cut it"
    lab.context_length = 100
    assert lab.chat("hi").finish_reason == "length"


# ---------------------------------------------------------------- the property test

ODD = [10**400, -10**400, float("nan"), float("inf"), -float("inf"), -0.0, 1e-300, 1e308, b"\x10\x20",
       bytearray(b"x"), [[1]], [{"a": [1]}], {"a": 1}, set(), frozenset({1}), (), object(), np.float64("nan"),
       np.int64(5), np.bool_(True), np.array([1, 2]), Decimal("1.5"), Fraction(1, 3), complex(1, 1), "0.5", "",
       "\x00", "\ud800", lambda: 0, print, None, True, False, 0, 1, -1, 2, 0.5, "fake", ["fake"], pd.NA, pd.NaT,
       range(3), iter([1, 2]), pd.DataFrame(), pd.Series([1.0]), ValueError("x"), type, ...]


def anything():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10**30, 10**30),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.binary(max_size=8),
                        st.sampled_from(ODD))
    scalars = st.one_of(st.sampled_from(ODD), scalars)  # the odd values drawn often, not 1 time in 8
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=5), inner, max_size=3),
                                                         st.tuples(inner, inner)), max_leaves=8)


def in_range(name):
    p = PARAMS[name]
    if p.kind is float:
        return st.floats(p.low - 1, (p.high or 10) + 1)
    if p.kind is int:
        return st.integers(int(p.low) - 2, int(p.high or 4096) + 2)
    return st.nothing()


def outcome(call, name: str | tuple, sent: callable):
    """Run `call`: accepted, or a lab error naming `name` (one of them) with nothing sent. Returns the result or
    None."""
    names = (name,) if isinstance(name, str) else name
    before = sent()
    try:
        return call()
    except LabError as e:
        assert any(n in str(e) for n in names), f"{type(e).__name__} does not name {name!r}: {e}"
        assert sent() == before, f"{name}: refused after a request went out"
        return None
    except FileNotFoundError as e:  # export.load of a path that does not exist: named
        assert "no file" in str(e)
        return None


FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
NUMERIC = [n for n, p in PARAMS.items() if p.kind in (int, float)]


@FAST
@given(name=st.sampled_from(list(PARAMS)), data=st.data())
def test_every_parameter_of_chat_is_accepted_and_valid_or_named_before_sending(name, data):
    value = data.draw(st.one_of(st.sampled_from(ODD), anything(), in_range(name)) if name in NUMERIC else anything())
    lab = FakeLab()
    extra = {"logprobs": True} if name == "top_logprobs" else {}
    done = outcome(lambda: lab.chat("hi", **{name: value}, **extra), name, lambda: len(lab.client.requests))
    if done is not None and value is not None:
        sent = done.params[name]
        assert check(name, sent) == sent, "what was sent is itself valid"
        if PARAMS[name].kind in (int, float):
            assert type(sent) is PARAMS[name].kind and math.isfinite(sent)
            assert math.copysign(1, sent) == 1 or sent != 0, "-0.0 is sent as 0.0"


@FAST
@given(name=st.sampled_from(["samples", "seed", "scorers", "model", "max_tokens_limit", *[
    n for n, p in PARAMS.items() if p.axis]]), value=anything())
def test_every_grid_argument(name, value, tmp_path_factory):
    grid = outcome(lambda: Grid(**{name: value}), name, lambda: 0)
    if grid is not None:
        assert 1 <= len(grid) <= 10**4


@FAST
@given(name=st.sampled_from(["concurrency", "retries", "backoff", "max_calls", "cache", "progress", "scorers",
                             "system", "stop", "grid", "prompt"]), value=anything())
def test_every_sweep_argument(name, value, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    lab = FakeLab()
    kwargs = {"progress": False, name: value}
    grid = kwargs.pop("grid", Grid(temperature=[0.5], max_tokens=[2]))
    prompt = kwargs.pop("prompt", "hi")
    named = ("prompt", "messages") if name == "prompt" else name
    outcome(lambda: lab.sweep(prompt, grid, **kwargs), named, lambda: len(lab.client.requests))


@FAST
@given(name=st.sampled_from(["lab", "system", "memory", "max_turns", "max_tokens_history", "temperature", "text"]),
       value=anything())
def test_every_chat_argument(name, value):
    lab = FakeLab()
    if name == "text":
        chat = Chat(lab)
        outcome(lambda: chat.send(value), "text", lambda: len(lab.client.requests))
        return
    args = {"lab": lab, name: value}
    outcome(lambda: Chat(**args), name, lambda: len(lab.client.requests))


@FAST
@given(name=st.sampled_from(["runs", "by", "scores", "values", "level"]), value=anything())
def test_every_summarize_argument(name, value, runs_fixture):
    args = {"runs": runs_fixture, name: value}
    out = outcome(lambda: summarize(**args), name, lambda: 0)
    assert out is None or isinstance(out, pd.DataFrame)


@FAST
@given(name=st.sampled_from(["lab", "samples", "prompt", "cache", "model"]), value=anything())
def test_every_probe_argument(name, value, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys.modules["labutils.probe"], "_checks", lambda samples: [])  # accepted: nothing to run
    lab = FakeLab()
    args = {"lab": lab, name: value}
    outcome(lambda: probe(args.pop("lab"), **args), name, lambda: len(lab.client.requests))


@FAST
@given(name=st.sampled_from(["base_url", "model", "start", "timeout"]), value=anything())
def test_every_connect_argument(name, value, monkeypatch):
    monkeypatch.setenv("LLAMA_STACK_URL", "http://fake.invalid:9")
    monkeypatch.setattr(client_mod, "LlamaStackClient", _Spy)
    monkeypatch.setattr(client_mod.stack, "up", lambda *a, **k: pytest.fail("the stack was started"))
    _Spy.requests = 0
    if name in ("model", "base_url") and isinstance(value, str) and value.strip():
        try:  # a well-formed id or URL: only the server's list of models can judge it (GET /v1/models)
            labutils.connect(**{name: value})
        except (ConnectionFailed, labutils.ModelNotFound, ParameterError) as e:
            assert name in str(e) or "model" in str(e)
        return
    outcome(lambda: labutils.connect(**{name: value}), name, lambda: _Spy.requests)


@FAST
@given(name=st.sampled_from(["model", "lab_using"]), value=anything())
def test_lab_using_and_compare(name, value):
    lab = FakeLab()
    if name == "model":
        outcome(lambda: lab.using(value), "model", lambda: len(lab.client.requests))
    else:
        outcome(lambda: send_pair(lab, "hi", value, {"temperature": 0}), "a", lambda: len(lab.client.requests))


@FAST
@given(name=st.sampled_from(["df", "path", "load"]), value=anything())
def test_every_export_argument(name, value, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    df = pd.DataFrame({"text": ["=1", None], "n": [1, 2]})
    if name == "load":
        outcome(lambda: export.load(value), "path", lambda: 0)
    elif name == "df":
        outcome(lambda: export.save(value, folder / "x.csv"), "df", lambda: 0)
    else:
        path = outcome(lambda: export.save(df, value), "path", lambda: 0)
        if path is not None:
            pd.testing.assert_frame_equal(export.load(path), df)


VIEWS = {"playground": ("lab", "prompt", "system"), "ab_panel": ("lab", "prompt", "system"),
         "chain_view": ("lab", "prompt"), "token_view": ("lab", "prompt", "temperature", "max_tokens"),
         "chat_ui": ("chat", "max_tokens", "temperature")}


@FAST
@given(data=st.data(), view=st.sampled_from(sorted(VIEWS)), value=anything())
def test_every_widget_function_argument(data, view, value):
    from labutils import widgets
    from labutils.widgets import tokens

    arg = data.draw(st.sampled_from(VIEWS[view]))
    lab = FakeLab()
    make = getattr(widgets, view, None) or getattr(tokens, view)
    first = Chat(lab) if view == "chat_ui" else lab
    args = {"prompt": "Hi"} if view == "token_view" else {}
    if arg in ("lab", "chat"):
        first = value
    else:
        args[arg] = value
    built = outcome(lambda: make(first, **args), arg, lambda: len(lab.client.requests))
    assert lab.client.requests == [], "a view's function sends nothing"
    assert built is None or hasattr(built, "run") or hasattr(built, "send")


def test_the_sweep_cap_names_its_count(tmp_cache):
    lab = FakeLab()
    with pytest.raises(TooManyCalls, match="max_calls=3"):
        lab.sweep("hi", Grid(temperature=[0.5], samples=4), max_calls=3, progress=False)
    assert lab.client.requests == []


def test_parameter_errors_are_value_errors():
    assert issubclass(ParameterError, ValueError)


def test_9_the_stack_gets_only_the_variables_it_needs():
    from labutils.stack.distribution import passed_environment

    env = {"PATH": "/bin", "HOME": "/root", "LAB_STACK_PORT": "1", "LLAMA_STACK_CLIENT_API_KEY": "sk-1",
           "OPENAI_API_KEY": "sk-2", "HF_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "s", "LC_ALL": "C", "RANDOM_THING": "x",
           "LAB_GITHUB_TOKEN": "t"}
    assert passed_environment(env) == {"PATH": "/bin", "HOME": "/root", "LAB_STACK_PORT": "1", "LC_ALL": "C"}


def test_9_an_answer_near_the_timeout_says_requests_are_queueing(tmp_cache):
    import time

    lab, _ = scripted_lab(lambda n: time.sleep(2.5 if n == 1 else 0) or ok())
    lab.client = lab.client.with_options(timeout=4.0)  # 2.5 s is 62% of it
    with pytest.warns(UserWarning, match=r"requests are queueing"):
        lab.chat("hi")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lab.chat("hi")  # warned once
