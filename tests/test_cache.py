"""Response cache: keys, hits, corruption vs. "cannot write", private files, concurrent writers. No server."""

import contextlib
import gc
import multiprocessing as mp
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import warnings

import pytest

from labutils import Grid, config
from labutils.client import cache

BASE = ("http://127.0.0.1:8321", "m", [{"role": "user", "content": "hi"}],
        {"temperature": 0.7, "top_p": 0.9, "max_tokens": 16, "seed": 1, "stop": ["\n"]})


def test_key_is_stable_and_ignores_dict_order():
    url, model, msgs, params = BASE
    assert cache.key(*BASE) == cache.key(url + "/", model, msgs, dict(reversed(params.items())))


@pytest.mark.parametrize(("field", "value"), [
    ("url", "http://other:8321"), ("model", "m2"), ("messages", [{"role": "user", "content": "hi!"}]),
    ("temperature", 0.8), ("top_p", 0.95), ("max_tokens", 17), ("seed", 2), ("stop", ["."]),
    ("logprobs", True),
])
def test_every_field_changes_the_key(field, value):
    url, model, msgs, params = BASE
    args = {"base_url": url, "model": model, "messages": msgs, "params": dict(params)}
    if field == "url":
        args["base_url"] = value
    elif field in ("model", "messages"):
        args[field] = value
    else:
        args["params"][field] = value
    assert cache.key(**args) != cache.key(*BASE)


def test_only_reproducible_requests_are_cacheable():
    assert cache.cacheable({"seed": 0, "temperature": 1})
    assert cache.cacheable({"temperature": 0.0})
    assert not cache.cacheable({"temperature": 0.7})
    assert not cache.cacheable({})


def test_hit_miss_clear(tmp_path):
    store = cache.Cache(tmp_path / "c.sqlite")
    assert store.get("k") is None and "k" not in store
    store.put("k", {"text": "hello"})
    assert store.get("k") == {"text": "hello"} and len(store) == 1
    store.close()
    cache.clear(tmp_path / "c.sqlite")
    assert len(cache.Cache(tmp_path / "c.sqlite")) == 0


def test_default_path_follows_env(tmp_cache):
    assert cache.default_path() == tmp_cache


def test_corrupt_file_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    store = cache.Cache(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.get("k") is None
        store.put("k", {"text": "ok"})
    assert any("unreadable" in str(w.message) for w in caught)
    assert store.get("k") == {"text": "ok"}
    assert list(tmp_path.glob("c.sqlite.corrupt-*")), "the bad file is kept for inspection"


def test_concurrent_writers_do_not_corrupt(tmp_path):
    path = tmp_path / "c.sqlite"
    stores = [cache.Cache(path) for _ in range(4)]  # like four notebooks

    def write(i):
        for j in range(50):
            stores[i].put(f"{i}-{j}", {"text": str(j)})

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache.Cache(path)) == 200
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---------------------------------------------------------------- faults: corruption vs "cannot write"

def filled(path, n=12):
    """A cache file at `path` holding `n` answers, closed again."""
    store = cache.Cache(path)
    for i in range(n):
        store.put(f"k{i}", {"text": f"answer {i}"})
    store.close()
    return path


def recorded(fn):
    """Run fn(); return (its result, the warnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught]


def patch_connections(monkeypatch, setup=None, factory=None):
    """Every sqlite connection the cache opens from now on gets `setup(conn)` run on it / uses `factory`."""
    real = sqlite3.connect

    def connect(*args, **kwargs):
        if factory is not None:
            kwargs["factory"] = factory
        conn = real(*args, **kwargs)
        if setup is not None:
            setup(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def full_disk(conn):
    """A real SQLITE_FULL: the file may not grow by one more page."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")


def test_full_disk_keeps_the_cache_warns_once_and_answers(tmp_path, monkeypatch):
    path = filled(tmp_path / "c.sqlite")
    patch_connections(monkeypatch, setup=full_disk)
    store = cache.Cache(path)

    def sweep():
        for i in range(3):  # three failed writes in one second (the repro)
            store.put(f"new{i}", {"text": "x" * 20_000})
        return [store.get(f"k{i}") for i in range(12)]

    answers, said = recorded(sweep)
    assert answers == [{"text": f"answer {i}"} for i in range(12)], "the cache still answers"
    assert len(said) == 1, said
    assert str(path) in said[0] and "full" in said[0]
    assert not list(tmp_path.glob("*corrupt*")), "a full disk is not corruption"
    store.close()
    monkeypatch.undo()
    assert len(cache.Cache(path)) == 12


def test_read_only_file_is_read_not_quarantined(tmp_path, monkeypatch):
    path = filled(tmp_path / "c.sqlite")
    before = path.read_bytes()
    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect",  # root ignores chmod, so open the file read-only instead
                        lambda p, *a, **kw: real(f"file:{p}?mode=ro", *a, uri=True, **kw))
    store = cache.Cache(path)
    out, said = recorded(lambda: (store.put("new", {"text": "n"}), store.put("new2", {"text": "n"}),
                                  store.get("k3"), "new" in store))
    assert out == (None, None, {"text": "answer 3"}, False)
    assert len(said) == 1 and str(path) in said[0] and "readonly" in said[0], said
    assert path.read_bytes() == before and not list(tmp_path.glob("*corrupt*"))


class FailingIO(sqlite3.Connection):
    """Every statement fails like a dying disk."""

    def execute(self, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")


def test_io_error_gives_no_answer_and_leaves_the_file(tmp_path, monkeypatch):
    path = filled(tmp_path / "c.sqlite")
    before = path.read_bytes()
    patch_connections(monkeypatch, factory=FailingIO)
    store = cache.Cache(path)
    out, said = recorded(lambda: (store.get("k1"), "k1" in store, len(store), store.put("k1", {"text": "z"})))
    assert out == (None, False, 0, None)
    assert len(said) == 1 and str(path) in said[0] and "disk I/O error" in said[0], said
    assert path.read_bytes() == before and not list(tmp_path.glob("*corrupt*"))


def test_clear_that_cannot_write_says_so(tmp_path, monkeypatch):
    path = filled(tmp_path / "c.sqlite")
    patch_connections(monkeypatch, factory=FailingIO)
    with pytest.raises(OSError, match=r"could not clear the response cache .*disk I/O error"):
        cache.clear(path)


def test_quarantines_never_overwrite_each_other(tmp_path):
    path = tmp_path / "c.sqlite"
    for i in range(3):  # three corrupt files in the same second
        path.write_bytes(f"not a database, take {i} ".encode() * 100)
        store = cache.Cache(path)
        _, said = recorded(lambda: store.put("k", {"text": "ok"}))  # noqa: B023
        assert len(said) == 1 and "moved it to" in said[0]
        store.close()
    asides = sorted(tmp_path.glob("c.sqlite.corrupt-*"))
    assert len(asides) == 3, asides
    assert {p.read_bytes()[:23] for p in asides} == {f"not a database, take {i} ".encode() for i in range(3)}


def test_malformed_database_is_moved_aside(tmp_path):
    path = filled(tmp_path / "c.sqlite", n=40)
    data = bytearray(path.read_bytes())
    data[4096 + 100:] = b"\xab" * (len(data) - 4096 - 100)  # header intact, pages garbage
    path.write_bytes(bytes(data))
    store = cache.Cache(path)
    out, said = recorded(lambda: (store.get("k1"), store.put("k1", {"text": "new"}), store.get("k1")))
    assert out == (None, None, {"text": "new"})
    assert len(said) == 1 and "malformed" in said[0] and "moved it to" in said[0], said
    (aside,) = tmp_path.glob("c.sqlite.corrupt-*")
    assert aside.read_bytes() == bytes(data), "the bad file is kept as it was, for inspection"


def test_a_truncated_cache_warns_and_starts_empty(tmp_path):
    path = filled(tmp_path / "c.sqlite")
    path.write_bytes(b"")  # truncated to 0 bytes: a valid empty database, but its answers are gone
    store = cache.Cache(path)
    out, said = recorded(lambda: (store.get("k1"), store.put("k1", {"text": "again"}), store.get("k1")))
    assert out == (None, None, {"text": "again"})
    assert len(said) == 1 and str(path) in said[0] and "0 bytes" in said[0], said
    store.close()
    assert recorded(lambda: cache.Cache(path).get("k1"))[1] == [], "a cache with content again is quiet"


def test_a_cache_dropped_without_close_closes_its_connection(tmp_path):
    """Python 3.13 warns about an sqlite3 connection collected unclosed (a lesson drops its Cache objects)."""
    store = cache.Cache(tmp_path / "c.sqlite")
    store.put("k", {"text": "x"})
    connection = store._conn
    del store
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        connection.execute("SELECT 1")


def test_new_caches_opened_at_once_do_not_warn(tmp_path):
    path = tmp_path / "fresh" / "c.sqlite"
    stores = [cache.Cache(path) for _ in range(6)]
    said: list[str] = []
    gc.collect()  # an earlier test's garbage, collected in the window, would warn there (ResourceWarning, 3.13)

    def first_put(i):
        with warnings.catch_warnings(record=True) as caught:  # records every thread's warnings, not only i's
            warnings.simplefilter("always")
            stores[i].put(f"k{i}", {"text": str(i)})
        said.extend(str(w.message) for w in caught if issubclass(w.category, UserWarning))  # the cache's own

    threads = [threading.Thread(target=first_put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert said == [] and len(cache.Cache(path)) == 6


def test_a_folder_without_permission_warns_and_runs_uncached(tmp_path, monkeypatch):
    folder = tmp_path / "locked" / "cache"
    real_mkdir = os.mkdir

    def mkdir(p, *args, **kwargs):
        if str(p).startswith(str(tmp_path / "locked")):
            raise PermissionError(13, "Permission denied", str(p))
        return real_mkdir(p, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    store = cache.Cache(folder / "c.sqlite")
    out, said = recorded(lambda: (store.get("k"), store.put("k", {"text": "t"}), store.get("k"), len(store)))
    assert out == (None, None, None, 0)
    assert len(said) == 1 and str(folder) in said[0] and "Permission denied" in said[0], said


def test_a_cache_folder_that_is_a_file_warns_and_runs_uncached(tmp_path):
    (tmp_path / "taken").write_text("a file where the cache folder should be")
    store = cache.Cache(tmp_path / "taken" / "c.sqlite")
    out, said = recorded(lambda: (store.put("k", {"text": "t"}), store.get("k")))
    assert out == (None, None)
    assert len(said) == 1 and str(tmp_path / "taken") in said[0], said


# ---------------------------------------------------------------- privacy: prompts and answers are the learner's

def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_default_cache_is_private(tmp_path, monkeypatch):
    home = tmp_path / ".lab"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # an old checkout's world-readable .lab/
    monkeypatch.setenv("LAB_HOME", str(home))
    monkeypatch.delenv("LAB_CACHE_DIR", raising=False)
    store = cache.Cache()
    store.put("k", {"text": "a private answer"})
    assert store.path == home / "cache" / "responses.sqlite"
    assert mode(home) == 0o700 and mode(home / "cache") == 0o700
    files = list((home / "cache").iterdir())
    assert store.path in files and all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}


def test_an_existing_cache_file_is_tightened(tmp_path):
    path = filled(tmp_path / "c.sqlite")
    path.chmod(0o644)
    cache.Cache(path).get("k1")
    assert mode(path) == 0o600


def test_private_dir_creates_and_tightens(tmp_path):
    made = config.private_dir(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b" and made.is_dir()
    assert mode(tmp_path / "a") == 0o700 and mode(made) == 0o700
    made.chmod(0o755)
    assert mode(config.private_dir(made)) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # a sticky, shared folder like /tmp is never tightened
    config.private_dir(shared)
    assert mode(shared) == 0o1777


def test_private_file_creates_and_tightens_without_truncating(tmp_path):
    made = config.private_file(tmp_path / "d" / "f.txt")
    assert made.read_bytes() == b"" and mode(made) == 0o600 and mode(tmp_path / "d") == 0o700
    made.write_text("kept")
    made.chmod(0o644)
    config.private_file(made)
    assert mode(made) == 0o600 and made.read_text() == "kept"


# ---------------------------------------------------------------- a sweep never loses an answer to the cache

@pytest.mark.parametrize("fault", ["full disk", "folder is a file"])
def test_a_sweep_over_a_cache_that_cannot_write_returns_every_answer(fault, fake_lab, tmp_path, monkeypatch):
    if fault == "full disk":
        monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
        patch_connections(monkeypatch, setup=full_disk)
    else:
        (tmp_path / "file").write_text("in the way")
        monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "file" / "cache"))
    grid = Grid(temperature=[0], top_p=[0.5, 1], max_tokens=[8], samples=2)
    runs, said = recorded(lambda: fake_lab.sweep("Hi", grid, progress=False))
    assert len(runs) == 4 and runs["error"].isna().all() and runs["text"].notna().all()
    said = [s for s in said if "response cache" in s]
    assert len(said) == 1, said
    assert ("full" in said[0]) if fault == "full disk" else (str(tmp_path / "file") in said[0])


# --- one request in flight per answer (a class-wide cache) ------------------------------------------

def _claim_in_child(path, key, hold_s, ready):
    """Another learner's process: claims `key`, signals, holds the claim, then stores an answer."""
    from labutils.client.cache import Cache

    c = Cache(path)
    assert c.claim(key, ttl=60)
    ready.set()
    time.sleep(hold_s)
    c.put(key, {"text": "from the other learner"})
    c.release(key)


def test_a_claimed_answer_is_waited_for_not_generated_twice(tmp_path):
    from labutils.client.cache import Cache

    path = tmp_path / "responses.sqlite"
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_claim_in_child, args=(str(path), "k", 1.0, ready))
    child.start()
    assert ready.wait(60)
    c = Cache(path)
    assert not c.claim("k", ttl=60)  # held by a live process
    t0 = time.monotonic()
    assert c.wait("k", timeout=30) == {"text": "from the other learner"}
    assert time.monotonic() - t0 < 20
    child.join(30)
    assert c.claim("k", ttl=60)  # released: free again


def test_a_dead_or_stale_claim_is_taken_over(tmp_path):
    from labutils.client.cache import Cache

    c = Cache(tmp_path / "responses.sqlite")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    c._run("INSERT INTO pending VALUES (?, ?, ?, ?)", ("dead", socket.gethostname(), dead_pid,
                                                      time.time()), doing="written", default=None)
    c._run("INSERT INTO pending VALUES (?, ?, ?, ?)", ("old", "another-host", 1, time.time() - 999),
           doing="written", default=None)
    c._run("INSERT INTO pending VALUES (?, ?, ?, ?)", ("live", "another-host", 1, time.time()),
           doing="written", default=None)
    assert c.claim("dead", ttl=60)  # a killed kernel's claim: nobody waits on it
    assert c.claim("old", ttl=60)  # older than the request timeout
    assert not c.claim("live", ttl=60)
    assert c.wait("live", timeout=0.6) is None  # no answer and still claimed: the caller sends it itself


def test_two_processes_sending_the_same_seeded_request_send_it_once(tmp_path, monkeypatch):
    """Lab.send with a shared cache: the second identical request waits for the first one's answer."""
    from labutils.client.cache import Cache
    from tests.conftest import FakeLab

    path = tmp_path / "responses.sqlite"
    first, second = FakeLab(), FakeLab()
    release = threading.Event()
    original = first._send

    def slow_send(*args, **kwargs):
        release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(first, "_send", slow_send)
    a, b = Cache(path), Cache(path)
    results = {}
    t = threading.Thread(target=lambda: results.setdefault("a", first.send("hi", {"seed": 1}, cache=a)))
    t.start()
    for _ in range(100):  # until the first request holds its claim
        if a._run("SELECT 1 FROM pending", doing="read", default=[]):
            break
        time.sleep(0.05)
    monkeypatch.setattr(cache.os, "getpid", lambda: 999_999_999)  # the second "process"
    monkeypatch.setattr(cache, "_alive", lambda pid: True)
    threading.Timer(0.5, release.set).start()
    got = second.send("hi", {"seed": 1}, cache=b)
    t.join(10)
    assert got.cached and got.text == results["a"].text
    assert len(first.client.requests) == 1 and second.client.requests == []
