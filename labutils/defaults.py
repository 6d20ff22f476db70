"""What a request that sets nothing gets: the server's own defaults, read from the server itself.

A bare request (a model and messages, nothing else) is not "no sampling": the engine fills in
every parameter the request leaves out. llama.cpp's `llama-server` says which in `GET /props`
(`default_generation_settings.params`, and the order of its sampler chain). `Lab.server_defaults()`
reads it for the embedded stack; a remote distribution does not say, so its defaults are "unknown"
with the reason, never guessed. Taught in notebooks/00_setup_and_first_request.ipynb and
05_playground.ipynb.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError
from .params import PARAMS

# llama-server's names for the lab's parameters where they differ
_SERVER_NAMES = {"max_tokens": "n_predict"}


@dataclass(frozen=True)
class ServerDefaults:
    """The defaults of the connected engine: `values` (the lab's parameter names -> the server's value),
    `samplers` (the chain in the order the server applies it), or `known=False` and the `reason`."""

    known: bool
    values: dict[str, Any] = field(default_factory=dict)
    samplers: list[str] = field(default_factory=list)
    source: str = ""
    reason: str = ""

    @classmethod
    def from_props(cls, props: dict | None, base_url: str) -> ServerDefaults:
        """Build from llama-server's `/props` (None for a distribution the lab cannot ask)."""
        params = ((props or {}).get("default_generation_settings") or {}).get("params")
        if not params:
            return cls(False, reason=f"{base_url} is a remote distribution: Llama Stack does not report its "
                                     "engine's defaults, so a request that leaves a parameter out gets a value "
                                     "the lab cannot see. Set every parameter you compare explicitly.")
        values = {}
        for name, spec in PARAMS.items():
            server = params.get(_SERVER_NAMES.get(name, name))
            if server is None or spec.kind not in (int, float):
                continue
            if name == "max_tokens" and server < 0:
                server = None  # -1: until the answer ends or the context is full
            values[name] = round(server, 6) if isinstance(server, float) else server
        if params.get("seed") == 2**32 - 1:
            values["seed"] = None  # llama.cpp's "no seed": a random one per request
        return cls(True, values, list(params.get("samplers") or []),
                   source=f"llama-server {props.get('build_info', '')} GET /props")

    def __getitem__(self, name: str) -> Any:
        if not self.known:
            raise KeyError(f"{name}: the server's defaults are unknown ({self.reason})")
        return self.values[name]

    def only(self, *names: str) -> ServerDefaults:
        """The same defaults for `names` alone, without the sampler chain (lesson 00 shows three; the whole
        chain is taught in notebooks/10_sampler_chain.ipynb). An unknown name raises ParameterError."""
        unknown = [n for n in names if n not in PARAMS]
        if unknown or not names:
            raise ParameterError(f"names={names!r} is not allowed: name one or more of the lab's parameters "
                                 f"({', '.join(PARAMS)})")
        values = {n: self.values[n] for n in names if n in self.values}
        return ServerDefaults(self.known, values, [], source=self.source, reason=self.reason)

    def rows(self) -> list[dict[str, Any]]:
        """One row per parameter: name, the server's default, and what the value means."""
        def meaning(name: str, value: Any) -> str:
            if value is None:
                return {"max_tokens": "no limit: until the answer ends or the context is full",
                        "seed": "a new random seed for every request"}.get(name, "")
            return PARAMS[name].help
        return [{"parameter": k, "default": v, "meaning": meaning(k, v)} for k, v in self.values.items()]

    def __repr__(self) -> str:
        if not self.known:
            return f"ServerDefaults(unknown: {self.reason})"
        pairs = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        order = f"; sampler order: {' > '.join(self.samplers)}" if self.samplers else ""
        return f"ServerDefaults({pairs}{order})"

    def _repr_html_(self) -> str:
        if not self.known:
            return f"<p><b>Server defaults unknown</b>: {html.escape(self.reason)}</p>"
        body = "".join(f"<tr><td><code>{r['parameter']}</code></td><td>{html.escape(repr(r['default']))}</td>"
                       f"<td>{html.escape(r['meaning'])}</td></tr>" for r in self.rows())
        order = (f"; sampler order: <code>{html.escape(' → '.join(self.samplers))}</code>" if self.samplers
                 else "")
        return (f"<p>What a request that sets nothing gets ({html.escape(self.source)}){order}</p>"
                f"<table><tr><th>parameter</th><th>default</th><th>meaning</th></tr>{body}</table>")


__all__ = ["ServerDefaults"]
