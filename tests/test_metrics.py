"""Text metrics and summarize, on hand-computed examples. Pure logic, no server."""

import math

import pandas as pd
import pytest

from labutils import metrics


def test_text_metrics_by_hand():
    m = metrics.text_metrics("the cat saw the cat")
    # words: the cat saw the cat -> 5 words, 3 unique; bigrams: (the cat)(cat saw)(saw the)(the cat) -> 3/4
    assert m["words"] == 5 and m["chars"] == 19
    assert m["distinct_1"] == pytest.approx(3 / 5)
    assert m["distinct_2"] == pytest.approx(3 / 4)
    assert m["repetition"] == pytest.approx(2 / 5)


def test_empty_text():
    assert metrics.text_metrics("") == {"words": 0, "chars": 0, "distinct_1": 0.0, "distinct_2": 0.0,
                                        "repetition": 0.0}


def test_similarity_by_hand():
    assert metrics.similarity("a b c", "a b c") == 1.0
    # bigrams {ab, bc} vs {ab, bd}: 1 shared of 3
    assert metrics.similarity("a b c", "a b d") == pytest.approx(1 / 3)
    assert metrics.similarity("x y", "z w") == 0.0
    assert metrics.pairwise_similarity(["a b c", "a b c", "a b d"]) == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    assert math.isnan(metrics.pairwise_similarity(["only one"]))


def _runs():
    rows = []
    for t, texts in ((0.0, ["a b c", "a b c"]), (1.0, ["a b c", "x y z w"])):
        for i, text in enumerate(texts):
            rows.append({"temperature": t, "top_p": 1.0, "max_tokens": 4, "sample": i, "seed": i, "text": text,
                         "finish_reason": "length" if len(text.split()) == 4 else "stop", "prompt_tokens": 5,
                         "completion_tokens": len(text.split()), "latency_s": 0.5, "tokens_per_s": 2.0,
                         "cached": False, "error": None})
    rows.append({**rows[-1], "sample": 2, "seed": 2, "text": None, "error": "boom"})
    return pd.DataFrame(rows)


def test_summarize_one_row_per_cell():
    summary = metrics.summarize(_runs()).set_index("temperature")
    assert list(summary.index) == [0.0, 1.0]
    assert summary.loc[0.0, "unique_frac"] == 0.5 and summary.loc[1.0, "unique_frac"] == 1.0
    assert summary.loc[0.0, "similarity"] == 1.0 and summary.loc[1.0, "similarity"] == 0.0
    assert summary.loc[1.0, "words_mean"] == 3.5 and summary.loc[1.0, "words_std"] == 0.5
    assert summary.loc[1.0, "length_frac"] == 0.5
    assert summary.loc[1.0, "n"] == 2 and summary.loc[1.0, "errors"] == 1
    assert summary.loc[0.0, "tokens_per_s_mean"] == 2.0


def test_summarize_runs_joined_without_a_new_index():
    # pd.concat of two sweeps repeats index labels: each cell still counts only its own rows
    flipped = _runs().iloc[::-1].reset_index(drop=True)  # label 0 is now a temperature-1.0 row
    summary = metrics.summarize(pd.concat([_runs(), flipped])).set_index("temperature")
    assert summary.loc[0.0, "n"] == 4 and summary.loc[0.0, "errors"] == 0
    assert summary.loc[1.0, "n"] == 4 and summary.loc[1.0, "errors"] == 2


def test_summarize_bad_input():
    with pytest.raises(ValueError, match="runs is empty"):
        metrics.summarize(_runs().iloc[:0])
    with pytest.raises(ValueError, match=r"no column \['text'\]"):
        metrics.summarize(_runs().drop(columns="text"))


def test_common_prefix_words_and_extra_values():
    assert metrics.common_prefix_words("The sea is blue", "the sea is grey") == 3
    assert metrics.common_prefix_words("A", "The") == 0
    runs = pd.DataFrame({"temperature": [0.0, 0.0, 1.0, 1.0], "top_p": None, "max_tokens": None,
                         "sample": [0, 1, 0, 1], "text": ["a b", "a b", "a c", "x"], "error": None,
                         "finish_reason": "stop", "prefix": [2, 2, 1, 0]})
    s = metrics.summarize(runs, values=["prefix"]).set_index("temperature")
    assert s.loc[0.0, "prefix_mean"] == 2 and (s.loc[0.0, "prefix_lo"], s.loc[0.0, "prefix_hi"]) == (2.0, 2.0)
    assert s.loc[1.0, "prefix_mean"] == 0.5


@pytest.mark.parametrize("texts", [list("abcdefgh"), list("aaaabbcd"), list("abcdeaaa"), list("aabbccdd"),
                                   list("aaaaaaab"), list("abcdefghijklmnop")])
def test_set_metric_intervals_contain_the_observed_value(texts):
    """A resample repeats answers, so the raw percentile interval of the distinct share sat below the
    observed share (8 different answers: 1.00 [0.50, 0.88]); the shifted interval holds it."""
    from labutils.metrics import _set_intervals, first_word_entropy, mode_share

    observed = {"unique_frac": len(set(texts)) / len(texts), "mode_share": mode_share(texts),
                "first_word_entropy": first_word_entropy(texts)}
    got = _set_intervals(texts, 0.95)
    for name, value in observed.items():
        lo, hi = got[name]
        assert lo - 1e-9 <= value <= hi + 1e-9, (name, value, lo, hi)


def test_first_word_spread_moves_where_bigram_similarity_cannot():
    """Issue 23: short samples share no word pair, so similarity sits near 0 at every top_p; the first words
    still tell a tight nucleus (all start alike) from a loose one."""
    alike = ["The sea is blue today.", "The ocean glitters.", "the waves roll in."]
    spread = ["Blue water everywhere.", "Waves crash on rocks.", "Sailors love it."]
    assert metrics.pairwise_similarity(alike) == 0.0 and metrics.pairwise_similarity(spread) == 0.0
    assert metrics.first_word_spread(alike) == 0.0
    assert metrics.first_word_spread(spread) == 1.0
    assert metrics.first_word_spread(["The a", "The b", "A c"]) == pytest.approx(2 / 3)
    assert math.isnan(metrics.first_word_spread(["one"]))
    runs = pd.DataFrame({"temperature": [1.0] * 3, "text": spread, "finish_reason": ["stop"] * 3, "error": [None] * 3})
    assert metrics.summarize(runs)["first_word_spread"].iloc[0] == 1.0


def test_cost_per_token_reads_cached_rows():
    """Lesson 04 fitted latency on `not cached` rows only, and crashed on a re-run where every row is cached:
    cached rows carry the latency measured when they were sent, so they count."""
    runs = pd.DataFrame({"completion_tokens": [8, 16, 32, 64], "latency_s": [0.5, 0.8, 1.4, 2.6],
                         "cached": [True] * 4, "error": [None] * 4})
    fit = metrics.cost_per_token(runs)
    assert fit.n == 4 and fit.per_token_s == pytest.approx(0.0375) and fit.fixed_s == pytest.approx(0.2)
    assert fit.tokens_per_s == pytest.approx(1 / 0.0375)
    with pytest.raises(ValueError, match="at least two different lengths"):
        metrics.cost_per_token(runs.assign(completion_tokens=8))
