"""Write tests/data/runs.jsonl: the `runs` of a small sweep, built with the lab's own schema.

The answers imitate what SmolLM2-135M-Instruct gives the embedded stack for PROMPT (greedy answers repeat
across seeds and top_p; sampled ones vary; a shorter max_tokens cuts the same answer earlier), with token
counts, finish reasons and latencies consistent with each other. Rows are built with `labutils.runs.row`
and saved with `labutils.export.save`, so the file has the shape of a real sweep.

    .venv/bin/python tests/data/make_runs.py
"""

from __future__ import annotations

import re
from pathlib import Path

from labutils import Completion, Grid, runs
from labutils.views import export

PROMPT = "Name one colour and one animal."
MESSAGES = [{"role": "user", "content": PROMPT}]
GREEDY = "Blue and a cat."
SAMPLED = {  # (top_p, sample) -> the answer at temperature 1
    (0.5, 0): "Blue and a cat.",
    (0.5, 1): "Blue and a dog.",
    (1.0, 0): "Green, and my favourite animal is the elephant because it is so big and gentle.",
    (1.0, 1): "Red! An animal I like is the fox, which lives in forests and hunts at night.",
}


def tokens(text: str) -> list[str]:
    """A word-and-punctuation split standing in for the tokenizer (one piece per token)."""
    return re.findall(r"\s?\w+|\s?[^\w\s]", text)


def answer(cell) -> Completion:
    full = GREEDY if cell.temperature == 0 else SAMPLED[(cell.top_p, cell.sample)]
    pieces = tokens(full)
    cut = len(pieces) > cell.max_tokens
    pieces = pieces[: cell.max_tokens]
    n = len(pieces)
    latency = round(0.045 + 0.021 * n + 0.003 * cell.sample, 4)
    return Completion(text="".join(pieces), finish_reason="length" if cut else "stop", prompt_tokens=36,
                      completion_tokens=n, latency_s=latency, model="llama-cpp/smollm2-135m-instruct",
                      messages=MESSAGES, params=cell.params())


def build():
    grid = Grid(temperature=[0, 1], top_p=[0.5, 1], max_tokens=[8, 16], samples=2)
    rows = [runs.row(cell, answer(cell)) for cell in grid]
    return runs.frame(rows, model="llama-cpp/smollm2-135m-instruct", base_url="http://127.0.0.1:8321",
                      messages=MESSAGES, stop=None)


if __name__ == "__main__":
    path = export.save(build(), Path(__file__).with_name("runs.jsonl"))
    print(f"wrote {path}")
