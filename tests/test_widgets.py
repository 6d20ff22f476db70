"""The playground, the A/B compare panel and the chat window, driven headless like a user would.

Values are set on the sliders and buttons are clicked, against the fake lab (offline) or the real
embedded stack. The "server stopped mid-run" test starts its OWN stack on free ports in a temp dir.
"""

from __future__ import annotations

import html
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

import labutils
from labutils import Chat, ParameterError, stack
from labutils.lessons.ab import send_pair
from labutils.params import PARAMS, check
from labutils.runs import COLUMNS
from labutils.sampler import gof
from labutils.widgets import CHAT_FALLBACK, FALLBACK, ab_panel, chat_ui, playground

from .conftest import FakeLab
from .helpers import counting_lab

PROMPT = "Name a colour."


def plain_text(view) -> str:
    return view._repr_mimebundle_()["text/plain"]


# ---------------------------------------------------------------- pure: no server


def test_slider_bounds_are_the_allowed_ranges():
    pg = playground(FakeLab(context_length=512), PROMPT)
    assert (pg.temperature.min, pg.temperature.max) == (PARAMS["temperature"].low, PARAMS["temperature"].high)
    assert (pg.top_p.min, pg.top_p.max) == (0.05, 1.0)  # top_p=0 is not allowed, so the slider stops a step above
    assert (pg.max_tokens.low, pg.max_tokens.high) == (PARAMS["max_tokens"].low, 512)  # max_tokens: log scale
    assert (2**pg.max_tokens.min, 2**pg.max_tokens.max) == (1, 512)
    assert (pg.seed.min, pg.seed.max) == (PARAMS["seed"].low, PARAMS["seed"].high)
    assert not any(s.continuous_update for s in (pg.temperature, pg.top_p, pg.max_tokens))
    assert playground(FakeLab(context_length=None)).max_tokens.high == 4096  # the cap when the context is unknown
    for name, slider in pg.params.advanced.items():
        p = PARAMS[name]
        assert (slider.min, slider.max) == p.slider_bounds() and slider.value == p.default, name
        assert slider.tooltip == p.help and not slider.continuous_update
    assert pg.params.fold.selected_index is None  # the advanced fold starts closed


@pytest.mark.parametrize("context", [512, 2000, 2048, None])
def test_max_tokens_slider_is_draggable_and_every_value_it_holds_is_allowed(context):
    pg = playground(FakeLab(context_length=context), PROMPT)
    s, limit = pg.max_tokens, context or 4096
    positions = np.arange(s.min, s.max + 1e-9, s.step)
    assert len(positions) <= 4 * 12 + 1  # four positions per doubling: a hand can drag to each one
    reached = set()
    for exponent in [*positions, s.max]:  # every position a drag can stop at, and the top one
        s.value = 2**exponent  # what the browser sends for that position
        sent = pg.params.values()["max_tokens"]
        assert check("max_tokens", sent, max_tokens_limit=limit) == sent == s.value  # whole and allowed
        reached.add(sent)
    assert min(reached) == 1 and max(reached) == limit and {1, 2, 4, 8, 16, 32, 64} <= reached
    for typed, kept in ((300, 300), (7, 7), (0, 1), (-5, 1), (10**6, limit), (6.4, 6)):  # the readout takes typing
        s.value = typed
        assert pg.params.values()["max_tokens"] == kept and pg.params.state()["max_tokens"] == kept


def test_max_tokens_keeps_state_and_set_semantics():
    pg = playground(FakeLab(context_length=2048), PROMPT)
    pg.params.set({"max_tokens": 300, "temperature": 0.5})
    state = pg.params.state()
    assert state["max_tokens"] == 300 and isinstance(state["max_tokens"], int)
    other = playground(FakeLab(context_length=2048), PROMPT)
    other.params.set(state)
    assert other.params.values() == pg.params.values() and "max_tokens=300" in other.params.describe()


def test_advanced_samplers_are_sent_only_when_moved(fake_lab):
    pg = playground(fake_lab, PROMPT)
    pg.run()
    assert "extra_body" not in fake_lab.client.requests[-1] and "presence_penalty" not in fake_lab.client.requests[-1]
    pg.params.advanced["top_k"].value = 5
    pg.params.advanced["presence_penalty"].value = 0.5
    pg.run()
    sent = fake_lab.client.requests[-1]
    assert sent["extra_body"] == {"top_k": 5} and sent["presence_penalty"] == 0.5
    assert "top_k=5" in pg.params.describe()
    hist = pg.history
    assert pd.isna(hist["top_k"].iloc[0]) and hist["top_k"].iloc[1] == 5
    runs = pg.to_runs()
    assert "top_k" in runs.columns and list(runs["sample"]) == [0, 0]


def test_playground_records_runs_in_the_runs_schema(fake_lab):
    pg = playground(fake_lab, PROMPT, system="Be brief.")
    pg.temperature.value, pg.max_tokens.value, pg.seed.value = 0.0, 8, 1
    reply = pg.run()
    assert pg.answer == reply.text and "finish_reason" in pg.status.value and not pg.run_button.disabled
    pg.run()
    runs = pg.to_runs()
    assert list(runs.columns) == COLUMNS and list(runs["sample"]) == [0, 1]
    assert runs.attrs["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
    assert runs["tokens_per_s"].iloc[0] == reply.tokens_per_s and not runs["cached"].any()
    assert labutils.summarize(runs)["n"].tolist() == [2]


def test_a_bad_value_shows_in_plain_words_and_sends_nothing(fake_lab):
    pg = playground(fake_lab, "   ")
    assert pg.run() is None
    assert "prompt=&#x27;   &#x27; is not allowed" in pg.status.value and "Not sent" in pg.status.value
    assert fake_lab.client.requests == [] and pg.history.empty and not pg.run_button.disabled
    pg.prompt.value = PROMPT
    pg.run_button.click()
    assert pg.answer and len(pg.history) == 1 and "⚠" not in pg.status.value


def test_a_click_while_running_is_ignored(fake_lab):
    pg = playground(fake_lab, PROMPT)
    pg.run_button.disabled = True  # a run is in flight
    assert pg.run() is None and fake_lab.client.requests == []


def test_a_failed_request_is_in_the_history_and_the_panel_stays_usable():
    lab = FakeLab(fail=True)
    pg = playground(lab, PROMPT)
    assert pg.run() is None and "could not connect" in pg.status.value
    assert pg.history["error"].iloc[0] and not pg.run_button.disabled
    lab.fail = False
    assert pg.run() is not None and len(pg.history) == 2


def test_compare_offline(fake_lab):
    with pytest.raises(ParameterError, match="top_p=0"):
        send_pair(fake_lab, PROMPT, {"temperature": 0.0}, {"top_p": 0})
    assert fake_lab.client.requests == []  # both validated before either is sent
    cmp = ab_panel(fake_lab, PROMPT)
    result = cmp.run()
    assert cmp.answers == (result["a"].text, result["b"].text) and list(result["metrics"].index) == ["A", "B"]
    cmp.swap()
    assert cmp.answers == (result["b"].text, result["a"].text)
    cmp.prompt.value = ""
    assert cmp.run() is None and "Not sent" in cmp.status.value and not cmp.run_button.disabled


def test_text_fallback_names_the_widget_and_its_state():
    pg = playground(FakeLab(), PROMPT)
    pg.temperature.value = 1.25
    bundle = pg._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab still gets the widget
    text = bundle["text/plain"]
    assert text.startswith(FALLBACK) and "temperature=1.25" in text and PROMPT in text and "0 run(s)" in text
    assert repr(pg) == text
    assert plain_text(ab_panel(FakeLab(), PROMPT)).startswith(FALLBACK)
    chat = Chat(FakeLab(), system="Be brief.")
    ui = chat_ui(chat)
    ui.input.value = "hello"
    ui.send_button.click()
    text = plain_text(ui)
    assert text.startswith(CHAT_FALLBACK) and "user: hello" in text and "assistant: reply 1" in text


def test_random_seed_draws_a_new_seed_per_run_and_locks_the_box():
    pg = playground(FakeLab(), PROMPT)
    pg.random_seed.value = True
    assert pg.seed.disabled
    seeds = {pg.params.values()["seed"] for _ in range(5)}
    assert len(seeds) > 1 and pg.seed.value in seeds
    pg.random_seed.value = False
    assert not pg.seed.disabled and pg.params.values()["seed"] == pg.seed.value


def test_chat_window_greys_the_turns_the_memory_left_out():
    chat = Chat(FakeLab(), system="Be brief.", memory="window", max_turns=1)
    ui = chat_ui(chat)
    for text in ("first", "second", "third"):
        ui.input.value = text
        ui.send_button.click()
    html = ui.transcript.value
    assert html.count("(not sent last time)") == 2  # "first" and its reply; "second" was still sent
    assert html.index("first") < html.index("(not sent last time)") < html.index("second")
    assert "last request sent 4 messages" in ui.tokens.value
    ui.memory.value = "full"
    assert chat.memory == "full"


def test_chat_window_refuses_an_empty_message_and_resets():
    chat = Chat(FakeLab())
    ui = chat_ui(chat)
    ui.send_button.click()
    assert "Type a message first" in ui.status.value and chat.history == []
    ui.input.value = "hi"
    ui.send_button.click()
    assert ui.input.value == "" and len(chat.history) == 2
    ui.reset_button.click()
    assert chat.history == [] and "no messages yet" in ui.transcript.value and "history: 0 messages" in ui.tokens.value


def test_chat_window_shows_the_message_at_once_and_streams_the_reply():
    chat = Chat(FakeLab(text="one two three four"))
    ui = chat_ui(chat)
    seen = []
    ui.transcript.observe(lambda ch: seen.append(ch["new"]), "value")
    ui.input.value = "hello there"
    ui.send_button.click()
    # before any token: the learner's message is on screen, the reply still empty
    assert "hello there" in seen[0] and "four" not in seen[0]
    partial = [v for v in seen if "one two" in v and "four" not in v]
    assert partial, "the reply must appear piece by piece while it streams"
    assert "one two three four" in ui.transcript.value and "✂" not in ui.transcript.value


def test_chat_window_marks_a_reply_cut_by_max_tokens():
    chat = Chat(FakeLab(text="a b c d e f g h"))
    ui = chat_ui(chat, max_tokens=3)
    ui.input.value = "go on"
    ui.send_button.click()
    assert "✂" in ui.transcript.value and "cut at max_tokens" in ui.transcript.value
    assert "cut at max_tokens" in ui.status.value
    ui.reset_button.click()
    assert ui.cut == set() and "✂" not in ui.transcript.value


def test_playground_forgets_a_stale_error_when_an_input_changes(fake_lab):
    pg = playground(fake_lab, PROMPT)
    pg.prompt.value = ""
    assert pg.run() is None and "Not sent" in pg.status.value
    pg.prompt.value = PROMPT  # what a later cell (or the learner) does next
    assert "Not sent" not in pg.status.value and "press Run" in pg.status.value
    pg.top_p.value = 0.5
    assert "Not sent" not in pg.status.value


def test_playground_history_is_newest_first_scrolls_and_has_prompt_tokens():
    lab = FakeLab(prompt_tokens=lambda messages: 7)
    pg = playground(lab, PROMPT)
    pg.run()
    pg.run()
    view = pg.history_view.value
    assert "lab-history-box" in view and "overflow: auto" in view and "white-space: nowrap" in view
    assert view.index("<td>2</td>") < view.index("<td>1</td>")  # newest run first
    assert pg.history["prompt_tokens"].tolist() == [7, 7]


def test_the_chain_view_is_in_the_advanced_fold_and_sends_nothing_until_asked(fake_lab):
    pg = playground(fake_lab, PROMPT)
    assert pg.chain_fold.widget in pg.params.fold_box.children  # under "advanced", after the samplers
    assert "show the chain" in pg.chain_fold.run_button.description
    pg.params.advanced["top_k"].value = 5
    pg.temperature.value = 1.0
    assert fake_lab.client.requests == [] and "chain for these settings" not in repr(pg)
    assert pg.chain_fold.summary().startswith("(press")


def test_the_chain_view_shows_a_failure_in_plain_words_and_stays_usable():
    lab = FakeLab(fail=True)
    pg = playground(lab, PROMPT)
    assert pg.chain_fold.run() is None
    status = pg.chain_fold.status.value
    assert "⚠" in status and "could not answer" in status and "Traceback" not in status
    assert not pg.chain_fold.run_button.disabled and pg.chain_fold.table.value == ""
    lab.fail = False  # the fake answers, but without logprobs: a clear error again, never a traceback
    assert pg.chain_fold.run() is None and "no logprobs" in pg.chain_fold.status.value
    pg.prompt.value = "  "
    assert pg.chain_fold.run() is None and "Not sent" in pg.chain_fold.status.value


# ---------------------------------------------------------------- real stack

integration = pytest.mark.integration


@integration
def test_playground_streams_the_answer_and_records_the_run(lab):
    pg = playground(lab, PROMPT, system="Answer with one word.")
    pg.temperature.value, pg.max_tokens.value, pg.seed.value = 0.0, 8, 1
    updates, disabled_while_streaming = [], []

    def watch(change):
        updates.append(change["new"])
        disabled_while_streaming.append(pg.run_button.disabled)

    pg.output.observe(watch, "outputs")
    pg.run_button.click()
    reply = lab.chat(PROMPT, system="Answer with one word.", temperature=0, max_tokens=8, seed=1)
    assert pg.answer == reply.text and reply.text  # the user sees the same text a direct call gives
    assert len(updates) > 2  # token by token, not all at once
    assert all(disabled_while_streaming) and not pg.run_button.disabled  # Run is off while a run is in flight
    assert "finish_reason" in pg.status.value
    row = pg.history.iloc[-1]
    assert (row.temperature, row.max_tokens, row.seed, row.text) == (0.0, 8, 1, reply.text)
    assert row.finish_reason in ("stop", "length") and row.completion_tokens > 0 and row.latency_s > 0
    assert reply.text.split()[0] in pg.history_view.value
    pg.max_tokens.value = 4
    pg.run()
    runs = pg.to_runs()
    assert list(runs.columns) == COLUMNS and len(runs) == 2 and list(runs["sample"]) == [0, 0]
    assert runs.attrs["messages"][0] == {"role": "system", "content": "Answer with one word."}
    summary = labutils.summarize(runs)
    assert len(summary) == 2 and summary["errors"].sum() == 0


@integration
def test_the_chain_fold_shows_the_stages_for_the_playground_settings(lab):
    counted, requests = counting_lab(lab)
    pg = playground(counted, "The capital of France is")
    pg.params.fold.selected_index = 0  # open "advanced", as a learner would
    pg.temperature.value, pg.top_p.value = 1.0, 1.0
    pg.params.advanced["top_k"].value = 5
    pg.params.advanced["min_p"].value = 0.0
    assert requests == []  # moving sliders sends nothing
    pg.chain_fold.run_button.click()
    fold = pg.chain_fold
    assert len(requests) == 2 and "5 token(s) left" in fold.status.value, fold.status.value
    chain = fold.chain
    assert list(chain.table()["stage"])[:2] == ["candidates", "top_k"] and len(chain.final) == 5
    assert chain.complete and fold.server is not None
    assert gof.tv_distance(chain.final, fold.server) < 0.01  # the server samples from what the view predicts
    assert "model mass kept" in fold.table.value and "server says" in fold.table.value
    assert fold.image.value[:8] == b"\x89PNG\r\n\x1a\n"  # the stage-by-stage plot
    text = plain_text(pg)  # the plain-text fallback carries the chain too
    assert "the chain for these settings" in text and "top_k" in text and "cover" in text
    pg.params.advanced["top_k"].value = 2
    assert "settings changed" in fold.status.value and len(requests) == 2
    assert pg.history.empty  # the chain view is not a run


@integration
def test_compare_shows_both_answers_metrics_and_a_word_diff(lab):
    cmp = ab_panel(lab, PROMPT)
    cmp.a.set({"temperature": 0.0, "max_tokens": 8, "seed": 3})
    cmp.b.set({"temperature": 0.0, "max_tokens": 3, "seed": 3})  # same answer, cut earlier
    cmp.run_button.click()
    a, b = cmp.answers
    assert a and b and a.startswith(b) and len(a) > len(b), (a, b)
    assert "<del" in cmp.diff_view.value and "only in the first answer" in cmp.diff_view.value
    metrics = cmp.result["metrics"]
    assert list(metrics.index) == ["A", "B"] and metrics.loc["A", "words"] > metrics.loc["B", "words"]
    assert "distinct_1" in cmp.metrics_view.value and "length" in cmp.metrics_view.value
    assert f"B: {b}" in plain_text(cmp) and "diff: " in plain_text(cmp)
    cmp.swap_button.click()
    assert (cmp.a.max_tokens.value, cmp.b.max_tokens.value) == (3, 8)
    assert cmp.answers == (b, a) and "<ins" in cmp.diff_view.value
    cmp.copy_button.click()
    assert cmp.b.state() == cmp.a.state() and cmp.answers == (b, "") and cmp.diff_view.value == ""


@integration
def test_compare_validates_both_panels_before_sending_either(lab):
    counted, requests = counting_lab(lab)
    with pytest.raises(ParameterError, match="top_p=0"):
        send_pair(counted, PROMPT, {"temperature": 0.0}, {"top_p": 0})
    assert requests == []
    cmp = ab_panel(counted, PROMPT)
    cmp.b.set({"top_k": 3})
    cmp.b.advanced["top_k"].max = 500  # a slider cannot reach a bad value: widen one to try
    cmp.b.advanced["top_k"].value = 300
    cmp.run()
    sent = [r for r in requests if r.startswith("POST")]  # (the panel lists the models for its model menus)
    assert "top_k=300 is not allowed" in cmp.status.value and sent == [] and not cmp.run_button.disabled


@integration
def test_chat_window_against_the_stack(lab):
    chat = Chat(lab, system="You are a terse assistant.", temperature=0, seed=0)
    ui = chat_ui(chat, max_tokens=12)
    ui.input.value = "My name is Ada."
    ui.send_button.click()
    reply = chat.last.text
    assert reply and "My name is Ada." in ui.transcript.value and html.escape(reply) in ui.transcript.value
    assert ui.input.value == "" and "history: 3 messages" in ui.tokens.value
    assert "prompt tokens, reported by the server" in ui.tokens.value
    assert [m["role"] for m in chat.history] == ["system", "user", "assistant"]


@integration
def test_a_server_stopped_mid_run_shows_an_error_and_the_next_run_works(own_stack):
    lab = labutils.connect(base_url=own_stack.url, start=False)
    pg = playground(lab, "Tell a long story about the sea.")
    pg.temperature.value, pg.max_tokens.value = 0.0, 300
    llama = stack.servers(own_stack)[0]

    def stop_when_streaming():
        deadline = time.monotonic() + 60
        while not pg.answer and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(llama.pid(), signal.SIGKILL)  # the model server of OUR stack dies mid-answer

    killer = threading.Thread(target=stop_when_streaming, daemon=True)
    killer.start()
    assert pg.run() is None
    killer.join(5)
    assert "⚠" in pg.status.value and "labutils.stack up" in pg.status.value
    assert pg.answer  # the part that arrived stays visible
    assert pg.history.iloc[-1]["error"] and not pg.run_button.disabled
    chat = Chat(lab)
    ui = chat_ui(chat, max_tokens=4)
    ui.input.value = "Hello?"
    ui.send_button.click()
    assert "⚠" in ui.status.value and chat.history == [] and ui.input.value == "Hello?"  # nothing lost

    stack.down(own_stack, quiet=True)
    stack.up(own_stack, quiet=True)
    pg.max_tokens.value = 4
    pg.run_button.click()
    assert pg.answer and pg.status.value.startswith("finish_reason"), pg.status.value
    assert len(pg.history) == 2 and pd.isna(pg.history.iloc[-1]["error"])
    ui.send_button.click()
    assert "⚠" not in ui.status.value and len(chat.history) == 2  # (a reply cut at max_tokens=4 is marked ✂)
