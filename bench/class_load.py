"""A class on one shared stack: N simulated learners (processes) doing a lesson mix, on loopback.

Three measurements, each bounded in time and count, against one stack (a private one on free loopback
ports, started and stopped here, unless --url names a running one):

1. fairness: K learners use the playground (streamed answers, a few seconds apart) while one learner runs a
   200-call grid, first alone (baseline), then with the grid sending `slots` requests at once (a sweep's
   default against a remote stack), then capped at 1 (`LAB_CONCURRENCY=1`, what the hub sets per
   learner). Prints the playground's time to first token in each phase and the grid's progress.
2. class: N learners doing a lesson mix (playground streams, small sweeps, chat turns) with think time
   between actions; prints p50/p95 time to first token, p95 end-to-end latency, errors, and per-learner
   throughput (completion tokens per second of waiting) with min/median as the fairness figure.
3. cache: N learners run the same seeded lesson grid, starting within a few seconds of each other: with a
   response cache each, with one class-wide cache (`LAB_CACHE_DIR` shared), and with the class-wide cache
   warmed by one run before class; prints the requests that reached the server in each case.

    .venv/bin/python bench/class_load.py [--learners 30] [--seconds 90] [--only fairness,class,cache]

Every learner process sets LLAMA_STACK_URL, LAB_SHARED=1 and LAB_CONCURRENCY like a hub's spawner does.
The private stack runs the lab's pool, as a hub does: one single-thread engine per core (`LAB_ENGINES`)
behind the balancer, `LAB_SLOTS` slots each.
Goal on 2 cores with the embedded model (issue 15): 30 learners, p95 first token <= 5 s, 0 errors, no
learner below half the median throughput.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

PROMPTS = ["Name three colours.", "Give a name for a goldfish.", "Say hello in French.",
           "What is a cloud?", "Suggest a name for a cat.", "List two fruits.", "What is rain?",
           "Describe the sea in one sentence."]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


# --- one learner (a process) ---------------------------------------------------------------------

def learner(n: int, plan: dict, barrier, out) -> None:
    """Run `plan` as learner `n` and put its records (one dict per request) on `out`."""
    os.environ.update({"LLAMA_STACK_URL": plan["url"], "LAB_SHARED": "1", "LAB_CONTEXT_LENGTH": "2048",
                       "LAB_CONCURRENCY": str(plan.get("cap", 1)), "LAB_CACHE_DIR": plan["cache_dir"]})
    import labutils  # after the environment is set, as on a hub

    rng = random.Random(n)
    records: list[dict] = []
    try:
        lab = labutils.connect()
    except Exception as e:
        out.put((n, [{"kind": "connect", "ok": False, "error": repr(e)}]))
        barrier.wait(300)
        return
    barrier.wait(300)  # every learner starts together, after all of them imported the lab
    t_end = time.monotonic() + plan["seconds"]
    time.sleep(rng.uniform(0, plan.get("stagger", 0)))
    role = plan["role"]
    if role == "grid":
        records += _grid(lab, plan, t_end)
    elif role == "lesson-grid":
        records += _lesson_grid(lab)
    else:
        while time.monotonic() < t_end:
            kind = "playground" if role == "playground" else rng.choices(
                ["playground", "chat", "sweep"], weights=[0.5, 0.3, 0.2])[0]
            records += _ACTIONS[kind](lab, rng)
            time.sleep(rng.uniform(*plan["think"]))
    out.put((n, records))


def _playground(lab, rng) -> list[dict]:
    t0 = time.perf_counter()
    first: list[float] = []

    def on_token(piece: str) -> None:
        if not first:
            first.append(time.perf_counter() - t0)

    try:
        done = lab.chat(rng.choice(PROMPTS), temperature=0.8, max_tokens=32, seed=rng.randrange(10**6),
                        on_token=on_token)
        return [{"kind": "playground", "ok": True, "ttft": first[0] if first else None, "latency": done.latency_s,
                 "tokens": done.completion_tokens or 0}]
    except Exception as e:
        return [{"kind": "playground", "ok": False, "error": repr(e), "latency": time.perf_counter() - t0}]


def _chat(lab, rng) -> list[dict]:
    messages = [{"role": "system", "content": "You are a friendly tutor."},
                {"role": "user", "content": rng.choice(PROMPTS)}, {"role": "assistant", "content": "Sure."},
                {"role": "user", "content": "Tell me more."}]
    t0 = time.perf_counter()
    try:
        done = lab.chat(messages, temperature=0.7, max_tokens=32)
        return [{"kind": "chat", "ok": True, "latency": done.latency_s, "tokens": done.completion_tokens or 0}]
    except Exception as e:
        return [{"kind": "chat", "ok": False, "error": repr(e), "latency": time.perf_counter() - t0}]


def _sweep(lab, rng) -> list[dict]:
    import labutils

    grid = labutils.Grid(temperature=[0.0, 1.0], max_tokens=[16], samples=2, seed=rng.randrange(10**6))
    return _rows(lab.sweep(rng.choice(PROMPTS), grid, progress=False), "sweep")


def _rows(runs, kind: str) -> list[dict]:
    out = []
    for row in runs.to_dict("records"):
        err = row.get("error")
        ok = not (isinstance(err, str) and err)
        out.append({"kind": kind, "ok": ok, "error": err if not ok else None, "cached": bool(row.get("cached")),
                    "latency": row.get("latency_s"), "tokens": row.get("completion_tokens") or 0})
    return out


_ACTIONS = {"playground": _playground, "chat": _chat, "sweep": _sweep}


def _grid(lab, plan, t_end) -> list[dict]:
    """The 200-call grid, as lab.sweep sends it (`cap` at once), stopped at the phase's end."""
    import labutils

    temperatures = [0.2, 0.4, 0.6, 0.8, 1.0]
    records: list[dict] = []
    start = time.perf_counter()
    # 10 sweeps of 20 calls (5 temperatures x 4 samples) = 200 calls, so the phase can end on time
    for part in range(10):
        if time.monotonic() > t_end:
            break
        grid = labutils.Grid(temperature=temperatures, max_tokens=[16], samples=4, seed=plan["seed"] + 100 * part)
        records += _rows(lab.sweep(PROMPTS[0], grid, progress=False, cache=False, concurrency=plan["cap"]), "grid")
    records.append({"kind": "grid-elapsed", "ok": True, "latency": time.perf_counter() - start})
    return records


LESSON_GRID = dict(temperature=[0.0, 1.0], top_p=[0.9, 1.0], max_tokens=[16], samples=2)


def _lesson_grid(lab) -> list[dict]:
    """Lesson 08's kind of grid, identical for every learner (same prompt, same seeds): cacheable."""
    import labutils

    t0 = time.perf_counter()
    rows = _rows(lab.sweep("Name three colours.", labutils.Grid(**LESSON_GRID), progress=False), "lesson-grid")
    rows.append({"kind": "lesson-grid-elapsed", "ok": True, "latency": time.perf_counter() - t0})
    return rows


# --- running a phase -------------------------------------------------------------------------------

def phase(plans: list[dict], timeout: float) -> dict[int, list[dict]]:
    """Start one process per plan, release them together, collect their records (bounded by timeout)."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(plans)), ctx.Queue()
    procs = [ctx.Process(target=learner, args=(n, p, barrier, out), daemon=True) for n, p in enumerate(plans)]
    for p in procs:
        p.start()
    results: dict[int, list[dict]] = {}
    deadline = time.monotonic() + timeout
    while len(results) < len(procs) and time.monotonic() < deadline:
        try:
            n, records = out.get(timeout=1)
            results[n] = records
        except Exception:
            if all(not p.is_alive() for p in procs) and out.empty():
                break
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
    return results


def _load() -> str:
    """The machine's load average, printed with each result: on a shared machine it explains the numbers."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def _ok(records, kind=None):
    return [r for r in records if r.get("ok") and (kind is None or r["kind"] == kind)]


def fairness(url: str, slots: int, others: int, seconds: float, cache_dir: str) -> None:
    print(f"\n## fairness: {others} playground learners (a streamed answer every 2-4 s each) beside one "
          f"learner's 200-call grid; {slots} slots; {seconds:.0f} s per phase")
    base = {"url": url, "seconds": seconds, "think": (2.0, 4.0), "cache_dir": cache_dir}
    for label, grid_cap in [("alone (no grid)", None), (f"grid sends {slots} at once", slots),
                            ("grid capped at 1 (LAB_CONCURRENCY=1)", 1)]:
        plans = [{**base, "role": "playground"} for _ in range(others)]
        if grid_cap:
            plans.append({**base, "role": "grid", "cap": grid_cap, "seed": 1000 * grid_cap})
        res = phase(plans, seconds + 120)
        play = [r for n in range(others) for r in res.get(n, [])]
        ttft = [r["ttft"] for r in _ok(play, "playground") if r.get("ttft") is not None]
        errors = sum(not r.get("ok") for recs in res.values() for r in recs)
        line = (f"{label:<40} playground first token p50 {_pct(ttft, 0.5):5.2f} s  p95 {_pct(ttft, 0.95):5.2f} s  "
                f"({len(ttft)} answers)  errors {errors}")
        if grid_cap:
            grid = [r for r in res.get(others, []) if r["kind"] == "grid"]
            line += f"  | grid calls done {len(_ok(grid))}"
        print(line + f"  [{_load()}]", flush=True)


def class_mix(url: str, learners: int, seconds: float, think: tuple[float, float], cache_root: str) -> None:
    print(f"\n## class: {learners} learners, lesson mix (playground 50%, chat 30%, 4-call sweep 20%), "
          f"think {think[0]:.0f}-{think[1]:.0f} s between actions, {seconds:.0f} s")
    plans = [{"url": url, "seconds": seconds, "think": think, "role": "mix", "cap": 1,
              "stagger": think[1], "cache_dir": str(Path(cache_root) / f"own-{n}")} for n in range(learners)]
    res = phase(plans, seconds + 180)
    allrec = [r for recs in res.values() for r in recs]
    ttft = [r["ttft"] for r in _ok(allrec, "playground") if r.get("ttft") is not None]
    lat = [r["latency"] for r in _ok(allrec) if r.get("latency") is not None and not r.get("cached")]
    errors = [r for r in allrec if not r.get("ok")]
    rates = {}
    for n, recs in res.items():
        ok = [r for r in _ok(recs) if not r.get("cached") and r.get("latency")]
        waited = sum(r["latency"] for r in ok)
        rates[n] = sum(r["tokens"] for r in ok) / waited if waited else 0.0
    med = statistics.median(rates.values()) if rates else float("nan")
    low = min(rates.values()) if rates else float("nan")
    kinds = {k: len(_ok(allrec, k)) for k in ("playground", "chat", "sweep")}
    print(f"learners reporting       {len(res)} of {learners}")
    print(f"requests done            {len(_ok(allrec))} ({kinds}), errors {len(errors)}"
          + (f": {errors[0].get('error')!s:.160}" if errors else ""))
    print(f"time to first token      p50 {_pct(ttft, 0.5):.2f} s, p95 {_pct(ttft, 0.95):.2f} s "
          f"({len(ttft)} streamed answers)")
    print(f"end-to-end latency       p50 {_pct(lat, 0.5):.2f} s, p95 {_pct(lat, 0.95):.2f} s")
    print(f"per-learner throughput   median {med:.1f} tokens/s of waiting, min {low:.1f} "
          f"(min/median {low / med if med else float('nan'):.2f}; goal >= 0.5)")
    tokens = sum(r["tokens"] for r in _ok(allrec) if not r.get("cached"))
    print(f"class total              {tokens} completion tokens in {seconds:.0f} s = {tokens / seconds:.1f} tokens/s")
    print(f"machine                  {_load()}")


def cache(url: str, learners: int, stagger: float, cache_root: str, cases: list[str]) -> None:
    calls = len(LESSON_GRID["temperature"]) * len(LESSON_GRID["top_p"]) * LESSON_GRID["samples"]
    print(f"\n## cache: {learners} learners run the same seeded lesson grid ({calls} calls each), starting "
          f"within {stagger:.0f} s of each other")
    labels = {"own": "a cache per learner", "class": "one class-wide cache",
              "warm": "class-wide, warmed first"}
    for case in cases:
        root = Path(cache_root) / case
        plans = [{"url": url, "seconds": 0, "role": "lesson-grid", "cap": 1, "stagger": stagger,
                  "cache_dir": str(root / str(n) if case == "own" else root)} for n in range(learners)]
        warm_sent = 0
        if case == "warm":  # the instructor runs the lesson's grid once before class (e.g. by grading solved copies)
            warm = phase([{**plans[0], "stagger": 0}], 600)
            warm_sent = sum(1 for recs in warm.values() for r in recs if r["kind"] == "lesson-grid"
                            and not r.get("cached"))
        t0 = time.perf_counter()
        res = phase(plans, 900)
        wall = time.perf_counter() - t0
        rows = [r for recs in res.values() for r in recs if r["kind"] == "lesson-grid"]
        sent = sum(1 for r in rows if not r.get("cached")) + warm_sent
        errors = sum(not r.get("ok") for r in rows)
        took = [r["latency"] for recs in res.values() for r in recs if r["kind"] == "lesson-grid-elapsed"]
        print(f"{labels[case]:<26} requests to the server {sent:4d} for {len(rows)} calls"
              f"{f' ({warm_sent} to warm it)' if case == 'warm' else ''}; a learner's grid took "
              f"p50 {_pct(took, 0.5):.1f} s, p95 {_pct(took, 0.95):.1f} s; errors {errors}; wall {wall:.0f} s "
              f"[{_load()}]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=90, help="length of the class phase")
    parser.add_argument("--think", default="10,30", help="seconds a learner thinks between actions (min,max)")
    parser.add_argument("--fair-others", type=int, default=8, help="playground learners in the fairness phases")
    parser.add_argument("--fair-seconds", type=float, default=40)
    parser.add_argument("--slots", type=int, default=None, help="slots of the private stack (default LAB_SLOTS)")
    parser.add_argument("--url", default=None, help="a running shared stack (default: start a private one)")
    parser.add_argument("--only", default="fairness,class,cache")
    parser.add_argument("--cache-cases", default="own,class,warm", help="cache phases: own, class, warm")
    args = parser.parse_args()
    if not 1 <= args.learners <= 200:
        parser.error("--learners must be in [1, 200]")
    think = tuple(float(x) for x in args.think.split(","))
    from labutils import config, stack

    with tempfile.TemporaryDirectory(prefix="class-load-") as tmp:
        settings = None
        url = args.url
        if url is None:
            stack_port, llama_port = stack.free_ports(2)
            settings = stack.Settings(stack_port=stack_port, llama_port=llama_port, state=Path(tmp) / "stack",
                                      slots=args.slots or config.get("LAB_SLOTS"))
            t0 = time.perf_counter()
            stack.up(settings, quiet=True)
            url = settings.url
            shape = stack.engine_props(settings)["pool"]
            print(f"private stack on {url}: {shape['engines']} engine(s) x {settings.slots} slot(s), "
                  f"{settings.threads} thread(s) each ({shape['engine']}), started in "
                  f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} cores")
        slots = shape["slots"] if settings else (args.slots or config.get("LAB_SLOTS"))
        try:
            only = args.only.split(",")
            if "fairness" in only:
                fairness(url, slots, args.fair_others, args.fair_seconds, str(Path(tmp) / "fair-cache"))
            if "class" in only:
                class_mix(url, args.learners, args.seconds, think, str(Path(tmp) / "mix-cache"))
            if "cache" in only:
                cache(url, args.learners, 10.0, str(Path(tmp) / "cache"), args.cache_cases.split(","))
        finally:
            if settings is not None:
                stack.down(settings, quiet=True)


if __name__ == "__main__":
    main()
