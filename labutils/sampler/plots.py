"""Plots of the sampler lab: predicted vs observed first tokens, and the chain one stage at a time.

Each function returns the matplotlib Figure (never calls `plt.show()`) and prints nothing; every
title states the probability mass the bars cover. Taught in notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .distribution import show_token

if TYPE_CHECKING:
    from .chain import Chain
    from .check import SamplerCheck
    from .grid import SamplerGrid


def _axes(ax, size=(8, 3.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax


def predicted_vs_observed(res: SamplerCheck, ax=None, top: int = 15):
    """Side-by-side bars per token: predicted probability (with a 95% band for N draws) and observed share."""
    fig, ax = _axes(ax)
    table = res.table().sort_values("predicted", ascending=False).head(top)
    x = np.arange(len(table))
    n = res.samples
    pred = table["predicted"].to_numpy()
    band = 1.96 * np.sqrt(pred * (1 - pred) / n)
    ax.bar(x - 0.2, pred, 0.4, yerr=band, capsize=2, label="predicted (95% band for N draws)", color="#4c72b0")
    ax.bar(x + 0.2, table["observed"].to_numpy(), 0.4, label=f"observed (N={n})", color="#dd8452")
    ax.set_xticks(x, [show_token(t) for t in table.index], rotation=45, ha="right")
    ax.set_ylabel("probability")
    f = res.fit
    ax.set_title(f"first token: TV {res.tv:.3f}, chi-square p = {f.p_value:.3g}; candidates cover "
                 f"{res.chain.coverage:.0%} of the model's mass", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def chain_stages(chain: Chain, top: int = 20):
    """One panel per stage: each candidate's probability after it (0 = cut), with tokens kept and mass kept.
    After XTC firing at random, a panel shows the mixture over its draws and the EXPECTED mass kept."""
    import matplotlib.pyplot as plt

    from .chain import STAGE_PARAM

    frame = chain.frame().head(top)
    stages = list(frame.columns)
    # one probability scale for every stage, so what a stage concentrates shows as taller bars
    fig, axes = plt.subplots(len(stages), 1, figsize=(8, 1.3 * len(stages) + 0.6), sharex=True, sharey=True)
    x = np.arange(len(frame))
    for ax, stage, s in zip(np.atleast_1d(axes), stages, chain.stages):
        ax.bar(x, frame[stage].to_numpy(), color=np.where(frame[stage].to_numpy() > 0, "#4c72b0", "#cccccc"))
        name = STAGE_PARAM.get(stage, stage)  # the parameter the learner sets: typical_p, not the stage's typ_p
        label = ("input" if stage == "candidates" else f"{stage} ({s.setting})" if stage in ("penalties", "xtc")
                 else f"{name}={s.setting}")
        kept = (f"{len(s)} tokens kept, model mass {s.mass:.1%}" if s.mixed is None else
                f"{len(s)} tokens kept on some draws, expected model mass {s.mass:.1%}")
        ax.set_title(f"{label}: {kept}", fontsize=9, loc="left")
        ax.set_ylabel("probability", fontsize=8)
    ax.set_xticks(x, [show_token(t) for t in frame.index], rotation=45, ha="right")
    fig.suptitle(f"The sampler chain, one stage at a time (the {len(chain.stages[0])} candidates cover "
                 f"{chain.coverage:.0%} of the probability)", fontsize=10)
    fig.tight_layout()
    return fig


def grid_reading(grid: SamplerGrid, ax=None):
    """A sampler over a grid: for each value, the observed share of `grid.what` with its 95% Wilson interval
    next to the predicted share, and the distinct first tokens observed next to the number expected."""
    import matplotlib.pyplot as plt

    table = grid.table()
    x = np.arange(len(table))
    if ax is None:
        fig, (ax, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        fig, right = ax.figure, None
    s = grid.summary.set_index(grid.varied).loc[grid.values]
    share = s[f"{grid.metric}_rate"].to_numpy(float)
    err = np.clip(np.nan_to_num(np.vstack([share - s[f"{grid.metric}_lo"].to_numpy(float),
                                           s[f"{grid.metric}_hi"].to_numpy(float) - share])), 0, None)
    ax.errorbar(x, share, yerr=err, fmt="o", capsize=4, color="#dd8452", label="observed (95% interval)")
    ax.plot(x, table[f"predicted {grid.metric}"], "x", markersize=10, color="#4c72b0", label="predicted")
    ax.set_xticks(x, [f"{v:g}" for v in grid.values])
    ax.set_xlabel(grid.varied)
    ax.set_ylabel("share of draws")
    ax.set_ylim(-0.05, 1.3)  # shares run 0-1; the band above 1 holds the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    low, high = int(table.draws.min()), int(table.draws.max())
    draws = f"{low}" if low == high else f"{low} to {high}"
    ax.set_title(f"{grid.what}\n({draws} draws per value, T={grid.temperature:g})", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    if right is not None:
        right.bar(x - 0.2, table["expected distinct"], 0.4, color="#4c72b0", label="expected (from the prediction)")
        right.bar(x + 0.2, table["observed distinct"], 0.4, color="#dd8452", label="observed")
        right.set_xticks(x, [f"{v:g}" for v in grid.values])
        right.set_xlabel(grid.varied)
        right.set_ylabel("distinct first tokens")
        right.set_title("distinct first tokens among the draws", fontsize=9)
        tallest = float(np.nanmax([table["expected distinct"].max(), table["observed distinct"].max(), 1]))
        right.set_ylim(0, tallest * 1.3)  # a band above the tallest bar for the legend, never over a bar
        right.legend(fontsize=8, loc="upper center", ncol=2)
        for panel in (ax, right):  # the same values on the same x scale in both panels
            panel.set_xlim(-0.5, len(x) - 0.5)
    fig.tight_layout()
    return fig


__all__ = ["chain_stages", "grid_reading", "predicted_vs_observed"]
