"""Lesson 04's plots of `runs`: answer length against the max_tokens limit, and what a token costs.

Each returns a matplotlib Figure and sends nothing (see `plots`). Taught in
notebooks/04_max_tokens_and_stop.ipynb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..params import axis_label
from ._frames import new_figure, ok_runs

STOP_COLOUR, LENGTH_COLOUR = "#1f77b4", "#d62728"


def _count_labels(ax, points: pd.DataFrame, gap: float) -> None:
    """"×n" beside each point of `points` (max_tokens, completion_tokens, count, colour) without two labels meeting:
    within one max_tokens column, a label closer than `gap` (data units, about a text line) to the one below it
    moves to the next free lane (right, left, far right); when all three are taken the marker's size says it."""
    lanes = ((9, "left"), (-9, "right"), (30, "left"))
    for _, column in points.sort_values("completion_tokens").groupby("max_tokens"):
        last = [-np.inf] * len(lanes)  # the highest label so far in each lane
        for _, pt in column.iterrows():
            y = float(pt["completion_tokens"])
            lane = next((i for i, top in enumerate(last) if y - top >= gap), None)
            if lane is None:
                continue
            last[lane] = y
            dx, ha = lanes[lane]
            ax.annotate(f"×{pt['count']}", (pt["max_tokens"], y), textcoords="offset points",
                        xytext=(dx, -4), ha=ha, fontsize=8, color=pt["colour"])


def length_vs_max_tokens(runs: pd.DataFrame) -> Figure:
    """Completion tokens of every answer against its max_tokens, with the y = x limit line: answers on the
    line were cut (finish_reason "length"), answers below it stopped on their own.

    Taught in notebooks/04_max_tokens_and_stop.ipynb.
    """
    ok, dropped = ok_runs(runs, ["max_tokens", "completion_tokens", "finish_reason"])
    fig, (ax,) = new_figure(1, height=4.2, width=7.5)
    limits = np.array(sorted(ok["max_tokens"].unique()), dtype=float)
    top = float(max(limits.max(), ok["completion_tokens"].max()))
    ax.plot([0, top * 1.05], [0, top * 1.05], color="#444444", linestyle="--", linewidth=1,
            label="the limit: completion tokens = max_tokens")
    cut = ok["finish_reason"] == "length"
    labelled = []
    for mask, colour, marker, name in ((~cut, STOP_COLOUR, "o", "stopped on its own"),
                                       (cut, LENGTH_COLOUR, "X", "cut by max_tokens (finish_reason 'length')")):
        sel = ok[mask]
        points = sel.groupby(["max_tokens", "completion_tokens"]).size().reset_index(name="count")
        ax.scatter(points["max_tokens"].to_numpy(float), points["completion_tokens"].to_numpy(float), color=colour,
                   marker=marker, s=(30 + 20 * points["count"]).to_numpy(float), alpha=0.75,
                   label=f"{name}: {len(sel)}", zorder=3)
        labelled.append(points[points["count"] > 1].assign(colour=colour))
    width, height = top * 1.12, top * 1.18  # the axes' spans
    _count_labels(ax, pd.concat(labelled), gap=0.045 * height)
    last, row = -np.inf, 0  # along the top edge, above each limit: never on the points; a limit close to the one
    for m in limits:        # before it (8 and 16 on a scale to 128) takes the other of two lines
        group = ok[ok["max_tokens"] == m]
        n_cut = int((group["finish_reason"] == "length").sum())
        row, last = (1 - row if m - last < 0.09 * width else 0), m
        ax.annotate(f"{n_cut}/{len(group)} cut", (m, 1.0), xycoords=("data", "axes fraction"),
                    textcoords="offset points", xytext=(0, 3 + 12 * row), ha="center", va="bottom", fontsize=9,
                    color=LENGTH_COLOUR if n_cut else "#333333")
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_xlabel(axis_label("max_tokens"))
    ax.set_ylabel("completion tokens (tokens)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    note = f" ({dropped} failed calls not shown)" if dropped else ""
    ax.set_title(f"Answer length against the max_tokens limit{note}\n(marker size = number of answers; "
                 "above each limit: how many it cut)", fontsize=11, pad=28)
    return fig


def cost_fit(runs: pd.DataFrame) -> Figure:
    """Latency against completion tokens, one dot per call, with the fitted line latency = fixed cost +
    tokens x cost per token (`metrics.cost_per_token`); its slope is the generation speed without the
    fixed cost. Taught in notebooks/04_max_tokens_and_stop.ipynb.
    """
    from ..metrics import cost_per_token

    fit = cost_per_token(runs)
    ok, dropped = ok_runs(runs, ["completion_tokens", "latency_s"])
    fig, (ax,) = new_figure(1, height=4.0, width=7.5)
    ax.scatter(ok["completion_tokens"].to_numpy(float), ok["latency_s"].to_numpy(float), s=18, color=STOP_COLOUR,
               alpha=0.7, label=f"one call ({fit.n})", zorder=3)
    xs = np.array([0.0, float(ok["completion_tokens"].max()) * 1.05])
    ax.plot(xs, fit.fixed_s + fit.per_token_s * xs, color=LENGTH_COLOUR, linewidth=1.5,
            label=f"fit: {fit.fixed_s:.2f} s + {fit.per_token_s * 1000:.0f} ms per token")
    ax.set_xlim(0, xs[1])
    ax.set_ylim(0, max(float(ok["latency_s"].max()), fit.fixed_s + fit.per_token_s * xs[1]) * 1.1)
    ax.set_xlabel("completion tokens (tokens)")
    ax.set_ylabel("latency (s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    note = f" ({dropped} failed calls not shown)" if dropped else ""
    ax.set_title(f"What a token costs: the slope is the generation speed, {fit.tokens_per_s:.0f} tokens/s{note}\n"
                 "the line meets 0 tokens at the fixed cost of a request", fontsize=11)
    return fig


__all__ = ["cost_fit", "length_vs_max_tokens"]
