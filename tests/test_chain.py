"""The sampler chain's math against hand-computed tables, the goodness-of-fit test, and predicted vs
observed: offline against scripted engines (an honest one passes, a shifted one and one that drops top_k
fail; for XTC, an engine that draws as llama.cpp does passes, and ones that ignore XTC, fire it on every
draw or reuse one random number for both draws fail), live on the embedded stack for five parameter sets
(XTC's among them, with its per-seed draws checked against llama.cpp's generator)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import labutils
from labutils import intervals
from labutils.errors import LabError, ParameterError
from labutils.sampler import chain, dry, gof, stages
from labutils.sampler import plots as sampler_plots
from labutils.sampler.check import OTHER, check_counts, check_sampler
from labutils.sampler.distribution import apply_sampling
from labutils.sampler.grid import HELD, SamplerGrid
from labutils.sampler.prediction import _picks, predict, prompt_window

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
                 "presence_penalty": 0.0, "frequency_penalty": 0.0, "xtc_probability": 0.0, "xtc_threshold": 0.1,
                 "dry_multiplier": 0.0, "dry_base": 1.75, "dry_allowed_length": 2, "dry_penalty_last_n": 64,
                 "dry_sequence_breakers": ("\n", ":", '"', "*")}
    assert chain.unpredicted({"repeat_penalty": 1.3, "top_k": 5}) == ["repeat_penalty"]
    assert chain.unpredicted({"xtc_probability": 0.5, "xtc_threshold": 0.2}) == []  # XTC is predicted
    # the penalties and DRY need the prompt's tokens
    assert chain.unpredicted({"presence_penalty": 1.0, "dry_multiplier": 0.8}) == ["presence_penalty", "dry_multiplier"]
    assert chain.unpredicted({"presence_penalty": 1.0, "dry_multiplier": 0.8}, prompt_known=True) == []
    assert chain.unpredicted({"dry_multiplier": 0.8, "dry_penalty_last_n": 0}) == []  # DRY with no window is off


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


# --- XTC: known answers, computed by hand (p = 0.5, 0.3, 0.2) ---

def test_xtc_removes_every_top_choice_but_the_least_likely():
    assert stages.xtc(np.log([0.5, 0.3, 0.2]), 0.25).tolist() == [1, 2]  # a, b >= 0.25: a goes, b stays
    assert stages.xtc(np.log([0.5, 0.3, 0.2]), 0.15).tolist() == [2]  # all three reach it: c alone stays
    assert stages.xtc(np.log([0.5, 0.3, 0.2]), 0.35).tolist() == [0, 1, 2]  # only a reaches it: nothing goes
    assert stages.xtc(np.log([0.5, 0.3, 0.2]), 0.6).tolist() == [0, 1, 2]  # threshold > 0.5: XTC off
    assert stages.xtc(np.log([0.5, 0.3, 0.2]), 0.25, min_keep=3).tolist() == [0, 1, 2]  # would leave 2 < 3
    assert stages.xtc(np.log([0.2, 0.5, 0.3]), 0.25).tolist() == [2, 0]  # by probability, not by position


def test_xtc_firing_on_every_draw_is_the_cut_renormalised():
    assert final({"xtc_probability": 1.0, "xtc_threshold": 0.25}) == {"b": 0.6, "c": 0.4}
    assert final({"xtc_probability": 1.0, "xtc_threshold": 0.15}) == {"c": 1.0}
    assert final({"xtc_probability": 1.0, "xtc_threshold": 0.35}) == {"a": 0.5, "b": 0.3, "c": 0.2}
    assert final({"xtc_probability": 1.0, "xtc_threshold": 0.6}) == {"a": 0.5, "b": 0.3, "c": 0.2}  # off


def test_xtc_at_random_is_the_mixture_of_firing_and_not():
    # q = 0.5, threshold 0.25: half (0.5, 0.3, 0.2), half (0, 0.6, 0.4)
    assert final({"xtc_probability": 0.5, "xtc_threshold": 0.25}) == {"a": 0.25, "b": 0.45, "c": 0.3}
    # q = 0.5, threshold 0.15: half (0.5, 0.3, 0.2), half (0, 0, 1)
    assert final({"xtc_probability": 0.5, "xtc_threshold": 0.15}) == {"a": 0.25, "b": 0.15, "c": 0.6}
    # q = 0.2: 0.8 x (0.5, 0.3, 0.2) + 0.2 x (0, 0.6, 0.4)
    assert final({"xtc_probability": 0.2, "xtc_threshold": 0.25}) == {"a": 0.4, "b": 0.36, "c": 0.24}
    assert final({"xtc_probability": 0.0, "xtc_threshold": 0.25}) == final({})  # off
    c = chain.run_chain(TOKENS, LP, {"xtc_probability": 0.5, "xtc_threshold": 0.25})
    assert [(w, f.round(4).to_dict()) for w, f in c.branches] == [(0.5, {"a": 0.5, "b": 0.3, "c": 0.2}),
                                                                  (0.5, {"b": 0.6, "c": 0.4})]
    assert len(chain.run_chain(TOKENS, LP, {"top_k": 2}).branches) == 1


def test_xtc_then_temperature_mixes_the_two_tempered_branches():
    # T = 0.5 after XTC: not fired (0.25, 0.09, 0.04)/0.38 = (0.6579, 0.2368, 0.1053); fired (0.09, 0.04)/0.13
    # = (0, 0.6923, 0.3077); half of each
    assert final({"xtc_probability": 0.5, "xtc_threshold": 0.25, "temperature": 0.5}) == {
        "a": 0.3289, "b": 0.4646, "c": 0.2065}
    # greedy after XTC: a when it does not fire, b when it does
    assert final({"xtc_probability": 0.5, "xtc_threshold": 0.25, "temperature": 0}) == {"a": 0.5, "b": 0.5}


def test_xtc_reads_temperature_one_probabilities_of_the_candidates_left():
    # llama.cpp's order: XTC on (0.5, 0.3, 0.2) removes a (b, c stay), then T = 2: (sqrt .3, sqrt .2) renormalised
    assert final({"temperature": 2.0, "xtc_probability": 1.0, "xtc_threshold": 0.25}) == {"b": 0.5505, "c": 0.4495}
    # temperature first (T = 2: 0.416, 0.322, 0.263): all three reach 0.25, only c stays
    textbook = ["temperature", *[s for s in chain.ORDER if s != "temperature"]]
    assert final({"temperature": 2.0, "xtc_probability": 1.0, "xtc_threshold": 0.25}, textbook) == {"c": 1.0}
    # renormalised over what top_k left: a 0.625, b 0.375 both reach 0.35 (over all three only a does)
    assert final({"xtc_probability": 1.0, "xtc_threshold": 0.35}) == {"a": 0.5, "b": 0.3, "c": 0.2}
    assert final({"top_k": 2, "xtc_probability": 1.0, "xtc_threshold": 0.35}) == {"b": 1.0}


def test_the_xtc_stage_shows_the_mixture_and_the_expected_mass_kept():
    c = chain.run_chain(TOKENS, LP, {"xtc_probability": 0.5, "xtc_threshold": 0.25})
    t = c.table().set_index("stage")
    assert t.loc["xtc", "setting"] == "probability 0.5, threshold 0.25"
    assert t.loc["xtc", "tokens kept"] == 3  # every token some draw keeps
    assert t.loc["xtc", "model mass kept"] == pytest.approx(0.75)  # 0.5 x 1.0 + 0.5 x (0.3 + 0.2)
    assert t.loc["xtc", "top token"] == "b" and t.loc["xtc", "top token's share"] == pytest.approx(0.45)
    assert c.frame()["xtc"].round(4).to_dict() == {"a": 0.25, "b": 0.45, "c": 0.3}
    assert c.branch_frame().round(4).to_dict("list") == {"XTC does not fire (50% of draws)": [0.5, 0.3, 0.2],
                                                         "XTC fires (50% of draws)": [0.0, 0.6, 0.4],
                                                         "mixture (predicted)": [0.25, 0.45, 0.3]}
    # off, there is no XTC stage (as for the penalties); firing always, a plain cut with its mass
    assert "xtc" not in c.rerun({"xtc_probability": 0.0}).table().stage.tolist()
    always = c.rerun({"xtc_probability": 1.0}).table().set_index("stage")
    assert always.loc["xtc", "tokens kept"] == 2 and always.loc["xtc", "model mass kept"] == pytest.approx(0.5)
    assert sampler_plots.chain_stages(c) is not None


def test_xtc_does_not_make_an_inexact_prediction_exact():
    lp = np.log(np.linspace(0.05, 0.01, 20))  # 20 candidates holding 60%: the nucleus of 0.95 lies beyond them
    tokens = [str(i) for i in range(20)]
    assert not chain.run_chain(tokens, lp, {"top_k": 0, "top_p": 0.95, "xtc_probability": 1.0,
                                            "xtc_threshold": 0.04}).complete
    assert chain.run_chain(tokens, lp, {"top_k": 20, "xtc_probability": 0.5, "xtc_threshold": 0.06}).complete


# --- XTC's random draw: llama.cpp's generator, emulated ---

def llama_draws(seed: int) -> tuple[float, float]:
    """The two numbers llama-server draws for a seeded request's first token, as its llama.cpp does:
    XTC's std::uniform_real_distribution<float> and dist's <double>, each from its own std::mt19937 seeded
    with the seed (libstdc++'s generate_canonical: one 32-bit output for a float, two for a double).
    numpy's legacy MT19937 seeding is std::mt19937's."""
    bg = np.random.MT19937()
    bg._legacy_seeding(int(seed))
    x1, x2 = (int(x) for x in bg.random_raw(2))
    return float(np.float32(x1) / np.float32(2**32)), (float(x1) + float(x2) * 2.0**32) / 2.0**64


def llama_pick(branches, seed: int, q: float, shared: bool = False) -> str:
    """The token llama-server picks for `seed` when XTC fires with probability q, from `Chain.branches`
    (candidates sorted, as llama.cpp has them). `shared=True` is a wrong engine: one number decides whether
    XTC fires and picks the token."""
    chance, u = llama_draws(seed)
    branch = branches[-1][1] if len(branches) == 2 and chance <= np.float32(q) else branches[0][1]
    at = chance if shared else u
    return branch.index[min(int(np.searchsorted(np.cumsum(branch.to_numpy()), at)), len(branch) - 1)]


def test_numpy_reproduces_the_mersenne_twister_llama_cpp_seeds():
    bg = np.random.MT19937()
    bg._legacy_seeding(5489)  # std::mt19937's default seed; the C++ standard fixes its 10000th output
    assert int(bg.random_raw(10000)[-1]) == 4123659995


@pytest.mark.parametrize("scheme", ["check_sampler", "grid"])
def test_xtc_firing_is_independent_of_the_token_draw_over_the_seeds(scheme):
    # the mixture needs it: over the seeds a check sends, XTC's draw (first output) and dist's (mostly the
    # second) must be independent. Seeds as check_sampler draws them (even, and the next for choice 2) or
    # as a Grid derives them; 4000 seeds, fired or not x dist's draw in 8 bins, chi-square test of independence
    from labutils.grid import derive_seed

    seeds = (np.random.default_rng(1).choice(2**30, size=2000, replace=False) * 2).tolist()
    seeds = [s + i for s in seeds for i in (0, 1)] if scheme == "check_sampler" else [derive_seed(0, i)
                                                                                       for i in range(4000)]
    draws = np.array([llama_draws(s) for s in seeds])
    fired = draws[:, 0] <= 0.5
    table = pd.crosstab(fired, np.minimum((draws[:, 1] * 8).astype(int), 7)).to_numpy(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    assert gof.chi2_sf(statistic, 7) > 0.01
    assert abs(fired.mean() - 0.5) < 0.03  # and it fires on a share q of them


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


def _fit_as_written_before(counts: pd.Series, predicted: pd.Series) -> tuple[float, int, float]:
    """`gof.fit` as it was before its binning was shared with `gof.power` (the reference of the test below)."""
    n = int(counts.sum())
    counts, predicted = counts.align(predicted, fill_value=0)
    impossible = int(counts[predicted <= 0].sum())
    e, o = predicted[predicted > 0] * n, counts[predicted > 0].astype(float)
    order = e.sort_values().index
    e, o = e[order], o[order]
    pooled_e, pooled_o, names = 0.0, 0.0, []
    while len(e) and (e.iloc[0] < gof.MIN_EXPECTED or (pooled_e and pooled_e < gof.MIN_EXPECTED)):
        pooled_e += e.iloc[0]
        pooled_o += o.iloc[0]
        names.append(str(e.index[0]))
        e, o = e.iloc[1:], o.iloc[1:]
    rows = pd.DataFrame({"expected": e, "observed": o})
    if names:
        rows.loc[f"(pooled: {len(names)})"] = [pooled_e, pooled_o]
    rows["contribution"] = (rows.observed - rows.expected) ** 2 / rows.expected
    df = len(rows) - 1
    if impossible:
        return math.inf, max(df, 1), 0.0
    if df < 1:
        return 0.0, 0, 1.0
    stat = float(rows.contribution.sum())
    return stat, df, gof.chi2_sf(stat, df)


def test_fit_and_power_bin_exactly_as_the_old_fit_did():
    """`power` bins each simulated experiment once per set of drawn tokens; statistic, df, p-value and the
    power must be exactly those of the per-experiment `fit` it replaced: ties, pooling, impossible tokens."""
    rng = np.random.default_rng(7)
    for case in range(24):
        k = int(rng.integers(2, 14))
        tokens = [f"t{i}" for i in rng.permutation(k)]
        raw = rng.choice([1.0, 2.0, 3.0, 5.0], size=k) if case % 2 else rng.random(k)  # ties in every other case
        predicted = pd.Series(raw / raw.sum(), index=tokens)
        alt = predicted.copy()
        if case % 3 == 0:
            alt[f"x{case}"] = 0.05  # a token the prediction calls impossible
        alt = alt.sample(frac=1.0, random_state=case)  # the alternative's own token order
        n = int(rng.integers(5, 80))
        reference, sims = 0, 15
        sim = np.random.default_rng(case)
        for _ in range(sims):
            draws = pd.Series(sim.multinomial(n, (alt / alt.sum()).to_numpy()), index=alt.index)
            counts = draws[draws > 0]
            old = _fit_as_written_before(counts, predicted)
            new = gof.fit(counts, predicted)
            assert (new.statistic, new.df, new.p_value) == old, (case, counts.to_dict())
            reference += old[2] < 0.01
        assert gof.power(predicted, alt, n, sims=sims, seed=case) == reference / sims, case


# --- predicted vs observed against scripted engines ---

TRUE = {"L": 0.09, "La": 0.072, "B": 0.054, "The": 0.048, "C": 0.036, "Est": 0.027, "A": 0.026, "I": 0.025}


class Engine:
    """Streams one-token answers like llama-server behind Llama Stack: the top candidates with their real
    log-probabilities, and a first token drawn (from the seed) from the chain's output. `shift` multiplies
    the temperature it really uses; `drop` names a sampler it ignores; `seen` are the prompt's tokens its
    presence/frequency penalties count, `context` the prompt's tokens in order its DRY searches."""

    def __init__(self, shift: float = 1.0, drop: str | None = None, seen: dict | None = None,
                 context: dry.Context | None = None):
        self.shift, self.drop, self.seen, self.context, self.requests = shift, drop, seen, context, []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, *, model, messages, stream=False, stream_options=None, extra_body=None, **fields):
        self.requests.append(fields)
        params = {**fields, **(extra_body or {})}
        if self.drop:
            params.pop(self.drop, None)
        settings = chain.settings_for({k: params.get(k) for k in chain.LLAMA_DEFAULTS})
        settings["temperature"] *= self.shift
        tokens, lp = list(TRUE), np.log(list(TRUE.values()))
        pick = self.pick(chain.run_chain(tokens, lp, settings, seen=self.seen, context=self.context),
                         fields.get("seed", 0))
        top = [SimpleNamespace(token=t, logprob=float(v)) for t, v in zip(tokens, lp)]
        content = [SimpleNamespace(token=pick, logprob=float(np.log(TRUE[pick])), top_logprobs=top)]
        choice = SimpleNamespace(index=0, delta=SimpleNamespace(content=pick), finish_reason="length",
                                 logprobs=SimpleNamespace(content=content))
        if not stream:
            raise LabError("post-sampling probabilities are not available here")
        return iter([SimpleNamespace(choices=[choice], usage=None)])

    def pick(self, c: chain.Chain, seed: int) -> str:
        dist = c.final
        return np.random.default_rng(seed).choice(dist.index, p=dist.to_numpy())


class XtcEngine(Engine):
    """Draws as llama-server does (`llama_pick`: XTC's generator decides whether it fires, dist's picks the
    token), or wrongly: `mode` "always" fires XTC on every draw, "shared" decides and picks with one number."""

    def __init__(self, mode: str = "llama", **kw):
        super().__init__(**kw)
        self.mode = mode

    def pick(self, c: chain.Chain, seed: int) -> str:
        q = float(c.settings["xtc_probability"])
        q = 1.0 if self.mode == "always" and q > 0 else q
        return llama_pick(c.branches, seed, q, shared=self.mode == "shared")


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


# XTC at 0.5 over the top 5 of TRUE (0.3, 0.24, 0.18, 0.16, 0.12): L, La, B, The reach 0.15, so a firing removes
# L, La and B; predicted: half (0.3, 0.24, 0.18, 0.16, 0.12), half (0, 0, 0, 0.571, 0.429)
XTC = {**SETTINGS, "xtc_probability": 0.5, "xtc_threshold": 0.15}


def test_an_engine_that_draws_xtc_as_llama_cpp_does_agrees():
    res = check_sampler(scripted(XtcEngine()), "The capital of France is", 300, concurrency=1, **XTC)
    assert res.predicted.round(3).to_dict() == {"L": 0.15, "La": 0.12, "B": 0.09, "The": 0.366, "C": 0.274}
    assert res.agrees and res.chain.complete and len(res.chain.branches) == 2, res.report()


@pytest.mark.parametrize("engine, named", [
    (Engine(drop="xtc_probability"), "ignored xtc_probability"),  # never fires
    (XtcEngine("always"), "XTC fired on every draw"),
    (XtcEngine("shared"), None),  # the firing and the token drawn with one number: no mixture any more
], ids=["ignores_xtc", "always", "one_draw_for_both"])
def test_an_engine_that_gets_xtc_wrong_is_caught(engine, named):
    res = check_sampler(scripted(engine), "The capital of France is", 300, concurrency=1, **XTC)
    assert not res.agrees and res.fit.p_value < 0.01, res.report()
    if named:
        assert named in res.diagnosis()


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


def sampler_grid(engine: Engine, varied: str, values: list, samples: int, seen=None, context=None,
                 **overrides) -> SamplerGrid:
    """A SamplerGrid predicted from TRUE, swept over the scripted `engine` (no cache), and observed."""
    base = chain.run_chain(list(TRUE), np.log(list(TRUE.values())), {}, seen=seen, context=context)
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


def test_an_xtc_grid_predicts_the_share_of_top_choices_falling_as_one_minus_q():
    g = sampler_grid(XtcEngine(), "xtc_probability", [0.0, 0.5], 150, top_k=5, xtc_threshold=0.15)
    assert g.metric == "removed" and g.strictest == 0.5 and g.kept == {"The", "C"}
    assert g.what == "first tokens that XTC (threshold 0.15) removes when it fires"
    assert g.share(0.0) == pytest.approx(0.72) and g.share(0.5) == pytest.approx(0.36)  # (1 - q) x 0.72
    pred = g.predicted(150).set_index("xtc_probability")
    assert pred.loc[0.5, "tokens kept"] == 5 and pred.loc[0.5, "model mass kept"] == pytest.approx(0.192, abs=1e-3)
    assert "removes 'L', 'La', 'B'" in g.forecast() and "mixture" in g.forecast()
    assert g.held()["xtc_threshold"] == [0.15] and "xtc_probability" not in g.held()
    table = g.table().set_index("xtc_probability")
    assert (table["check"] == "agrees").all(), g.sentence()
    assert "falls from" in g.sentence() and "predicted 0.72 -> 0.36" in g.sentence()
    wrong = sampler_grid(XtcEngine("always"), "xtc_probability", [0.0, 0.5], 150, top_k=5, xtc_threshold=0.15)
    assert not wrong.check().agrees and "XTC fired on every draw" in wrong.check().diagnosis()
    with pytest.raises(ParameterError, match="xtc_probability, with xtc_threshold in overrides"):
        SamplerGrid(g.base, "xtc_threshold", [0.1, 0.2])
    with pytest.raises(LabError, match="no draws yet"):
        SamplerGrid(g.base, "xtc_probability", [0.0, 0.5]).per_seed(FakeLab(), "x")
    with pytest.raises(LabError, match="post-sampling probabilities are not available"):
        g.per_seed(scripted(XtcEngine()), "The capital of France is", 2)  # this engine does not report them
    assert g.request(0.5) == {"temperature": 1.0, **HELD, "top_k": 5, "xtc_threshold": 0.15,
                              "xtc_probability": 0.5}


def test_prompt_window_is_none_without_an_engine_or_a_penalty():
    assert prompt_window(FakeLab(), "x", {"presence_penalty": 1.0}) is None  # a remote stack: unknown
    assert prompt_window(FakeLab(), "x", {"repeat_penalty": 1.3}) is None  # nothing modelled to count


# --- the live engine ---

LIVE_N = 60  # seeded draws per live check: enough to catch an ignored sampler nearly always (asserted)

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
    res = check_sampler(lab, "The capital of France is", LIVE_N, **settings)
    assert res.chain.complete
    assert OTHER not in res.counts.index
    assert res.fit.p_value > 0.01, res.report()
    # these N draws have power: an engine ignoring the sampler this set is about would be caught nearly always
    on = [k for k in ("presence_penalty", "top_p", "min_p", "top_k") if settings.get(k, chain.OFF[k]) != chain.OFF[k]]
    subject = on[0]
    ignored = res.chain.rerun({subject: chain.OFF[subject]}).final
    assert gof.power(res.predicted, ignored, res.samples) >= 0.9, subject
    if res.server is not None:  # the server's own post-chain probabilities are the prediction
        assert gof.tv_distance(res.predicted, res.server) < 0.01


# XTC live: over the top 5 (0.30, 0.24, 0.18, 0.16, 0.12) L, La, B and The reach 0.14, so a firing removes L, La, B
XTC_LIVE = dict(temperature=1.0, top_k=5, top_p=1.0, min_p=0.0, xtc_probability=0.5, xtc_threshold=0.14)


@pytest.mark.integration
def test_xtc_prediction_agrees_with_the_live_engine(lab):
    res = check_sampler(lab, "The capital of France is", LIVE_N, **XTC_LIVE)
    assert res.chain.complete and len(res.chain.branches) == 2 and OTHER not in res.counts.index
    assert res.fit.p_value > 0.01, res.report()
    (_, unfired), (_, fired) = res.chain.branches
    # these N draws have power: an engine ignoring XTC, or firing it on every draw, is caught nearly always
    assert gof.power(res.predicted, unfired, res.samples) >= 0.9 and gof.power(res.predicted, fired, res.samples) >= 0.9
    # the share of the top choices a firing removes, (1 - q) x their share unfired, inside the draws' 99% interval
    top = [t for t in unfired.index if t not in fired.index]
    lo, hi = intervals.wilson(int(res.counts.reindex(top).fillna(0).sum()), res.samples, 0.99)
    assert lo <= float(res.predicted[top].sum()) <= hi, res.report()
    if res.server is not None:  # one seeded request's own post-chain probabilities: XTC fired for it, or did not
        assert min(gof.tv_distance(unfired, res.server), gof.tv_distance(fired, res.server)) < 0.01


@pytest.mark.integration
def test_the_live_engine_draws_xtc_and_the_token_per_seed_as_llama_cpp_does(lab):
    # not only in distribution: for each seed, the token llama.cpp's two generators give (`llama_pick`) is
    # the one the server returns, so XTC's draw is the seed's first output and the token's mostly its second
    prompt = "The capital of France is"
    c = predict(lab, prompt, **XTC_LIVE)
    seeds = np.random.default_rng(7).choice(2**30, size=24, replace=False).tolist()
    sent = {**XTC_LIVE, "max_tokens": 1, "logprobs": True, "top_logprobs": 5}
    got = [_picks(lab.send(prompt, {**sent, "seed": s}))[0] for s in seeds]
    assert got == [llama_pick(c.branches, s, 0.5) for s in seeds]
    assert 0 < sum(llama_draws(s)[0] <= 0.5 for s in seeds) < len(seeds)  # both branches were tested


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


def test_the_grid_plots_legends_leave_the_bars_and_points_visible():
    """Lesson 11 at its defaults: with top_k 5 every cell keeps 5 tokens, the bars of expected and observed distinct
    tokens all reach the top, and the legend sat on them."""
    from . import figure_checks

    seen = {"The": 1, "capital": 1}
    g = sampler_grid(Engine(seen=seen), "presence_penalty", [0.0, 1.0, 2.0], 60, seen=seen, top_k=5)
    fig = g.plot()
    assert figure_checks.legend_problems(fig) == []
    assert figure_checks.problems(fig) == []
