"""Parameter grids and sweeps: one prompt across temperature x top_p x max_tokens (x any axis) x samples.

`model` is an axis too: `Grid(model=[lab.model, "llama-cpp2/gemma3-270m"], ...)` asks each of the
distribution's models the same cells (taught in notebooks/13_models_side_by_side.ipynb).

`Grid` is the cartesian product, validated up front; every cell uses the same list of seeds (a
paired design), so differences between cells come from the parameters, not from luck. Any parameter
that `labutils.params` marks as an axis can vary (top_k, min_p, repeat_penalty, ...). `sweep` runs the
grid through a bounded thread pool with retries, sending each call through `Lab.send` with the
response cache, and returns `runs` (see `labutils.runs`), a tidy DataFrame with one row per call.
Taught in notebooks/08_parameter_grid.ipynb.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from collections.abc import Iterable, Iterator, Mapping, Set
from numbers import Real
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import config, runs
from .client import cache as cache_mod
from .client.parallel import NotSent, Stop, refusal, run_all
from .client.request import model_ids
from .errors import Interrupted, LabError, ParameterError, RequestFailed, TooManyCalls
from .params import (
    MAX_AXIS_VALUES,
    MAX_CALLS,
    MAX_CONCURRENCY,
    MAX_SAMPLES,
    MODEL,
    axes,
    check,
    core_axes,
    integer,
    shown,
)
from .runs import Cell

if TYPE_CHECKING:
    from .client.lab import Lab

COLUMNS = runs.COLUMNS


def derive_seed(seed: int, sample: int) -> int:
    """The seed of sample `sample` in a grid seeded with `seed`: deterministic, distinct per sample."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample}".encode()).digest()[:4], "big") % (2**31 - 1)


def _values(name: str, values: Any, max_tokens_limit: int | None) -> list:
    if values is None:
        return [None]  # the server's default; not sent
    if isinstance(values, (Mapping, Set, bytes, bytearray, memoryview)):
        raise ParameterError(f"{name}={shown(values)} is not allowed: give one value or a list of values, "
                             f"e.g. {name}=[...]")
    if isinstance(values, Iterable) and not isinstance(values, str):
        try:  # a bounded read: a huge range or an endless generator is refused, not listed
            items = list(itertools.islice(values, MAX_AXIS_VALUES + 1))
        except Exception as e:
            raise ParameterError(f"{name}={shown(values)} is not allowed: its values cannot be read "
                                 f"({type(e).__name__}: {shown(e)})") from None
    else:
        items = [values]
    if len(items) > MAX_AXIS_VALUES:
        raise ParameterError(f"{name}={shown(values)} is not allowed: an axis holds at most {MAX_AXIS_VALUES} values")
    if not items:
        raise ParameterError(f"{name}=[] is not allowed: give at least one value")
    checked = [check(name, v, max_tokens_limit=max_tokens_limit) for v in items]
    dupes = [v for i, v in enumerate(checked) if v in checked[:i]]
    if dupes:
        raise ParameterError(f"{name}={shown(items)} is not allowed: the value(s) {shown(dupes)} appear twice")
    return checked


class Grid:
    """The axes' values crossed, each cell drawn `samples` times with shared seeds.

    Any axis parameter of `labutils.params` is a keyword (temperature, top_p, max_tokens, top_k, min_p,
    ...); an axis left out is the server's default. `model` (one id or a list) makes the model an axis;
    left out, the lab's own model answers every cell.

    >>> g = Grid(temperature=[0, 1], top_p=[0.5, 1], max_tokens=[32], samples=2)
    >>> len(g)
    8

    Taught in notebooks/08_parameter_grid.ipynb.
    """

    def __init__(self, *, samples: int = 1, seed: int = 0, max_tokens_limit: int | None = None,
                 scorers: Any = None, model: str | list[str] | None = None, **axis_values: Any):
        unknown = [k for k in axis_values if k not in axes()]
        if unknown:
            raise ParameterError(f"{unknown[0]}= is not a grid axis: the axes are {MODEL}, {', '.join(axes())}")
        self.samples = integer("samples", samples, low=1, high=MAX_SAMPLES)
        self.seed = check("seed", seed)
        if max_tokens_limit is not None:
            integer("max_tokens_limit", max_tokens_limit, low=1)
        given = {k for k, v in axis_values.items() if v is not None}
        self._axes = {MODEL: model_ids(MODEL, model)} if model is not None else {}
        self._axes.update({name: _values(name, axis_values.get(name), max_tokens_limit)
                           for name in axes() if name in core_axes() or name in given})
        self.seeds = [derive_seed(self.seed, i) for i in range(self.samples)]
        from .scorers import scorer_table

        scorer_table(scorers)  # a scorer without a name, or not a function, is refused now
        self.scorers = scorers  # functions of (text[, cell]) -> bool; see labutils.scorers

    def __getattr__(self, name: str) -> list:
        if name != "_axes" and (name == MODEL or name in axes()):
            return self._axes.get(name, [None])
        raise AttributeError(f"'Grid' object has no attribute {name!r}")

    @property
    def axes(self) -> dict[str, list]:
        """Axis name -> its values (the core axes always; [None] = the server's default; `model` when varied)."""
        return dict(self._axes)

    @property
    def extra_axes(self) -> list[str]:
        """The axes beyond the core ones that this grid varies (extra columns of its `runs`)."""
        return [n for n in self._axes if n not in core_axes()]

    def __len__(self) -> int:
        n = self.samples
        for values in self._axes.values():
            n *= len(values)
        return n

    def __iter__(self) -> Iterator[Cell]:
        names = list(self._axes)
        for combo in itertools.product(*self._axes.values()):
            values = dict(zip(names, combo))
            for i, s in enumerate(self.seeds):
                yield Cell(values, i, s)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self._axes.items())
        return f"Grid({shown}, samples={self.samples}, seed={self.seed}) -> {len(self)} calls"

    def check_against(self, max_tokens_limit: int | None) -> None:
        """Re-validate max_tokens against a model's context length."""
        for m in self.max_tokens:
            if m is not None:
                check("max_tokens", m, max_tokens_limit=max_tokens_limit)


_SHRINK = "Shrink the grid or raise max_calls (argument or LAB_MAX_CALLS)."


def _cell_key(lab: Lab, params: dict) -> str:
    """A request without its seed: the samples of one cell share it, and a refusal (4xx) of one is theirs."""
    return repr((lab.model, sorted((k, repr(v)) for k, v in params.items() if k != "seed")))


def _call(lab: Lab, messages: list[dict], params: dict, store: Any, retries: int, backoff: float, stop: Stop):
    """One cell's request, retried while the failure is transient; each attempt counts towards fail-fast."""
    cell = _cell_key(lab, params)
    for attempt in range(retries + 1):
        if stop.halt.is_set():
            raise NotSent
        if cell in stop.refused:  # another sample of this cell was refused: the same request is not sent again
            first = stop.refused[cell]
            raise RequestFailed(f"not sent: the same request with another seed was refused: {first}",
                                status=first.status)
        try:
            done = lab.send(messages, params, cache=store, cancel=stop.cancel)
        except RequestFailed as e:
            if refusal(e):
                stop.refused.setdefault(cell, e)
            if not e.retryable or attempt == retries or stop.halt.wait(backoff * 2**attempt):
                stop.record(e)
                raise
        except Interrupted:
            if stop.interrupted:
                raise
            raise RequestFailed(f"abandoned in flight: {stop.cause}", cause=stop.cause) from None  # a part is down
        except Exception as e:
            stop.record(e)
            raise
        else:
            stop.record(None)
            return done


def sweep(lab: Lab, prompt_or_messages: str | list[dict], grid: Grid, *, system: str | None = None,
          stop: str | list[str] | None = None, concurrency: int | None = None, cache: bool = True,
          progress: bool = True, max_calls: int | None = None, retries: int = 3,
          backoff: float = 0.5, scorers: Any = None, **fixed: Any) -> pd.DataFrame:
    """Run one prompt over every cell of `grid`; return `runs`, one row per call.

    `fixed` parameters (e.g. top_k=20) are sent with every cell. Cached cells (seeded or temperature-0
    answers already stored) are served from disk; failed calls are retried when the failure is
    transient and otherwise leave their error in the row, so a sweep never loses finished rows.
    Re-running the same sweep requests only what is missing. `scorers` (or the grid's) add one pass/fail
    column each (see `labutils.scorers`). Everything is checked before the first request: the arguments,
    the scorers, and `max_calls` (LAB_MAX_CALLS), which caps the grid's calls, cached or not, from its size
    before any cell is built or looked up (raise it to re-run a bigger cached grid). A request the server
    refuses (HTTP 4xx) is not sent again for the cell's other samples, and the same refusal in FAIL_FAST
    cells in a row stops the sweep.
    Taught in notebooks/08_parameter_grid.ipynb.
    """
    if not isinstance(grid, Grid):
        raise ParameterError(f"grid={shown(grid)} is not allowed: pass a labutils.Grid")
    from .scorers import score, scorer_table

    scorer_table(scorers if scorers is not None else grid.scorers)  # refused now, not after the sweep ran
    clash = sorted(set(fixed) & {*grid.axes, "seed"})
    if clash:
        raise ParameterError(f"{clash[0]} is set by the grid: pass it as an axis or as a fixed parameter, not both")
    labs = {m: lab.using(m) for m in grid.axes[MODEL]} if MODEL in grid.axes else {None: lab}
    for each in labs.values():  # every model is known (listed by the server) before anything is sent
        grid.check_against(each.context_length)
    retries = integer("retries", retries, high=10)
    # a cap (argument, else LAB_CONCURRENCY: a class hub's per-learner cap) holds for the whole sweep; else
    # each model's engine gets as many requests at once as it has slots
    workers = integer("concurrency", concurrency, low=1, high=MAX_CONCURRENCY, optional=True) or config.get(
        "LAB_CONCURRENCY") or sum(each.concurrency for each in labs.values())
    for name, flag in (("cache", cache), ("progress", progress)):
        if not isinstance(flag, bool):
            raise ParameterError(f"{name}={shown(flag)} is not allowed: {name} must be True or False")
    if isinstance(backoff, bool) or not isinstance(backoff, Real) or not 0 <= backoff <= 60:
        raise ParameterError(f"backoff={shown(backoff)} is not allowed: backoff must be a number of seconds in [0, 60]")
    limit = integer("max_calls", max_calls if max_calls is not None else config.get("LAB_MAX_CALLS"), high=MAX_CALLS)
    messages, base = lab.prepare(prompt_or_messages, system=system, stop=stop, **fixed)
    if len(grid) > limit:  # from the grid's size, before any cell is built or looked up: the work is bounded
        raise TooManyCalls(f"this sweep has {len(grid)} calls, more than max_calls={limit} (the cap counts every "
                           f"call, cached or not, so it is checked before any cell is built). {_SHRINK}")
    store = cache_mod.Cache() if cache else None
    plans = []  # (cell, the lab of its model, params, cached Completion or None)
    try:
        for cell in grid:
            target = labs[cell.values.get(MODEL)]
            _, params = target.prepare(messages, **cell.params(), **base)
            plans.append((cell, target, params, target.cached(messages, params, store)))
    except BaseException:
        if store is not None:
            store.close()
        raise
    todo = [p for p in plans if p[3] is None]
    rows = {i: runs.row(cell, hit) for i, (cell, _lab, _p, hit) in enumerate(plans) if hit is not None}
    bar = _progress(len(plans), progress, hits=len(rows))
    stop, errors = Stop(), 0

    def collect(i: int, done: Any, error: Exception | None) -> None:
        nonlocal errors
        if error is None:
            rows[i] = runs.row(plans[i][0], done)
        else:
            errors += 1
            rows[i] = runs.row(plans[i][0], error=str(error) if isinstance(error, LabError) else
                               f"unexpected {type(error).__name__}: {error}")
        if bar is not None:
            bar.update(1)
            bar.set_postfix(cached=len(plans) - len(todo), errors=errors, refresh=False)

    order = [i for i, plan in _interleaved(plans) if plan[3] is None]
    try:
        run_all(lambda i: _call(plans[i][1], messages, plans[i][2], store, retries, backoff, stop), order, workers,
                stop=stop, counted=False, on_tick=store.watch if store is not None else None,
                on_done=lambda k, done, error: collect(order[k], done, error))
    finally:
        if bar is not None:
            bar.close()
        if store is not None and not stop.abandoned:
            store.check()  # a last look for damage (watch() looks every few seconds while the sweep runs)
            store.close()  # a request still closing its stream after Ctrl-C may yet store its answer
    missing = [i for i in range(len(plans)) if i not in rows]
    for i in missing:
        rows[i] = runs.row(plans[i][0], error=f"not sent: {stop.cause}")
    if missing:
        answered = sum(rows[i].get("error") is None for i in rows)
        print(f"Stopped early: {stop.cause}. {answered} of {len(plans)} calls have an answer, {len(missing)} were "
              "not sent. Run the same sweep again to request only the missing ones.", file=sys.stderr)
    models = [each.model for each in labs.values()]
    out = runs.frame([rows[i] for i in sorted(rows)], grid.extra_axes, base_url=lab.base_url, messages=messages,
                     stop=base.get("stop"), model=models if MODEL in grid.axes else lab.model)
    return score(out, scorers if scorers is not None else grid.scorers)


def _interleaved(plans: list) -> list:
    """`(index, plan)` in the order to send: the models' cells taken in turn, so every model's engine
    works from the start of a sweep over several models (each has its own slots)."""
    by_model: dict[Any, list] = {}
    for i, plan in enumerate(plans):
        by_model.setdefault(plan[0].values.get(MODEL), []).append((i, plan))
    queues = list(by_model.values())
    return [q[k] for k in range(max(map(len, queues), default=0)) for q in queues if k < len(q)]


def _progress(total: int, enabled: bool, hits: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="sweep", unit="call", initial=hits)
    bar.set_postfix(cached=hits, errors=0, refresh=False)
    return bar
