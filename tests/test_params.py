"""Parameter and message validation: pure logic, no server."""

import math

import pytest

from labutils.errors import ParameterError
from labutils.params import check, check_all, messages_from


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("temperature", -1, "[0, 2]"), ("temperature", 2.5, "[0, 2]"), ("temperature", math.nan, "[0, 2]"),
    ("temperature", "hot", "[0, 2]"), ("temperature", True, "[0, 2]"),
    ("top_p", 0, "(0, 1]"), ("top_p", 1.5, "(0, 1]"), ("top_p", -0.1, "(0, 1]"),
    ("max_tokens", 0, "[1,"), ("max_tokens", 2.5, "[1,"), ("max_tokens", "10", "[1,"),
    ("seed", -1, "[0,"), ("top_logprobs", 21, "[0, 20]"),
])
def test_bad_values_name_parameter_value_and_range(name, value, allowed):
    with pytest.raises(ValueError) as err:
        check(name, value)
    msg = str(err.value)
    assert msg.startswith(f"{name}={value!r}") and allowed in msg


def test_zero_is_a_real_value_and_is_sent():
    sent = check_all({"temperature": 0, "top_p": 1, "max_tokens": 5, "seed": 0, "stop": None})
    assert sent == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 5, "seed": 0}


def test_max_tokens_is_bounded_by_the_context():
    assert check("max_tokens", 2048, max_tokens_limit=2048) == 2048
    with pytest.raises(ParameterError, match="context holds 2048 tokens"):
        check("max_tokens", 4096, max_tokens_limit=2048)


def test_stop_and_logprobs():
    assert check("stop", "\n") == ["\n"]
    for bad in ("", [], ["a"] * 5, [1]):
        with pytest.raises(ParameterError, match="stop="):
            check("stop", bad)
    with pytest.raises(ParameterError, match="needs logprobs=True"):
        check_all({"top_logprobs": 3})


def test_unknown_parameter():
    with pytest.raises(ParameterError, match="unknown parameter 'top_k'"):
        check("top_k", 5)


def test_messages_from_prompt_system_and_list():
    assert messages_from("hi", system="be brief") == [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert messages_from(msgs) == msgs


@pytest.mark.parametrize(("messages", "where"), [
    ([{"role": "bot", "content": "x"}], "messages[0]['role']='bot'"),
    ([{"role": "user", "content": ""}], "messages[0]['content']=''"),
    ([{"role": "user", "content": "ok"}, {"role": "user"}], "messages[1]['content']=None"),
    ([{"role": "user", "content": "x", "name": "n"}], "messages[0]="),
    ([], "messages=[]"), ("  ", "prompt='  '"),
])
def test_bad_messages(messages, where):
    with pytest.raises(ParameterError) as err:
        messages_from(messages)
    assert where in str(err.value) and "is not allowed" in str(err.value)
