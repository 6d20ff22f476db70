"""Structured output, measured: how often is an answer valid JSON (and valid against a schema), by temperature,
with and without a constraint (`response_format`)?

`validity(lab, prompt, schema=..., temperatures=[0, 0.7, 1.2], samples=8)` sends every (constraint,
temperature, seed) cell through `Lab.send` and scores each answer with `score`: does it parse as JSON,
and does it match the schema. The constraints compared are "none" (the prompt only asks for JSON),
"json_object" (`response_format={"type": "json_object"}`) and "json_schema" (the schema itself, which
llama-server turns into a grammar). A request the server fails (an HTTP 500, a dropped connection) is a
row with its error, not an exception: the sweep goes on, and the next request opens a new connection.
`summarize_validity` gives one row per cell with a 95% Wilson interval (`intervals.wilson`);
`finished_and_cut` says, per constraint, how many answers max_tokens cut and whether every answer that
finished is valid, which is what a constraint promises. Taught in notebooks/12_structured_output.ipynb.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..client.cache import Cache
from ..client.parallel import Stop, run_all
from ..errors import LabError, ParameterError
from ..intervals import wilson
from ..params import MAX_SAMPLES, check, integer

if TYPE_CHECKING:
    from ..client.lab import Lab

CONSTRAINTS = ("none", "json_object", "json_schema")


def response_format(constraint: str, schema: dict | None = None) -> dict | None:
    """The `response_format` of a constraint name: None, {"type": "json_object"} or a json_schema format."""
    if constraint == "none":
        return None
    if constraint == "json_object":
        return {"type": "json_object"}
    if constraint == "json_schema":
        if schema is None:
            raise ParameterError("the json_schema constraint needs a schema (pass schema=...)")
        return check("response_format", {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    raise ParameterError(f"constraint={constraint!r} is not allowed: use one of {', '.join(CONSTRAINTS)}")


def score(text: str, schema: dict | None = None) -> dict[str, Any]:
    """valid_json (the whole answer parses), valid_schema (None without a schema) and why it failed."""
    try:
        value = json.loads(text)
    except ValueError as e:
        return {"valid_json": False, "valid_schema": False if schema else None, "why": f"not JSON: {e}"}
    if schema is None:
        return {"valid_json": True, "valid_schema": None, "why": ""}
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as e:
        return {"valid_json": True, "valid_schema": False, "why": f"schema: {e.message}"}
    return {"valid_json": True, "valid_schema": True, "why": ""}


def validity(lab: Lab, prompt: str | list[dict], *, schema: dict | str | None = None,
             temperatures: list[float] = (0.0, 0.7, 1.2), samples: int = 8, constraints: tuple = CONSTRAINTS,
             max_tokens: int = 80, system: str | None = None, cache: bool = True) -> pd.DataFrame:
    """One row per answer: constraint, temperature, seed, text, valid_json, valid_schema, why, error.

    Everything is validated before the first request (a schema that is not JSON or not a JSON Schema, a
    bad temperature, samples < 1). Seeds 1..samples are the same in every cell. Every request is seeded, so,
    as in a sweep, its answer is read from and stored in the lab's response cache (`cache=False`: all sent).
    """
    samples = integer("samples", samples, low=1, high=MAX_SAMPLES)
    if not isinstance(cache, bool):
        raise ParameterError(f"cache={cache!r} is not allowed: cache must be True or False")
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as e:
            raise ParameterError(f"schema={schema!r} is not allowed: it is not JSON ({e})") from None
    if schema is not None:
        response_format("json_schema", schema)  # a bad schema fails here, before any request
    temperatures = [check("temperature", t) for t in temperatures]
    formats = {c: response_format(c, schema) for c in constraints}
    cells = [(c, t, s) for c in constraints for t in temperatures for s in range(1, samples + 1)]
    for c, t, s in cells[:1]:
        lab.prepare(prompt, system=system, temperature=t, seed=s, max_tokens=max_tokens, response_format=formats[c])

    def run(cell):
        c, t, s = cell
        return lab.send(prompt, {"temperature": t, "seed": s, "max_tokens": max_tokens,
                                 "response_format": formats[c]}, system=system, cache=store)

    stop, store = Stop(), Cache() if cache else None  # opened once nothing more can be refused
    try:
        done = run_all(run, cells, lab.concurrency, stop=stop)
    finally:
        if store is not None:
            store.close()
    rows = []
    for i, (c, t, s) in enumerate(cells):
        row, answer = {"constraint": c, "temperature": t, "seed": s}, done.get(i)
        if answer is None or isinstance(answer, Exception):  # failed or not sent: the reason, and the rest go on
            why = f"not sent: {stop.cause}" if answer is None else str(answer) if isinstance(
                answer, LabError) else f"unexpected {type(answer).__name__}: {answer}"
            rows.append({**row, "text": None, "valid_json": None, "valid_schema": None, "why": "", "error": why})
        else:
            rows.append({**row, "text": answer.text, **score(answer.text, schema), "error": None,
                         "finish_reason": answer.finish_reason})
    runs = pd.DataFrame(rows)
    runs.attrs.update(schema=schema, prompt=prompt)
    return runs


def summarize_validity(runs: pd.DataFrame, column: str = "valid_json") -> pd.DataFrame:
    """One row per (constraint, temperature): answers, errors, valid share and its 95% Wilson interval."""
    rows = []
    for (c, t), g in runs.groupby(["constraint", "temperature"], sort=False):
        ok = g[g.error.isna()]
        k, n = int(ok[column].fillna(False).astype(bool).sum()), len(ok)
        lo, hi = wilson(k, n)
        rows.append({"constraint": c, "temperature": t, "answers": n, "errors": len(g) - n, "valid": k,
                     "share": k / n if n else math.nan, "low": lo, "high": hi})
    return pd.DataFrame(rows)


def finished_and_cut(runs: pd.DataFrame, column: str = "valid_json") -> pd.DataFrame:
    """One row per constraint: answers, cut (finish_reason 'length'), finished, and how many finished answers
    are valid / invalid. A constraint promises a valid answer *when it finishes*; a cut one is invalid under
    any constraint, so the two are counted apart."""
    ok = runs[runs.error.isna()]
    reason = ok["finish_reason"] if "finish_reason" in ok else pd.Series(None, index=ok.index)
    rows = []
    for c, g in ok.groupby("constraint", sort=False):
        cut = reason[g.index].eq("length")
        valid = g[column].fillna(False).astype(bool)
        rows.append({"constraint": c, "answers": len(g), "cut": int(cut.sum()), "finished": int((~cut).sum()),
                     "finished_valid": int((valid & ~cut).sum()), "finished_invalid": int((~valid & ~cut).sum())})
    return pd.DataFrame(rows)


def plot_validity(summary: pd.DataFrame, title: str = "valid JSON", ax=None):
    """Share of valid answers per temperature, one line per constraint, with 95% Wilson intervals
    (`summarize_validity`). Taught in notebooks/12_structured_output.ipynb."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5)) if ax is None else (ax.figure, ax)
    groups = list(summary.groupby("constraint", sort=False))
    temps = sorted(summary.temperature.unique()) if len(summary) else [0.0]
    step = (min(np.diff(temps)) if len(temps) > 1 else 1.0) * 0.06  # side by side, so equal shares stay visible
    for k, (constraint, g) in enumerate(groups):
        err = [g.share - g.low, g.high - g.share]
        ax.errorbar(g.temperature + (k - (len(groups) - 1) / 2) * step, g.share, yerr=err, marker="o", capsize=3,
                    label=constraint)
    ax.set_xticks(temps)
    ax.set_xlabel("temperature (each constraint drawn a little apart)")
    ax.set_ylabel(f"share {title}")
    ax.set_ylim(-0.05, 1.3)  # shares run 0-1; the band above holds the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    n = int(summary.answers.max()) if len(summary) else 0
    ax.set_title(f"{title}: share of answers (up to {n} per point, 95% intervals)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=len(groups))
    fig.tight_layout()
    return fig


__all__ = ["CONSTRAINTS", "finished_and_cut", "plot_validity", "response_format", "score", "summarize_validity",
           "validity"]
