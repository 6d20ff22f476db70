"""Adding a sampler is one entry in `labutils.params.PARAMS`: validation, Grid, Lab.chat, the sliders and
the cache key all pick it up with no other change. Offline: the fake lab's client records each request."""

from __future__ import annotations

import pytest

from labutils import Grid, ParameterError, params
from labutils.client.cache import Cache
from labutils.params import Param
from labutils.widgets import playground

from .conftest import FakeLab

NEW = Param("top_n_sigma", float, 0.0, 5.0, axis=True, advanced=True, extra=True, step=0.1, default=1.0,
            help="keep tokens within n sigma of the top logit (test entry)")


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
