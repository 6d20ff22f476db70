"""Parameter grids and sweeps: one prompt across temperature x top_p x max_tokens x samples.

`Grid` is the cartesian product, validated up front; every cell uses the same list of seeds (a
paired design), so differences between cells come from the parameters, not from luck. `sweep` runs
the grid through a bounded thread pool with retries and the response cache, and returns `runs`, a
tidy DataFrame with one row per call. Taught in notebooks/05_parameter_grid.ipynb.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import cache as cache_mod
from .errors import LabError, ParameterError, RequestFailed, TooManyCalls
from .params import check, check_all

if TYPE_CHECKING:
    from .client import Lab

AXES = ("temperature", "top_p", "max_tokens")
COLUMNS = ["temperature", "top_p", "max_tokens", "sample", "seed", "text", "finish_reason", "prompt_tokens",
           "completion_tokens", "latency_s", "tokens_per_s", "cached", "error"]
DEFAULT_MAX_CALLS = 2000


def derive_seed(seed: int, sample: int) -> int:
    """The seed of sample `sample` in a grid seeded with `seed`: deterministic, distinct per sample."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample}".encode()).digest()[:4], "big") % (2**31 - 1)


def _values(name: str, values: Any, max_tokens_limit: int | None) -> list:
    if values is None:
        return [None]  # the server's default; not sent
    items = list(values) if isinstance(values, Iterable) and not isinstance(values, str) else [values]
    if not items:
        raise ParameterError(f"{name}=[] is not allowed: give at least one value")
    checked = [check(name, v, max_tokens_limit=max_tokens_limit) for v in items]
    dupes = sorted({v for v in checked if checked.count(v) > 1})
    if dupes:
        raise ParameterError(f"{name}={items!r} is not allowed: the value(s) {dupes} appear twice")
    return checked


@dataclass(frozen=True)
class Cell:
    """One call of a grid: the three axes, the sample index and its seed."""

    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    sample: int
    seed: int

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "seed": self.seed}


class Grid:
    """temperature x top_p x max_tokens, each cell drawn `samples` times with shared seeds.

    >>> g = Grid(temperature=[0, 1], top_p=[0.5, 1], max_tokens=[32], samples=2)
    >>> len(g)
    8

    Taught in notebooks/05_parameter_grid.ipynb.
    """

    def __init__(self, temperature: Any = None, top_p: Any = None, max_tokens: Any = None, *,
                 samples: int = 1, seed: int = 0, max_tokens_limit: int | None = None):
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ParameterError(f"samples={samples!r} is not allowed: samples must be an integer >= 1")
        self.seed = check("seed", seed)
        self.samples = samples
        self.temperature = _values("temperature", temperature, max_tokens_limit)
        self.top_p = _values("top_p", top_p, max_tokens_limit)
        self.max_tokens = _values("max_tokens", max_tokens, max_tokens_limit)
        self.seeds = [derive_seed(self.seed, i) for i in range(samples)]

    @property
    def axes(self) -> dict[str, list]:
        return {name: getattr(self, name) for name in AXES}

    def __len__(self) -> int:
        return len(self.temperature) * len(self.top_p) * len(self.max_tokens) * self.samples

    def __iter__(self) -> Iterator[Cell]:
        for t, p, m in itertools.product(self.temperature, self.top_p, self.max_tokens):
            for i, s in enumerate(self.seeds):
                yield Cell(t, p, m, i, s)

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}={v}" for k, v in self.axes.items())
        return f"Grid({axes}, samples={self.samples}, seed={self.seed}) -> {len(self)} calls"

    def check_against(self, max_tokens_limit: int | None) -> None:
        """Re-validate max_tokens against a model's context length."""
        for m in self.max_tokens:
            if m is not None:
                check("max_tokens", m, max_tokens_limit=max_tokens_limit)


def _default_concurrency(lab: Lab) -> int:
    env = os.environ.get("LAB_CONCURRENCY")
    if env:
        return max(1, int(env))
    return 1 if lab.embedded else 4  # llama-cpp-python's server answers one request at a time


def _call(lab: Lab, messages: list[dict], params: dict, retries: int, backoff: float):
    for attempt in range(retries + 1):
        try:
            return lab.send(messages, params)
        except RequestFailed as e:
            if not e.retryable or attempt == retries:
                raise
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def _row(cell: Cell, record: dict | None = None, *, cached: bool = False, error: str | None = None) -> dict:
    row = {"temperature": cell.temperature, "top_p": cell.top_p, "max_tokens": cell.max_tokens,
           "sample": cell.sample, "seed": cell.seed, "cached": cached, "error": error}
    if record:
        latency, toks = record["latency_s"], record["completion_tokens"]
        row.update({k: record[k] for k in ("text", "finish_reason", "prompt_tokens", "completion_tokens")},
                   latency_s=latency, tokens_per_s=toks / latency if toks and latency else None)
    return row


def sweep(lab: Lab, prompt_or_messages: str | list[dict], grid: Grid, *, system: str | None = None,
          stop: str | list[str] | None = None, concurrency: int | None = None, cache: bool = True,
          progress: bool = True, max_calls: int | None = None, retries: int = 3,
          backoff: float = 0.5) -> pd.DataFrame:
    """Run one prompt over every cell of `grid`; return `runs`, one row per call.

    Cached cells (seeded or temperature-0 answers already stored) are served from disk; failed calls
    are retried when the failure is transient and otherwise leave their error in the row, so a sweep
    never loses finished rows. Re-running the same sweep requests only what is missing.
    Taught in notebooks/05_parameter_grid.ipynb.
    """
    if not isinstance(grid, Grid):
        raise ParameterError(f"grid={grid!r} is not allowed: pass a labutils.Grid")
    grid.check_against(lab.context_length)
    messages, base = lab.prepare(prompt_or_messages, system=system, stop=stop)
    store = cache_mod.Cache() if cache else None
    cells = list(grid)
    plans = []  # (cell, params, key, cached record)
    for cell in cells:
        params = check_all({**cell.params(), **base}, max_tokens_limit=lab.context_length)
        k = cache_mod.key(lab.base_url, lab.model, messages, params)
        plans.append((cell, params, k, store.get(k) if store else None))
    todo = [p for p in plans if p[3] is None]
    limit = max_calls if max_calls is not None else int(os.environ.get("LAB_MAX_CALLS", DEFAULT_MAX_CALLS))
    if len(todo) > limit:
        raise TooManyCalls(f"this sweep needs {len(todo)} requests ({len(cells)} calls, {len(cells) - len(todo)} "
                           f"cached), more than max_calls={limit}. Shrink the grid or raise max_calls "
                           "(argument or LAB_MAX_CALLS).")
    rows: dict[int, dict] = {}
    for i, (cell, _params, _k, record) in enumerate(plans):
        if record is not None:
            rows[i] = _row(cell, record, cached=True)
    bar = _progress(len(cells), progress, hits=len(rows))
    errors = 0
    workers = concurrency or _default_concurrency(lab)
    if workers < 1:
        raise ParameterError(f"concurrency={concurrency!r} is not allowed: use an integer >= 1")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_call, lab, messages, params, retries, backoff): i
                   for i, (_c, params, _k, rec) in enumerate(plans) if rec is None}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                cell, params, k, _ = plans[i]
                try:
                    done = fut.result()
                except LabError as e:
                    errors += 1
                    rows[i] = _row(cell, error=str(e))
                else:
                    rows[i] = _row(cell, done.to_record())
                    if store is not None and cache_mod.cacheable(params):
                        store.put(k, done.to_record())
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(cached=len(cells) - len(todo), errors=errors, refresh=False)
        finally:
            for fut in futures:
                fut.cancel()
            if bar is not None:
                bar.close()
            if store is not None:
                store.close()
    runs = pd.DataFrame([rows[i] for i in sorted(rows)], columns=COLUMNS)
    runs["cached"] = runs["cached"].astype(bool)
    runs.attrs.update(model=lab.model, base_url=lab.base_url, messages=messages, stop=base.get("stop"))
    return runs


def _progress(total: int, enabled: bool, hits: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="sweep", unit="call", initial=hits)
    bar.set_postfix(cached=hits, errors=0, refresh=False)
    return bar
