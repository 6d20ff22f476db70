#!/usr/bin/env bash
# A new user's first hour, replayed: a clean Debian 13 (trixie) root made with debootstrap, with nothing but
# the README's prerequisites (its `prerequisites:debian` line, read from the README of the ref under test),
# then the README's commands in a clone of this repository. Prints each step's time. Not part of `make test`
# (it takes many minutes and a root shell); run it before claiming that the two commands work on a bare machine.
#
#   sudo tools/fresh_machine.sh [--ref REF] [--repo PATH] [--root DIR] [--test] [--keep]
#
#   --ref REF     the commit to clone (default: HEAD of this checkout; commit first, the work tree is not used)
#   --repo PATH   the repository to clone (default: this checkout)
#   --root DIR    where the Debian root goes (default: /var/tmp/inference-lab-fresh; emptied first)
#   --test        also run `make test` in it (about 20 minutes more on 2 cores)
#   --keep        keep the root afterwards (default: deleted when the run succeeds)
#   --reuse       keep a root an earlier --keep run left (no debootstrap; apt, pip and npm caches stay; the
#                 clone and its .venv are made anew): a later commit checked in minutes, not a quarter-hour
#
# Inside the root, as root, like a user with a fresh Debian: apt-get install <the README's line>, git clone
# (from this repository, mounted read-only),
# `make setup`, then `make lab` in the background until Jupyter answers and one chat answer comes back
# through the stack (`make lab` minus a browser), `make down`; optionally `make test`. The root shares this
# machine's network (ports: LAB_STACK_PORT, LAB_LLAMA_PORT, JUPYTER_PORT, default 8321, 8322, 8888: set
# them when those are taken here). Everything the run mounts lives in a private mount namespace and goes
# away with it; the servers it starts are stopped at the end.
#
# Package indexes that need a CA bundle (a TLS-terminating proxy): the bundle pip uses here (PIP_CERT, else
# `pip config get global.cert`, else FRESH_CA=/path) is copied into the root and named by PIP_CERT,
# SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS and GIT_SSL_CAINFO there. Nothing else of this
# machine's pip configuration (local indexes, constraints) is passed in.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
repo=$here ref=HEAD root=/var/tmp/inference-lab-fresh run_tests=0 keep=0 reuse=0
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
  case $1 in
    --ref) ref=$2; shift 2 ;;
    --repo) repo=$(cd "$2" && pwd); shift 2 ;;
    --root) root=$2; shift 2 ;;
    --test) run_tests=1; shift ;;
    --keep) keep=1; shift ;;
    --reuse) reuse=1; keep=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (allowed: --ref REF, --repo PATH, --root DIR, --test, --keep, --reuse)" >&2; exit 2 ;;
  esac
done
say() { printf '[fresh] %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot): sudo $0 $*"; exit 1; }
case $root in /|/usr|/var|/var/tmp|/tmp|"") say "--root $root is not allowed: give a folder of its own"; exit 2 ;; esac

sha=$(git -C "$repo" rev-parse --verify "$ref^{commit}") || { say "--ref $ref is not a commit of $repo"; exit 2; }
# The README's Debian prerequisites line, from the ref under test: `sudo apt-get install PACKAGES`.
packages=$(git -C "$repo" show "$sha:README.md" | grep -A1 'prerequisites:debian' | tail -n1 \
  | sed -n 's/.*apt-get install \([a-z0-9 .+-]*\)`.*/\1/p')
[ -n "$packages" ] || { say "no \`apt-get install ...\` line after <!-- prerequisites:debian --> in README.md at $sha"; exit 1; }
ca=${FRESH_CA:-${PIP_CERT:-$(pip config get global.cert 2>/dev/null || true)}}
stack_port=${LAB_STACK_PORT:-8321} llama_port=${LAB_LLAMA_PORT:-8322} jupyter_port=${JUPYTER_PORT:-8888}

times_file=$(mktemp)  # one line per step: name, seconds, outcome (the steps in the root add theirs)
step() {  # step NAME COMMAND...: run it, print and record its time; return its exit code
  local name=$1 t0=$SECONDS rc=0; shift
  say "== $name"
  "$@" || rc=$?
  printf '%-52s %5d s  %s\n' "$name" $((SECONDS - t0)) "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")" >> "$times_file"
  say "   $name: $((SECONDS - t0)) s$([ $rc = 0 ] || echo ", FAILED with exit code $rc")"
  return $rc
}
summary() {
  [ -f "$root/root/fresh-times.txt" ] && cat "$root/root/fresh-times.txt" >> "$times_file"
  say "== summary: $(git -C "$repo" log -1 --format='%h %s' "$sha" | cut -c1-80)"
  say "   on Debian 13 ($root), README prerequisites: $packages"
  cat "$times_file" >&2
  rm -f "$times_file" "$root/root/fresh-times.txt"
  if [ "${rc:-1}" = 0 ] && [ "$keep" = 0 ]; then rm -rf --one-file-system "$root" "$root.debootstrap.log"; fi
  [ "${rc:-1}" = 0 ] || say "failed; the root is kept in $root"
}
trap summary EXIT

debootstrap_root() {
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  rm -rf --one-file-system "$root"
  # minbase + ca-certificates: a Debian without anything a user would install; apt reaches the mirror.
  debootstrap --variant=minbase --include=ca-certificates trixie "$root" "$mirror" >"$root.debootstrap.log" 2>&1 \
    || { tail -n 20 "$root.debootstrap.log" >&2; return 1; }
  echo "deb $mirror trixie main" > "$root/etc/apt/sources.list"
}
if [ "$reuse" = 1 ] && [ -x "$root/usr/bin/apt-get" ]; then
  say "reusing the Debian root in $root (its caches stay; the clone is made anew)"
  rm -rf --one-file-system "$root/root/inference-lab"
else
  step "debootstrap Debian 13 (minbase)" debootstrap_root
fi

if [ -n "$ca" ] && [ -f "$ca" ]; then
  mkdir -p "$root/usr/local/share/fresh-machine" && cp "$ca" "$root/usr/local/share/fresh-machine/ca.crt"
  ca_in=/usr/local/share/fresh-machine/ca.crt
fi
git_dir=$(cd "$repo" && cd "$(git rev-parse --git-common-dir)" && pwd)  # a worktree's shared .git
mkdir -p "$root/mnt/origin.git"

# Everything below runs in a private mount namespace (the mounts vanish with it) and in the root.
cat > "$root/root/fresh-steps.sh" <<STEPS
#!/bin/bash
set -euo pipefail
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
export LAB_STACK_PORT=$stack_port LAB_LLAMA_PORT=$llama_port JUPYTER_PORT=$jupyter_port
${ca_in:+export PIP_CERT=$ca_in SSL_CERT_FILE=$ca_in REQUESTS_CA_BUNDLE=$ca_in NODE_EXTRA_CA_CERTS=$ca_in GIT_SSL_CAINFO=$ca_in}
$(declare -f say step)
times_file=/root/fresh-times.txt
cd /root
# shellcheck disable=SC2086
step "apt-get install (README): $packages" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/tmp/apt.log 2>&1 || { tail -n 20 /tmp/apt.log; exit 1; }'
say "python3: \$(python3 --version), make: \$(make --version | head -n1), git: \$(git --version)"
step "git clone $(echo "$sha" | cut -c1-10)" bash -c 'git clone --quiet --no-checkout /mnt/origin.git inference-lab && git -C inference-lab checkout --quiet $sha'
cd /root/inference-lab
step "make setup" make setup
lab_answers() {
  setsid make lab >/tmp/make-lab.log 2>&1 &
  local pid=\$! t0=\$SECONDS deadline=\$((SECONDS + 600)) rc=0
  until .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$jupyter_port/api', timeout=2)" 2>/dev/null; do
    if ! kill -0 \$pid 2>/dev/null || [ \$SECONDS -gt \$deadline ]; then tail -n 30 /tmp/make-lab.log; kill -- -\$pid 2>/dev/null; return 1; fi
    sleep 1
  done
  say "   make lab: Jupyter answers on 127.0.0.1:$jupyter_port after \$((SECONDS - t0)) s"
  .venv/bin/python -c "
import time, labutils
t0 = time.monotonic()
lab = labutils.connect()
answer = lab.chat('Name a colour of the sky.', seed=1, max_tokens=20)
print(f'[fresh]    the stack answers ({lab.model}, {time.monotonic() - t0:.1f} s): {answer.text!r}')
assert answer.text.strip(), 'empty answer'
" || rc=1
  kill -- -\$pid 2>/dev/null; wait \$pid 2>/dev/null || true
  return \$rc
}
step "make lab until Jupyter and one chat answer" lab_answers
step "make down" make down
if [ $run_tests = 1 ]; then
  step "make test (log: /root/make-test.log in the root)" bash -c 'make test >/root/make-test.log 2>&1; rc=\$?; grep -E "skipped|SKIPPED|^shard|^make test|passed|failed" /root/make-test.log | tail -n 40; exit \$rc'
fi
STEPS
chmod +x "$root/root/fresh-steps.sh"

in_root() {
  unshare --mount --propagation private bash -c '
    set -e; r=$1
    mount -t proc proc "$r/proc"; mount -t sysfs sys "$r/sys"; mount --rbind /dev "$r/dev"
    mount -t tmpfs tmpfs "$r/tmp"; cp /etc/resolv.conf "$r/etc/resolv.conf"
    mount --bind "$2" "$r/mnt/origin.git"; mount -o remount,bind,ro "$r/mnt/origin.git"
    chroot "$r" /usr/bin/env -i /root/fresh-steps.sh' _ "$root" "$git_dir"  # none of this machine's variables
}
rc=0
in_root || rc=$?
exit "$rc"
