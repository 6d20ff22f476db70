"""A private llama-server for the engine benchmarks: the lab's own command line, on a free loopback port."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from labutils import stack


@contextlib.contextmanager
def private_engine(**settings) -> Iterator[stack.Settings]:
    """Start llama-server alone (no Llama Stack) with `settings` overriding the lab's; stop it afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        (port,) = stack.free_ports(1)
        s = replace(stack.Settings(), llama_port=port, state=Path(tmp) / "stack", **settings)
        server = stack.servers(s)[0]
        proc = stack._spawn(server, stack.engine_command(s, s.model_path()), {})
        try:
            stack._wait(server, proc, lambda: stack.engine_healthy(s), time.monotonic() + 60)
            yield s
        finally:
            stack._stop(proc.pid)
