#!/usr/bin/env bash
# `make test`'s runner: ruff, then the suite in two shards at once against one embedded stack, then OGX.
#
# The machine has 2 cores and the engine answers with one thread: one pytest alone leaves a core idle
# while a lesson's kernel starts or a test waits on a timeout, so two shards share the stack: A runs the
# lessons, the lesson guard, grading, the browser and the probe, then the OGX suite; B everything else.
# The stack is started here and stopped at the end only if it was not already running; tests that break
# a stack start private ones on free ports. Output is prefixed [A], [B], [ogx]; each shard's 15 slowest
# tests are listed at its end and every test's time is in .lab/test-logs/<shard>.xml (JUnit).
# PYTEST passes extra pytest arguments to both shards.
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
"$PY" -m ruff check . || exit 1

was_up=$("$PY" -c 'from labutils import stack; print(int(stack.is_up(stack.Settings())))') || exit 1
"$PY" -m labutils.stack up || exit 1
logs=.lab/test-logs
mkdir -p "$logs" .lab/test-tmp  # pytest makes each shard's --basetemp, not its parent
t0=$(date +%s)

shard() {  # name, then pytest arguments: runs pytest with its output prefixed, writes its exit code
  local name=$1; shift
  { "$PY" -m pytest --basetemp=".lab/test-tmp/$name" -p no:cacheprovider --durations=15 --junitxml="$logs/$name.xml" "$@" ${PYTEST:-} 2>&1
    echo $? > "$logs/$name.rc"; } | sed -u "s/^/[$name] /"
}

A_FILES=(tests/test_notebooks.py tests/test_lesson_claims.py tests/test_grading.py tests/test_browser.py
         tests/test_probe.py)
ignore=()
for f in "${A_FILES[@]}"; do ignore+=(--ignore="$f"); done

{ shard A "${A_FILES[@]}"; make --no-print-directory test-ogx 2>&1 | sed -u "s/^/[ogx] /";
  echo "${PIPESTATUS[0]}" > "$logs/ogx.rc"; } &
pid_a=$!
shard B tests "${ignore[@]}" &
pid_b=$!
wait "$pid_a" "$pid_b"

[ "$was_up" = 1 ] || "$PY" -m labutils.stack down
status=0
for name in A B ogx; do
  rc=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
  echo "shard $name: exit code $rc"
  [ "$rc" = 0 ] || status=1
done
echo "make test: $(( $(date +%s) - t0 )) s for the tests"
exit $status
