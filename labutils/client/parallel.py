"""Many requests at once, one way: the sweep's pool, with its fail-fast and its Ctrl-C handling.

`run_all(call, items, workers)` runs `call(item)` for every item on `workers` threads and returns what
finished. A sweep, the structured-output validity check, the sampler check's draws, the A/B pair and the
grader all go through it, so each stops the same way:
- fail-fast: FAIL_FAST finished calls in a row that failed with one cause (the server down, timeouts,
  HTTP 5xx: a `LabError`'s `cause`; or the same refusal, HTTP 4xx) halt it, and no further call starts;
  one failure whose part was checked and is down (`RequestFailed.down`: the model server) halts it at once
  and gives the calls in flight GRACE_S, as Ctrl-C does: they would fail too, only later (Llama Stack
  takes up to a minute to give up on a dead engine);
- Ctrl-C: no further call starts, the requests in flight close their streams (`stop.cancel`, which
  `Lab.send(cancel=...)` watches) and get GRACE_S to finish; what finished is kept, never lost.
Taught in notebooks/08_parameter_grid.ipynb (the sweep).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

from ..errors import RequestFailed

FAIL_FAST = 3  # failures in a row with the same cause (server down, timeouts, HTTP 5xx) that stop a run
GRACE_S = 3.0  # after Ctrl-C: how long in-flight requests get to finish or to close their streams
INTERRUPTED = "interrupted (Ctrl-C)"


class Stop:
    """When a run stops starting calls: FAIL_FAST completed calls in a row failed with one cause, one failure
    whose part was checked and is down, or Ctrl-C.

    `halt` tells the workers not to start another attempt; `cancel` (Ctrl-C, or a part found down) also makes
    the requests in flight close their streams, so the server stops generating them, and `run_all` return
    after GRACE_S. `abandoned` counts the calls still running when `run_all` returned.
    """

    def __init__(self) -> None:
        self.halt, self.cancel, self._lock = threading.Event(), threading.Event(), threading.Lock()
        self.cause: str | None = None
        self._last: str | None = None
        self._run = 0
        self.abandoned = 0
        self.refused: dict[str, RequestFailed] = {}  # a cell's request (all but its seed) -> the server's 4xx

    def record(self, error: BaseException | None) -> None:
        """Count one finished call (None = it succeeded); halt after FAIL_FAST failures of one cause: a part
        that failed, or the same refusal (HTTP 4xx and its message: every other call would get it too).
        Called by the workers, so no further call starts once the last straw is counted."""
        cause = getattr(error, "cause", None)
        if cause is None and refusal(error):
            cause = f"the server refused the request with HTTP {error.status} ({' '.join(str(error).split())[:300]})"
        with self._lock:
            self._run = self._run + 1 if cause is not None and cause == self._last else int(cause is not None)
            self._last = cause
            if getattr(error, "down", False) and self.cause is None:  # checked: every call in flight fails too
                self.cause = f"{cause} (checked after a failed call: its /health does not answer)"
                self.halt.set()
                self.cancel.set()
            elif self._run >= FAIL_FAST and self.cause is None:
                self.cause = f"{cause} ({self._run} calls in a row failed so)"
                self.halt.set()

    def interrupt(self) -> None:
        self.cause = INTERRUPTED
        self.halt.set()
        self.cancel.set()

    @property
    def interrupted(self) -> bool:
        return self.cause == INTERRUPTED


class NotSent(Exception):
    """The run stopped before this call was started."""


def refusal(error: BaseException | None) -> bool:
    """A server's judgement of the request itself (HTTP 4xx): sent again, it gets the same answer."""
    status = getattr(error, "status", None)
    return isinstance(error, RequestFailed) and status is not None and 400 <= status < 500


def run_all(call: Callable[[Any], Any], items: Sequence, workers: int, *, stop: Stop | None = None,
            counted: bool = True, on_done: Callable[[int, Any, Exception | None], None] | None = None,
            on_tick: Callable[[], Any] | None = None) -> dict[int, Any]:
    """Run `call(item)` for every item on `workers` threads; return {index: result, or the Exception it raised}.

    An index is missing when its call never started (the run halted: `stop.cause` says why). `counted`: each
    finished call counts towards fail-fast (off when `call` counts its own attempts, as the sweep's retrying
    call does, or for work that is not a request). `on_done(index, result, error)` runs in the calling thread
    as each call finishes (a progress bar); `on_tick()` in the calling thread at every step of the wait (the
    sweep looks at its cache file there). Waits in short steps, so Ctrl-C is seen at once whichever thread
    the signal hit.
    """
    stop = stop if stop is not None else Stop()
    results: dict[int, Any] = {}

    def run(item: Any) -> Any:
        if stop.halt.is_set():
            raise NotSent
        try:
            out = call(item)
        except NotSent:
            raise
        except Exception as e:
            if counted:
                stop.record(e)
            raise
        if counted:
            stop.record(None)
        return out

    def collect(fut: Any) -> None:
        i = futures[fut]
        try:
            results[i] = fut.result()
        except NotSent:
            return
        except Exception as e:  # one failed call never costs the others, whatever it raised
            results[i] = e
        if on_done is not None:
            error = results[i] if isinstance(results[i], Exception) else None
            on_done(i, None if error else results[i], error)

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    futures = {pool.submit(run, item): i for i, item in enumerate(items)}
    pending = set(futures)
    try:
        try:
            while pending and not stop.cancel.is_set():
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    collect(fut)
                if on_tick is not None:
                    on_tick()
            if pending:  # a part found down: the calls in flight get the same grace as after Ctrl-C
                done, pending = wait(pending, timeout=GRACE_S)
                for fut in done:
                    collect(fut)
        except KeyboardInterrupt:
            stop.interrupt()
            done, pending = wait(pending, timeout=GRACE_S)  # finished answers are kept, the others cancelled
            for fut in done:
                collect(fut)
    finally:
        pool.shutdown(wait=not stop.cancel.is_set(), cancel_futures=True)
    stop.abandoned = len(pending)
    return results


__all__ = ["FAIL_FAST", "GRACE_S", "NotSent", "Stop", "refusal", "run_all"]
