"""The Essentials stay simple (issue 22, item 4): a core lesson uses only what it has taught.

Pure checks of the committed notebooks, no server: no code cell over 15 lines; at most 2 if/elif/else lines
per lesson; none of the grid lesson's machinery (Grid, sweep, summarize, intervals) and no statistics term
(bootstrap, Wilson, chi-square, p-value, TV distance) in code or prose; the first cell says the track, what
the lesson assumes and about how long it takes. A claim that needs many samples goes through
`labutils.evidence` (one call, one sentence).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from .test_notebooks import NOTEBOOK_DIR

CORE = ["00", "01", "02", "03", "04", "05", "06", "07"]  # the Essentials
MAX_CELL_LINES = 15
MAX_BRANCH_LINES = 2
MACHINERY = re.compile(r"\b(Grid|sweep|summarize|intervals|scorers|bootstrap|Wilson|chi-square|chi2|p-value|"
                       r"TV distance|confidence interval)\b", re.I)
BRANCH = re.compile(r"^\s*(if|elif|else)\b")
FIRST_CELL = re.compile(r"Track: \*\*Essentials\*\*.*Assumes:.*About\s+\d+\s+min", re.S)


def _core():
    return [p for p in sorted(NOTEBOOK_DIR.glob("*.ipynb")) if p.name[:2] in CORE]


@pytest.mark.parametrize("path", _core(), ids=lambda p: p.stem)
def test_core_lesson_cells_are_short_and_plain(path):
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    long = [(len(s.splitlines()), s.splitlines()[0]) for s in code if len(s.splitlines()) > MAX_CELL_LINES]
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} lines: {long}"
    branches = [ln.strip() for s in code for ln in s.splitlines() if BRANCH.match(ln)]
    assert len(branches) <= MAX_BRANCH_LINES, f"{path.name}: {len(branches)} if/elif/else lines: {branches}"


@pytest.mark.parametrize("path", _core(), ids=lambda p: p.stem)
def test_core_lesson_uses_no_machinery_or_statistics_terms(path):
    nb = nbformat.read(path, as_version=4)
    found = [f"{m.group(0)!r} in {c.source[max(0, m.start() - 40):m.end() + 20]!r}"
             for c in nb.cells for m in MACHINERY.finditer(c.source)]
    assert not found, f"{path.name}: " + "; ".join(found)


@pytest.mark.parametrize("path", _core(), ids=lambda p: p.stem)
def test_core_lesson_says_track_assumptions_and_time(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    assert FIRST_CELL.search(first), f"{path.name}: the first cell must say 'Track: **Essentials**', 'Assumes: ...' " \
                                     f"and 'About N min', got {first[:300]!r}"


def test_the_checks_catch_what_lessons_had():
    assert MACHINERY.search("grid = labutils.Grid(temperature=[0.7], samples=6)")
    assert MACHINERY.search("a seeded bootstrap over the samples, Wilson for shares")
    assert not MACHINERY.search("evidence.compare(lab, a, b, evidence.one_word)")
    assert BRANCH.match("    if d.verdict == intervals.CANT_TELL:") and not BRANCH.match("x = a if b else c")
