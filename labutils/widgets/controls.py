"""The parameter controls of a panel, built from `labutils.params.PARAMS`.

temperature, top_p and max_tokens sliders, a seed box with "random", and under an "advanced" fold one
slider per engine sampler (top_k, min_p, repeat_penalty, ...). Every slider's range is exactly the
parameter's allowed range (an open bound moves in by one step), its tooltip is the parameter's help,
and `continuous_update=False` keeps a drag from sending anything until the value is released.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..params import PARAMS
from .base import SLIDER_STYLE

if TYPE_CHECKING:
    from ..client import Lab

MAX_TOKENS_CAP = 4096  # slider maximum when the model's context length is unknown
CORE = ("temperature", "top_p", "max_tokens")


def slider(name: str, value: Any, high: float | None = None) -> W.FloatSlider | W.IntSlider:
    """A slider for parameter `name` whose bounds are its allowed range (`high` overrides the top)."""
    p = PARAMS[name]
    low, top = p.slider_bounds(high)
    common = {"description": name, "tooltip": p.help, "continuous_update": False, "style": SLIDER_STYLE,
              "min": low, "max": top, "value": min(max(value, low), top)}
    if p.kind is int:
        return W.IntSlider(step=int(p.step or 1), **common)
    return W.FloatSlider(step=p.step or 0.01, readout_format=".2f", **common)


def advanced_names() -> list[str]:
    """The samplers shown under the "advanced" fold, in registry order."""
    return [n for n, p in PARAMS.items() if p.advanced]


class Params:
    """The parameter controls of one panel. `values()` is what the next run sends.

    The core sliders are always sent; an advanced slider is sent only when it differs from the
    engine's default (`Param.default`), so an untouched fold sends exactly what `Lab.chat` sends.
    """

    def __init__(self, lab: Lab, *, temperature: float = 0.7, top_p: float = 1.0, max_tokens: int = 64,
                 seed: int = 0):
        high = int(lab.context_length or MAX_TOKENS_CAP)
        self.temperature = slider("temperature", temperature)
        self.top_p = slider("top_p", top_p)
        self.max_tokens = slider("max_tokens", max_tokens, high)
        s = PARAMS["seed"]
        self.seed = W.BoundedIntText(value=seed, min=int(s.low), max=int(s.high), description="seed",
                                     tooltip=s.help, style=SLIDER_STYLE, layout=W.Layout(width="16em"))
        self.random_seed = W.Checkbox(value=False, description="random", indent=False,
                                      tooltip="draw a new seed for every run")
        self.random_seed.observe(lambda ch: setattr(self.seed, "disabled", ch["new"]), "value")
        self.advanced = {n: slider(n, PARAMS[n].default) for n in advanced_names()}
        self.fold = W.Accordion(children=[W.VBox(list(self.advanced.values()))], selected_index=None)
        self.fold.set_title(0, "advanced: the engine's samplers (unsent while at their default)")
        self.box = W.VBox([self.temperature, self.top_p, self.max_tokens, W.HBox([self.seed, self.random_seed]),
                           self.fold])

    def control(self, name: str) -> W.ValueWidget:
        """The control of parameter `name` (a slider, or the seed box)."""
        return getattr(self, name) if name in (*CORE, "seed") else self.advanced[name]

    def changed(self) -> dict[str, Any]:
        """The advanced samplers moved away from the engine's default, as they are sent."""
        out = {}
        for name, w in self.advanced.items():
            value = PARAMS[name].kind(w.value)
            if value != PARAMS[name].default:
                out[name] = value
        return out

    def values(self) -> dict[str, Any]:
        """The parameters of the next run; with "random" on, a fresh seed is drawn and shown in the box."""
        if self.random_seed.value:
            self.seed.value = random.randint(int(PARAMS["seed"].low), 2**31 - 1)
        core = {n: PARAMS[n].kind(self.control(n).value) for n in CORE}
        return {**core, "seed": int(self.seed.value), **self.changed()}

    def state(self) -> dict[str, Any]:
        """Every control's value (advanced ones included) and the "random" box."""
        names = [*CORE, "seed", *self.advanced]
        return {**{n: self.control(n).value for n in names}, "random_seed": self.random_seed.value}

    def set(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            (self.random_seed if name == "random_seed" else self.control(name)).value = value

    def describe(self) -> str:
        v = self.state()
        seed = "random" if v["random_seed"] else v["seed"]
        extra = "".join(f" {k}={val:g}" for k, val in self.changed().items())
        return (f"temperature={v['temperature']:.2f} top_p={v['top_p']:.2f} max_tokens={v['max_tokens']} "
                f"seed={seed}{extra}")
