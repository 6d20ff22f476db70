"""The `runs` schema: one row per call, built here and nowhere else.

A row comes from a `Cell` (the axis values, the sample index and its seed) and the call's `Completion`
(or its error); a frame comes from rows. The sweep, the playground's history and `export` all use this
shape, so every table and plot reads any of them. Columns: `model` when the grid compares models, the
core axes (temperature, top_p, max_tokens; None = the server's default), any other axis the grid varies,
then `RESULT_COLUMNS`.
Taught in notebooks/08_parameter_grid.ipynb.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .params import MODEL, core_axes
from .params import axes as axis_names

if TYPE_CHECKING:
    from .client import Completion

RESULT_COLUMNS = ["sample", "seed", "text", "finish_reason", "prompt_tokens", "completion_tokens", "latency_s",
                  "tokens_per_s", "cached", "error"]


@dataclass(frozen=True)
class Cell:
    """One call of a grid: its axis values (name -> value, None = server default; `model` names the model
    when the grid varies it), sample index and seed."""

    values: dict[str, Any] = field(default_factory=dict)
    sample: int = 0
    seed: int | None = None

    def __getattr__(self, name: str) -> Any:
        if name == MODEL or name in axis_names():
            return self.values.get(name)
        raise AttributeError(name)

    def params(self) -> dict[str, Any]:
        """What this cell sends: its axis values and its seed (None values are left to the server); the
        model is not a parameter but the lab that sends it (see `Lab.using`)."""
        return {**{k: v for k, v in self.values.items() if k != MODEL}, "seed": self.seed}


def axis_columns(extra: Iterable[str] = ()) -> list[str]:
    """The axis columns of `runs`: `model` when it is among `extra` (a grid over models), the core axes,
    then the other `extra` axes in the registry's order."""
    wanted = set(core_axes()) | set(extra)
    return [n for n in (MODEL, *axis_names()) if n in wanted]


def columns(extra: Iterable[str] = ()) -> list[str]:
    """Every column of `runs` whose grid also varies the axes `extra`."""
    return [*axis_columns(extra), *RESULT_COLUMNS]


COLUMNS = columns()  # the columns of a sweep over the core axes


def row(cell: Cell, done: Completion | None = None, *, error: str | None = None) -> dict[str, Any]:
    """One `runs` row: the cell's values, then the answer's fields (or only `error` when the call failed)."""
    out: dict[str, Any] = {**cell.values, "sample": cell.sample, "seed": cell.seed,
                           "cached": bool(done.cached) if done is not None else False, "error": error}
    if done is not None:
        out.update(text=done.text, finish_reason=done.finish_reason, prompt_tokens=done.prompt_tokens,
                   completion_tokens=done.completion_tokens, latency_s=done.latency_s, tokens_per_s=done.tokens_per_s)
    return out


def frame(rows: list[dict[str, Any]], extra: Iterable[str] = (), *, leading: list[str] | None = None,
          trailing: list[str] | None = None, **attrs: Any) -> pd.DataFrame:
    """`runs` from rows (see `row`), in schema column order; `attrs` (model, base_url, messages, stop) kept.

    `leading`/`trailing` add columns around the schema (the playground's run number, prompt, ...).
    """
    cols = [*(leading or []), *columns(extra), *(trailing or [])]
    out = pd.DataFrame(rows, columns=cols)
    out["cached"] = out["cached"].fillna(False).astype(bool)
    out.attrs.update(attrs)
    return out


__all__ = ["COLUMNS", "RESULT_COLUMNS", "Cell", "axis_columns", "columns", "frame", "row"]
