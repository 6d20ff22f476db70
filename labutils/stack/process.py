"""Processes of the embedded stack: ports, and pids that name one process for good (stdlib only).

A pid file stores the pid, the kernel's start time of that process and its command line; a process
counts as ours only while all three still match, so a reused pid, a zombie or an edited pid file is
never taken for a running server (and never killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def start_time(pid: int) -> str | None:
    """The kernel's start time of a process: with the pid, it names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def cmdline(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return None


def running(pid: int) -> bool:
    """Whether `pid` runs: not gone and not a zombie. An exited child of ours is reaped here."""
    if start_time(pid) is not None and not is_zombie(pid):
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return False


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports on 127.0.0.1 for a stack of its own (the tests', bench/stack_overhead.py's).

    They lie below the kernel's ephemeral range: a port that bind(0) hands out is ephemeral, and between
    its release and the server's bind any outgoing connection may take it as its local port.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports: list[int] = []
    while len(ports) < n:
        port = random.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def port_freed(port: int, seconds: float) -> bool:
    """Whether 127.0.0.1:port stops accepting connections within `seconds` (a killed server's may for a moment)."""
    deadline = time.monotonic() + seconds
    while port_in_use(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)
    return True


def stop(pid: int, timeout: float = 10.0) -> bool:
    """Stop `pid` and its process group: SIGTERM, then SIGKILL. True when it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)  # the server and any children it spawned
        except ProcessLookupError:
            return not running(pid)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not running(pid):
                return True
            time.sleep(0.1)
    return not running(pid)


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@dataclass
class Server:
    """One of the two processes: its name, port, pid file and log."""

    name: str
    port: int
    settings: Any  # the stack's Settings (its state folder holds the pid file and the log)

    @property
    def pidfile(self) -> Path:
        return self.settings.state / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.settings.state / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid recorded by `up`, if that process is still the one we started."""
        try:
            info = json.loads(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        pid = info.get("pid")
        if not isinstance(pid, int) or start_time(pid) != info.get("start") or not running(pid):
            return None  # gone, exited but not yet reaped, or the pid now belongs to another process
        cmd, actual = info.get("cmd") or [], cmdline(pid) or []
        if not cmd or actual[-len(cmd):] != cmd:  # a script's interpreter may come first (shebang)
            return None  # a pid file that does not describe this process (edited, or forged): not ours
        return pid

    def describe(self) -> dict:
        pid = self.pid()
        return {"server": self.name, "pid": pid, "running": pid is not None,
                "address": f"{HOST}:{self.port}", "listening": port_in_use(self.port), "log": str(self.log)}
