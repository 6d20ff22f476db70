"""Lab.sweep against the real stack: rows, reproducibility, cache, limits and faults."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

import labutils
from labutils import Grid, stack
from labutils.client.cache import Cache
from labutils.errors import TooManyCalls
from labutils.grid import COLUMNS

from .helpers import counting_lab

pytestmark = pytest.mark.integration
PROMPT = "Name an animal and say one thing about it."
GRID = {"temperature": [0, 1.2], "top_p": [0.5, 1], "max_tokens": [6, 12], "samples": 2}


def test_grid_rows_and_cached_rerun_makes_no_request(lab, tmp_cache):
    counted, sent = counting_lab(lab)
    runs = counted.sweep(PROMPT, Grid(**GRID), progress=False)
    assert len(runs) == 16 and list(runs.columns) == COLUMNS
    assert runs["error"].isna().all() and not runs["cached"].any()
    assert (runs["completion_tokens"] <= runs["max_tokens"]).all()
    assert len(sent) == 16
    sent.clear()
    again = counted.sweep(PROMPT, Grid(**GRID), progress=False)
    assert sent == [], "a cached re-run sends no request"
    assert again["cached"].all() and again["text"].tolist() == runs["text"].tolist()


def test_uncached_runs_are_reproducible(lab):
    grid = Grid(temperature=[0.8, 1.5], max_tokens=[12], samples=2, seed=3)
    a = lab.sweep(PROMPT, grid, cache=False, progress=False)
    b = lab.sweep(PROMPT, grid, cache=False, progress=False)
    assert a["text"].tolist() == b["text"].tolist()
    assert not a["cached"].any() and not b["cached"].any()


def test_temperature_zero_gives_one_output_per_cell(lab, tmp_cache):
    runs = lab.sweep(PROMPT, Grid(temperature=[0], top_p=[0.5, 1], max_tokens=[10], samples=3), progress=False)
    assert (runs.groupby(["top_p"])["text"].nunique() == 1).all()
    summary = labutils.summarize(runs)
    assert (summary["unique_frac"] == 1 / 3).all()


def test_max_calls_refuses_with_the_count(lab, tmp_cache):
    counted, sent = counting_lab(lab)
    with pytest.raises(TooManyCalls, match=r"has 16 calls, more than max_calls=10 \(the cap counts every call"):
        counted.sweep(PROMPT, Grid(**GRID), max_calls=10, progress=False)
    assert sent == []


def test_bad_max_tokens_for_the_context_fails_before_sending(lab, tmp_cache):
    counted, sent = counting_lab(lab)
    with pytest.raises(ValueError, match=r"max_tokens=100000 .* context holds"):
        counted.sweep(PROMPT, Grid(max_tokens=[100000]), progress=False)
    assert sent == []


def _cell_of(request) -> tuple[float, int]:
    """The grid cell a chat request asks for: (temperature, seed)."""
    body = json.loads(request.content)
    return body["temperature"], body["seed"]


def test_server_dying_mid_sweep_loses_nothing_and_rerun_fills_gaps(embedded_private, tmp_cache):
    """On the stack as a learner's lab sees its own (embedded): a dead model server ends the sweep at once."""
    private = embedded_private
    lab = labutils.connect(private.url)
    grid = Grid(temperature=[0.5, 1.0], top_p=[1], max_tokens=[24], samples=4)
    llama = stack.servers(private)[0]

    def kill_after_a_few_rows():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if tmp_cache.exists() and len(Cache(tmp_cache)) >= 3:
                os.killpg(llama.pid(), signal.SIGKILL)  # a crash: queued requests get no graceful end
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_a_few_rows)
    killer.start()
    runs = lab.sweep(PROMPT, grid, progress=False, retries=1, backoff=0.1)
    killer.join()
    assert len(runs) == 8
    ok, failed = runs[runs["error"].isna()], runs[runs["error"].notna()]
    assert len(ok) >= 3 and len(failed) >= 1
    assert ok["text"].map(bool).all() and failed["text"].isna().all()
    assert failed["error"].str.contains(f"llama-server at {private.llama_base}", regex=False).all()

    stack.up(private, quiet=True)  # restart
    counted, sent = counting_lab(lab, record=_cell_of)
    again = counted.sweep(PROMPT, grid, progress=False)
    assert again["error"].isna().all(), f"{again['error'].dropna().tolist()}\n{stack.logs(private, 80)}"
    # only the missing rows are requested again (each cell once, unless a transient failure was retried)
    assert set(sent) == set(zip(failed["temperature"], failed["seed"]))
    assert again.loc[ok.index, "cached"].all() and not again.loc[failed.index, "cached"].any()
    assert again.loc[ok.index, "text"].tolist() == ok["text"].tolist()
