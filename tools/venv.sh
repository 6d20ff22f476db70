# Sourced by tools/setup.sh, tools/setup-ogx.sh and tools/hub-deps.sh:
#   make_venv DIR TOOL-NAME MAKE-TARGET   create a venv with a Python >= 3.12 (llama-stack 0.7 and ogx 1.5 need
#                                         it): $LAB_PYTHON, python3.13, python3.12, python3, uv's or pyenv's
#                                         versions or /usr/bin's, or stop and say how to get one (README)
#   uv_pip PYTHON ARGS...                 `uv pip ARGS` into the environment of PYTHON (a venv or, on Binder, the
#                                         image's Python), with uv at the version pinned in requirements.txt
#
# Every install of the lab's pinned files goes through uv (Astral's installer, a wheel from the package index):
# into a new .venv it took 12 s where pip took 77 s on the 2-core machine, the same 186 versions. It links
# files from its cache (~/.cache/uv, shared by every clone) and compiles no bytecode at install time (a module
# is compiled when first imported). uv itself is installed into that environment by the environment's own pip,
# so nothing outside it is needed; uv reads no pip configuration (UV_INDEX_URL, UV_DEFAULT_INDEX and
# SSL_CERT_FILE are its names for a mirror and a CA bundle).

find_python() {
  local c
  local uv=uv
  command -v uv >/dev/null 2>&1 || uv=$HOME/.local/bin/uv  # where uv's installer puts it
  for c in "${LAB_PYTHON:-}" python3.13 python3.12 python3 \
           "$("$uv" python find --no-project '>=3.12' 2>/dev/null)" \
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

make_venv() {
  local venv=$1 tool=$2 target=$3 py
  [ -x "$venv/bin/python" ] && return 0
  py=$(find_python) || {
    cat >&2 <<MSG
[$tool] No Python >= 3.12 found (llama-stack 0.7 and ogx 1.5 need it). Install one, then run this again
(README.md, Prerequisites):
  - Debian 13, Ubuntu 24.04:  sudo apt-get install python3 python3-venv libgomp1  (libgomp1: the engine's OpenMP)
  - Debian 12, Ubuntu 22.04:  curl -LsSf https://astral.sh/uv/install.sh | sh && ~/.local/bin/uv python install 3.12
  - macOS:                    brew install python@3.13
  - or point to one:          LAB_PYTHON=/path/to/python3.12 make $target
MSG
    exit 1
  }
  printf '[%s] creating %s with %s (%s)\n' "$tool" "$venv" "$py" "$("$py" --version)" >&2
  "$py" -m venv "$venv"
}

uv_pip() {
  local python=$1 pin bin
  shift
  pin=$(grep -m1 -o '^uv==[^ ]*' "$(dirname "${BASH_SOURCE[0]}")/../requirements.txt")
  bin=$(dirname "$python")/uv
  if [ "$("$bin" --version 2>/dev/null | cut -d' ' -f2)" != "${pin#uv==}" ]; then
    "$python" -m pip install --quiet --disable-pip-version-check "$pin" >&2
  fi
  "$bin" pip "$@" --python "$python"
}
