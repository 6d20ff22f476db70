"""The class table of a grading run: one row per learner, one column per exercise (its mark), as CSV,
HTML and a plot. `labutils.grading` writes it. Taught to instructors in deploy/README.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .grader import Graded

# cell marks, best first; colours of the plot and the HTML table
STATUS_COLOURS = {
    "pass": "#2e7d32", "fail": "#c62828", "not attempted": "#9e9e9e", "deleted": "#6a1b9a",
    "tampered": "#ad1457", "not reached": "#ef6c00", "timeout": "#4e342e", "error": "#ef6c00",
    "corrupt": "#212121",
}


def table(graded: list[Graded]):
    """The class table: one row per learner, one column per exercise (its mark), then seconds and notes."""
    import pandas as pd

    rows: dict[str, dict] = {}
    for g in graded:
        row = rows.setdefault(g.learner, {"learner": g.learner, "seconds": 0.0, "notebooks": [], "notes": []})
        row.update(g.marks)
        row["seconds"] += g.seconds
        row["notebooks"].append(f"{g.lesson}: {g.outcome}")
        row["notes"] += [f"{g.lesson}: {n}" for n in g.notes]
    ids = sorted({id for g in graded for id in g.marks})
    frame = pd.DataFrame(list(rows.values()))
    if frame.empty:
        return pd.DataFrame(columns=["learner", *ids, "passed", "seconds", "notebooks", "notes"])
    for id in ids:
        frame[id] = frame[id].fillna("not submitted") if id in frame else "not submitted"
    frame["passed"] = (frame[ids] == "pass").sum(axis=1)
    frame["seconds"] = frame["seconds"].round(1)
    frame["notebooks"] = frame["notebooks"].map("; ".join)
    frame["notes"] = frame["notes"].map("; ".join)
    return frame[["learner", *ids, "passed", "seconds", "notebooks", "notes"]].sort_values("learner",
                                                                                        ignore_index=True)


def plot(frame):
    """A learners x exercises grid coloured by mark, with the time each learner's notebooks took."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    ids = [c for c in frame.columns if re.fullmatch(r"\d\d\.\d+", str(c))]
    marks = [*STATUS_COLOURS, "not submitted"]
    colours = [*STATUS_COLOURS.values(), "#ffffff"]
    codes = frame[ids].map(lambda m: marks.index(m) if m in marks else len(marks) - 1).to_numpy()
    fig = Figure(figsize=(max(7.0, 3.7 + 0.7 * len(ids)), max(2.5, 1.2 + 0.4 * len(frame))))
    ax = fig.add_subplot()
    ax.imshow(codes, cmap=ListedColormap(colours), vmin=0, vmax=len(marks) - 1, aspect="auto")
    ax.set_xticks(range(len(ids)), ids)
    ax.set_yticks(range(len(frame)), [f"{n} ({s:.0f} s)" for n, s in zip(frame["learner"], frame["seconds"])])
    ax.set_xlabel("exercise")
    ax.set_title("class table: mark per learner and exercise (time taken)")
    used = sorted({m for m in frame[ids].to_numpy().ravel()}, key=lambda m: marks.index(m) if m in marks else 99)
    ax.legend(handles=[Patch(color=colours[marks.index(m)] if m in marks else "#fff", label=m) for m in used],
              loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    fig.tight_layout()
    plt.close("all")
    return fig


def html(frame) -> str:
    """The class table as a standalone HTML page, each mark coloured (text escaped)."""
    import html as h

    head = "".join(f"<th>{h.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            value = str(row[c])
            colour = STATUS_COLOURS.get(value)
            style = f' style="background:{colour};color:white"' if colour else ""
            cells.append(f"<td{style}>{h.escape(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<!doctype html><meta charset='utf-8'><title>Class table</title>"
            "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
            "table{border-collapse:collapse}</style><h1>Class table</h1>"
            f"<table><tr>{head}</tr>{''.join(body)}</table>")


def write_report(graded: list[Graded], out: str | Path) -> dict[str, Path]:
    """Write grades.csv, grades.html, grades.png (and grades.json with every reason) into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = table(graded)
    paths = {"csv": out / "grades.csv", "html": out / "grades.html", "png": out / "grades.png",
             "json": out / "grades.json"}
    frame.to_csv(paths["csv"], index=False)
    paths["html"].write_text(html(frame), encoding="utf-8")
    plot(frame).savefig(paths["png"], dpi=100)
    paths["json"].write_text(json.dumps([g.__dict__ for g in graded], indent=1), encoding="utf-8")
    return paths
