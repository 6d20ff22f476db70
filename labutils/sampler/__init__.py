"""The sampler, predicted then measured: llama-server's chain applied to the top candidates of one
request, stage by stage, and tested against live first tokens.

    from labutils import sampler
    chain = sampler.predict(lab, prompt, temperature=0.8)          # the chain computed stage by stage
    fig = sampler.chain_stages(chain)
    grid = sampler.SamplerGrid(chain, "top_k", [1, 5, 40], 0.8)    # one sampler's values, predicted

`distribution` (the next-token distribution and the textbook formulas of lessons 02-03, also reachable as
`labutils.sampling`), `chain` (the stages in the engine's order, DRY's scanner), `prediction` (`predict`: the chain from
the server's candidates), `check` (the live check of one setting), `grid` (one sampler's values, lesson 10's
experiment), `gof` (goodness of fit), `tokens` (an answer token by token), `plots` (their figures;
matplotlib loads when one is drawn). Every sampler fact (off value, default) is read from
`labutils.params.PARAMS`. This wing imports the foundation, the data path (`intervals`) and the client.
Taught in notebooks/10_sampler_chain.ipynb.
"""

from .check import SamplerCheck, check_sampler
from .distribution import next_token_distribution, show_token
from .experiment import sampler_experiment
from .gof import power, tv_distance
from .grid import SamplerGrid
from .plots import chain_stages, grid_reading, predicted_vs_observed
from .prediction import predict, prompt_tokens, prompt_window, server_view
from .tokens import TokenView, answer_tokens, continue_from

__all__ = ["SamplerCheck", "SamplerGrid", "TokenView", "answer_tokens", "chain_stages", "check_sampler",
           "continue_from", "grid_reading", "next_token_distribution", "power", "predict", "predicted_vs_observed",
           "prompt_tokens", "prompt_window", "sampler_experiment", "server_view", "show_token", "tv_distance"]
