"""The parameter controls of a panel, built from `labutils.params.PARAMS`.

temperature, top_p and max_tokens sliders, a seed box with "random", and under an "advanced" fold one
slider per engine sampler (top_k, min_p, repeat_penalty, ...). Every slider's range is exactly the
parameter's allowed range (an open bound moves in by one step), its tooltip is the parameter's help,
and `continuous_update=False` keeps a drag from sending anything until the value is released.

max_tokens runs from 1 to the model's context length (thousands of tokens), which a linear slider packs
into a few pixels per hundred tokens. `TokensSlider` is logarithmic instead: four positions per doubling
(1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 16, ... 2048), so a hand can drag it, while its readout takes any
exact whole number typed in (and `.value = 300` sets one from code).
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import ipywidgets as W
from traitlets import validate

from ..params import PARAMS
from .base import SLIDER_STYLE

if TYPE_CHECKING:
    from ..client.lab import Lab

MAX_TOKENS_CAP = 4096  # slider maximum when the model's context length is unknown
CORE = ("temperature", "top_p", "max_tokens")
TOKENS_STEP = 0.25  # the max_tokens slider's step in log2 units: four positions per doubling


def slider(name: str, value: Any, high: float | None = None) -> W.FloatSlider | W.IntSlider:
    """A slider for parameter `name` whose bounds are its allowed range (`high` overrides the top)."""
    p = PARAMS[name]
    low, top = p.slider_bounds(high)
    common = {"description": name, "tooltip": p.help, "continuous_update": False, "style": SLIDER_STYLE,
              "min": low, "max": top, "value": min(max(value, low), top)}
    if p.kind is int:
        return W.IntSlider(step=int(p.step or 1), **common)
    return W.FloatSlider(step=p.step or 0.01, readout_format=".2f", **common)


class TokensSlider(W.FloatLogSlider):
    """A whole-number slider on a log2 scale from `low` to `high` (both allowed values).

    The handle moves over log2(value) in steps of `TOKENS_STEP`; `value` is always a whole number in
    [low, high]: a dragged position is rounded, a typed or assigned value is clamped to the range and
    rounded, so the slider cannot hold a value `labutils.params.check` refuses. The readout shows the
    value itself and is editable (type 300, press Enter).
    """

    def __init__(self, low: int, high: int, value: int, **kwargs: Any):
        super().__init__(base=2.0, step=TOKENS_STEP, readout_format="d", **kwargs)
        self.low, self.high = int(low), int(high)
        top = math.log2(self.high)
        while 2.0**top < self.high:  # so the top position is the context length itself, not a hair below it
            top = math.nextafter(top, math.inf)
        self.max, self.min = top, math.log2(self.low)
        self.value = value

    @validate("value")
    def _validate_value(self, proposal: dict) -> float:
        return float(min(max(round(proposal["value"]), self.low), self.high))


def tokens_slider(value: int, high: int) -> TokensSlider:
    """The max_tokens slider: 1 to `high` on a log scale (see `TokensSlider`)."""
    p = PARAMS["max_tokens"]
    low, top = p.slider_bounds(high)
    # wider than the other sliders: 4 positions per doubling, ~44 in all, a few pixels apart on a default track
    return TokensSlider(int(low), int(top), value, description="max_tokens", tooltip=p.help,
                        continuous_update=False, style=SLIDER_STYLE, layout=W.Layout(width="100%", max_width="36em"))


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
        self.max_tokens = tokens_slider(max_tokens, high)
        s = PARAMS["seed"]
        self.seed = W.BoundedIntText(value=seed, min=int(s.low), max=int(s.high), description="seed",
                                     tooltip=s.help, style=SLIDER_STYLE, layout=W.Layout(width="16em"))
        self.random_seed = W.Checkbox(value=False, description="random", indent=False,
                                      tooltip="draw a new seed for every run")
        self.random_seed.observe(lambda ch: setattr(self.seed, "disabled", ch["new"]), "value")
        self.advanced = {n: slider(n, PARAMS[n].default) for n in advanced_names()}
        self.fold_box = W.VBox(list(self.advanced.values()))
        self.fold = W.Accordion(children=[self.fold_box], selected_index=None)
        self.fold.set_title(0, "advanced: the engine's samplers (unsent while at their default)")
        self.box = W.VBox([self.temperature, self.top_p, self.max_tokens, W.HBox([self.seed, self.random_seed]),
                           self.fold])

    def control(self, name: str) -> W.ValueWidget:
        """The control of parameter `name` (a slider, or the seed box)."""
        return getattr(self, name) if name in (*CORE, "seed") else self.advanced[name]

    def add_to_fold(self, *widgets: W.Widget) -> None:
        """Show `widgets` under the advanced fold, after the samplers' sliders (the playground's chain view)."""
        self.fold_box.children = (*self.fold_box.children, *widgets)

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
        return self.settings()

    def settings(self) -> dict[str, Any]:
        """What `values()` would send, without drawing a seed: the core sliders, the seed box and the
        advanced samplers moved away from their default."""
        core = {n: PARAMS[n].kind(self.control(n).value) for n in CORE}
        return {**core, "seed": int(self.seed.value), **self.changed()}

    def state(self) -> dict[str, Any]:
        """Every control's value (advanced ones included) and the "random" box."""
        names = [*CORE, "seed", *self.advanced]
        values = {n: self.control(n).value for n in names}
        values["max_tokens"] = int(values["max_tokens"])
        return {**values, "random_seed": self.random_seed.value}

    def set(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            (self.random_seed if name == "random_seed" else self.control(name)).value = value

    def describe(self) -> str:
        v = self.state()
        seed = "random" if v["random_seed"] else v["seed"]
        extra = "".join(f" {k}={val:g}" for k, val in self.changed().items())
        return (f"temperature={v['temperature']:.2f} top_p={v['top_p']:.2f} max_tokens={v['max_tokens']} "
                f"seed={seed}{extra}")
