#!/usr/bin/env bash
# Set up the lab's Python environment in .venv: idempotent, offline-friendly once done.
#
#   tools/setup.sh            lab + test dependencies, labutils installed editable
#
# Finds a Python >= 3.12 (llama-stack needs it), builds llama-cpp-python once with portable CPU
# flags (the native build crashes on some CPUs) into a wheel cache shared by every clone on this
# machine, and skips everything when requirements and flags have not changed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv=${LAB_VENV:-$here/.venv}
llama_cpp_version=$(sed -n 's/^llama-cpp-python\[server\]==\([^ ;]*\).*/\1/p' requirements.txt)
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

say() { printf '[setup] %s\n' "$*" >&2; }

find_python() {
  local c
  for c in "${LAB_PYTHON:-}" python3.13 python3.12 python3 \
           "$(pyenv root 2>/dev/null)"/versions/3.1[2-9]*/bin/python3 \
           /usr/bin/python3.1[2-9] /usr/local/bin/python3.1[2-9]; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  py=$(find_python) || {
    cat >&2 <<'MSG'
[setup] No Python >= 3.12 found (llama-stack 0.7 needs it). Install one, then run this again:
  - pyenv:          pyenv install 3.12 && pyenv local 3.12
  - Debian/Ubuntu:  apt-get install python3.13 python3.13-venv   (Debian 13) or use the deadsnakes PPA
  - or point to one: LAB_PYTHON=/path/to/python3.12 make lab
MSG
    exit 1
  }
  say "creating $venv with $py ($("$py" --version))"
  "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# llama-cpp-python: one portable build per (version, flags, Python), reused by every clone.
pytag=$("$venv/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
flags_key=$(printf '%s' "$llama_cpp_version $CMAKE_ARGS" | sha256sum | cut -c1-12)
wheels=${LAB_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/inference-lab/wheels}/$pytag-$flags_key
wheel=$(ls "$wheels"/llama_cpp_python-"$llama_cpp_version"-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
  say "building llama-cpp-python $llama_cpp_version with portable flags (about 4 min on 2 cores)"
  mkdir -p "$wheels"
  "${pip[@]}" wheel --no-deps --no-binary llama-cpp-python --no-cache-dir \
    -w "$wheels" "llama-cpp-python==$llama_cpp_version"
  wheel=$(ls "$wheels"/llama_cpp_python-"$llama_cpp_version"-*.whl | head -n1)
else
  say "reusing portable build $wheel"
fi

stamp="$venv/.lab-stamp"
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)-$flags_key
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "environment up to date ($venv)"
  exit 0
fi
say "installing pinned requirements into $venv"
"${pip[@]}" install --quiet --upgrade pip
"${pip[@]}" install --quiet "$wheel[server]"
"${pip[@]}" install --quiet --only-binary llama-cpp-python -r requirements.txt
"${pip[@]}" install --quiet --no-deps -e .
echo "$want" > "$stamp"
say "done: $venv"
