"""Grid expansion, seeds and validation: pure logic, no server."""

import math

import pytest

from labutils import Grid
from labutils.grid import derive_seed


def test_cartesian_product_size_and_order():
    grid = Grid(temperature=[0, 0.7, 1.4], top_p=[0.5, 1], max_tokens=[16, 64], samples=3)
    cells = list(grid)
    assert len(grid) == len(cells) == 3 * 2 * 2 * 3
    assert {(c.temperature, c.top_p, c.max_tokens) for c in cells} == {
        (t, p, m) for t in (0, 0.7, 1.4) for p in (0.5, 1) for m in (16, 64)}
    assert [c.sample for c in cells[:3]] == [0, 1, 2]


def test_paired_seeds_deterministic_and_distinct():
    grid = Grid(temperature=[0.2, 1.0], samples=4, seed=7)
    by_cell = {}
    for c in grid:
        by_cell.setdefault(c.temperature, []).append(c.seed)
    assert by_cell[0.2] == by_cell[1.0] == grid.seeds  # every cell uses the same seeds
    assert len(set(grid.seeds)) == 4  # two samples of one cell differ
    assert Grid(temperature=[1], samples=4, seed=7).seeds == grid.seeds  # reproducible
    assert Grid(temperature=[1], samples=4, seed=8).seeds != grid.seeds
    assert derive_seed(7, 0) == grid.seeds[0]


def test_zero_values_are_kept_and_scalars_accepted():
    grid = Grid(temperature=0, top_p=[0.01], max_tokens=1)
    cell = next(iter(grid))
    assert cell.params()["temperature"] == 0.0 and cell.top_p == 0.01 and cell.max_tokens == 1


def test_unset_axis_means_server_default():
    grid = Grid(temperature=[0.5])
    assert grid.top_p == [None] and grid.max_tokens == [None] and len(grid) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"temperature": [-0.1]}, "temperature=-0.1 is not allowed: temperature must be a number in [0, 2]"),
    ({"temperature": [math.nan]}, "temperature=nan"),
    ({"temperature": [3]}, "temperature=3"),
    ({"temperature": ["0.5"]}, "temperature='0.5'"),
    ({"top_p": [0]}, "top_p=0 is not allowed: top_p must be a number in (0, 1]"),
    ({"top_p": [1.01]}, "top_p=1.01"),
    ({"max_tokens": [0]}, "max_tokens=0"),
    ({"max_tokens": [10.5]}, "max_tokens=10.5"),
    ({"max_tokens": [5000], "max_tokens_limit": 2048}, "context holds 2048"),
    ({"temperature": []}, "temperature=[] is not allowed"),
    ({"top_p": [0.5, 0.5]}, "appear twice"),
    ({"samples": 0}, "samples=0"),
    ({"samples": 1.5}, "samples=1.5"),
    ({"seed": -3}, "seed=-3"),
])
def test_bad_values_raise_before_anything(kwargs, message):
    with pytest.raises(ValueError) as err:
        Grid(**kwargs)
    assert message in str(err.value)


def test_repr_mentions_calls():
    assert "-> 4 calls" in repr(Grid(temperature=[0, 1], samples=2))
