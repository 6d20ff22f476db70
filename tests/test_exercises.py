"""Exercises: every exercise has a check and a hint, its solution passes and its wrong answer fails.

Pure logic, except the exercises whose check asks the model (`needs_lab`): those are integration tests.
Hints live once, in the registry: each lesson's hint cell is `labutils.exercises.hint(id)`.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labutils import exercises

PURE = sorted(i for i, e in exercises.REGISTRY.items() if not e.needs_lab)
LIVE = sorted(i for i, e in exercises.REGISTRY.items() if e.needs_lab)
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def given(id: str) -> dict:
    """The offline examples of what exercise `id` needs besides the answer (e.g. a probe table)."""
    ex = exercises.REGISTRY[id]
    return ex.given() if ex.given else {}


def test_lessons_00_to_04_have_exercises():
    assert {"00.1", "01.1", "02.1", "03.1", "04.1"} <= set(exercises.REGISTRY)


@pytest.mark.parametrize("id", sorted(exercises.REGISTRY))
def test_has_check_hint_and_examples(id):
    ex = exercises.REGISTRY[id]
    assert re.fullmatch(r"\d\d\.\d+", id), f"exercise ids look like '02.1', got {id!r}"
    assert callable(ex.check)
    assert len(ex.hint) > 20, f"{id}: the hint is too short to help: {ex.hint!r}"
    assert ex.solution is not exercises._NO_EXAMPLE, f"{id}: register(..., solution=...) is missing"
    assert ex.wrong is not exercises._NO_EXAMPLE, f"{id}: register(..., wrong=...) is missing"


@pytest.mark.parametrize("id", PURE)
def test_solution_passes_wrong_fails(id, capsys):
    ex = exercises.REGISTRY[id]
    assert exercises.exercise(id, ex.solution, **given(id)) is True
    assert capsys.readouterr().out.startswith(f"✅ {id}: ")
    assert exercises.exercise(id, ex.wrong, **given(id)) is False
    out = capsys.readouterr().out
    assert out.startswith(f"❌ {id}: ") and len(out.splitlines()[0]) > len(f"❌ {id}: ") + 10, out


@pytest.mark.integration
@pytest.mark.parametrize("id", LIVE)
def test_live_solution_passes_wrong_fails(id, lab, tmp_cache):
    ex = exercises.REGISTRY[id]
    assert exercises.exercise(id, ex.solution, lab=lab) is True
    assert exercises.exercise(id, ex.wrong, lab=lab) is False


@pytest.mark.parametrize("id", sorted(exercises.REGISTRY))
def test_placeholder_is_not_attempted(id, capsys):
    assert exercises.exercise(id, ...) is False  # never raises, never asks the server
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [..., [1, ...], {"a": ...}, (...,)])
def test_is_placeholder(answer):
    assert exercises.is_placeholder(answer)


@pytest.mark.parametrize("answer", [0, None, "...", [1, 2], {"a": 1}])
def test_is_not_placeholder(answer):
    assert not exercises.is_placeholder(answer)


@pytest.mark.parametrize("answer", [None, "cat", 3, object(), [{"role": 1}], float("nan")])
@pytest.mark.parametrize("id", PURE)
def test_odd_answers_fail_without_raising(id, answer, capsys):
    assert exercises.exercise(id, answer, **given(id)) is False
    assert capsys.readouterr().out.startswith(f"❌ {id}: ")


def test_a_crashing_check_is_reported_not_raised(monkeypatch, capsys):
    def boom(answer):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(exercises.REGISTRY, "99.9", exercises.Exercise("99.9", boom, "a hint that is long enough"))
    assert exercises.exercise("99.9", 1) is False
    assert "RuntimeError: kaboom" in capsys.readouterr().out


def test_hint_is_folded_in_a_notebook_and_one_line_elsewhere():
    shown = exercises.hint("03.1")
    text = exercises.REGISTRY["03.1"].hint
    assert shown._repr_markdown_().startswith("<details><summary>Hint</summary>") and text in shown._repr_markdown_()
    assert repr(shown) == f"💡 03.1: {text}"


def test_a_missing_probe_table_is_a_verdict_not_a_crash(capsys):
    assert exercises.exercise("09.1", ["n"]) is False
    assert "probe=..." in capsys.readouterr().out


def test_07_1_accepts_the_lessons_own_label_limit():
    assert exercises.verdict("07.1", {"temperature": 0, "max_tokens": 20})[0]  # 07's LABEL_MAX_TOKENS
    assert not exercises.verdict("07.1", {"temperature": 0, "max_tokens": 200})[0]


def test_unknown_id_names_the_known_ones():
    with pytest.raises(KeyError, match=r"02\.1"):
        exercises.exercise("77.7", 1)


def test_register_refuses_duplicates_and_missing_hints():
    with pytest.raises(ValueError, match="twice"):
        exercises.register("02.1", hint="some hint")
    with pytest.raises(ValueError, match="hint"):
        exercises.register("98.1", hint=" ")


def test_specific_reasons():
    assert exercises.verdict("02.1", 0.66)[0] and not exercises.verdict("02.1", 0.6)[0]
    assert "0.5 < 0.7" in exercises.verdict("03.1", ["cat"])[1]
    assert "fish is cut" in exercises.verdict("03.1", ["cat", "dog", "fish"])[1]
    assert exercises.verdict("03.1", ("dog", "cat"))[0]
    assert "mask" in exercises.verdict("03.1", [True, True, False])[1]
    assert not exercises.verdict("01.1", [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])[0]
    assert "last message" in exercises.verdict("01.1", [{"role": "system", "content": "x"},
                                                     {"role": "user", "content": "y"},
                                                     {"role": "assistant", "content": "z"}])[1]


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_exercises_are_registered_and_show_the_registry_hint(path):
    """Every `exercise("NN.k", ...)` a lesson calls exists, and the lesson shows its hint with `hint("NN.k")`,
    never a copy of it in markdown (hints are written once, in labutils/exercises.py)."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    called = re.findall(r"exercise\(\s*[\"'](\d\d\.\d+)[\"']", code)
    assert called, f"{path.name} calls no labutils.exercises.exercise(...)"
    hinted = re.findall(r"hint\(\s*[\"'](\d\d\.\d+)[\"']\)", code)
    for id in called:
        assert id in exercises.REGISTRY, f"{path.name} checks exercise {id!r}, which exercises.py does not register"
    assert sorted(hinted) == sorted(called), f"{path.name}: hint cells {hinted} do not match the exercises {called}"
    assert "<summary>Hint" not in markdown, f"{path.name} repeats a hint in markdown: use hint(id)"
    assert "labutils.check" not in code + markdown, f"{path.name} still uses labutils.check"


def test_02_1_a_string_is_asked_to_be_a_number(capsys):
    assert not exercises.exercise("02.1", "0.66")
    assert "give a number" in capsys.readouterr().out


class _SeaLab:
    """Answers SEA_PROMPT as a model might: three sentences, cut at the first stop string."""

    def chat(self, prompt, *, stop=None, **_):
        from types import SimpleNamespace

        text, reason = "The sea is calm. Waves roll in! Gulls fly over the water.", "stop"
        for s in [stop] if isinstance(stop, str) else (stop or []):
            if s in text:
                text = text[:text.index(s)]
        return SimpleNamespace(text=text, finish_reason=reason)


@pytest.mark.parametrize(("stop", "ok", "why"), [
    (".", True, "first sentence"), ([".", "!", "?"], True, "first sentence"), ("!", False, "more than its first"),
    ("\n", False, "more than its first"), ("calm", False, "before its first sentence is over"),
    ("sea", False, "just"),
    ("The", False, "empty"), ([], False, "give a stop string")])
def test_04_1_keeps_the_first_sentence_of_what_the_model_wrote(stop, ok, why, capsys):
    assert exercises.exercise("04.1", stop, lab=_SeaLab()) is ok
    assert why in capsys.readouterr().out


class _EchoLab:
    """Answers every chat with a fixed reply (or `answer(messages)`), as the real lab's chat does: `.text`."""

    def __init__(self, answer=lambda messages: "Blue."):
        self.answer = answer

    def chat(self, messages, **_):
        from types import SimpleNamespace

        return SimpleNamespace(text=self.answer(messages), finish_reason="stop")


def test_06_3_wants_a_real_window_and_the_smallest_that_sends_the_name(capsys):
    from labutils.exercises import lesson_06

    window = lesson_06._solution_063
    assert exercises.verdict("06.3", (window, 3), lab=_EchoLab())[0]
    ok, why = exercises.verdict("06.3", (window, 2), lab=_EchoLab())
    assert not ok and "does not hold the name" in why
    ok, why = exercises.verdict("06.3", (window, 4), lab=_EchoLab())
    assert not ok and "smallest" in why
    ok, why = exercises.verdict("06.3", (lesson_06._all_063, 3), lab=_EchoLab())  # full memory is no window
    assert not ok and "request 5" in why
    assert not exercises.verdict("06.3", (window, -1), lab=_EchoLab())[0]
    assert not exercises.verdict("06.3", window, lab=_EchoLab())[0]


def test_06_4_names_the_role_bug():
    from labutils.exercises import lesson_06

    ok, why = exercises.verdict("06.4", lesson_06._buggy_064, lab=_EchoLab())
    assert not ok and "role 'user'" in why
    assert exercises.verdict("06.4", lesson_06._fixed_064, lab=_EchoLab())[0]


def test_07_2_counts_format_and_right_labels():
    from labutils.exercises import lesson_07

    def truth(messages):  # a model that gets every ticket right
        return dict(lesson_07.TICKETS_072)[messages[-1]["content"].removeprefix("Ticket: ")]

    assert exercises.verdict("07.2", lesson_07._SOLUTION_072, lab=_EchoLab(truth))[0]
    ok, why = exercises.verdict("07.2", lesson_07._SOLUTION_072, lab=_EchoLab(lambda m: "bug"))
    assert ok and "2 of 4 were right" in why  # the format is the skill; right labels are reported
    ok, why = exercises.verdict("07.2", lesson_07._SOLUTION_072, lab=_EchoLab(lambda m: "It is a bug."))
    assert not ok and "not exactly one label" in why
    ok, why = exercises.verdict("07.2", lesson_07._WRONG_072, lab=_EchoLab(truth))
    assert not ok and "both" in why
    leaked = [{"role": "user", "content": f"Ticket: {lesson_07.TICKETS_072[0][0]}"}, *lesson_07._SOLUTION_072]
    assert "check asks about" in exercises.verdict("07.2", leaked, lab=_EchoLab(truth))[1]


def test_13_1_a_model_id_fails_when_the_run_cannot_tell(capsys):
    """Issue 22: 13.1 passed any answer when the paired comparison could not tell (too few pairs)."""
    from labutils.exercises.lesson_13 import _example_runs

    few = _example_runs()
    few = few[(few.seed < 2) & (few.temperature == 0.0)]  # 2 pairs: too few for a verdict
    assert exercises.exercise("13.1", "instruct", runs=few) is False
    assert "can't tell yet" in capsys.readouterr().out
    assert exercises.exercise("13.1", "no clear difference", runs=few) is False
    assert exercises.exercise("13.1", "can't tell yet", runs=few) is True
    capsys.readouterr()
    assert exercises.exercise("13.1", "can't tell yet", runs=_example_runs()) is False  # 12 pairs: a verdict


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_exercise_labels_name_their_lesson(path):
    """A lesson's exercises are numbered after it: **13.1** in lesson 13 (12 and 13 had kept older numbers)."""
    nb = nbformat.read(path, as_version=4)
    labels = re.findall(r"^\*\*(\d\d)\.\d+\*\*", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"),
                        re.M)
    assert labels and set(labels) == {path.name[:2]}, f"{path.name}: exercise labels {labels}"
