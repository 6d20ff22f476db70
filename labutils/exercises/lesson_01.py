"""Exercises of notebooks/01_messages_and_roles.ipynb."""

from __future__ import annotations

from itertools import pairwise

from . import failed, passed, register


@register("01.1", hint="The roles should read `system, user, assistant, user`: a system message, a user message and "
          "the assistant reply you want imitated (the few-shot example; more pairs are fine), then the real "
          "question as the last user message. Each message is a dict like `{'role': 'user', 'content': 'Name a "
          "fruit.'}`. Once it passes, try it: `lab.chat(answer, temperature=0, max_tokens=20)`.",
          solution=[{"role": "system", "content": "Answer with one word."},
                    {"role": "user", "content": "Colour of the sky?"},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Colour of grass?"}],
          wrong=[{"role": "user", "content": "Colour of grass?"},
                 {"role": "system", "content": "Answer with one word."}])
def _(answer):
    from ..errors import ParameterError
    from ..params import messages_from

    try:
        messages = messages_from(answer)
    except ParameterError as e:
        return failed(str(e))
    roles = [m["role"] for m in messages]
    if roles[0] != "system" or "system" in roles[1:]:
        return failed(f"roles are {roles}: put exactly one system message, first.")
    turns = roles[1:]
    if "assistant" not in turns:
        return failed(f"roles are {roles}: add a user/assistant pair as a few-shot example.")
    if turns[-1] != "user":
        return failed(f"roles are {roles}: the last message must be the user's question the model answers.")
    if any(a == b for a, b in pairwise(turns)) or turns[0] != "user":
        return failed(f"roles are {roles}: after the system message, user and assistant take turns, user first.")
    return passed(f"roles {roles}: a system prompt, {turns.count('assistant')} few-shot pair(s), then the question.")
