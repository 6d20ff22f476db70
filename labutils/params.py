"""Generation parameters: every one declared once, with its type, range, label, unit and help.

`PARAMS` is the one registry. Everything that accepts or shows a parameter reads it from here:
`Lab.chat`'s keywords, `Grid`'s axes (any entry with `axis=True`), the widgets' slider bounds, the
plots' axis labels, the cache key (every validated value is part of it) and the probe. A bad value gets
the same message everywhere, before any request is sent. Adding a sampler is one `Param` entry below.
`extra=True` marks a field the OpenAI schema lacks: it is sent in `extra_body`, which Llama Stack
forwards to the engine (llama.cpp's llama-server; see its tools/server/README.md for the semantics).
Taught in notebooks/02_temperature.ipynb, 03_top_p.ipynb and 04_max_tokens_and_stop.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from .errors import ParameterError

ROLES = ("system", "user", "assistant")
DEFAULT_MAX_TOKENS_LIMIT = 1_000_000  # when the model's context length is unknown
# Upper bounds of the lab's counts, so no argument can ask for unbounded work before the call cap is checked
MAX_SAMPLES = 10_000  # samples per Grid cell
MAX_AXIS_VALUES = 1_000  # values on one Grid axis
MAX_PROBE_SAMPLES = 50  # probe seeds (each adds ~6 requests)
MAX_CONCURRENCY = 256  # requests a sweep may send at once
MAX_CALLS = 1_000_000  # the highest call cap (max_calls, LAB_MAX_CALLS) a sweep accepts
RANDOM_SEED = 2**32 - 1  # llama.cpp's LLAMA_DEFAULT_SEED: the engine draws a random seed, so it is refused


def shown(value: Any, width: int = 80) -> str:
    """`repr(value)` cut to `width` characters, safe for any value (an int too long to print, a failing repr)."""
    try:
        text = repr(value)
    except Exception:  # e.g. ValueError: an int of more than 4300 digits; a broken __repr__
        text = (f"<an integer of {value.bit_length()} bits>" if isinstance(value, int)
                else f"<a {type(value).__name__}>")
    return text if len(text) <= width else text[:width - 3] + "..."


def _num(x: float) -> str:
    """A bound as written in a message: whole numbers in full (4294967294, not 4.29497e+09)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e18 else f"{x:g}"


@dataclass(frozen=True)
class Param:
    """One parameter. `kind` is float, int, bool, "stop", "json" or "breakers"; `low_open`/`high_open` exclude a bound.

    `axis`: a Grid may vary it; `core`: always a column of `runs` (None = the server's default);
    `extra`: sent via `extra_body`, not as an OpenAI field; `default`: the engine's own default
    (llama.cpp), which the playground leaves unsent; `step`: the slider step; `short`: a tick label.
    """

    name: str
    kind: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    label: str = ""
    unit: str = "unitless"
    help: str = ""
    axis: bool = False
    core: bool = False
    extra: bool = False
    default: Any = None
    step: float | None = None
    short: str = ""
    advanced: bool = False

    def allowed(self, high: float | None = None) -> str:
        """The allowed values in words, e.g. 'a number in (0, 1]'."""
        high = self.high if high is None else high
        kind = "a number" if self.kind is float else "an integer"
        if self.low is None:
            return kind
        left = "(" if self.low_open else "["
        right = (f"{_num(high)})" if self.high_open else f"{_num(high)}]") if high is not None else "inf)"
        return f"{kind} in {left}{_num(self.low)}, {right}"

    @property
    def axis_label(self) -> str:
        """The plot label with its unit, e.g. 'top_p (probability mass)'."""
        return f"{self.name} ({self.unit})"

    def slider_bounds(self, high: float | None = None) -> tuple[float, float]:
        """(min, max) of a slider holding exactly the allowed values: an open bound moves in by one step."""
        step = self.step or (1 if self.kind is int else 0.01)
        low = self.low + step if self.low_open else self.low
        top = self.high if high is None else high
        return low, (top - step if self.high_open else top)


def _p(name: str, kind: Any, low: float | None = None, high: float | None = None, **kw: Any) -> Param:
    return Param(name, kind, low, high, **kw)


_ENTRIES = [
    _p("temperature", float, 0.0, 2.0, axis=True, core=True, step=0.05, short="T", default=0.8,
       label="temperature", help="0 = greedy, higher = more random"),
    _p("top_p", float, 0.0, 1.0, low_open=True, axis=True, core=True, step=0.05, short="p", default=0.95,
       unit="probability mass", help="nucleus: sample from the smallest set of tokens holding this much probability"),
    _p("max_tokens", int, 1, None, axis=True, core=True, short="max", unit="tokens",
       help="the most tokens the answer may have"),
    _p("seed", int, 0, RANDOM_SEED - 1, help="same seed + same params = same answer (2**32-1 is llama.cpp's "
       "'random seed', so the lab stops one below it)"),
    _p("stop", "stop", help="up to 4 strings; the answer ends just before the first one"),
    _p("logprobs", bool, help="return the log-probability of every token"),
    _p("top_logprobs", int, 0, 20, help="alternatives returned per token (needs logprobs=True)"),
    _p("n", int, 1, 8, help="answers per request, at most the engine's parallel slots (the lab draws samples as "
       "seeded requests instead)"),
    # llama.cpp's sampler chain (tools/server/README.md); presence/frequency_penalty are OpenAI fields
    _p("presence_penalty", float, -2.0, 2.0, axis=True, advanced=True, step=0.1, default=0.0,
       help="penalise tokens that appeared at all (0 = off)"),
    _p("frequency_penalty", float, -2.0, 2.0, axis=True, advanced=True, step=0.1, default=0.0,
       help="penalise tokens by how often they appeared (0 = off)"),
    _p("top_k", int, 0, 200, axis=True, advanced=True, extra=True, default=40, unit="tokens",
       help="sample from the k most likely tokens only (0 = off)"),
    _p("min_p", float, 0.0, 1.0, axis=True, advanced=True, extra=True, default=0.05, unit="share of the top token",
       help="drop tokens less likely than min_p x the most likely one (0 = off)"),
    _p("typical_p", float, 0.0, 1.0, low_open=True, axis=True, advanced=True, extra=True, default=1.0,
       unit="probability mass", help="locally typical sampling (1 = off)"),
    _p("repeat_penalty", float, 0.05, 2.0, axis=True, advanced=True, extra=True, step=0.05, default=1.0,
       help="divide the logits of recently seen tokens by this (1 = off; llama.cpp refuses 0)"),
    _p("repeat_last_n", int, 0, 4096, axis=True, advanced=True, extra=True, default=64, unit="tokens",
       help="how many recent tokens repeat_penalty looks at (0 = off; llama-server refuses -1)"),
    _p("dry_multiplier", float, 0.0, 5.0, axis=True, advanced=True, extra=True, step=0.05, default=0.0,
       help="DRY: penalise a token that would extend a repeated sequence by multiplier x base^(length - "
            "allowed length) (0 = off)"),
    _p("dry_base", float, 1.0, 4.0, axis=True, advanced=True, extra=True, step=0.05, default=1.75,
       help="DRY: how fast the penalty grows with each more token repeated"),
    _p("dry_allowed_length", int, 0, 256, axis=True, advanced=True, extra=True, default=2, unit="tokens",
       help="DRY: repeats this long or shorter go unpenalised"),
    _p("dry_penalty_last_n", int, 0, 4096, axis=True, advanced=True, extra=True, default=64, unit="tokens",
       help="DRY: how many recent tokens it searches for repeats (0 = off)"),
    _p("dry_sequence_breakers", "breakers", axis=True, extra=True, default=("\n", ":", '"', "*"),
       help="DRY: strings no repeat may reach across (a list of 1 to 16 non-empty strings)"),
    _p("xtc_probability", float, 0.0, 1.0, axis=True, advanced=True, extra=True, default=0.0,
       unit="probability", help="chance that XTC removes the top tokens (0 = off)"),
    _p("xtc_threshold", float, 0.0, 0.5, axis=True, advanced=True, extra=True, default=0.1,
       unit="probability", help="XTC removes tokens above this probability (all but the least likely)"),
    _p("post_sampling_probs", bool, extra=True,
       help="with logprobs: return the probabilities after the sampler chain (what the server samples from)"),
    _p("response_format", "json", help="constrain the answer: {'type': 'json_object'} or {'type': 'json_schema', "
       "'json_schema': {'name': ..., 'schema': {...}}}"),
]
PARAMS: dict[str, Param] = {p.name: p for p in _ENTRIES}
FORMATS = ("text", "json_object", "json_schema")


def _check_json(name: str, value: Any) -> dict:
    """A response_format as a dict (a JSON string is parsed); its type known; a json_schema's schema a valid
    JSON Schema. Taught in notebooks/12_structured_output.ipynb."""
    import json
    import re

    try:
        value = json.loads(value) if isinstance(value, str) else value
        json.dumps(value, allow_nan=False)  # what the request will carry
    except (ValueError, TypeError, RecursionError) as e:
        raise ParameterError(f"{name}={shown(value)} is not allowed: it is not JSON ({shown(e, 120)})") from None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in FORMATS:
        raise ParameterError(f"{name}={shown(value)} is not allowed: use a dict whose type is one of "
                             f"{', '.join(FORMATS)}")
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ParameterError(f"{name}={shown(value)} is not allowed: a json_schema format needs "
                                 "{'json_schema': {'name': ..., 'schema': {...}}} with the schema as a dict")
        if not (isinstance(spec.get("name"), str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", spec["name"])):
            raise ParameterError(f"{name}: json_schema name={shown(spec.get('name'))} is not allowed: the name must "
                                 "be 1 to 64 letters, digits, '_' or '-' (the OpenAI schema's rule)")
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise ParameterError(f"{name}: the schema is not a valid JSON Schema: {shown(e.message, 200)}") from None
        except Exception as e:  # jsonschema's own failure on an odd schema (e.g. a pattern re cannot compile)
            raise ParameterError(f"{name}: the schema cannot be checked ({type(e).__name__}: {shown(e, 120)}); "
                                 "it is not a JSON Schema the lab can send") from None
    return value


def names() -> tuple[str, ...]:
    """Every parameter name, in the registry's order (the order requests and keys list them)."""
    return tuple(PARAMS)


def axes() -> tuple[str, ...]:
    """The parameters a Grid may vary."""
    return tuple(n for n, p in PARAMS.items() if p.axis)


def core_axes() -> tuple[str, ...]:
    """The axes that are always columns of `runs` (None there = the server's default)."""
    return tuple(n for n, p in PARAMS.items() if p.core)


MODEL = "model"  # the one Grid axis that is not a request parameter: which of the distribution's models answers


def cell_columns(columns: Any) -> list[str]:
    """The axis columns among `columns` (a frame's): `model` first when a grid varied it, then the
    parameters in registry order. What names a cell."""
    present = set(columns)
    return [n for n in (MODEL, *axes()) if n in present]


def model_ids(name: str, value: Any) -> list[str]:
    """A model axis as a list of distinct model ids (one id or a list of them); whether the server lists
    them is checked by `Lab.using` before any request. Taught in notebooks/13_models_side_by_side.ipynb.

    >>> model_ids("model", "llama-cpp/smollm2-135m-instruct")
    ['llama-cpp/smollm2-135m-instruct']
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not 0 < len(items) <= MAX_AXIS_VALUES or not all(
            isinstance(m, str) and m.strip() for m in items):
        raise ParameterError(f"{name}={shown(value)} is not allowed: give a model id or a list of model ids, "
                             "e.g. model=[lab.model, 'llama-cpp2/gemma3-270m'] (lab.models() lists them)")
    dupes = sorted({m for m in items if items.count(m) > 1})
    if dupes:
        raise ParameterError(f"{name}={list(items)!r} is not allowed: the model(s) {dupes} appear twice")
    return list(items)


def axis_label(name: str) -> str:
    """A plot label with unit for a parameter column; other names come back unchanged."""
    return PARAMS[name].axis_label if name in PARAMS else name


def _bad(name: str, value: Any, allowed: str) -> ParameterError:
    return ParameterError(f"{name}={shown(value)} is not allowed: {name} must be {allowed}")


def _number(name: str, value: Any, kind: Any, allowed: str) -> int | float:
    """`value` as int or float (numpy scalars included; -0.0 is 0.0, so it has one cache key); bools, strings,
    fractional ints and floats too large for a float are refused."""
    if isinstance(value, bool) or not isinstance(value, Real) or str(getattr(value, "dtype", "")) == "bool":
        raise _bad(name, value, allowed)
    try:
        if kind is int:
            if not isinstance(value, Integral) and not float(value).is_integer():
                raise _bad(name, value, allowed)
            return int(value)
        return float(value) + 0.0
    except (OverflowError, ValueError, TypeError):  # 10**400 as a float; an inf or NaN as an int
        raise _bad(name, value, allowed) from None


def integer(name: str, value: Any, low: int = 0, high: int | None = None, *, optional: bool = False,
            why: str = "") -> int | None:
    """Validate a small integer setting (samples, concurrency, retries, ...); numpy integers are accepted.

    >>> integer("samples", 3, low=1)
    3
    """
    if value is None and optional:
        return None
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    allowed += " or None" if optional else ""
    number = _number(name, value, int, allowed + why)
    if number < low or (high is not None and number > high):
        raise _bad(name, value, allowed + why)
    return number


def choice(name: str, value: Any, options: tuple | list) -> Any:
    """Validate that `value` is one of `options`."""
    if not isinstance(value, (str, int, float, type(None))) or value not in options:
        raise ParameterError(f"{name}={shown(value)} is not allowed: {name} must be one of "
                             f"{', '.join(map(str, options))}")
    return value


def check(name: str, value: Any, *, max_tokens_limit: int | None = None) -> Any:
    """Validate one parameter value and return it normalised (int, float, bool or list of stop strings).

    Raises ParameterError (a ValueError) naming the parameter, the value and what is allowed.

    >>> check("temperature", 0)
    0.0
    """
    spec = PARAMS.get(name)
    if spec is None:
        raise ParameterError(f"unknown parameter {name!r}: the lab knows {', '.join(PARAMS)}")
    if spec.kind == "stop":
        return _check_stop(value)
    if spec.kind == "json":
        return _check_json(name, value)
    if spec.kind == "breakers":
        return _check_breakers(name, value)
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{name}={shown(value)} is not allowed: use True or False")
        return value
    high = spec.high
    if name == "max_tokens":
        high = max_tokens_limit or DEFAULT_MAX_TOKENS_LIMIT
    allowed = spec.allowed(high)
    number = _number(name, value, spec.kind, allowed)
    nan = isinstance(number, float) and math.isnan(number)
    if nan or number < spec.low or (spec.low_open and number == spec.low) or (spec.high_open and number == high):
        raise _bad(name, value, allowed)
    if high is not None and number > high:
        if name == "max_tokens":
            raise ParameterError(f"max_tokens={shown(value)} is not allowed: the model's context holds "
                                 f"{high} tokens, so max_tokens must be {allowed}")
        raise _bad(name, value, allowed)
    return number


def _strings(name: str, value: Any, most: int, allowed: str) -> list[str]:
    """`value` (one string, or a list of 1 to `most` non-empty strings, each one UTF-8 can carry) as a list;
    otherwise a ParameterError saying `name` must be `allowed`."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not 1 <= len(items) <= most or not all(
        isinstance(s, str) and s for s in items
    ):
        raise ParameterError(f"{name}={shown(value)} is not allowed: {name} must be {allowed}")
    for i, item in enumerate(items):
        _encodable(f"{name}[{i}]" if len(items) > 1 else name, item)
    return list(items)


def _check_stop(value: Any) -> list[str]:
    return _strings("stop", value, 4, "a non-empty string or a list of 1 to 4 non-empty strings")


def _check_breakers(name: str, value: Any) -> tuple[str, ...]:
    """DRY's sequence breakers as a tuple of strings (hashable, so a Grid may hold it as an axis value).
    Taught in notebooks/10_sampler_chain.ipynb."""
    return tuple(_strings(name, value, 16, "a list of 1 to 16 non-empty strings, e.g. ['\\n', ':'] "
                                           "(llama-server refuses an empty list)"))


def check_all(params: dict[str, Any], *, max_tokens_limit: int | None = None) -> dict[str, Any]:
    """Validate every parameter that is not None; return the ones to send, in the registry's order.

    Zero is a real value: temperature=0 is sent, never dropped as "unset".
    """
    out = {k: check(k, v, max_tokens_limit=max_tokens_limit) for k, v in params.items() if v is not None}
    if "top_logprobs" in out and not out.get("logprobs"):
        raise ParameterError(f"top_logprobs={out['top_logprobs']} needs logprobs=True")
    return {k: out[k] for k in PARAMS if k in out}


def request_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Validated params as keyword arguments of `chat.completions.create`: OpenAI fields as they are,
    the engine's own samplers under `extra_body`."""
    fields = {k: v for k, v in params.items() if not PARAMS[k].extra}
    extra = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items() if PARAMS[k].extra}
    return {**fields, "extra_body": extra} if extra else fields


def _encodable(name: str, text: str) -> str:
    """`text`, refused when it holds a lone surrogate (no valid UTF-8 exists for it, so no request can carry it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        cut = text if len(text) <= 40 else text[:37] + "..."
        raise ParameterError(f"{name}={cut!r} is not allowed: it holds a lone surrogate ({text[e.start]!r} at "
                             f"position {e.start}), which is not text any request can carry. Remove it, or read "
                             "the source with errors='replace'.") from None
    return text


def messages_from(prompt_or_messages: str | list[dict], system: str | None = None) -> list[dict]:
    """Turn a prompt string or a message list into validated role/content messages.

    A string becomes one user message; `system` prepends a system message.
    Taught in notebooks/01_messages_and_roles.ipynb.
    """
    if isinstance(prompt_or_messages, str):
        if not prompt_or_messages.strip():
            raise ParameterError(f"prompt={shown(prompt_or_messages)} is not allowed: the prompt must be a "
                                 "non-empty string")
        messages = [{"role": "user", "content": _encodable("prompt", prompt_or_messages)}]
    elif isinstance(prompt_or_messages, (list, tuple)) and prompt_or_messages:
        messages = [dict(m) if isinstance(m, dict) else m for m in prompt_or_messages]
    else:
        raise ParameterError(f"messages={shown(prompt_or_messages)} is not allowed: pass a prompt string "
                             "or a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) - {"role", "content"} or "role" not in m:
            raise ParameterError(f"messages[{i}]={shown(m)} is not allowed: each message is a dict with "
                                 "keys 'role' and 'content'")
        if not isinstance(m["role"], str) or m["role"] not in ROLES:
            raise ParameterError(f"messages[{i}]['role']={shown(m['role'])} is not allowed: "
                                 f"role must be one of {', '.join(ROLES)}")
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            raise ParameterError(f"messages[{i}]['content']={shown(m.get('content'))} is not allowed: "
                                 "content must be a non-empty string")
        _encodable(f"messages[{i}]['content']", m["content"])
    if system is not None:
        if not isinstance(system, str) or not system.strip():
            raise ParameterError(f"system={shown(system)} is not allowed: use a non-empty string or None")
        messages = [{"role": "system", "content": _encodable("system", system)}, *messages]
    return messages


# --- The Responses API (`client.responses.create`): the same sampling parameters, one under another name.
# Taught in notebooks/14_responses_api.ipynb.
RESPONSES_NAMES = {"max_tokens": "max_output_tokens"}  # the lab's (chat.completions) name -> the Responses API's
RESPONSES_FIELDS = ("temperature", "top_p", "max_output_tokens", "presence_penalty", "frequency_penalty")
RESPONSES_MIN_OUTPUT_TOKENS = 16  # Llama Stack 0.7.3 refuses fewer with HTTP 400 (its request model: ge=16)
NOT_ON_RESPONSES = ("stop", "n", "logprobs", "top_logprobs", "post_sampling_probs", "response_format")


def check_responses(params: dict[str, Any], *, max_tokens_limit: int | None = None) -> dict[str, Any]:
    """Validate the parameters of a Responses request (`Lab.respond`) and return them in the registry's order,
    `max_output_tokens` where `max_tokens` stands. Everything else is checked exactly as for chat.

    >>> check_responses({"max_output_tokens": 16, "temperature": 0})
    {'temperature': 0.0, 'max_output_tokens': 16}
    """
    out = {}
    for name, value in params.items():
        if value is None:
            continue
        if name in RESPONSES_NAMES:
            raise ParameterError(f"{name}={value!r} is not allowed on the Responses API: there it is called "
                                 f"{RESPONSES_NAMES[name]} (lab.respond(..., {RESPONSES_NAMES[name]}={value!r}))")
        if name in NOT_ON_RESPONSES:
            raise ParameterError(f"{name}={value!r} is not allowed on the Responses API: lab.respond does not send "
                                 f"{', '.join(NOT_ON_RESPONSES)}; use lab.chat for {name}")
        if name == "max_output_tokens":
            high = max_tokens_limit or DEFAULT_MAX_TOKENS_LIMIT
            out[name] = integer(name, value, RESPONSES_MIN_OUTPUT_TOKENS, high,
                                why=" (the server refuses fewer than 16; the model's context bounds it above)")
        else:
            out.update(check_all({name: value}, max_tokens_limit=max_tokens_limit))
    order = [RESPONSES_NAMES.get(n, n) for n in PARAMS]
    return {k: out[k] for k in order if k in out}


def responses_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Validated Responses params as keyword arguments of `responses.create`: its own fields as they are,
    everything else (seed, llama.cpp's samplers) under `extra_body`, which Llama Stack passes to the engine."""
    fields = {k: v for k, v in params.items() if k in RESPONSES_FIELDS}
    extra = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items() if k not in RESPONSES_FIELDS}
    return {**fields, "extra_body": extra} if extra else fields
