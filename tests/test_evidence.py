"""`labutils.evidence`: the one call a core lesson makes for a claim that needs many samples.

The sentence logic runs on known sets of answers (pure, no server); the send path on the fake lab (what
is sent, validation before sending); one live test on the real stack.
"""

from __future__ import annotations

import pandas as pd
import pytest

from labutils import ParameterError, evidence
from labutils.intervals import CANT_TELL
from tests.conftest import FakeLab


def _runs(texts, seeds=None):
    seeds = seeds if seeds is not None else list(range(len(texts)))
    return pd.DataFrame({"seed": seeds, "text": texts, "error": [None] * len(texts)})


def test_clear_rise_says_higher_with_a_range_above_zero():
    ra = _runs(["a long answer here"] * 5 + ["Cat."] * 3)
    rb = _runs(["Cat."] * 7 + ["A dog."])
    got = evidence.judge(ra, rb, evidence.one_word, what="one-word answers", names=("no system", "the system"))
    assert got.verdict == "higher"
    assert got.counts == ("3 of 8", "8 of 8")
    assert 0 < got.lo < got.diff < got.hi
    assert "8 of 8 with the system, 3 of 8 with no system (the same 8 seeds)" in got.sentence
    assert "all above 0" in got.sentence and got.sentence.endswith("higher with the system.")


def test_no_clear_difference_says_the_range_includes_zero():
    ra = _runs(["Cat.", "a dog runs", "Cow.", "a big bird", "Fox.", "one two three", "Owl.", "x y z"])
    rb = _runs(["a dog runs", "Cat.", "Cow.", "a big bird", "one two three", "Fox.", "Owl.", "x y z"])
    got = evidence.judge(ra, rb, evidence.one_word, what="one-word answers")
    assert got.verdict == "no clear difference"
    assert got.lo < 0 < got.hi
    assert "includes 0" in got.sentence and "cannot tell the two apart" in got.sentence


def test_too_few_samples_cannot_tell():
    got = evidence.judge(_runs(["a b c"] * 3), _runs(["Cat."] * 3), evidence.one_word, what="one-word answers")
    assert got.verdict == CANT_TELL
    assert "can't tell yet" in got.sentence and "likely between" not in got.sentence


def test_every_pair_alike_is_never_a_zero_width_range():
    # a share: 0 of 6 vs 6 of 6, every pair differs by 1; the paired range would be [+1, +1]
    got = evidence.judge(_runs(["a b c"] * 6), _runs(["Cat."] * 6), evidence.one_word, what="one-word answers")
    assert got.lo < got.hi and got.lo > 0  # each side's own range: wide, still all above 0
    assert got.verdict == "higher" and "+1 and +1" not in got.sentence
    assert "every pair differed alike" in got.sentence
    # a number: every pair differs by exactly 2 words -> can't tell yet, no range shown
    got = evidence.judge(_runs(["a b c"] * 6), _runs(["a b c d e"] * 6), evidence.words, what="words")
    assert got.verdict == CANT_TELL and "likely between" not in got.sentence
    assert "differed by exactly 2" in got.sentence
    # each side one and the same answer on every seed (greedy): more samples would only repeat it, so the
    # sentence must not ask for them
    assert "raise SAMPLES" not in got.sentence and "more samples would only repeat" in got.sentence
    varied = evidence.judge(_runs([f"a b c{i}" for i in range(6)]), _runs([f"a b c d{i} e" for i in range(6)]),
                            evidence.words, what="words")
    assert varied.verdict == CANT_TELL and "raise SAMPLES" in varied.sentence  # texts vary: more may help


def test_same_on_every_seed_is_no_clear_difference_for_a_share():
    got = evidence.judge(_runs(["Cat."] * 6), _runs(["Dog."] * 6), evidence.one_word, what="one-word answers")
    assert got.verdict == "no clear difference" and got.lo < 0 < got.hi


def test_pairs_are_matched_by_seed_and_failures_are_named():
    ra = _runs(["a b", "c d e", "f"], seeds=[1, 2, 3])
    rb = _runs(["x", "y y"], seeds=[3, 1])
    rb.loc[len(rb)] = {"seed": 2, "text": None, "error": "timed out"}
    got = evidence.judge(ra, rb, evidence.words, what="words")
    assert set(got.answers["seed"]) == {1, 3}
    assert got.n == 2 and "1 answer failed and is left out" in got.sentence


def test_pairs_differ_measures_the_set():
    first = evidence.pairs_differ(lambda t: t.split()[0], "first words differ")
    tight, loose = _runs(["Blue sky"] * 8), _runs([f"w{i} x" for i in range(8)])
    got = evidence.judge(tight, loose, first, what="pairs whose first words differ")
    assert got.a == 0 and got.b == 1
    assert got.verdict == CANT_TELL and "gave the same value" not in got.sentence  # alike in every pair: no range


def test_count_sentence_reads_odd_bounds():
    c = evidence.Count("one-word answers", [1.0] * 6, True, 0.61, 1.0, pd.DataFrame())
    assert c.k == 6 and "cannot rule out a share as low as 0.61" in c.sentence


def test_bad_input_is_refused_before_sending():
    lab = FakeLab(text="Cat.")
    req = {"messages": [{"role": "user", "content": "Name an animal."}], "temperature": 0.7}
    with pytest.raises(ParameterError, match="seed"):
        evidence.compare(lab, req, {**req, "seed": 3}, evidence.one_word)
    with pytest.raises(ParameterError, match="temperature=5"):
        evidence.compare(lab, req, {**req, "temperature": 5}, evidence.one_word)
    with pytest.raises(ParameterError, match="measure"):
        evidence.count(lab, req, "one word")
    with pytest.raises(ParameterError, match="samples"):
        evidence.count(lab, req, evidence.one_word, samples=0)
    with pytest.raises(ParameterError, match="messages"):
        evidence.count(lab, {"temperature": 0.7}, evidence.one_word)
    assert lab.client.requests == []


def test_both_sides_get_the_same_seeds(tmp_cache):
    lab = FakeLab(text="Cat.")
    req = {"messages": [{"role": "user", "content": "Name an animal."}], "max_tokens": 8}
    got = evidence.compare(lab, {**req, "temperature": 0.5}, {**req, "temperature": 1.5}, evidence.one_word,
                           samples=4)
    sent = lab.client.requests
    assert len(sent) == 8
    seeds = [r["seed"] for r in sent]
    assert sorted(seeds[:4]) == sorted(seeds[4:]) and len(set(seeds)) == 4
    assert {r["temperature"] for r in sent[:4]} == {0.5} and {r["temperature"] for r in sent[4:]} == {1.5}
    assert got.names == ("temperature=0.5", "temperature=1.5")


@pytest.mark.integration
def test_live_system_prompt_and_temperature(lab):
    """On the real model: at temperature 0 every seed gives the greedy answer, so the two sides are alike on
    every seed (no zero-width range shown); a count of one-word answers comes with a real range."""
    req = {"messages": [{"role": "user", "content": "Name an animal."}], "max_tokens": 16}
    same = evidence.compare(lab, {**req, "temperature": 0}, {**req, "temperature": 0}, evidence.words, samples=4)
    assert same.verdict == CANT_TELL and "gave the same value" in same.sentence
    assert len(set(same.answers.iloc[:, 1])) == 1  # greedy: one answer on every seed
    shout = [{"role": "system", "content": "Answer with one word only."}, *req["messages"]]
    c = evidence.count(lab, {**req, "messages": shout, "temperature": 0.7}, evidence.one_word, samples=6)
    assert c.n == 6 and 0 <= c.lo < c.hi <= 1 and f"{c.k} of 6 answers" in c.sentence


def test_paired_sentence_says_when_more_samples_would_only_repeat():
    """Lesson 13 at its defaults: at temperature 0 both models give one answer for every seed; the paired line
    asked to 'raise SAMPLES', which repeats the same answers."""
    from labutils import intervals, paired

    runs = pd.DataFrame({"seed": [1, 2, 3, 4, 5, 6] * 2, "cell": ["a"] * 6 + ["b"] * 6,
                         "text": ["Paris."] * 6 + ["Lyon is nice."] * 6, "correct": [1.0] * 6 + [0.0] * 6,
                         "error": None})
    d = paired.compare(runs, "correct", {"cell": "a"}, {"cell": "b"})
    assert d.repeats and "raise SAMPLES" not in d.sentence() and "would only repeat" in d.sentence()
    varied = runs.assign(text=[f"t{i}" for i in range(12)])
    assert "raise SAMPLES" in paired.compare(varied, "correct", {"cell": "a"}, {"cell": "b"}).sentence()
    assert intervals.ci_text(0.125, 0.125) == "[0.12, 0.12], no spread: the samples all gave it"
