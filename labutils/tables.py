"""Tables that put answers side by side: a parameter grid of outputs, the samples of one cell, a word diff.

Every view is computed from `runs` (see `labutils.grid.sweep`) and sends no request. Answers cut by
max_tokens (finish_reason "length") end in ✂ on an amber background; failed calls show ⚠ and their
error on a red background. Taught in notebooks/08_parameter_grid.ipynb (and 02_temperature.ipynb);
`probe_table` shows the verdicts of `labutils.probe` (notebooks/09_trust_but_verify.ipynb).
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from ._frames import is_missing, label, match, py, require, values
from .metrics import TEXT_METRICS, add_text_metrics
from .params import MODEL, axes, cell_columns

CUT, FAILED = "✂", "⚠"
CUT_BG, FAILED_BG = "#fff3cd", "#f8d7da"
LEGEND = (f"{CUT} = cut by max_tokens (finish_reason 'length', amber) · "
          f"{FAILED} = the request failed (red)")
VERDICT_COLOURS = {"honoured": "#d4edda", "ignored": "#fff3cd", "rejected": "#f8d7da",
                   "not supported": "#e2e3e5", "error": "#cfe2ff"}  # the verdicts of labutils.probe
_CELL_CSS = [
    {"selector": "td", "props": "white-space: pre-wrap; max-width: 28em; min-width: 10em; text-align: left; "
                                "vertical-align: top; font-family: inherit;"},
    {"selector": "th", "props": "text-align: left; vertical-align: top; white-space: nowrap;"},
    {"selector": "caption", "props": "caption-side: bottom; text-align: left; color: #555; padding-top: 4px;"},
]


def shown_text(row: pd.Series) -> str:
    """What a table shows for one call: the text, + ✂ when cut by max_tokens, or ⚠ and the error."""
    if "error" in row and not is_missing(row["error"]):
        return f"{FAILED} error: {row['error']}"
    text = "" if is_missing(row.get("text")) else str(row["text"])
    return f"{text} {CUT}" if row.get("finish_reason") == "length" else text


def _status(row: pd.Series) -> str:
    if "error" in row and not is_missing(row["error"]):
        return "error"
    return "length" if row.get("finish_reason") == "length" else "ok"


def _colour(status: pd.DataFrame) -> pd.DataFrame:
    css = {"error": f"background-color: {FAILED_BG}", "length": f"background-color: {CUT_BG}"}
    return status.map(lambda s: css.get(s, ""))


def side_by_side(runs: pd.DataFrame, rows: str = "temperature", cols: str = "top_p", sample: int = 0,
                 max_tokens: int | None = None) -> Styler:
    """A grid of answers: one row per value of `rows`, one column per value of `cols`, for one `sample`.

    Pass `max_tokens` to show one limit; otherwise every other axis that varies (e.g. max_tokens) becomes
    an outer row level, so no answer is hidden. The Styler's `.data` holds the shown texts.

    >>> side_by_side(runs, rows="temperature", cols="top_p", max_tokens=64)  # doctest: +SKIP

    Taught in notebooks/08_parameter_grid.ipynb.
    """
    require(runs, [rows, cols, "sample", "text"])
    if rows == cols:
        raise ValueError(f"rows and cols are both {rows!r}: choose two different columns, e.g. "
                         "rows='temperature', cols='top_p'")
    samples = sorted(py(v) for v in runs["sample"].unique())
    if sample not in samples:
        raise ValueError(f"sample={sample!r} is not in runs: it has samples {samples}")
    data = runs[runs["sample"] == sample]
    if max_tokens is not None:
        require(runs, ["max_tokens"])
        limits = values(runs["max_tokens"])
        if max_tokens not in limits:
            raise ValueError(f"max_tokens={max_tokens!r} is not in runs: it has max_tokens {limits}")
        data = data[data["max_tokens"] == max_tokens]
    others = [a for a in cell_columns(data.columns) if a not in (rows, cols) and data[a].nunique(dropna=False) > 1]
    levels = [*others, rows]
    row_keys = sorted({tuple(r) for r in data[levels].itertuples(index=False)},
                      key=lambda k: tuple((is_missing(v), 0 if is_missing(v) else v) for v in k))
    col_vals = values(data[cols])
    texts, status = [], []
    for key in row_keys:
        mask = pd.Series(True, index=data.index)
        for name, v in zip(levels, key):
            mask &= match(data[name], v)
        trow, srow = [], []
        for c in col_vals:
            hit = data[mask & match(data[cols], c)]
            if hit.empty:
                trow.append("—")
                srow.append("ok")
            else:
                if len(hit) > 1:
                    raise ValueError(f"runs has {len(hit)} rows for {dict(zip(levels, key))}, {cols}={c}, "
                                     f"sample={sample}: pass max_tokens=... or choose rows/cols among "
                                     f"{cell_columns(data.columns)}")
                trow.append(shown_text(hit.iloc[0]))
                srow.append(_status(hit.iloc[0]))
        texts.append(trow)
        status.append(srow)
    if len(levels) > 1:
        index = pd.MultiIndex.from_tuples([tuple(label(n, v) for n, v in zip(levels, k)) for k in row_keys],
                                          names=levels)
    else:
        index = pd.Index([label(rows, k[0]) for k in row_keys], name=rows)
    columns = pd.Index([label(cols, c) for c in col_vals], name=cols)
    shown = pd.DataFrame(texts, index=index, columns=columns)
    marks = pd.DataFrame(status, index=index, columns=columns)
    caption = (f"Sample {sample} of {len(samples)}"
               + (f", max_tokens={max_tokens}" if max_tokens is not None else "")
               + f" · {LEGEND}")
    return (shown.style.format(escape="html")
            .apply(lambda _: _colour(marks), axis=None)
            .set_table_styles(_CELL_CSS)
            .set_caption(caption))


def samples(runs: pd.DataFrame, **cell: Any) -> Styler:
    """All samples of one cell next to each other, with each answer's metrics (words, distinct-n, ...).

    Name the cell by its parameters, e.g. `samples(runs, temperature=1, top_p=0.9, max_tokens=64)`;
    axes with a single value in `runs` may be left out.

    Taught in notebooks/02_temperature.ipynb.
    """
    require(runs, ["sample", "text"])
    named = cell_columns(runs.columns)
    unknown = [k for k in cell if k not in (MODEL, *axes())]
    if unknown:
        raise ValueError(f"unknown cell parameter {', '.join(unknown)}: a cell is named by {', '.join(named)}")
    mask = pd.Series(True, index=runs.index)
    for name in named:
        present = values(runs[name])
        if name in cell:
            want = cell[name]
            if not any((is_missing(v) and is_missing(want)) or v == want for v in present):
                raise ValueError(f"{name}={want!r} is not in runs: it has {name} {present}")
            mask &= match(runs[name], want)
        elif len(present) > 1:
            raise ValueError(f"which cell? runs has several {name} values {present}: pass {name}=... too")
    data = add_text_metrics(runs[mask]).sort_values("sample")
    headers = [f"sample {s} (seed {seed})" if "seed" in data else f"sample {s}"
               for s, seed in zip(data["sample"], data.get("seed", data["sample"]))]
    rows: dict[str, list] = {"answer": [shown_text(r) for _, r in data.iterrows()]}
    if "finish_reason" in data:
        rows["finish_reason"] = ["" if is_missing(v) else str(v) for v in data["finish_reason"]]
    for col in [*TEXT_METRICS, "completion_tokens", "latency_s"]:
        if col in data:
            rows[col] = [None if is_missing(v) else float(v) for v in data[col]]
    shown = pd.DataFrame(rows, index=pd.Index(headers, name="sample")).T
    marks = pd.DataFrame("ok", index=shown.index, columns=shown.columns, dtype=object)  # one sample works too
    marks.loc["answer"] = [_status(r) for _, r in data.iterrows()]
    where = ", ".join(label(a, cell[a]) if a in cell else label(a, runs[a].iloc[0]) for a in named)
    return (shown.style.format(_number, escape="html")
            .apply(lambda _: _colour(marks), axis=None)
            .set_table_styles(_CELL_CSS)
            .set_caption(f"{len(data)} samples of {where} · {LEGEND}"))


def _number(v: Any) -> str:
    if is_missing(v):
        return "—"
    if isinstance(v, str):
        return v
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"


_SPLIT = re.compile(r"(\s+)")


@dataclass
class TextDiff:
    """Two answers compared word by word. `ops` are (tag, a_text, b_text) with tag equal/delete/insert/replace;
    `str()` is the plain form ([-removed-] {+added+}); in a notebook it renders highlighted HTML.

    Taught in notebooks/02_temperature.ipynb.
    """

    a: str
    b: str
    ops: list[tuple[str, str, str]]

    @property
    def ratio(self) -> float:
        """Share of words in common, 0..1: difflib's ratio 2 * matching words / (words in a + words in b)."""
        return difflib.SequenceMatcher(None, self.a.split(), self.b.split(), autojunk=False).ratio()

    @property
    def text(self) -> str:
        out = []
        for tag, x, y in self.ops:
            if tag == "equal":
                out.append(x)
            if tag in ("delete", "replace"):
                out.append(f"[-{x}-]")
            if tag in ("insert", "replace"):
                out.append(f"{{+{y}+}}")
        return "".join(out)

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        parts = []
        for tag, x, y in self.ops:
            if tag == "equal":
                parts.append(html.escape(x))
            if tag in ("delete", "replace"):
                parts.append(f'<del style="background:{FAILED_BG};color:#842029;padding:0 2px;margin-right:2px">'
                             f"{html.escape(x)}</del>")
            if tag in ("insert", "replace"):
                parts.append(f'<ins style="background:#d1e7dd;color:#0f5132;text-decoration:none;padding:0 2px">'
                             f"{html.escape(y)}</ins>")
        return (f'<div style="white-space:pre-wrap;max-width:60em;text-align:left">{"".join(parts)}</div>'
                f'<div style="color:#555;font-size:smaller">red = only in the first answer, green = only in '
                f"the second · {self.ratio:.0%} of words shared</div>")


def diff(a: Any, b: Any) -> TextDiff:
    """Compare two answers word by word (difflib); `a`/`b` are strings or anything with `.text` (a Completion).

    >>> print(diff("the sea is blue", "the sea is grey"))
    the sea is [-blue-]{+grey+}

    Taught in notebooks/02_temperature.ipynb.
    """
    texts = []
    for name, value in (("a", a), ("b", b)):
        value = getattr(value, "text", value)
        if not isinstance(value, str):
            raise TypeError(f"diff: {name} must be a string or a Completion, got {type(value).__name__}")
        texts.append(value)
    wa, wb = _SPLIT.split(texts[0]), _SPLIT.split(texts[1])
    matcher = difflib.SequenceMatcher(None, wa, wb, autojunk=False)
    ops: list[tuple[str, str, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        op = (tag, "".join(wa[i1:i2]), "".join(wb[j1:j2]))
        # "[-deep-]{+grey+} [-blue-]{+today+}" reads better as one change: "[-deep blue-]{+grey today+}"
        if (tag != "equal" and len(ops) >= 2 and ops[-2][0] != "equal" and ops[-1][0] == "equal"
                and not ops[-1][1].strip()):
            (_, a1, b1), (_, space, _) = ops[-2], ops[-1]
            ops[-2:] = [("replace", a1 + space + op[1], b1 + space + op[2])]
        else:
            ops.append(op)
    return TextDiff(texts[0], texts[1], [_tag(a, b) if t != "equal" else (t, a, b) for t, a, b in ops])


def _tag(a: str, b: str) -> tuple[str, str, str]:
    return ("replace" if a and b else "delete" if a else "insert"), a, b


def probe_table(df: pd.DataFrame) -> Styler:
    """The probe's table for reading: verdicts coloured, text left-aligned, no index.

    Taught in notebooks/09_trust_but_verify.ipynb.
    """
    def colour(verdict: str) -> str:
        bg = VERDICT_COLOURS.get(verdict)
        return f"background-color: {bg}; font-weight: bold" if bg else ""

    where, model = df.attrs.get("base_url"), df.attrs.get("model")
    if MODEL in df.columns:  # a probe of several models: one block of rows per model, the model named once
        styler = df.set_index([MODEL, "parameter"]).style
        model = ", ".join(model) if isinstance(model, list) else model
    else:
        styler = df.style.hide(axis="index")
    styler = (styler.map(colour, subset=["verdict"])
              .set_properties(**{"text-align": "left", "white-space": "normal"}))
    if where:
        styler = styler.set_caption(f"Probe of {model} at {where}")
    return styler


__all__ = ["LEGEND", "VERDICT_COLOURS", "TextDiff", "diff", "label", "probe_table", "require", "samples",
           "shown_text", "side_by_side"]
