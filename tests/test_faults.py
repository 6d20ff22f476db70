"""Faults and bad inputs (issue 11): nothing lost, nothing hangs, every mistake named before sending.

Offline first: a real `Lab` over a scripted HTTP transport (httpx.MockTransport) or a tiny HTTP server,
so translation and the sweep's fail-fast run the lab's own code. Then the real engine on a private stack:
the model server killed mid-sweep, a timed-out request and Ctrl-C during a sweep, each checked against
llama-server's /slots (a cancelled request must stop generating there).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
from llama_stack_client import LlamaStackClient

import labutils
from labutils import Chat, Grid, Lab, stack
from labutils.client.cache import Cache
from labutils.errors import ConfigError, ParameterError, RequestFailed
from labutils.sampler.distribution import TokenDistribution, apply_sampling, apply_temperature, nucleus

from .conftest import FakeLab
from .helpers import sweep_killing

MODEL = "llama-cpp/smollm2-135m-instruct"


def sse(text: str = "hi there") -> bytes:
    """A chat completion stream as llama-server sends it through Llama Stack."""
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
    events = [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
              for w in text.split(" ")]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def scripted_lab(answer, *, embedded: bool = False) -> tuple[Lab, list]:
    """A real Lab whose HTTP requests are answered by `answer(n)` (n = 1, 2, ...): an httpx.Response."""
    sent: list = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return answer(len(sent))

    client = LlamaStackClient(base_url="http://fake", max_retries=0,
                              http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    return Lab(client, MODEL, "http://fake", context_length=2048, embedded=embedded), sent


def ok() -> httpx.Response:
    return httpx.Response(200, content=sse(), headers={"content-type": "text/event-stream"})


def error_500() -> httpx.Response:
    return httpx.Response(500, json={"error": {"message": "Internal server error: An unexpected error occurred."}})


# --- item 4: fail fast, name the part that failed ---

def test_a_sweep_stops_after_three_failures_in_a_row_and_keeps_every_finished_row(tmp_cache, capsys):
    lab, sent = scripted_lab(lambda n: ok() if n <= 5 else error_500())
    grid = Grid(temperature=[0.5], samples=20)
    runs = lab.sweep("Hi", grid, concurrency=1, retries=1, backoff=0, progress=False)
    assert len(runs) == 20 and runs["text"].notna().sum() == 5
    failed = runs["error"].dropna()
    assert failed.str.startswith("the server answered HTTP 500: Internal server error").sum() == 3
    assert failed.str.startswith("not sent: http://fake answers HTTP 500").sum() == 12
    assert len(sent) == 5 + 3 * 2, "12 cells were never sent (each failed cell: 2 attempts)"
    assert "not sent" in capsys.readouterr().err


def test_a_dead_model_server_is_named_and_not_asked_again(tmp_cache, monkeypatch):
    port = stack.free_ports(1)[0]  # nothing listens there: the embedded llama-server is down
    monkeypatch.setenv("LAB_LLAMA_PORT", str(port))
    lab, sent = scripted_lab(lambda n: ok() if n <= 4 else error_500(), embedded=True)
    runs = lab.sweep("Hi", Grid(temperature=[0.5], samples=30), concurrency=1, progress=False)
    errors = runs["error"].dropna().tolist()
    assert runs["text"].notna().sum() == 4 and len(errors) == 26
    assert errors[0] == (f"the model server (llama-server at http://127.0.0.1:{port}) is not answering (Llama Stack "
                         "at http://fake answered HTTP 500); `python -m labutils.stack up` restarts it")
    assert all(e.startswith("not sent: the model server (llama-server at") for e in errors[3:])
    assert len(sent) == 5, "no retry and no further request once the model server is known to be down"
    with pytest.raises(RequestFailed, match=r"llama-server at .* is not answering"):
        lab.chat("Hi")
    assert len(sent) == 5  # checked by its /health, not sent


def test_llama_stack_itself_not_answering_is_named():
    port = stack.free_ports(1)[0]
    lab = Lab(LlamaStackClient(base_url=f"http://127.0.0.1:{port}", max_retries=0), MODEL,
              f"http://127.0.0.1:{port}")
    with pytest.raises(RequestFailed, match=r"could not connect \(nothing answers there") as err:
        lab.chat("Hi")
    assert err.value.cause == f"the Llama Stack at http://127.0.0.1:{port} is not answering"


# --- item 8: a transport failure is no verdict on the parameter ---

def test_the_probe_of_a_stack_that_does_not_answer_says_error_not_rejected(tmp_cache):
    from labutils.probe import VERDICTS, probe
    from labutils.views.tables import VERDICT_COLOURS, probe_table

    port = stack.free_ports(1)[0]
    lab = Lab(LlamaStackClient(base_url=f"http://127.0.0.1:{port}", max_retries=0), MODEL, f"http://127.0.0.1:{port}")
    df = probe(lab, samples=2)
    assert set(df["verdict"]) == {"error"}, df[["parameter", "verdict"]]
    assert df["explanation"].str.contains("before any server judged the parameter").all()
    assert "error" in VERDICTS and VERDICT_COLOURS["error"] in probe_table(df).to_html()


# --- item 5: Ctrl-C returns the finished rows (offline: a slow scripted server) ---

@pytest.fixture
def ctrl_c():
    """Ctrl-C raises KeyboardInterrupt in these tests even when the test run inherited SIGINT ignored (a
    shell starts background jobs so, e.g. `make test &`), which would make Python ignore the signal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_returns_finished_rows_and_marks_the_rest(tmp_cache, capsys, ctrl_c):
    def slow(n):
        if n == 4:  # Ctrl-C while the 4th answer is being generated (a timer raced the first three on a busy CPU)
            threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        time.sleep(0.3 if n <= 3 else 8)
        return ok()

    lab, _ = scripted_lab(slow)
    t0 = time.monotonic()
    runs = lab.sweep("Hi", Grid(temperature=[0.5], samples=10), concurrency=1, progress=False)
    assert time.monotonic() - t0 < 6
    assert runs["text"].notna().sum() == 3 and runs["error"].notna().sum() == 7
    assert runs["error"].dropna().str.contains("interrupted").all()
    assert "Run the same sweep again" in capsys.readouterr().err


# --- item 6: bad inputs get clear errors before any request ---

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"retries": -1}, "retries=-1 is not allowed"), ({"retries": "3"}, "retries='3'"),
    ({"concurrency": "2"}, "concurrency='2'"), ({"concurrency": 0}, "concurrency=0"),
    ({"concurrency": 1.5}, "concurrency=1.5"), ({"max_calls": "x"}, "max_calls='x'"),
    ({"cache": "no"}, "cache='no' is not allowed: cache must be True or False"),
    ({"progress": "yes"}, "progress='yes'"), ({"backoff": -1}, "backoff=-1"),
])
def test_bad_sweep_settings_are_refused_before_sending(kwargs, message, tmp_cache):
    lab = FakeLab()
    with pytest.raises(ParameterError, match=message):
        lab.sweep("Hi", Grid(temperature=[0]), **{"progress": False, **kwargs})
    assert lab.client.requests == []


@pytest.mark.parametrize("axis", [{"a": 1}, {0.5: 1}, {0.5, 1.0}])
def test_a_dict_or_set_is_not_an_axis(axis):
    with pytest.raises(ParameterError, match="give one value or a list of values"):
        Grid(temperature=axis)


@pytest.mark.parametrize(("call", "message"), [
    (lambda lab: lab.chat("caf\udce9"), r"prompt=.* is not allowed: .*lone surrogate"),
    (lambda lab: lab.chat([{"role": "user", "content": "a\ud800"}]), r"messages\[0\]\['content'\]"),
    (lambda lab: lab.chat("Hi", system="s\udfff"), "system="),
    (lambda lab: lab.chat("Hi", stop=["\ud800"]), "stop="),
    (lambda lab: lab.chat("Hi", on_token="x"), "on_token='x' is not allowed: on_token must be a function"),
    (lambda lab: Chat(None), "lab=None is not allowed"),
    (lambda lab: Chat(lab, system=5), "system=5"),
])
def test_bad_inputs_are_named_before_sending(call, message):
    lab = FakeLab()
    with pytest.raises(ParameterError, match=message):
        call(lab)
    assert lab.client.requests == []


def test_one_bad_cell_never_costs_the_others(tmp_cache):
    lab = FakeLab()
    real = lab.client.create

    def flaky(**kw):
        if kw.get("temperature") == 1.0:
            raise ZeroDivisionError("a bug in one cell")
        return real(**kw)

    lab.client.chat.completions.create = flaky
    runs = lab.sweep("Hi", Grid(temperature=[0.5, 1.0], samples=2), progress=False)
    assert runs["text"].notna().sum() == 2
    assert runs["error"].dropna().str.contains("ZeroDivisionError: a bug in one cell").sum() == 2


@pytest.mark.parametrize(("tokens", "logprobs", "message"), [
    (["a"], ["x"], r"logprobs=\['x'\] is not allowed"), (["a"], [0.5], "<= 0"),
    (["a", "b"], [-1.0], "as many tokens as logprobs"), ([1], [-1.0], "tokens="),
    (["a"], [True], "logprobs="),
])
def test_token_distribution_checks_its_inputs(tokens, logprobs, message):
    with pytest.raises(ValueError, match=message):
        TokenDistribution(tokens, logprobs)


def test_sampling_math_refuses_positive_logprobs_and_2d_input():
    with pytest.raises(ValueError, match="log-probabilities are <= 0"):
        apply_temperature([0.5, -1.0], 1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        apply_temperature([[-1.0, -2.0], [-1.0, -2.0]], 1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        nucleus([[0.5, 0.5]], 0.9)
    with pytest.raises(ValueError, match="one-dimensional"):
        apply_sampling(np.zeros((2, 2)) - 1, 1.0, 0.9)


@pytest.mark.parametrize(("name", "value", "use"), [
    ("LAB_CONCURRENCY", "abc", lambda: FakeLab().sweep("Hi", Grid(temperature=[0]), progress=False)),
    ("LAB_MAX_CALLS", "lots", lambda: FakeLab().sweep("Hi", Grid(temperature=[0]), progress=False)),
    ("LAB_STACK_PORT", "abc", lambda: stack.Settings()),
    ("LAB_CONTEXT_LENGTH", "abc", lambda: labutils.config.get("LAB_CONTEXT_LENGTH")),
    ("LAB_CONTEXT_LENGTH", "-5", lambda: labutils.config.get("LAB_CONTEXT_LENGTH")),
])
def test_bad_environment_variables_are_named_where_they_are_used(monkeypatch, tmp_cache, name, value, use):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name}={value!r} is not allowed"):
        use()


def test_connect_refuses_a_negative_timeout():
    with pytest.raises(ParameterError, match="timeout=-1 is not allowed"):
        labutils.connect("http://127.0.0.1:9", timeout=-1)


class _Wrong(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body, kind = self.server.answer
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("answer", [
    (b"<html><body>Welcome to nginx!</body></html>", "text/html"),
    (b'{"foo": 1}', "application/json"),
    (b'data: {"foo": 1}\n\ndata: [DONE]\n\n', "text/event-stream"),
    (b'{"choices": [{"message": 3}]}', "application/json"),
])
def test_a_server_answering_200_with_something_else_is_a_clear_error(answer):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Wrong)
    server.answer = answer
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        lab = Lab(LlamaStackClient(base_url=url, max_retries=0), MODEL, url)
        with pytest.raises(RequestFailed, match="not with a chat completion"):
            lab.chat("Hi")
    finally:
        server.shutdown()
        server.server_close()


# --- the real engine, on a stack of the test's own ---

def _slots(settings: stack.Settings) -> list[bool]:
    return [s["is_processing"] for s in stack.engine_slots(settings)]  # every engine of the pool


def _idle_within(settings: stack.Settings, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_slots(settings)):
            return True
        time.sleep(0.2)
    return False


LONG = "Write a long story about a dragon who learns to read."


@pytest.mark.integration
def test_a_timed_out_request_stops_generating_on_the_server(embedded_private):
    lab = labutils.connect(embedded_private.url, timeout=2)
    t0 = time.monotonic()
    with pytest.raises(RequestFailed, match="timed out"):
        lab.chat(LONG, max_tokens=1500, temperature=1.0, top_k=0, min_p=0)
    assert time.monotonic() - t0 < 5
    assert _idle_within(embedded_private, 3), "the abandoned generation is still running on llama-server"


@pytest.mark.integration
def test_ctrl_c_in_a_sweep_returns_at_once_and_the_server_stops(embedded_private, tmp_cache, ctrl_c):
    lab = labutils.connect(embedded_private.url)
    grid = Grid(temperature=[1.0], max_tokens=[600], samples=6)
    threading.Timer(3.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    t0 = time.monotonic()
    runs = lab.sweep(LONG, grid, progress=False, concurrency=2)
    returned = time.monotonic() - t0 - 3.0
    print(f"Ctrl-C to return: {returned:.2f} s")
    assert returned < 5 and len(runs) == 6
    assert runs["error"].dropna().str.contains("interrupted").sum() == runs["text"].isna().sum() >= 4
    assert _idle_within(embedded_private, 3), "an interrupted sweep left generations running"


@pytest.mark.integration
def test_model_server_killed_mid_sweep_returns_fast_with_every_finished_row(embedded_private, tmp_cache):
    lab = labutils.connect(embedded_private.url)
    grid = Grid(temperature=[0.5, 1.0], max_tokens=[8], samples=30)
    llama = stack.servers(embedded_private)[0]
    runs, after_kill = sweep_killing(lab, grid, tmp_cache, 25, llama, within=300)
    assert after_kill is not None, "the sweep ended before 25 rows were stored"
    print(f"kill to return: {after_kill:.1f} s")
    assert after_kill < 60
    assert len(runs) == 60
    stored = len(Cache(tmp_cache))
    assert runs["text"].notna().sum() == stored >= 25, "every finished answer is a row"
    failed = runs["error"].dropna()
    assert failed.str.contains(f"llama-server at {embedded_private.llama_base}").all()
    # sent and then failed: at most those in flight at the kill and those sent before the sweep saw it
    assert failed.str.startswith("not sent: ").sum() >= len(failed) - 2 * lab.concurrency


# --- item 7: a prompt that cannot fit the context is refused before sending ---

@pytest.mark.integration
def test_a_prompt_longer_than_the_context_is_refused_before_sending(lab):
    from labutils.errors import ContextTooLong

    from .helpers import counting_lab

    counted, sent = counting_lab(lab)
    with pytest.raises(ContextTooLong, match=rf"the prompt is \d+ tokens but the model's context holds "
                                             rf"{lab.context_length}"):
        counted.chat("word " * lab.context_length, max_tokens=4)
    assert sent == []
    # just over the bytes that surely fit (so it is counted), about a fifth of the context in tokens: it is sent
    near = "word " * (lab.context_length // 5 + 1)
    assert counted.chat(near, max_tokens=2, temperature=0).completion_tokens <= 2
    assert sent == ["POST /v1/chat/completions"]


def test_numpy_numbers_work_everywhere(tmp_cache):
    lab = FakeLab()
    grid = Grid(temperature=np.array([0.0, 0.5]), max_tokens=np.arange(3, 5), samples=np.int64(2), seed=np.int32(1))
    runs = lab.sweep("Hi", grid, concurrency=np.int64(1), retries=np.int8(0), max_calls=np.int64(10),
                     backoff=np.float32(0.1), progress=False)
    assert len(runs) == 8 and runs["error"].isna().all()
    assert lab.chat("Hi", max_tokens=np.int64(4), temperature=np.float64(0.5), top_k=np.int16(5)).text
    assert Chat(lab, memory="window", max_turns=np.int64(2), max_tokens=np.int64(8)).send("Hi").text


def test_a_part_found_down_stops_the_run_at_once_without_waiting_for_the_calls_in_flight():
    """One failure whose part was checked and is down (the model server's /health) halts the run and gives the
    calls in flight GRACE_S, where three failures in a row would each have waited for Llama Stack (up to a
    minute against a dead engine)."""
    from labutils.client.parallel import GRACE_S, Stop, run_all
    from labutils.errors import RequestFailed

    down = RequestFailed("the model server is not answering", cause="the model server is not answering", down=True)
    released = threading.Event()

    def call(i):
        if i == 0:
            time.sleep(0.3)
            raise down
        released.wait(30)  # a call stuck waiting for an answer that comes late
        return i

    stop = Stop()
    t0 = time.monotonic()
    results = run_all(call, [0, 1, 2], 3, stop=stop)
    took = time.monotonic() - t0
    released.set()
    assert took < GRACE_S + 2, took
    assert stop.halt.is_set() and stop.cancel.is_set() and not stop.interrupted
    assert stop.cause.startswith("the model server is not answering (checked")
    assert results[0] is down and stop.abandoned == 2
    # the same failure without `down` (an unchecked 5xx) needs FAIL_FAST of them in a row
    once = Stop()
    once.record(RequestFailed("HTTP 500", cause="the stack answers HTTP 500"))
    assert not once.halt.is_set()
