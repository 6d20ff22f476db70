"""The figure checks (tests/figure_checks.py), offline: each one fails on a figure issue 23 found in a lesson,
and the lab's plots pass them (the lessons' own figures are checked when the lessons run, in
test_notebooks.test_executes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import labutils
from labutils.sampler import distribution as sampling
from labutils.views import export, plots

from . import figure_checks
from .conftest import RUNS_FIXTURE

# "Name a colour." as lesson 02 saw it: the top 10 tokens hold about 80% of the probability
COLOUR = sampling.TokenDistribution([" Blue", " Red", " Green", " Yellow", " Purple", " Orange", " Black", " White",
                                     " Pink", " Gray"],
                                    np.log([0.30, 0.18, 0.10, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01, 0.01]).tolist())


@pytest.fixture(scope="module")
def runs():
    return export.load(RUNS_FIXTURE)


@pytest.fixture(scope="module")
def summary(runs):
    return labutils.summarize(runs)


def test_a_raw_column_name_is_caught():
    fig, ax = plt.subplots()
    ax.set_ylabel("greedy_prefix_mean")
    ax.set_xlabel("top_p (probability mass)")  # a parameter's name is what the learner types: fine
    found = figure_checks.label_problems(fig)
    assert len(found) == 1 and "greedy_prefix_mean" in found[0], found
    plt.close(fig)


def test_lesson_02s_metric_plot_has_readable_labels(runs):
    # lesson 02 plotted greedy_prefix_mean and got the raw name on its y axis and in its title
    runs = runs.assign(greedy_prefix=runs["text"].str.split().str.len() % 3)
    summary = labutils.summarize(runs, values=["greedy_prefix"])
    fig = plots.metric_lines(summary, "greedy_prefix_mean", x="temperature", hue="top_p")
    assert figure_checks.label_problems(fig) == []
    assert "words shared with the greedy answer" in fig.axes[0].get_ylabel()


def test_every_summary_metric_has_a_readable_label(summary):
    raw = {m: plots.metric_label(m) for m in summary.columns if figure_checks.raw_names(plots.metric_label(m))}
    assert not raw, raw


def test_a_colour_bar_must_span_the_range_its_label_states(summary):
    fig, ax = plt.subplots()
    image = ax.imshow([[0.01, 0.19]], vmin=0.01, vmax=0.19)
    fig.colorbar(image, ax=ax, label="similarity of samples (0-1)")
    assert figure_checks.colourbar_problems(fig), "a 0.01-0.19 bar labelled (0-1) must be caught"
    plt.close(fig)
    # lesson 03's heatmap: its similarity values span 0.01-0.19 under the label "(0-1)"
    fig = plots.heatmap(summary, "similarity")
    assert figure_checks.colourbar_problems(fig) == []
    cbar = next(ax for ax in fig.axes if getattr(ax, "_colorbar", None))._colorbar
    assert (cbar.mappable.norm.vmin, cbar.mappable.norm.vmax) == (0.0, 1.0)


def test_compared_panels_must_share_their_scale():
    fig, (a, b) = plt.subplots(1, 2)
    for ax, top in ((a, 0.42), (b, 0.26)):
        ax.set_xlabel("probability")
        ax.set_xlim(0, top)
    assert figure_checks.scale_problems(fig)
    plt.close(fig)
    # lesson 02's distribution plot: T=1 on the left, T=2 on the right, each on its own x scale
    fig = plots.token_distribution(COLOUR, temperature=2.0)
    assert figure_checks.scale_problems(fig) == []


def test_text_off_the_figure_is_caught():
    fig = plt.figure(figsize=(3, 2))
    fig.suptitle("a title far too long to fit across a figure three inches wide, as lesson 02's was")
    assert figure_checks.overflow_problems(fig)
    plt.close(fig)


@pytest.mark.parametrize("top_p", [1.0, 0.5])
def test_the_distribution_plot_passes(top_p):
    fig = plots.token_distribution(COLOUR, temperature=2.0, top_p=top_p)
    assert figure_checks.problems(fig) == []
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()] if fig.axes[1].get_legend() else []
    if top_p >= 1.0:  # nothing is cut: no legend entry for cut tokens
        assert not any("cut" in t for t in legend), legend
    # lesson 02 draws it at temperature alone, before lessons 03 and 10: its words name no later sampler
    words = " ".join(t.get_text() for t in [fig._suptitle, *(ax.title for ax in fig.axes)])
    later = ("top_k", "min_p") if top_p < 1 else ("top_k", "min_p", "top_p")
    assert not [w for w in later if w in words], words


def test_overlapping_annotations_are_caught():
    fig, ax = plt.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.annotate("2/2 cut", (8, 8))
    ax.annotate("×2", (8, 8))
    assert figure_checks.overlap_problems(fig)
    plt.close(fig)


def test_the_grid_plots_pass(runs, summary):
    for fig in (plots.heatmap(summary, "distinct_1_mean"), plots.metric_lines(summary, "words_mean"),
                plots.length_vs_max_tokens(runs), plots.latency(runs)):
        assert figure_checks.problems(fig) == [], figure_checks.title(fig)


def test_lesson_10s_chain_plot_names_parameters_on_one_scale():
    """Lesson 10's stages were titled 'typ_p=1.0' (the stage's name, not the parameter's) and each panel had its
    own probability scale, so a stage that concentrates probability did not look taller."""
    from labutils.sampler import chain
    from labutils.sampler import plots as sampler_plots

    tokens = [f"t{i}" for i in range(20)]
    found = chain.run_chain(tokens, np.log(np.linspace(0.1, 0.01, 20)).tolist(),
                            chain.settings_for({"top_k": 5, "temperature": 1.0}))
    fig = sampler_plots.chain_stages(found)
    assert figure_checks.problems(fig) == []
    assert any(ax.get_title(loc="left").startswith("typical_p=") for ax in fig.axes)


def test_count_labels_of_close_answers_do_not_overlap():
    # lesson 08 at its defaults: at max_tokens=48, answers of 22, 23, 24 and 25 tokens twice each, 48 (cut) twice
    lengths = [22, 22, 23, 23, 24, 24, 25, 25, 14, 48, 48] + [31] * 10
    runs = pd.DataFrame({"max_tokens": 48, "completion_tokens": lengths,
                         "finish_reason": ["length" if n == 48 else "stop" for n in lengths], "error": None})
    fig = plots.length_vs_max_tokens(runs)
    assert figure_checks.overlap_problems(fig) == [], figure_checks.overlap_problems(fig)
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("×")]
    assert labels.count("×2") >= 3 and "×10" in labels
    plt.close(fig)


def test_validity_lines_with_equal_shares_stay_apart():
    """Lesson 12 at its defaults: json_object and json_schema both 8 of 8 at T=0 and 0.7, one line hid the other."""
    from labutils import structured
    from labutils.intervals import wilson

    rows = [dict(constraint=c, temperature=t, answers=8, errors=0, valid=8, share=1.0, low=wilson(8, 8)[0], high=1.0)
            for c in ("json_object", "json_schema") for t in (0.0, 0.7)]
    fig = structured.plot_validity(pd.DataFrame(rows))
    xs = [tuple(line.get_xdata()) for line in fig.axes[0].lines if line.get_marker() == "o"]
    assert len(xs) == 2 and xs[0] != xs[1]
    assert figure_checks.problems(fig) == []
    plt.close(fig)


def test_metric_lines_keep_their_legend_off_the_data():
    """Lesson 13 at its defaults: the legend of two long model names sat on a point and an error bar."""
    rows = [dict(model=m, temperature=t, unique_frac=v, unique_frac_lo=max(0, v - 0.2), unique_frac_hi=min(1, v + 0.2))
            for m, vals in (("llama-cpp/smollm2-135m-instruct", [0.12, 0.38, 0.62]),
                            ("llama-cpp2/gemma3-270m", [0.12, 0.75, 1.0]))
            for t, v in zip([0.0, 0.7, 1.2], vals)]
    fig = plots.metric_lines(pd.DataFrame(rows), "unique_frac", x="temperature", hue="model")
    assert figure_checks.problems(fig) == [] and fig.legends and all(ax.get_legend() is None for ax in fig.axes)
    plt.close(fig)


def test_cut_counts_of_close_limits_do_not_overlap():
    """Lesson 04 at its defaults: limits 8 and 16 on a scale to 128 wrote '4/4 cut' over '4/4 cut'."""
    lengths = {8: [8] * 4, 16: [16] * 4, 32: [32] * 4, 64: [49, 64, 64, 64], 128: [49, 70, 80, 65]}
    runs = pd.DataFrame([{"max_tokens": m, "completion_tokens": n, "finish_reason": "length" if n == m else "stop",
                          "error": None} for m, ns in lengths.items() for n in ns])
    fig = plots.length_vs_max_tokens(runs)
    assert figure_checks.problems(fig) == [], figure_checks.problems(fig)
    plt.close(fig)
