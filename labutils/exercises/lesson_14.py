"""Exercises of notebooks/14_responses_api.ipynb."""

from __future__ import annotations

import contextlib

from .registry import failed, passed, register

TURNS_13 = ["My name is Ada.", "I live in Paris.", "What is my name?"]


def _solution(lab, turns):
    answers = []
    for turn in turns:
        previous = answers[-1].response_id if answers else None
        answers.append(lab.respond(turn, temperature=0, max_output_tokens=24, previous_response_id=previous))
    return answers


def _wrong(lab, turns):  # every turn on its own: the server keeps each, but chains none
    return [lab.respond(turn, temperature=0, max_output_tokens=24) for turn in turns]


def _held(lab, response_id: str) -> list[str]:
    """The texts of the input items the server holds for a stored response (what it sent the model)."""
    items = lab.client.responses.input_items.list(response_id).data
    texts = []
    for item in items:
        content = getattr(item, "content", None)
        parts = content if isinstance(content, list) else [content]
        texts += [p if isinstance(p, str) else getattr(p, "text", "") or "" for p in parts]
    return texts


@register("14.1", hint="Every answer of `lab.respond` has a `.response_id`, and `lab.respond` takes "
          "`previous_response_id=`: pass the id of the answer before (section 4, way 2). The first turn has no "
          "answer before it, so it continues from nothing (None); then the server prepends the whole conversation.",
          solution=_solution, wrong=_wrong, needs=("lab",))
def _(answer, *, lab):
    if not callable(answer):
        return failed(f"answer with a function of lab and turns (def answer(lab, turns): ...), not {answer!r:.80}")
    answers = answer(lab, TURNS_13)
    if not answers:
        return failed("your function returned no answers: send each turn with lab.respond and append its answer")
    if len(answers) != len(TURNS_13) or not all(getattr(a, "surface", None) == "responses" for a in answers):
        return failed(f"your function should return one lab.respond answer per turn ({len(TURNS_13)}), got "
                      f"{answers!r:.200}")
    if any(a.response_id is None for a in answers):
        return failed("an answer has no response_id: send with store=True (the default) so the server keeps it")
    try:
        held = _held(lab, answers[-1].response_id)
        missing = [t for t in TURNS_13 if not any(t in h for h in held)]
        if missing:
            return failed(f"the server sent the model only {held!r} for the last turn: {missing!r} are missing, so "
                          "it did not continue the conversation. Pass the previous answer's response_id as "
                          "previous_response_id.")
        tokens = [a.prompt_tokens for a in answers]
        return passed(f"the server kept all {len(TURNS_13)} turns: the last request held {len(held)} input items "
                      f"and its prompt grew to {tokens[-1]} tokens (turn by turn: {tokens}), though you sent one "
                      f"short turn each time. The model answered {answers[-1].text.strip()!r:.80}.")
    finally:
        for a in answers:  # the check's conversations are not kept on the server
            with contextlib.suppress(Exception):  # already gone, or a server that cannot delete
                lab.client.responses.delete(a.response_id)
