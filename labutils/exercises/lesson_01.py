"""Exercises of notebooks/01_messages_and_roles.ipynb."""

from __future__ import annotations

from itertools import pairwise

from .registry import failed, passed, register


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
    from ..client.request import messages_from
    from ..errors import ParameterError

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


# 01.2: messages that make the small model answer in one word, checked on the live model over seeded samples
QUESTIONS_01 = ("Name an animal.", "Name a fruit.")
SAMPLES_01, PASS_01, TEMPERATURE_01, MAX_TOKENS_01 = 4, 6, 0.7, 40  # 4 seeds a question; 6 of the 8 must pass
_EXAMPLES_01 = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."},
                {"role": "user", "content": "Name a city."}, {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "Name a tool."}, {"role": "assistant", "content": "Hammer."}]


def _before(answer) -> list[dict]:
    """The learner's messages that go before each question: a system prompt (a string) or a list of messages."""
    from ..client.request import messages_from

    if isinstance(answer, str):
        return [{"role": "system", "content": answer}]
    messages = messages_from(answer)  # a ParameterError names what is wrong with the list
    if messages[-1]["role"] == "user":
        raise ValueError("the list ends with a user message: end it with an assistant example (or a system "
                         "message); the check adds each question as the last user message")
    return messages


@register("01.2", hint="A system prompt alone rarely works on the 135M model (section 2 measured it): small models "
          "imitate examples better than they follow rules. Give a list of messages that ends with an assistant "
          "example: a few user/assistant pairs whose answers are one word, e.g. 'Name a colour.' -> 'Blue.', "
          "'Name a city.' -> 'Paris.', and one more. Try it with `evidence.count(lab, {'messages': [*answer, "
          "{'role': 'user', 'content': QUESTION}], 'temperature': 0.7, 'max_tokens': 40}, evidence.one_word)`.",
          solution=_EXAMPLES_01, wrong="You are a helpful assistant.", needs=("lab",))
def _(answer, lab):
    from ..errors import ParameterError
    from ..lessons import evidence

    try:
        before = _before(answer)
    except (ParameterError, ValueError) as e:
        return failed(f"give a system prompt (a string) or a list of messages: {e}")
    k = n = 0
    seen, lines = set(), []
    for question in QUESTIONS_01:
        request = {"messages": [*before, {"role": "user", "content": question}], "temperature": TEMPERATURE_01,
                   "max_tokens": MAX_TOKENS_01}
        count = evidence.count(lab, request, evidence.one_word, samples=SAMPLES_01)
        k, n = k + count.k, n + count.n
        seen |= {t.strip(" .!").lower() for t in count.answers["text"]}
        lines.append(f"{question!r}: {count.k} of {count.n} one word, e.g. {count.answers['text'].iloc[0][:40]!r}")
    report = "; ".join(lines)
    if k >= PASS_01 and len(seen) > 1:
        return passed(f"{k} of {n} answers were one word ({report}).")
    if k >= PASS_01:
        return failed(f"every answer was the same word ({report}): ask for an answer to the question, "
                      "not a fixed word.")
    return failed(f"{k} of {n} answers were one word, {PASS_01} needed ({report}). Show the format with "
                  "examples.")
