"""The sampler chain's math against hand-computed tables, the goodness-of-fit test, and predicted vs
observed: offline against scripted engines (an honest one passes, a shifted one and one that drops top_k
fail), live on the embedded stack for three parameter sets."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import labutils
from labutils import chain, gof, intervals
from labutils.errors import LabError, ParameterError
from labutils.sampler_check import OTHER, SamplerGrid, check_counts, check_sampler, predict, prompt_window
from labutils.sampling import apply_sampling

from .conftest import FakeLab

TOKENS = ["a", "b", "c"]
LP = np.log([0.5, 0.3, 0.2])


def final(settings, order=chain.ORDER, tokens=TOKENS, lp=LP):
    return chain.run_chain(tokens, lp, settings, order).final.round(4).to_dict()


# --- known answers, computed by hand ---

def test_top_k_keeps_the_k_most_likely_renormalised():
    assert final({"top_k": 2}) == {"a": 0.625, "b": 0.375}
    assert final({"top_k": 0}) == {"a": 0.5, "b": 0.3, "c": 0.2}  # 0 = off


def test_top_p_keeps_until_the_mass_reaches_p():
    assert final({"top_p": 0.75}) == {"a": 0.625, "b": 0.375}
    assert final({"top_p": 0.5}) == {"a": 1.0}  # 0.5 >= 0.5: the first token alone reaches it


def test_min_p_is_relative_to_the_top_token():
    assert final({"min_p": 0.5}) == {"a": 0.625, "b": 0.375}  # threshold 0.25
    assert final({"min_p": 0.61}) == {"a": 1.0}  # threshold 0.305 > 0.3


def test_typical_p_keeps_the_tokens_closest_to_the_entropy():
    # H = 1.0297 nats; |-log p - H| = 0.337 (a), 0.174 (b), 0.580 (c): b is the most typical
    assert final({"typical_p": 0.2}) == {"b": 1.0}
    assert final({"typical_p": 0.7}) == {"b": 0.375, "a": 0.625}  # 0.3 + 0.5 > 0.7


def test_temperature_last_and_greedy_at_zero():
    assert final({"temperature": 0.5}) == {"a": 0.6579, "b": 0.2368, "c": 0.1053}  # p^2 / 0.38
    assert final({"temperature": 0}) == {"a": 1.0}


def test_order_matters_cuts_on_temperature_one_probabilities():
    # llama.cpp: top_p 0.45 on (0.5, 0.3, 0.2) keeps a alone; textbook (T=2 first: 0.416, 0.322, 0.263) keeps a, b
    assert final({"temperature": 2.0, "top_p": 0.45}) == {"a": 1.0}
    textbook = ["temperature", *[s for s in chain.ORDER if s != "temperature"]]
    assert final({"temperature": 2.0, "top_p": 0.45}, textbook) == {"a": 0.5635, "b": 0.4365}


def test_chain_matches_sampling_py_top_p_first_on_random_logits():
    rng = np.random.default_rng(3)
    for _ in range(20):
        lp = np.log(rng.dirichlet(np.ones(12)))
        t, p = float(rng.uniform(0.2, 1.8)), float(rng.uniform(0.1, 0.99))
        mine = chain.run_chain([str(i) for i in range(12)], lp, {"temperature": t, "top_p": p}).final
        other = apply_sampling(lp, t, p, order="top_p_first")  # independent code (labutils.sampling)
        expected = pd.Series(other.after, index=[str(i) for i in range(12)])
        assert np.allclose(mine.reindex(expected.index).fillna(0), expected, atol=1e-6)


def test_stage_table_reports_tokens_and_model_mass_kept():
    c = chain.run_chain(TOKENS, LP, {"top_k": 2, "min_p": 0.61})
    t = c.table().set_index("stage")
    assert t.loc["top_k", "tokens kept"] == 2 and t.loc["top_k", "model mass kept"] == pytest.approx(0.8)
    assert t.loc["min_p", "tokens kept"] == 1 and t.loc["min_p", "model mass kept"] == pytest.approx(0.5)


def test_prediction_is_exact_only_when_no_unseen_token_can_survive():
    lp = np.log(np.linspace(0.05, 0.01, 20))  # 20 candidates holding 60% of the mass
    tokens = [str(i) for i in range(20)]
    assert chain.run_chain(tokens, lp, {"top_k": 20}).complete
    assert chain.run_chain(tokens, lp, {"top_k": 0, "min_p": 0.3}).complete  # cut inside the candidates
    partial = chain.run_chain(tokens, lp, {"top_k": 40, "top_p": 0.95})
    assert not partial.complete and "40.0%" in partial.why


def test_settings_fill_unset_parameters_with_the_server_defaults():
    s = chain.settings_for({"temperature": 1.0}, {"top_k": 40, "min_p": 0.05, "top_p": 0.95})
    assert s == {"temperature": 1.0, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "typical_p": 1.0,
                 "presence_penalty": 0.0, "frequency_penalty": 0.0}
    assert chain.unpredicted({"repeat_penalty": 1.3, "top_k": 5}) == ["repeat_penalty"]
    assert chain.unpredicted({"presence_penalty": 1.0}) == ["presence_penalty"]  # the tokens seen are unknown
    assert chain.unpredicted({"presence_penalty": 1.0, "dry_multiplier": 0.8}, seen_known=True) == ["dry_multiplier"]


def test_presence_and_frequency_penalties_shift_the_logits_of_tokens_seen():
    # a seen once: log 0.5 - 1 -> 0.5/e = 0.1839; renormalised over (0.1839, 0.3, 0.2)
    seen = {"a": 1}
    assert chain.run_chain(TOKENS, LP, {"presence_penalty": 1.0}, seen=seen).final.round(4).to_dict() == {
        "a": 0.2689, "b": 0.4386, "c": 0.2924}
    # a seen twice, frequency 0.5: the same shift of 1
    twice = chain.run_chain(TOKENS, LP, {"frequency_penalty": 0.5}, seen={"a": 2}).final.round(4).to_dict()
    assert twice == {"a": 0.2689, "b": 0.4386, "c": 0.2924}
    # the penalty comes first: top_k then cuts on the penalised logits (a drops out of the top 2)
    c = chain.run_chain(TOKENS, LP, {"presence_penalty": 1.0, "top_k": 2}, seen=seen)
    assert list(c.final.index) == ["b", "c"] and [s.name for s in c.stages][:3] == ["candidates", "penalties", "top_k"]
    assert c.table().set_index("stage").loc["penalties", "tokens kept"] == 3  # a penalty reshapes, cuts nothing
    # without the tokens seen, the stage is left out and named; off, nothing changes
    assert "penalties" in chain.run_chain(TOKENS, LP, {"presence_penalty": 1.0}).skipped
    assert final({"presence_penalty": 0.0}) == final({})
    assert c.rerun({"presence_penalty": 0.0}).final.round(4).to_dict() == {"a": 0.625, "b": 0.375}


def test_a_penalty_that_sinks_a_kept_candidate_below_unseen_tokens_is_not_exact():
    lp = np.log(np.linspace(0.05, 0.01, 20))  # 20 candidates holding 60%: unseen tokens have p <= 0.01
    tokens = [str(i) for i in range(20)]
    mild = chain.run_chain(tokens, lp, {"top_k": 5, "presence_penalty": 0.5}, seen={"0": 1})
    assert mild.complete  # "0" falls to 0.05/e^0.5 = 0.030, still above every unseen token
    deep = chain.run_chain(tokens, lp, {"top_k": 20, "presence_penalty": 3.0}, seen={"0": 1})
    assert not deep.complete and "penalty" in deep.why  # 0.05/e^3 = 0.0025 < 0.01: an unseen one may take its place


# --- goodness of fit ---

@pytest.mark.parametrize("x, df, p", [(3.841, 1, 0.05), (5.991, 2, 0.05), (11.345, 3, 0.01), (23.209, 10, 0.01),
                                      (0.5, 4, 0.9735)])
def test_chi2_tail_matches_the_tables(x, df, p):
    assert gof.chi2_sf(x, df) == pytest.approx(p, abs=2e-4)


def test_fit_pools_small_bins_and_an_impossible_token_fails():
    pred = pd.Series({"a": 0.5, "b": 0.3, "c": 0.19, "d": 0.01})
    good = gof.fit(pd.Series({"a": 50, "b": 30, "c": 19, "d": 1}), pred)
    assert good.p_value > 0.9 and any("pooled" in str(i) for i in good.bins.index)
    bad = gof.fit(pd.Series({"a": 50, "b": 30, "c": 19, "e": 1}), pred)
    assert bad.p_value == 0.0 and bad.impossible == 1 and math.isinf(bad.statistic)
    assert gof.tv_distance(pd.Series({"a": 1.0}), pd.Series({"b": 1.0})) == 1.0


# --- predicted vs observed against scripted engines ---

TRUE = {"L": 0.09, "La": 0.072, "B": 0.054, "The": 0.048, "C": 0.036, "Est": 0.027, "A": 0.026, "I": 0.025}


class Engine:
    """Streams one-token answers like llama-server behind Llama Stack: the top candidates with their real
    log-probabilities, and a first token drawn (from the seed) from the chain's output. `shift` multiplies
    the temperature it really uses; `drop` names a sampler it ignores; `seen` are the prompt's tokens its
    presence/frequency penalties count."""

    def __init__(self, shift: float = 1.0, drop: str | None = None, seen: dict | None = None):
        self.shift, self.drop, self.seen, self.requests = shift, drop, seen, []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, *, model, messages, stream=False, stream_options=None, extra_body=None, **fields):
        self.requests.append(fields)
        params = {**fields, **(extra_body or {})}
        if self.drop:
            params.pop(self.drop, None)
        settings = chain.settings_for({k: params.get(k) for k in chain.LLAMA_DEFAULTS})
        settings["temperature"] *= self.shift
        tokens, lp = list(TRUE), np.log(list(TRUE.values()))
        dist = chain.run_chain(tokens, lp, settings, seen=self.seen).final
        rng = np.random.default_rng(fields.get("seed", 0))
        pick = rng.choice(dist.index, p=dist.to_numpy())
        top = [SimpleNamespace(token=t, logprob=float(v)) for t, v in zip(tokens, lp)]
        content = [SimpleNamespace(token=pick, logprob=float(np.log(TRUE[pick])), top_logprobs=top)]
        choice = SimpleNamespace(index=0, delta=SimpleNamespace(content=pick), finish_reason="length",
                                 logprobs=SimpleNamespace(content=content))
        if not stream:
            raise LabError("post-sampling probabilities are not available here")
        return iter([SimpleNamespace(choices=[choice], usage=None)])


def scripted(engine: Engine) -> FakeLab:
    lab = FakeLab()
    lab.client = engine
    return lab


SETTINGS = {"temperature": 1.0, "top_k": 5, "top_p": 1.0, "min_p": 0.0}


def test_an_honest_engine_agrees():
    res = check_sampler(scripted(Engine()), "The capital of France is", 300, concurrency=1, **SETTINGS)
    assert res.agrees and res.fit.p_value > 0.01 and res.chain.complete
    assert "Agreement" in res.diagnosis() and "TV distance" in res.report()


def test_a_shifted_engine_is_caught_and_the_stage_named():
    res = check_sampler(scripted(Engine(shift=1.8)), "The capital of France is", 300, concurrency=1, **SETTINGS)
    assert not res.agrees and res.fit.p_value < 0.01
    assert "temperature" in res.diagnosis()


def test_an_engine_that_drops_top_k_is_caught():
    res = check_sampler(scripted(Engine(drop="top_k")), "The capital of France is", 200, concurrency=1, **SETTINGS)
    assert not res.agrees and res.fit.impossible > 0
    assert "ignored top_k" in res.diagnosis()


@pytest.mark.parametrize("kwargs, match", [({"samples": 0}, "samples=0"), ({"top_k": -1}, "top_k=-1"),
                                           ({"min_p": 2}, "min_p=2"), ({"temperature": "hot"}, "temperature")])
def test_bad_inputs_fail_before_any_request(kwargs, match):
    lab = FakeLab()
    with pytest.raises(ParameterError, match=match):
        check_sampler(lab, "The capital of France is", **{"samples": 10, **kwargs})
    assert lab.client.requests == []


def test_fields_the_check_sets_itself_are_refused():
    with pytest.raises(LabError, match="seed"):
        check_sampler(FakeLab(), "x", 10, seed=3)


def test_check_counts_tests_draws_already_made():
    base = chain.run_chain(list(TRUE), np.log(list(TRUE.values())), {"top_k": 2, "temperature": 1.0})
    good = check_counts(base, pd.Series({"L": 55, "La": 45}), {"top_k": 2, "temperature": 1.0})
    assert good.agrees and good.samples == 100
    # drawn as if top_k were off: tokens the prediction cut, in their model proportions
    ignored = pd.Series({"L": 24, "La": 19, "B": 14, "The": 13, "C": 10, "Est": 7, "A": 7, "I": 6})
    bad = check_counts(base, ignored, {"top_k": 2, "temperature": 1.0})
    assert not bad.agrees and bad.fit.impossible == 57 and "ignored top_k" in bad.diagnosis()
    unseen = check_counts(base, pd.Series({"L": 50, "La": 45, "zzz": 5}), {"top_k": 2, "temperature": 1.0})
    assert unseen.counts[OTHER] == 5 and "outside the" in unseen.diagnosis()


def sampler_grid(engine: Engine, varied: str, values: list, samples: int, seen=None, **overrides) -> SamplerGrid:
    """A SamplerGrid predicted from TRUE, swept over the scripted `engine` (no cache), and observed."""
    base = chain.run_chain(list(TRUE), np.log(list(TRUE.values())), {}, seen=seen)
    g = SamplerGrid(base, varied, values, 1.0, overrides)
    grid = labutils.Grid(**{varied: values}, **g.held(), samples=samples, scorers=[g.scorer])
    runs = scripted(engine).sweep("The capital of France is", grid, cache=False, progress=False,
                          concurrency=1)
    return g.observe(runs, labutils.summarize(runs))


def test_a_sampler_grid_predicts_then_reads_the_draws_with_intervals():
    g = sampler_grid(Engine(), "top_k", [2, 8], 150)
    pred = g.predicted(150).set_index("top_k")
    assert g.strictest == 2 and pred.loc[2, "tokens kept"] == 2 and pred.loc[2, "predicted removed"] == 0.0
    assert pred.loc[8, "predicted removed"] == pytest.approx(1 - (0.09 + 0.072) / sum(TRUE.values()), abs=1e-3)
    table = g.table().set_index("top_k")
    assert table.loc[2, "observed removed"] == 0.0 and table.loc[8, "observed removed"] > 0.3
    assert (table["check"] == "agrees").all() and table["draws"].tolist() == [150, 150]
    said = g.sentence()
    assert said.startswith("The share of first tokens that top_k=2 removes rises from 0.00 [0.00, 0.")
    assert "predicted 0.00 -> 0.57" in said and "2 of 2 tested cells agree" in said
    assert g.check(2).chain.complete and g.plot() is not None
    assert "top_k=2" in g.forecast() and "from 2 to 8" in g.forecast()


def test_a_sampler_grid_with_too_few_draws_says_it_cannot_tell():
    g = sampler_grid(Engine(), "top_k", [4, 5], 3)
    said = g.sentence()
    assert intervals.CANT_TELL in said and "rises" not in said and "falls" not in said
    assert "too few draws to test" in said and "agree with" not in said


def test_the_sentence_shows_enough_digits_to_see_intervals_that_barely_overlap():
    g = sampler_grid(Engine(), "top_k", [2, 8], 20)
    s = g.summary.set_index("top_k")
    s.loc[2, ["removed_rate", "removed_lo", "removed_hi"]] = [0.0, 0.0, 0.0602]
    s.loc[8, ["removed_rate", "removed_lo", "removed_hi"]] = [0.12, 0.0578, 0.22]
    g.summary = s.reset_index()
    said = g.sentence()
    assert "[0.000, 0.060]" in said and "[0.058, 0.220]" in said and intervals.CANT_TELL in said
    s.loc[8, "removed_lo"] = 0.0611  # apart, though at two decimals both would read 0.06
    g.summary = s.reset_index()
    assert "rises from 0.000 [0.000, 0.060]" in g.sentence() and "[0.061, 0.220]" in g.sentence()


def test_a_sampler_grid_names_an_engine_that_ignores_the_cut():
    g = sampler_grid(Engine(drop="min_p"), "min_p", [0.0, 0.5], 150, top_k=8)
    assert not g.check(0.5).agrees and "ignored min_p" in g.check(0.5).diagnosis()
    assert "min_p=0.5: Disagreement" in g.sentence()


def test_a_penalty_grid_predicts_the_share_of_prompt_tokens():
    seen = {"The": 1, "capital": 1}
    g = sampler_grid(Engine(seen=seen), "presence_penalty", [0.0, 2.0], 150, seen=seen, top_k=8)
    assert g.metric == "repeats_prompt" and g.share(0.0) > g.share(2.0)
    table = g.table().set_index("presence_penalty")
    assert (table["check"] == "agrees").all()
    assert "first tokens that repeat a token of the prompt" in g.sentence()
    with pytest.raises(LabError, match="prompt's tokens are unknown"):
        SamplerGrid(chain.run_chain(list(TRUE), np.log(list(TRUE.values())), {}), "presence_penalty", [0, 1])
    with pytest.raises(ParameterError, match="at least two values"):
        SamplerGrid(g.base, "top_k", [5, 5])


def test_prompt_window_is_none_without_an_engine_or_a_penalty():
    assert prompt_window(FakeLab(), "x", {"presence_penalty": 1.0}) is None  # a remote stack: unknown
    assert prompt_window(FakeLab(), "x", {"repeat_penalty": 1.3}) is None  # nothing modelled to count


# --- the live engine ---

LIVE_SETS = [dict(temperature=1.0, top_k=5, top_p=1.0, min_p=0.0),
             dict(temperature=1.3, top_k=0, top_p=1.0, min_p=0.2),
             dict(temperature=0.7, top_k=20, top_p=0.8, min_p=0.05),
             dict(temperature=1.0, top_k=5, top_p=1.0, min_p=0.0, presence_penalty=1.5)]


@pytest.mark.integration
def test_the_prompt_window_is_the_engine_tokens_of_the_templated_prompt(lab):
    seen = prompt_window(lab, "The capital of France is", {"presence_penalty": 1.0})
    assert {"The", " capital", " France"} <= set(seen) and "user" in set(seen)  # the chat template's tokens too
    last = prompt_window(lab, "The capital of France is", {"presence_penalty": 1.0, "repeat_last_n": 3})
    assert sum(last.values()) == 3 and "The" not in last
    c = predict(lab, "The capital of France is", temperature=1.0, top_k=5, top_p=1.0, min_p=0.0, presence_penalty=1.5)
    assert c.seen == seen and [s.name for s in c.stages][1] == "penalties"


@pytest.mark.integration
@pytest.mark.parametrize("settings", LIVE_SETS, ids=["top_k5", "min_p0.2", "k20_p0.8", "presence1.5"])
def test_prediction_agrees_with_the_live_engine(lab, settings):
    res = check_sampler(lab, "The capital of France is", 100, **settings)
    assert res.chain.complete
    assert OTHER not in res.counts.index
    assert res.fit.p_value > 0.01, res.report()
    if res.server is not None:  # the server's own post-chain probabilities are the prediction
        assert gof.tv_distance(res.predicted, res.server) < 0.01


class Busy(Engine):
    """Times out on every 7th request (a busy shared server); the second try answers."""

    def create(self, **kw):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls % 7 == 0 and kw.get("stream"):
            from labutils.errors import RequestFailed

            raise RequestFailed("request timed out", retryable=True)
        return super().create(**kw)


def test_draws_a_busy_server_times_out_are_retried():
    res = check_sampler(scripted(Busy()), "The capital of France is", 100, concurrency=1, **SETTINGS)
    assert res.samples == 100 and res.lost == 0 and res.agrees


def test_a_server_that_keeps_failing_gives_a_clear_error():
    class Down(Engine):
        def create(self, **kw):
            from labutils.errors import RequestFailed

            raise RequestFailed("request timed out", retryable=True)

    with pytest.raises(LabError, match="draws failed on the server"):
        check_sampler(scripted(Down()), "The capital of France is", 20, concurrency=1, **SETTINGS)
