"""How long each lesson takes: reading time from its words and code lines, running time measured.

    .venv/bin/python tools/lesson_times.py                       # reading times + running times from JUnit
    .venv/bin/python tools/lesson_times.py --junit .lab/test-logs/A.xml
    .venv/bin/python tools/lesson_times.py --run 10 11           # also run lessons 10 and 11 at their defaults

Reading: the words of the markdown cells at READ_WPM words a minute, plus the code lines at CODE_LPM lines a
minute (a learner reads a cell before running it). Running: `--run` executes a lesson at its defaults with
papermill on an empty response cache of its own (every request real, as a learner's first run) against the
stack at LLAMA_STACK_URL / the embedded one, and times it; otherwise the notebook tests' own timings are read
from their JUnit files (`make test` writes .lab/test-logs/A.xml: the property `seconds` of
test_executes[<lesson>], the first run, at the tests' smaller CI parameters, so shorter than at the defaults).
The output is a Markdown table for the README's tracks section; the machine's load is printed with it, since
every running time depends on it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
READ_WPM = 200  # words a minute for technical prose read to be understood
CODE_LPM = 10   # code lines a minute
TRACKS = {range(0, 8): "Essentials", range(8, 10): "Measuring", range(10, 100): "Deeper"}


def track(number: int) -> str:
    return next(name for r, name in TRACKS.items() if number in r)


def reading(path: Path) -> dict:
    """Words, code lines and the reading minutes of one lesson."""
    nb = nbformat.read(path, as_version=4)
    words = sum(len(re.findall(r"[A-Za-z0-9_']+", c.source)) for c in nb.cells if c.cell_type == "markdown")
    code = sum(len([x for x in c.source.splitlines() if x.strip()]) for c in nb.cells if c.cell_type == "code")
    return {"words": words, "code lines": code, "reading min": words / READ_WPM + code / CODE_LPM}


def junit_seconds(files: list[Path]) -> dict[str, float]:
    """The first-run seconds of each lesson's test_executes in JUnit files (the last file wins)."""
    found = {}
    for f in files:
        if not f.exists():
            continue
        for case in ET.parse(f).getroot().iter("testcase"):
            m = re.fullmatch(r"test_executes\[(.+)\]", case.get("name", ""))
            if not m:
                continue
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            if "seconds" in props:  # the first run alone (recorded by test_executes)
                found[m.group(1)] = float(props["seconds"])
            elif case.get("time"):  # no property: the test's own time, both runs (the second from the cache)
                found[m.group(1)] = float(case.get("time"))
    return found


def run_at_defaults(path: Path) -> float:
    """Seconds to execute `path` at its defaults with papermill, on an empty cache of its own."""
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        t0 = time.perf_counter()
        papermill.execute_notebook(str(path), str(Path(tmp) / path.name), kernel_name="python3",
                                   cwd=str(path.parent), progress_bar=False, execution_timeout=1800)
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--junit", nargs="*", type=Path, default=sorted((ROOT / ".lab" / "test-logs").glob("*.xml")),
                    help="JUnit files of the notebook tests (default: .lab/test-logs/*.xml)")
    ap.add_argument("--run", nargs="*", default=[], metavar="NN",
                    help="lesson numbers to run at their defaults and time (e.g. 10 11)")
    args = ap.parse_args(argv)
    lessons = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    unknown = set(args.run) - {p.name[:2] for p in lessons}
    if unknown:
        print(f"--run {' '.join(sorted(unknown))}: no such lesson; the lessons are "
              f"{', '.join(p.name[:2] for p in lessons)}", file=sys.stderr)
        return 2
    ci = junit_seconds(args.junit)
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print("| lesson | track | words | code lines | reading | running at defaults | running in the tests (CI "
          "parameters) |")
    print("|---|---|---|---|---|---|---|")
    totals: dict[str, list[float]] = {}
    for path in lessons:
        r = reading(path)
        run, failed = None, ""
        if path.name[:2] in args.run:
            try:
                run = run_at_defaults(path)
            except Exception as e:  # a lesson that fails (e.g. the stack stopped) is reported, the table goes on
                failed = f"failed: {type(e).__name__}"
        ci_s = ci.get(path.stem)
        t = track(int(path.name[:2]))
        totals.setdefault(t, [0.0, 0.0])
        totals[t][0] += r["reading min"]
        totals[t][1] += (run if run is not None else ci_s or 0.0) / 60
        print(f"| {path.stem} | {t} | {r['words']} | {r['code lines']} | {r['reading min']:.0f} min | "
              f"{f'{run / 60:.1f} min' if run is not None else failed or 'not run'} | "
              f"{f'{ci_s / 60:.1f} min' if ci_s is not None else 'no timing'} |", flush=True)
    for t, (read, run) in totals.items():
        print(f"{t}: {read:.0f} min reading + {run:.0f} min running (defaults where run, else the tests' timing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
