"""Where the lab keeps its state: pid files, logs, the Llama Stack store and the response cache.

That state holds every prompt and answer, so it is private: `private_dir` makes folders 0700 and
`private_file` makes files 0600 (created so, or tightened when an older lab left them readable).

Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path


def lab_home() -> Path:
    """The git-ignored `.lab/` folder of this checkout, or `$LAB_HOME` when set.

    Outside a checkout (an installed, non-editable labutils) it falls back to
    `~/.cache/inference-lab`.
    """
    if os.environ.get("LAB_HOME"):
        return Path(os.environ["LAB_HOME"]).expanduser().resolve()
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
