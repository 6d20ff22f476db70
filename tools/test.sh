#!/usr/bin/env bash
# `make test`'s runner: ruff, then the suite in three shards at once against one embedded stack, OGX in one of them.
#
# The machine has 2 cores and each engine answers with one thread: one pytest alone leaves a core idle while a
# lesson's kernel starts, a stack starts, an install unpacks or a test waits on a timeout, so the shards overlap that
# waiting. They are balanced by the time each file took (.lab/test-logs/*.xml of a clean-clone run):
#   A  the lessons (twice each, those that claim the second time at another seed; once those that keep and
#      claim nothing), the lesson guard, and the exercises' checks (shard B was the longest by 110 s once the
#      lessons' third runs were gone);
#   B  everything else;
#   C  the OGX suite (`make test-ogx`: its own stack and ports), then the tests that run whole processes of their
#      own: grading (kernels per submission), the Binder image replay (an install into a fresh prefix), the class
#      hub, the stacks with a second model, the browser; and the probe (on the shared stack; B was the longest).
# The shared stack is started here and stopped at the end only if it was not already running; tests that break a
# stack start private ones on free ports. Output is prefixed [A], [B], [C], [ogx]; each shard's 15 slowest tests
# are listed at its end, every test's time is in .lab/test-logs/<shard>.xml (JUnit), and the last lines name
# every failed test of every shard (tools/failures.py), where a log cut to its end still shows them.
# PYTEST passes extra pytest arguments to every shard.
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# Some machines set PYTHONDONTWRITEBYTECODE=1; then every Python process of the run (kernels, engines, stacks,
# tools: hundreds) compiles labutils again, 0.45 CPU-s each on the 2-core machine. The run writes bytecode to the
# git-ignored __pycache__ folders instead.
unset PYTHONDONTWRITEBYTECODE
"$PY" -m ruff check . || exit 1

was_up=$("$PY" -c 'from labutils import stack; print(int(stack.is_up(stack.Settings())))') || exit 1
logs=.lab/test-logs
mkdir -p "$logs" .lab/test-tmp  # pytest makes each shard's --basetemp, not its parent
# a shard that never ran must not pass on an old report
rm -f "$logs"/*.rc "$logs"/*.seconds "$logs"/*.xml "$logs/up.failed"
t0=$(date +%s)

cpu() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }  # busy, all (jiffies)
read -r busy0 all0 < <(cpu)

shard() {  # name, then pytest arguments: runs pytest with its output prefixed, writes its exit code and seconds
  local name=$1 start; shift
  start=$(date +%s)
  { "$PY" -m pytest --basetemp=".lab/test-tmp/$name" -p no:cacheprovider --durations=15 --junitxml="$logs/$name.xml" "$@" ${PYTEST:-} 2>&1
    echo $? > "$logs/$name.rc"; } | sed -u "s/^/[$name] /"
  echo $(( $(date +%s) - start )) > "$logs/$name.seconds"
}

A_FILES=(tests/test_notebooks.py tests/test_lesson_claims.py tests/test_exercises.py)
C_FILES=(tests/test_grading.py tests/test_binder.py tests/test_hub.py tests/test_models.py tests/test_browser.py
         tests/test_probe.py)
ignore=()
for f in "${A_FILES[@]}" "${C_FILES[@]}"; do ignore+=(--ignore="$f"); done

# The OGX suite needs no shared stack (its own ports and state), so it starts while the shared stack does
# (a cold start of about 10 s that keeps one core busy at most); shards A, B and C start once it is up.
{ start=$(date +%s); make --no-print-directory test-ogx PYTEST="${PYTEST:-} --junitxml=$logs/ogx.xml" 2>&1 | sed -u "s/^/[ogx] /"
  echo "${PIPESTATUS[0]}" > "$logs/ogx.rc"; echo $(( $(date +%s) - start )) > "$logs/ogx.seconds"
  [ -e "$logs/up.failed" ] || shard C "${C_FILES[@]}"; } &
pid_c=$!
if "$PY" -m labutils.stack up; then
  shard A "${A_FILES[@]}" &
  pid_a=$!
  shard B tests "${ignore[@]}" &
  pid_b=$!
  wait "$pid_a" "$pid_b" "$pid_c"
else
  touch "$logs/up.failed"  # shard C does not start either; the OGX suite finishes
  wait "$pid_c"
fi

read -r busy1 all1 < <(cpu)
[ "$was_up" = 1 ] || "$PY" -m labutils.stack down
status=0
for name in A B ogx C; do
  rc=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
  echo "shard $name: exit code $rc, $(cat "$logs/$name.seconds" 2>/dev/null || echo '?') s"
  [ "$rc" = 0 ] || status=1
done
# The shards' output is interleaved and only the end of a long log may be kept (CI), so the failures come last.
"$PY" tools/failures.py "$logs"/{A,B,ogx,C}.xml
echo "make test: $(( $(date +%s) - t0 )) s for the tests; the machine's CPUs were busy" \
     "$(( 100 * (busy1 - busy0) / (all1 - all0 + 1) ))% of the time (all processes, not only the tests')"
exit $status
