"""The pool's throughput: a sweep through Llama Stack vs one engine's single stream, idle and beside a CPU hog,
two streams at once vs one alone, and the cache's speed-up. Ratios measured in one run.

A private embedded stack on free ports as `make lab` starts it (one single-thread engine per core behind the
balancer, `LAB_ENGINES`). A 3x3x3 grid with 3 samples (81 seeded calls):
(a) completion tokens/s of `Lab.sweep` (cache off) through Llama Stack vs the same requests sent one by one
    straight to ONE engine of the pool (a single stream, no Llama Stack), A-B-B-A to cancel drift; goal
    >= 2.0 on 2 idle cores; the texts must be identical (an engine does not change answers); and, as a third
    arm (A-B-C-C-B-A), the same requests unstreamed through Llama Stack: what the sweep reaches when nothing
    is passed on per token;
(b) the same beside a CPU hog (one process spinning on one core): the sweep's rate >= 0.5 of its idle rate,
    and >= 1.2x the single stream beside the same hog;
(c) two streams at once (the A/B panel's case, `send_pair`) vs one stream alone: each stream's tokens/s
    >= 0.9 of the one alone, A-B-B-A in `ROUNDS` rounds;
(d) the cached re-run: its time and its speed-up over the first, uncached run; goal >= 50x and < 1 s.

    .venv/bin/python bench/grid_throughput.py
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
from _engine import with_hog  # bench/_engine.py (this folder is on sys.path)

import labutils
from labutils import Grid, stack
from labutils.lessons.ab import send_pair

PROMPT = "Describe a city at night."
STORY = "Write a long story about a dragon who learns to read."
GRID = Grid(temperature=[0.3, 0.7, 1.0], top_p=[0.5, 0.9, 1.0], max_tokens=[16, 32, 48], samples=3, seed=1)



def ask(http: httpx.Client, base: str, model: str, cell) -> tuple[int, str]:
    """One cell of the grid as a plain unstreamed chat completion: (completion tokens, text)."""
    r = http.post(base + "/v1/chat/completions", json={
        "model": model, "messages": [{"role": "user", "content": PROMPT}], **cell.params()}).json()
    return r["usage"]["completion_tokens"], r["choices"][0]["message"]["content"]


def bare(engine: str, model: str) -> tuple[int, float, list[str]]:
    """The grid's requests one at a time, straight to one engine (no Llama Stack, no balancer)."""
    t0 = time.perf_counter()
    with httpx.Client(timeout=600) as http:
        done = [ask(http, engine, model, cell) for cell in GRID]
    return sum(n for n, _ in done), time.perf_counter() - t0, [text for _, text in done]


def unstreamed(lab: labutils.Lab) -> tuple[int, float, list[str]]:
    """The sweep's requests through Llama Stack as plain unstreamed calls, `lab.concurrency` at once: what the
    sweep would cost with no per-token work beside the engines (no chunks for Llama Stack, the balancer or the
    client to pass on), and without what streaming gives (a closed connection stops the engine)."""
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.perf_counter()
    with httpx.Client(timeout=600) as http, ThreadPoolExecutor(lab.concurrency) as pool:
        done = list(pool.map(lambda cell: ask(http, lab.base_url, lab.model, cell), GRID))
    return sum(n for n, _ in done), time.perf_counter() - t0, [text for _, text in done]


def swept(lab: labutils.Lab, **kwargs) -> tuple[int, float, object]:
    t0 = time.perf_counter()
    runs = lab.sweep(PROMPT, GRID, progress=False, **kwargs)
    assert runs["error"].isna().all(), runs["error"].dropna().head()
    return int(runs["completion_tokens"].sum()), time.perf_counter() - t0, runs


def cpu_seconds(s: stack.Settings) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the pool's engines, the balancer, Llama Stack (each process
    with its children, from /proc) and this process, the client."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(pid: int | None) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            return 0.0
        return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick

    balancer, distribution = stack.servers(s)
    return {"engines": sum(used(e.pid()) for e in stack.pool_engines(s)), "balancer": used(balancer.pid()),
            "llama-stack": used(distribution.pid()), "client": sum(os.times()[:2])}


def abba(lab: labutils.Lab, engine: str, s: stack.Settings, *, plain: bool = False) -> dict:
    """Bare single stream and the sweep, A-B-B-A (with `plain`, the unstreamed calls too: A-B-C-C-B-A): tokens/s
    of each, the texts of each arm that match the bare one's, and the sweep arms' CPU seconds per 1,000
    completion tokens, by process."""
    arms = ("bare", "sweep", "plain") if plain else ("bare", "sweep")
    got = {arm: [0, 0.0] for arm in arms}
    texts, cpu = {}, dict.fromkeys(cpu_seconds(s), 0.0)
    for which in (*arms, *reversed(arms)):  # a linear drift of the machine cancels out
        if which == "bare":
            tok, sec, texts["bare"] = bare(engine, lab.model.split("/", 1)[1])
        elif which == "plain":
            tok, sec, texts["plain"] = unstreamed(lab)
        else:
            before = cpu_seconds(s)
            tok, sec, runs = swept(lab, cache=False)
            cpu = {k: cpu[k] + v - before[k] for k, v in cpu_seconds(s).items()}
            texts["sweep"] = list(runs["text"])
        got[which][0] += tok
        got[which][1] += sec
    rates = {arm: tok / sec for arm, (tok, sec) in got.items()}
    same = {arm: sum(a == b for a, b in zip(texts["bare"], texts[arm])) for arm in arms}
    return {**rates, "same": same["sweep"], "same_plain": same.get("plain"),
            "cpu": {k: 1000 * v / got["sweep"][0] for k, v in cpu.items()},
            "ceiling": ceilings(got["bare"][1], cpu)}


def ceilings(bare_seconds: float, cpu: dict[str, float]) -> tuple[float, float]:
    """The most a sweep can reach over the single stream on this machine's cores, from the CPU seconds the
    sweeps used (`cpu`, by process) and the time the single stream took for the same requests: with the cores
    given to the engines alone (no part beside them costs anything), and with the parts beside them costing
    what they did. Work that needs the CPU cannot finish before cores x wall time covers it."""
    cores = os.cpu_count() or 1
    engines = cpu["engines"]
    return cores * bare_seconds / engines, cores * bare_seconds / sum(cpu.values())


ROUNDS = 6  # A-B-B-A rounds of (c): one stream's rate varies by 5-10% from answer to answer


def streams(lab: labutils.Lab, s: stack.Settings) -> dict:
    """Tokens/s of one stream alone and of each of two streams at once (A-B-B-A, `ROUNDS` rounds: each arm
    2 x ROUNDS times), and the CPU seconds per 1,000 streamed tokens of the parts beside the engines when
    two stream at once."""
    params = {"temperature": 0.8, "max_tokens": 96}
    alone: list[float] = []
    a: list[float] = []
    b: list[float] = []
    beside = tokens = 0.0
    for which in ("alone", "pair", "pair", "alone") * ROUNDS:
        if which == "alone":
            done = lab.chat(STORY, seed=len(alone) + 1, on_token=lambda _: None, **params)
            alone.append(done.tokens_per_s)
        else:
            before = cpu_seconds(s)
            result = send_pair(lab, STORY, {**params, "seed": 101 + len(a)}, {**params, "seed": 201 + len(a)},
                               on_token_a=lambda _: None, on_token_b=lambda _: None)
            after = cpu_seconds(s)
            beside += sum(after[k] - before[k] for k in after if k != "engines")
            tokens += result["a"].completion_tokens + result["b"].completion_tokens
            a.append(result["a"].tokens_per_s)
            b.append(result["b"].tokens_per_s)
    return {"alone": alone, "a": a, "b": b, "beside": 1000 * beside / tokens}


def spread(rates: list[float]) -> str:
    """The mean of some rates, with their lowest and highest."""
    return f"{sum(rates) / len(rates):.1f} ({min(rates):.1f}-{max(rates):.1f})"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        s = replace(stack.Settings(), state=Path(tmp) / "stack", models=(),
                    **dict(zip(("stack_port", "llama_port"), stack.free_ports(2))))
        stack.up(s, quiet=True)
        try:
            os.environ.update(LAB_STACK_PORT=str(s.stack_port), LAB_LLAMA_PORT=str(s.llama_port),
                              LAB_HOME=str(Path(tmp)))
            run(s, labutils.connect(s.url))
        finally:
            stack.down(s, quiet=True)


def run(s: stack.Settings, lab: labutils.Lab) -> None:
    engine = f"http://127.0.0.1:{stack.pool_engines(s)[0].port}"
    shape = lab.engine["pool"]
    print(f"{lab}: {shape['engines']} engine(s) x {shape['slots_per_engine']} slot(s), {shape['threads']} thread(s) "
          f"each, {shape['engine']}; sweep concurrency {lab.concurrency}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    print(f"grid: {GRID}")
    lab.chat(PROMPT, max_tokens=4, temperature=0)  # warm up
    idle = abba(lab, engine, s, plain=True)
    print(f"(a) idle: single stream on one engine {idle['bare']:.1f} tokens/s, Lab.sweep through Llama Stack "
          f"{idle['sweep']:.1f} tokens/s")
    print(f"    ratio sweep / single stream: {idle['sweep'] / idle['bare']:.2f}  (goal >= 2.0 on 2 idle cores); "
          f"identical texts {idle['same']}/{len(GRID)}")
    print(f"    the same requests unstreamed through Llama Stack, {lab.concurrency} at once: {idle['plain']:.1f} "
          f"tokens/s, {idle['plain'] / idle['bare']:.2f}x the single stream, identical texts "
          f"{idle['same_plain']}/{len(GRID)}: the ratio with no per-token work beside the engines")
    cpu = idle["cpu"]
    beside = cpu["llama-stack"] + cpu["balancer"] + cpu["client"]
    print(f"    CPU seconds per 1,000 streamed tokens of the sweep: engines {cpu['engines']:.1f}, Llama Stack "
          f"{cpu['llama-stack']:.2f}, balancer {cpu['balancer']:.2f}, this client {cpu['client']:.2f}: the parts "
          f"beside the engines take {beside / (beside + cpu['engines']):.0%} of the CPU the sweep uses")
    engines_only, with_beside = idle["ceiling"]
    print(f"    the most any sweep could reach on {os.cpu_count()} cores: {engines_only:.2f}x the single stream if the "
          f"engines had every core to themselves, {with_beside:.2f}x with the parts beside them costing what "
          f"they did; the sweep reached {idle['sweep'] / idle['bare'] / with_beside:.0%} of that")
    busy = with_hog(lambda: abba(lab, engine, s))
    print(f"(b) beside a CPU hog: single stream {busy['bare']:.1f} tokens/s, sweep {busy['sweep']:.1f} tokens/s; "
          f"identical texts {busy['same']}/{len(GRID)}")
    print(f"    sweep beside the hog / sweep idle: {busy['sweep'] / idle['sweep']:.2f}  (goal >= 0.5); "
          f"sweep / single stream beside the hog: {busy['sweep'] / busy['bare']:.2f}  (goal >= 1.2)")
    got = streams(lab, s)
    one = sum(got["alone"]) / len(got["alone"])
    each = [sum(got[side]) / len(got[side]) for side in ("a", "b")]
    print(f"(c) one stream alone {spread(got['alone'])} tokens/s (mean, lowest-highest of {len(got['alone'])}); "
          f"two at once (A/B panel, {len(got['a'])} pairs) A {spread(got['a'])} and B {spread(got['b'])} "
          f"tokens/s: {each[0] / one:.2f} and {each[1] / one:.2f} of one alone  (goal >= 0.9 each)")
    # an engine alone keeps one core busy (1 / `one` CPU-s a token, at most) while the parts beside it use the
    # other; two streams share the cores with those parts: 2 x rate x (1 / one + beside) <= cores
    most = min(1.0, (os.cpu_count() or 1) / 2 / (1 + got["beside"] / 1000 * one))
    print(f"    beside the two engines, Llama Stack, the balancer and this client used {got['beside']:.2f} CPU "
          f"seconds per 1,000 streamed tokens, on the same cores: with them costing that, each of two streams "
          f"could get at most about {most:.2f} of one alone")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LAB_CACHE_DIR"] = tmp
        _, first, _ = swept(lab)
        _, second, runs = swept(lab)
    assert runs["cached"].all()
    print(f"(d) first run {first:.2f} s, cached re-run {second:.3f} s: speed-up {first / second:.0f}x "
          "(goal >= 50x, under 1 s)")


if __name__ == "__main__":
    main()
