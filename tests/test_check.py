"""Exercise checks: every exercise has a check and a hint, its solution passes and its wrong answer fails.

Pure logic, except the exercises whose check asks the model (`needs_lab`): those are integration tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labutils import check

PURE = sorted(i for i, e in check.REGISTRY.items() if not e.needs_lab)
LIVE = sorted(i for i, e in check.REGISTRY.items() if e.needs_lab)
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def test_lessons_00_to_04_have_exercises():
    assert {"00.1", "01.1", "02.1", "03.1", "04.1"} <= set(check.REGISTRY)


@pytest.mark.parametrize("id", sorted(check.REGISTRY))
def test_has_check_hint_and_examples(id):
    ex = check.REGISTRY[id]
    assert re.fullmatch(r"\d\d\.\d+", id), f"exercise ids look like '02.1', got {id!r}"
    assert callable(ex.check)
    assert len(ex.hint) > 20, f"{id}: the hint is too short to help: {ex.hint!r}"
    assert ex.solution is not check._NO_EXAMPLE, f"{id}: register(..., solution=...) is missing"
    assert ex.wrong is not check._NO_EXAMPLE, f"{id}: register(..., wrong=...) is missing"


@pytest.mark.parametrize("id", PURE)
def test_solution_passes_wrong_fails(id, capsys):
    ex = check.REGISTRY[id]
    assert check.exercise(id, ex.solution) is True
    assert capsys.readouterr().out.startswith(f"✅ {id}: ")
    assert check.exercise(id, ex.wrong) is False
    out = capsys.readouterr().out
    assert out.startswith(f"❌ {id}: ") and len(out.splitlines()[0]) > len(f"❌ {id}: ") + 10, out


@pytest.mark.integration
@pytest.mark.parametrize("id", LIVE)
def test_live_solution_passes_wrong_fails(id, lab, tmp_cache):
    ex = check.REGISTRY[id]
    assert check.exercise(id, ex.solution, lab=lab) is True
    assert check.exercise(id, ex.wrong, lab=lab) is False


@pytest.mark.parametrize("id", sorted(check.REGISTRY))
def test_placeholder_is_not_attempted(id, capsys):
    assert check.exercise(id, ...) is False  # never raises, never asks the server
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [..., [1, ...], {"a": ...}, (...,)])
def test_is_placeholder(answer):
    assert check.is_placeholder(answer)


@pytest.mark.parametrize("answer", [0, None, "...", [1, 2], {"a": 1}])
def test_is_not_placeholder(answer):
    assert not check.is_placeholder(answer)


@pytest.mark.parametrize("answer", [None, "cat", 3, object(), [{"role": 1}], float("nan")])
@pytest.mark.parametrize("id", PURE)
def test_odd_answers_fail_without_raising(id, answer, capsys):
    assert check.exercise(id, answer) is False
    assert capsys.readouterr().out.startswith(f"❌ {id}: ")


def test_a_crashing_check_is_reported_not_raised(monkeypatch, capsys):
    def boom(answer):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(check.REGISTRY, "99.9", check.Exercise("99.9", boom, "a hint that is long enough"))
    assert check.exercise("99.9", 1) is False
    assert "RuntimeError: kaboom" in capsys.readouterr().out


def test_hint_prints(capsys):
    check.hint("03.1")
    assert check.REGISTRY["03.1"].hint in capsys.readouterr().out


def test_unknown_id_names_the_known_ones():
    with pytest.raises(KeyError, match=r"02\.1"):
        check.exercise("77.7", 1)


def test_register_refuses_duplicates_and_missing_hints():
    with pytest.raises(ValueError, match="twice"):
        check.register("02.1", hint="some hint")
    with pytest.raises(ValueError, match="hint"):
        check.register("98.1", hint=" ")


def test_specific_reasons():
    assert check.verdict("02.1", 0.66)[0] and not check.verdict("02.1", 0.6)[0]
    assert "0.5 < 0.7" in check.verdict("03.1", ["cat"])[1]
    assert "fish is cut" in check.verdict("03.1", ["cat", "dog", "fish"])[1]
    assert check.verdict("03.1", ("dog", "cat"))[0]
    assert "mask" in check.verdict("03.1", [True, True, False])[1]
    assert not check.verdict("01.1", [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])[0]
    assert "last message" in check.verdict("01.1", [{"role": "system", "content": "x"},
                                                     {"role": "user", "content": "y"},
                                                     {"role": "assistant", "content": "z"}])[1]


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_exercises_are_registered(path):
    """Every `exercise("NN.k", ...)` a lesson calls exists, and the lesson shows its hint."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    called = re.findall(r"exercise\(\s*[\"'](\d\d\.\d+)[\"']", code)
    assert called, f"{path.name} calls no labutils.check.exercise(...)"
    for id in called:
        assert id in check.REGISTRY, f"{path.name} checks exercise {id!r}, which labutils/check.py does not register"
    assert "<details><summary>Hint</summary>" in markdown, f"{path.name} has no hidden hint"
