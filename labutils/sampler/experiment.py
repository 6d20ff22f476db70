"""The sampler experiment in one call: a `Grid` of live first tokens over one sampler, swept, scored and read.

Lesson 10 writes the experiment out in full once (a `Grid` over the sampler with the other samplers held, the
sweep, `observe`, the reading); `sampler_experiment` is those lines, so lessons 10 and 11 run every other
sampler with one call. Taught in notebooks/10_sampler_chain.ipynb; with `tests=True` (each cell tested against
its prediction) in notebooks/11_predicting_the_sampler.ipynb.
"""

from __future__ import annotations

from ..grid import Grid
from ..metrics import summarize
from .grid import SamplerGrid


def sampler_experiment(lab, prompt, sampler_grid: SamplerGrid, samples: int, seed: int = 0, *,
                       tests: bool = False) -> SamplerGrid:
    """Sweep `samples` seeded one-token answers per value of `sampler_grid` (the other samplers held, sample i
    with the same seed in every cell), add them to it (`observe`), draw the predicted-vs-observed reading
    (`sampler_grid.plot()`) and print what the run allows one to say (`sentence`). With `tests=True` also the
    strictest cell tested against its prediction (bar chart and report: TV distance, chi-square) and the table
    of every cell. Returns the observed `sampler_grid`. Bad `samples`/`seed` raise before any request."""
    grid = Grid(**{sampler_grid.varied: sampler_grid.values}, **sampler_grid.held(), samples=samples, seed=seed,
                scorers=[sampler_grid.scorer])
    print(grid)
    runs = lab.sweep(prompt, grid)
    sampler_grid.observe(runs, summarize(runs))
    if tests:
        from IPython.display import display

        check = sampler_grid.check()
        check.plot()
        print(check.report())
        display(sampler_grid.table())
    sampler_grid.plot()
    print(sampler_grid.sentence(tests=tests))
    return sampler_grid


__all__ = ["sampler_experiment"]
