"""Exercises of notebooks/06_chatbot_with_memory.ipynb."""

from __future__ import annotations

from typing import Any

from . import failed, passed, register


@register("06.1", hint="Count three parts: the system message (always sent), the kept exchanges (memory='window' "
          "with max_turns=2 keeps the 2 newest, each a user message and the assistant's reply), and the new user "
          "message. You can verify with a `Chat` of your own: `len(chat.last_sent)` after six `send` calls.",
          solution=6, wrong=12)
def _(answer):
    if isinstance(answer, bool) or not isinstance(answer, int):
        return failed(f"give a number of messages, not {answer!r}")
    if answer == 6:
        return passed("1 system + 2 kept exchanges x 2 messages + 1 new user message = 6; exchanges 1 to 3 "
                      "are not sent.")
    if answer == 12:
        return failed("12 is what memory='full' sends (1 + 5 x 2 + 1): the window drops the older exchanges.")
    if answer == 5:
        return failed("5 leaves out the system message, which every memory strategy always sends.")
    if answer == 2:
        return failed("2 is memory='none' (system + the new message): the window keeps the 2 newest exchanges.")
    return failed(f"{answer} is not it: count the system message, the kept exchanges (2 messages each) and "
                  "the new message.")


# Exercise 06.2: the learner writes the chat loop; the check runs it live and reads what each request held.
TURNS_08 = ("My name is Ada.", "Name a colour.", "What is my name?")


class _Recording:
    """A lab whose `chat` records a copy of every message list it sends, then sends it for real."""

    def __init__(self, lab: Any):
        self.lab, self.sent, self.replies = lab, [], []

    def chat(self, messages: Any, **params: Any) -> Any:
        self.sent.append([dict(m) for m in messages] if isinstance(messages, list) else messages)
        reply = self.lab.chat(messages, **{"temperature": 0, "max_tokens": 16, **params})
        self.replies.append(reply.text)
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lab, name)


def _solution_08(lab: Any, turns: Any) -> list[dict]:
    messages = [{"role": "system", "content": "You are a friendly assistant."}]
    for text in turns:
        messages.append({"role": "user", "content": text})
        messages.append({"role": "assistant", "content": lab.chat(messages, temperature=0, max_tokens=16).text})
    return messages


def _forgets_08(lab: Any, turns: Any) -> list[dict]:  # re-sends the user's turns only, never the replies
    messages = [{"role": "system", "content": "You are a friendly assistant."}]
    for text in turns:
        messages.append({"role": "user", "content": text})
        lab.chat(messages, temperature=0, max_tokens=16)
    return messages


def _expected_08(head: list[dict], turns: Any, replies: list[str], i: int) -> list[dict]:
    done = [m for k in range(i) for m in ({"role": "user", "content": turns[k]},
                                          {"role": "assistant", "content": replies[k]})]
    return [*head, *done, {"role": "user", "content": turns[i]}]


@register("06.2", hint="Inside the loop: `messages.append({'role': 'user', 'content': text})`, then `reply = "
          "lab.chat(messages, temperature=0, max_tokens=MAX_TOKENS)`, then append `{'role': 'assistant', "
          "'content': reply.text}`: the model's words go back with role 'assistant', so the next request "
          "carries them. Then `answer = chat_loop`.",
          solution=_solution_08, wrong=_forgets_08, needs=("lab",))
def _(answer, *, lab):
    if not callable(answer):
        return failed(f"give your function (answer = chat_loop), not {answer!r}")
    rec = _Recording(lab)
    returned = answer(rec, list(TURNS_08))
    if len(rec.sent) != len(TURNS_08):
        return failed(f"{len(TURNS_08)} turns need {len(TURNS_08)} requests through lab.chat(messages, ...); your "
                      f"loop sent {len(rec.sent)}.")
    head = [m for m in rec.sent[0][:1] if isinstance(m, dict) and m.get("role") == "system"]
    for i, sent in enumerate(rec.sent):
        want = _expected_08(head, TURNS_08, rec.replies, i)
        if sent != want:
            roles = [m.get("role") for m in sent] if isinstance(sent, list) else type(sent).__name__
            if i and not any(m.get("content") == rec.replies[i - 1] for m in sent if isinstance(m, dict)):
                why = f"it lacks the reply to turn {i} ({rec.replies[i - 1]!r}): append each reply to messages"
            elif i and any(m.get("role") == "user" and m.get("content") == rec.replies[i - 1] for m in sent):
                why = "the model's reply went back with role 'user': it is the assistant's turn"
            else:
                why = f"it held the roles {roles}, expected {[m['role'] for m in want]}"
            return failed(f"request {i + 1} did not carry the conversation so far: {why}.")
    final = _expected_08(head, TURNS_08, rec.replies, len(TURNS_08) - 1)
    final.append({"role": "assistant", "content": rec.replies[-1]})
    if returned != final:
        return failed("every request was right, but the list you returned is not the whole conversation: end "
                      "with the last reply appended.")
    return passed(f"{len(rec.sent)} requests, each with the whole conversation so far ({len(rec.sent[-1])} messages "
                  f"in the last); the memory is the list you re-send. Asked {TURNS_08[-1]!r}, the model said "
                  f"{rec.replies[-1]!r}.")
