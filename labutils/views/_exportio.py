"""The file side of `labutils.export`: encoding columns to CSV/JSONL text, atomic writes, and reading a
file back column by column against its sidecar. Private: use `export.save` and `export.load`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import in_lab_home, lab_home, private_dir
from ..errors import ExportError
from ..params import shown

FORMATS = (".csv", ".jsonl")
NA = "<NA>"
META_SUFFIX = ".meta.json"
_ESCAPED_NA = re.compile(r"\\*<NA>")
_INT = re.compile(r"[+-]?[0-9]+")
_TRUE, _FALSE = ("True", "true", "TRUE"), ("False", "false", "FALSE")
_JSON_TYPES = (type(None), bool, int, float, str, list, dict)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: a spreadsheet runs such a cell


def _formula_safe(text: str) -> str:
    """A CSV text cell a spreadsheet shows as text: one `'` goes before a cell that starts (after any `'`) with a
    formula character, as OWASP advises; `_formula_back` removes it again, so `load` returns the text unchanged."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def _formula_back(text: str) -> str:
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS) else text


def as_path(path: Any, *, saving: bool) -> Path:
    """`path` (a str or path-like) as a Path that can be a file; an ExportError naming it otherwise."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ExportError(f"path={shown(path)} is not allowed: give a file name as a string or pathlib.Path, "
                          "e.g. 'runs.csv'")
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise ExportError(f"path={shown(path)} is not allowed: a file name is a non-empty string without NUL "
                          "characters")
    p = Path(text)
    _format(p)
    try:
        if p.is_dir():
            raise ExportError(f"path={text!r} is a folder: give a file name inside it, e.g. {str(p / 'runs.csv')!r}")
        parent = next((d for d in p.parents if d.exists()), None)
        if saving and parent is not None and not parent.is_dir():
            raise ExportError(f"path={text!r} cannot be written: {str(parent)!r} is a file, not a folder")
    except OSError as e:  # a name too long, a folder without permission
        raise ExportError(f"path={text!r} cannot be used ({e.strerror or e})") from None
    return p


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"path={str(path)!r} has suffix {suffix or '(none)'!r}: use one of {', '.join(FORMATS)}")
    return suffix


def meta_path(path: str | Path) -> Path:
    """Where the sidecar of `path` lives: `runs.csv` -> `runs.csv.meta.json`."""
    path = Path(path)
    return path.with_name(path.name + META_SUFFIX)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    """A JSON value for one cell: numpy scalars become Python ones, NaN/NA become null."""
    if isinstance(v, np.generic):
        v = v.item()
    return None if _missing(v) else v


def _kind(dtype: Any) -> str:
    """How a column is written and parsed: bool, int, float, str (pandas strings), object or other."""
    if isinstance(dtype, pd.StringDtype):
        return "str"
    if isinstance(dtype, np.dtype):
        return {"b": "bool", "i": "int", "u": "int", "f": "float", "O": "object"}.get(dtype.kind, "other")
    types = pd.api.types  # the nullable ones: boolean, Int64, UInt8, Float64, ...
    return ("bool" if types.is_bool_dtype(dtype) else "int" if types.is_integer_dtype(dtype)
            else "float" if types.is_float_dtype(dtype) else "other")


def _dtype(name: str) -> Any:
    try:
        return pd.api.types.pandas_dtype(name)
    except (TypeError, ValueError):
        return np.dtype(object)  # a dtype this pandas does not know: keep the values as they are


# ---------------------------------------------------------------- save


def _refuse(where: str, why: str) -> ExportError:
    return ExportError(f"save: {where}: {why}; nothing was written")


def _text_ok(s: str, where: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise _refuse(where, f"holds a lone surrogate {s[e.start]!r} at position {e.start}, which no UTF-8 "
                             "file can hold (replace it, e.g. s.encode('utf-8', 'replace').decode())") from None


def _attr_default(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else str(v)


def _json(value: Any, where: str, default: Any = None) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=default)
    except (TypeError, ValueError) as e:
        raise _refuse(where, f"cannot be written as JSON ({e})") from None
    _text_ok(text, where)
    return text


def _encode_column(col: pd.Series, name: str, fmt: str) -> list:
    """Each cell of one column as written: CSV text (None for missing) or a JSON value."""
    kind = _kind(col.dtype)
    out = []
    for row, v in enumerate(col.tolist()):
        where = f"column {name!r}, row {row}"
        v = _plain(v)
        if isinstance(v, str):
            _text_ok(v, where)
        if fmt == ".jsonl":
            if kind == "other":
                v = None if v is None else str(v)
            elif not isinstance(v, _JSON_TYPES):
                raise _refuse(where, f"holds {v!r} ({type(v).__name__}), which JSON cannot hold: convert it first")
            elif isinstance(v, (list, dict)):
                v = json.loads(_json(v, where))
            out.append(v)
        elif v is None:
            out.append(None)
        elif kind in ("object", "str"):
            if not isinstance(v, str):
                raise _refuse(where, f"holds {v!r} ({type(v).__name__}); a CSV text column holds only strings and "
                                     f"missing values: save as .jsonl, or convert it (df[{name!r}].astype(str))")
            out.append(_formula_safe("\\" + v if _ESCAPED_NA.fullmatch(v) else v))
        elif kind == "float":
            out.append(repr(float(v)))
        else:
            out.append(str(v))
    if kind == "other":  # an exotic dtype: only save it if it parses back equal
        try:
            same = _typed_column(out, str(col.dtype), fmt, lambda row, why: ValueError(why)).equals(
                col.reset_index(drop=True))
        except ValueError:
            same = False
        if not same:
            raise _refuse(f"column {name!r}", f"its dtype {col.dtype} does not load back equal: convert it first "
                                              f"(e.g. df[{name!r}].astype(str))")
    return out


def _csv_text(cells: dict[str, list], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # quotes any cell holding \r or \n, not only \n
    writer.writerow(columns)
    for row in zip(*(cells[c] for c in columns)):
        writer.writerow([NA if v is None else v for v in row])
    return buf.getvalue()


def _jsonl_text(cells: dict[str, list], columns: list[str], rows: int) -> str:
    return "".join(json.dumps({c: cells[c][i] for c in columns}, ensure_ascii=False) + "\n" for i in range(rows))


def _write_atomic(files: dict[Path, bytes]) -> None:
    """Write each file under a temporary name, flush it to disk, then rename all into place."""
    folder = next(iter(files)).parent
    private = in_lab_home(folder)
    if private:
        private_dir(lab_home())
        private_dir(folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
    temps: dict[Path, Path] = {}
    path = folder
    try:
        for path, data in files.items():
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
            temps[path] = tmp
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as e:
        raise type(e)(e.errno, f"could not write {path} ({e.strerror or e}); the files there are as they were",
                      str(path)) from e
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- load


def _mismatch(path: Path, line: int, column: str, why: str) -> ValueError:
    return ExportError(f"{path}, line {line}, column {column!r}: {why}; the file was changed after it was saved "
                      f"(its sidecar {meta_path(path).name} does not match)")


def _check_columns(path: Path, line: int, found: list[str], columns: list[str]) -> None:
    extra = [c for c in found if c not in columns]
    if extra:
        raise _mismatch(path, line, extra[0], "is not in the sidecar")
    missing = [c for c in columns if c not in found]
    if missing:
        raise _mismatch(path, line, missing[0], "is missing")
    if len(set(found)) != len(found):
        raise _mismatch(path, line, next(c for c in found if found.count(c) > 1), "appears twice")


def _csv_cells(path: Path, columns: list[str]) -> tuple[dict[str, list], list[int]]:
    """Cells by column (str, or None for <NA>), and the line each row starts on."""
    cells: dict[str, list] = {c: [] for c in columns}
    lines: list[int] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise _mismatch(path, 1, columns[0] if columns else "", "is missing (the file is empty)")
            _check_columns(path, 1, header, columns)
            while True:
                start = reader.line_num + 1
                record = next(reader, None)
                if record is None:
                    break
                if len(record) != len(header):
                    raise ExportError(f"{path}, line {start}: {len(record)} cells where the header has "
                                     f"{len(header)}; the file was changed after it was saved")
                lines.append(start)
                for c, v in zip(header, record):
                    cells[c].append(None if v == NA else v)
        except csv.Error as e:
            raise ExportError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise ExportError(f"{path}: not UTF-8 text ({e})") from None
    return cells, lines


def _json_lines(path: Path) -> list[tuple[int, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ExportError(f"{path}: not UTF-8 text ({e})") from None
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except ValueError as e:
                raise ExportError(f"{path}, line {n}: not a JSON record ({e})") from None
    return out


def _jsonl_cells(path: Path, columns: list[str]) -> tuple[dict[str, list], list[int]]:
    cells: dict[str, list] = {c: [] for c in columns}
    lines: list[int] = []
    for n, record in _json_lines(path):
        if not isinstance(record, dict):
            raise ExportError(f"{path}, line {n}: not a JSON object; the file was changed after it was saved")
        _check_columns(path, n, list(record), columns)
        lines.append(n)
        for c in columns:
            cells[c].append(record[c])
    return cells, lines


def _typed_column(values: list, dtype_name: str, fmt: str, refuse: Any) -> pd.Series:
    """One column back to its saved dtype; `refuse(row, why)` builds the error for a cell that does not fit."""
    dtype = _dtype(dtype_name)
    kind = _kind(dtype)
    csv_text = fmt == ".csv"
    parsed = []
    for row, v in enumerate(values):
        if kind in ("object", "str"):
            if csv_text and v is not None:
                v = _formula_back(v)
                v = v[1:] if _ESCAPED_NA.fullmatch(v) else v
            elif kind == "str" and not csv_text and not isinstance(v, (str, type(None))):
                raise refuse(row, f"{v!r} is not a string")
        elif kind == "other" or (v is None and (kind == "float" or not isinstance(dtype, np.dtype))):
            pass  # missing in a float or a nullable (boolean, Int64) column
        elif v is None:
            raise refuse(row, "a missing value, which this column cannot hold")
        else:
            v = _cell(v, kind, csv_text)
            if v is None:
                raise refuse(row, f"{values[row]!r} is not a valid {dtype_name}")
        parsed.append(v)
    try:
        if kind == "other":
            return pd.Series(parsed, dtype=object).astype(dtype)
        return pd.Series(parsed, dtype=dtype if kind != "object" else object)
    except (TypeError, ValueError, OverflowError) as e:  # e.g. an int too large for int64
        bad = next((r for r, v in enumerate(parsed) if not _casts(v, dtype)), 0)
        raise refuse(bad, f"{values[bad]!r} is not a valid {dtype_name} ({e})") from None


def _cell(v: Any, kind: str, csv_text: bool) -> Any:
    """A bool, int or float cell parsed strictly; None when it is not one."""
    if kind == "bool":
        if not csv_text:
            return v if isinstance(v, bool) else None
        return True if v in _TRUE else False if v in _FALSE else None
    if kind == "int":
        if not csv_text:
            return v if isinstance(v, int) and not isinstance(v, bool) else None
        return int(v) if _INT.fullmatch(v) else None
    if not csv_text:
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    try:
        return float(v)
    except ValueError:
        return None


def _casts(v: Any, dtype: Any) -> bool:
    try:
        pd.Series([v], dtype=object).astype(dtype)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


