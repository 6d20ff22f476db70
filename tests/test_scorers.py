"""Scorers: plain pass/fail functions of an answer, and the columns they add to `runs`. No server."""

import pandas as pd
import pytest

from labutils import scorers
from labutils.runs import Cell


def test_one_of_and_equals():
    fmt = scorers.one_of(["positive", "negative"])
    assert fmt("Positive.") and fmt(" negative ") and not fmt("It is positive") and fmt.__name__ == "in_format"
    right = scorers.equals("negative")
    assert right("Negative!", Cell()) and not right("positive", Cell())
    by_cell = scorers.equals(lambda cell: "a" if cell.temperature == 0 else "b")
    assert by_cell("A", Cell({"temperature": 0})) and by_cell("b", Cell({"temperature": 1}))


def test_parses_as_python_and_json():
    py = scorers.parses_as_python()
    assert py("def add(a, b):\n    return a + b\n")
    assert py("Here you go:\n```python\ndef f():\n    return 1\n```\nDone.")
    assert not py("def add(a, b):\nreturn a + b")
    js = scorers.valid_json()
    assert js('{"a": 1}') and js('```json\n[1, 2]\n```') and not js("{a: 1}")


def test_score_adds_columns_and_skips_errors():
    runs = pd.DataFrame({"temperature": [0.0, 0.0, 1.0], "sample": [0, 1, 0], "seed": [1, 2, 1],
                         "text": ["positive", "maybe", None], "error": [None, None, "boom"]})
    out = scorers.score(runs, [scorers.one_of(["positive", "negative"])])
    assert out["in_format"].dtype == "boolean"
    assert out["in_format"].tolist()[:2] == [True, False] and out["in_format"].isna().tolist() == [False, False, True]
    assert out.attrs["scorers"] == ["in_format"]
    assert "in_format" not in runs.columns  # a copy


def test_score_names():
    with pytest.raises(ValueError, match="no name"):
        scorers.score(pd.DataFrame({"text": ["x"]}), [lambda t: True])
    out = scorers.score(pd.DataFrame({"text": ["x"]}), {"short": lambda t: len(t) < 3})
    assert bool(out["short"].iloc[0]) is True
    with pytest.raises(ValueError, match="two scorers"):
        scorers.score(pd.DataFrame({"text": ["x"]}), [scorers.one_of(["x"]), scorers.one_of(["y"])])


def test_grid_and_sweep_apply_scorers(fake_lab):
    from labutils import Grid

    grid = Grid(temperature=[0, 1], samples=2, scorers=[scorers.contains("a", name="has_a")])
    runs = fake_lab.sweep("Say a", grid, progress=False, cache=False)
    assert "has_a" in runs.columns and runs.attrs["scorers"] == ["has_a"]


def test_scored_runs_survive_export(tmp_path):
    from labutils.views import export

    runs = scorers.score(pd.DataFrame({"text": ["a", None], "error": [None, "boom"]}), {"short": lambda t: len(t) < 3})
    path = export.save(runs, tmp_path / "runs.csv")
    assert export.load(path)["short"].equals(runs["short"])
