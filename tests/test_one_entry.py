"""Adding a sampler is one entry in `labutils.params.PARAMS`: validation, Grid, Lab.chat, the sliders (the
playground's and the A/B panel's), the cache key and the sampler chain (which names it "not predicted") all
pick it up with no other change; a sampler's default or off value changed in its entry reaches the chain, the
sampler grid and every widget. Offline: the fake lab's client records each request."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from labutils import Grid, ParameterError, params
from labutils.client.cache import Cache
from labutils.params import Param
from labutils.sampler import chain
from labutils.widgets import ab_panel, playground
from labutils.widgets.tokens import chain_view

from .conftest import FakeLab

NEW = Param("top_n_sigma", float, 0.0, 5.0, axis=True, advanced=True, extra=True, step=0.1, default=1.0,
            stage="top_n_sigma", off=0.0, help="keep tokens within n sigma of the top logit (test entry)")


@pytest.fixture
def new_param(monkeypatch):
    monkeypatch.setitem(params.PARAMS, NEW.name, NEW)
    return NEW.name


def test_validation(new_param):
    assert params.check(new_param, 2) == 2.0
    with pytest.raises(ParameterError, match=r"top_n_sigma=9 is not allowed: top_n_sigma must be a number in \[0, 5\]"):
        params.check(new_param, 9)


def test_grid_axis_and_runs_column(new_param, tmp_cache):
    grid = Grid(top_n_sigma=[0.5, 2], temperature=[1.0], samples=2)
    assert len(grid) == 4 and grid.top_n_sigma == [0.5, 2.0] and grid.extra_axes == [new_param]
    with pytest.raises(ParameterError, match="top_n_sigma=7"):
        Grid(top_n_sigma=[7])
    lab = FakeLab()
    runs = lab.sweep("Hi", grid, progress=False)
    assert sorted(runs[new_param].unique()) == [0.5, 2.0]
    sent = sorted(r["extra_body"][new_param] for r in lab.client.requests)  # sent concurrently: in any order
    assert [set(r["extra_body"]) for r in lab.client.requests] == [{new_param}] * 4 and sent == [0.5, 0.5, 2.0, 2.0]


def test_lab_chat_accepts_and_sends_it(new_param):
    lab = FakeLab()
    done = lab.chat("Hi", temperature=0, top_n_sigma=1.5)
    assert done.params[new_param] == 1.5
    assert lab.client.requests[-1]["extra_body"] == {new_param: 1.5}
    with pytest.raises(ParameterError, match="top_n_sigma=-1"):
        lab.chat("Hi", top_n_sigma=-1)
    assert len(lab.client.requests) == 1


def test_slider(new_param):
    pg = playground(FakeLab(), "Hi")
    slider = pg.params.advanced[new_param]
    assert (slider.min, slider.max, slider.value) == (0.0, 5.0, 1.0)
    assert new_param not in pg.params.values()  # at the engine's default: not sent
    slider.value = 2.0
    assert pg.params.values()[new_param] == 2.0
    pg.run()
    assert pg.history[new_param].tolist() == [2.0]


def test_cache_key(new_param, tmp_path):
    lab = FakeLab()
    messages, a = lab.prepare("Hi", temperature=0, top_n_sigma=1.0)
    _, b = lab.prepare("Hi", temperature=0, top_n_sigma=2.0)
    assert lab.cache_key(messages, a) != lab.cache_key(messages, b)
    store = Cache(tmp_path / "c.sqlite")
    first = lab.chat("Hi", temperature=0, top_n_sigma=1.0, cache=store)
    again = lab.chat("Hi", temperature=0, top_n_sigma=1.0, cache=store)
    other = lab.chat("Hi", temperature=0, top_n_sigma=2.0, cache=store)
    store.close()
    assert (first.cached, again.cached, other.cached) == (False, True, False)
    assert len(lab.client.requests) == 2


def test_the_chain_names_it_not_predicted(new_param):
    """The chain models what its stages implement; a new sampler turned on is named, never silently ignored."""
    assert chain.unpredicted({new_param: 2.0}) == [new_param]
    assert chain.unpredicted({new_param: NEW.off}) == []  # at its off value it changes nothing
    assert new_param not in chain.settings_for({new_param: 2.0})  # and it is not fed to stages it has none of


def test_the_ab_panel_has_its_slider(new_param):
    panel = ab_panel(FakeLab(), "Hi")
    for side in (panel.a, panel.b):
        slider = side.advanced[new_param]
        assert (slider.min, slider.max, slider.value) == (0.0, 5.0, 1.0)
        assert new_param not in side.values()  # at the engine's default: not sent


def test_a_default_changed_in_its_entry_reaches_the_chain_the_grid_and_the_widgets(monkeypatch):
    """top_k's default and min_p's off value live in PARAMS only: the chain view's and the playground's
    sliders, the chain's settings and what the sampler grid holds off all follow the entry."""
    top_k = dataclasses.replace(params.PARAMS["top_k"], default=30)
    monkeypatch.setitem(params.PARAMS, "top_k", top_k)
    lab = FakeLab()
    assert chain_view(lab).sliders["top_k"].value == 30
    assert playground(lab, "Hi").params.advanced["top_k"].value == 30
    assert ab_panel(lab, "Hi").a.advanced["top_k"].value == 30
    assert chain.settings_for({}, None)["top_k"] == chain.LLAMA_DEFAULTS["top_k"]  # read once, at import
    assert {n: params.PARAMS[n].off for n in chain.STAGE_PARAM.values()} == {
        n: chain.OFF[n] for n in chain.STAGE_PARAM.values()}


def _sampler_tables(tree: ast.AST) -> list[str]:
    """Dict literals mapping a sampler's name to a constant equal to its default or off value."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values):
            if not (isinstance(key, ast.Constant) and key.value in params.PARAMS and isinstance(value, ast.Constant)):
                continue
            entry = params.PARAMS[key.value]
            if entry.stage and value.value is not None and value.value in (entry.default, entry.off):
                found.append(f"line {node.lineno}: {key.value!r}: {value.value!r}")
    return found


def test_no_table_of_sampler_defaults_or_off_values_outside_params():
    """A sampler's default or off value written as a literal outside params.py is a second declaration."""
    root = Path(params.__file__).parent
    found = {}
    for path in root.rglob("*.py"):
        if path.name == "params.py" or "exercises" in path.parts:  # an exercise's toy settings are its own
            continue
        hits = _sampler_tables(ast.parse(path.read_text()))
        if hits:
            found[str(path.relative_to(root))] = hits
    assert not found, found
    assert _sampler_tables(ast.parse('{"top_k": 40, "min_p": 0.9}'))  # the finder does see one
