"""Is a seed still a fact on llama-server? The same request's text alone, after others, and in a batch.

For each slot count, a private llama-server (the lab's own command line, `engine_command`) answers a
set of seeded requests three ways: one at a time on an idle server ("alone"), again after unrelated
requests have filled the slots' prompt caches ("after others"), and all at once mixed with unrelated
requests so that they share decode batches with them ("batched"). Every text is also compared with
the one-slot server's "alone" text. It prints the pairs compared and the mismatches of each kind; the
lab's claim "same seed + same params + same messages = same text" holds when every count is 0.

    .venv/bin/python bench/determinism.py [--slots 1,2,4] [--requests 12] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import random
from concurrent.futures import ThreadPoolExecutor

import httpx
from _engine import private_engine  # bench/_engine.py (this folder is on sys.path)

from labutils import stack

PROMPTS = ["Write a short story about a lighthouse keeper.", "Explain what a compiler does.",
           "Describe the sea at night.", "Give three tips for learning to cook.", "What is a prime number?",
           "Write a haiku about autumn."]
OTHERS = ["Name a fruit.", "Tell me a joke about cats.", "List four colours.", "Write a limerick about a frog."]


def ask(s: stack.Settings, prompt: str, seed: int, max_tokens: int, temperature: float = 0.9) -> str:
    r = httpx.post(s.llama_url + "/chat/completions", timeout=600, json={
        "model": s.model_alias, "messages": [{"role": "user", "content": prompt}], "temperature": temperature,
        "seed": seed, "max_tokens": max_tokens})
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


def run(slots: int, requests: list[tuple[str, int]], max_tokens: int) -> dict[str, list[str]]:
    with private_engine(slots=slots) as s:
        alone = [ask(s, p, seed, max_tokens) for p, seed in requests]
        for i, other in enumerate(OTHERS * slots):  # fill every slot's prompt cache with something else
            ask(s, other, i, 16, temperature=1.0)
        after = [ask(s, p, seed, max_tokens) for p, seed in requests]
        mixed = [(p, seed, True) for p, seed in requests] + [(o, i, False) for i, o in enumerate(OTHERS * 2)]
        random.Random(slots).shuffle(mixed)
        with ThreadPoolExecutor(slots) as pool:
            futures = {(p, seed): pool.submit(ask, s, p, seed, max_tokens) for p, seed, mine in mixed if mine}
            for p, seed, mine in mixed:
                if not mine:
                    pool.submit(ask, s, p, seed, 24, 1.0)
            batched = [futures[r].result() for r in requests]
    return {"alone": alone, "after others": after, "batched": batched}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slots", default="1,2,4")
    ap.add_argument("--requests", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()
    requests = [(PROMPTS[i % len(PROMPTS)], 1000 + i) for i in range(args.requests)]
    reference = None
    pairs = mismatches = 0
    for slots in (int(v) for v in args.slots.split(",")):
        texts = run(slots, requests, args.max_tokens)
        reference = reference or texts["alone"]
        rows = [("alone vs after others", texts["alone"], texts["after others"]),
                ("alone vs batched", texts["alone"], texts["batched"]),
                ("vs the first server alone", reference, texts["batched"])]
        for name, a, b in rows:
            bad = sum(x != y for x, y in zip(a, b))
            pairs, mismatches = pairs + len(a), mismatches + bad
            print(f"slots={slots}: {name:<26} {bad} of {len(a)} differ")
    print(f"total: {mismatches} mismatches in {pairs} pairs (max_tokens={args.max_tokens}, temperature 0.9)")


if __name__ == "__main__":
    main()
