"""The lessons: committed clean with the shared skeleton, and each one runs top to bottom under papermill.

Structure tests are pure (no server). The execution tests (marker `notebooks`) run every
notebooks/*.ipynb against the embedded stack with the small CI parameters below, in a fresh kernel,
with an empty response cache of their own, so every request is real; then once more on that cache, and
check every figure they display (tests/figure_checks.py). The second run is a learner's "Restart & Run All"
(every cacheable request read from the cache), or, for the lessons that print claims about their numbers
(CLAIMING), the learner who sets SEED = 1 and runs all again: what does not depend on the seed is read from
the cache, the rest is sent, and tests/test_lesson_claims.py's guard reads that run at a second seed.
"""

from __future__ import annotations

import ast
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CLEANER = ROOT / "tools" / "clean_notebooks.py"
METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
HEADINGS = ("## Goals", "## Setup", "## Exercises", "## Summary")

# Small grids for CI, per notebook (by file stem). Every name must be defined in that notebook's
# `parameters` cell: papermill only warns about unknown names, this file fails on them.
CI_PARAMETERS: dict[str, dict] = {
    "00_setup_and_first_request": {"MAX_TOKENS": 16},
    "01_messages_and_roles": {"SAMPLES": 4, "MAX_TOKENS": 16},
    "02_temperature": {"SAMPLES": 4, "MAX_TOKENS": 24},
    "03_top_p": {"SAMPLES": 4, "MAX_TOKENS": 8},
    "04_max_tokens_and_stop": {"MAX_TOKENS_VALUES": [8, 16], "SAMPLES": 1},
    "08_parameter_grid": {"SAMPLES": 2},
    "07_use_cases": {"SAMPLES": 4, "SHOTS": [0, 3]},
    "06_chatbot_with_memory": {"MAX_TOKENS": 16},
    "09_trust_but_verify": {"SAMPLES": 3},
    "10_sampler_chain": {"SAMPLES": 20, "MIN_PS": [0.0, 0.2], "MAX_TOKENS": 12},
    "11_predicting_the_sampler": {"SAMPLES": 12, "PENALTIES": [1.0, 2.0], "DRY_MULTIPLIERS": [0.0, 1.0]},
    "12_structured_output": {"TEMPERATURES": [0.0, 1.2], "SAMPLES": 2, "MAX_TOKENS": 40},
    "13_models_side_by_side": {"TEMPERATURES": [0.0, 1.2], "SAMPLES": 3, "MAX_TOKENS": 16},
    "14_responses_api": {"MAX_OUTPUT_TOKENS": 24, "PROBE_SAMPLES": 3, "OTHER_DISTRIBUTION": False},
}
# The OGX suite (`make test-ogx`) runs these lessons once more with OGX in front; what it sets differently:
# lesson 14 starts the other distribution (Llama Stack, beside OGX) and probes it there, once, rather than
# starting OGX beside Llama Stack in both of the main run's executions (about 40 s each).
OGX_PARAMETERS: dict[str, dict] = {"14_responses_api": {"OTHER_DISTRIBUTION": True}}
# Lessons that keep nothing between two runs (no cache entry, no file, nothing stored on the server): their
# "Restart & Run All" would send the same requests again and test nothing more, so test_executes runs them once.
KEEP_NOTHING = {"00_setup_and_first_request", "04_max_tokens_and_stop", "05_playground"}
# Lessons that print claims about their numbers (tests/test_lesson_claims.py): their second run is at SEED = 1,
# so the guard reads them at two seeds (a lesson of KEEP_NOTHING among them runs twice for that alone).
CLAIMING = ["01_messages_and_roles", "02_temperature", "03_top_p", "04_max_tokens_and_stop", "08_parameter_grid",
            "07_use_cases"]
SECOND_SEED = 1

ids = [p.stem for p in NOTEBOOKS]


def parameters_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]


def parameter_names(nb) -> set[str]:
    """Names assigned at top level in the notebook's `parameters` cell."""
    (index,) = parameters_cells(nb)
    names = set()
    for node in ast.parse(nb.cells[index].source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 5, f"expected the lessons in {NOTEBOOK_DIR}, found {[p.name for p in NOTEBOOKS]}"


def test_ci_parameters_name_existing_notebooks():
    stale = (set(CI_PARAMETERS) | set(OGX_PARAMETERS) | KEEP_NOTHING | set(CLAIMING)) - set(ids)
    assert not stale, ("CI_PARAMETERS, OGX_PARAMETERS, KEEP_NOTHING or CLAIMING name notebooks that do not exist: "
                       f"{sorted(stale)}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [f"cell {i} ({c.source.splitlines()[0] if c.source else ''!r}): "
             f"{'outputs ' if c.get('outputs') else ''}"
             f"{'execution_count ' if c.get('execution_count') is not None else ''}"
             f"{'metadata ' + str(sorted(set(c.metadata) - {'tags'})) if set(c.metadata) - {'tags'} else ''}"
             for i, c in enumerate(nb.cells)
             if c.get("outputs") or c.get("execution_count") is not None or set(c.metadata) - {"tags"}]
    assert not dirty, f"{path.name} is not clean (run `make clean-notebooks`): {dirty}"
    assert nb.metadata == METADATA, f"{path.name} notebook metadata must be exactly {METADATA}, got {nb.metadata}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    params = parameters_cells(nb)
    assert len(params) == 1, f"{path.name} needs exactly one cell tagged 'parameters', has {len(params)}"
    assert nb.cells[params[0]].cell_type == "code"
    first = nb.cells[0]
    number = path.stem.split("_")[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {number} · "), (
        f"{path.name} must open with a '# {number} · Title' markdown cell")
    lines = [ln.strip() for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines()]
    missing = [h for h in HEADINGS if h not in lines]
    assert not missing, f"{path.name} is missing the headings {missing}"
    order = [lines.index(h) for h in HEADINGS]
    assert order == sorted(order), f"{path.name}: headings must come in the order {HEADINGS}"
    names = parameter_names(nb)
    assert {"MODEL", "LLAMA_STACK_URL"} <= names, f"{path.name}: parameters cell must define MODEL, LLAMA_STACK_URL"
    unknown = set(CI_PARAMETERS.get(path.stem, {})) - names | set(OGX_PARAMETERS.get(path.stem, {})) - names
    assert not unknown, (f"CI_PARAMETERS[{path.stem!r}] or OGX_PARAMETERS overrides {sorted(unknown)}, which the "
                         f"parameters cell of {path.name} does not define (it defines {sorted(names)})")


def test_cleaner_check_and_fix(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# x"),
                nbformat.v4.new_code_cell("A = 1", metadata={"tags": ["parameters"], "scrolled": True},
                                          execution_count=3,
                                          outputs=[nbformat.v4.new_output("stream", text="hi")])]
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Py", "language": "python"},
                   "widgets": {"state": {}}}
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    run = [sys.executable, str(CLEANER)]
    check = subprocess.run([*run, "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 1 and "dirty.ipynb" in check.stdout
    assert subprocess.run([*run, str(path)], capture_output=True, text=True).returncode == 0
    assert subprocess.run([*run, "--check", str(path)], capture_output=True, text=True).returncode == 0
    cleaned = nbformat.read(path, as_version=4)
    code = cleaned.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata == {"tags": ["parameters"]}
    assert cleaned.metadata == METADATA


def test_committed_notebooks_pass_the_cleaner():
    result = subprocess.run([sys.executable, str(CLEANER), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def execute(path: Path, overrides: dict, out: Path) -> None:
    """Run `path` with papermill into `out`; fail naming the notebook and the cell when a cell raises."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = nbformat.read(path, as_version=4)
    unknown = set(overrides) - parameter_names(source)
    if unknown:
        pytest.fail(f"{path.name}: CI parameters {sorted(unknown)} are not defined in its parameters cell "
                    f"(it defines {sorted(parameter_names(source))})", pytrace=False)
    try:
        # written once, at the end (also when a cell fails): papermill's default writes the whole notebook
        # before and after every cell, 0.5 CPU-s of each lesson run in this process (measured on lesson 08)
        papermill.execute_notebook(str(path), str(out), parameters=overrides, kernel_name="python3",
                                   language="python", cwd=str(path.parent), progress_bar=False,
                                   execution_timeout=600, request_save_on_cell_execute=False)
    except PapermillExecutionError as e:
        index = e.cell_index - (1 if e.cell_index > parameters_cells(source)[0] else 0)  # minus the injected cell
        lines = (e.source or "").strip().splitlines()
        pytest.fail(f"{path.name}: cell {index} ({lines[0] if lines else ''!r}) raised {e.ename}: {e.evalue}",
                    pytrace=False)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    if errors:
        pytest.fail(f"{path.name}: error outputs {[(o.ename, o.evalue) for o in errors]}", pytrace=False)


def _tiny_notebook(tmp_path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · Tiny"),
                nbformat.v4.new_code_cell("N = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = N + 1"),
                nbformat.v4.new_code_cell(body)]
    nb.metadata = METADATA
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.notebooks
def test_a_failing_cell_is_named(tmp_path):
    path = _tiny_notebook(tmp_path, 'assert x == 3, "x is not 3"\nprint(x)')
    with pytest.raises(pytest.fail.Exception) as failure:
        execute(path, {"N": 1}, tmp_path / "out.ipynb")
    message = str(failure.value)
    assert "99_tiny.ipynb: cell 3 ('assert x == 3, \"x is not 3\"')" in message
    assert "AssertionError" in message and "x is not 3" in message
    execute(path, {"N": 2}, tmp_path / "out.ipynb")  # the override reaches the kernel: x == 3 passes


@pytest.mark.notebooks
def test_an_unknown_override_fails(tmp_path):
    path = _tiny_notebook(tmp_path, "pass")
    with pytest.raises(pytest.fail.Exception, match="SAMPLES"):
        execute(path, {"SAMPLES": 2}, tmp_path / "out.ipynb")


def figure_dir(stem: str) -> Path:
    """Where a lesson's test run saves its figures for people to look at: .lab/test-logs/figures/<lesson>/."""
    from labutils.config import lab_home

    return lab_home() / "test-logs" / "figures" / stem


def stored(cache: Path) -> dict[str, tuple[float, str]]:
    """The response cache's entries: key -> (when it was stored, the request it answers: model, messages,
    params and API, as JSON)."""
    import json
    import sqlite3

    if not cache.exists():
        return {}
    with contextlib.closing(sqlite3.connect(cache)) as db:
        rows = db.execute("SELECT key, created, record FROM responses").fetchall()
    out = {}
    for key, created, record in rows:
        r = json.loads(record)
        out[key] = (created, json.dumps([r.get("model"), r.get("messages"), r.get("params"), r.get("surface")],
                                        sort_keys=True))
    return out


def cache_problems(before: dict, after: dict) -> list[str]:
    """What a run on a warm cache did wrong: an answer the first run stored was stored again (its request was
    sent, not read), or one request is stored under two keys (its key changed between runs)."""
    resent = [k for k, (created, _) in before.items() if k in after and after[k][0] != created]
    requests: dict[str, list[str]] = {}
    for key, (_, request) in after.items():
        requests.setdefault(request, []).append(key)
    twice = [request for request, keys in requests.items() if len(keys) > 1]
    return ([f"{len(resent)} answer(s) of the first run were sent and stored again instead of read"] * bool(resent)
            + [f"one request stored under {len(requests[r])} keys: {r[:200]}" for r in twice])


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_executes(path, embedded_stack, tmp_path, monkeypatch, record_property):
    """Each lesson runs twice on one cache. The second run is a learner's "Restart & Run All": every cacheable
    request is read from the cache (it stores nothing new). A lesson of CLAIMING runs the second time at
    SEED = 1, as a learner who changes the seed: what the seed does not change is read from the cache, and its
    printed claims are checked at a second seed. A lesson of KEEP_NOTHING that claims nothing runs once (a
    second run would repeat the first exactly). On every warm run no answer of the first run is sent again and
    no request is stored under two keys.
    Both runs use the inline backend; every figure of the first run is saved as a PNG under
    .lab/test-logs/figures/<lesson>/ and checked (tests/figure_checks.py), the second run's too."""
    import shutil

    from . import figure_checks
    from .test_lesson_claims import problems  # the guard reads every run: its words against its numbers

    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))  # the kernel inherits it: real runs
    monkeypatch.delenv("LLAMA_STACK_URL", raising=False)
    monkeypatch.delenv("LAB_MODEL", raising=False)
    figures = figure_dir(path.stem)
    shutil.rmtree(figures, ignore_errors=True)
    # The OGX suite runs each lesson once: the second run tests the lab's cache and the lesson's claims, which
    # do not depend on the distribution.
    ogx = os.environ.get("LAB_DISTRIBUTION") == "ogx"
    parameters = {**CI_PARAMETERS.get(path.stem, {}), **(OGX_PARAMETERS.get(path.stem, {}) if ogx else {})}
    runs = [(parameters, figures)]
    if not ogx and path.stem in CLAIMING:
        runs.append(({**parameters, "SEED": SECOND_SEED}, tmp_path / "figures-rerun"))
    elif not ogx and path.stem not in KEEP_NOTHING:
        runs.append((parameters, tmp_path / "figures-rerun"))
    cache = tmp_path / "cache" / "responses.sqlite"
    seconds, entries = [], []
    for run, (sent, saved) in enumerate(runs):
        figure_checks.install(tmp_path / f"ipython-{run}", saved, monkeypatch)
        out = tmp_path / f"run{run}" / path.name
        out.parent.mkdir()
        seed = f", SEED={sent['SEED']}" if "SEED" in sent else ""
        label = f"{path.name} (run {run + 1} of {len(runs)}{seed})"
        t0 = time.perf_counter()
        execute(path, sent, out)
        seconds.append(time.perf_counter() - t0)
        entries.append(stored(cache))
        found = problems(nbformat.read(out, as_version=4))
        assert not found, f"{label}: " + "; ".join(found)
        drawn = figure_checks.read(saved)
        bad = [f"{f['figure']} ({f['title'][:50]!r}): {p}" for f in drawn for p in f["problems"]]
        assert not bad, f"{label} figures, saved in {saved}: " + "; ".join(bad)
    if path.stem in KEEP_NOTHING:
        assert not any(entries), (f"{path.name} stored {max(map(len, entries))} cache entries: take it out of "
                                  "KEEP_NOTHING so its re-run on that cache is tested")
    record_property("seconds", round(seconds[0], 1))
    if len(runs) == 1:
        return
    record_property("rerun_seconds", round(seconds[1], 1))
    reseeded = "SEED" in runs[1][0]
    again = f"again at SEED={SECOND_SEED}" if reseeded else "again"
    print(f"{path.name}: {seconds[0]:.1f} s, {again} on its cache {seconds[1]:.1f} s, "
          f"{len(entries[1]) - len(entries[0])} new cache entries beside the first run's {len(entries[0])}")
    wrong = cache_problems(entries[0], entries[1])
    assert not wrong, f"{path.name}, run 2 on the first run's cache: " + "; ".join(wrong)
    if not reseeded:
        assert len(entries[1]) == len(entries[0]), (
            f"{path.name}: the re-run on a warm cache added {len(entries[1]) - len(entries[0])} cache entries: a "
            "cacheable request was sent again instead of read")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_exercise_checks_print_no_stray_value(path):
    """`exercise(...)` returns True/False; as a cell's last line without `;` Jupyter prints it below the ✅/❌."""
    nb = nbformat.read(path, as_version=4)
    bare = [c.source for c in nb.cells if c.cell_type == "code"
            and c.source.strip().splitlines()[-1:] and "exercises.exercise(" in c.source.strip().splitlines()[-1]
            and not c.source.strip().endswith(";")]
    assert not bare, f"{path.name}: end the exercise check with ';' so no stray False/True is shown: {bare}"


def test_readme_lists_every_lesson_in_its_track():
    """The README's tracks tables link every lesson, each once (lesson 11 was added by splitting 10)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        links = readme.count(f"(notebooks/{path.name})")
        assert links >= 1, f"README.md does not link {path.name} in its lessons tables"


def test_cache_problems_name_a_resent_answer_and_a_request_under_two_keys(tmp_path):
    from labutils.client.cache import Cache

    path = tmp_path / "responses.sqlite"
    cache = Cache(path)
    record = {"text": "hi", "model": "m", "messages": [{"role": "user", "content": "x"}], "params": {"seed": 1}}
    cache.put("k1", record)
    before = stored(path)
    assert list(before) == ["k1"] and '"seed": 1' in before["k1"][1]
    cache.put("k2", {**record, "params": {"seed": 2}})  # another request: fine
    assert cache_problems(before, stored(path)) == []
    cache.put("k3", record)  # the same request under another key: its key changed between runs
    assert cache_problems(before, stored(path)) == ["one request stored under 2 keys: " + before["k1"][1][:200]]
    time.sleep(0.01)
    cache.put("k1", record)  # stored again: it was sent, not read
    resent = "1 answer(s) of the first run were sent and stored again instead of read"
    assert resent in cache_problems(before, stored(path))
    cache.close()
