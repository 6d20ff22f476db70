"""Export: every file `save` writes loads back equal; writes are atomic; a file that does not match its
sidecar is refused with its file, line and column. Pure logic, no server."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labutils import summarize
from labutils.views import export

SUFFIXES = [".csv", ".jsonl"]

# every control character, quotes, separators, line breaks of every kind, and the NA marker itself
SPECIAL = ([chr(i) for i in range(0x20)] + ["\x7f"] + [chr(i) for i in range(0x80, 0xA0)]
           + ['"', "'", '""', ",", ";", "\t", "|", "\\", "\r\n", "\n\r", "\u2028", "\u2029", "\ufeff",
              "<NA>", "\\<NA>", "\\\\<NA>", "NA", "nan", "NaN", "None", "null", "True", "false", "1", "-0",
              " ", "#", "é", "日本", "😀", "\U0010ffff"])
texts = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(st.characters(codec="utf-8"), max_size=4)),
                 max_size=6).map("".join)
# ... and now and then a lone surrogate (or two that only look like a pair), which no UTF-8 file can hold
SURROGATES = ["\ud800", "\udfff", "\udc00", "\ud83d\ude00"]
any_texts = st.lists(st.one_of(st.sampled_from(SPECIAL + SURROGATES), st.text(max_size=4)), max_size=6).map("".join)


def runs_like(texts: list[str | None], n: int | None = None) -> pd.DataFrame:
    """A small frame with the column kinds of `runs`: text with missing, ints, floats with NaN, bools."""
    k = len(texts)
    df = pd.DataFrame({
        "temperature": [0.5 * i for i in range(k)],
        "max_tokens": list(range(8, 8 + k)),
        "cached": [i % 2 == 0 for i in range(k)],
        "text": pd.Series(texts, dtype=object),
        "error": pd.Series([None] * k, dtype=object),
        "latency_s": [float("nan") if i == 1 else 0.25 * i for i in range(k)],
    })
    df.attrs.update(model="m", base_url="http://127.0.0.1:8321", messages=[{"role": "user", "content": "hi"}],
                    stop=None)
    return df


def assert_same(back: pd.DataFrame, frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert back.attrs == frame.attrs


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_carriage_return_round_trips(tmp_path, suffix):
    """The issue's repro: a bare \\r was written unquoted and split the row on load."""
    df = pd.DataFrame({"text": ["a", "c\rd", "e"], "n": [1, 2, 3]})
    assert_same(export.load(export.save(df, tmp_path / f"cr{suffix}")), df)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_runs_like_frame_round_trips(tmp_path, suffix):
    df = runs_like(["", None, "<NA>", "\\<NA>", "say \"hi\",\r\nbye", "\x00\x1b[31m"])
    back = export.load(export.save(df, tmp_path / f"runs{suffix}"))
    assert_same(back, df)
    assert back["text"].tolist()[:4] == ["", None, "<NA>", "\\<NA>"], "empty, missing and the marker stay apart"
    assert None in back["error"].tolist()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_runs_fixture_and_its_summary_round_trip(runs_fixture, suffix, tmp_path):
    """A sweep's real shape: the committed runs, one failed call and an empty answer, and its summary."""
    problems = runs_fixture.copy()
    problems.attrs = dict(runs_fixture.attrs)
    problems.loc[0, ["text", "finish_reason", "completion_tokens"]] = np.nan
    problems.loc[0, "error"] = "the server answered HTTP 500: <overloaded>"
    problems.loc[len(problems) - 1, "text"] = ""
    for name, frame in (("runs", runs_fixture), ("problems", problems), ("summary", summarize(runs_fixture))):
        back = export.load(export.save(frame, tmp_path / f"{name}{suffix}"))
        assert_same(back, frame)
        assert dict(back.dtypes) == dict(frame.dtypes)
    back = export.load(tmp_path / f"problems{suffix}")
    assert back["text"].iloc[-1] == "" and pd.isna(back["text"].iloc[0]) and None in back["error"].tolist()


def test_bad_input(tmp_path):
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match=r"has suffix '.xlsx': use one of .csv, .jsonl"):
        export.save(df, tmp_path / "x.xlsx")
    with pytest.raises(FileNotFoundError, match="no file"):
        export.load(tmp_path / "missing.csv")
    with pytest.raises(TypeError, match="df must be a pandas DataFrame"):
        export.save([1], tmp_path / "x.csv")
    with pytest.raises(ValueError, match="column names must be distinct strings"):
        export.save(pd.DataFrame([[1, 2]], columns=["a", "a"]), tmp_path / "x.csv")
    with pytest.raises(ValueError, match="no columns"):
        export.save(pd.DataFrame(), tmp_path / "x.csv")
    assert files_in(tmp_path) == []


@st.composite
def frames(draw):
    rows = draw(st.integers(0, 5))
    name = draw(texts.filter(lambda s: s not in ("text", "label", "n", "x", "flag", "note")))

    def col(strategy):
        return draw(st.lists(strategy, min_size=rows, max_size=rows))

    df = pd.DataFrame({
        "text": pd.Series(col(st.one_of(st.none(), any_texts)), dtype=object),
        "label": pd.Series(col(texts), dtype="str"),
        "note": pd.Series(col(st.one_of(st.none(), texts)), dtype="str"),
        "n": pd.Series(col(st.integers(-2**63, 2**63 - 1)), dtype="int64"),
        "x": pd.Series(col(st.floats(allow_nan=True, allow_infinity=True)), dtype="float64"),
        "flag": pd.Series(col(st.booleans()), dtype=bool),
        name: pd.Series(col(texts), dtype=object),
    })
    df.attrs.update(model=draw(texts), messages=[{"role": "user", "content": draw(any_texts)}],
                    stop=draw(st.one_of(st.none(), st.lists(texts, max_size=2))))
    return df


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames())
def test_every_saved_file_loads_back_equal(tmp_path, df):
    """Round trip, or (a lone surrogate somewhere) refused before anything is written."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    cells = [v for v in df["text"] if isinstance(v, str)] + [df.attrs["messages"][0]["content"]]
    unwritable = any(0xD800 <= ord(c) <= 0xDFFF for s in cells for c in s)
    for suffix in SUFFIXES:
        if unwritable:
            with pytest.raises(ValueError, match=r"surrogate.*nothing was written"):
                export.save(df, folder / f"prop{suffix}")
            assert files_in(folder) == []
        else:
            assert_same(export.load(export.save(df, folder / f"prop{suffix}")), df)


# ---------------------------------------------------------------- refused before anything is written

@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_lone_surrogate_is_refused_before_writing(tmp_path, suffix):
    path = tmp_path / f"runs{suffix}"
    good = runs_like(["a", "b", "c"])
    export.save(good, path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    bad = runs_like(["a", "b\ud800", "c"])
    with pytest.raises(ValueError, match=r"column 'text', row 1: .*surrogate.*nothing was written"):
        export.save(bad, path)
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before, "the earlier file and sidecar are untouched"
    with pytest.raises(ValueError, match=r"nothing was written"):
        export.save(bad, tmp_path / f"new{suffix}")
    assert files_in(tmp_path) == sorted(p.name for p in before)
    attrs_bad = runs_like(["a"])
    attrs_bad.attrs["messages"] = [{"role": "user", "content": "\udfff"}]
    with pytest.raises(ValueError, match=r"attrs.*surrogate"):
        export.save(attrs_bad, tmp_path / f"new{suffix}")
    assert files_in(tmp_path) == sorted(p.name for p in before)


class Boom:
    def __str__(self):
        raise RuntimeError("cannot be written")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_cell_that_cannot_be_written_leaves_no_half_file(tmp_path, suffix):
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "obj": [1, 2, Boom(), 4]})
    with pytest.raises((ValueError, RuntimeError)):
        export.save(df, tmp_path / f"x{suffix}")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_failed_write_keeps_the_previous_file(tmp_path, suffix, monkeypatch):
    path = export.save(runs_like(["old"]), tmp_path / f"runs{suffix}")
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        export.save(runs_like(["new", "newer"]), path)
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before, "old file and sidecar intact, no temp left"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_text_column_holding_other_objects_is_refused_or_kept(tmp_path, suffix):
    """Whatever save accepts comes back equal; what it cannot keep it refuses, naming the cell."""
    df = pd.DataFrame({"mixed": pd.Series(["a", 2, None], dtype=object)})
    try:
        path = export.save(df, tmp_path / f"m{suffix}")
    except ValueError as e:
        assert "column 'mixed', row 1" in str(e) and files_in(tmp_path) == []
    else:
        assert_same(export.load(path), df)


# ---------------------------------------------------------------- a file that does not match its sidecar

def rewrite(path, edit):
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8", newline="")


def saved(tmp_path, suffix):
    df = pd.DataFrame({"text": ["a", "b", "c"], "n": [1, 2, 3], "flag": [True, False, True]})
    return export.save(df, tmp_path / f"t{suffix}")


def test_csv_extra_column_is_refused(tmp_path):
    path = saved(tmp_path, ".csv")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    eol = "\r\n" if lines[0].endswith("\r\n") else "\n"
    rewrite(path, lambda s: "".join(line.rstrip("\r\n") + (",extra" if i == 0 else ",1") + eol
                                   for i, line in enumerate(lines)))
    with pytest.raises(ValueError, match=rf"{path.name}.*line 1.*column 'extra'"):
        export.load(path)


def test_csv_missing_column_is_refused(tmp_path):
    path = saved(tmp_path, ".csv")
    frame = pd.read_csv(path).drop(columns=["n"])
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=rf"{path.name}.*line 1.*column 'n'"):
        export.load(path)


def test_csv_value_of_the_wrong_type_is_refused(tmp_path):
    path = saved(tmp_path, ".csv")
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[2] = lines[2].replace("2", "two")
    rewrite(path, lambda s: "\n".join(lines))
    with pytest.raises(ValueError, match=rf"{path.name}.*line 3.*column 'n'.*'two'.*int64"):
        export.load(path)


def test_csv_row_with_too_many_cells_is_refused(tmp_path):
    path = saved(tmp_path, ".csv")
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[3] = lines[3].rstrip("\r") + ",surplus"
    rewrite(path, lambda s: "\n".join(lines))
    with pytest.raises(ValueError, match=rf"{path.name}.*line 4"):
        export.load(path)


def test_jsonl_bool_maybe_is_refused(tmp_path):
    path = saved(tmp_path, ".jsonl")
    rewrite(path, lambda s: s.replace('"flag": false', '"flag": "maybe"'))
    assert '"maybe"' in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path.name}.*line 2.*column 'flag'.*'maybe'.*bool"):
        export.load(path)


def test_jsonl_extra_and_missing_keys_are_refused(tmp_path):
    path = saved(tmp_path, ".jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[1])
    rec["extra"] = 1
    rewrite(path, lambda s: "\n".join([lines[0], json.dumps(rec), lines[2]]) + "\n")
    with pytest.raises(ValueError, match=rf"{path.name}.*line 2.*column 'extra'"):
        export.load(path)
    del rec["extra"], rec["n"]
    rewrite(path, lambda s: "\n".join([lines[0], lines[1], json.dumps(rec)]) + "\n")
    with pytest.raises(ValueError, match=rf"{path.name}.*line 3.*column 'n'"):
        export.load(path)


def test_jsonl_line_that_is_not_json_is_refused(tmp_path):
    path = saved(tmp_path, ".jsonl")
    rewrite(path, lambda s: s + "{not json\n")
    with pytest.raises(ValueError, match=rf"{path.name}.*line 4"):
        export.load(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_without_a_sidecar_pandas_infers(tmp_path, suffix):
    df = runs_like(["x", "y, z", "w\r\nv"])
    path = export.save(df, tmp_path / f"plain{suffix}")
    export.meta_path(path).unlink()
    plain = export.load(path)
    assert plain["text"].tolist() == df["text"].tolist()
    assert plain["max_tokens"].tolist() == df["max_tokens"].tolist()


# ---------------------------------------------------------------- privacy

def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_exports_inside_the_lab_folder_are_private(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path / ".lab"))
    path = export.save(runs_like(["a private answer"]), tmp_path / ".lab" / "exports" / "runs.csv")
    assert mode(tmp_path / ".lab") == 0o700 and mode(path.parent) == 0o700
    assert mode(path) == 0o600 and mode(export.meta_path(path)) == 0o600


def test_exports_elsewhere_follow_the_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path / ".lab"))
    old = os.umask(0o022)
    try:
        path = export.save(runs_like(["shared"]), tmp_path / "share" / "runs.jsonl")
    finally:
        os.umask(old)
    assert mode(path) == 0o644 and mode(export.meta_path(path)) == 0o644


def test_numpy_scalars_in_object_columns_round_trip_as_numbers(tmp_path):
    df = pd.DataFrame({"v": pd.Series([np.int64(3), None], dtype=object)})
    path = export.save(df, tmp_path / "np.jsonl")
    assert export.load(path)["v"].tolist() == [3, None]
