"""The examples a learner sees make the point at the lesson's defaults (issue 23), on the live model.

A lesson's prose says what a demo shows; the demo's prompt and seeds were searched so the 135M model shows it.
These tests read the lesson's own parameters cell and run the demo's requests at those defaults, so a change of
prompt, seed or model that makes the demo show nothing fails here, not in front of a learner. (The notebook
tests run the lessons at smaller CI parameters, where a demo may legitimately show less.)
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from .test_notebooks import NOTEBOOK_DIR, parameters_cells


def defaults(stem: str) -> dict:
    """The literal values of a lesson's parameters cell (`MODEL = None`, `PROMPT = "..."`, ...)."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{stem}.ipynb", as_version=4)
    tree = ast.parse(nb.cells[parameters_cells(nb)[0]].source)
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}


def test_defaults_reads_the_parameters_cell():
    got = defaults("04_max_tokens_and_stop")
    assert isinstance(got["PROMPT"], str) and max(got["MAX_TOKENS_VALUES"]) >= 64 and got["SAMPLES"] >= 2


@pytest.mark.integration
def test_lesson_04s_stop_demo_cuts_the_answers_at_its_defaults(lab):
    """Section 3 says stop=['.'] ends the robot answers at their first full stop. With the prompt it had before
    ("Write three short sentences about a friendly robot.") every answer was one sentence: 0 of 4 cut."""
    d = defaults("04_max_tokens_and_stop")
    top, seeds = max(d["MAX_TOKENS_VALUES"]), range(d["SEED"], d["SEED"] + d["SAMPLES"])
    cut = 0
    for seed in seeds:
        whole = lab.chat(d["PROMPT"], temperature=d["TEMPERATURE"], max_tokens=top, seed=seed)
        stopped = lab.chat(d["PROMPT"], temperature=d["TEMPERATURE"], max_tokens=top, seed=seed, stop=["."])
        assert whole.text.startswith(stopped.text.rstrip()), (whole.text, stopped.text)
        cut += stopped.completion_tokens < whole.completion_tokens - 1  # more than the '.' it leaves out
    assert cut >= (d["SAMPLES"] + 1) // 2, f"stop='.' shortened only {cut} of {d['SAMPLES']} answers"
