"""Count how the lab's public entry points meet bad input (issue 24's table): inputs tried, refused cleanly before
sending, raw or unclear exceptions, refused only after requests went out, wrongly accepted.

Offline: a FakeLab (a real Lab over a scripted client, tests/conftest.py) counts requests; connect() gets a spy
client and may not start a stack. Every input below is bad by construction (wrong type, out of range, a value
the engine refuses), so an accepted one is counted as wrongly accepted.

    .venv/bin/python tools/fuzz_boundary.py          # prints the counts and every input that was not clean
"""

from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.conftest's FakeLab

import numpy as np
import pandas as pd

import labutils
from labutils import Chat, Grid, probe, summarize
from labutils.client import lab as client_mod
from labutils.errors import LabError
from labutils.lessons.ab import send_pair
from labutils.lessons.structured import validity
from labutils.params import PARAMS
from labutils.sampler import check_sampler
from labutils.views import export
from labutils.widgets import ab_panel, chat_ui, playground
from labutils.widgets.tokens import chain_view, token_view
from tests.conftest import RUNS_FIXTURE, FakeLab

RANDOM_SEED = 2**32 - 1  # llama.cpp's "random" seed
COMMON = [10**400, -10**400, 10**5000, math.nan, math.inf, -math.inf, b"\x10\x20", bytearray(b"x"), [[1]],
          {"a": 1}, object(), "0.5x", complex(1, 1), lambda t: True, np.array([1, 2]), pd.NA, ValueError("x")]


def shown(value) -> str:
    """repr cut to 50 characters, for any value (an int too long to print, too)."""
    try:
        text = repr(value)
    except ValueError:
        text = f"<an int of {value.bit_length()} bits>"
    return text if len(text) <= 50 else text[:47] + "..."


def beyond(name: str) -> list:
    """Values just outside a parameter's range, and the engine's special values."""
    p = PARAMS[name]
    step = p.step or (1 if p.kind is int else 0.01)
    out = []
    if p.low is not None:
        out.append(p.low if p.low_open else p.low - step)
    if p.high is not None:
        out.append(p.high if p.high_open else p.high + step)
    return out + {"seed": [RANDOM_SEED], "repeat_penalty": [0], "repeat_last_n": [-1], "n": [3],
                  "max_tokens": [0, 10**9]}.get(name, [])


class Spy:
    requests = 0

    def __init__(self, **kwargs):
        def listed():
            Spy.requests += 1
            return [SimpleNamespace(id="fake", custom_metadata={"model_type": "llm"})]
        self.models = SimpleNamespace(list=listed)


def cases():
    """(entry point, argument, value, call(lab, value)) for every bad input."""
    runs = export.load(RUNS_FIXTURE)
    out = []
    for name, p in PARAMS.items():
        values = COMMON + (beyond(name) if p.kind in (int, float) else ["", [], [1]])
        if p.kind in ("stop", "breakers"):
            values = [v for v in values if not isinstance(v, str)] + [""]
        if p.kind is bool:
            values = [*COMMON, 1, "yes"]
        extra = {"logprobs": True} if name == "top_logprobs" else {}
        out += [("Lab.chat", name, v, lambda lab, v, n=name, e=extra: lab.chat("hi", **{n: v}, **e)) for v in values]
        if p.axis:
            out += [("Grid", name, v, lambda lab, v, n=name: lab.sweep("hi", Grid(**{n: v}), progress=False))
                    for v in [*values[:9], b"\x10\x20"]]
    args = {
        "Grid": {"samples": [0, -1, 10**400, 10**6, 1.5, "3"], "seed": [-1, RANDOM_SEED, 1.5],
                 "scorers": [5, "x", lambda t: True, [5]], "model": [5, [], [5], ["fake", "fake"]]},
        "sweep": {"concurrency": [0, 1.5, "2", 10**400], "retries": [-1, 11, "3"], "backoff": [-1, math.nan, "1"],
                  "max_calls": [-1, "x", 10**400], "cache": ["no", 1],
                  "scorers": [5, lambda t: True, [print, 5]], "system": [5, "", b"x"], "stop": [5, "", [""], ["a"] * 5],
                  "prompt": [5, "", b"hi", [{"role": "bot", "content": "x"}], [], None]},
        "Chat": {"lab": [None, "lab"], "system": [5, ""], "memory": ["all", 5, ["full"]],
                 "max_turns": [-1, 1.5, 10**400],
                 "max_tokens_history": [0, "x"], "text": [[{"role": "user", "content": "x"}], 5, "", None]},
        "summarize": {"runs": ["x", 5, None, pd.DataFrame()], "level": [0, 1, 2, -0.5, "0.9", math.nan],
                      "values": [["nope"], "text", 5], "by": [["nope"], 5], "scores": [["nope"], 5]},
        "probe": {"lab": ["notalab", None], "samples": [1, 1000, 10**400, "5"], "prompt": [5, ""], "cache": ["no"],
                  "model": [5, [], ["nope"]]},
        "connect": {"base_url": [5, "", "ftp://x", b"http://x"], "timeout": [0, -1, math.nan, math.inf, "5", 10**400],
                    "start": ["yes"], "model": [5, ""]},
        "Lab.using": {"model": [[0], ["fake"], 5, "", "nope"]},
        "send_pair": {"a": [5, "x", [1], {"temperature": 5}], "b": [None, {"model": 5}]},
        "export.save": {"path": ["a\x00b.csv", "/", "x.xlsx", 5, b"x.csv", "/dev/null/x.csv", ""], "df": ["x", 5]},
        "export.load": {"path": ["/", "a\x00b.csv", 5, "", "x.txt"]},
        "sweep(grid)": {"max_calls": [2000, 1]},  # a grid of 20,000 calls: refused from its size
        "check_sampler": {"samples": [0, 10**400, 10**6, "5"], "first_seed": [-1, RANDOM_SEED, 10**400],
                          "top_k": [-1, 10**400]},
        "validity": {"samples": [0, 10**400, 10**6]},
        "playground": {"lab": ["lab", None], "prompt": [5, b"x"], "system": [[1]]},
        "ab_panel": {"lab": [5], "prompt": [b"x"], "system": [5]},
        "chain_view": {"lab": ["lab"], "prompt": [5]},
        "token_view": {"lab": [None], "prompt": [5], "temperature": [10**400, "x"], "bogus": [1]},
        "chat_ui": {"chat": ["chat", None], "max_tokens": [0, 10**400], "bogus": [1]},
    }
    calls = {
        "Grid": lambda n: lambda lab, v: Grid(**{n: v}),
        "sweep": lambda n: (lambda lab, v: lab.sweep(v, Grid(temperature=[0.5]), progress=False)) if n == "prompt"
        else (lambda lab, v: lab.sweep("hi", Grid(temperature=[0.5]), progress=False, **{n: v})),
        "Chat": lambda n: (lambda lab, v: Chat(lab).send(v)) if n == "text" else (
            lambda lab, v: Chat(**{"lab": lab, n: v})),
        "summarize": lambda n: lambda lab, v: summarize(**{"runs": runs, n: v}),
        "probe": lambda n: lambda lab, v: probe(**{"lab": lab, n: v}) if n != "lab" else probe(v),
        "connect": lambda n: lambda lab, v: labutils.connect(**{n: v}),
        "Lab.using": lambda n: lambda lab, v: lab.using(v),
        "send_pair": lambda n: lambda lab, v: send_pair(lab, "hi", v if n == "a" else {}, v if n == "b" else {}),
        "export.save": lambda n: lambda lab, v: export.save(v, "x.csv") if n == "df" else export.save(runs, v),
        "export.load": lambda n: lambda lab, v: export.load(v),
        "sweep(grid)": lambda n: lambda lab, v: lab.sweep("hi", Grid(temperature=[0], top_p=[0.5, 1], max_tokens=[2],
                                                                     samples=10_000), progress=False, max_calls=v),
        "check_sampler": lambda n: lambda lab, v: check_sampler(lab, "hi", **{n: v}),
        "validity": lambda n: lambda lab, v: validity(lab, "hi", samples=v),
        "playground": lambda n: _view(playground, n),
        "ab_panel": lambda n: _view(ab_panel, n),
        "chain_view": lambda n: _view(chain_view, n),
        "token_view": lambda n: _view(token_view, n),
        "chat_ui": lambda n: _view(chat_ui, n),
    }
    for entry, named in args.items():
        for n, values in named.items():
            out += [(entry, n, v, calls[entry](n)) for v in values]
    return out


def _view(make, name: str):
    """A widget's function called with `name=value` (its first argument: the lab, or a Chat for chat_ui)."""
    def call(lab, value):
        first = Chat(lab) if make is chat_ui else lab
        if name in ("lab", "chat"):
            return make(value, "Hi") if make is token_view else make(value)
        return make(first, **{**({"prompt": "Hi"} if make is token_view else {}), name: value})
    return call


def run() -> dict[str, list]:
    signal.signal(signal.SIGALRM, _too_long)
    counts: dict[str, list] = {"clean": [], "raw or unclear": [], "after sending": [], "wrongly accepted": []}
    os.environ["LLAMA_STACK_URL"] = "http://fake.invalid:9"
    client_mod.LlamaStackClient = Spy
    client_mod.stack.up = lambda *a, **k: (_ for _ in ()).throw(AssertionError("started a stack"))
    probe_mod = sys.modules["labutils.probe"]  # labutils.probe is also the function
    probe_mod._checks = lambda samples: [("x", "x", "x", lambda ctx: ctx.chat(temperature=0) and ("", "", ""))]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ["LAB_CACHE_DIR"] = tmp
        for entry, name, value, call in cases():
            lab = FakeLab()
            lab.engine = {"total_slots": 2}
            Spy.requests = 0
            label = f"{entry}({name}={shown(value)})"
            signal.alarm(5)  # unbounded work (a grid of 10**400 samples) is stopped and counted as raw
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    call(lab, value)
            except LabError as e:
                sent = len(lab.client.requests) + Spy.requests
                named = {"prompt": ("prompt", "messages"), "b": ("b=", "model=")}.get(name, (name,))
                key = "after sending" if sent else "clean" if any(n in str(e) for n in named) else "raw or unclear"
                counts[key].append(label if key == "clean" else f"{label}: {type(e).__name__}: {e}")
                continue
            except FileNotFoundError as e:
                counts["clean" if "no file" in str(e) else "raw or unclear"].append(label)
                continue
            except Exception as e:  # a raw exception: what this tool is for
                counts["raw or unclear"].append(f"{label}: {type(e).__name__}: {str(e)[:100]}")
                continue
            finally:
                signal.alarm(0)
            counts["wrongly accepted"].append(label)
    return counts


def _too_long(signum, frame):
    raise TimeoutError("still working after 5 s")


if __name__ == "__main__":
    counts = run()
    tried = sum(map(len, counts.values()))
    print(f"inputs tried: {tried}; " + "; ".join(f"{k}: {len(v)}" for k, v in counts.items()))
    for key in ("raw or unclear", "after sending", "wrongly accepted"):
        for line in counts[key]:
            print(f"  {key}: {line}")
