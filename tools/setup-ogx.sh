#!/usr/bin/env bash
# Set up OGX 1.5, the lab's alternative distribution, in .venv-ogx: idempotent, offline-friendly once done.
#
#   tools/setup-ogx.sh        ogx and its exact pins (requirements-ogx.txt), nothing else
#
# A second venv because ogx needs mcp >= 2, which breaks llama-stack 0.7.3 in .venv. Nothing of the
# lab is installed here: labutils and the client stay in .venv and only start `ogx run` from this one
# (LAB_DISTRIBUTION=ogx, see labutils/stack/distribution.py). Skips everything when the pins and the
# Python have not changed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv=${LAB_OGX_VENV:-$here/.venv-ogx}
requirements=$here/requirements-ogx.txt
t0=$SECONDS

say() { printf '[setup-ogx] %s\n' "$*" >&2; }

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
[setup-ogx] No Python >= 3.12 found (ogx 1.5 needs it). Install one, then run this again:
  - pyenv:          pyenv install 3.12 && pyenv local 3.12
  - Debian/Ubuntu:  apt-get install python3.13 python3.13-venv   (Debian 13) or use the deadsnakes PPA
  - or point to one: LAB_PYTHON=/path/to/python3.12 make setup-ogx
MSG
    exit 1
  }
  say "creating $venv with $py ($("$py" --version))"
  "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

stamp="$venv/.lab-stamp"
want=$({ cat "$requirements"; "$venv/bin/python" --version; } | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$venv/bin/ogx" ]; then
  say "environment up to date ($venv, ogx $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ogx"))'))"
  exit 0
fi
say "installing ogx and its $(grep -c '^[A-Za-z]' "$requirements") exact pins from requirements-ogx.txt into $venv"
"${pip[@]}" install --quiet --upgrade pip
"${pip[@]}" install --quiet -r "$requirements"
"${pip[@]}" check >/dev/null || { "${pip[@]}" check >&2; say "the pins in requirements-ogx.txt conflict"; exit 1; }
"$venv/bin/ogx" run --help >/dev/null  # the entry point the lab starts imports and runs
echo "$want" > "$stamp"
say "done: $venv/bin/ogx in $((SECONDS - t0)) s"
