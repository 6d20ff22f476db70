"""The guard: a lesson's words never contradict its numbers.

The rules, checked by `problems(nb)`:
1. Data-dependent interpretation is printed by code from the run, never written in markdown: the prose
   of a lesson must not state an outcome of this run ("stays flat", "keeps its label", "the printout
   shows ..."). Such a sentence is true for one run and false for the next.
2. Every comparison a lesson prints (`paired.Difference.sentence`: "higher by ...", "lower by ...",
   "no clear difference", "can't tell yet") agrees with the interval printed in the same line, and the
   lesson-specific verdicts (07's "repeatable and right", 04's "no answer ended on its own", 01's
   "shortest ..., clearly", ...) agree with the counts and comparisons printed next to them.
3. A cell that prints numbers of a next-token distribution (a top token's probability, a nucleus count)
   also prints how much of the probability its tokens cover, and states an exact count over tokens that
   cover less than all of it only where it says why that count is exact (else "at least").

4. Nothing a lesson shows (printed, or a table) holds a word from a short list unfit for a classroom.

`test_notebooks.test_executes` runs `problems` on every run of every lesson at its CI parameters; the lessons
that print such claims (`test_notebooks.CLAIMING`) run there a second time at SEED = 1, so the guard reads them
at two seeds. The pure checks here prove the guard fails on the texts lessons 04 and 07 had before this guard
existed (issue 12).
"""

from __future__ import annotations

import re
import subprocess

import nbformat
import pytest

from labutils import intervals, paired

from .test_notebooks import CLAIMING, NOTEBOOK_DIR, ROOT, SECOND_SEED

# Sentences that state what this run's data show. In markdown they are a claim nobody checks.
OUTCOME_PHRASES = [
    r"\bstays? flat\b", r"\(or fall\)", r"keeps? its label", r"what you want for label",
    r"the printout shows", r"as your [\w ]+ shows", r"from the printed evidence", r"\bthe numbers above\b",
    r"is always (?:higher|lower)", r"\bnever ends? on its own\b", r"\bquickly reaches\b",
    r"\bevery sample is the greedy answer\b", r"\bthe request went through\b",
]
NUM = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
WHERE = r"(includes 0|all above 0|all below 0)"
DIFF = re.compile(rf"(higher|lower) by ({NUM}) \((\d+)% CI \[({NUM}), ({NUM})\], {WHERE}; (\d+) paired samples\)")
SAME = re.compile(rf"no clear difference \(({NUM}); (\d+)% CI \[({NUM}), ({NUM})\], {WHERE}; (\d+) paired samples\)")
OLD_CI = re.compile(rf"CI {NUM} to {NUM}")  # the old "95% CI +0 to +0.5", read as excluding 0
CANT = re.compile(rf"can't tell yet, raise SAMPLES \(difference ({NUM}|nan), only (\d+) paired samples\)")
# labutils.evidence's sentences (the core lessons' one call): "...(the same 8 seeds); difference +0.5, likely
# between +0.2 and +0.8 (95% interval, all above 0): higher with ...", "...(the same 8 seeds). <why>: can't tell
# yet", and a count's "5 of 8 answers; the share this request gets is likely between 0.3 and 0.9"
EVIDENCE = re.compile(rf"the same (\d+) seeds[^)]*\); difference ({NUM}), likely between ({NUM}) and ({NUM}) "
                      rf"\((\d+)% interval, {WHERE}[^)]*\): (higher|lower|no clear difference)")
EVIDENCE_CANT = re.compile(r"the same (\d+) seeds[^)]*\)\. ([^\n]*?): can't tell yet")
COUNT = re.compile(rf"(\d+) of (\d+) answers[^;\n]*; the share this request gets is likely between ({NUM}) and ({NUM})")
OLD = "05a6624f757b72a3367b64cb47d2ade81dc637a6"  # the lessons as issue 12 found them


def markdown_claims(nb) -> list[str]:
    """Markdown sentences (between Setup and Exercises) that state an outcome of the run."""
    out, inside = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "## Exercises" in cell.source:
            break
        if cell.cell_type == "code":
            inside = True
        if cell.cell_type == "markdown" and inside:
            for pattern in OUTCOME_PHRASES:
                for m in re.finditer(pattern, cell.source, re.I):
                    start = cell.source.rfind(".", 0, m.start()) + 1
                    out.append(f"markdown states an outcome ({pattern!r}): {cell.source[start:m.end() + 40].strip()!r}")
    return out


def _stream(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def printed(nb) -> str:
    return "\n".join(_stream(c) for c in nb.cells if c.cell_type == "code" and _stream(c))


COVERED = re.compile(r"(\d+)% of the (?:model's )?probability")
SHOWS_DISTRIBUTION = re.compile(r"top token|probability of the top|\bkeeps\b.*\btokens\b")


def coverage_problems(outputs: list[str]) -> list[str]:
    """Cells' printed texts that show a distribution without its covered mass, or state an exact count
    over tokens that hold less than all of the probability without saying why it is exact."""
    out = []
    for text in outputs:
        if not SHOWS_DISTRIBUTION.search(text):
            continue
        covered = COVERED.search(text)
        if not covered:
            out.append(f"prints a distribution's numbers without the mass its tokens cover: {text[:120]!r}")
            continue
        for line in text.splitlines():
            if re.search(r"\bkeeps\s+\d+ tokens", line) and "exact" not in line:
                out.append(f"states an exact count over tokens that hold part of the probability: {line!r}")
    return out


def comparison_problems(text: str) -> list[str]:
    """Printed comparisons whose word disagrees with the interval printed beside it."""
    out = []
    for m in DIFF.finditer(text):
        word, lo, hi, where, n = m.group(1), float(m.group(4)), float(m.group(5)), m.group(6), int(m.group(7))
        if n < intervals.MIN_PAIRS or (word == "higher" and not lo > 0) or (word == "lower" and not hi < 0):
            out.append(f"says {word!r} but the interval is {lo} to {hi} over {n} pairs: {m.group(0)!r}")
        out += _interval_words(lo, hi, where, m.group(0))
    for m in SAME.finditer(text):
        lo, hi, where, n = float(m.group(3)), float(m.group(4)), m.group(5), int(m.group(6))
        if not lo <= 0 <= hi or n < intervals.MIN_PAIRS:
            out.append(f"says 'no clear difference' but the interval is {lo} to {hi} ({n} pairs): {m.group(0)!r}")
        out += _interval_words(lo, hi, where, m.group(0))
    out += [f"an interval written 'from to' (reads as excluding 0 at '+0'): {m.group(0)!r}"
            for m in OLD_CI.finditer(text)]
    for m in CANT.finditer(text):
        if int(m.group(2)) >= intervals.MIN_PAIRS:
            out.append(f"says 'can't tell yet' with {m.group(2)} pairs: {m.group(0)!r}")
    return out + evidence_problems(text)


def evidence_problems(text: str) -> list[str]:
    """`labutils.evidence` sentences whose word disagrees with their range, or that show a range of no width."""
    out = []
    for m in EVIDENCE.finditer(text):
        n, lo, hi, where, word = int(m.group(1)), float(m.group(3)), float(m.group(4)), m.group(6), m.group(7)
        wrong = (n < intervals.MIN_PAIRS or (word == "higher" and not lo > 0) or (word == "lower" and not hi < 0)
                 or (word == "no clear difference" and not lo <= 0 <= hi))
        if wrong:
            out.append(f"says {word!r} but the range is {lo} to {hi} over {n} seeds: {m.group(0)!r}")
        out += _interval_words(lo, hi, where, m.group(0))
    for m in EVIDENCE_CANT.finditer(text):
        if int(m.group(1)) >= intervals.MIN_PAIRS and not re.search(r"too regular|no spread", m.group(2)):
            out.append(f"says 'can't tell yet' with {m.group(1)} seeds and no reason: {m.group(0)!r}")
    for m in COUNT.finditer(text):
        k, n, lo, hi = int(m.group(1)), int(m.group(2)), float(m.group(3)), float(m.group(4))
        if not (lo < hi and lo <= k / n <= hi):
            out.append(f"a count of {k} of {n} with the range {lo} to {hi}: {m.group(0)!r}")
    return out


def _interval_words(lo: float, hi: float, where: str, line: str) -> list[str]:
    """An interval presented as evidence has width, and its words say where 0 is."""
    out = []
    if lo == hi:
        out.append(f"presents a degenerate interval [{lo}, {hi}] as evidence: {line!r}")
    right = "includes 0" if lo <= 0 <= hi else "all above 0" if lo > 0 else "all below 0"
    if where != right:
        out.append(f"says {where!r} of the interval [{lo}, {hi}]: {line!r}")
    return out


def lesson_problems(text: str) -> list[str]:
    """The lesson-specific verdicts against the counts they read."""
    out = []
    # 07: "repeatable and right" only when no T=0 label was wrong and the accuracy interval is high
    if "labels are repeatable and right" in text:
        m = re.search(rf"correct ({NUM}) of (\d+) answers \[({NUM}), ({NUM})\]", text)
        if "wrong at T=" in text or not m or float(m.group(3)) < 0.75:
            out.append("07 calls temperature 0 right while its printed accuracy or wrong labels say otherwise")
    if "repeatable, not right" in text and "wrong at T=" not in text:
        out.append("07 says the labels are wrong but printed no wrong label")
    # 04: the verdict about answers ending on their own against the per-limit counts
    own = [int(x) for x in re.findall(r"(\d+) ended on their own", text)]
    cut = [int(x) for x in re.findall(r"(\d+) of \d+ cut,", text)]
    if "No answer ended on its own" in text and any(own):
        out.append(f"04 says no answer ended on its own, but the counts are {own}")
    if "Both outcomes appear" in text and not (any(own) and any(cut)):
        out.append(f"04 says both outcomes appear, but cut={cut}, ended={own}")
    if "Every answer ended on its own" in text and any(cut):
        out.append(f"04 says every answer ended on its own, but cut={cut}")
    # 01: "clearly" shortest only when every comparison of that list with another says "lower"
    verdicts = r"(lower by|higher by|no clear difference|can't tell yet)"
    m = re.search(r"shortest: '([^']+)', clearly", text)
    if m:
        found = re.findall(rf"words per answer, condition={re.escape(m.group(1))} vs condition=.*?: {verdicts}", text)
        if not found or any(v != "lower by" for v in found):
            out.append(f"01 calls {m.group(1)!r} clearly shortest, but its comparisons say {found}")
    m = re.search(r"shortest on average: '([^']+)'.*not clearly shorter", text)
    if m:
        found = re.findall(rf"words per answer, condition={re.escape(m.group(1))} vs condition=.*?: {verdicts}", text)
        if found and all(v == "lower by" for v in found):
            out.append(f"01 says {m.group(1)!r} is not clearly shortest, but every comparison says lower")
    m = re.search(r"fewer tokens for the same seed: never", text)
    if m and "lower by" in text.split("completion tokens with stop='.'")[-1].split("\n")[0]:
        out.append("04 says a larger limit never gives fewer tokens, but its comparison says lower")
    return out


# 4. Nothing a lesson shows at its defaults or CI seeds is unfit for a classroom (issue 23: a seed-0 sample of
# lesson 04 read "...assisting a local prostitute..."). A short list, matched as whole words.
UNFIT = re.compile(r"\b(prostitut\w*|porn\w*|sex|sexy|sexual\w*|nude|naked|rape\w*|suicid\w*|cocaine|heroin|"
                   r"fuck\w*|shit\w*|bitch\w*|nazi\w*|whore\w*|slut\w*|dick|cunt\w*|bastard\w*)\b", re.I)


def shown(nb) -> str:
    """Every text a lesson shows: printed streams, tables and reprs (text/plain, text/html, markdown)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") if o.get("output_type") == "stream" else "")
            for kind in ("text/plain", "text/html", "text/markdown"):
                data = o.get("data", {}).get(kind, "")
                out.append("".join(data) if isinstance(data, list) else data)
    return "\n".join(t for t in out if t)


def content_problems(text: str) -> list[str]:
    """Words unfit for a classroom in what a lesson shows, with their context."""
    return [f"shows a word unfit for a classroom: {text[max(0, m.start() - 40):m.end() + 20]!r}"
            for m in UNFIT.finditer(text)]


def problems(nb) -> list[str]:
    text = printed(nb)
    cells = [_stream(c) for c in nb.cells if c.cell_type == "code"]
    return (markdown_claims(nb) + comparison_problems(text) + lesson_problems(text) + coverage_problems(cells)
            + content_problems(shown(nb)))


# --- the guard itself is checked: it must catch the defects issue 12 found -------------------------

def _old(name: str):
    try:
        source = subprocess.run(["git", "show", f"{OLD}:notebooks/{name}"], capture_output=True, text=True,
                                cwd=ROOT, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip(f"git history with {OLD} is not available")
    return nbformat.reads(source, as_version=4)


@pytest.mark.parametrize(("name", "phrase"), [("07_use_cases.ipynb", "keeps its label"),
                                              ("04_max_tokens_and_stop.ipynb", "flat")])
def test_the_guard_fails_on_the_old_lessons(name, phrase):
    found = problems(_old(name))
    assert any(phrase in p for p in found), found


def test_the_guard_reads_printed_comparisons():
    ok = "x, t=1 vs t=0: higher by 0.5 (95% CI [+0.2, +0.8], all above 0; 8 paired samples)\n"
    assert comparison_problems(ok) == []
    assert comparison_problems(ok.replace("+0.2", "-0.1"))  # "higher" with an interval holding 0
    assert comparison_problems("x: lower by 1 (95% CI [-2, -0.5], all below 0; 2 paired samples)")  # too few pairs
    assert comparison_problems("x: no clear difference (+0.5; 95% CI [+0.1, +0.9], includes 0; 8 paired samples)")
    assert comparison_problems("x: can't tell yet, raise SAMPLES (difference +1, only 9 paired samples)")
    # issue 23: the old wording, a degenerate interval as evidence, and words that misplace 0
    assert comparison_problems("x: no clear difference (+0.167; 95% CI +0 to +0.5, 8 paired samples)")
    assert comparison_problems("x: higher by 1 (95% CI [+1, +1], all above 0; 4 paired samples)")
    assert comparison_problems("x: no clear difference (+0.1; 95% CI [0, +0.5], all above 0; 8 paired samples)")
    # the library's own sentences always pass
    for lo, hi, n in ((0.2, 0.8, 8), (-0.8, -0.2, 8), (-0.1, 0.3, 8), (0.2, 0.8, 2), (0.0, 0.5, 8), (1.0, 1.0, 4)):
        d = paired.Difference("m", {"t": 0}, {"t": 1}, (lo + hi) / 2, lo, hi, n)
        assert comparison_problems(d.sentence()) == [], d.sentence()


def test_the_guard_reads_evidence_sentences():
    import pandas as pd

    from labutils import evidence

    ok = ("one-word answers: 7 of 8 with B, 2 of 8 with A (the same 8 seeds); difference +0.625, likely between "
          "+0.25 and +1 (95% interval, all above 0): higher with B.")
    assert comparison_problems(ok) == []
    assert comparison_problems(ok.replace("+0.25", "-0.25"))  # "higher" with a range holding 0
    assert comparison_problems(ok.replace("+0.25 and +1", "+1 and +1"))  # a range of no width
    assert comparison_problems(ok.replace("all above 0", "includes 0"))  # words that misplace 0
    assert comparison_problems("x: 1 with B, 0 with A (the same 8 seeds). 8 samples per side: can't tell yet, raise")
    assert comparison_problems("one-word answers: 8 of 8 answers; the share this request gets is likely between "
                               "0.2 and 0.6 (95% interval)")

    def runs(texts):
        return pd.DataFrame({"seed": range(len(texts)), "text": texts, "error": [None] * len(texts)})

    # the library's own sentences always pass: a rise, no clear difference, alike in every pair, too few
    cases = [(["a b c"] * 4 + ["Cat."] * 4, ["Cat."] * 7 + ["a b"]), (["Cat.", "a b"] * 4, ["a b", "Cat."] * 4),
             (["a b c"] * 6, ["Cat."] * 6), (["a b"] * 3, ["Cat."] * 3)]
    for a, b in cases:
        for measure in (evidence.one_word, evidence.words):
            line = evidence.judge(runs(a), runs(b), measure, what="m").sentence
            assert comparison_problems(line) == [], line


def test_the_guard_reads_content():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "execute_result", data={"text/plain": "3  The robot was assisting a local prostitute in the city."})])]
    assert content_problems(shown(nb)) and problems(nb)
    assert not content_problems("Sussex, a heroine, Essex and a therapist: words that merely hold the letters")


def test_intervals_read_right():
    """Issue 23: "+0 to +0.5" read as excluding 0; "[+1, +1]" was presented as evidence."""
    d = paired.Difference("m", {"t": 0}, {"t": 1}, 1 / 6, 0.0, 0.5, 8)
    assert "95% CI [0, +0.5], includes 0" in d.sentence()
    same = paired.Difference("m", {"t": 0}, {"t": 1}, 1.0, 1.0, 1.0, 4).sentence()
    assert "CI" not in same and "every one of the 4 paired samples" in same and "raise SAMPLES" in same
    line = intervals.rate_sentence(8, 8, "same as the greedy answer")
    assert "[0.68, 1.00]" in line and "cannot rule out a true rate as low as 0.68" in line


def test_the_guard_reads_lesson_verdicts():
    assert lesson_problems("labelling at T=0: correct 0.25 of 16 answers [0.10, 0.50]\n"
                           "  wrong at T=0: 'x' -> ['positive']\nAt T=0 the labels are repeatable and right")
    assert not lesson_problems("labelling at T=0: correct 1.00 of 16 answers [0.81, 1.00]\n"
                               "At T=0 the labels are repeatable and right on these reviews.")
    assert lesson_problems("max_tokens=64: 1 of 4 cut, 3 ended on their own\nNo answer ended on its own: ...")
    few = "words per answer, condition=few-shot examples vs condition=system: one word: "
    clear = f"{few}lower by 12 (95% CI -18 to -5.7, 6 paired samples)\nshortest: 'few-shot examples', clearly: ..."
    assert not lesson_problems(clear)
    assert lesson_problems(clear.replace("lower by 12 (95% CI -18 to -5.7", "no clear difference (-2; 95% CI -5 to +1"))
    assert lesson_problems(f"{few}lower by 12 (95% CI -18 to -5.7, 6 paired samples)\n"
                           "shortest on average: 'few-shot examples' (1.2 words), but not clearly shorter than []")


def test_the_guard_reads_distribution_coverage():
    # lesson 02 before the fix printed a renormalised top-token probability with no word of the covered mass
    assert coverage_problems(["probability of the top token: {'T=0': 1.0, 'T=1': 0.34}\n"])
    assert not coverage_problems(["over the 10 tokens shown, renormalised (they hold 55% of the model's "
                                  "probability):\n  probability of the top token: {'T=1': 0.34}\n"])
    assert not coverage_problems(["temperature_first  keeps at least 7 tokens; top token probability at most 0.34 "
                                  "(bounds: the tokens not shown hold 35% of the probability)"])
    # lesson 03 before the fix: counts over the renormalised shown tokens, stated as the nucleus's
    old = "top_p_first        keeps  2 tokens; top token probability 0.52\n(they hold 65% of the probability)"
    assert coverage_problems([old])
    assert not coverage_problems([old.replace("0.52", "0.29 (exact: the nucleus lies inside the shown tokens)")])


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_lesson_prose_states_no_outcome(path):
    assert markdown_claims(nbformat.read(path, as_version=4)) == []


# --- the lessons that claim take a seed (test_notebooks.test_executes runs them at two) ----------------

def test_claiming_lessons_take_a_seed():
    from .test_notebooks import parameter_names, parameters_cells

    assert SECOND_SEED != 0, "the second run of a claiming lesson must use another seed than the first (0)"
    for stem in CLAIMING:
        nb = nbformat.read(NOTEBOOK_DIR / f"{stem}.ipynb", as_version=4)
        assert "SEED" in parameter_names(nb), f"{stem} needs a SEED parameter so the guard can rerun it at other seeds"
        source = nb.cells[parameters_cells(nb)[0]].source
        assert re.search(r"^SEED = 0\b", source, re.M), f"{stem}: SEED defaults to 0 (the CI run is seed 0)"


