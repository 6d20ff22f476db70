"""Response cache: keys, hits, corruption recovery, concurrent writers. Pure logic, no server."""

import sqlite3
import threading
import warnings

import pytest

from labutils import cache

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
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
