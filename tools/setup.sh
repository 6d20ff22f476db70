#!/usr/bin/env bash
# Set up the lab in .venv: idempotent, offline once done.
#
#   tools/setup.sh            the model server, the Python environment, labutils installed editable
#
# 1. llama.cpp's own `llama-server`, built once from the llama.cpp tree that the pinned
#    llama-cpp-python sdist vendors (a registry package, so no other download), with portable CPU
#    flags (a native build crashes in AMX code on some CPUs), static, server target only. The binary
#    is cached per (source version, flags) in ~/.cache/inference-lab/llama-server/ and reused by every
#    clone; .venv/bin/llama-server links to it.
# 2. Finds a Python >= 3.12 (llama-stack 0.7 needs it) and installs the pinned requirements, skipping
#    everything when requirements, pyproject and the build have not changed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv=${LAB_VENV:-$here/.venv}

# The llama.cpp source: the tree vendored in this llama-cpp-python sdist (llama.cpp's own version is
# printed by `llama-server --version`). Change the pin here to move to another llama.cpp.
LLAMA_CPP_SDIST=llama-cpp-python==0.3.36
CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

say() { printf '[setup] %s\n' "$*" >&2; }

# shellcheck source=tools/venv.sh
source "$here/tools/venv.sh"
make_venv "$venv" setup lab
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# 1. llama-server: one portable build per (source, flags), shared by every clone on this machine.
build_key=$(printf '%s' "$LLAMA_CPP_SDIST $CMAKE_FLAGS" | sha256sum | cut -c1-12)
engine_dir=${LAB_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/inference-lab/llama-server}/$build_key
if [ ! -x "$engine_dir/llama-server" ]; then
  command -v cmake >/dev/null && command -v c++ >/dev/null || {
    say "building llama-server needs cmake and a C++ compiler: apt-get install cmake g++ (or your OS's)"; exit 1; }
  t0=$(date +%s)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  say "building llama-server from the llama.cpp tree of $LLAMA_CPP_SDIST, portable flags (about 5 min on 2 idle cores)"
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

# 2. The Python environment.
stamp="$venv/.lab-stamp"
want=$(cat requirements.txt requirements-model.txt pyproject.toml | sha256sum | cut -c1-16)-$build_key
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "environment up to date ($venv)"
  exit 0
fi
t0=$(date +%s)
say "installing pinned requirements into $venv"
"${pip[@]}" install --quiet --upgrade pip
"${pip[@]}" install --quiet -r requirements.txt
"${pip[@]}" install --quiet --no-deps -r requirements-model.txt
"${pip[@]}" install --quiet --no-deps -e .
echo "$want" > "$stamp"
say "done in $(( $(date +%s) - t0 )) s: $venv"
