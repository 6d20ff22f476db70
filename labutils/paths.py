"""Where the lab keeps its state: pid files, logs, the Llama Stack store and the response cache.

Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

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
