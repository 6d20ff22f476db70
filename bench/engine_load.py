"""llama-server's throughput by slots and threads, on an idle and on a busy machine. Ratios from one run.

For each configuration (slots x threads) a private llama-server is started on a free loopback port and
sent the same seeded chat requests at a concurrency equal to its slots, once with the machine idle and
once beside a competing busy process (a CPU hog that spins for the length of the measurement), in
A-B-B-A order. It prints completion tokens/s for each, the busy / idle ratio (goal >= 0.4: no collapse
from llama.cpp's spin-waiting threads), and each configuration's idle rate relative to the first one.
This is how the lab's defaults (`LAB_SLOTS`, `LAB_THREADS`) were chosen.

    .venv/bin/python bench/engine_load.py [--configs 1x2,2x1,4x1,4x2] [--requests 16] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
from _engine import private_engine, with_hog  # bench/_engine.py (this folder is on sys.path)

from labutils import stack

PROMPT = "Write a short story about a lighthouse keeper."



def measure(s: stack.Settings, requests: int, max_tokens: int) -> tuple[float, list[str]]:
    """Completion tokens/s of `requests` seeded requests sent `s.slots` at a time, and their texts."""
    def one(i: int) -> tuple[int, str]:
        r = httpx.post(s.llama_url + "/chat/completions", timeout=600, json={
            "model": s.model_alias, "messages": [{"role": "user", "content": PROMPT}],
            "temperature": 0.8, "seed": i, "max_tokens": max_tokens}).json()
        return r["usage"]["completion_tokens"], r["choices"][0]["message"]["content"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(s.slots) as pool:
        done = list(pool.map(one, range(requests)))
    return sum(n for n, _ in done) / (time.perf_counter() - t0), [t for _, t in done]



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="1x2,2x1,4x1,4x2", help="slots x threads, comma-separated")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    base = None
    texts: dict[tuple, list[str]] = {}
    print(f"{args.requests} seeded requests per arm, max_tokens={args.max_tokens}, concurrency = slots; "
          "order idle, busy, busy, idle")
    for slots, threads in configs:
        with private_engine(slots=slots, threads=threads) as s:
            measure(s, slots, 4)  # warm up every slot
            idle, busy = [], []
            for arm in ("idle", "busy", "busy", "idle"):
                if arm == "idle":
                    rate, out = measure(s, args.requests, args.max_tokens)
                    idle.append(rate)
                else:
                    rate, out = with_hog(partial(measure, s, args.requests, args.max_tokens), 600)
                    busy.append(rate)
                texts.setdefault((slots, threads), out)
                if out != texts[(slots, threads)]:
                    print(f"  note: {slots}x{threads} gave other texts in the {arm} arm")
        i, b = sum(idle) / 2, sum(busy) / 2
        base = base or i
        print(f"slots={slots} threads={threads}: idle {i:6.1f} tok/s ({idle[0]:.0f}, {idle[1]:.0f}), "
              f"busy {b:6.1f} tok/s ({busy[0]:.0f}, {busy[1]:.0f}); busy/idle {b / i:.2f} (goal >= 0.4); "
              f"idle vs first {i / base:.2f}")
    first = next(iter(texts.values()))
    same = sum(t == first for t in texts.values())
    print(f"configurations giving the same seeded texts as the first: {same}/{len(texts)}")


if __name__ == "__main__":
    main()
