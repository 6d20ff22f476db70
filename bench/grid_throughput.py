"""Grid engine throughput and cache speed-up, measured in one run.

A 3x3x3 grid with 3 samples (81 calls) against the connected stack (the embedded one by default):
(a) completion tokens/s of `Lab.sweep` (cache off) vs the same seeded requests sent one by one with the
bare client, in A-B-B-A order to cancel drift; goal ratio >= 0.95;
(b) the cached re-run: its time and its speed-up over the first, uncached run; goal >= 50x and < 1 s.

    .venv/bin/python bench/grid_throughput.py
"""

from __future__ import annotations

import os
import tempfile
import time

import labutils
from labutils import Grid

PROMPT = "Describe a city at night."
GRID = Grid(temperature=[0.3, 0.7, 1.0], top_p=[0.5, 0.9, 1.0], max_tokens=[16, 32, 48], samples=3, seed=1)


def bare(lab: labutils.Lab) -> tuple[int, float]:
    tokens, t0 = 0, time.perf_counter()
    for cell in GRID:
        r = lab.client.chat.completions.create(model=lab.model, messages=[{"role": "user", "content": PROMPT}],
                                               **cell.params())
        tokens += r.usage.completion_tokens
    return tokens, time.perf_counter() - t0


def swept(lab: labutils.Lab, **kwargs) -> tuple[int, float, object]:
    t0 = time.perf_counter()
    runs = lab.sweep(PROMPT, GRID, progress=False, **kwargs)
    return int(runs["completion_tokens"].sum()), time.perf_counter() - t0, runs


def main() -> None:
    lab = labutils.connect()
    print(f"{lab}; grid: {GRID}")
    lab.chat(PROMPT, max_tokens=4, temperature=0)  # warm up
    b_tok = b_sec = s_tok = s_sec = 0
    for order in (("bare", "sweep"), ("sweep", "bare")):  # ABBA: a linear drift of the machine cancels out
        for which in order:
            if which == "bare":
                tok, sec = bare(lab)
                b_tok, b_sec = b_tok + tok, b_sec + sec
            else:
                tok, sec, runs = swept(lab, cache=False)
                assert runs["error"].isna().all(), runs["error"].dropna().head()
                s_tok, s_sec = s_tok + tok, s_sec + sec
    bare_rate, sweep_rate = b_tok / b_sec, s_tok / s_sec
    print(f"(a) bare client: {b_tok} tokens in {b_sec:.1f} s = {bare_rate:.1f} tokens/s")
    print(f"    Lab.sweep:   {s_tok} tokens in {s_sec:.1f} s = {sweep_rate:.1f} tokens/s")
    print(f"    ratio sweep / bare: {sweep_rate / bare_rate:.3f}  (goal >= 0.95)")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LAB_CACHE_DIR"] = tmp
        _, first, _ = swept(lab)
        _, second, runs = swept(lab)
    assert runs["cached"].all()
    print(f"(b) first run {first:.2f} s, cached re-run {second:.3f} s: speed-up {first / second:.0f}x "
          "(goal >= 50x, under 1 s)")


if __name__ == "__main__":
    main()
