"""The sampler's math (checked against independent computations) and the real next-token distribution."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from labutils import ParameterError
from labutils.sampler import distribution as sampling
from labutils.sampler.distribution import TokenDistribution, apply_sampling, apply_temperature, nucleus

LOGPROBS = [-0.7, -1.2, -2.0, -2.1, -3.5, -6.0]


def softmax_loop(logprobs, t):
    """Temperature written the long way: plain Python, no max-shift."""
    weights = [math.exp(lp / t) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def nucleus_loop(probs, top_p):
    """Nucleus written the long way: walk tokens highest first, stop once the kept mass reaches top_p."""
    total = sum(probs)
    probs = [p / total for p in probs]
    ranked = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    kept, mass = set(), 0.0
    for i in ranked:
        if top_p < 1 and mass >= top_p:
            break
        kept.add(i)
        mass += probs[i]
    return [i in kept for i in range(len(probs))], [probs[i] / mass if i in kept else 0.0 for i in range(len(probs))]


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0, 1.3, 2.0])
def test_temperature_matches_independent_softmax(t):
    got = apply_temperature(LOGPROBS, t)
    assert got == pytest.approx(softmax_loop(LOGPROBS, t), rel=1e-12)
    assert got.sum() == pytest.approx(1.0)


def test_temperature_shape_and_limits():
    p1, p_cold, p_hot = (apply_temperature(LOGPROBS, t) for t in (1.0, 0.3, 2.0))
    # T = 1 gives back the model's probabilities, renormalised over the given tokens
    assert p1 == pytest.approx(np.exp(LOGPROBS) / np.exp(LOGPROBS).sum())
    assert p_cold[0] > p1[0] > p_hot[0]  # cold sharpens, hot flattens
    assert p_cold[-1] < p1[-1] < p_hot[-1]
    greedy = apply_temperature([-2.0, -0.5, -0.5, -3.0], 0)
    assert greedy.tolist() == [0.0, 1.0, 0.0, 0.0]  # t = 0: all mass on the (first) argmax
    big = apply_temperature([-1000.0, -1001.0], 0.05)  # no overflow / underflow to NaN
    assert np.isfinite(big).all() and big[0] > 0.99


def test_temperature_accepts_a_distribution_and_minus_inf():
    dist = TokenDistribution(["b", "a"], [-2.0, -0.1])
    assert dist.tokens == ["a", "b"]  # sorted, most likely first
    assert apply_temperature(dist, 1.0) == pytest.approx(softmax_loop([-0.1, -2.0], 1.0))
    assert apply_temperature([0.0, -np.inf], 1.0).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("top_p", [0.05, 0.3, 0.5, 0.62, 0.9, 0.99, 1.0])
def test_nucleus_matches_independent_walk(top_p):
    rng = random.Random(int(top_p * 100))
    for _ in range(30):
        probs = [rng.random() ** 3 for _ in range(rng.randint(1, 12))]
        kept, renorm = nucleus(probs, top_p)
        want_kept, want_probs = nucleus_loop(probs, top_p)
        assert kept.tolist() == want_kept
        assert renorm == pytest.approx(want_probs, rel=1e-9)


def test_nucleus_is_the_smallest_set_reaching_top_p():
    kept, probs = nucleus([0.1, 0.5, 0.3, 0.1], 0.7)
    assert kept.tolist() == [False, True, True, False]  # 0.5 alone < 0.7, 0.5 + 0.3 >= 0.7
    assert probs.tolist() == pytest.approx([0, 0.625, 0.375, 0])
    assert nucleus([0.1, 0.5, 0.3, 0.1], 0.8).kept.tolist() == [False, True, True, False]  # exactly reached
    assert nucleus([0.2, 0.8], 0.01).kept.tolist() == [False, True]  # at least the top token
    assert nucleus([0.2, 0.8], 1.0).kept.all()


@pytest.mark.parametrize("order", ["temperature_first", "top_p_first"])
def test_apply_sampling_orders(order):
    t, top_p = 1.6, 0.7
    s = apply_sampling(LOGPROBS, t, top_p, order=order)
    base = softmax_loop(LOGPROBS, 1.0)
    hot = softmax_loop(LOGPROBS, t)
    if order == "temperature_first":
        want_kept, want_after = nucleus_loop(hot, top_p)
    else:  # llama.cpp: cut on the temperature-1 probabilities, then temperature on the survivors
        want_kept, _ = nucleus_loop(base, top_p)
        survivors = softmax_loop([lp for lp, k in zip(LOGPROBS, want_kept) if k], t)
        it = iter(survivors)
        want_after = [next(it) if k else 0.0 for k in want_kept]
    assert s.kept.tolist() == want_kept
    assert s.after == pytest.approx(want_after)
    assert s.before == pytest.approx(base) and s.tempered == pytest.approx(hot)
    # the two orders keep different sets here: a hot temperature widens the nucleus only when applied first
    other = apply_sampling(LOGPROBS, t, top_p, order="top_p_first" if order == "temperature_first" else
                           "temperature_first")
    assert other.kept.sum() != s.kept.sum()


def test_bad_values_are_refused_with_the_lab_messages():
    with pytest.raises(ParameterError, match=r"temperature=3 is not allowed: temperature must be a number in \[0, 2\]"):
        apply_temperature(LOGPROBS, 3)
    with pytest.raises(ParameterError, match=r"top_p=0 is not allowed: top_p must be a number in \(0, 1\]"):
        nucleus([0.5, 0.5], 0)
    with pytest.raises(ParameterError, match=r"top_p=1.5 is not allowed"):
        apply_sampling(LOGPROBS, 1.0, 1.5)
    with pytest.raises(ParameterError, match="order='random' is not allowed: order must be one of temperature_first"):
        apply_sampling(LOGPROBS, order="random")
    with pytest.raises(ValueError, match="logprobs is empty"):
        apply_temperature([], 1.0)
    with pytest.raises(ValueError, match="finite"):
        apply_temperature([float("nan"), -1.0], 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        nucleus([0.5, -0.1], 0.5)
    with pytest.raises(ValueError, match="as many tokens as logprobs"):
        TokenDistribution(["a"], [-1.0, -2.0])


def test_show_token_makes_whitespace_visible():
    assert sampling.show_token(" the\n") == "␣the↵"
    assert sampling.show_token("") == "∅"


def test_top_k_is_validated_before_any_request():
    class NoServer:  # a request would fail loudly: validation must come first
        def chat(self, *a, **k):
            raise AssertionError("a request was sent")

    for bad in (0, 21, 2.5, True):
        msg = rf"top_k={bad!r} is not allowed: top_k must be an integer in \[1, 20\]"
        with pytest.raises(ParameterError, match=msg):
            sampling.next_token_distribution(NoServer(), "Hi", top_k=bad)


@pytest.mark.integration
def test_real_next_token_distribution(lab):
    dist = sampling.next_token_distribution(lab, "Name one colour and one animal.", top_k=10)
    assert len(dist) == 10
    assert dist.logprobs == sorted(dist.logprobs, reverse=True)
    assert all(lp <= 0 for lp in dist.logprobs)
    assert 0 < dist.coverage <= 1.0 + 1e-6
    # the token the server picked at temperature 0 is the top one of the distribution
    assert dist.chosen == dist.tokens[0]
    frame = dist.to_frame()
    assert list(frame.columns) == ["token", "logprob", "prob", "prob_renorm"]
    assert frame["prob_renorm"].sum() == pytest.approx(1.0)
    assert "Next-token candidates" in dist._repr_html_()
    # the greedy answer's first token, sent as a separate request, agrees with the distribution's argmax
    greedy = lab.chat("Name one colour and one animal.", temperature=0, max_tokens=3)
    assert greedy.text.strip().startswith(dist.tokens[0].strip())
    # and local temperature 0 puts all mass on that same token
    assert apply_temperature(dist, 0)[0] == 1.0
