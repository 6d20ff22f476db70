"""Is a seed still a fact? The same request's text alone, after others, batched, on every engine of the pool,
and on both engines (prebuilt and source-built).

1. For each engine kind and slot count, one private engine (the lab's own command line, `engine_command`)
   answers a set of seeded requests three ways: one at a time on an idle server ("alone"), again after
   unrelated requests have filled the slots ("after others"), and all at once mixed with unrelated requests
   so that they share decode batches with them ("batched").
2. For each engine kind, a private pool (`--pool` single-thread engines behind the balancer, Llama Stack in
   front) answers them on each engine alone (straight to its port) and through the balancer mixed with
   unrelated requests, two at a time, so that they land on whichever engine is free.
Every text is also compared with the first engine's "alone" text (across engine kinds too). It prints the
pairs compared and the mismatches of each kind; the lab's claim "same seed + same params + same messages =
same text" holds when every count is 0.

    .venv/bin/python bench/determinism.py [--engines prebuilt,source] [--slots 1,2] [--pool 2] [--requests 12]
"""

from __future__ import annotations

import argparse
import logging
import random
from concurrent.futures import ThreadPoolExecutor

import httpx
from _engine import private_engine, private_pool  # bench/_engine.py (this folder is on sys.path)

from labutils import stack

PROMPTS = ["Write a short story about a lighthouse keeper.", "Explain what a compiler does.",
           "Describe the sea at night.", "Give three tips for learning to cook.", "What is a prime number?",
           "Write a haiku about autumn."]
OTHERS = ["Name a fruit.", "Tell me a joke about cats.", "List four colours.", "Write a limerick about a frog."]
MODEL = "smollm2-135m-instruct"


def ask(base: str, prompt: str, seed: int, max_tokens: int, temperature: float = 0.9) -> str:
    r = httpx.post(base + "/v1/chat/completions", timeout=600, json={
        "model": MODEL, "messages": [{"role": "user", "content": prompt}], "temperature": temperature,
        "seed": seed, "max_tokens": max_tokens})
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


def batched(base: str, requests: list[tuple[str, int]], max_tokens: int, width: int, shuffle: int) -> list[str]:
    """The seeded requests sent `width` at a time, mixed with unrelated ones; their texts in order."""
    mixed = [(p, seed, True) for p, seed in requests] + [(o, i, False) for i, o in enumerate(OTHERS * 2)]
    random.Random(shuffle).shuffle(mixed)
    with ThreadPoolExecutor(width) as pool:
        futures = {(p, seed): pool.submit(ask, base, p, seed, max_tokens) for p, seed, mine in mixed if mine}
        for p, seed, mine in mixed:
            if not mine:
                pool.submit(ask, base, p, seed, 24, 1.0)
        return [futures[r].result() for r in requests]


def one_engine(engine: str, slots: int, requests: list[tuple[str, int]], max_tokens: int) -> dict[str, list[str]]:
    with private_engine(engine=engine, slots=slots) as s:
        base = s.llama_base
        alone = [ask(base, p, seed, max_tokens) for p, seed in requests]
        for i, other in enumerate(OTHERS * slots):  # fill every slot with something else first
            ask(base, other, i, 16, temperature=1.0)
        after = [ask(base, p, seed, max_tokens) for p, seed in requests]
        return {"alone": alone, "after others": after,
                "batched": batched(base, requests, max_tokens, slots, slots)}


def pool(engine: str, size: int, requests: list[tuple[str, int]], max_tokens: int) -> dict[str, list[str]]:
    with private_pool(engine=engine, pool_size=size, slots=1, threads=1) as s:
        texts = {f"engine {i} alone": [ask(f"http://127.0.0.1:{e.port}", p, seed, max_tokens) for p, seed in requests]
                 for i, e in enumerate(stack.pool_engines(s), 1)}
        texts["balancer, batched"] = batched(s.llama_base, requests, max_tokens, size, size)
        return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="prebuilt", help="engine kinds to compare: prebuilt, source or both")
    ap.add_argument("--slots", default="1,2", help="slot counts of the single-engine runs")
    ap.add_argument("--pool", type=int, default=2, help="engines of the pool run")
    ap.add_argument("--requests", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    requests = [(PROMPTS[i % len(PROMPTS)], 1000 + i) for i in range(args.requests)]
    reference = None
    pairs = mismatches = 0

    def compare(label: str, name: str, a: list[str], b: list[str]) -> None:
        nonlocal pairs, mismatches
        bad = sum(x != y for x, y in zip(a, b))
        pairs, mismatches = pairs + len(a), mismatches + bad
        print(f"{label}: {name:<34} {bad} of {len(a)} differ", flush=True)

    for engine in args.engines.split(","):
        for slots in (int(v) for v in args.slots.split(",")):
            texts = one_engine(engine, slots, requests, args.max_tokens)
            reference = reference or texts["alone"]
            label = f"{engine}, 1 engine, slots={slots}"
            compare(label, "alone vs after others", texts["alone"], texts["after others"])
            compare(label, "alone vs batched", texts["alone"], texts["batched"])
            compare(label, "batched vs the first engine alone", reference, texts["batched"])
        texts = pool(engine, args.pool, requests, args.max_tokens)
        for name, got in texts.items():
            compare(f"{engine}, pool of {args.pool}", f"{name} vs the first engine alone", reference, got)
    print(f"total: {mismatches} mismatches in {pairs} pairs (max_tokens={args.max_tokens}, temperature 0.9, "
          f"engines {args.engines})")


if __name__ == "__main__":
    main()
