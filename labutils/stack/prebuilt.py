"""llama.cpp's server from the pinned `xllamacpp` wheel: the embedded stack's engine, with no compiler.

    python -P labutils/stack/prebuilt.py --model M.gguf --alias NAME --host 127.0.0.1 --port N --parallel 1 \
        --no-kv-unified --ctx-size 2048 --threads 1 --threads-batch 1 --flash-attn off --no-cache-prompt \
        --poll 0 --no-webui

`xllamacpp` ships llama.cpp's own HTTP server (the same endpoints, texts and speed as a `llama-server`
built from source) but no command line: `xllamacpp.Server(CommonParams)` serves from a background
thread of the process that holds it. This launcher is that process. It takes exactly the flags that
`engine_command` gives a source-built llama-server (each one required: nothing depends on a default
of either engine), sets each on `CommonParams` by name, and holds the server until SIGTERM or SIGINT.
Standard library and xllamacpp only (it runs as a file, not with `-m`, so the labutils package is not
imported with it); nothing happens on import.
"""

from __future__ import annotations

import argparse
import ctypes
import signal
import sys
import threading
from pathlib import Path

# The CPU features the wheel's portable x86-64 build needs (it has no fallback for older CPUs).
NEEDS = ("avx2", "fma", "f16c")


def missing_cpu_features(cpuinfo: str | None = None) -> list[str]:
    """Features the prebuilt engine needs that this CPU lacks (empty where it runs, or where unknown)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []  # not Linux: let the engine try
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    return [] if flags is None else [f for f in NEEDS if f not in flags]


# Shared libraries the wheel's Linux build links to that a minimal system may lack, with the Debian package
# of each (a Debian 13 minbase root has libstdc++ but not libgomp: tools/fresh_machine.sh found it).
LIBRARIES = {"libgomp.so.1": "libgomp1"}
HOW_TO_GET = "`sudo apt-get install {packages}` (Debian/Ubuntu; README: Prerequisites)"


def missing_libraries() -> list[str]:
    """Shared libraries of `LIBRARIES` that this system cannot load (empty where all load, or not Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    missing = []
    for name in LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def libraries_message(missing: list[str]) -> str:
    """What to say when the engine's shared libraries are missing: which, and the one command that adds them."""
    packages = " ".join(LIBRARIES[name] for name in missing)
    return (f"the prebuilt engine (xllamacpp) needs {', '.join(missing)} (the GNU OpenMP runtime), which this system "
            f"lacks: {HOW_TO_GET.format(packages=packages)}, then start the lab again")


def version() -> str:
    """The wheel's version: the engine's identity (its /props says only `build_info: b0-unknown`)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("xllamacpp")
    except PackageNotFoundError:
        return "not installed"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -P labutils/stack/prebuilt.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, kind in (("--model", str), ("--alias", str), ("--host", str), ("--port", int), ("--parallel", int),
                       ("--ctx-size", int), ("--threads", int), ("--threads-batch", int), ("--flash-attn", str),
                       ("--poll", int)):
        ap.add_argument(flag, type=kind, required=True)
    for flag in ("--no-kv-unified", "--no-cache-prompt", "--no-webui"):
        ap.add_argument(flag, action="store_true", required=True)
    return ap


def params(args: argparse.Namespace):
    """`CommonParams` with every field the lab's command line names, set from `args`."""
    import xllamacpp

    if args.flash_attn != "off":
        raise SystemExit(f"--flash-attn {args.flash_attn}: the lab runs its engine with flash attention off only")
    p = xllamacpp.CommonParams()
    p.model.path = args.model
    p.model_alias = {args.alias}
    p.hostnames = [args.host]
    p.port = args.port
    p.n_parallel = args.parallel
    p.kv_unified = not args.no_kv_unified          # one KV cache per slot
    p.n_ctx = args.ctx_size                        # shared out among the slots: n_ctx / n_parallel each
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads_batch
    p.cpuparams.poll = p.cpuparams_batch.poll = args.poll  # 0: idle threads sleep, never spin
    p.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    p.cache_prompt = not args.no_cache_prompt      # every prompt evaluated afresh (same text for a seed)
    p.cache_ram_mib = 0                            # no host-memory prompt cache either
    p.ui = not args.no_webui
    p.endpoint_props = True                        # GET /props: the lab reads the defaults, slots and context
    p.endpoint_slots = True                        # GET /slots: which slot is busy
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    lacking = missing_cpu_features()
    if lacking:
        print(f"error: this CPU lacks {', '.join(lacking)}, which the prebuilt engine (xllamacpp) needs: run "
              "`LAB_ENGINE=source make setup`, which builds llama-server for this CPU, and start the lab with "
              "LAB_ENGINE=source", file=sys.stderr)
        return 2
    if missing_libraries():
        print(f"error: {libraries_message(missing_libraries())}", file=sys.stderr)
        return 2
    import xllamacpp

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"xllamacpp {version()} serving {args.model} as {args.alias} on {args.host}:{args.port}", flush=True)
    server = xllamacpp.Server(params(args))
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
