"""Grid throughput on llama-server's parallel slots, and the cache's speed-up, measured in one run.

Two private embedded stacks on free ports: one as `make lab` starts it (LAB_SLOTS slots) and one with a
single slot. A 3x3x3 grid with 3 samples (81 seeded calls):
(a) completion tokens/s of `Lab.sweep` (cache off) on the slotted stack vs the same requests sent one by
one with the bare client to the one-slot stack (the old engine's way), in A-B-B-A order to cancel
drift; goal ratio >= 2.0 on 2 cores; the texts must be identical (slots do not change answers);
(b) the cached re-run: its time and its speed-up over the first, uncached run; goal >= 50x and < 1 s.

    .venv/bin/python bench/grid_throughput.py
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import labutils
from labutils import Grid, stack

PROMPT = "Describe a city at night."
GRID = Grid(temperature=[0.3, 0.7, 1.0], top_p=[0.5, 0.9, 1.0], max_tokens=[16, 32, 48], samples=3, seed=1)


def bare(lab: labutils.Lab) -> tuple[int, float, list[str]]:
    tokens, texts, t0 = 0, [], time.perf_counter()
    for cell in GRID:
        r = lab.client.chat.completions.create(model=lab.model, messages=[{"role": "user", "content": PROMPT}],
                                               **cell.params())
        tokens += r.usage.completion_tokens
        texts.append(r.choices[0].message.content)
    return tokens, time.perf_counter() - t0, texts


def swept(lab: labutils.Lab, **kwargs) -> tuple[int, float, object]:
    t0 = time.perf_counter()
    runs = lab.sweep(PROMPT, GRID, progress=False, **kwargs)
    return int(runs["completion_tokens"].sum()), time.perf_counter() - t0, runs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        slotted = replace(stack.Settings(), state=Path(tmp) / "slotted", models=())
        single = replace(slotted, slots=1, state=Path(tmp) / "single")
        slotted = replace(slotted, **dict(zip(("stack_port", "llama_port"), stack.free_ports(2))))
        single = replace(single, **dict(zip(("stack_port", "llama_port"), stack.free_ports(2))))
        for s in (slotted, single):
            stack.up(s, quiet=True)
        try:
            run(*(embedded(s) for s in (slotted, single)))
        finally:
            for s in (slotted, single):
                stack.down(s, quiet=True)


def embedded(s: stack.Settings) -> labutils.Lab:
    """Connect to a private stack as to the embedded one, so the lab reads its engine (slots, /props)."""
    os.environ.update(LAB_STACK_PORT=str(s.stack_port), LAB_LLAMA_PORT=str(s.llama_port))
    return labutils.connect(s.url)


def run(lab: labutils.Lab, one: labutils.Lab) -> None:
    print(f"{lab} with {lab.slots} slots (sweep concurrency {lab.concurrency}) vs {one} with {one.slots} slot")
    print(f"grid: {GRID}")
    for x in (lab, one):
        x.chat(PROMPT, max_tokens=4, temperature=0)  # warm up
    b_tok = b_sec = s_tok = s_sec = 0
    texts = {}
    for order in (("bare", "sweep"), ("sweep", "bare")):  # ABBA: a linear drift of the machine cancels out
        for which in order:
            if which == "bare":
                tok, sec, texts["bare"] = bare(one)
                b_tok, b_sec = b_tok + tok, b_sec + sec
            else:
                tok, sec, runs = swept(lab, cache=False)
                assert runs["error"].isna().all(), runs["error"].dropna().head()
                s_tok, s_sec, texts["sweep"] = s_tok + tok, s_sec + sec, list(runs["text"])
    bare_rate, sweep_rate = b_tok / b_sec, s_tok / s_sec
    same = sum(a == b for a, b in zip(texts["bare"], texts["sweep"]))
    print(f"(a) bare client, 1 slot: {b_tok} tokens in {b_sec:.1f} s = {bare_rate:.1f} tokens/s")
    print(f"    Lab.sweep, {lab.slots} slots: {s_tok} tokens in {s_sec:.1f} s = {sweep_rate:.1f} tokens/s")
    print(f"    ratio sweep / bare: {sweep_rate / bare_rate:.3f}  (goal >= 2.0); identical texts {same}/{len(GRID)}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LAB_CACHE_DIR"] = tmp
        _, first, _ = swept(lab)
        _, second, runs = swept(lab)
    assert runs["cached"].all()
    print(f"(b) first run {first:.2f} s, cached re-run {second:.3f} s: speed-up {first / second:.0f}x "
          "(goal >= 50x, under 1 s)")


if __name__ == "__main__":
    main()
