"""One request in flight per answer: the context of `Cache.in_flight`. Private to `labutils.client.cache`."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import Cache


class _InFlight:
    """The context of `Cache.in_flight`: claim, else wait for the other claim's answer, else claim again."""

    def __init__(self, cache: Cache, k: str, ttl: float, cancel: threading.Event | None):
        self.cache, self.k, self.ttl, self.cancel, self.mine = cache, k, ttl, cancel, False

    def __enter__(self) -> dict | None:
        self.mine = self.cache.claim(self.k, self.ttl)
        if not self.mine:  # the same request is in flight elsewhere: its answer is ours too
            record = self.cache.wait(self.k, self.ttl, self.cancel)
            if record is not None:
                return record
            self.mine = self.cache.claim(self.k, self.ttl)  # it gave up: generate it here
        return None

    def __exit__(self, *exc: object) -> None:
        if self.mine:
            self.cache.release(self.k)
