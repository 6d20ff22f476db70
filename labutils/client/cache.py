"""The response cache: SQLite on disk, keyed by everything that decides an answer.

Only reproducible requests are cached (a seed is set, or temperature is 0), and only successful
answers are stored, so a cached answer equals what the server would return. Set `LAB_CACHE_DIR` to
move it. Taught in notebooks/08_parameter_grid.ipynb.

The cache never costs a learner an answer. Two faults are kept apart:
- proven corruption ("file is not a database", "database disk image is malformed", a failed
  `PRAGMA quick_check`): the file is moved aside under a name no other file has (`*.corrupt-<time>`,
  never over an earlier one), with a warning, and an empty cache takes its place (a sweep looks for it every
  WATCH_S while it runs, so damage done under its open connection is reported when it happens);
- "cannot read or write" (read-only file, full disk, I/O error, a folder without permission, a lock
  held too long): the file is left exactly as it was, the cache warns once (per `Cache`) naming the
  path and the cause, `get` answers None and `put` stores nothing, so a sweep simply runs uncached.
A new cache file appears complete (it is built under a temporary name and linked into place), so a
0-byte cache file was emptied by something else: it is used as the empty database it is, with a
warning that its answers are gone. The cache folder and files are private (0700/0600): they hold
every prompt and answer.

One request in flight per answer: before sending, a request `claim`s its key; the same request from
another notebook or learner sharing the cache (a class hub's class-wide cache) then waits for that
answer instead of generating it again (`wait`), so 30 learners pressing Run on the same seeded grid
cost the server one grid. A claim whose process is gone (a kernel killed mid-sweep) or that is older
than the request timeout is ignored, so nobody waits on a dead learner.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from ..config import in_lab_home, lab_home, private_dir, private_file
from ._inflight import _InFlight
from ._sqlite import (
    _SIDE_FILES,
    _alive,
    _connect,
    _CorruptFile,
    _damage_seen_fresh,
    _FolderUnusable,
    _is_corrupt,
    _move_aside,
    _side,
)

POLL_S = 0.25  # how often a request waiting for another's identical request looks for its answer
WATCH_S = 2.0  # while a sweep runs, how often it looks at its cache file for damage (quick_check: ~30 ms per 12 MB)


def default_path() -> Path:
    """`$LAB_CACHE_DIR/responses.sqlite`, else `.lab/cache/responses.sqlite`."""
    folder = os.environ.get("LAB_CACHE_DIR")
    return (Path(folder).expanduser() if folder else lab_home() / "cache") / "responses.sqlite"


def key(base_url: str, model: str, messages: list[dict], params: dict[str, Any], engine: str | None = None,
        surface: dict[str, Any] | None = None) -> str:
    """A stable hash of the request: URL, model, messages, every sampling parameter, the engine and the API.

    `engine` names the server build behind the URL where it is known (the embedded llama-server's
    build and model file): another engine gives another text for the same seed, so its answers must
    never be served as this one's.
    """
    request = {"url": base_url.rstrip("/"), "model": model, "messages": messages, "params": params}
    if engine is not None:
        request["engine"] = engine
    if surface is not None:  # another API than chat.completions (the Responses API: Lab.respond), and its fields
        request["surface"] = surface
    blob = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
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
        self._ro: sqlite3.Connection | None = None  # read-only, when the file can be read but not written
        self._warned = False
        self._watched = time.monotonic()  # when `watch` last looked (opening the file looks too)

    # ------------------------------------------------------------ opening

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self._prepare_folder()
            if not self.path.exists():
                self._create()
            for p in (self.path, *(_side(self.path, s) for s in _SIDE_FILES)):
                private_file(p, create=False)  # an older lab left them world-readable
            truncated = self.path.stat().st_size == 0
            self._conn = _connect(self.path)
            if truncated:
                warnings.warn(f"response cache {self.path} was 0 bytes: it was emptied outside the lab and its "
                              "answers are gone; using it as an empty cache (answers are requested again)",
                              stacklevel=4)
        return self._conn

    def _prepare_folder(self) -> None:
        folder = self.path.parent
        try:
            if in_lab_home(folder):
                private_dir(lab_home())
                private_dir(folder)
            elif not folder.is_dir():
                private_dir(folder)  # a folder of the learner's choosing is created private, not changed
        except OSError as e:
            raise _FolderUnusable(f"response cache folder {folder} cannot be used ({e})") from e

    def _create(self) -> None:
        """Build an empty cache under a temporary name and link it into place, so no process ever sees
        a half-made (0-byte) file; a cache another process made first is kept."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}.new")
        try:
            private_file(tmp)
            _connect(tmp).close()
            with contextlib.suppress(FileExistsError):  # another process made it first: keep theirs
                _move_aside(tmp, self.path)
        finally:
            for p in (tmp, *(_side(tmp, s) for s in _SIDE_FILES)):
                p.unlink(missing_ok=True)

    # ------------------------------------------------------------ faults

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _quarantine(self, error: Exception) -> None:
        """Move a proven-corrupt file (and its -wal/-shm) aside under a name no file has yet."""
        self._close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1, 10_000):
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}" + (f"-{n}" if n > 1 else ""))
            if any(_side(aside, s).exists() for s in ("", *_SIDE_FILES)):
                continue
            try:
                _move_aside(self.path, aside)
            except FileExistsError:
                continue
            break
        else:
            raise FileExistsError(f"no free name to move {self.path} aside")
        for s in _SIDE_FILES:
            if _side(self.path, s).exists():
                _move_aside(_side(self.path, s), _side(aside, s))
        warnings.warn(f"response cache {self.path} was unreadable ({error}): moved it to {aside} and started "
                      "an empty one", stacklevel=4)

    def _cannot(self, doing: str, error: Exception) -> None:
        """Warn once per Cache that it cannot read or write; the file is not touched."""
        self._close()
        if self._warned:
            return
        self._warned = True
        if isinstance(error, _FolderUnusable):
            what = f"{error}; answers are not cached"
        else:
            what = f"response cache {self.path} cannot be {doing} ({error}); the file is left as it was and"
            what += " answers are not cached" if doing == "written" else " answers are requested from the server"
        warnings.warn(f"{what}. Free some disk space or fix the permissions, or set LAB_CACHE_DIR to another "
                      "folder. (Warned once; the sweep goes on.)", stacklevel=4)

    def _run(self, sql: str, args: tuple = (), *, doing: str, default: Any, quiet: bool = True) -> Any:
        """Run one statement; on a fault warn (or raise when not `quiet`) and return `default`."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    rows = self._open().execute(sql, args).fetchall()
                    self._close_read_only()
                    return rows
                except sqlite3.Error as e:
                    if attempt == 1 and _is_corrupt(e):
                        try:
                            self._quarantine(e)
                            continue
                        except OSError as moving:
                            e = sqlite3.DatabaseError(f"{e}, and it could not be moved aside: {moving}")
                    error: Exception = e
                except OSError as e:
                    error = e
                if not quiet:
                    self._close()
                    raise OSError(f"could not clear the response cache {self.path} ({error})") from error
                rows = self._read_only(sql, args) if doing == "read" else None
                if rows is not None:  # e.g. a full disk: WAL needs room to open, a read-only view does not
                    self._cannot("written", error)
                    return rows
                self._cannot(doing, error)
                return default
        return default

    def _read_only(self, sql: str, args: tuple) -> list | None:
        """Run a read on a read-only view of the file (no journal, nothing written); None when that fails too."""
        try:
            if self._ro is None:
                if not self.path.is_file():
                    return None
                self._ro = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                           check_same_thread=False)
            return self._ro.execute(sql, args).fetchall()
        except (sqlite3.Error, OSError, ValueError):
            self._close_read_only()
            return None

    def _close_read_only(self) -> None:
        if self._ro is not None:
            self._ro.close()
            self._ro = None

    def check(self) -> bool:
        """Look for damage now (`PRAGMA quick_check`): a sweep calls it when it ends, so a cache damaged while
        it ran is reported (and moved aside) at once, not at the next open. True when the file is sound."""
        rows = self._run("PRAGMA quick_check", doing="read", default=None)
        if rows is not None and rows != [("ok",)]:
            with self._lock:
                found = " ".join(str(r[0]) for r in rows).replace("\n", " ")
                with contextlib.suppress(OSError):  # it could not be moved: the next open reports it again
                    self._quarantine(_CorruptFile(f"damaged while in use (PRAGMA quick_check: {found[:200]})"))
            return False
        return rows is not None

    def watch(self) -> bool:
        """While a sweep runs (at most every WATCH_S): look at the file as a new reader would, since an open
        connection keeps pages in memory and misses damage done under it. Damage is reported, and the file moved
        aside, when it is found, not at the sweep's end; a file removed while in use is said so, and the next
        answer goes to a new one. True when the file is sound (or was not looked at now)."""
        if self._conn is None or time.monotonic() - self._watched < WATCH_S:
            return True
        with self._lock:
            self._watched = time.monotonic()
            if self._conn is None:
                return True
            if not self.path.exists():
                self._close()
                warnings.warn(f"response cache {self.path} was removed while in use: the answers stored in it are "
                              "gone; the next ones go to a new file", stacklevel=2)
                return False
            found = _damage_seen_fresh(self.path)
            if found is None:
                return True
            with contextlib.suppress(OSError):  # it could not be moved: the next open reports it again
                self._quarantine(_CorruptFile(f"damaged while in use (PRAGMA quick_check: {found[:200]})"))
            return False

    # ------------------------------------------------------------ the store

    def get(self, k: str) -> dict | None:
        """The stored record of key `k`, or None (not stored, or the cache cannot be read)."""
        rows = self._run("SELECT record FROM responses WHERE key = ?", (k,), doing="read", default=[])
        return json.loads(rows[0][0]) if rows else None

    def put(self, k: str, record: dict) -> None:
        """Store `record` under `k`; when the cache cannot be written, warn once and go on."""
        self._run("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (k, json.dumps(record), time.time()),
                  doing="written", default=None)

    # ------------------------------------------------------------ one request in flight per answer

    def claim(self, k: str, ttl: float) -> bool:
        """Mark the answer of `k` as being generated by this process; False when a live claim of another
        process holds it (a claim older than `ttl` seconds, or of a process of this host that is gone, is
        taken over). True also when the cache cannot be written: then nobody waits."""
        now = time.time()
        for host, pid, since in self._run("SELECT host, pid, since FROM pending WHERE key = ?", (k,),
                                          doing="read", default=[]):
            here = host == socket.gethostname()
            if (here and pid == os.getpid()) or now - since > ttl or (here and not _alive(pid)):
                self._run("DELETE FROM pending WHERE key = ? AND pid = ? AND host = ?", (k, pid, host),
                          doing="written", default=None)
        got = self._run("INSERT OR IGNORE INTO pending VALUES (?, ?, ?, ?) RETURNING key",
                        (k, socket.gethostname(), os.getpid(), now), doing="written", default=None)
        return got is None or bool(got)

    def release(self, k: str) -> None:
        """Drop this process's claim of `k` (the answer is stored, or the request failed)."""
        self._run("DELETE FROM pending WHERE key = ? AND host = ? AND pid = ?", (k, socket.gethostname(), os.getpid()),
                  doing="written", default=None)

    def wait(self, k: str, timeout: float, cancel: threading.Event | None = None) -> dict | None:
        """The record of `k` once the process that claimed it stores it; None when its claim ends without
        an answer (it failed, or its process died), after `timeout` seconds, or when `cancel` is set."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (cancel is not None and cancel.is_set()):
            record = self.get(k)
            if record is not None:
                return record
            if not self._run("SELECT 1 FROM pending WHERE key = ?", (k,), doing="read", default=[]):
                return self.get(k)  # stored just before the claim was dropped, or given up
            time.sleep(POLL_S)
        return None

    def in_flight(self, k: str, ttl: float, cancel: threading.Event | None = None):
        """One request in flight per answer, as a context: it yields the answer another process generated
        for `k` while this one waited (use it, send nothing), or None: this process holds the claim (or a
        claim could not be had), generates the answer and `put`s it; the claim is released on exit.

            with cache.in_flight(k, ttl) as record:
                done = record or generate_and_put()
        """
        return _InFlight(self, k, ttl, cancel)

    def __contains__(self, k: str) -> bool:
        return bool(self._run("SELECT 1 FROM responses WHERE key = ?", (k,), doing="read", default=[]))

    def __len__(self) -> int:
        rows = self._run("SELECT count(*) FROM responses", doing="read", default=[])
        return rows[0][0] if rows else 0

    def clear(self) -> None:
        """Delete every stored answer; raises OSError naming the file when it cannot."""
        self._run("DELETE FROM responses", doing="written", default=None, quiet=False)

    def close(self) -> None:
        with self._lock:
            self._close()
            self._close_read_only()

    def __del__(self) -> None:
        # A Cache dropped without close() closes its connections itself: Python 3.13 warns about an unclosed
        # sqlite3 connection (ResourceWarning) when it is collected. Unreachable, so nobody holds its lock.
        with contextlib.suppress(Exception):  # e.g. __init__ failed before the attributes existed
            self.close()


def clear(path: str | Path | None = None) -> None:
    """Empty the response cache (the default one, or the file at `path`)."""
    with contextlib.closing(Cache(path)) as c:
        c.clear()
