"""Generation parameters: their names, allowed ranges and validation, defined once.

Everything that accepts a parameter (Lab.chat, Grid, Chat, the widgets' sliders, the probe) reads
the ranges from here, so a bad value gets the same message everywhere, before any request is sent.
Taught in notebooks/02_temperature.ipynb, 03_top_p.ipynb and 04_max_tokens_and_stop.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError

ROLES = ("system", "user", "assistant")
DEFAULT_MAX_TOKENS_LIMIT = 1_000_000  # when the model's context length is unknown


@dataclass(frozen=True)
class Spec:
    """One parameter: its type and range. `low_open` excludes the lower bound."""

    name: str
    kind: type
    low: float
    high: float | None
    low_open: bool = False
    help: str = ""

    def allowed(self, high: float | None = None) -> str:
        high = self.high if high is None else high
        kind = "a number" if self.kind is float else "an integer"
        left = "(" if self.low_open else "["
        right = f"{high:g}]" if high is not None else "inf)"
        return f"{kind} in {left}{self.low:g}, {right}"


SPECS: dict[str, Spec] = {
    "temperature": Spec("temperature", float, 0.0, 2.0, help="0 = greedy, higher = more random"),
    "top_p": Spec("top_p", float, 0.0, 1.0, low_open=True,
                  help="nucleus: sample from the smallest set of tokens holding this much probability"),
    "max_tokens": Spec("max_tokens", int, 1, None, help="the most tokens the answer may have"),
    "seed": Spec("seed", int, 0, 2**32 - 1, help="same seed + same params = same answer"),
    "top_logprobs": Spec("top_logprobs", int, 0, 20, help="alternatives returned per token"),
}
SAMPLING = ("temperature", "top_p", "max_tokens", "seed", "stop", "logprobs", "top_logprobs")


def check(name: str, value: Any, *, max_tokens_limit: int | None = None) -> Any:
    """Validate one parameter value and return it normalised (int or float).

    Raises ParameterError (a ValueError) naming the parameter, the value and what is allowed.

    >>> check("temperature", 0)
    0.0
    """
    if name == "stop":
        return _check_stop(value)
    if name == "logprobs":
        if not isinstance(value, bool):
            raise ParameterError(f"logprobs={value!r} is not allowed: use True or False")
        return value
    spec = SPECS.get(name)
    if spec is None:
        raise ParameterError(f"unknown parameter {name!r}: the lab knows {', '.join(SAMPLING)}")
    high = spec.high
    if name == "max_tokens":
        high = max_tokens_limit or DEFAULT_MAX_TOKENS_LIMIT
    bad = ParameterError(f"{name}={value!r} is not allowed: {name} must be {spec.allowed(high)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    if spec.kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise bad
        value = int(value)
    else:
        value = float(value)
    if math.isnan(value) or value < spec.low or (spec.low_open and value == spec.low):
        raise bad
    if high is not None and value > high:
        if name == "max_tokens":
            raise ParameterError(f"max_tokens={value!r} is not allowed: the model's context holds "
                                 f"{high} tokens, so max_tokens must be {spec.allowed(high)}")
        raise bad
    return value


def _check_stop(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or len(items) > 4 or not all(
        isinstance(s, str) and s for s in items
    ):
        raise ParameterError(f"stop={value!r} is not allowed: stop must be a non-empty string "
                             "or a list of 1 to 4 non-empty strings")
    return list(items)


def check_all(params: dict[str, Any], *, max_tokens_limit: int | None = None) -> dict[str, Any]:
    """Validate every parameter that is not None; return the ones to send, in a fixed order.

    Zero is a real value: temperature=0 is sent, never dropped as "unset".
    """
    out = {k: check(k, v, max_tokens_limit=max_tokens_limit) for k, v in params.items() if v is not None}
    if "top_logprobs" in out and not out.get("logprobs"):
        raise ParameterError(f"top_logprobs={out['top_logprobs']} needs logprobs=True")
    return {k: out[k] for k in SAMPLING if k in out}


def messages_from(prompt_or_messages: str | list[dict], system: str | None = None) -> list[dict]:
    """Turn a prompt string or a message list into validated role/content messages.

    A string becomes one user message; `system` prepends a system message.
    Taught in notebooks/01_messages_and_roles.ipynb.
    """
    if isinstance(prompt_or_messages, str):
        if not prompt_or_messages.strip():
            raise ParameterError(f"prompt={prompt_or_messages!r} is not allowed: the prompt must be a non-empty string")
        messages = [{"role": "user", "content": prompt_or_messages}]
    elif isinstance(prompt_or_messages, (list, tuple)) and prompt_or_messages:
        messages = [dict(m) if isinstance(m, dict) else m for m in prompt_or_messages]
    else:
        raise ParameterError(f"messages={prompt_or_messages!r} is not allowed: pass a prompt string "
                             "or a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) - {"role", "content"} or "role" not in m:
            raise ParameterError(f"messages[{i}]={m!r} is not allowed: each message is a dict with "
                                 "keys 'role' and 'content'")
        if m["role"] not in ROLES:
            raise ParameterError(f"messages[{i}]['role']={m['role']!r} is not allowed: "
                                 f"role must be one of {', '.join(ROLES)}")
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            raise ParameterError(f"messages[{i}]['content']={m.get('content')!r} is not allowed: "
                                 "content must be a non-empty string")
    if system is not None:
        if not isinstance(system, str) or not system.strip():
            raise ParameterError(f"system={system!r} is not allowed: use a non-empty string or None")
        messages = [{"role": "system", "content": system}, *messages]
    return messages
