"""DRY (Don't Repeat Yourself) predicted: its search of the context against llama.cpp's own known-answer
tables (tests/test-sampling.cpp) and a brute-force reference, its sequence breakers (one-token and
spanning tokens), its place in the chain; offline against scripted engines (an honest one passes, one that
ignores DRY or its breakers is caught); live, the prediction against the server's own post-chain
probabilities for many settings, and against seeded draws of the lesson's conversation."""

from __future__ import annotations

import numpy as np
import pytest

from labutils.client.request import request_fields
from labutils.errors import LabError, ParameterError
from labutils.params import check
from labutils.sampler import chain, gof
from labutils.sampler.check import OTHER, check_sampler
from labutils.sampler.dry import Context, dry_penalty, dry_scan
from labutils.sampler.grid import SamplerGrid
from labutils.sampler.prediction import predict, prompt_tokens, server_view

from .test_chain import LIVE_N, TRUE, Engine, sampler_grid, scripted


def ids(*tokens: int) -> Context:
    return Context(tuple(str(t) for t in tokens))


# llama.cpp's tests/test-sampling.cpp, test_dry: (probs, last tokens, expected probs, multiplier, base,
# allowed length, last n, one-token breakers); a token id i is the piece str(i) here
LLAMA_CPP_TABLE = [
    ([0.25] * 4, (0, 1), [0.25] * 4, 1.0, 1.1, 2, 4, ()),
    ([0.25] * 4, (0, 1, 2, 0, 1), [0.296923, 0.296923, 0.109232, 0.296923], 1.0, 1.1, 2, 5, ()),
    ([0.2] * 5, (0, 1, 3, 4, 0, 1), [0.2] * 5, 1.0, 1.1, 2, 6, ("3",)),
    ([0.2] * 5, (0, 1, 2, 0, 1), [0.241818, 0.241818, 0.032727, 0.241818, 0.241818], 2.0, 1.1, 2, 5, ()),
    ([0.2] * 5, (0, 1, 2, 3, 4, 0, 1), [0.2] * 5, 1.0, 1.1, 4, 7, ()),
]


@pytest.mark.parametrize("probs, last, expected, multiplier, base, allowed, last_n, breakers", LLAMA_CPP_TABLE)
def test_dry_matches_llama_cpp_known_answers(probs, last, expected, multiplier, base, allowed, last_n, breakers):
    tokens = [str(i) for i in range(len(probs))]
    settings = {"dry_multiplier": multiplier, "dry_base": base, "dry_allowed_length": allowed,
                "dry_penalty_last_n": last_n, "dry_sequence_breakers": breakers or ("@",)}
    c = chain.run_chain(tokens, np.log(probs), settings, context=ids(*last))
    assert c.final.reindex(tokens).to_numpy() == pytest.approx(expected, abs=1e-5)
    assert [s.name for s in c.stages][:2] == ["candidates", "dry"]


def test_the_repeat_counts_of_llama_cpp_s_worked_example():
    # src/llama-sampler.cpp: last tokens a b c c b c y a b c; repeat counts 0 0 3 1 0 2 0 0 0 0, so emitting
    # c extends a repeat of 3 (a b c -> a b c c), b one of 1 (c -> c b), y one of 2 (b c -> b c y)
    scan = dry_scan(Context(tuple("abccbcyabc")), 1, 64, ("@",))
    assert scan.repeats == {"c": 3, "b": 1, "y": 2} and scan.breaker is None and scan.limit == 10
    assert dry_scan(Context(tuple("abccbcyabc")), 2, 64, ("@",)).repeats == {"c": 3, "y": 2}


def brute_force(tokens: tuple[str, ...], allowed: int, last_n: int, breakers: set[str]) -> dict[str, int]:
    """DRY's targets written from the definition, with none of llama.cpp's structure: for every earlier
    position, the longest run ending there that equals the context's own ending (not reaching back past
    the last one-token breaker), credited to the token that followed it."""
    window = tokens[-last_n:]
    n = len(window)
    after = [i for i, t in enumerate(window) if t in breakers]
    limit = n - 1 - after[-1] if after else n
    if n <= allowed or limit < allowed:
        return {}
    out: dict[str, int] = {}
    for end in range(n - 1):  # a run ending at `end`, followed by window[end + 1]
        run = 0
        while run <= end and window[end - run] == window[n - 1 - run]:
            run += 1
        run = min(run, limit)
        if run >= allowed and window[end + 1] not in breakers:
            out[window[end + 1]] = max(out.get(window[end + 1], 0), run)
    return out


def test_dry_scan_agrees_with_a_brute_force_reference_on_random_contexts():
    rng = np.random.default_rng(3)
    for _ in range(400):
        tokens = tuple(rng.choice(list("abcd|"), size=int(rng.integers(1, 40)), p=[0.3, 0.3, 0.2, 0.15, 0.05]))
        allowed, last_n = int(rng.integers(0, 4)), int(rng.integers(1, 50))
        scan = dry_scan(Context(tokens), allowed, last_n, ("|",))
        assert scan.targets == brute_force(tokens, allowed, last_n, {"|"}), (tokens, allowed, last_n)


def test_a_breaker_that_spans_tokens_limits_a_repeat_only_when_its_tail_follows():
    def chars(text: str) -> list[str]:  # a tokenizer: one token per character
        return list(text)

    # "xy" begins inside the token "ax" (which ends with "x") and goes on with the token "y"
    context = Context(("ax", "y", "b", "c", "Q", "ax", "y", "b", "c"), chars)
    assert context.breaker_tails("ax", ["xy"]) == [("y",)] and context.breaker_tails("xy!", ["xy"]) == [()]
    spanned = dry_scan(context, 2, 64, ["xy"])  # "ax y b c" repeats, but the breaker limits it to "b c"
    assert spanned.breaker == (3, "ax") and spanned.limit == 2 and spanned.targets == {"Q": 2}
    # the same head followed by another token is no breaker: the repeat reaches back through it
    free = dry_scan(Context(("ax", "z", "b", "c", "Q", "ax", "z", "b", "c"), chars), 2, 64, ["xy"])
    assert free.breaker is None and free.targets == {"Q": 4}
    with pytest.raises(ValueError, match="tokenizer is needed"):
        Context(("ax",)).breaker_tails("ax", ["xy"])


def test_a_token_holding_a_breaker_is_never_penalised_and_a_breaker_at_the_end_stops_dry():
    scan = dry_scan(Context(("a", "b", "x:", "a", "b")), 2, 64)
    assert scan.repeats == {"x:": 2} and scan.targets == {}  # "x:" holds the breaker ":"
    # a chat prompt ends with the template's newline, a default breaker: DRY does nothing on the first token
    end = dry_scan(Context(("a", "b", "c", "\n", "a", "b", "\n")), 2, 64)
    assert end.limit == 0 and end.targets == {} and "the last token" in end.explain()
    assert "penalises nothing" in end.explain()


def test_the_penalty_grows_as_base_to_the_excess_length_and_is_capped():
    assert dry_penalty(2, 0.8, 1.75, 2) == pytest.approx(0.8)
    assert dry_penalty(5, 0.8, 1.75, 2) == pytest.approx(0.8 * 1.75**3)
    assert dry_penalty(500, 1.0, 4.0, 2) == pytest.approx(4.0**64)  # exponent capped at log(FLT_MAX) / log 4
    assert dry_penalty(500, 1.0, 1.0, 2) == 1.0


def test_dry_comes_after_the_penalties_and_before_the_cuts():
    context = Context(("L", "The", "B", "La", "L", "The"))  # "L The" repeats, followed by "B" before
    lp = np.log(list(TRUE.values()))
    settings = {"dry_multiplier": 3.0, "dry_allowed_length": 2, "top_k": 2, "presence_penalty": 0.5}
    c = chain.run_chain(list(TRUE), lp, settings, seen={"La": 1}, context=context)
    assert [s.name for s in c.stages][:4] == ["candidates", "penalties", "dry", "top_k"]
    assert c.dry_penalties() == {"B": pytest.approx(3.0)} and list(c.final.index) == ["L", "The"]
    assert c.rerun({"dry_multiplier": 0.0}).dry is None  # off: no stage
    assert "dry" in chain.run_chain(list(TRUE), lp, settings).skipped  # no context: left out and named
    # DRY sinks a kept candidate below tokens the server did not return: not exact
    partial = chain.run_chain(list(TRUE), lp, {"dry_multiplier": 3.0, "top_k": 8}, context=context)
    assert not partial.complete and "penalty" in partial.why


def test_breakers_are_validated_and_sent_as_a_list():
    assert check("dry_sequence_breakers", ["<|im_end|>"]) == ("<|im_end|>",)
    assert request_fields({"dry_sequence_breakers": ("<|im_end|>",)}) == {
        "extra_body": {"dry_sequence_breakers": ["<|im_end|>"]}}
    for bad in ([], [""], "", [1], ["x"] * 17):
        with pytest.raises(ParameterError, match="dry_sequence_breakers"):
            check("dry_sequence_breakers", bad)
    with pytest.raises(ParameterError, match=r"dry_base=0\.5 is not allowed"):
        check("dry_base", 0.5)


# --- scripted engines: an honest one agrees; one that ignores DRY or its breakers is caught ---

CONTEXT = Context(("L", "The", "B", "La", "L", "The"))  # emitting "B" would extend the repeat "L The"
DRY_SET = {"temperature": 1.0, "top_k": 5, "top_p": 1.0, "min_p": 0.0, "dry_multiplier": 2.0,
           "dry_sequence_breakers": ["@"]}


# the same, but the repeated token holds ":", one of the default breakers: with those DRY would do nothing
ENDS_IN_BREAKER = Context(("L", "The:", "B", "La", "L", "The:"))


def checked(engine: Engine, context: Context, monkeypatch):
    """check_sampler against a scripted engine, the prompt's tokens being `context` (as read from an engine)."""
    monkeypatch.setattr("labutils.sampler.prediction.prompt_tokens", lambda lab, prompt: context)
    return check_sampler(scripted(engine), "The capital of France is", 300, concurrency=1, **DRY_SET)


def test_an_engine_that_applies_dry_agrees(monkeypatch):
    res = checked(Engine(context=CONTEXT), CONTEXT, monkeypatch)
    assert res.chain.dry is not None and res.chain.dry_penalties() == {"B": pytest.approx(2.0)}
    assert res.agrees and res.chain.complete and not res.skipped, res.report()


@pytest.mark.parametrize("drop", ["dry_multiplier", "dry_sequence_breakers"])
def test_an_engine_that_ignores_dry_or_its_breakers_is_caught(monkeypatch, drop):
    res = checked(Engine(drop=drop, context=ENDS_IN_BREAKER), ENDS_IN_BREAKER, monkeypatch)
    assert res.chain.dry_penalties() == {"B": pytest.approx(2.0)}
    assert not res.agrees and f"ignored {drop}" in res.diagnosis(), res.report()


def test_a_dry_grid_predicts_the_share_of_tokens_that_would_extend_a_repeat():
    g = sampler_grid(Engine(context=CONTEXT), "dry_multiplier", [0.0, 3.0], 150, context=CONTEXT, top_k=5,
                     dry_sequence_breakers=["@"])
    assert g.metric == "extends_repeat" and g.tokens == {"B"} and g.default_cell == 3.0
    assert g.share(0.0) == pytest.approx(0.054 / sum(list(TRUE.values())[:5]), abs=1e-3) and g.share(3.0) < 0.02
    assert "'B' (would extend a repeat of 2)" in g.forecast() and "dry_multiplier=3: 'B' -3.00" in g.forecast()
    assert g.held()["dry_sequence_breakers"] == [("@",)]
    assert (g.table()["check"] == "agrees").all(), g.sentence()
    with pytest.raises(LabError, match="DRY cannot be predicted"):
        SamplerGrid(chain.run_chain(list(TRUE), np.log(list(TRUE.values())), {}), "dry_multiplier", [0, 1])
    with pytest.raises(ParameterError, match="breakers go in overrides"):
        SamplerGrid(g.base, "dry_sequence_breakers", [["a"], ["b"]])


# --- the live engine ---

QUESTION = "Name a fruit."


@pytest.fixture(scope="module")
def conversation(embedded_stack):
    """The lesson's conversation: a question, the model's own greedy answer, the same question again."""
    import labutils

    lab = labutils.connect()
    earlier = lab.chat(QUESTION, temperature=0, max_tokens=12).text
    return [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": earlier},
            {"role": "user", "content": QUESTION}]


LIVE_DRY = [dict(dry_multiplier=1.0),  # default breakers: the template's last newline stops DRY
            dict(dry_multiplier=0.5, dry_sequence_breakers=["<|im_end|>"]),
            dict(dry_multiplier=0.5, dry_sequence_breakers=["<|im_end|>"], dry_base=2.5, dry_allowed_length=3),
            dict(dry_multiplier=0.05, dry_sequence_breakers=["@"], dry_base=1.2),  # no breaker: a long repeat
            dict(dry_multiplier=0.3, dry_sequence_breakers=["@"], dry_base=1.0, dry_allowed_length=0),
            dict(dry_multiplier=0.5, dry_sequence_breakers=["fruit."], dry_base=1.1),  # a breaker spanning tokens
            dict(dry_multiplier=0.5, dry_sequence_breakers=["fruit!"], dry_base=1.1),  # its tail does not follow
            dict(dry_multiplier=2.0, dry_sequence_breakers=["@"], dry_penalty_last_n=12)]


@pytest.mark.integration
def test_the_prediction_is_what_the_server_samples_from_for_many_dry_settings(lab, conversation):
    base = dict(temperature=1.0, top_k=10, top_p=1.0, min_p=0.0)
    moved = 0
    for settings in LIVE_DRY:
        c = predict(lab, conversation, **base, **settings)
        served = server_view(lab, conversation, **base, **settings)
        assert c.complete and gof.tv_distance(c.final, served) < 0.005, (settings, c.dry.explain())
        moved += gof.tv_distance(c.final, c.rerun({"dry_multiplier": 0.0}).final) > 0.01
    assert moved >= 5  # most of these settings change the distribution: the agreement is not trivial
    assert "the last token" in predict(lab, conversation, **base, dry_multiplier=1.0).dry.explain()


@pytest.mark.integration
def test_dry_prediction_agrees_with_live_draws_and_has_the_power_to_see_dry_ignored(lab, conversation):
    settings = dict(temperature=1.0, top_k=10, top_p=1.0, min_p=0.0, dry_multiplier=0.25,
                    dry_sequence_breakers=["<|im_end|>"])
    res = check_sampler(lab, conversation, LIVE_N, **settings)
    assert res.chain.complete and OTHER not in res.counts.index and not res.skipped
    assert res.fit.p_value > 0.01, res.report()
    ignored = res.chain.rerun({"dry_multiplier": 0.0}).final
    assert gof.power(res.predicted, ignored, res.samples) >= 0.9
    context = prompt_tokens(lab, conversation)
    assert context.tokens[-1] == "\n" and res.chain.context == context
