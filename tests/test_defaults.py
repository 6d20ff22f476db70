"""The server's defaults, pure: read from a `/props` dict, and the three that lesson 00 shows without the chain."""

from __future__ import annotations

import pytest

from labutils.client.server import ServerDefaults
from labutils.errors import ParameterError

PROPS = {"build_info": "b1-test", "default_generation_settings": {"params": {
    "temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "n_predict": -1, "seed": 2**32 - 1,
    "samplers": ["top_k", "top_p", "min_p", "temperature"]}}}


def test_only_keeps_the_named_defaults_and_drops_the_chain():
    every = ServerDefaults.from_props(PROPS, "http://127.0.0.1:1")
    three = every.only("temperature", "top_p", "max_tokens")
    assert three.values == {"temperature": 0.8, "top_p": 0.95, "max_tokens": None}
    assert three.samplers == [] and three.source == every.source and every.samplers[-1] == "temperature"
    assert "top_k" not in repr(three) and "sampler order" not in repr(three) + three._repr_html_()
    assert "no limit" in three._repr_html_()  # max_tokens -1 is read as "until the answer ends"
    assert "sampler order" in repr(every) and "top_k" in every._repr_html_()


def test_only_refuses_an_unknown_name_and_keeps_an_unknown_reason():
    with pytest.raises(ParameterError, match="'temprature'"):
        ServerDefaults.from_props(PROPS, "http://127.0.0.1:1").only("temprature")
    with pytest.raises(ParameterError, match=r"names=\(\)"):
        ServerDefaults.from_props(PROPS, "http://127.0.0.1:1").only()
    remote = ServerDefaults.from_props(None, "http://example.invalid:8321").only("temperature")
    assert not remote.known and "remote" in remote.reason and "unknown" in remote._repr_html_()
