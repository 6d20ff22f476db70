"""Plots of `summary`, `runs` and next-token distributions; each returns a matplotlib Figure.

Nothing here sends a request, calls plt.show() or touches rcParams. The figures are closed in pyplot
before they are returned, so a notebook shows each exactly once (leave it last in a cell or `display(fig)`),
and `fig.savefig(...)` works as usual. Taught in notebooks/08_parameter_grid.ipynb (grid plots) and
03_top_p.ipynb (`token_distribution`, which lives in `token_plots`) and 04_max_tokens_and_stop.ipynb
(`length_vs_max_tokens` and `cost_fit`, which live in `length_plots`).
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import ParameterError
from ..intervals import interval_columns
from ..params import MODEL, PARAMS, axis_label, cell_columns
from ._frames import WIDTH, label, new_figure, ok_runs, require, select, suptitle, tick, values
from .length_plots import cost_fit, length_vs_max_tokens
from .token_plots import token_distribution, true_nucleus_size

METRIC_LABELS = {
    "words": "words per answer",
    "chars": "characters per answer",
    "distinct_1": "distinct-1 (0-1)",
    "distinct_2": "distinct-2 (0-1)",
    "repetition": "repetition (0-1)",
    "similarity": "similarity of samples (0-1)",
    "unique_frac": "share of distinct answers (0-1)",
    "mode_share": "share of the most common answer (0-1)",
    "first_word_entropy": "first-word entropy (bits)",
    "first_word_spread": "pairs of answers whose first words differ (0-1)",
    "greedy_prefix": "words shared with the greedy answer",
    "length_frac": "share cut by max_tokens (0-1)",
    "completion_tokens": "completion tokens (tokens)",
    "latency_s": "latency (s)",
    "tokens_per_s": "tokens per second of the whole request",
    "n": "successful calls",
    "errors": "failed calls",
}
STATED_RANGE = "(0-1)"  # a label ending so promises a 0-1 scale: heatmaps draw their colour bar on it


def _words(name: str) -> str:
    return name.replace("_", " ")


def metric_label(metric: str) -> str:
    """A readable axis label with units, e.g. 'words_mean' -> 'words per answer, mean'; a column the lab
    does not know reads as words ('same_as_greedy_rate' -> 'same as greedy: pass rate (0-1)'), never as
    its raw name."""
    for suffix, what in (("_mean", ", mean"), ("_std", ", std"), ("_lo", ", 95% interval low"),
                         ("_hi", ", 95% interval high")):
        if metric.endswith(suffix) and metric[: -len(suffix)] in METRIC_LABELS:
            return METRIC_LABELS[metric[: -len(suffix)]] + what
    if metric.endswith("_rate"):
        return f"{_words(metric[: -len('_rate')])}: pass rate (0-1)"
    return METRIC_LABELS.get(metric, _words(metric))


def metric_range(metric: str) -> tuple[float, float] | None:
    """The scale a metric's label states, (0, 1) for '... (0-1)', else None (the data's own range)."""
    return (0.0, 1.0) if STATED_RANGE in metric_label(metric) else None


def number_format(vals: np.ndarray, stated: tuple[float, float] | None = None) -> str:
    """One format for every number of a figure: 2 decimals on a stated 0-1 scale, whole numbers for counts,
    else decimals by the largest value (never 0.0392 beside 0.0098 and 0.00926, as lesson 03 printed)."""
    if stated is not None:
        return ".2f"
    finite = vals[np.isfinite(vals)]
    if finite.size and np.all(finite == np.round(finite)):
        return ".0f"  # counts stay whole: 4, not 4.0
    top = float(np.max(np.abs(finite))) if finite.size else 1.0
    return ".0f" if top >= 100 else ".1f" if top >= 10 else ".2f" if top >= 0.1 else ".3f"


def _numeric_columns(frame: pd.DataFrame, exclude: tuple = ()) -> list[str]:
    return [c for c in frame.columns if c not in exclude and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def _check_metric(summary: pd.DataFrame, metric: str, axes: list[str]) -> None:
    require(summary, axes, "summary")
    available = _numeric_columns(summary, exclude=(*cell_columns(summary.columns), "sample", "seed"))
    if metric not in summary.columns or metric not in available:
        raise ParameterError(f"metric={metric!r} is not a numeric column of summary; available metrics: "
                         f"{', '.join(available)}")


FACETS = (MODEL, "max_tokens")  # the axes that split a figure into panels, when they vary and are not drawn


def _facets(frame: pd.DataFrame, used: tuple[str, ...]) -> tuple[list[str], list[tuple[str | None, pd.DataFrame]]]:
    """The axes that split the figure into panels (model, max_tokens: those that vary and are not already
    drawn), and each panel's (title, rows): one panel per combination of their values."""
    names = [n for n in FACETS if n in frame.columns and n not in used and frame[n].nunique(dropna=False) > 1]
    if not names:
        return [], [(None, frame)]
    panels = [(", ".join(label(n, v) for n, v in zip(names, combo)), part)
              for combo in itertools.product(*(values(frame[n]) for n in names))
              if len(part := _select_all(frame, dict(zip(names, combo))))]
    return names, panels


def _select_all(frame: pd.DataFrame, cell: dict) -> pd.DataFrame:
    for name, v in cell.items():
        frame = select(frame, name, v)
    return frame


def pivot(summary: pd.DataFrame, metric: str, x: str, y: str) -> tuple[np.ndarray, list, list]:
    """The metric as a matrix: rows = sorted `y` values, columns = sorted `x` values (NaN where missing)."""
    xs, ys = values(summary[x]), values(summary[y])
    grid = np.full((len(ys), len(xs)), np.nan)
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            hit = select(select(summary, y, yv), x, xv)
            if len(hit) > 1:
                raise ParameterError(f"summary has {len(hit)} rows for {label(x, xv)}, {label(y, yv)}: split it first "
                                 "(e.g. one max_tokens value) or choose x/y among the columns that vary")
            if len(hit):
                grid[i, j] = float(hit[metric].iloc[0])
    return grid, xs, ys


def heatmap(summary: pd.DataFrame, metric: str, x: str = "temperature", y: str = "top_p") -> Figure:
    """One coloured cell per (x, y) value pair showing `metric`, with the values written in (one number
    format for all); one panel per model and per max_tokens value when there are several, all on one
    colour scale: the one the metric's label states ("(0-1)": 0 to 1), else the data's range.

    >>> fig = heatmap(summary, "distinct_1_mean")  # doctest: +SKIP

    Taught in notebooks/08_parameter_grid.ipynb.
    """
    _check_metric(summary, metric, [x, y])
    facets, panels = _facets(summary, (x, y))
    mats = [(title, *pivot(part, metric, x, y)) for title, part in panels]
    finite = np.concatenate([m[1][np.isfinite(m[1])] for m in mats]) if mats else np.array([])
    stated = metric_range(metric)
    vmin, vmax = stated or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    fmt = number_format(finite if finite.size else np.array([1.0]), stated)
    fig, axes = new_figure(len(mats), height=3.6)
    image = None
    for ax, (title, grid, xs, ys) in zip(axes, mats):
        image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                          aspect="auto")
        ax.set_xticks(range(len(xs)), [tick(a) for a in xs])
        ax.set_yticks(range(len(ys)), [tick(b) for b in ys])
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        for i in range(len(ys)):
            for j in range(len(xs)):
                val = grid[i, j]
                text = "n/a" if np.isnan(val) else format(val, fmt)
                dark = np.isnan(val) or (val - vmin) / (vmax - vmin) < 0.6
                ax.text(j, i, text, ha="center", va="center", fontsize=10, color="white" if dark else "black")
        if title is not None:
            ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=axes, label=metric_label(metric), shrink=0.9)
    where = f"; one panel per {' x '.join(facets)}" if facets else ""
    suptitle(fig, f"{metric_label(metric)} by {x} and {y}{where}", fontsize=11)
    return fig


def metric_lines(summary: pd.DataFrame, metric: str, x: str = "temperature", hue: str = "top_p") -> Figure:
    """`metric` against `x`, one line per `hue` value, error bars = the metric's 95% interval (`_lo`/`_hi`
    columns of `summarize`) when summary has them, else its `_std` (spread over samples); one panel per
    model and per max_tokens value when there are several.

    Taught in notebooks/08_parameter_grid.ipynb.
    """
    _check_metric(summary, metric, [x, hue])
    if summary[x].isna().any():
        raise ParameterError(f"summary[{x!r}] has missing values (the server's default): a line needs numbers on "
                         f"the x axis, so set {x} explicitly in the Grid or choose another x")
    std_col = metric[: -len("_mean")] + "_std" if metric.endswith("_mean") else None
    lo_col, hi_col = interval_columns(metric)
    has_ci = lo_col in summary.columns and hi_col in summary.columns
    has_std = not has_ci and std_col is not None and std_col in summary.columns
    facets, panels = _facets(summary, (x, hue))
    fig, axes = new_figure(len(panels), height=3.8, sharey=True)
    colours = plt.get_cmap("viridis")
    hues = values(summary[hue])
    for ax, (title, part) in zip(axes, panels):
        for k, h in enumerate(hues):
            line = select(part, hue, h).sort_values(x)
            if line.empty:
                continue
            y = line[metric].to_numpy(float)
            if has_ci:  # asymmetric bars from the interval; a missing interval (n < 2) draws no bar
                err = np.nan_to_num(np.vstack([y - line[lo_col].to_numpy(float), line[hi_col].to_numpy(float) - y]))
                err = np.clip(err, 0, None)
            else:
                err = line[std_col].to_numpy(float) if has_std else None
            ax.errorbar(line[x].to_numpy(float), line[metric].to_numpy(float), yerr=err, marker="o", capsize=3,
                        color=colours(k / max(1, len(hues) - 1) * 0.85), label=label(hue, h))
        ax.set_xlabel(axis_label(x))
        ax.grid(alpha=0.3)
        if title is not None:
            ax.set_title(title, fontsize=10)
    axes[0].set_ylabel(metric_label(metric))
    handles, names = axes[-1].get_legend_handles_labels()  # below the panels: never over a point or a bar
    fig.legend(handles, names, title=hue, fontsize=9, loc="outside lower center",
               ncol=len(names) if sum(map(len, names)) < 60 else 1)
    bars = ("\nerror bars: 95% confidence interval of each cell" if has_ci
            else "\nerror bars: ± one std over the samples of each cell" if has_std else "")
    where = f"; one panel per {' x '.join(facets)}" if facets else ""
    suptitle(fig, f"{metric_label(metric)} against {x}, one line per {hue}{where}{bars}", fontsize=11)
    return fig


def cell_labels(frame: pd.DataFrame) -> pd.Series:
    """One short label per row naming its cell, e.g. 'T=0.7 p=0.9 max=64' (only the axes present)."""
    cols = cell_columns(frame.columns)
    return frame[cols].apply(lambda r: " ".join(f"{_short_name(c)}={tick(r[c])}" for c in cols), axis=1)


def _short_name(name: str) -> str:
    return (PARAMS[name].short or name) if name in PARAMS else name


def latency(runs: pd.DataFrame) -> Figure:
    """Latency (s) and completion tokens per second of latency per cell: bars = mean over samples, dots =
    each call. The second includes the request's fixed cost, so short answers look slow: `cost_fit` draws
    the generation speed without it.

    Cached rows carry the latency measured when they were first computed. Taught in notebooks/08_parameter_grid.ipynb.
    """
    ok, dropped = ok_runs(runs, ["latency_s"])
    cells = [c for c in (MODEL, "temperature", "top_p", "max_tokens") if c in ok.columns]
    ok = ok.assign(_cell=cell_labels(ok)).sort_values([*cells], na_position="last")
    order = list(dict.fromkeys(ok["_cell"]))
    fig, axes = new_figure(2, height=max(3.0, 0.9 + 0.32 * len(order)), width=WIDTH, sharey=True)
    pos = {c: i for i, c in enumerate(order)}
    for ax, col, colour, xlabel in ((axes[0], "latency_s", "#1f77b4", "latency (s)"),
                                    (axes[1], "tokens_per_s", "#2ca02c",
                                     "tokens / latency (tokens/s; the fixed cost included)")):
        if col not in ok.columns:
            ax.text(0.5, 0.5, f"runs has no {col} column", ha="center", transform=ax.transAxes)
            continue
        vals = ok[["_cell", col]].dropna()
        means = vals.groupby("_cell", sort=False)[col].mean().reindex(order)
        ax.barh(range(len(order)), means.to_numpy(float), color=colour, alpha=0.45, label="mean over samples")
        ax.scatter(vals[col].to_numpy(float), vals["_cell"].map(pos).to_numpy(float), color=colour, s=16,
                   zorder=3, label="one call")
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")  # lower right hid the long answers' dots (lesson 04)
    axes[0].set_yticks(range(len(order)), order)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("cell")
    note = f" ({dropped} failed calls not shown)" if dropped else ""
    names = ", ".join(f"{_short_name(c)} = {c}" for c in cells if _short_name(c) != c)
    suptitle(fig, f"Latency and speed per cell{note}\n{names}; bars = mean over samples, dots = single calls",
              fontsize=11)
    return fig


__all__ = ["cell_labels", "cost_fit", "heatmap", "latency", "length_vs_max_tokens", "metric_label", "metric_lines",
           "metric_range", "number_format", "pivot",
           "token_distribution", "true_nucleus_size"]
