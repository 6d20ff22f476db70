"""Private engines for the benchmarks: the lab's own command line, on free loopback ports."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from labutils import stack


def hog(stop_at: float) -> None:
    """A busy process: spins until `stop_at` (a bounded CPU load, nothing else)."""
    x = 0
    while time.time() < stop_at:
        x += 1


def with_hog(fn, seconds: float = 3600):
    """`fn()` while another process spins on one core (for at most `seconds`); the hog stops when fn returns."""
    p = mp.get_context("spawn").Process(target=hog, args=(time.time() + seconds,))
    p.start()
    try:
        return fn()
    finally:
        p.terminate()
        p.join()


@contextlib.contextmanager
def private_engine(**settings) -> Iterator[stack.Settings]:
    """Start one engine alone (no balancer, no Llama Stack) with `settings` overriding the lab's (e.g.
    `engine="source"`, `slots=2`); stop it afterwards. Its address is the settings' `llama_base`."""
    with tempfile.TemporaryDirectory() as tmp:
        (port,) = stack.free_ports(1)
        s = replace(stack.Settings(), llama_port=port, state=Path(tmp) / "stack", **settings)
        s.check_engine()
        server = stack.Server("engine", port, s)
        proc = stack._spawn(server, stack.engine_command(s, s.model_path()), {})
        try:
            stack._wait(server, proc, lambda: stack.engine_healthy(s), time.monotonic() + 60)
            yield s
        finally:
            stack._stop(proc.pid)


@contextlib.contextmanager
def private_pool(**settings) -> Iterator[stack.Settings]:
    """Start a whole private stack (engines, balancer, Llama Stack) with `settings` overriding the lab's."""
    with tempfile.TemporaryDirectory() as tmp:
        ports = stack.free_ports(2)
        s = replace(stack.Settings(), stack_port=ports[0], llama_port=ports[1], state=Path(tmp) / "stack",
                    models=(), **settings)
        stack.up(s, quiet=True)
        try:
            yield s
        finally:
            stack.down(s, quiet=True)
