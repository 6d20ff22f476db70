"""Exercises of notebooks/07_use_cases.ipynb."""

from __future__ import annotations

from .registry import failed, passed, register

LABEL_MAX_TOKENS_LIMIT = 32  # 07.1: the lesson itself labels with max_tokens=20 (LABEL_MAX_TOKENS)


@register("07.1", hint="Look at section 3's `labels.answers`: at which temperature did the review get the same "
          "label in every sample? "
          "And at `by_shots['tokens']` in section 1: how many tokens does a label take? A limit a little above "
          "that caps the cost of a rambling answer. Answer like `{'temperature': ..., 'max_tokens': ...}`.",
          solution={"temperature": 0.0, "max_tokens": 5}, wrong={"temperature": 1.0, "max_tokens": 200})
def _(answer):
    if not isinstance(answer, dict) or not {"temperature", "max_tokens"} <= set(answer):
        return failed("give a dict like {'temperature': ..., 'max_tokens': ...}")
    t, m = answer["temperature"], answer["max_tokens"]
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not isinstance(m, int) or isinstance(m, bool):
        return failed(f"temperature must be a number and max_tokens an integer, got {t!r} and {m!r}")
    if t > 0.2:
        return failed(f"temperature={t}: sampling makes a label change from run to run; classification wants "
                      "the most likely answer every time.")
    if not 1 <= m <= LABEL_MAX_TOKENS_LIMIT:
        return failed(f"max_tokens={m}: a one- or two-word label needs a few tokens (at most "
                      f"{LABEL_MAX_TOKENS_LIMIT}); a larger limit only lets a rambling answer cost more (and a limit "
                      "below 1 is not allowed).")
    return passed(f"temperature={t} (repeatable labels) and max_tokens={m} (a label is short; rambling is cut "
                  "and costs little).")


# Exercise 07.2: few-shot examples, written by the learner, for a label set of their own task: support tickets
# labelled `bug` or `question`. The check asks the model about tickets the examples do not contain and passes
# when every answer is exactly one label. It reports, but does not require, right labels: at temperature 0 the
# 135M model answered 'question' to all four tickets after every example set tried (measured), a content
# judgement no set of examples could fix.
TICKET_SYSTEM = "Label the support ticket. Answer with one word: bug or question."
TICKET_LABELS = ("bug", "question")
TICKETS_072 = (("The app crashes every time I press the save button.", "bug"),
               ("How do I change the email address on my account?", "question"),
               ("The export gives an empty file since the last update.", "bug"),
               ("Can I use the app on two phones at once?", "question"))


def _ticket_messages(examples: list[dict], ticket: str) -> list[dict]:
    return [{"role": "system", "content": TICKET_SYSTEM}, *examples, {"role": "user", "content": f"Ticket: {ticket}"}]


_SOLUTION_072 = [
    {"role": "user", "content": "Ticket: The page goes blank when I open my profile."},
    {"role": "assistant", "content": "bug"},
    {"role": "user", "content": "Ticket: Where can I download my invoices?"},
    {"role": "assistant", "content": "question"},
    {"role": "user", "content": "Ticket: I get an error 500 when I upload a photo."},
    {"role": "assistant", "content": "bug"},
    {"role": "user", "content": "Ticket: Is there a dark mode?"},
    {"role": "assistant", "content": "question"},
]
_WRONG_072 = [  # the lesson's sentiment examples: a label set the tickets do not use
    {"role": "user", "content": "Ticket: The food was cold and the waiter was rude."},
    {"role": "assistant", "content": "negative"},
    {"role": "user", "content": "Ticket: What a wonderful day at the beach!"},
    {"role": "assistant", "content": "positive"},
]


@register("07.2", hint="Write pairs like section 1's: a user turn `{'role': 'user', 'content': 'Ticket: ...'}` "
          "followed by an assistant turn holding exactly the label, `{'role': 'assistant', 'content': 'bug'}`. "
          "Use both labels (two of each is a good start), tickets of your own (not the check's), and the same "
          "'Ticket: ' prefix the check uses.",
          solution=_SOLUTION_072, wrong=_WRONG_072, needs=("lab",))
def _(answer, *, lab):
    from ..scorers import as_label

    if not isinstance(answer, list) or not all(isinstance(m, dict) and m.get("role") in ("user", "assistant")
                                               and isinstance(m.get("content"), str) for m in answer):
        return failed("give a list of example messages: user turns (a ticket) and assistant turns (its label)")
    labels = {as_label(m["content"]) for m in answer if m["role"] == "assistant"}
    if not set(TICKET_LABELS) <= labels:
        return failed(f"your examples' assistant turns hold the labels {sorted(labels)}: show the model both "
                      f"{' and '.join(TICKET_LABELS)}, each as an assistant turn")
    if any(t in m["content"] for t, _ in TICKETS_072 for m in answer):
        return failed("your examples contain a ticket the check asks about: write tickets of your own")
    rows = []
    for ticket, truth in TICKETS_072:
        said = lab.chat(_ticket_messages(answer, ticket), temperature=0, max_tokens=8).text
        rows.append((ticket, truth, said, as_label(said)))
    shown = "; ".join(f"{t[:28]}... -> {s.strip()!r}" for t, _, s, _ in rows)
    out = [s for _, _, s, label in rows if label not in TICKET_LABELS]
    right = sum(label == truth for _, truth, _, label in rows)
    if out:
        return failed(f"{len(out)} of {len(rows)} answers were not exactly one label ({shown}): the examples set "
                      "the format; are their assistant turns the bare labels?")
    return passed(f"all {len(rows)} answers were exactly one of your labels at temperature 0: the examples set the "
                  f"format. {right} of {len(rows)} were right ({shown}); the 135M model follows a format far better "
                  "than it judges content.")
