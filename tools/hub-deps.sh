#!/usr/bin/env bash
# What teaching a class needs, beside the lab (idempotent; skips what is already there):
#   - jupyterhub (requirements-class.txt) into the lab's .venv;
#   - configurable-http-proxy, the hub's proxy, from npm into .lab/node (git-ignored; needs node >= 18);
#   - nbgrader (requirements-nbgrader.txt) into .venv-nbgrader, with a `python3` kernelspec in
#     .lab/nbgrader-kernels that runs the lab's .venv python (so autograde imports labutils).
# Measured on the 2-core machine from PyPI/npm with warm caches: jupyterhub 4 s, proxy 2 s, nbgrader 37 s.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
say() { printf '[hub-deps] %s\n' "$*" >&2; }
t0=$SECONDS
py=$here/.venv/bin/python
[ -x "$py" ] || { say "no .venv: run make setup first"; exit 1; }

stamp=$here/.lab/hub-deps.stamp
want=$(cat requirements-class.txt requirements-nbgrader.txt | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .lab/node/node_modules/.bin/configurable-http-proxy ] \
   && [ -x .venv-nbgrader/bin/nbgrader ] && "$py" -c 'import jupyterhub' 2>/dev/null; then
  exit 0
fi

say "jupyterhub into .venv"
"$py" -m pip install -q --disable-pip-version-check -r requirements-class.txt

if ! [ -x .lab/node/node_modules/.bin/configurable-http-proxy ]; then
  command -v npm >/dev/null 2>&1 || { say "npm not found: apt-get install nodejs npm"; exit 1; }
  say "configurable-http-proxy into .lab/node"
  mkdir -p .lab/node
  npm install --prefix .lab/node --no-audit --no-fund --silent configurable-http-proxy@5.3.0
fi

if ! [ -x .venv-nbgrader/bin/python ]; then
  base=$("$py" -c 'import sys; print(sys.base_prefix)')/bin/python3
  say "creating .venv-nbgrader with $base"
  "$base" -m venv .venv-nbgrader
fi
say "nbgrader into .venv-nbgrader"
.venv-nbgrader/bin/python -m pip install -q --disable-pip-version-check -r requirements-nbgrader.txt
kernel=.lab/nbgrader-kernels/kernels/python3
mkdir -p "$kernel"
cat > "$kernel/kernel.json" <<JSON
{"argv": ["$py", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Python 3 (Inference Lab)", "language": "python"}
JSON
mkdir -p .lab && echo "$want" > "$stamp"
say "done in $((SECONDS - t0)) s"
