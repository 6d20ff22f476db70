"""Parameter and message validation: pure logic, no server."""

import math

import numpy as np
import pytest

from labutils.client.request import messages_from, request_fields
from labutils.errors import ParameterError
from labutils.params import PARAMS, check, check_all, choice, integer


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
    with pytest.raises(ParameterError, match="unknown parameter 'top_z'"):
        check("top_z", 5)


def test_numpy_numbers_are_numbers():
    assert check("max_tokens", np.int64(8)) == 8 and type(check("max_tokens", np.int64(8))) is int
    assert check("temperature", np.float32(0.5)) == 0.5 and check("top_k", np.float64(3.0)) == 3
    assert integer("samples", np.int32(3), 1) == 3
    for bad in (np.float64(2.5), np.bool_(True), True, "3"):
        with pytest.raises(ParameterError, match="samples="):
            integer("samples", bad, 1)


def test_small_integer_and_choice_helpers():
    assert integer("retries", 0) == 0 and integer("concurrency", None, 1, optional=True) is None
    with pytest.raises(ParameterError, match=r"concurrency=0 is not allowed: concurrency must be an integer >= 1"):
        integer("concurrency", 0, 1)
    with pytest.raises(ParameterError, match="memory='all' is not allowed: memory must be one of full, none"):
        choice("memory", "all", ("full", "none"))


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("top_k", -1, "[0, 200]"), ("top_k", 2.5, "[0, 200]"), ("min_p", 1.5, "[0, 1]"), ("typical_p", 0, "(0, 1]"),
    ("repeat_penalty", 2.5, "[0.05, 2]"), ("repeat_penalty", 0, "[0.05, 2]"), ("repeat_last_n", -1, "[0,"),
    ("presence_penalty", 3, "[-2, 2]"),
    ("frequency_penalty", -2.5, "[-2, 2]"), ("dry_multiplier", -1, "[0,"), ("xtc_probability", 2, "[0, 1]"),
    ("xtc_threshold", 0.6, "[0, 0.5]"), ("n", 0, "[1, 8]"),
])
def test_engine_samplers_are_validated(name, value, allowed):
    with pytest.raises(ParameterError) as err:
        check(name, value)
    assert str(err.value).startswith(f"{name}={value!r}") and allowed in str(err.value)


def test_samplers_outside_the_openai_schema_go_in_extra_body():
    sent = check_all({"temperature": 0, "top_k": 20, "min_p": 0.1, "presence_penalty": 0.5, "seed": 1})
    assert request_fields(sent) == {"temperature": 0.0, "seed": 1, "presence_penalty": 0.5,
                                    "extra_body": {"top_k": 20, "min_p": 0.1}}
    assert request_fields({"temperature": 0.0}) == {"temperature": 0.0}  # no empty extra_body


@pytest.mark.parametrize("name", [n for n, p in PARAMS.items() if p.kind in (int, float)])
def test_each_numeric_parameter_is_declared_completely(name):
    p = PARAMS[name]
    assert p.help and p.unit and p.axis_label.startswith(name)
    if p.low is not None and p.high is not None:
        low, high = p.slider_bounds()
        check(name, low)  # the slider's ends are allowed values ...
        check(name, high)
        if p.axis:
            assert not p.low_open or low > p.low  # ... and an excluded bound is not on the slider


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
