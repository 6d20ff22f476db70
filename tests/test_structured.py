"""Structured output: the scorer, bad inputs refused before any request, a failing server recovered from."""

from __future__ import annotations

import pytest

from labutils import intervals, structured
from labutils.errors import ParameterError, RequestFailed

from .conftest import FakeClient, FakeLab

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


def test_score_tells_json_from_schema_validity():
    ok = structured.score('{"name": "Ann", "age": 3}', SCHEMA)
    assert ok == {"valid_json": True, "valid_schema": True, "why": ""}
    assert structured.score('{"name": "Ann"}', SCHEMA)["valid_schema"] is False
    assert structured.score("Sure! {", SCHEMA)["valid_json"] is False
    assert structured.score("[1, 2]")["valid_json"] is True


def test_wilson_interval_known_values():
    lo, hi = intervals.wilson(8, 10)
    assert lo == pytest.approx(0.490, abs=1e-3) and hi == pytest.approx(0.943, abs=1e-3)


def test_finished_and_cut_counts_apart():
    """Lesson 12 reads this: a constraint's promise is about finished answers; cut ones are counted apart."""
    import pandas as pd

    rows = [("none", "stop", False), ("none", "length", False), ("json_object", "stop", True),
            ("json_object", "length", False), ("json_object", "stop", False), ("json_schema", "stop", True)]
    failed = {"constraint": "json_schema", "finish_reason": None, "valid_json": None, "error": "HTTP 500"}
    runs = pd.DataFrame([{"constraint": c, "finish_reason": f, "valid_json": v, "error": None} for c, f, v in rows]
                        + [failed])
    got = structured.finished_and_cut(runs).set_index("constraint")
    assert got.loc["none"].to_dict() == {"answers": 2, "cut": 1, "finished": 1, "finished_valid": 0,
                                         "finished_invalid": 1}
    assert got.loc["json_object"].to_dict() == {"answers": 3, "cut": 1, "finished": 2, "finished_valid": 1,
                                                "finished_invalid": 1}
    assert got.loc["json_schema", "answers"] == 1  # the failed request is not an answer


@pytest.mark.parametrize("schema, match", [("{not json", "not JSON"), ({"type": "objekt"}, "not a valid JSON Schema")])
def test_a_bad_schema_fails_before_any_request(schema, match):
    lab = FakeLab()
    with pytest.raises(ParameterError, match=match):
        structured.validity(lab, "Give JSON.", schema=schema, samples=2)
    assert lab.client.requests == []


def test_bad_samples_and_temperature_fail_before_any_request():
    lab = FakeLab()
    with pytest.raises(ParameterError, match="samples=0"):
        structured.validity(lab, "Give JSON.", samples=0)
    with pytest.raises(ParameterError, match="temperature"):
        structured.validity(lab, "Give JSON.", temperatures=[3.0])
    assert lab.client.requests == []


class FlakyJSON(FakeClient):
    """Answers JSON, except that a json_schema request fails like llama-cpp-python did (HTTP 500)."""

    def create(self, **kw):
        fmt = kw.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            self.requests.append(kw)
            raise RequestFailed("the server answered HTTP 500: Internal Server Error", status=500, retryable=True)
        self.text = '{"name": "Ann", "age": 3}' if fmt else "Here you go"
        return super().create(**kw)


def test_a_failing_constraint_becomes_rows_with_errors_and_the_rest_runs():
    lab = FakeLab()
    lab.client = FlakyJSON()
    runs = structured.validity(lab, "Give JSON.", schema=SCHEMA, temperatures=[0.0, 1.0], samples=2)
    assert len(runs) == 12
    failed = runs[runs.constraint == "json_schema"]
    assert failed.error.str.contains("HTTP 500").all()
    summary = structured.summarize_validity(runs).set_index(["constraint", "temperature"])
    assert summary.loc[("json_object", 1.0), "share"] == 1.0
    assert summary.loc[("none", 0.0), "share"] == 0.0
    assert summary.loc[("json_schema", 0.0), "errors"] == 2


def test_the_grid_is_read_back_from_the_cache_and_failures_are_asked_again(tmp_cache):
    """Every request of `validity` is seeded: a second run reads the answers (not the failures) from the cache."""
    lab = FakeLab()
    lab.client = FlakyJSON()
    first = structured.validity(lab, "Give JSON.", schema=SCHEMA, temperatures=[0.0, 1.0], samples=2)
    sent = len(lab.client.requests)
    again = structured.validity(lab, "Give JSON.", schema=SCHEMA, temperatures=[0.0, 1.0], samples=2)
    assert len(lab.client.requests) - sent == 4  # only the 4 json_schema cells that failed
    assert again.drop(columns="finish_reason").equals(first.drop(columns="finish_reason"))
    structured.validity(lab, "Give JSON.", schema=SCHEMA, temperatures=[0.0], samples=1, cache=False)
    assert len(lab.client.requests) - sent == 4 + 3
    with pytest.raises(ParameterError, match="cache='no' is not allowed"):
        structured.validity(lab, "Give JSON.", cache="no")
