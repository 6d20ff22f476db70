#!/usr/bin/env bash
# Chromium for the browser test, from Debian's packages (Playwright drives it via executable_path;
# no browser is downloaded). Skipped when already there; says what to do when it cannot install.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[browser-deps] installing Debian's chromium for the browser test" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || {
    echo "[browser-deps] could not install chromium; the browser test will be skipped" >&2; exit 0; }
else
  echo "[browser-deps] chromium not found: install it (apt-get install chromium) to run the browser test" >&2
fi
