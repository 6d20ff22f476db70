"""Small helpers for frames and their values, shared by the views (tables, plots, widgets, probe).

Private: the public names stay in the modules that use them. Nothing here sends anything; `new_figure` makes
the empty figure every plot starts from.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ParameterError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def is_missing(v: Any) -> bool:
    """None, pandas' NA or a float NaN: a value the server chose (or that a failed call never got)."""
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def py(v: Any) -> Any:
    """A numpy scalar as the plain Python value (so messages read [8, 16], not [np.int64(8), ...])."""
    return v.item() if hasattr(v, "item") and not isinstance(v, (list, dict, str)) else v


def short(text: Any, width: int = 60) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def require(frame: Any, columns: list[str], what: str = "runs") -> pd.DataFrame:
    """Check that `frame` is a non-empty DataFrame with `columns`; say what is missing and what it has."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame (from lab.sweep or summarize), got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"{what} has no column {', '.join(map(repr, missing))}; it has {list(frame.columns)}")
    if frame.empty:
        raise ParameterError(f"{what} is empty: there is nothing to show (did the sweep run, or did a filter "
                         "remove every row?)")
    return frame


def label(name: str, value: Any) -> str:
    """A header such as 'temperature=0.7'; a missing value (server default) reads 'temperature=default'."""
    if is_missing(value):
        return f"{name}=default"
    return f"{name}={value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else f"{name}={value}"


def tick(v: Any) -> str:
    """A tick label: the number, or 'default' for the server's default."""
    return "default" if is_missing(v) else f"{v:g}"


def values(series: pd.Series) -> list:
    """Sorted distinct values as plain Python; a missing value (the server's default) comes last, as None."""
    vals = [py(v) for v in pd.unique(series)]
    present = sorted(v for v in vals if not is_missing(v))
    return present + ([None] if len(present) < len(vals) else [])


def match(series: pd.Series, value: Any) -> pd.Series:
    """The rows of `series` equal to `value` (missing matches missing)."""
    return series.isna() if is_missing(value) else series == value


def select(frame: pd.DataFrame, name: str, value: Any) -> pd.DataFrame:
    """The rows of `frame` whose column `name` equals `value` (missing matches missing)."""
    return frame[match(frame[name], value)]


def suptitle(fig, text: str, fontsize: float = 11) -> None:
    """The figure's title, each line wrapped to the figure's width so no word runs off it."""
    import textwrap

    per_line = max(20, int(fig.get_figwidth() * 72 / (0.56 * fontsize)))  # ~0.56 em per character
    lines = [w for line in text.split("\n") for w in textwrap.wrap(line, per_line) or [""]]
    fig.suptitle("\n".join(lines), fontsize=fontsize)


WIDTH = 9.5  # inches: fits a notebook cell


def new_figure(ncols: int, height: float, width: float | None = None, sharey: bool = False) -> tuple[Figure, list]:
    """A figure of `ncols` panels in one row (constrained layout), already closed in pyplot, and its axes."""
    import matplotlib.pyplot as plt  # here, not on import: `import labutils` loads no matplotlib

    fig, axes = plt.subplots(1, ncols, figsize=(width or min(WIDTH, 1.5 + 3.6 * ncols), height),
                             layout="constrained", sharey=sharey, squeeze=False)
    plt.close(fig)  # the caller gets it; pyplot forgets it (no double display, no figure pile-up)
    return fig, list(axes[0])


def ok_runs(runs: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """The rows of `runs` that succeeded and have every one of `columns`, and how many were left out."""
    require(runs, columns)
    ok = runs[runs["error"].isna()] if "error" in runs.columns else runs
    ok = ok.dropna(subset=columns)
    if ok.empty:
        raise ParameterError(f"runs has no successful call with {', '.join(columns)} set ({len(runs)} rows, "
                             f"{len(runs) - len(ok)} failed or missing): nothing to plot")
    return ok, len(runs) - len(ok)
