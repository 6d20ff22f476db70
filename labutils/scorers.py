"""Correctness scoring: plain functions that say whether one answer passes, and `score(runs, scorers)`.

A scorer is any function of the answer text, or of the text and its `Cell` (the axis values, sample and
seed), returning True/False. Give scorers to `Grid(..., scorers=[...])` or `lab.sweep(..., scorers=[...])`
and `runs` gets one boolean column per scorer (named after the scorer; NA for failed calls);
`summarize` then reports each scorer's pass rate per cell with a Wilson interval (`<name>_rate`,
`<name>_lo`, `<name>_hi`), and every table, plot and comparison reads those columns like any metric.

    >>> in_format = one_of(["positive", "negative"])
    >>> in_format("Positive.")
    True
    >>> correct = equals("negative")
    >>> correct("positive")
    False

Taught in notebooks/07_use_cases.ipynb.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from .errors import ParameterError
from .params import axes as axis_names
from .params import shown
from .runs import Cell

Scorer = Callable[..., bool]


def as_label(text: str) -> str:
    """The answer as a label: stripped of spaces, quotes and end punctuation, lower-cased."""
    return text.strip().strip(".!?\"'`*").strip().lower()


def named(name: str) -> Callable[[Scorer], Scorer]:
    """Decorator giving a scorer its column name: `@named("short")`."""
    def wrap(fn: Scorer) -> Scorer:
        fn.__name__ = name
        return fn
    return wrap


def one_of(labels: Iterable[str], *, name: str = "in_format") -> Scorer:
    """Passes when the answer, as a label (`as_label`), is exactly one of `labels`."""
    allowed = {as_label(x) for x in labels}

    @named(name)
    def score(text: str) -> bool:
        return as_label(text) in allowed
    return score


def equals(expected: str | Callable[[Cell], str], *, name: str = "correct") -> Scorer:
    """Passes when the answer, as a label, equals `expected` (a string, or a function of the cell giving
    the expected label, for grids whose cells have different right answers)."""
    @named(name)
    def score(text: str, cell: Cell) -> bool:
        want = expected(cell) if callable(expected) else expected
        return as_label(text) == as_label(want)
    return score


def code_block(text: str) -> str:
    """The first fenced code block of an answer (```python ... ```), or the whole answer when there is none."""
    match = re.search(r"```[a-zA-Z]*\n(.*?)(?:```|$)", text, re.S)
    return match.group(1) if match else text


def parses_as_python(*, name: str = "parses") -> Scorer:
    """Passes when the answer (its first fenced block, if any) parses as Python. Never runs it."""
    @named(name)
    def score(text: str) -> bool:
        try:
            ast.parse(code_block(text))
        except (SyntaxError, ValueError):
            return False
        return True
    return score


def valid_json(*, name: str = "valid_json") -> Scorer:
    """Passes when the answer (its first fenced block, if any) is one valid JSON value."""
    @named(name)
    def score(text: str) -> bool:
        try:
            json.loads(code_block(text))
        except ValueError:
            return False
        return True
    return score


def contains(needle: str, *, name: str | None = None) -> Scorer:
    """Passes when the answer contains `needle` (case-sensitive)."""
    @named(name or f"contains {needle!r}")
    def score(text: str) -> bool:
        return needle in text
    return score


MAX_SCORERS = 100


def scorer_table(scorers: Iterable[Scorer] | Mapping[str, Scorer] | None) -> dict[str, Scorer]:
    """`scorers` (one function, a list of named functions, or a dict name -> function) as a dict name -> function;
    a ParameterError naming what is wrong otherwise. A sweep calls it before sending anything."""
    if scorers is None:
        return {}
    if isinstance(scorers, Mapping):
        out = dict(scorers)
    elif callable(scorers) or (isinstance(scorers, (list, tuple)) and len(scorers) <= MAX_SCORERS):
        out = {}
        for fn in [scorers] if callable(scorers) else scorers:
            name = getattr(fn, "__name__", None)
            if not callable(fn):
                raise ParameterError(f"scorers: {shown(fn)} is not a function of the answer text")
            if not isinstance(name, str) or not name or name == "<lambda>":
                raise ParameterError(f"scorers: {shown(fn)} has no name: pass a dict {{'name': fn}} or use "
                                     "scorers.named()")
            if name in out:
                raise ParameterError(f"scorers: two scorers are named {name!r}: give one another name (name=...)")
            out[name] = fn
    else:
        raise ParameterError(f"scorers={shown(scorers)} is not allowed: give a function, a list of up to "
                             f"{MAX_SCORERS} named functions, or a dict {{'name': function}}")
    if len(out) > MAX_SCORERS:
        raise ParameterError(f"scorers: {len(out)} given, at most {MAX_SCORERS} are allowed")
    for name, fn in out.items():
        if not isinstance(name, str) or not name.strip():
            raise ParameterError(f"scorers: the name {shown(name)} is not allowed: a name is a non-empty string")
        if not callable(fn):
            raise ParameterError(f"scorers: scorer {name!r} is not a function: {shown(fn)}")
    return out


_as_dict = scorer_table


def _takes_cell(fn: Scorer) -> bool:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def cell_of(row: pd.Series) -> Cell:
    """The `Cell` a `runs` row came from (its axis values, sample and seed)."""
    values = {k: (None if pd.isna(row[k]) else row[k]) for k in axis_names() if k in row.index}
    seed = row.get("seed")
    return Cell(values, int(row.get("sample", 0) or 0), None if seed is None or pd.isna(seed) else int(seed))


def score(runs: pd.DataFrame, scorers: Iterable[Scorer] | Mapping[str, Scorer] | None) -> pd.DataFrame:
    """A copy of `runs` with one column per scorer: True/False per answer (pandas "boolean"), NA where the call failed.
    The names are kept in `runs.attrs["scorers"]`, which `summarize` reads."""
    table = scorer_table(scorers)
    out = runs.copy()
    if not table:
        return out
    ok = out["error"].isna() if "error" in out.columns else pd.Series(True, index=out.index)
    for name, fn in table.items():
        if name in out.columns and name not in out.attrs.get("scorers", []):
            raise ParameterError(f"scorer {name!r} clashes with the runs column of that name: rename it")
        with_cell = _takes_cell(fn)
        vals: list[Any] = []
        for (_, r), good in zip(out.iterrows(), ok):
            if not good or not isinstance(r["text"], str):
                vals.append(None)
            else:
                vals.append(bool(fn(r["text"], cell_of(r)) if with_cell else fn(r["text"])))
        out[name] = pd.Series(pd.array(vals, dtype="boolean"), index=out.index)  # NA: the call failed
    out.attrs["scorers"] = [*[s for s in out.attrs.get("scorers", []) if s not in table], *table]
    return out


__all__ = ["Scorer", "as_label", "cell_of", "code_block", "contains", "equals", "named", "one_of",
           "parses_as_python", "score", "valid_json"]
