"""Concept before use (issue 22, item 5): no lesson uses a term before the lesson that teaches it.

The glossary (`labutils/lessons/glossary.py`) maps each term to its teaching lesson and to the patterns that count as a
use, in prose (markdown cells) and in code (code cells, strings and comments included). A lesson before the
teaching lesson may:
- point to it: a markdown line that names the teaching lesson ("lesson 10", or a link to 10_*.ipynb) is a
  pointer, not a use;
- define the term where it first uses it: a markdown paragraph with the term in bold and the teaching lesson named
  ("**top_k** keeps the k most likely tokens (lesson 10 teaches it)"), in that cell or an earlier one; from
  there on the lesson may use it.
Anything else is a violation, reported with the cell and the line. The teaching lesson must itself use the
term in its prose (a glossary that points to the wrong lesson fails). Also here: the Essentials' shape (item 4:
no code cell over 15 lines, at most 2 if/elif/else lines a lesson, the first cell says track, assumptions and
time). Pure: no server. Run with `pytest -k concept`.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labutils import glossary

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ESSENTIALS = [p for p in NOTEBOOKS if int(p.name[:2]) <= 7]


def lesson_number(path: Path) -> int:
    return int(path.name[:2])


def _cells(nb) -> list[tuple[int, str, list[str]]]:
    return [(i, c.cell_type, c.source.splitlines()) for i, c in enumerate(nb.cells)
            if c.cell_type in ("markdown", "code")]


def _points_to(line: str, lesson: int) -> bool:
    return bool(re.search(rf"\blessons? 0?{lesson}\b|\b{lesson:02d}_[a-z_]+\.ipynb", line, re.IGNORECASE))


def concept_problems(nb, number: int) -> list[str]:
    """Every use of a glossary term in lesson `number` before its teaching lesson, without a definition."""
    problems = []
    cells = _cells(nb)
    for term in glossary.TERMS:
        if term.lesson <= number:
            continue
        defined_at = next((i for i, kind, lines in cells if kind == "markdown"
                           and any(glossary.defines(p, term) for p in re.split(r"\n\s*\n", "\n".join(lines)))),
                          None)
        for i, kind, lines in cells:
            if defined_at is not None and i >= defined_at:
                break
            used = [line for line in lines if term.pattern(kind).search(line)
                    and not (kind == "markdown" and _points_to(line, term.lesson))]
            if used:
                match = term.pattern(kind).search(used[0]).group(0)
                problems.append(f"{term.name!r} (taught in lesson {term.lesson:02d}) used in cell {i} ({kind}) "
                                f"as {match!r}: {used[0].strip()[:110]!r}")
                break  # the first use names the term; one line per term and lesson
    return problems


def test_concept_checker_catches_an_early_use_and_accepts_a_definition():
    early = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 03 · top_p\n\nThe server also applies top_k."),
        nbformat.v4.new_code_cell("lab.chat('Hi', top_k=5)"),
    ])
    problems = concept_problems(early, 3)
    assert any("'top_k'" in p and "cell 0 (markdown)" in p for p in problems), problems
    code_only = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("runs = lab.sweep(PROMPT, grid)")])
    assert {p.split("'")[1] for p in concept_problems(code_only, 2)} >= {"runs", "sweep", "Grid"}
    defined = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**top_k** keeps only the k most likely tokens (lesson 10 teaches it)."),
        nbformat.v4.new_code_cell("lab.chat('Hi', top_k=5)"),
    ])
    assert not [p for p in concept_problems(defined, 3) if "'top_k'" in p]
    pointer = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Lesson 10 shows the sampler chain.")])
    assert not concept_problems(pointer, 3)
    # a definition after the first use does not excuse it, and one naming the wrong lesson is no definition
    late = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("lab.chat('Hi', top_k=5)"),
        nbformat.v4.new_markdown_cell("**top_k** keeps only the k most likely tokens (lesson 10 teaches it)."),
    ])
    assert [p for p in concept_problems(late, 3) if "'top_k'" in p]
    wrong = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**top_k** keeps only the k most likely tokens (lesson 9)."),
        nbformat.v4.new_code_cell("lab.chat('Hi', top_k=5)"),
    ])
    assert [p for p in concept_problems(wrong, 3) if "'top_k'" in p]
    # plain English that only looks like a term is not a use
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "Run the cell; `make down` stops the stack. It runs top to bottom.")])
    assert not concept_problems(plain, 0)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_concept_before_use(path):
    problems = concept_problems(nbformat.read(path, as_version=4), lesson_number(path))
    assert not problems, (f"{path.name} uses terms before the lesson that teaches them (define each in one markdown "
                          "paragraph: the term in bold and 'lesson NN', or move it):\n  " + "\n  ".join(problems))


def test_concept_glossary_points_to_lessons_that_teach():
    by_number = {lesson_number(p): p for p in NOTEBOOKS}
    wrong = []
    for term in glossary.TERMS:
        path = by_number.get(term.lesson)
        if path is None:
            wrong.append(f"{term.name!r}: no lesson {term.lesson:02d}")
            continue
        prose = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        if not term.pattern("markdown").search(prose):
            wrong.append(f"{term.name!r}: lesson {path.name} never names it in its prose")
    assert not wrong, "the glossary points to lessons that do not teach the term:\n  " + "\n  ".join(wrong)


def test_concept_glossary_is_ordered_and_its_page_current():
    lessons = [t.lesson for t in glossary.TERMS]
    assert lessons == sorted(lessons), "keep glossary.TERMS ordered by lesson"
    assert len({t.name for t in glossary.TERMS}) == len(glossary.TERMS)
    page = ROOT / "notebooks" / "GLOSSARY.md"
    assert page.read_text() == glossary.markdown(), (
        "notebooks/GLOSSARY.md is stale: python -m labutils.lessons.glossary")


# --- the Essentials' shape (issue 22, item 4) -------------------------------------------------------------------
MAX_CELL_LINES, MAX_BRANCH_LINES = 15, 2
BRANCH = re.compile(r"^\s*(?:if|elif|else)\b.*:|^\s*else\s*:")


def essentials_problems(nb) -> list[str]:
    problems = []
    code = [(i, c.source.splitlines()) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, lines in code:
        if len(lines) > MAX_CELL_LINES:
            problems.append(f"cell {i} has {len(lines)} lines (at most {MAX_CELL_LINES})")
    branches = [f"cell {i}: {line.strip()[:60]}" for i, lines in code for line in lines if BRANCH.match(line)]
    if len(branches) > MAX_BRANCH_LINES:
        problems.append(f"{len(branches)} if/elif/else lines (at most {MAX_BRANCH_LINES}): " + "; ".join(branches))
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    for what, pattern in (("its track", r"\bEssentials\b"), ("what it assumes", r"\bassum"),
                          ("how long it takes", r"\b\d+\s*min")):
        if not re.search(pattern, first, re.IGNORECASE):
            problems.append(f"the first markdown cell does not say {what}")
    return problems


def test_concept_essentials_checker():
    long = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 00\n\nEssentials. Assumes nothing. "
                                                                          "About 20 min."),
                                           nbformat.v4.new_code_cell("\n".join(["x = 1"] * 16)),
                                           nbformat.v4.new_code_cell("if a:\n  pass\nelif b:\n  pass\nelse:\n  pass")])
    problems = essentials_problems(long)
    assert any("16 lines" in p for p in problems) and any("3 if/elif/else" in p for p in problems), problems
    assert not any("first markdown" in p for p in problems)
    assert any("track" in p for p in essentials_problems(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 00")])))


@pytest.mark.parametrize("path", ESSENTIALS, ids=[p.stem for p in ESSENTIALS])
def test_concept_essentials_shape(path):
    problems = essentials_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name} breaks the Essentials' rules:\n  " + "\n  ".join(problems)


def test_concept_patterns_leave_look_alikes_alone():
    """The chat call is not the code-completion call; CI (continuous integration) is not an interval."""
    chat = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("client.chat.completions.create(model=m)")])
    assert not [p for p in concept_problems(chat, 0) if "code completion" in p]
    raw = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("client.completions.create(model=m)")])
    assert [p for p in concept_problems(raw, 0) if "code completion" in p]
    ci = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("CI runs it; 95% CI 0.2 to 0.4")])
    assert [p for p in concept_problems(ci, 0) if "'interval'" in p and "95% CI" in p]
