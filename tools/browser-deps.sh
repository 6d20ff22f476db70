#!/usr/bin/env bash
# Chromium for the browser test, from Debian's packages (Playwright drives it via executable_path;
# no browser is downloaded). Skipped when already there. Never fails `make test`: where it cannot install
# (not root, no apt-get, no network), it says so and the browser tests are reported as skipped, with
# this reason, in pytest's summary (under CI=true they fail instead: CI must run them).
set -uo pipefail
say() { printf '[browser-deps] %s\n' "$*" >&2; }
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
  say "chromium not found, and installing it needs root (sudo apt-get install chromium): the browser tests will be skipped"
elif ! command -v apt-get >/dev/null 2>&1; then
  say "chromium not found and no apt-get here: install Chromium yourself to run the browser tests; they will be skipped"
else
  say "installing Debian's chromium for the browser test"
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); then
    say "could not install chromium: the browser tests will be skipped"
  fi
fi
exit 0
