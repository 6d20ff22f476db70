"""Exercises of notebooks/06_chatbot_with_memory.ipynb."""

from __future__ import annotations

from typing import Any

from .registry import failed, passed, register


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


def _loop_problem(answer: Any, lab: Any, turns: tuple[str, ...]) -> tuple[str | None, Any]:
    """Run the learner's loop `answer(lab, turns)` on a recording lab; the problem with what it sent, or None."""
    if not callable(answer):
        return f"give your function, not {answer!r}", None
    rec = _Recording(lab)
    returned = answer(rec, list(turns))
    if len(rec.sent) != len(turns):
        return (f"{len(turns)} turns need {len(turns)} requests through lab.chat(messages, ...); your loop sent "
                f"{len(rec.sent)}."), rec
    head = [m for m in rec.sent[0][:1] if isinstance(m, dict) and m.get("role") == "system"]
    for i, sent in enumerate(rec.sent):
        want = _expected_08(head, turns, rec.replies, i)
        if sent != want:
            roles = [m.get("role") for m in sent] if isinstance(sent, list) else type(sent).__name__
            if i and any(m.get("role") == "user" and m.get("content") == rec.replies[i - 1] for m in sent):
                why = "the model's reply went back with role 'user': it is the assistant's turn"
            elif i and not any(m.get("content") == rec.replies[i - 1] for m in sent if isinstance(m, dict)):
                why = f"it lacks the reply to turn {i} ({rec.replies[i - 1]!r}): append each reply to messages"
            else:
                why = f"it held the roles {roles}, expected {[m['role'] for m in want]}"
            return f"request {i + 1} did not carry the conversation so far: {why}.", rec
    final = _expected_08(head, turns, rec.replies, len(turns) - 1)
    final.append({"role": "assistant", "content": rec.replies[-1]})
    if returned != final:
        return ("every request was right, but the list you returned is not the whole conversation: end with the "
                "last reply appended."), rec
    return None, rec


@register("06.2", hint="Section 1's loop does it with the raw client: per turn, append the user's message, send the "
          "whole list (here with `lab.chat(messages, ...)`, whose answer's text is `.text`), and append the reply "
          "as the assistant's message, so the next request carries it. Then `answer = chat_loop`.",
          solution=_solution_08, wrong=_forgets_08, needs=("lab",))
def _(answer, *, lab):
    problem, rec = _loop_problem(answer, lab, TURNS_08)
    if problem:
        return failed(problem)
    return passed(f"{len(rec.sent)} requests, each with the whole conversation so far ({len(rec.sent[-1])} messages "
                  f"in the last); the memory is the list you re-send. Asked {TURNS_08[-1]!r}, the model said "
                  f"{rec.replies[-1]!r}.")


# Exercise 06.3: a `while` loop with a window of `keep` exchanges, and the smallest window that still sends the
# name when the last turn asks for it (the name is in exchange 2, so at turn 5 a window of 3 reaches it).
TURNS_063 = ("Name a colour.", "My name is Ada.", "Name a fruit.", "Name an animal.", "What is my name?")
NAME_063 = "Ada"
SYSTEM_063 = "You are a friendly assistant. Keep answers short."


def _solution_063(lab: Any, turns: Any, keep: int) -> list[str]:
    system = {"role": "system", "content": SYSTEM_063}
    history: list[dict] = []
    replies: list[str] = []
    i = 0
    while i < len(turns):
        new = {"role": "user", "content": turns[i]}
        kept = history[max(0, len(history) - 2 * keep):]
        reply = lab.chat([system, *kept, new], temperature=0, max_tokens=16)
        history += [new, {"role": "assistant", "content": reply.text}]
        replies.append(reply.text)
        i += 1
    return replies


def _all_063(lab: Any, turns: Any, keep: int) -> list[str]:  # a window that keeps everything: full memory
    return _solution_063(lab, turns, len(turns))


def _window_problem(answer: Any, lab: Any) -> tuple[str | None, Any]:
    if not (isinstance(answer, tuple) and len(answer) == 2 and callable(answer[0])):
        return f"give (window_chat, KEEP): your function and a number, not {answer!r}", None
    fn, keep = answer
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        return f"KEEP must be a whole number of exchanges (0 or more), not {keep!r}", None
    rec = _Recording(lab)
    fn(rec, list(TURNS_063), keep)
    if len(rec.sent) != len(TURNS_063):
        return (f"{len(TURNS_063)} turns need {len(TURNS_063)} requests through lab.chat(messages, ...); your "
                f"loop sent {len(rec.sent)}."), rec
    head = [m for m in rec.sent[0][:1] if isinstance(m, dict) and m.get("role") == "system"]
    for i, sent in enumerate(rec.sent):
        whole = _expected_08(head, TURNS_063, rec.replies, i)
        want = [*head, *whole[len(head):-1][max(0, 2 * (i - keep)):], whole[-1]]
        if sent != want:
            got = len([m for m in sent if isinstance(m, dict) and m.get("role") != "system"]) // 2
            return (f"request {i + 1} should carry the system message, the last {min(i, keep)} of the {i} earlier "
                    f"exchange(s) and turn {i + 1}; it carried {len(sent)} messages (about {got} exchange(s)): "
                    "keep `keep` exchanges (2 messages each), the newest ones."), rec
    return None, rec


@register("06.3", hint="Keep every exchange in `history` (a user message and the assistant's reply, 2 messages "
          "each); each request sends the system message, the newest `keep` exchanges of `history` (a slice from its "
          "end, 2 messages per exchange) and the new message. Mind keep=0: a slice from `-0` is the whole list, "
          "not an empty one. The name is said in turn "
          "2; when turn 5 asks for it, how many earlier exchanges must the window reach back? "
          "Then `answer = (window_chat, KEEP)`.",
          solution=(_solution_063, 3), wrong=(_all_063, 3), needs=("lab",))
def _(answer, *, lab):
    problem, rec = _window_problem(answer, lab)
    if problem:
        return failed(problem)
    from ..chat import recall

    keep, last = answer[1], rec.sent[-1]
    if not any(NAME_063 in str(m.get("content")) for m in last if isinstance(m, dict)):
        return failed(f"your window works, but with KEEP={keep} the last request does not hold the name "
                      f"{NAME_063!r}: the model cannot remember what is not sent. Count back from turn 5.")
    if keep > 3:
        return failed(f"KEEP={keep} sends the name, but so does a smaller window: which is the smallest?")
    return passed(f"every request held the system message and the last {keep} exchanges; turn 5 still sent the "
                  f"name. {recall(last, rec.replies[-1], NAME_063)}.")


# Exercise 06.4: spot the bug of a chatbot loop found in the wild (a real getting-started notebook had it).
TURNS_064 = ("My favourite fruit is mango.", "Name a colour.", "What is my favourite fruit?")


def _buggy_064(lab: Any, turns: Any) -> list[dict]:
    messages = [{"role": "system", "content": "You are a friendly assistant."}]
    for text in turns:
        messages.append({"role": "user", "content": text})
        reply = lab.chat(messages, temperature=0, max_tokens=16)
        messages.append({"role": "user", "content": reply.text})
    return messages


def _fixed_064(lab: Any, turns: Any) -> list[dict]:
    messages = [{"role": "system", "content": "You are a friendly assistant."}]
    for text in turns:
        messages.append({"role": "user", "content": text})
        reply = lab.chat(messages, temperature=0, max_tokens=16)
        messages.append({"role": "assistant", "content": reply.text})
    return messages


@register("06.4", hint="Read each `append`: whose words does each one add, and with which role? The model's "
          "reply is the assistant's turn; sent back as 'user', the model reads its own words as yours. Change "
          "that one line, then `answer = fixed_chat`.",
          solution=_fixed_064, wrong=_buggy_064, needs=("lab",))
def _(answer, *, lab):
    problem, rec = _loop_problem(answer, lab, TURNS_064)
    if problem:
        return failed(problem)
    roles = "/".join(m["role"][0] for m in rec.sent[-1])
    return passed(f"the last request alternates the roles as a conversation does ({roles}: s=system, u=user, "
                  "a=assistant), so the model reads its earlier replies as its own.")
