"""The next-token distribution before and after temperature and top_p, as a figure.

Nothing here sends a request; see `plots` for the conventions (each function returns a closed Figure).
Taught in notebooks/02_temperature.ipynb and 03_top_p.ipynb.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..sampler import distribution as sampling
from ._frames import suptitle

WIDTH = 9.5  # inches: fits a notebook cell
KEPT_COLOUR, CUT_COLOUR, BEFORE_COLOUR = "#1f77b4", "#bbbbbb", "#7f7f7f"


def _new(ncols: int, height: float, width: float, sharey: bool = False):
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), layout="constrained", sharey=sharey, squeeze=False)
    plt.close(fig)  # the caller gets it; pyplot forgets it (no double display, no figure pile-up)
    return fig, list(axes[0])


def token_distribution(dist: sampling.TokenDistribution, temperature: float = 1.0, top_p: float = 1.0,
                       order: str = "top_p_first") -> Figure:
    """The next-token candidates before (temperature 1) and after temperature and top_p, both panels on one
    probability scale so the reshaping shows.

    Right panel: kept tokens in blue at their renormalised probability; tokens that top_p cuts away in
    grey, drawn at the probability they had before the cut (listed in the legend only when there are
    some). `order` defaults to the engine's (llama.cpp cuts top_p first, on the temperature-1
    probabilities; "temperature_first" is the textbook order); the engine's own top_k and min_p cuts are
    not drawn (lesson 10). See `labutils.sampling` for the formulas. Taught in notebooks/03_top_p.ipynb.
    """
    if not isinstance(dist, sampling.TokenDistribution):
        raise TypeError(f"dist must be a TokenDistribution (from sampling.next_token_distribution), "
                        f"got {type(dist).__name__}")
    s = sampling.apply_sampling(dist, temperature, top_p, order=order)
    n = len(dist)
    kept, after, count = _real_cut(dist, s)
    fig, axes = _new(2, height=max(3.4, 1.4 + 0.26 * n), width=WIDTH, sharey=True)
    ypos = np.arange(n)
    axes[0].barh(ypos, s.before, color=BEFORE_COLOUR)
    axes[0].set_title("before: the model's probabilities (temperature 1)", fontsize=10)
    shown = np.where(kept, after, s.tempered)
    colours = [KEPT_COLOUR if k else CUT_COLOUR for k in kept]
    axes[1].barh(ypos, shown, color=colours)
    axes[1].set_title(f"after: temperature={s.temperature:g}" + (f", top_p={s.top_p:g}" if s.top_p < 1 else ""),
                      fontsize=10)
    top = min(1.0, max(float(s.before.max()), float(shown.max()), 0.01) * 1.25)  # one scale for both panels
    for ax, probs in ((axes[0], s.before), (axes[1], shown)):
        for y, p in zip(ypos, probs):
            if p >= 0.005:
                ax.text(p, y, f" {p:.0%}", va="center", fontsize=8)
        ax.set_xlim(0, top)
        ax.set_xlabel("probability (renormalised over the tokens shown)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ypos, [sampling.show_token(t) for t in dist.tokens])
    axes[0].invert_yaxis()
    axes[0].set_ylabel("next token (␣ = space)")
    from matplotlib.patches import Patch

    handles = [Patch(color=KEPT_COLOUR, label="kept: probability it is sampled")]
    if not kept.all():
        handles.append(Patch(color=CUT_COLOUR, label="cut by top_p (probability before the cut)"))
    axes[1].legend(handles=handles, fontsize=8, loc="lower right")
    held = f"the top {n} tokens hold {dist.coverage:.0%} of the model's probability"
    if s.top_p < 1:  # lesson 03 on: the order of the two matters, and the count is top_p's
        how = ("top_p, then temperature: llama.cpp's order" if order == "top_p_first"
               else "temperature, then top_p: the textbook order, not llama.cpp's")
        title = (f"Next-token candidates under top_p alone (the textbook count): {count}\n{how}; {held}; the "
                 "engine makes default cuts of its own too, and may keep fewer (ask the engine, lesson 03)")
    else:  # temperature alone (lesson 02): nothing else is named before the lesson that teaches it
        title = (f"Next-token candidates at temperature {s.temperature:g}\n{held}; the engine also trims the far "
                 "tail with default cuts of its own (lesson 10)")
    suptitle(fig, title, fontsize=10)
    return fig


def _real_cut(dist: sampling.TokenDistribution, s: sampling.Sampled) -> tuple[np.ndarray, np.ndarray, str]:
    """The tokens top_p keeps as far as the shown tokens tell, their probabilities, and the count in words.

    Where the cut is made on the temperature-1 probabilities (llama.cpp's order, or temperature 1) it is
    made on the model's real probabilities: exact when the nucleus lies inside the shown tokens, else every
    shown token is kept and more that are not shown. Temperature first at another temperature: the unseen
    tokens' tempered share is unknown, so the shown tokens' nucleus is a lower bound ("at least").
    """
    n = len(dist)
    if s.top_p >= 1.0:
        return s.kept, s.after, f"all {n} shown kept (top_p=1 cuts nothing)"
    if s.order == "top_p_first" or s.temperature == 1.0:
        true = true_nucleus_size(dist, s.top_p)
        keep = np.arange(n) < (true if true is not None else n)
        after = np.zeros(n)
        after[keep] = sampling.apply_temperature(np.asarray(dist.logprobs)[keep], s.temperature)
        if true is not None:
            return keep, after, f"{true} of {n} kept (exact: the nucleus lies inside the tokens shown)"
        return keep, after, (f"all {n} shown kept and more not shown (they hold less than top_p={s.top_p:g}; "
                             "shares are upper bounds)")
    return s.kept, s.after, f"at least {int(s.kept.sum())} kept (tokens not shown can only join the nucleus)"


def true_nucleus_size(dist: sampling.TokenDistribution, top_p: float) -> int | None:
    """How many tokens the nucleus of `top_p` holds on the model's real (not renormalised) probabilities,
    or None when the shown tokens hold less than `top_p` (then the count is more than len(dist)).
    Taught in notebooks/03_top_p.ipynb."""
    cum = np.cumsum(np.exp(np.asarray(dist.logprobs, dtype=float)))
    if top_p >= 1.0 or cum[-1] < top_p:
        return None
    return int(np.searchsorted(cum, top_p, side="left")) + 1


__all__ = ["token_distribution", "true_nucleus_size"]
