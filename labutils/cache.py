"""The response cache: SQLite on disk, keyed by everything that decides an answer.

Only reproducible requests are cached (a seed is set, or temperature is 0), and only successful
answers are stored, so a cached answer equals what the server would return. A corrupt file is moved
aside with a warning and rebuilt. Set `LAB_CACHE_DIR` to move it. Taught in notebooks/05_parameter_grid.ipynb.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from .paths import lab_home

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL)"


def default_path() -> Path:
    """`$LAB_CACHE_DIR/responses.sqlite`, else `.lab/cache/responses.sqlite`."""
    folder = os.environ.get("LAB_CACHE_DIR")
    return (Path(folder).expanduser() if folder else lab_home() / "cache") / "responses.sqlite"


def key(base_url: str, model: str, messages: list[dict], params: dict[str, Any]) -> str:
    """A stable hash of the request: URL, model, messages and every sampling parameter."""
    blob = json.dumps({"url": base_url.rstrip("/"), "model": model, "messages": messages, "params": params},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def cacheable(params: dict[str, Any]) -> bool:
    """Only seeded or temperature-0 requests give the same answer twice."""
    return params.get("seed") is not None or params.get("temperature") == 0


class Cache:
    """A small key -> JSON record store, safe for threads and for two notebooks at once."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._connect()
            except sqlite3.DatabaseError as e:
                self._quarantine(e)
                self._conn = self._connect()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            conn.execute("SELECT count(*) FROM responses").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _quarantine(self, error: Exception) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                p.replace(Path(str(aside) + suffix))
        warnings.warn(f"response cache {self.path} was unreadable ({error}); moved it to {aside} and "
                      "started an empty one", stacklevel=3)

    def _run(self, sql: str, args: tuple = ()) -> list:
        with self._lock:
            for attempt in (1, 2):
                try:
                    return self._open().execute(sql, args).fetchall()
                except sqlite3.OperationalError as e:
                    if "locked" in str(e) or attempt == 2:
                        raise
                    self._quarantine(e)
                except sqlite3.DatabaseError as e:
                    if attempt == 2:
                        raise
                    self._quarantine(e)
        return []

    def get(self, k: str) -> dict | None:
        rows = self._run("SELECT record FROM responses WHERE key = ?", (k,))
        return json.loads(rows[0][0]) if rows else None

    def put(self, k: str, record: dict) -> None:
        self._run("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (k, json.dumps(record), time.time()))

    def __contains__(self, k: str) -> bool:
        return bool(self._run("SELECT 1 FROM responses WHERE key = ?", (k,)))

    def __len__(self) -> int:
        return self._run("SELECT count(*) FROM responses")[0][0]

    def clear(self) -> None:
        self._run("DELETE FROM responses")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def clear(path: str | Path | None = None) -> None:
    """Empty the response cache (the default one, or the file at `path`)."""
    c = Cache(path)
    c.clear()
    c.close()
