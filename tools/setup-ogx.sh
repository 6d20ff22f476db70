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

# shellcheck source=tools/venv.sh
source "$here/tools/venv.sh"
make_venv "$venv" setup-ogx setup-ogx

stamp="$venv/.lab-stamp"
want=$({ cat "$requirements"; "$venv/bin/python" --version; } | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$venv/bin/ogx" ]; then
  say "environment up to date ($venv, ogx $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ogx"))'))"
  exit 0
fi
say "installing ogx and its $(grep -c '^[A-Za-z]' "$requirements") exact pins from requirements-ogx.txt into $venv"
uv_pip "$venv/bin/python" install --quiet -r "$requirements"
if ! uv_pip "$venv/bin/python" check --quiet; then
  uv_pip "$venv/bin/python" check >&2
  say "the pins in requirements-ogx.txt conflict"
  exit 1
fi
"$venv/bin/ogx" run --help >/dev/null  # the entry point the lab starts imports and runs
echo "$want" > "$stamp"
say "done: $venv/bin/ogx in $((SECONDS - t0)) s"
