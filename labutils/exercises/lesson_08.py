"""Exercises of notebooks/08_parameter_grid.ipynb."""

from __future__ import annotations

from types import SimpleNamespace

from .registry import failed, passed, register

# Exercise 08.1: the grid the learner must build (the axes as sets, since their order does not matter).
GRID_08 = {"temperature": {0.0, 1.0}, "top_p": {0.9, 1.0}, "max_tokens": {32}, "samples": 3}


@register("08.1", hint="`labutils.Grid(temperature=[0, 1], top_p=[...], max_tokens=[...], samples=...)`: each axis "
          "is a list, and every combination runs `samples` times; `len(grid)` counts the calls. Four cells times "
          "three samples is twelve calls.",
          solution=SimpleNamespace(temperature=[0.0, 1.0], top_p=[0.9, 1.0], max_tokens=[32], samples=3),
          wrong=SimpleNamespace(temperature=[0.0, 1.0], top_p=[0.9, 1.0], max_tokens=[32], samples=1))
def _(answer):
    if not all(hasattr(answer, a) for a in GRID_08):
        return failed(f"expected a labutils.Grid, got {type(answer).__name__}")
    got = {a: set(getattr(answer, a)) for a in ("temperature", "top_p", "max_tokens")}
    for axis in got:
        if got[axis] != GRID_08[axis]:
            return failed(f"{axis} is {sorted(got[axis], key=str)}; the task asks for {sorted(GRID_08[axis])}.")
    if answer.samples != GRID_08["samples"]:
        return failed(f"samples={answer.samples}: the task asks for 3 answers per cell, so that each cell "
                      "shows a spread, not one anecdote.")
    return passed("2 temperatures x 2 top_p x 1 max_tokens x 3 samples = 12 calls, with the same 3 seeds in "
                  "every cell.")


@register("08.2", hint="`print(list(summary.columns))`. In `runs`, each row has a `finish_reason`; `summary` turns "
          "those into one number per cell: the share (0 to 1) of the cell's answers cut by max_tokens. You plotted "
          "it as a heatmap in section 4.",
          solution="length_frac", wrong="finish_reason")
def _(answer):
    if answer == "length_frac":
        return passed("length_frac = share of a cell's answers cut by max_tokens (finish_reason 'length'); "
                      "1.0 means every answer was cut.")
    if answer == "finish_reason":
        return failed("finish_reason is a column of runs (one answer each); summary condenses it per cell: "
                      "which summary column is the share of 'length'?")
    return failed(f"{answer!r} is not the summary column that measures answers cut by max_tokens.")
