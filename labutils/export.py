"""Save and load `runs` and `summary` as CSV or JSON Lines, so a sweep can be shared and reloaded.

`save(df, "runs.csv")` / `save(df, "runs.jsonl")` write the table (the format follows the suffix) and a
small sidecar `runs.csv.meta.json` with each column's dtype and `df.attrs` (model, base_url, messages,
stop). `load(path)` reads both back, so the frame is equal to the one saved: dtypes, bools, ints,
None vs NaN, and attrs included. Without the sidecar (a file from elsewhere) pandas infers the dtypes.
In CSV a missing value is written `<NA>` (which pandas reads as missing), so an empty answer "" and a
failed call's missing text stay different. The index is not saved (runs and summary use a plain one).
Taught in notebooks/05_parameter_grid.ipynb.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = (".csv", ".jsonl")
NA = "<NA>"
META_SUFFIX = ".meta.json"


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"path={str(path)!r} has suffix {suffix or '(none)'!r}: use one of {', '.join(FORMATS)}")
    return suffix


def meta_path(path: str | Path) -> Path:
    """Where the sidecar of `path` lives: `runs.csv` -> `runs.csv.meta.json`."""
    path = Path(path)
    return path.with_name(path.name + META_SUFFIX)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    """A JSON value for one cell: numpy scalars become Python ones, NaN/NA become null."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return None if v is None or v is pd.NA else v


def save(df: pd.DataFrame, path: str | Path) -> Path:
    """Write `df` (runs or summary) to `path` (.csv or .jsonl) plus its `.meta.json` sidecar; return the path.

    >>> save(runs, "my_sweep.jsonl")  # doctest: +SKIP

    Taught in notebooks/05_parameter_grid.ipynb.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"save: df must be a pandas DataFrame (runs or summary), got {type(df).__name__}")
    path = Path(path)
    fmt = _format(path)
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad or df.columns.duplicated().any():
        raise ValueError(f"save: column names must be distinct strings; got {list(df.columns)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".csv":
        df.to_csv(path, index=False, na_rep=NA)
    else:
        with path.open("w", encoding="utf-8") as f:
            for row in df.itertuples(index=False, name=None):
                record = {c: _plain(v) for c, v in zip(df.columns, row)}
                f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    meta = {"columns": list(df.columns), "dtypes": {c: str(t) for c, t in df.dtypes.items()},
            "attrs": df.attrs}
    meta_path(path).write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def load(path: str | Path) -> pd.DataFrame:
    """Read a frame written by `save` (dtypes and attrs restored from the sidecar when it is there).

    Taught in notebooks/05_parameter_grid.ipynb.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.exists():
        raise FileNotFoundError(f"no file {str(path)!r} to load")
    side = meta_path(path)
    meta = json.loads(side.read_text(encoding="utf-8")) if side.exists() else None
    if fmt == ".csv":
        if meta is None:
            return pd.read_csv(path)
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[NA])
        columns = {c: raw[c].tolist() if c in raw else [None] * len(raw) for c in meta["columns"]}
    else:
        with path.open(encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        if meta is None:
            return pd.DataFrame.from_records(records)
        columns = {c: [r.get(c) for r in records] for c in meta["columns"]}
    out = pd.DataFrame({c: _typed(values, meta["dtypes"].get(c, "object"))
                        for c, values in columns.items()}, columns=meta["columns"])
    out.attrs.update(meta.get("attrs") or {})
    return out


def _typed(values: list, dtype: str) -> pd.Series:
    """One column back to its saved dtype. CSV cells arrive as strings (or NaN for <NA>), JSON cells typed."""
    values = [None if _missing(v) else v for v in values]
    if dtype == "bool":
        return pd.Series([v in (True, "True", "true", "1") for v in values], dtype=bool)
    if dtype.startswith(("int", "uint")) and None not in values:
        return pd.Series([int(v) for v in values], dtype=dtype)
    if dtype.startswith(("int", "uint", "float")):
        return pd.Series([float("nan") if v is None else float(v) for v in values]).astype(dtype)
    if dtype == "object":
        return pd.Series(values, dtype=object)
    try:
        return pd.Series(values).astype(dtype)
    except (TypeError, ValueError):  # an exotic dtype: keep the values as they are
        return pd.Series(values, dtype=object)


__all__ = ["FORMATS", "load", "meta_path", "save"]
