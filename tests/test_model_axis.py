"""The model as a grid axis (issue 14): Grid(model=[...]), runs and summarize carrying the model, views
faceted by model, the A/B panel and the probe with two models, export, and bad model names refused
before any request. Pure tests use `FakeLab` listing two models; the live ones use the embedded stack's
two models (SmolLM2 and the optional Gemma 3 270M, which CI installs; skipped elsewhere without it).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import labutils
from labutils import Grid, ModelNotFound, ParameterError, runs, summarize
from labutils.grid import _interleaved
from labutils.lessons.ab import send_pair
from labutils.views import export, plots, tables
from tests.conftest import FakeLab

A, B = "fake-a", "fake-b"


def two_models(**kw) -> FakeLab:
    return FakeLab(models=(A, B), **kw)


# --- the grid (pure) --------------------------------------------------------------------------------

def test_grid_with_a_model_axis_crosses_models_with_every_cell():
    g = Grid(model=[A, B], temperature=[0, 1], samples=2)
    assert len(g) == 8
    assert g.model == [A, B] and g.extra_axes == ["model"]
    cells = list(g)
    assert [c.model for c in cells] == [A] * 4 + [B] * 4
    assert all("model" not in c.params() for c in cells)  # the model picks the lab; it is not sent as a param
    assert [c.seed for c in cells[:2]] == [c.seed for c in cells[4:6]]  # the same seeds for every model
    assert "model=['fake-a', 'fake-b']" in repr(g)


def test_one_model_string_is_an_axis_of_one():
    assert Grid(model=A).model == [A]
    assert Grid().model == [None] and "model" not in Grid().axes  # no axis: the lab's model, no column


@pytest.mark.parametrize("bad", [[], [A, A], 3, [A, ""], {"m": A}])
def test_bad_model_axis_names_the_parameter(bad):
    with pytest.raises(ParameterError, match=r"^model="):
        Grid(model=bad)


def test_runs_columns_put_the_model_first():
    assert runs.columns(["model", "top_k"])[:5] == ["model", "temperature", "top_p", "max_tokens", "top_k"]
    assert "model" not in runs.COLUMNS


def test_a_two_model_sweep_alternates_models_so_both_engines_start_at_once():
    plans = [(c, None, {}, None) for c in Grid(model=[A, B], temperature=[0, 0.5, 1])]
    order = [plans[i][0].model for i, _ in _interleaved(plans)]
    assert order == [A, B] * 3
    assert sorted(i for i, _ in _interleaved(plans)) == list(range(6))


# --- the sweep, compare and probe over FakeLab ------------------------------------------------------

def test_sweep_over_two_models_sends_each_cell_to_its_model(tmp_cache):
    lab = two_models()
    out = lab.sweep("hi", Grid(model=[A, B], temperature=[0, 1], samples=2), progress=False)
    assert list(out.columns[:2]) == ["model", "temperature"]
    assert out.groupby("model").size().to_dict() == {A: 4, B: 4}
    assert sorted(r["model"] for r in lab.client.requests) == [A] * 4 + [B] * 4
    assert out.attrs["model"] == [A, B]
    summary = summarize(out)
    assert list(summary["model"]) == [A, A, B, B]


def test_unknown_model_is_refused_before_any_request_listing_the_available(tmp_cache):
    lab = two_models()
    with pytest.raises(ModelNotFound, match=r"model='nope' is not allowed.*available: fake-a, fake-b"):
        lab.sweep("hi", Grid(model=[A, "nope"], temperature=[0]), progress=False)
    assert lab.client.requests == []


def test_send_pair_with_two_models_sends_each_side_to_its_model():
    lab = two_models()
    result = send_pair(lab, "hi", {"temperature": 0.0}, {"temperature": 0.0, "model": B})
    assert (result["a"].model, result["b"].model) == (A, B)
    assert list(result["metrics"]["model"]) == [A, B]
    with pytest.raises(ModelNotFound):
        send_pair(lab, "hi", {}, {"model": "nope"})
    assert len(lab.client.requests) == 2  # the bad pair sent nothing


def test_compare_panel_offers_the_models_and_swaps_them(fake_lab):
    from labutils.widgets import ab_panel

    lab = two_models()
    cmp = ab_panel(lab, "hi")
    assert list(cmp.model_a.options) == [A, B] and cmp.model_a.layout.display is None
    cmp.model_b.value = B
    cmp.run()
    assert (cmp.result["a"].model, cmp.result["b"].model) == (A, B)
    assert "model=fake-b" in cmp.summary()
    cmp.swap()
    assert (cmp.model_a.value, cmp.model_b.value) == (B, A)
    assert (cmp.result["a"].model, cmp.result["b"].model) == (B, A)
    assert ab_panel(fake_lab, "hi").model_a.layout.display == "none"  # one model: no menu


def test_probe_of_two_models_gives_one_block_per_model():
    lab = two_models(text="a cat sat")
    df = labutils.probe(lab, samples=2, model=[A, B], cache=False)
    assert list(df.columns[:2]) == ["model", "parameter"]
    assert df.groupby("model").size().to_dict() == {A: len(df) // 2, B: len(df) // 2}
    html = tables.probe_table(df).to_html()
    assert "Probe of fake-a, fake-b" in html
    with pytest.raises(ModelNotFound):
        labutils.probe(lab, model=[A, "nope"])


# --- views and export (pure) ------------------------------------------------------------------------

def _summary_two_models() -> pd.DataFrame:
    rows = []
    for m, shift in ((A, 0.0), (B, 0.5)):
        for mt in (16, 32):
            for t in (0.0, 1.0):
                for p in (0.5, 1.0):
                    v = shift + t + p / 10 + mt / 100
                    rows.append({"model": m, "temperature": t, "top_p": p, "max_tokens": mt, "words_mean": v,
                                 "words_mean_lo": v - 0.1, "words_mean_hi": v + 0.1})
    return pd.DataFrame(rows)


def test_heatmap_and_lines_have_one_panel_per_model_and_max_tokens():
    s = _summary_two_models()
    fig = plots.heatmap(s, "words_mean")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["model=fake-a, max_tokens=16", "model=fake-a, max_tokens=32",
                      "model=fake-b, max_tokens=16", "model=fake-b, max_tokens=32"]
    assert "one panel per model x max_tokens" in " ".join(fig._suptitle.get_text().split())
    lines = plots.metric_lines(s[s["max_tokens"] == 16], "words_mean")
    assert [ax.get_title() for ax in lines.axes] == ["model=fake-a", "model=fake-b"]
    both = s[(s["max_tokens"] == 16) & (s["top_p"] == 1.0)]
    by_model = plots.metric_lines(both, "words_mean", x="temperature", hue="model")  # models as lines
    assert [t.get_text() for t in by_model.legends[0].get_texts()] == ["model=fake-a", "model=fake-b"]


def test_side_by_side_and_samples_name_the_model(tmp_cache):
    out = two_models().sweep("hi", Grid(model=[A, B], temperature=[0, 1]), progress=False)
    shown = tables.side_by_side(out, rows="temperature", cols="top_p").data
    assert shown.index.names == ["model", "temperature"]
    assert len(shown) == 4
    assert tables.samples(out, model=B, temperature=1).data.shape[1] == 1
    with pytest.raises(ValueError, match="model"):
        tables.samples(out, temperature=1)  # which model? it must be named


def test_export_round_trips_the_model_column_and_attrs(tmp_path, tmp_cache):
    out = two_models().sweep("hi", Grid(model=[A, B], temperature=[0, 1]), progress=False)
    path = export.save(out, tmp_path / "runs.csv")
    back = export.load(path)
    pd.testing.assert_frame_equal(back, out, check_dtype=False)
    assert back.attrs["model"] == [A, B]


# --- the live stack: two real models ----------------------------------------------------------------

GEMMA_ID = "llama-cpp2/gemma3-270m"


@pytest.fixture
def gemma_lab(lab):
    if GEMMA_ID not in lab.models():
        reason = f"{GEMMA_ID} is not served (run `make model-gemma`, then restart the stack)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI installs it")
        pytest.skip(reason)
    return lab


@pytest.mark.integration
def test_live_sweep_over_two_models_answers_per_model_and_caches_per_model(gemma_lab, tmp_cache):
    lab = gemma_lab
    grid = Grid(model=[lab.model, GEMMA_ID], temperature=[0], max_tokens=[8], samples=1)
    out = lab.sweep("The capital of France is", grid, progress=False)
    assert out["error"].isna().all(), out["error"].tolist()
    assert list(out["model"]) == [lab.model, GEMMA_ID]
    assert lab.using(GEMMA_ID).engine["model_path"].endswith(".gguf")
    assert lab.using(GEMMA_ID).engine["model_path"] != lab.engine["model_path"]  # its own llama-server
    again = lab.sweep("The capital of France is", grid, progress=False)
    assert again["cached"].all() and list(again["text"]) == list(out["text"])  # each model keyed apart


@pytest.mark.integration
def test_live_compare_panel_with_two_models(gemma_lab):
    from labutils.widgets import ab_panel

    cmp = ab_panel(gemma_lab, "The capital of France is")
    assert GEMMA_ID in cmp.model_b.options
    cmp.model_b.value = GEMMA_ID
    for side in (cmp.a, cmp.b):
        side.temperature.value, side.max_tokens.value = 0.0, 8
    cmp.run()
    assert cmp.status.value == "" or "error" not in cmp.status.value.lower(), cmp.status.value
    assert cmp.result["b"].model == GEMMA_ID and cmp.result["a"].model == gemma_lab.model
    assert np.isfinite(cmp.result["metrics"].loc["B", "latency_s"])


def test_a_per_learner_cap_holds_for_a_sweep_over_two_models(tmp_cache, monkeypatch):
    import threading
    import time

    lab = two_models()
    active, peak, lock = [0], [0], threading.Lock()
    original = lab.client.create

    def counting(**kw):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        try:
            return list(original(**kw))
        finally:
            with lock:
                active[0] -= 1

    lab.client.chat.completions.create = counting
    monkeypatch.setenv("LAB_CONCURRENCY", "1")  # what a class hub sets for every learner
    lab.sweep("hi", Grid(model=[A, B], temperature=[0, 1], samples=2), progress=False)
    assert peak[0] == 1
