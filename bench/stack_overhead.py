"""What Llama Stack costs on top of llama-server, how long a cold start takes, how soon a stream starts.

Starts a fresh embedded stack on free ports (its cold start is timed; goal <= 10 s), then sends the same
seeded chat requests alternately straight to llama-server and through Llama Stack, and prints
completion tokens/s of each and their ratio (1.0 = no overhead; goal >= 0.95), then the time to the
first streamed token of a playground-sized request through `Lab.chat(on_token=...)` (goal <= 0.5 s).

    .venv/bin/python bench/stack_overhead.py [--requests 12] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
from llama_stack_client import LlamaStackClient

from labutils import connect, stack
from labutils.client.connection import quiet_http_logs

PROMPT = "Write a short story about a lighthouse keeper."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=96)
    args = ap.parse_args()
    quiet_http_logs()
    with tempfile.TemporaryDirectory() as tmp:
        stack_port, llama_port = stack.free_ports(2)
        s = stack.Settings(stack_port=stack_port, llama_port=llama_port, state=Path(tmp) / "stack", models=())
        t0 = time.perf_counter()
        stack.up(s, quiet=True)
        cold = time.perf_counter() - t0
        try:
            run(s, args, cold)
        finally:
            stack.down(s, quiet=True)


def run(s: stack.Settings, args: argparse.Namespace, cold: float) -> None:
    direct = httpx.Client(base_url=s.llama_url, timeout=120)
    client = LlamaStackClient(base_url=s.url, timeout=120, max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]
    totals = {"llama-server": [0, 0.0], "Llama Stack": [0, 0.0]}
    same = 0
    for i in range(args.requests):
        params = {"temperature": 0.8, "seed": i, "max_tokens": args.max_tokens}
        t = time.perf_counter()
        r = direct.post("/chat/completions", json={"model": s.model_alias, "messages": messages, **params}).json()
        totals["llama-server"][1] += time.perf_counter() - t
        totals["llama-server"][0] += r["usage"]["completion_tokens"]
        t = time.perf_counter()
        v = client.chat.completions.create(model=s.model_id, messages=messages, **params)
        totals["Llama Stack"][1] += time.perf_counter() - t
        totals["Llama Stack"][0] += v.usage.completion_tokens
        same += r["choices"][0]["message"]["content"] == v.choices[0].message.content
    rate = {k: tokens / secs for k, (tokens, secs) in totals.items()}
    print(f"cold start (llama-server + Llama Stack, until the model is listed): {cold:.1f} s (goal <= 10 s)")
    print(f"{args.requests} seeded requests each way, max_tokens={args.max_tokens}; identical answers: "
          f"{same}/{args.requests}")
    for name, (tokens, secs) in totals.items():
        print(f"  {name:<12} {tokens:5d} completion tokens in {secs:6.2f} s = {rate[name]:6.1f} tokens/s")
    print(f"ratio Llama Stack / llama-server tokens/s: {rate['Llama Stack'] / rate['llama-server']:.3f} "
          "(goal >= 0.95)")
    lab = connect(s.url)
    firsts = []
    for i in range(args.requests):
        t0, first = time.perf_counter(), []
        lab.chat("Describe the sea in one sentence.", temperature=0.7, seed=100 + i, max_tokens=64,
                 on_token=lambda piece, t0=t0, first=first: first or first.append(time.perf_counter() - t0))
        firsts.append(first[0])
    firsts.sort()
    print(f"first streamed token through Lab.chat: median {firsts[len(firsts) // 2]:.3f} s, worst {firsts[-1]:.3f} s "
          f"over {len(firsts)} requests (goal <= 0.5 s)")


if __name__ == "__main__":
    main()
