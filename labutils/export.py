"""Save and load `runs` and `summary` as CSV or JSON Lines, so a sweep can be shared and reloaded.

`save(df, "runs.csv")` / `save(df, "runs.jsonl")` write the table (the format follows the suffix) and a
small sidecar `runs.csv.meta.json` with each column's dtype and `df.attrs` (model, base_url, messages,
stop). `load(path)` reads both back, and the frame is equal to the one saved: values, dtypes, bools,
ints, None vs NaN, and attrs (the index is not saved: runs and summary use a plain one).

- Any text round-trips: control characters, quotes, separators, every kind of line break. In CSV a
  missing value is written `<NA>` (which pandas reads as missing), so an empty answer "" and a failed
  call's missing text stay different; a text that is literally `<NA>` is written `\\<NA>`.
- What a file cannot hold is refused before anything is written, naming the column and row: a lone
  surrogate such as '\\ud800' (no UTF-8 file can hold it), a CSV text column holding numbers or other
  objects (save those as .jsonl), a JSONL cell that is not JSON.
- Writes are atomic: the file and its sidecar are written under temporary names and renamed into
  place, so a failure (a full disk) leaves the previous files as they were.
- With the sidecar, a file that does not match it (a column added or dropped, a value that is not of
  its column's dtype, such as a bool "maybe") is refused with the file, the line and the column.
  Without the sidecar (a file from elsewhere) pandas infers the dtypes.
- Files under the lab folder (`.lab/exports/`) are private (0600 in a 0700 folder); elsewhere they get
  the usual permissions (your umask).

Taught in notebooks/08_parameter_grid.ipynb.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ._exportio import (  # noqa: F401  (FORMATS, NA, META_SUFFIX are public here too)
    FORMATS,
    META_SUFFIX,
    NA,
    _attr_default,
    _csv_cells,
    _csv_text,
    _encode_column,
    _format,
    _json,
    _json_lines,
    _jsonl_cells,
    _jsonl_text,
    _text_ok,
    _typed_column,
    _write_atomic,
    as_path,
    meta_path,
)
from .errors import ExportError, ParameterTypeError


def save(df: pd.DataFrame, path: str | Path) -> Path:
    """Write `df` (runs or summary) to `path` (.csv or .jsonl) plus its `.meta.json` sidecar; return the path.

    >>> save(runs, "my_sweep.jsonl")  # doctest: +SKIP

    Taught in notebooks/08_parameter_grid.ipynb.
    """
    if not isinstance(df, pd.DataFrame):
        raise ParameterTypeError(f"save: df must be a pandas DataFrame (runs or summary), got {type(df).__name__}")
    path = as_path(path, saving=True)
    fmt = _format(path)
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad or df.columns.duplicated().any():
        raise ExportError(f"save: column names must be distinct strings; got {list(df.columns)}")
    if len(df.columns) == 0:
        raise ExportError("save: df has no columns; there is nothing to save")
    for c in df.columns:
        _text_ok(c, f"column name {c!r}")
    cells = {c: _encode_column(df[c], c, fmt) for c in df.columns}
    body = _csv_text(cells, list(df.columns)) if fmt == ".csv" else _jsonl_text(cells, list(df.columns), len(df))
    meta = {"columns": list(df.columns), "dtypes": {c: str(t) for c, t in df.dtypes.items()}, "attrs": {}}
    for name, value in df.attrs.items():
        meta["attrs"][name] = json.loads(_json(value, f"attrs[{name!r}]", default=_attr_default))
    side = json.dumps(meta, indent=1, ensure_ascii=False)
    _write_atomic({path: body.encode("utf-8"), meta_path(path): side.encode("utf-8")})
    return path


def load(path: str | Path) -> pd.DataFrame:
    """Read a frame written by `save` (dtypes and attrs restored from the sidecar when it is there).

    Raises ValueError naming the file, line and column when the file does not match its sidecar.
    Taught in notebooks/08_parameter_grid.ipynb.
    """
    path = as_path(path, saving=False)
    fmt = _format(path)
    if not path.exists():
        raise FileNotFoundError(f"no file {str(path)!r} to load")
    side = meta_path(path)
    if not side.exists():
        try:
            return pd.read_csv(path) if fmt == ".csv" else pd.DataFrame.from_records([r for _, r in _json_lines(path)])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, TypeError) as e:
            raise ExportError(f"{path}: not a table pandas can read ({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        columns, dtypes = list(meta["columns"]), dict(meta["dtypes"])
        if not all(isinstance(c, str) for c in columns) or not isinstance(meta.get("attrs") or {}, dict):
            raise TypeError("columns must be strings and attrs a dict")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ExportError(f"{side}: not a sidecar written by export.save ({e})") from None
    cells, lines = _csv_cells(path, columns) if fmt == ".csv" else _jsonl_cells(path, columns)

    def refuse(column: str):
        def at(row: int, why: str) -> ValueError:
            return ExportError(f"{path}, line {lines[row]}, column {column!r}: {why} (its sidecar {side.name} "
                              f"says {dtypes.get(column, 'object')}); the file was changed after it was saved")
        return at

    out = pd.DataFrame({c: _typed_column(cells[c], dtypes.get(c, "object"), fmt, refuse(c)) for c in columns},
                       columns=columns)
    out.attrs.update(meta.get("attrs") or {})
    return out


__all__ = ["FORMATS", "load", "meta_path", "save"]
