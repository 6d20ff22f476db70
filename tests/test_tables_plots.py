"""Tables, plots and export, offline: built from the committed `runs` of a small sweep (tests/data/runs.jsonl,
written by tests/data/make_runs.py with the lab's own schema and `export.save`). The next-token views and
one check that a real sweep has the fixture's shape use the embedded stack (marker `integration`)."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

import labutils
from labutils import Grid
from labutils.metrics import add_text_metrics
from labutils.sampler import distribution as sampling
from labutils.views import export, plots, tables, token_plots

from .conftest import RUNS_FIXTURE

PROMPT = "Name one colour and one animal."
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs():
    out = export.load(RUNS_FIXTURE)
    assert out["error"].isna().all() and len(out) == 16
    return out


@pytest.mark.integration
def test_a_real_sweep_has_the_fixtures_shape(lab, runs, tmp_cache):
    real = lab.sweep(PROMPT, Grid(temperature=[0, 1], top_p=[0.5, 1], max_tokens=[8, 16], samples=2), progress=False)
    assert list(real.columns) == list(runs.columns) and dict(real.dtypes) == dict(runs.dtypes)
    assert real[["temperature", "top_p", "max_tokens", "sample", "seed"]].equals(
        runs[["temperature", "top_p", "max_tokens", "sample", "seed"]])
    assert set(real.attrs) == set(runs.attrs) and real.attrs["messages"] == runs.attrs["messages"]


@pytest.fixture(scope="module")
def summary(runs):
    return labutils.summarize(runs)


@pytest.fixture(scope="module")
def dist(lab):
    return sampling.next_token_distribution(lab, PROMPT, top_k=12)


def with_problems(runs: pd.DataFrame) -> pd.DataFrame:
    """A copy of real runs with one failed call, one answer stopped early and one with HTML in it."""
    r = runs.copy()
    r.attrs = dict(runs.attrs)
    failed = r.index[(r["sample"] == 0) & (r["temperature"] == 1) & (r["top_p"] == 1) & (r["max_tokens"] == 8)][0]
    r.loc[failed, ["text", "finish_reason", "prompt_tokens", "completion_tokens", "latency_s", "tokens_per_s"]] = \
        np.nan
    r.loc[failed, "error"] = "the server answered HTTP 500: <overloaded>"
    html_row = r.index[(r["sample"] == 0) & (r["temperature"] == 0) & (r["top_p"] == 0.5) & (r["max_tokens"] == 8)][0]
    r.loc[html_row, ["text", "finish_reason"]] = ["<b>blue</b> & cat", "stop"]
    return r


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000, (path, len(data))


def styles(styler) -> dict:
    """(row, col) -> css string of each styled cell."""
    ctx = styler._compute().ctx
    return {k: "; ".join(f"{p}: {v}" for p, v in props) for k, props in ctx.items()}


# ---------------------------------------------------------------- tables


def test_side_by_side_shows_every_answer_in_its_cell(runs):
    st = tables.side_by_side(runs, rows="temperature", cols="top_p", sample=0)
    shown = st.data
    # two max_tokens values -> an outer row level, nothing hidden
    assert shown.index.names == ["max_tokens", "temperature"]
    assert list(shown.columns) == ["top_p=0.5", "top_p=1"]
    assert shown.index.tolist() == [(f"max_tokens={m}", f"temperature={t}") for m in (8, 16) for t in (0, 1)]
    css = styles(st)
    for _, r in runs[runs["sample"] == 0].iterrows():
        i = shown.index.get_loc((f"max_tokens={r.max_tokens}", f"temperature={r.temperature:g}"))
        j = shown.columns.get_loc(f"top_p={r.top_p:g}")
        cut = r.finish_reason == "length"
        assert shown.iat[i, j] == r.text + (" ✂" if cut else "")
        assert (tables.CUT_BG in css.get((i, j), "")) == cut
    html = st.to_html()
    assert "white-space: pre-wrap" in html and "max-width: 28em" in html and "text-align: left" in html
    assert "cut by max_tokens" in html and "Sample 0 of 2" in html


def test_side_by_side_marks_errors_escapes_html_and_filters(runs):
    r = with_problems(runs)
    st = tables.side_by_side(r, max_tokens=8)
    shown, css = st.data, styles(st)
    assert shown.index.name == "temperature" and shown.shape == (2, 2)
    bad = shown.loc["temperature=1", "top_p=1"]
    assert bad == "⚠ error: the server answered HTTP 500: <overloaded>"
    assert tables.FAILED_BG in css[(1, 1)]
    assert shown.loc["temperature=0", "top_p=0.5"] == "<b>blue</b> & cat"  # stopped: no ✂
    html = st.to_html()
    assert "&lt;b&gt;blue&lt;/b&gt; &amp; cat" in html and "<b>blue</b>" not in html
    assert "&lt;overloaded&gt;" in html
    assert "max_tokens=8" in st.caption
    # other orientations work too: max_tokens across, top_p becomes the outer row level
    other = tables.side_by_side(runs, rows="temperature", cols="max_tokens", sample=1)
    assert list(other.data.columns) == ["max_tokens=8", "max_tokens=16"]
    assert other.data.index.names == ["top_p", "temperature"]


def test_side_by_side_bad_input(runs):
    with pytest.raises(ValueError, match=r"runs has no column 'nope'; it has \['temperature'"):
        tables.side_by_side(runs, rows="nope")
    with pytest.raises(ValueError, match=r"sample=5 is not in runs: it has samples \[0, 1\]"):
        tables.side_by_side(runs, sample=5)
    with pytest.raises(ValueError, match=r"max_tokens=99 is not in runs: it has max_tokens \[8, 16\]"):
        tables.side_by_side(runs, max_tokens=99)
    with pytest.raises(ValueError, match="runs is empty"):
        tables.side_by_side(runs.iloc[0:0])
    with pytest.raises(ValueError, match="rows and cols are both 'top_p'"):
        tables.side_by_side(runs, rows="top_p", cols="top_p")
    with pytest.raises(TypeError, match="runs must be a pandas DataFrame"):
        tables.side_by_side([1, 2])


def test_samples_puts_one_cell_side_by_side_with_metrics(runs):
    st = tables.samples(runs, temperature=1, top_p=1, max_tokens=16)
    shown = st.data
    cell = runs[(runs.temperature == 1) & (runs.top_p == 1) & (runs.max_tokens == 16)].sort_values("sample")
    expect = add_text_metrics(cell)
    assert list(shown.columns) == [f"sample {s} (seed {seed})" for s, seed in zip(cell["sample"], cell["seed"])]
    assert shown.loc["answer"].tolist() == [tables.shown_text(r) for _, r in cell.iterrows()]
    for metric in ("words", "chars", "distinct_1", "distinct_2", "repetition", "completion_tokens"):
        assert shown.loc[metric].tolist() == pytest.approx(expect[metric].astype(float).tolist())
    assert shown.loc["finish_reason"].tolist() == cell["finish_reason"].tolist()
    html = st.to_html()
    assert "2 samples of temperature=1, top_p=1, max_tokens=16" in html


def test_samples_bad_input(runs):
    with pytest.raises(ValueError, match=r"which cell\? runs has several max_tokens values \[8, 16\]: pass max_tokens"):
        tables.samples(runs, temperature=1, top_p=1)
    with pytest.raises(ValueError, match=r"temperature=0.3 is not in runs: it has temperature \[0.0, 1.0\]"):
        tables.samples(runs, temperature=0.3, top_p=1, max_tokens=8)
    with pytest.raises(ValueError, match="unknown cell parameter seed: a cell is named by temperature, top_p"):
        tables.samples(runs, seed=1)


def test_diff_word_level():
    d = tables.diff("The sea is deep blue.", "The sea is <grey> today.")
    assert str(d) == "The sea is [-deep blue.-]{+<grey> today.+}"
    html = d._repr_html_()
    assert "<del" in html and "<ins" in html and "&lt;grey&gt;" in html and "<grey>" not in html
    assert d.ratio == pytest.approx(2 * 3 / 10)  # The, sea, is shared; 5 + 5 words
    same = tables.diff("a b c", "a b c")
    assert str(same) == "a b c" and same.ratio == 1.0 and "<del" not in same._repr_html_()
    with pytest.raises(TypeError, match="diff: b must be a string or a Completion, got int"):
        tables.diff("a", 3)


def test_diff_of_two_real_samples(runs):
    a, b = runs[(runs.temperature == 1) & (runs.top_p == 1) & (runs.max_tokens == 16)]["text"]
    d = tables.diff(a, b)
    # rebuilding each side from the ops gives the original texts back
    assert "".join(x for tag, x, _ in d.ops if tag != "insert") == a
    assert "".join(y for tag, _, y in d.ops if tag != "delete") == b


# ---------------------------------------------------------------- plots


def test_heatmap_shows_the_pivoted_summary_per_max_tokens(summary, tmp_path):
    rc, open_before = dict(matplotlib.rcParams), plt.get_fignums()  # other tests' pyplot figures may be open
    fig = plots.heatmap(summary, "words_mean")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == summary["max_tokens"].nunique() == 2  # one facet per max_tokens
    assert len(fig.axes) == 3  # + one shared colorbar
    for ax, m in zip(panels, sorted(summary["max_tokens"].unique())):
        want = summary[summary.max_tokens == m].pivot_table(index="top_p", columns="temperature", values="words_mean")
        assert np.asarray(ax.images[0].get_array()) == pytest.approx(want.to_numpy())
        assert ax.get_title() == f"max_tokens={m}"
        assert ax.get_xlabel().startswith("temperature") and ax.get_ylabel().startswith("top_p")
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"{v:g}" for v in want.columns]
        fmt = plots.number_format(summary["words_mean"].to_numpy(float))  # one format for every cell (issue 23)
        assert sorted(t.get_text() for t in ax.texts) == sorted(format(v, fmt) for v in want.to_numpy().ravel())
    assert "words per answer" in fig.axes[-1].get_ylabel()  # the colorbar says what the colours mean
    assert "temperature and top_p" in " ".join(fig._suptitle.get_text().split())
    assert fig.get_size_inches()[0] <= 10
    assert dict(matplotlib.rcParams) == rc and plt.get_fignums() == open_before  # no global state touched
    fig.savefig(tmp_path / "heatmap.png")
    assert_png(tmp_path / "heatmap.png")
    one = plots.heatmap(summary[summary.max_tokens == 16], "similarity", x="top_p", y="temperature")
    assert len([ax for ax in one.axes if ax.images]) == 1


def test_heatmap_bad_input(summary, runs):
    with pytest.raises(ValueError, match=r"metric='wordz' is not a numeric column of summary; available metrics: n, "
                                         r"errors, words_mean"):
        plots.heatmap(summary, "wordz")
    with pytest.raises(ValueError, match=r"summary has no column 'seed'"):
        plots.heatmap(summary, "words_mean", x="seed")
    with pytest.raises(ValueError, match="summary is empty"):
        plots.heatmap(summary.iloc[0:0], "words_mean")
    with pytest.raises(ValueError, match=r"summary has 2 rows for temperature=0, top_p=0\.5"):
        plots.pivot(summary, "words_mean", "temperature", "top_p")  # two max_tokens in one panel


def test_metric_lines_draw_the_interval(summary, tmp_path):
    fig = plots.metric_lines(summary, "words_mean", x="temperature", hue="top_p")
    assert len(fig.axes) == 2
    for ax, m in zip(fig.axes, (8, 16)):
        part = summary[summary.max_tokens == m]
        assert ax.get_title() == f"max_tokens={m}"
        assert len(ax.containers) == 2  # one errorbar line per top_p
        for container, p in zip(ax.containers, (0.5, 1.0)):
            line = part[part.top_p == p].sort_values("temperature")
            data_line, _caps, (bars,) = container.lines
            assert data_line.get_xdata().tolist() == line["temperature"].tolist()
            assert data_line.get_ydata() == pytest.approx(line["words_mean"].to_numpy())
            # the bars span the 95% interval of summarize (lo to hi), not a symmetric std
            segments = bars.get_segments()
            assert [seg[0][1] for seg in segments] == pytest.approx(line["words_lo"].tolist())
            assert [seg[1][1] for seg in segments] == pytest.approx(line["words_hi"].tolist())
            assert container.get_label() == f"top_p={p:g}"
    assert "words per answer" in fig.axes[0].get_ylabel()
    title = " ".join(fig._suptitle.get_text().split())
    assert "confidence interval" in title and "one line per top_p" in title
    sim = plots.metric_lines(summary, "similarity")  # a set metric: its bootstrap interval
    assert all(c.has_yerr for ax in sim.axes for c in ax.containers)
    no_bars = plots.metric_lines(summary.drop(columns=["similarity_lo", "similarity_hi"]), "similarity")
    assert all(c.has_yerr is False for ax in no_bars.axes for c in ax.containers)
    with pytest.raises(ValueError, match="metric='nope' is not a numeric column"):
        plots.metric_lines(summary, "nope")
    fig.savefig(tmp_path / "lines.png")
    assert_png(tmp_path / "lines.png")


def test_length_vs_max_tokens_shows_cut_answers(runs, tmp_path):
    r = with_problems(runs)
    fig = plots.length_vs_max_tokens(r)
    (ax,) = fig.axes
    ok = r[r.error.isna()]
    stop_pts, cut_pts = (set(map(tuple, c.get_offsets().data.tolist())) for c in ax.collections)
    cut = ok[ok.finish_reason == "length"]
    assert cut_pts == {(float(m), float(t)) for m, t in zip(cut.max_tokens, cut.completion_tokens)}
    stopped = ok[ok.finish_reason != "length"]
    assert stop_pts == {(float(m), float(t)) for m, t in zip(stopped.max_tokens, stopped.completion_tokens)}
    assert len(stopped) >= 1 and len(cut) >= 1
    limit = ax.lines[0]
    assert limit.get_xdata().tolist() == limit.get_ydata().tolist()  # the y = x line
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"cut by max_tokens (finish_reason 'length'): {len(cut)}" in labels
    for m in (8, 16):
        group = ok[ok.max_tokens == m]
        n_cut = int((group.finish_reason == "length").sum())
        assert f"{n_cut}/{len(group)} cut" in [t.get_text() for t in ax.texts]
    assert "(1 failed calls not shown)" in ax.get_title()
    assert ax.get_xlabel() == "max_tokens (tokens)" and ax.get_ylabel() == "completion tokens (tokens)"
    fig.savefig(tmp_path / "length.png")
    assert_png(tmp_path / "length.png")
    with pytest.raises(ValueError, match=r"runs has no column 'completion_tokens'"):
        plots.length_vs_max_tokens(runs.drop(columns="completion_tokens"))


def test_latency_per_cell(runs, tmp_path):
    fig = plots.latency(runs)
    lat, speed = fig.axes
    cells = [t.get_text() for t in lat.get_yticklabels()]
    assert cells[0] == "T=0 p=0.5 max=8" and len(cells) == 8
    labelled = runs.assign(cell=plots.cell_labels(runs))
    for ax, col in ((lat, "latency_s"), (speed, "tokens_per_s")):
        widths = [p.get_width() for p in ax.patches]
        assert widths == pytest.approx(labelled.groupby("cell")[col].mean().reindex(cells).tolist())
    assert lat.get_xlabel() == "latency (s)" and "fixed cost included" in speed.get_xlabel()
    assert "Latency and speed per cell" in " ".join(fig._suptitle.get_text().split())
    fig.savefig(tmp_path / "latency.png")
    assert_png(tmp_path / "latency.png")
    with pytest.raises(ValueError, match="runs is empty"):
        plots.latency(runs.iloc[0:0])


def _bar_colours(ax):
    return [p.get_facecolor() for p in ax.patches]


@pytest.mark.integration
@pytest.mark.parametrize("order", ["temperature_first", "top_p_first"])
def test_token_distribution_greys_exactly_the_cut_tokens(dist, order, tmp_path):
    """llama.cpp's order cuts the real (temperature-1) probabilities: exactly the real nucleus is blue. The
    textbook order at T=0.8 cuts tempered shares the unseen tokens would lower: a lower bound, said so."""
    fig = plots.token_distribution(dist, temperature=0.8, top_p=0.7, order=order)
    before, after = fig.axes
    s = sampling.apply_sampling(dist, 0.8, 0.7, order=order)
    real = np.cumsum(np.exp(dist.logprobs))  # the model's own probabilities, not renormalised
    if order == "top_p_first":
        n = int(np.searchsorted(real, 0.7)) + 1 if real[-1] >= 0.7 else len(dist)
        kept = np.arange(len(dist)) < n
        expected = np.exp(np.array(dist.logprobs[:n]) / 0.8)
        expected /= expected.sum()
        words = f"{n} of {len(dist)} kept (exact" if real[-1] >= 0.7 else f"all {len(dist)} shown kept and more"
    else:
        kept, expected = s.kept, s.after[s.kept]
        words = f"at least {int(kept.sum())} kept"
    assert 1 <= kept.sum() < len(dist)  # this prompt really cuts some tokens
    grey, blue = to_rgba(token_plots.CUT_COLOUR), to_rgba(token_plots.KEPT_COLOUR)
    assert _bar_colours(after) == [blue if k else grey for k in kept]
    assert [p.get_width() for p in before.patches] == pytest.approx(s.before)
    widths = np.array([p.get_width() for p in after.patches])
    assert widths[kept] == pytest.approx(expected)
    assert widths[kept].sum() == pytest.approx(1.0)  # kept tokens renormalised
    assert [t.get_text() for t in before.get_yticklabels()] == [sampling.show_token(t) for t in dist.tokens]
    assert "temperature=0.8, top_p=0.7" in after.get_title()
    assert words in " ".join(fig._suptitle.get_text().split())
    fig.savefig(tmp_path / "tokens.png")
    assert_png(tmp_path / "tokens.png")


def test_token_distribution_synthetic_and_bad_input():
    dist = sampling.TokenDistribution(["a", " b", "c", "d"], np.log([0.5, 0.3, 0.15, 0.05]).tolist())
    fig = plots.token_distribution(dist, temperature=1.0, top_p=0.75)
    grey = to_rgba(token_plots.CUT_COLOUR)
    assert [c == grey for c in _bar_colours(fig.axes[1])] == [False, False, True, True]
    assert fig.axes[0].get_yticklabels()[1].get_text() == "␣b"
    with pytest.raises(TypeError, match="dist must be a TokenDistribution"):
        plots.token_distribution(pd.DataFrame())
    with pytest.raises(labutils.ParameterError, match="top_p=2 is not allowed"):
        plots.token_distribution(dist, top_p=2)


def test_import_labutils_does_not_load_matplotlib():
    code = ("import sys, labutils; assert 'matplotlib' not in sys.modules; "
            "labutils.tables; labutils.export; labutils.sampling; assert 'matplotlib' not in sys.modules; "
            "from labutils import plots; assert 'matplotlib' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_round_trip(runs, summary, suffix, tmp_path):
    r = with_problems(runs)
    r.loc[r.index[-1], "text"] = ""  # an empty answer stays "", a failed call's text stays missing
    for name, frame in (("runs", runs), ("problems", r), ("summary", summary)):
        path = export.save(frame, tmp_path / f"{name}{suffix}")
        back = export.load(path)
        pd.testing.assert_frame_equal(back, frame, check_exact=True)
        assert back.attrs == frame.attrs
    back = export.load(tmp_path / f"problems{suffix}")
    assert back["cached"].dtype == bool and back["max_tokens"].dtype == np.int64
    assert back["text"].iloc[-1] == "" and pd.isna(back.loc[back.error.notna(), "text"]).all()
    assert back["error"].dtype == object and back["error"].isna().sum() == len(r) - 1
    assert None in back["error"].tolist()  # None stays None, not NaN
    assert back.attrs["messages"] == [{"role": "user", "content": PROMPT}]
    # without the sidecar the file still loads (pandas infers), same values
    export.meta_path(tmp_path / f"runs{suffix}").unlink()
    plain = export.load(tmp_path / f"runs{suffix}")
    assert plain["text"].tolist() == runs["text"].tolist() and plain["top_p"].tolist() == runs["top_p"].tolist()


def test_true_nucleus_size_counts_on_the_real_probabilities():
    # three tokens holding 0.4 + 0.2 + 0.05 = 0.65 of the probability (like a top-20 list holding 65%)
    dist = sampling.TokenDistribution(["a", "b", "c"], list(np.log([0.4, 0.2, 0.05])))
    assert int(sampling.nucleus(dist.probs, 0.5).kept.sum()) == 1  # renormalised: 0.4/0.65 >= 0.5, too few
    assert plots.true_nucleus_size(dist, 0.5) == 2                   # real: 0.4 < 0.5 <= 0.6
    assert plots.true_nucleus_size(dist, 0.3) == 1
    assert plots.true_nucleus_size(dist, 0.62) == 3
    assert plots.true_nucleus_size(dist, 0.7) is None                # more than the shown tokens hold
    assert plots.true_nucleus_size(dist, 1.0) is None
    title = plots.token_distribution(dist, top_p=0.7)._suptitle.get_text()
    assert "all 3 shown kept and more not shown" in " ".join(title.split())
    fig = plots.token_distribution(dist, top_p=0.5)  # the plot marks the real nucleus, not the renormalised one
    assert "2 of 3 kept (exact" in " ".join(fig._suptitle.get_text().split())
    grey = to_rgba(token_plots.CUT_COLOUR)
    assert [c == grey for c in _bar_colours(fig.axes[1])] == [False, False, True]
