"""The embedded stack's further models (LAB_MODELS, or the Gemma 3 270M of `make model-gemma`): where
they live, their ids, and their entries in the distribution's registry. Standard library only.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from ..errors import StackError
from . import distribution

if TYPE_CHECKING:
    from . import Settings

PROVIDER_ID = "llama-cpp"
# The optional second model that `make model-gemma` (tools/models.sh) assembles into models_dir().
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
# Ids under which Llama Stack lists a model file's model, when LAB_MODELS gives no alias.
KNOWN_ALIASES = {GEMMA_FILE: "gemma3-270m", "SmolLM2-135M-Instruct.Q4_1.gguf": "smollm2-135m-instruct"}
MAX_EXTRA = 3  # run.yaml declares providers llama-cpp2 .. llama-cpp4


def models_dir() -> Path:
    """Where `make model-gemma` puts optional models: `$LAB_MODELS_DIR`, else ~/.cache/inference-lab/models."""
    return Path(config.get("LAB_MODELS_DIR") or Path.home() / ".cache" / "inference-lab" / "models").expanduser()


def alias_for(path: Path) -> str:
    """The model id of a GGUF file: a known one's, else its lower-case file name without `.gguf`."""
    return KNOWN_ALIASES.get(path.name) or path.name.removesuffix(".gguf").lower().replace(" ", "-")


def store(s: Settings, name: str) -> Path:
    """Where the distribution keeps its database `name`: run.yaml's ${env.LAB_STATE_DIR}/stack/NAME, each
    distribution in a folder of its own (`distribution.state_dir`)."""
    return distribution.state_dir(s.distribution, s.state) / "stack" / name


def forget_extra_models(s: Settings) -> None:
    """Delete the further models (providers llama-cpp2 ...) from the distribution's registry before it starts.

    Llama Stack and OGX keep every registered model in their kvstore across restarts, also when its
    provider is gone: without this, a stack started once with Gemma would go on listing it after
    LAB_MODELS=none or a removed file. run.yaml registers the current ones again at start.
    """
    db = store(s, "kvstore.db")
    if not db.is_file():
        return
    # no such table yet (OperationalError): nothing registered
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as con, con, contextlib.suppress(sqlite3.OperationalError):
        for n in range(2, MAX_EXTRA + 2):
            con.execute("DELETE FROM kvstore WHERE key LIKE ?", (f"%::model:{PROVIDER_ID}{n}/%",))


def check_extra_models(s: Settings) -> None:
    """StackError unless each further model is an existing file with an alias of its own."""
    extras = s.extra_models()
    if len(extras) > MAX_EXTRA:
        raise StackError(f"the embedded stack serves at most {MAX_EXTRA} models next to the first (LAB_MODELS)")
    aliases = [s.model_alias]
    for alias, path in extras:
        if not path.is_file():
            raise StackError(f"model file not found: {path} (LAB_MODELS; `make model-gemma` installs Gemma 3 270M, "
                             "LAB_MODELS=none serves the first model only)")
        if alias in aliases:
            raise StackError(f"two models would be served as {alias!r}: give one another alias with "
                             f"LAB_MODELS=other-name={path}")
        aliases.append(alias)
