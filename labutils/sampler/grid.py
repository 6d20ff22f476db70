"""One sampler over a grid, lesson 10's experiment: the prediction for every value first, then live first
tokens swept with `Grid`, every cell checked against its prediction, and the trend read from 95% intervals.
Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import intervals
from ..errors import LabError, ParameterError
from ..params import check, integer
from . import chain as chain_mod
from . import gof
from .check import ALPHA, SamplerCheck, check_counts
from .dry import DRY
from .prediction import CANDIDATES, post_sampling

if TYPE_CHECKING:
    from ..client import Lab


# What every first-token grid of lesson 10 holds fixed (the varied sampler aside): one-token answers, top_p off,
# top_k 20 (the candidates the API returns, so each prediction is exact), min_p and typical_p off, no penalty,
# XTC off (at llama.cpp's own threshold, 0.1, which is then what an XTC grid uses unless told otherwise).
# Every grid holding the same values shares its base cell: the second grid gets it from the response cache.
HELD = {"top_p": chain_mod.OFF["top_p"], "max_tokens": 1, "top_k": CANDIDATES, **{
    k: chain_mod.OFF[k] for k in ("min_p", "typical_p", "presence_penalty", "xtc_probability", "xtc_threshold")}}
_NEUTRAL = {"frequency_penalty": chain_mod.OFF["frequency_penalty"]}


@dataclass
class SamplerGrid:
    """One sampler, prediction first, then a grid of live first tokens: lesson 10's experiment.

    Built from `base` (a `Chain` whose candidates were fetched once, e.g. by `predict`), the sampler `varied`
    and its `values`, at `temperature` with the rest held (`HELD`, changed by `overrides`). No request is
    sent here: `predicted()` is the chain for each value. `held()` gives the other axes of the `Grid` to
    sweep and `scorer` the pass/fail column it scores: a first token the strictest value removes (for a
    cut: top_k, min_p, typical_p, top_p), a token of the prompt (for a penalty), a token that would extend
    a repeat (for DRY: dry_multiplier, dry_base, ...; the breakers held in overrides), or one of the top choices
    XTC removes when it fires (for xtc_probability, the threshold held: its share falls as 1 - q). After the sweep,
    `observe(runs, summary)` (summary from `labutils.summarize`) adds the observed side: `check(value)` is
    the predicted-vs-observed test of one cell, `table()` both sides with 95% intervals, `sentence()` what
    they allow one to say. Taught in notebooks/10_sampler_chain.ipynb.
    """

    base: chain_mod.Chain
    varied: str
    values: list
    temperature: float = 1.0
    overrides: dict[str, Any] = field(default_factory=dict)
    runs: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    checks: dict[Any, SamplerCheck] = field(default_factory=dict)

    def __post_init__(self) -> None:
        allowed = [k for k in chain_mod.LLAMA_DEFAULTS
                   if k not in ("temperature", "xtc_threshold", "dry_sequence_breakers")]
        if self.varied not in allowed:
            raise ParameterError(f"varied={self.varied!r} is not allowed: a SamplerGrid varies one of "
                                 f"{', '.join(allowed)} (for XTC: xtc_probability, with xtc_threshold in "
                                 "overrides; DRY's sequence breakers go in overrides too)")
        self.values = sorted({check(self.varied, v) for v in self.values})
        if len(self.values) < 2:
            raise ParameterError(f"{self.varied}={self.values} is not allowed: a grid needs at least two values")
        self.temperature = check("temperature", self.temperature)
        self.overrides = {k: check(k, v) for k, v in self.overrides.items()}
        self.penalty = self.varied in chain_mod.PENALTIES
        self.dry = self.varied in DRY
        if self.penalty and self.base.seen is None:
            raise LabError("the prompt's tokens are unknown, so a penalty cannot be predicted: build the base chain "
                           f"with `predict(lab, prompt, {self.varied}=1.0)` on the embedded stack")
        if self.dry and self.base.context is None:
            raise LabError("the prompt's tokens are unknown, so DRY cannot be predicted: build the base chain with "
                           "`predict(lab, prompt, dry_multiplier=1.0)` on the embedded stack")
        self.chains = {v: self.base.rerun(self.settings(v)) for v in self.values}
        self.xtc = self.varied == "xtc_probability"
        if self.penalty:
            self.tokens = set(self.base.seen)
            self.metric, self.what = "repeats_prompt", "first tokens that repeat a token of the prompt"
        elif self.dry:  # the tokens some cell's DRY penalises (those holding a sequence breaker never are)
            self.tokens = {t for c in self.chains.values() for t in c.dry_penalties()}
            self.metric, self.what = "extends_repeat", "first tokens that would extend a repeat (DRY's targets)"
        elif self.xtc:  # every value keeps every token some of the time: score the top choices a firing removes
            self.strictest = max(self.values)
            self.threshold = float(self.chains[self.strictest].settings["xtc_threshold"])
            self.kept = set(self.base.rerun({**self.settings(self.strictest), "xtc_probability": 1.0}).final.index)
            self.metric = "removed"
            self.what = f"first tokens that XTC (threshold {self.threshold:g}) removes when it fires"
        else:
            self.strictest = min(self.values, key=lambda v: (len(self.chains[v].final), self.values.index(v)))
            self.kept = set(self.chains[self.strictest].final.index)
            self.metric = "removed"
            self.what = f"first tokens that {self.varied}={self.strictest:g} removes"

    def settings(self, value: Any) -> dict[str, Any]:
        """The chain settings of the cell where the varied sampler is `value`."""
        held = {k: v for k, v in {**HELD, **_NEUTRAL, **self.overrides}.items() if k in chain_mod.OFF}
        return {**held, "temperature": self.temperature, self.varied: value}

    def held(self) -> dict[str, list]:
        """The Grid's other axes, one value each: `Grid(<varied>=values, **grid.held(), samples=...)`."""
        held = {"temperature": self.temperature, **HELD, **self.overrides}
        held.pop(self.varied, None)
        return {k: [v] for k, v in held.items()}

    def request(self, value: Any) -> dict[str, Any]:
        """The sampling parameters the cell at `value` sends (the held ones and the varied one)."""
        return {**{k: v[0] for k, v in self.held().items()}, self.varied: check(self.varied, value)}

    def per_seed(self, lab: Lab, prompt: str | list[dict], n: int = 6, value: Any = None) -> pd.DataFrame:
        """One seeded request is ONE draw of XTC, never the mixture: for the first `n` seeds of the sweep's cell
        at `value` (default: the strictest), the first token the sweep drew, and what the server itself samples
        from for that seed (its post-chain probabilities, one request each) against each branch of the
        prediction (`Chain.branches`): the TV distance to each, the branch it is (TV < 0.01, else 'neither'),
        and whether that branch can give the token drawn."""
        if self.runs is None:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        value = self.default_cell if value is None else check(self.varied, value)
        c, labels = self.chains[value], self.chains[value].branch_labels()
        cell = self.runs[(self.runs[self.varied] == value) & self.runs["error"].isna()].sort_values("sample")
        rows = []
        for seed, text in cell[["seed", "text"]].head(integer("n", n, low=1)).itertuples(index=False):
            probs, note = post_sampling(lab, prompt, {**self.request(value), "seed": int(seed)})
            if probs is None:
                raise LabError(note)
            tvs = [gof.tv_distance(f, probs) for _, f in c.branches]
            best = int(np.argmin(tvs))
            which = labels[best] if tvs[best] < 0.01 else "neither"
            rows.append({"seed": int(seed), "first token drawn": text,
                         **{f"TV to '{label}'": round(tv, 4) for label, tv in zip(labels, tvs)},
                         "the server samples from": which,
                         "token possible there": which != "neither" and c.branches[best][1].get(text, 0.0) > 0})
        return pd.DataFrame(rows)

    @property
    def scorer(self):
        """The pass/fail column of the sweep (see the class docstring), named after `metric`."""
        if self.penalty or self.dry:
            def hit(text: str) -> bool:
                return text in self.tokens
        else:
            def hit(text: str) -> bool:
                return text not in self.kept
        hit.__name__ = self.metric
        return hit

    def share(self, value: Any) -> float:
        """The predicted share of draws that `scorer` passes, for the cell at `value`."""
        final = self.chains[value].final
        if self.penalty or self.dry:
            return float(final[[t in self.tokens for t in final.index]].sum())
        return float(final[[t not in self.kept for t in final.index]].sum())

    def predicted(self, samples: int | None = None) -> pd.DataFrame:
        """One row per value: tokens kept, model mass kept, the top token and its share, the predicted share
        of `what`, and (given `samples`) the distinct first tokens expected in that many draws."""
        rows = []
        for v, c in self.chains.items():
            final = c.final
            row = {self.varied: v, "tokens kept": len(final), "model mass kept": round(c.stages[-1].mass, 3),
                   "top token": final.idxmax(), "top share": round(float(final.max()), 3),
                   f"predicted {self.metric}": round(self.share(v), 3), "exact": c.complete}
            if samples:
                row["expected distinct"] = round(expected_distinct(final, samples), 1)
            rows.append(row)
        return pd.DataFrame(rows)

    def forecast(self) -> str:
        """The prediction in words, before any draw, with the share of the probability the candidates cover."""
        a, b = self.values[0], self.values[-1]
        ca, cb = self.chains[a], self.chains[b]
        inexact = [c for c in self.chains.values() if not c.complete]
        exact = ("exact for every value: no token outside them survives" if not inexact
                 else f"not exact for every value: {inexact[0].why}")
        return (f"Prediction at temperature {self.temperature:g}, from the {len(self.base.stages[0])} candidates "
                f"holding {self.base.coverage:.0%} of the model's probability ({exact}): from {self.varied}={a:g} "
                f"to {b:g} the tokens kept go from {len(ca.final)} to {len(cb.final)}, the largest probability "
                f"left from {ca.final.max():.2f} to {cb.final.max():.2f}, and the share of {self.what} from "
                f"{self.share(a):.2f} to {self.share(b):.2f}.{self._xtc_forecast()}{self._dry_forecast()}")

    def _dry_forecast(self) -> str:
        """For a DRY grid: what DRY finds in the prompt and what each value subtracts from its targets' logits."""
        if not self.dry:
            return ""
        on = {v: c for v, c in self.chains.items() if c.dry is not None}
        if not on:
            return " DRY is off in every cell (multiplier 0, or no window to search)."
        scan = on[self.default_cell].dry if self.default_cell in on else next(iter(on.values())).dry
        if not self.tokens:
            return f" {scan.explain()}"
        cells = []
        for v, c in self.chains.items():
            penalties = sorted(c.dry_penalties().items(), key=lambda kv: -kv[1])[:3]
            cells.append(f"{self.varied}={v:g}: " + (", ".join(f"{t!r} -{p:.2f}" for t, p in penalties) or "none"))
        return (f" {scan.explain()} A target loses dry_multiplier x dry_base^(repeat length - dry_allowed_length) "
                f"from its logit: {'; '.join(cells)}.")

    def _xtc_forecast(self) -> str:
        """For an XTC grid: which tokens a firing removes, and the mixture the prediction is."""
        if not self.xtc:
            return ""
        unfired = self.base.rerun({**self.settings(self.strictest),
                                   "xtc_probability": chain_mod.OFF["xtc_probability"]}).final
        removed = [t for t in unfired.index if t not in self.kept]
        if not removed:
            return (f" Fewer than two tokens reach XTC's threshold {self.threshold:g}, so a firing removes nothing "
                    "here: lower the threshold.")
        return (f" When XTC fires it removes {', '.join(map(repr, removed))} (every token at or above "
                f"{self.threshold:g} but the least likely of them); it fires on a share q of the draws (its own "
                "random draw), so each prediction is the mixture (1 - q) x the chain without XTC + q x the chain "
                "with the cut.")

    def observe(self, runs: pd.DataFrame, summary: pd.DataFrame) -> SamplerGrid:
        """Add the sweep's `runs` (scored by `scorer`) and their `summary`; every cell is checked against its
        prediction (no request). Returns self."""
        if self.varied not in runs.columns or self.metric not in runs.columns:
            raise ParameterError(f"runs needs the columns {self.varied!r} and {self.metric!r}: sweep a Grid over "
                             f"{self.varied} with scorers=[this.scorer]")
        found = sorted(runs[self.varied].dropna().unique().tolist())
        if found != self.values:
            raise ParameterError(f"the runs vary {self.varied} over {found}, the prediction over {self.values}")
        self.runs, self.summary = runs, summary
        ok = runs[runs["error"].isna()]
        self.checks = {v: check_counts(self.chains[v], ok[ok[self.varied] == v]["text"].value_counts(),
                                       {**self.settings(v)}, runs.attrs.get("messages"))
                       for v in self.values}
        return self

    def check(self, value: Any = None) -> SamplerCheck:
        """The predicted-vs-observed check of one cell (default: the strictest value, or the strongest penalty)."""
        if not self.checks:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        return self.checks[self.default_cell if value is None else check(self.varied, value)]

    @property
    def default_cell(self) -> Any:
        if self.dry:  # the strongest DRY: the smallest predicted share of its targets (allowed_length: the smallest)
            return min(reversed(self.values), key=self.share)
        return self.values[-1] if self.penalty else self.strictest

    def table(self) -> pd.DataFrame:
        """One row per value: predicted and observed share of `what` (95% Wilson interval), distinct first
        tokens (expected and observed), the cell's chi-square p-value and its `verdict`."""
        if self.summary is None:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        lo, hi = intervals.interval_columns(f"{self.metric}_rate")
        s = self.summary.set_index(self.varied)
        rows = []
        for v in self.values:
            c = self.checks[v]
            n = int(s.loc[v, "n"])
            rows.append({self.varied: v, "draws": n, f"predicted {self.metric}": round(self.share(v), 3),
                         f"observed {self.metric}": round(float(s.loc[v, f"{self.metric}_rate"]), 3),
                         "95% interval": intervals.ci_text(s.loc[v, lo], s.loc[v, hi]),
                         "tokens kept": len(self.chains[v].final),
                         "expected distinct": round(expected_distinct(self.chains[v].final, n), 1),
                         "observed distinct": round(float(s.loc[v, "unique_frac"]) * n),
                         "chi-square p": round(c.fit.p_value, 3), "check": self.verdict(v)})
        return pd.DataFrame(rows)

    def verdict(self, value: Any) -> str:
        """'agrees', 'disagrees', or 'too few draws' (every token expected fewer than 5 times: no test)."""
        c = self.checks[value]
        if c.fit.df == 0 and not c.fit.impossible:
            return "too few draws"
        return "agrees" if c.agrees else "disagrees"

    def sentence(self, tests: bool = True) -> str:
        """What the run allows one to say about the trend of `what`, read from the intervals of the two ends
        of the grid (`labutils.intervals.trend`), with the prediction next to it; then (`tests=True`) the
        cells' checks, or (`tests=False`, lesson 10, before the test is taught) only the tokens drawn that the
        prediction says are impossible."""
        if self.summary is None:
            raise LabError("no draws yet: sweep the grid and call observe(runs, summary) first")
        metric = f"{self.metric}_rate"
        lo, hi = intervals.interval_columns(metric)
        s = self.summary.set_index(self.varied)
        a, b = self.values[0], self.values[-1]

        word = intervals.trend(self.summary, metric, self.varied)
        # two decimals, unless at two decimals the intervals would seem to touch when they overlap (or the
        # reverse): then three, so the printed bounds show what the verdict reads
        ends = [s.loc[a, lo], s.loc[a, hi], s.loc[b, lo], s.loc[b, hi]]
        apart = word in ("rises", "falls")
        digits = 2
        if not any(pd.isna(x) for x in ends):
            r = [round(float(x), 2) for x in ends]
            if (r[2] > r[1] or r[0] > r[3]) != apart or r[2] == r[1] or r[0] == r[3]:
                digits = 3

        def cell(v: Any) -> str:
            return f"{s.loc[v, metric]:.{digits}f} {intervals.ci_text(s.loc[v, lo], s.loc[v, hi], digits)}"

        predicted = f"predicted {self.share(a):.2f} -> {self.share(b):.2f}"
        if word in ("rises", "falls"):
            head = (f"The share of {self.what} {word} from {cell(a)} at {self.varied}={a:g} to {cell(b)} at "
                    f"{self.varied}={b:g} (95% intervals; {predicted}).")
        else:
            why = "the intervals overlap, so " if word != intervals.CANT_TELL else ""
            head = (f"The share of {self.what}: {cell(a)} at {self.varied}={a:g}, {cell(b)} at {self.varied}={b:g} "
                    f"({predicted}): {why}this run {intervals.CANT_TELL}.")
        if not tests:
            ok = self.runs[self.runs["error"].isna()]
            cut = {v: int((~ok[ok[self.varied] == v]["text"].isin(self.chains[v].final.index)).sum())
                   for v in self.values if self.chains[v].complete}
            if not cut:
                return head
            if not any(cut.values()):
                return head + " Every token drawn is one the prediction keeps for its cell."
            return head + " Tokens the prediction removes were drawn: " + ", ".join(
                f"{n} at {self.varied}={v:g}" for v, n in cut.items() if n) + " (lesson 11 tests such a disagreement)."
        verdicts = {v: self.verdict(v) for v in self.values}
        tested = [v for v in self.values if verdicts[v] != "too few draws"]
        agree = [v for v in tested if verdicts[v] == "agrees"]
        tail = ""
        if tested:
            tail = (f" The draws of {len(agree)} of {len(tested)} tested cells agree with their prediction "
                    f"(chi-square, {ALPHA:.0%} level).")
        if len(tested) < len(self.values):
            few = ", ".join(f"{self.varied}={v:g}" for v in self.values if v not in tested)
            tail += f" {few}: too few draws to test against the prediction, raise SAMPLES."
        for v in tested:
            if verdicts[v] == "disagrees":
                tail += f" {self.varied}={v:g}: {self.checks[v].diagnosis()}"
        return head + tail

    def plot(self, ax=None):
        from .plots import grid_reading

        return grid_reading(self, ax=ax)


def expected_distinct(probs: pd.Series, n: int) -> float:
    """The number of distinct tokens expected among `n` independent draws from `probs`:
    sum_i 1 - (1 - p_i)^n."""
    p = np.asarray(probs, dtype=float)
    return float((1 - (1 - p) ** n).sum())


__all__ = ["HELD", "SamplerGrid", "expected_distinct"]
