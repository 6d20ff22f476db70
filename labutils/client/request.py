"""A checked request as the API takes it: messages from a prompt, the model ids of a model axis, the fields of
`chat.completions.create` (llama.cpp's own samplers under `extra_body`), and the same request for the
Responses API. Every parameter's facts (range, which API field, what the Responses API accepts) are
`labutils.params`'s. Taught in notebooks/00_setup_and_first_request.ipynb and 14_responses_api.ipynb.
"""

from __future__ import annotations

from typing import Any

from ..errors import ParameterError
from ..params import (
    DEFAULT_MAX_TOKENS_LIMIT,
    MAX_AXIS_VALUES,
    NOT_ON_RESPONSES,
    PARAMS,
    RESPONSES_FIELDS,
    RESPONSES_MIN_OUTPUT_TOKENS,
    RESPONSES_NAMES,
    ROLES,
    check_all,
    encodable,
    integer,
    shown,
)


def request_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Validated params as keyword arguments of `chat.completions.create`: OpenAI fields as they are,
    the engine's own samplers under `extra_body`."""
    fields = {k: v for k, v in params.items() if not PARAMS[k].extra}
    extra = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items() if PARAMS[k].extra}
    return {**fields, "extra_body": extra} if extra else fields


def messages_from(prompt_or_messages: str | list[dict], system: str | None = None) -> list[dict]:
    """Turn a prompt string or a message list into validated role/content messages.

    A string becomes one user message; `system` prepends a system message.
    Taught in notebooks/01_messages_and_roles.ipynb.
    """
    if isinstance(prompt_or_messages, str):
        if not prompt_or_messages.strip():
            raise ParameterError(f"prompt={shown(prompt_or_messages)} is not allowed: the prompt must be a "
                                 "non-empty string")
        messages = [{"role": "user", "content": encodable("prompt", prompt_or_messages)}]
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
        encodable(f"messages[{i}]['content']", m["content"])
    if system is not None:
        if not isinstance(system, str) or not system.strip():
            raise ParameterError(f"system={shown(system)} is not allowed: use a non-empty string or None")
        messages = [{"role": "system", "content": encodable("system", system)}, *messages]
    return messages


# --- The Responses API (`client.responses.create`): the same sampling parameters, one under another name.
# Taught in notebooks/14_responses_api.ipynb.
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
