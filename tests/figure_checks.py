"""What a learner sees in a figure, checked in code (issue 23).

`problems(fig)` lists what is wrong with one matplotlib Figure:
- a title, axis label, colour-bar label or legend title carries a raw column name (`greedy_prefix_mean`)
  instead of a readable one (parameter names such as `top_p`, and the API's field names, are allowed:
  they are what the learner types);
- a colour bar whose label states a range ("(0-1)") spans another range;
- panels whose axes carry the same label (the same quantity, compared side by side) on different scales;
- text (titles, labels, tick labels, annotations, legends) that runs off the figure, and texts written
  into one panel (annotations, value labels) that overlap;
- a legend drawn over the panel's data (a bar or a marker under its box).

The lesson tests run every lesson with the inline backend and `kernel_hook()` installed in the kernel
(an IPython startup file): every figure a lesson displays is saved as a PNG under
.lab/test-logs/figures/<lesson>/ for people to look at, and its problems are written beside it.
Pure: no server; tests/test_figures.py proves the checks fail on the figures issue 23 found.
"""

from __future__ import annotations

import re

from matplotlib.figure import Figure

from labutils.params import PARAMS

# snake_case words a learner may read on a figure: the parameters and the response fields they type
API_WORDS = set(PARAMS) | {"finish_reason", "completion_tokens", "prompt_tokens", "top_logprobs", "logprobs",
                           "system_prompt", "response_format", "json_object", "json_schema"}
SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")
RANGE = re.compile(r"\((-?\d+(?:\.\d+)?)\s*[-–]\s*(-?\d+(?:\.\d+)?)\)")
SLACK = 2.0  # pixels: antialiasing may put a glyph's edge a pixel outside


def _colourbars(fig: Figure) -> list:
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def _panels(fig: Figure) -> list:
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is None and ax.get_visible()]


def raw_names(text: str) -> list[str]:
    """The snake_case words of `text` that are neither a parameter nor an API field name."""
    return [w for w in SNAKE.findall(text) if w not in API_WORDS]


def _named_texts(fig: Figure) -> list[tuple[str, str]]:
    out = []
    if fig._suptitle is not None:
        out.append(("suptitle", fig._suptitle.get_text()))
    for ax in fig.axes:
        for where in ("left", "center", "right"):
            out.append(("title", ax.get_title(where)))
        out += [("x label", ax.get_xlabel()), ("y label", ax.get_ylabel())]
        legend = ax.get_legend()
        if legend is not None:
            out.append(("legend title", legend.get_title().get_text()))
            out += [("legend entry", t.get_text()) for t in legend.get_texts()]
    return [(k, t) for k, t in out if t]


def label_problems(fig: Figure) -> list[str]:
    """Titles, labels and legends that carry raw column names."""
    return [f"{kind} {text!r} carries the raw name{'s' if len(bad) > 1 else ''} {', '.join(bad)}"
            for kind, text in _named_texts(fig) if (bad := raw_names(text))]


def colourbar_problems(fig: Figure) -> list[str]:
    """Colour bars whose label states a range they do not span."""
    out = []
    for cax in _colourbars(fig):
        cbar = cax._colorbar
        text = cbar.ax.get_ylabel() or cbar.ax.get_xlabel()
        m = RANGE.search(text)
        if not m:
            continue
        lo, hi = float(m.group(1)), float(m.group(2))
        vmin, vmax = cbar.mappable.norm.vmin, cbar.mappable.norm.vmax
        if abs(vmin - lo) > 1e-9 or abs(vmax - hi) > 1e-9:
            out.append(f"colour bar {text!r} states {lo:g}-{hi:g} but spans {vmin:.3g}-{vmax:.3g}")
    return out


def scale_problems(fig: Figure) -> list[str]:
    """Panels whose x (or y) axes carry the same label but show different ranges."""
    out = []
    panels = _panels(fig)
    for axis, get_label, get_lim in (("x", "get_xlabel", "get_xlim"), ("y", "get_ylabel", "get_ylim")):
        seen: dict[str, tuple] = {}
        for ax in panels:
            name = getattr(ax, get_label)()
            if not name:
                continue
            lim = tuple(round(v, 9) for v in getattr(ax, get_lim)())
            if name in seen and seen[name] != lim:
                out.append(f"panels with the {axis} axis {name!r} show different ranges: "
                           f"{seen[name][0]:.3g} to {seen[name][1]:.3g} and {lim[0]:.3g} to {lim[1]:.3g}")
            seen.setdefault(name, lim)
    return out


def _drawn_texts(fig: Figure) -> list:
    """Every text drawn on the figure: its titles, the axes' labels, the tick labels of ticks inside the view
    (matplotlib keeps invisible ones beyond it), texts and annotations, legends."""
    out = [fig._suptitle, *fig.texts, *(t for leg in fig.legends for t in leg.get_texts())]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():
                out += [t for t in (tick.label1, tick.label2) if t.get_visible()]
        legend = ax.get_legend()
        if legend is not None:
            out += [legend.get_title(), *legend.get_texts()]
    return [t for t in out if t is not None and t.get_visible() and t.get_text().strip()]


def _drawn(text, renderer) -> bool:
    """An annotation whose point lies outside its axes is not drawn (matplotlib's annotation_clip)."""
    return not hasattr(text, "_check_xy") or text._check_xy(renderer)


def overflow_problems(fig: Figure, renderer=None) -> list[str]:
    """Visible texts that reach outside the figure (drawn at the figure's own size, as savefig does)."""
    renderer = renderer or _render(fig)
    box = fig.bbox
    out = []
    for text in _drawn_texts(fig):
        if not _drawn(text, renderer):
            continue
        ext = text.get_window_extent(renderer)
        if ext.x0 < box.x0 - SLACK or ext.x1 > box.x1 + SLACK or ext.y0 < box.y0 - SLACK or ext.y1 > box.y1 + SLACK:
            out.append(f"text {text.get_text()[:60]!r} runs off the figure")
    return out


def overlap_problems(fig: Figure, renderer=None) -> list[str]:
    """Texts written into one panel (annotations, value labels) that overlap each other."""
    renderer = renderer or _render(fig)
    out = []
    for ax in _panels(fig):
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts
                 if t.get_visible() and t.get_text().strip() and _drawn(t, renderer)]
        for i, (a, box_a) in enumerate(boxes):
            for b, box_b in boxes[i + 1:]:
                if box_a.overlaps(box_b) and box_a.intersection(box_a, box_b).width > SLACK \
                        and box_a.intersection(box_a, box_b).height > SLACK:
                    out.append(f"texts {a[:30]!r} and {b[:30]!r} overlap")
    return out


def legend_problems(fig: Figure, renderer=None) -> list[str]:
    """A panel's legend drawn over its data: a bar (a patch of non-zero size) or a marker under the legend box."""
    import numpy as np

    renderer = renderer or _render(fig)
    out = []
    for ax in _panels(fig):
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)

        def under(points, box=box) -> int:  # display coordinates strictly inside the legend's box
            return sum(box.x0 + SLACK < x < box.x1 - SLACK and box.y0 + SLACK < y < box.y1 - SLACK for x, y in points)

        def covered(patch, box=box) -> bool:
            ext = patch.get_window_extent(renderer)
            cut = box.intersection(box, ext) if ext.overlaps(box) else None
            return cut is not None and cut.width > SLACK and cut.height > SLACK

        hidden = sum(covered(p) for p in ax.patches
                     if p.get_visible() and abs(p.get_width()) > 0 and abs(p.get_height()) > 0)
        for line in ax.lines:
            if line.get_visible() and line.get_marker() not in (None, "", "None", " "):
                hidden += under(ax.transData.transform(np.column_stack(line.get_data()).astype(float)))
        for coll in ax.collections:  # scatter points
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if coll.get_visible() and len(offsets):
                hidden += under(coll.get_offset_transform().transform(offsets))
        if hidden:
            out.append(f"the legend of {ax.get_title()[:40]!r} covers {hidden} of its bars or points")
    return out


def _render(fig: Figure):
    """The figure drawn at its own size, as savefig does (any canvas, also a figure pyplot has closed)."""
    renderer = fig._get_renderer()
    fig.draw(renderer)
    return renderer


def problems(fig: Figure) -> list[str]:
    """Every problem of one figure (see the module docstring); the figure is drawn once for all the checks."""
    renderer = _render(fig)
    return (label_problems(fig) + colourbar_problems(fig) + scale_problems(fig) + overflow_problems(fig, renderer)
            + overlap_problems(fig, renderer) + legend_problems(fig, renderer))


def title(fig: Figure) -> str:
    """The figure's suptitle, else its first panel title (to name it in a report)."""
    if fig._suptitle is not None and fig._suptitle.get_text():
        return fig._suptitle.get_text()
    return next((t for k, t in _named_texts(fig) if k == "title"), "")


# The kernel side: an IPython startup file installs this (see `startup_source`).
STARTUP = '''
import base64, json, os, runpy
from pathlib import Path
from IPython.core import pylabtools
_out = Path(os.environ["LAB_FIGURE_DIR"])
_out.mkdir(parents=True, exist_ok=True)
_checks = runpy.run_path(os.environ["LAB_FIGURE_CHECKS"])
_print_figure = pylabtools.print_figure
_count = [0]

def _saved(fig, fmt="png", *args, **kwargs):
    # the inline backend (re)registers its PNG formatter as partial(pylabtools.print_figure, ...) whenever a
    # figure is made, reading the module's name then: every figure a cell displays passes through here
    data = _print_figure(fig, fmt, *args, **kwargs)
    if fmt != "png" or not data:
        return data
    _count[0] += 1
    stem = f"figure_{_count[0]:02d}"
    (_out / f"{stem}.png").write_bytes(base64.b64decode(data) if isinstance(data, str) else data)
    found = _checks["problems"](fig)
    with open(_out / "figures.jsonl", "a") as f:
        f.write(json.dumps({"figure": stem, "title": _checks["title"](fig), "problems": found}) + "\\n")
    return data

pylabtools.print_figure = _saved
'''


def install(ipython_dir, figure_dir, monkeypatch) -> None:
    """Make every kernel started from now on save and check its figures into `figure_dir` (a test helper:
    sets IPYTHONDIR and the two variables the startup file reads)."""
    from pathlib import Path

    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-lab-figures.py").write_text(STARTUP)
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    monkeypatch.setenv("LAB_FIGURE_DIR", str(figure_dir))
    monkeypatch.setenv("LAB_FIGURE_CHECKS", str(Path(__file__).resolve()))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's default: inline


def read(figure_dir) -> list[dict]:
    """The figures one run saved: [{"figure", "title", "problems"}]."""
    import json
    from pathlib import Path

    path = Path(figure_dir) / "figures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
