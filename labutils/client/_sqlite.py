"""The response cache's file side: its tables and opening a checked connection, which SQLite errors prove
corruption, moving a damaged file aside without overwriting, and whether a claiming process still runs.
Private to `labutils.client.cache`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

_CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_CORRUPT_WORDS = ("file is not a database", "database disk image is malformed")
_SIDE_FILES = ("-wal", "-shm")
_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL)"
_PENDING = ("CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, "
            "since REAL NOT NULL)")



class _CorruptFile(sqlite3.DatabaseError):
    """`PRAGMA quick_check` found damage that no statement has hit yet."""


class _FolderUnusable(OSError):
    """The cache folder cannot be created or entered."""


def _is_corrupt(error: sqlite3.Error) -> bool:
    """Only proven corruption: SQLite's own CORRUPT/NOTADB verdict or a failed quick_check."""
    if isinstance(error, _CorruptFile):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    return any(w in str(error) for w in _CORRUPT_WORDS)


def _side(path: Path, suffix: str) -> Path:
    return Path(str(path) + suffix)


def _move_aside(src: Path, dst: Path) -> None:
    """Move src to dst, never over an existing file (FileExistsError instead)."""
    try:
        os.link(src, dst)  # fails when dst exists, unlike rename
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if dst.exists():
            raise FileExistsError(str(dst)) from None
        src.rename(dst)
    else:
        src.unlink()


def _alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (a class hub): it exists
        return True
    return True


def _damage_seen_fresh(path: Path) -> str | None:
    """What `PRAGMA quick_check` finds wrong with `path`, read through a new read-only connection (an open one
    keeps pages in memory and misses damage done under it); None when sound, busy or unreadable (the
    statements themselves report those)."""
    try:
        fresh = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            rows = fresh.execute("PRAGMA quick_check").fetchall()
        finally:
            fresh.close()
    except sqlite3.Error as e:
        return str(e) if _is_corrupt(e) else None
    return None if rows == [("ok",)] else " ".join(str(r[0]) for r in rows).replace("\n", " ")


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the cache file at `path` in WAL mode, checked (`PRAGMA quick_check`) and with its tables."""
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            found = " ".join(str(r[0]) for r in rows).replace("\n", " ")
            raise _CorruptFile(f"database disk image is malformed (PRAGMA quick_check: {found[:200]})")
        conn.execute(_SCHEMA)
        conn.execute(_PENDING)
    except sqlite3.Error:
        conn.close()
        raise
    return conn
