"""Confidence intervals and the paired comparison, on known answers. Pure logic, no server."""

import math

import numpy as np
import pandas as pd
import pytest

from labutils import intervals, metrics, paired, scorers


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [
    (8, 10, 0.4902, 0.9433),   # Wilson (1927); also statsmodels proportion_confint(8, 10, method="wilson")
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (5, 10, 0.2366, 0.7634),
    (1, 1, 0.2065, 1.0),
])
def test_wilson_known_answers(k, n, lo, hi):
    got = intervals.wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_no_data_and_bad_input():
    assert all(math.isnan(x) for x in intervals.wilson(0, 0))
    with pytest.raises(ValueError):
        intervals.wilson(3, 2)


def test_bootstrap_constant_and_seeded():
    assert intervals.bootstrap([2.0] * 6) == (2.0, 2.0)
    assert all(math.isnan(x) for x in intervals.bootstrap([1.0]))
    values = [1, 5, 2, 8, 3, 9, 4, 4]
    first, again = intervals.bootstrap(values), intervals.bootstrap(values)
    assert first == again  # seeded: a rerun prints the same interval
    assert first[0] < np.mean(values) < first[1]


def test_bootstrap_covers_normal_mean():
    # large sample from N(10, 1): the 95% interval of the mean is about 10 ± 1.96/sqrt(400) = ± 0.098
    x = np.random.default_rng(1).normal(10, 1, 400)
    lo, hi = intervals.bootstrap(x)
    assert lo < 10 < hi
    assert hi - lo == pytest.approx(2 * 1.96 / 20, rel=0.15)


def runs_of(a_vals, b_vals, column="words_x"):
    rows = [{"temperature": t, "top_p": None, "max_tokens": None, "sample": i, "seed": 100 + i, "text": "x",
             "error": None, column: v}
            for t, vals in ((0.0, a_vals), (1.0, b_vals)) for i, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_compare_paired_shift_is_exact():
    a = [3, 9, 1, 7, 5, 2, 8, 4]
    d = paired.compare(runs_of(a, [x + 1 for x in a]), "words_x", {"temperature": 0.0}, {"temperature": 1.0})
    # every pair differs by exactly 1: the paired interval is [1, 1] although the cells overlap widely
    assert (d.diff, d.lo, d.hi, d.n) == (1.0, 1.0, 1.0, 8)
    assert d.verdict == "higher"
    assert "higher by 1" in d.sentence("words")


def test_compare_no_difference_and_too_few():
    a = [1, 0, 1, 0, 1, 0, 1, 0]
    d = paired.compare(runs_of(a, a[::-1]), "words_x", {"temperature": 0.0}, {"temperature": 1.0})
    assert d.lo <= 0 <= d.hi and d.verdict == "no clear difference"
    few = paired.compare(runs_of([0, 0], [5, 5]), "words_x", {"temperature": 0.0}, {"temperature": 1.0})
    assert few.verdict == intervals.CANT_TELL and "raise SAMPLES" in few.sentence()


def test_compare_set_metric():
    a = ["same"] * 6
    b = [f"x{i}" for i in range(6)]
    runs = runs_of(a, b)
    runs["text"] = a + b
    d = paired.compare(runs, metrics.mode_share, {"temperature": 0.0}, {"temperature": 1.0})
    assert d.diff == pytest.approx(1 / 6 - 1) and d.verdict == "lower"


def test_compare_pairwise_stat_never_pairs_a_sample_with_its_copy():
    a = ["the same answer"] * 6
    b = [f"word{i} other{i}" for i in range(6)]  # no two share a word pair
    runs = runs_of(a, b)
    runs["text"] = a + b
    similarity = paired.pairwise_stat(metrics.similarity, "similarity")
    assert (similarity(a), similarity(b)) == (1.0, 0.0) and math.isnan(similarity(["one"]))
    d = paired.compare(runs, similarity, {"temperature": 0.0}, {"temperature": 1.0})
    # every pair of different samples is 0 similar in B and 1 in A: every resample's difference is exactly -1
    assert (d.diff, d.lo, d.hi, d.n) == (-1.0, -1.0, -1.0, 6)
    assert d.verdict == "lower" and d.metric == "similarity"
    differ = paired.pairwise_stat(lambda x, y: x != y, "share of pairs that differ")
    d = paired.compare(runs, differ, {"temperature": 0.0}, {"temperature": 1.0})
    assert (d.diff, d.lo, d.hi) == (1.0, 1.0, 1.0)
    # the same number as a plain function of the texts is resampled with copies, and a copy is identical to
    # itself in either cell: the interval shrinks towards 0 and no longer holds its own point estimate
    plain = paired.compare(runs, paired.named_stat(metrics.pairwise_similarity, "similarity"),
                              {"temperature": 0.0}, {"temperature": 1.0})
    assert plain.diff == -1.0 and plain.hi > -1.0


def test_verdict_and_trend():
    assert intervals.verdict(0.1, 0.5, 10) == "higher"
    assert intervals.verdict(-0.5, -0.1, 10) == "lower"
    assert intervals.verdict(-0.1, 0.1, 10) == "no clear difference"
    assert intervals.verdict(0.1, 0.5, 2) == intervals.CANT_TELL
    summary = pd.DataFrame({"temperature": [0.0, 1.5], "n": [8, 8], "words_mean": [3, 9],
                            "words_lo": [2.0, 7.0], "words_hi": [4.0, 11.0]})
    assert intervals.trend(summary, "words_mean", "temperature") == "rises"
    summary.loc[1, "words_lo"] = 3.5
    assert intervals.trend(summary, "words_mean", "temperature") == "does not clearly change"


def test_summarize_reports_intervals_and_scores():
    rows = [{"temperature": t, "top_p": None, "max_tokens": None, "sample": i, "seed": i,
             "text": txt, "finish_reason": "stop", "error": None}
            for t, texts in ((0.0, ["positive"] * 4), (1.0, ["positive", "negative", "neg", "positive"]))
            for i, txt in enumerate(texts)]
    runs = scorers.score(pd.DataFrame(rows), [scorers.one_of(["positive", "negative"]), scorers.equals("positive")])
    summary = metrics.summarize(runs).set_index("temperature")
    assert summary.loc[0.0, "correct_rate"] == 1.0
    assert (summary.loc[0.0, "correct_lo"], summary.loc[0.0, "correct_hi"]) == pytest.approx(intervals.wilson(4, 4))
    assert summary.loc[1.0, "in_format_rate"] == 0.75 and summary.loc[1.0, "correct_rate"] == 0.5
    assert summary.loc[0.0, "mode_share"] == 1.0 and summary.loc[0.0, "mode_share_lo"] == 1.0
    assert summary.loc[1.0, "first_word_entropy"] == pytest.approx(1.5)
    for col in ("words", "completion_tokens", "similarity", "unique_frac", "length_frac"):
        assert f"{col}_lo" in summary.columns and f"{col}_hi" in summary.columns
    assert metrics.summarize(runs).equals(metrics.summarize(runs))  # seeded
