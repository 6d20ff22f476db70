"""Chat and its memory strategies: pure trimming logic on a fake lab, then a real conversation."""

from __future__ import annotations

import pytest

from labutils import Chat, ContextTooLong, ParameterError, RequestFailed
from labutils.chat import EMPTY_REPLY, estimate_tokens, refers_to_earlier

from .conftest import FakeLab
from .helpers import counting_lab

SYSTEM = "S" * 8  # 2 tokens of content + 4 of markers = 6 estimated tokens


def msg(i: int) -> str:
    """A 40-character user message: 10 + 4 = 14 estimated tokens."""
    return f"message {i:02d} ".ljust(40, ".")


def talk(chat: Chat, n: int) -> None:
    for i in range(1, n + 1):
        chat.send(msg(i))


def contents(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages]


@pytest.mark.parametrize(("text", "found"), [
    ("Here are some additional colors that can be paired with your favourite colours:", "additional"),
    ("Sure, here are a few more:\n1. Red", "a few more"),
    ("As I mentioned earlier, red is warm.", "As I mentioned"),
    ("I'll add yellow to the list.", "add yellow to the list"),
    ("Red, green and blue.", None),
    ("Here is a list of three colours: red, green, blue.", None),
    ("", None),
])
def test_refers_to_earlier(text, found):
    """Lesson 00 flags every printed answer that speaks of a conversation that never happened (issue 12)."""
    assert refers_to_earlier(text) == found


def test_replies_are_stored_with_the_assistant_role():
    chat = Chat(FakeLab(), system=SYSTEM)
    talk(chat, 2)
    assert [m["role"] for m in chat.history] == ["system", "user", "assistant", "user", "assistant"]
    assert chat.history[2] == {"role": "assistant", "content": "reply 1"}
    # and the reply goes back to the model as an assistant turn (not as if the user had said it)
    assert chat.last_sent[2] == {"role": "assistant", "content": "reply 1"}
    assert [m["role"] for m in chat.last_sent if m["content"].startswith("reply")] == ["assistant"]


def test_a_reproducible_conversation_is_read_back_from_the_cache(tmp_cache):
    """Temperature 0 (or a seed): the same conversation again is answered from the lab's cache, turn by turn."""
    lab = FakeLab()
    first = Chat(lab, system=SYSTEM, temperature=0)
    talk(first, 3)
    again = Chat(lab, system=SYSTEM, temperature=0)
    talk(again, 3)
    assert len(lab.sent) == 3 and again.history == first.history and again.last.cached
    assert Chat(lab, seed=4).send(msg(1)).text == Chat(lab, seed=4).send(msg(1)).text and len(lab.sent) == 4


@pytest.mark.parametrize(("options", "streamed"), [
    ({"temperature": 0.8}, False), ({"temperature": 0, "cache": False}, False), ({"temperature": 0}, True)])
def test_draws_stream_and_cache_false_are_always_sent(tmp_cache, options, streamed):
    lab = FakeLab()
    pieces: list[str] = []
    for _ in range(2):
        Chat(lab, **options).send(msg(1), on_token=pieces.append if streamed else None)
    assert len(lab.sent) == 2 and ("reply 2" in "".join(pieces) if streamed else not pieces)


def test_a_chat_cache_of_its_own_and_a_bad_one(tmp_path):
    from labutils.client.cache import Cache

    own = Cache(tmp_path / "own.sqlite")
    lab = FakeLab()
    Chat(lab, temperature=0, cache=own).send(msg(1))
    assert len(own) == 1 and Chat(lab, temperature=0, cache=own).send(msg(1)).cached
    with pytest.raises(ParameterError, match="cache='yes' is not allowed: cache must be True"):
        Chat(lab, cache="yes")


def test_full_memory_sends_everything():
    lab = FakeLab()
    chat = Chat(lab, system=SYSTEM)
    talk(chat, 3)
    assert contents(lab.sent[-1]) == [SYSTEM, msg(1), "reply 1", msg(2), "reply 2", msg(3)]
    assert [len(s) for s in lab.sent] == [2, 4, 6]


def test_window_keeps_the_last_max_turns_exchanges():
    lab = FakeLab()
    chat = Chat(lab, system=SYSTEM, memory="window", max_turns=2)
    talk(chat, 5)
    assert contents(lab.sent[-1]) == [SYSTEM, msg(3), "reply 3", msg(4), "reply 4", msg(5)]
    assert len(chat.history) == 11  # the history keeps everything; only the request is trimmed
    chat.max_turns = 0
    assert contents(chat.messages_for("next")) == [SYSTEM, "next"]


def test_none_sends_only_the_latest_message():
    lab = FakeLab()
    chat = Chat(lab, system=SYSTEM, memory="none")
    talk(chat, 3)
    assert contents(lab.sent[-1]) == [SYSTEM, msg(3)]
    assert len(chat.history) == 7


def test_tokens_memory_drops_the_oldest_exchanges_to_fit_the_budget():
    # request 3 + system 6 + new message 14 = 23; each exchange adds 14 + ("reply N": 2 + 4) = 20
    assert estimate_tokens([{"role": "system", "content": SYSTEM}, {"role": "user", "content": msg(1)}]) == 23
    lab = FakeLab()
    chat = Chat(lab, system=SYSTEM, memory="tokens", max_tokens_history=23 + 2 * 20)
    talk(chat, 3)
    assert len(lab.sent[-1]) == 6  # both earlier exchanges fit exactly
    chat.send(msg(4))
    assert contents(lab.sent[-1]) == [SYSTEM, msg(2), "reply 2", msg(3), "reply 3", msg(4)]
    assert chat.estimate(lab.sent[-1]) == 63
    chat.max_tokens_history = 23 + 2 * 20 - 1  # one token less: the oldest kept exchange goes
    assert contents(chat.messages_for(msg(5))) == [SYSTEM, msg(4), "reply 4", msg(5)]
    chat.max_tokens_history = 23  # only the system message and the new one fit; the system is never dropped
    assert contents(chat.messages_for(msg(5))) == [SYSTEM, msg(5)]


def test_tokens_memory_uses_the_context_length_minus_the_reply():
    lab = FakeLab(context_length=77)  # 77 - 30 for the reply - 3 (5% margin) = 44: room for one exchange
    chat = Chat(lab, system=SYSTEM, memory="tokens", max_tokens=30)
    talk(chat, 3)
    assert contents(lab.sent[-1]) == [SYSTEM, msg(2), "reply 2", msg(3)]


def test_a_message_that_cannot_fit_raises_before_sending():
    lab = FakeLab()
    chat = Chat(lab, system=SYSTEM, memory="tokens", max_tokens_history=22)
    with pytest.raises(ContextTooLong, match="budget of 22 tokens"):
        chat.send(msg(1))
    assert lab.sent == [] and chat.history == [{"role": "system", "content": SYSTEM}]
    full = Chat(FakeLab(context_length=60), system=SYSTEM)
    full.send(msg(1))  # 23 estimated tokens + 1 for the reply
    full.send(msg(2))  # 43 + 1 still fits
    with pytest.raises(ContextTooLong, match=r"memory='full'.*context holds 60.*memory='tokens'"):
        full.send(msg(3), max_tokens=20)  # 63 + 20 does not
    assert len(full.history) == 5


def test_tokens_memory_needs_a_budget_when_the_context_is_unknown():
    with pytest.raises(ParameterError, match="max_tokens_history"):
        Chat(FakeLab(context_length=None), memory="tokens")
    assert Chat(FakeLab(context_length=None), memory="tokens", max_tokens_history=100).memory == "tokens"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"memory": "forever"}, "memory='forever' is not allowed: memory must be one of full, window, tokens, none"),
    ({"memory": None}, "memory=None is not allowed"),
    ({"max_turns": -1}, "max_turns=-1 is not allowed"),
    ({"max_tokens_history": 0}, "max_tokens_history=0 is not allowed"),
    ({"temperature": 3}, "temperature=3 is not allowed"),
    ({"system": ""}, "system='' is not allowed"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Chat(FakeLab(), **kwargs)


def test_bad_send_params_and_empty_text_are_refused_before_sending():
    lab = FakeLab()
    chat = Chat(lab)
    with pytest.raises(ParameterError, match="top_p=0 is not allowed"):
        chat.send("hi", top_p=0)
    with pytest.raises(ParameterError, match="text=''"):
        chat.send("")
    assert lab.sent == [] and chat.history == []


def test_failed_request_records_nothing_and_reset_keeps_the_system():
    lab = FakeLab()
    chat = Chat(lab, system=SYSTEM)
    talk(chat, 1)
    lab.fail = True
    with pytest.raises(RequestFailed):
        chat.send("lost")
    assert contents(chat.history) == [SYSTEM, msg(1), "reply 1"]
    chat.reset()
    assert chat.history == [{"role": "system", "content": SYSTEM}] and chat.last_sent is None
    assert chat.token_count() == estimate_tokens(chat.history)


def test_calibration_uses_the_prompt_tokens_the_server_reports():
    lab = FakeLab(prompt_tokens=lambda m: estimate_tokens(m) + 25)  # e.g. a template's default system prompt
    chat = Chat(lab)
    before = chat.estimate([{"role": "user", "content": "x"}])
    chat.send(msg(1))
    assert chat.calibration == 25
    assert chat.estimate([{"role": "user", "content": "x"}]) == before + 25
    assert chat.token_count() == estimate_tokens(chat.history) + 25


def test_sent_last_marks_the_turns_the_memory_kept():
    chat = Chat(FakeLab(), system=SYSTEM, memory="window", max_turns=1)
    assert chat.sent_last() == []
    talk(chat, 3)
    # exchange 1 was left out; exchange 2 was kept; exchange 3 is the latest one
    assert chat.sent_last() == [False, False, True, True, True, True]
    chat.memory = "none"
    chat.send(msg(4))
    assert chat.sent_last() == [False] * 6 + [True, True]
    chat.reset()
    assert chat.sent_last() == []


def test_an_empty_reply_is_stored_as_a_placeholder():
    chat = Chat(FakeLab(text=""))
    chat.send("hi")
    assert chat.history[-1] == {"role": "assistant", "content": EMPTY_REPLY}
    chat.send("again")  # an empty assistant message would be refused by the API
    assert chat.last_sent[1]["content"] == EMPTY_REPLY


@pytest.mark.integration
def test_a_real_conversation_remembers_and_counts_tokens(lab):
    counted, requests = counting_lab(lab)
    chat = Chat(counted, system="You are a terse assistant.", temperature=0, seed=0, max_tokens=16)
    first = chat.send("My name is Ada. Say hello.")
    assert first.text and first.prompt_tokens > 0
    assert chat.estimate(chat.last_sent) == first.prompt_tokens  # calibrated on the reply's usage
    predicted = chat.estimate(chat.messages_for("What is my name?"))
    second = chat.send("What is my name?")
    assert [m["role"] for m in chat.last_sent] == ["system", "user", "assistant", "user"]
    assert chat.last_sent[2] == {"role": "assistant", "content": first.text}
    assert abs(predicted - second.prompt_tokens) <= 0.25 * second.prompt_tokens, (predicted, second.prompt_tokens)
    assert second.prompt_tokens > first.prompt_tokens  # memory costs tokens
    chat.memory = "none"
    third = chat.send("What is my name?")
    assert len(chat.last_sent) == 2 and third.prompt_tokens < second.prompt_tokens
    assert [m["role"] for m in chat.history] == ["system"] + ["user", "assistant"] * 3
    assert requests.count("POST /v1/chat/completions") == 3


def test_a_reply_that_takes_the_whole_context_fails_at_construction_in_words():
    with pytest.raises(ParameterError, match=r"max_tokens=2048 leaves memory='tokens' no room .* context holds 2048 "
                                             r"tokens.* Use max_tokens <= 1938"):
        Chat(FakeLab(context_length=2048), memory="tokens", max_tokens=2048)
    chat = Chat(FakeLab(context_length=2048), memory="tokens", max_tokens=1800)
    with pytest.raises(ParameterError, match="max_tokens=2000 leaves memory='tokens' no room"):
        chat.send("hi", max_tokens=2000)


def test_chat_window_text_view_marks_a_cut_reply():
    """Where the widget cannot render (papermill, a plain console) its text view shows the ✂ too."""
    from labutils.widgets import chat_ui

    ui = chat_ui(Chat(FakeLab(text="a b c d e f g h"), system="Be brief."), max_tokens=3)
    ui.input.value = "go on"
    ui.send()
    assert "assistant: a b c ✂ (cut at max_tokens)" in ui.summary()
    assert "user: go on ✂" not in ui.summary()


def test_recall_tells_memory_from_model():
    """Issue 23: when a reply misses a fact, one line says whether the memory sent it."""
    from labutils.chat import memory_sent, recall

    sent = [{"role": "system", "content": "S"}, {"role": "user", "content": "I'm Emily."},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "What is my name?"}]
    assert memory_sent(sent, "emily") and not memory_sent(sent[:1] + sent[3:], "Emily")
    assert "the model did not use it" in recall(sent, "What's your name?", "Emily")
    assert "recalled" in recall(sent, "Your name is Emily.", "Emily")
    assert "the memory did not send it" in recall(sent[:1] + sent[3:], "I don't know.", "Emily")
    # the new message itself is not memory
    assert not memory_sent([{"role": "user", "content": "My name is Emily, what is it?"}], "Emily")
