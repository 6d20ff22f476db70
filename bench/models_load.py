"""Memory and cold start of the embedded stack with one model and with two (SmolLM2-135M + Gemma 3 270M).

In one run, a private stack (free loopback ports, state in a temporary folder, the lab's defaults:
`LAB_SLOTS` slots, `LAB_THREADS` threads) is started from nothing with SmolLM2 alone, then with SmolLM2
and Gemma 3 270M (`make model-gemma`), in A-B-B-A order. For each start it prints the cold start (from
`up` until Llama Stack lists every model) and the resident memory (RSS) of the llama-server processes,
after loading and again after one request to each model; also the distribution's own RSS (Python, the
same with one model or two). Goals, with both models on 2 cores: engines' RSS < 2 GB, cold start < 20 s.

    .venv/bin/python bench/models_load.py [--rounds 2] [--distribution llama-stack|ogx]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from labutils import stack

GOAL_RSS_MB, GOAL_COLD_S = 2000.0, 20.0


def rss_mb(pid: int | None) -> float:
    """Resident memory of `pid` and its children, in MB (10^6 bytes)."""
    if pid is None:
        return 0.0
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total * 1024 / 1e6


def one_start(models: tuple, distribution: str) -> dict:
    """Start a private stack serving `models` next to SmolLM2, measure, stop it."""
    with tempfile.TemporaryDirectory() as tmp:
        ports = stack.free_ports(2 + len(models))
        s = stack.Settings(stack_port=ports[0], llama_port=ports[1], extra_ports=tuple(ports[2:]), models=models,
                           state=Path(tmp) / "stack", distribution=distribution, start_timeout=120)
        t0 = time.perf_counter()
        try:
            stack.up(s, quiet=True)
            cold = time.perf_counter() - t0
            engines = [*stack.pool_engines(s), stack.servers(s)[0], *stack.engines(s)]  # balancer too
            loaded = [rss_mb(e.pid()) for e in engines]
            for model in s.model_ids:
                httpx.post(s.url + "/v1/chat/completions", timeout=120, json={
                    "model": model, "messages": [{"role": "user", "content": "Tell me about the sea."}],
                    "max_tokens": 32, "temperature": 0}).raise_for_status()
            used = [rss_mb(e.pid()) for e in engines]
            front = rss_mb(stack.servers(s)[1].pid())
        finally:
            stack.down(s, quiet=True)
    return {"cold": cold, "loaded": loaded, "used": used, "front": front, "ids": s.model_ids}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="A-B-B-A rounds (each starts both stacks)")
    parser.add_argument("--distribution", default="llama-stack", choices=["llama-stack", "ogx"])
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    gemma = stack.models_dir() / stack.GEMMA_FILE
    if not gemma.is_file():
        print(f"models_load: skipped, Gemma 3 270M is not installed ({gemma}): run `make model-gemma` first.")
        return 0
    both = ((None, str(gemma)),)
    s = stack.Settings()
    print(f"{s.slots} slot(s), {s.threads} thread(s) per engine (SmolLM2: one engine per core, plus the balancer), "
          f"context {s.n_ctx} per slot, {args.distribution} in front; {args.rounds} A-B-B-A round(s)")
    runs: dict[str, list[dict]] = {"one": [], "both": []}
    for _ in range(args.rounds):
        for kind in ("one", "both", "both", "one"):
            runs[kind].append(one_start(both if kind == "both" else (), args.distribution))
    for kind, label in (("one", "SmolLM2 only"), ("both", "SmolLM2 + Gemma 3 270M")):
        rs = runs[kind]
        cold = [r["cold"] for r in rs]
        loaded = [sum(r["loaded"]) for r in rs]
        used = [sum(r["used"]) for r in rs]
        per = [statistics.median(col) for col in zip(*(r["used"] for r in rs))]
        print(f"{label:<24} cold start median {statistics.median(cold):5.1f} s (max {max(cold):.1f}); "
              f"engines RSS loaded {statistics.median(loaded):6.0f} MB, "
              f"after a request {statistics.median(used):6.0f} MB "
              f"(max {max(used):.0f}; per model {', '.join(f'{m:.0f}' for m in per)}); "
              f"{args.distribution} RSS {statistics.median(r['front'] for r in rs):.0f} MB")
    worst_rss, worst_cold = max(sum(r["used"]) for r in runs["both"]), max(r["cold"] for r in runs["both"])
    ok_rss, ok_cold = worst_rss < GOAL_RSS_MB, worst_cold < GOAL_COLD_S
    print(f"both models: engines RSS {worst_rss:.0f} MB (goal < {GOAL_RSS_MB:.0f}: {'ok' if ok_rss else 'MISSED'}); "
          f"cold start {worst_cold:.1f} s (goal < {GOAL_COLD_S:.0f}: {'ok' if ok_cold else 'MISSED'}); worst of "
          f"{len(runs['both'])} starts")
    return 0 if ok_rss and ok_cold else 1


if __name__ == "__main__":
    sys.exit(main())
