"""Exercises of lessons 05-09: grids, summary, playground, use cases, chat memory, the probe."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from . import failed, passed, register

# --- exercises of lessons 05-08 ---

# Exercise 05.1: the grid the learner must build (the axes as sets, since their order does not matter).
GRID_05 = {"temperature": {0.0, 1.0}, "top_p": {0.9, 1.0}, "max_tokens": {32}, "samples": 3}


@register("05.1", hint="`labutils.Grid(temperature=[0, 1], top_p=[...], max_tokens=[...], samples=...)`: each axis "
          "is a list, and every combination runs `samples` times; `len(grid)` counts the calls. Four cells times "
          "three samples is twelve calls.",
          solution=SimpleNamespace(temperature=[0.0, 1.0], top_p=[0.9, 1.0], max_tokens=[32], samples=3),
          wrong=SimpleNamespace(temperature=[0.0, 1.0], top_p=[0.9, 1.0], max_tokens=[32], samples=1))
def _(answer):
    if not all(hasattr(answer, a) for a in GRID_05):
        return failed(f"expected a labutils.Grid, got {type(answer).__name__}")
    got = {a: set(getattr(answer, a)) for a in ("temperature", "top_p", "max_tokens")}
    for axis in got:
        if got[axis] != GRID_05[axis]:
            return failed(f"{axis} is {sorted(got[axis], key=str)}; the task asks for {sorted(GRID_05[axis])}.")
    if answer.samples != GRID_05["samples"]:
        return failed(f"samples={answer.samples}: the task asks for 3 answers per cell, so that each cell "
                      "shows a spread, not one anecdote.")
    return passed("2 temperatures x 2 top_p x 1 max_tokens x 3 samples = 12 calls, with the same 3 seeds in "
                  "every cell.")


@register("05.2", hint="`print(list(summary.columns))`. In `runs`, each row has a `finish_reason`; `summary` turns "
          "those into one number per cell: the share (0 to 1) of the cell's answers cut by max_tokens. You plotted "
          "it as a heatmap in section 4.",
          solution="length_frac", wrong="finish_reason")
def _(answer):
    if answer == "length_frac":
        return passed("length_frac = share of a cell's answers cut by max_tokens (finish_reason 'length'); "
                      "1.0 means every answer was cut.")
    if answer == "finish_reason":
        return failed("finish_reason is a column of runs (one answer each); summary condenses it per cell: "
                      "which summary column is the share of 'length'?")
    return failed(f"{answer!r} is not the summary column that measures answers cut by max_tokens.")


def _records(answer: Any) -> list[dict]:
    if hasattr(answer, "to_dict"):
        return answer.to_dict("records")
    return [dict(r) for r in answer]


@register("06.1", hint="`pg.temperature.value = 1.0`, `pg.seed.value = 42` (keep 'random' off), then `pg.run()` "
          "twice, then `answer = pg.history`. The check looks for two successful runs with temperature > 0, "
          "identical parameters and seed, and the same text: same seed + same parameters = same answer, even when "
          "sampling.",
          solution=[{"temperature": 1.0, "top_p": 1.0, "max_tokens": 40, "seed": 7, "system": None,
                     "prompt": "Hi", "text": "Hello there!", "error": None}] * 2,
          wrong=[{"temperature": 1.0, "top_p": 1.0, "max_tokens": 40, "seed": s, "system": None,
                  "prompt": "Hi", "text": t, "error": None} for s, t in ((1, "Hello!"), (2, "Hey you."))])
def _(answer):
    try:
        rows = _records(answer)
    except (TypeError, ValueError):
        return failed(f"give the playground's history (pg.history), not {type(answer).__name__}")
    keys = ("temperature", "top_p", "max_tokens", "seed", "system", "prompt")
    ok = [r for r in rows if isinstance(r, dict) and all(k in r for k in (*keys, "text"))
          and not r.get("error") and isinstance(r.get("text"), str)]
    if len(ok) < 2:
        return failed(f"the history has {len(ok)} successful run(s): run the playground at least twice.")
    sampled = [r for r in ok if (r["temperature"] or 0) > 0]
    if not sampled:
        return failed("every run used temperature 0 (greedy), which is reproducible anyway: raise the "
                      "temperature and reproduce a *sampled* answer.")
    groups: dict[tuple, set] = {}
    for r in sampled:
        groups.setdefault(tuple(str(r[k]) for k in keys), set()).add(r["text"])
    counts = {k: sum(1 for r in sampled if tuple(str(r[x]) for x in keys) == k) for k in groups}
    for k, texts in groups.items():
        if counts[k] >= 2 and len(texts) == 1:
            return passed(f"{counts[k]} runs at temperature {k[0]} with seed {k[3]} gave the same text: "
                          "the seed makes sampling reproducible.")
    return failed("no two runs with temperature > 0 share all parameters and the seed: set a fixed seed "
                  "(random off) and run twice without touching the sliders.")


LABEL_MAX_TOKENS_LIMIT = 32  # 07.1: the lesson itself labels with max_tokens=20 (LABEL_MAX_TOKENS)


@register("07.1", hint="Look at section 3: which temperature gave the same label for the same review every time? "
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


@register("08.1", hint="Count three parts: the system message (always sent), the kept exchanges (memory='window' "
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


# Exercise 08.2: the learner writes the chat loop; the check runs it live and reads what each request held.
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


@register("08.2", hint="Inside the loop: `messages.append({'role': 'user', 'content': text})`, then `reply = "
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


# --- exercise of lesson 09 ---

@register("09.1", hint="Each row of `df` has a `verdict`. Keep the rows whose verdict is not `'honoured'` (pandas "
          "boolean indexing, `df[df.verdict != ...]`) and take their `parameter` column as a list with `.tolist()`.",
          solution=["n"], wrong=[], needs=("probe",), given=lambda: {"probe": _example_probe()})
def _(answer, *, probe):
    """Compared with the probe table the lesson made (same samples), not with a new probe."""
    df = probe
    if isinstance(answer, str) or not isinstance(answer, (list, tuple, set)):
        return failed(f"give a list of parameter names, e.g. ['stop'], not {answer!r}")
    want = set(df.loc[df.verdict != "honoured", "parameter"])
    got = set(answer)
    if got == want:
        shown = ", ".join(f"{p} ({v})" for p, v in zip(df.parameter, df.verdict) if p in want) or "none"
        return passed(f"not honoured here: {shown}. Everything else took effect.")
    missing, extra = sorted(want - got), sorted(got - want)
    unknown = sorted(got - set(df.parameter))
    if unknown:
        return failed(f"{unknown} are not parameters the probe checks; use the names in the parameter column.")
    parts = ([f"{missing} are not honoured but missing from your list"] if missing else []) + (
        [f"{extra} were honoured"] if extra else [])
    return failed(f"not quite: {'; '.join(parts)}. Compare with the verdict column.")


def _example_probe():
    """A probe table like the lesson's, for the offline test of 09.1."""
    import pandas as pd

    verdicts = {"temperature": "honoured", "seed": "honoured", "n": "ignored", "top_logprobs": "honoured"}
    return pd.DataFrame({"parameter": list(verdicts), "verdict": list(verdicts.values())})
