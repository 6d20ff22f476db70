"""Many chats at once from several processes on loopback (issue 24's load fault): latency percentiles against the
client's timeout, errors, and whether each process got the lab's queueing signal (the warning `Lab.chat` gives
once an answer took more than half the timeout).

Against the stack of this shell's LAB_STACK_PORT/LAB_LLAMA_PORT (or LLAMA_STACK_URL), which must be up:

    .venv/bin/python tools/chat_load.py [--processes 4] [--chats 200] [--max-tokens 8] [--timeout 120]

Each process connects once and sends its share of the chats at the same moment (one thread each, no cache).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

PROMPTS = ["Name three colours.", "Give a name for a goldfish.", "Say hello in French.", "What is a cloud?"]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))] if values else float("nan")


def one_process(n: int, chats: int, max_tokens: int, timeout: float, barrier, out) -> None:
    """Send `chats` chats at once from this process; put (latencies, errors, warnings) on `out`."""
    import labutils

    lab = labutils.connect(timeout=timeout)
    barrier.wait()

    def chat(i: int) -> tuple[float, str | None]:
        t0 = time.perf_counter()
        try:
            lab.chat(PROMPTS[(n + i) % len(PROMPTS)], temperature=0.7, seed=1000 * n + i, max_tokens=max_tokens)
        except labutils.LabError as e:
            return time.perf_counter() - t0, f"{type(e).__name__}: {str(e)[:120]}"
        return time.perf_counter() - t0, None

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ThreadPoolExecutor(max_workers=chats) as pool:
            done = list(pool.map(chat, range(chats)))
    out.put(([t for t, e in done if e is None], [e for _, e in done if e is not None],
             [str(w.message) for w in caught if "queueing" in str(w.message)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--chats", type=int, default=200, help="chats in all, shared among the processes")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=120.0, help="the client's timeout (connect's default: 120)")
    args = ap.parse_args()
    import labutils

    lab = labutils.connect()
    print(f"{args.chats} chats from {args.processes} processes to {lab.base_url} ({lab.slots} slot(s)), "
          f"max_tokens={args.max_tokens}, timeout {args.timeout:g} s")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(args.processes), ctx.Queue()
    share = [args.chats // args.processes + (i < args.chats % args.processes) for i in range(args.processes)]
    procs = [ctx.Process(target=one_process, args=(i, share[i], args.max_tokens, args.timeout, barrier, out))
             for i in range(args.processes)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    latencies = [t for r in results for t in r[0]]
    errors = [e for r in results for e in r[1]]
    warned = sum(bool(r[2]) for r in results)
    p50, p95 = _pct(latencies, 0.5), _pct(latencies, 0.95)
    print(f"answered {len(latencies)}, errors {len(errors)}, wall {wall:.0f} s")
    print(f"latency p50 {p50:.1f} s, p95 {p95:.1f} s ({p95 / args.timeout:.0%} of the timeout), "
          f"max {max(latencies, default=float('nan')):.1f} s")
    print(f"queueing signal: {warned} of {args.processes} processes warned")
    for r in results:
        if r[2]:
            print(f"  e.g.: {r[2][0][:300]}")
            break
    for e in sorted(set(errors))[:5]:
        print(f"  error: {e}")


if __name__ == "__main__":
    main()
