"""`Completion`: one answer of the lab, the record every view reads (a `runs` row, the cache, the panels).

Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Completion:
    """One answer with what it cost: text, finish_reason, token counts, latency and the params sent.

    finish_reason is the engine's ("stop", "length"), except "context_length": prompt and answer filled the
    model's context before max_tokens was reached (the engine says "length" for that too).

    Taught in notebooks/00_setup_and_first_request.ipynb.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    model: str
    messages: list[dict]
    params: dict[str, Any]
    logprobs: list[dict] | None = None
    choices: int = 1
    raw: Any = field(default=None, repr=False)
    cached: bool = False
    response_id: str | None = None  # the Responses API's id of the answer (Lab.respond), for previous_response_id
    surface: str = "chat"  # which API answered: "chat" (chat.completions) or "responses"

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second of wall-clock latency."""
        if not self.completion_tokens or not self.latency_s:
            return None
        return self.completion_tokens / self.latency_s

    def to_record(self) -> dict[str, Any]:
        """The JSON-safe fields (no raw response) stored in the cache and in `runs` rows."""
        record = {"text": self.text, "finish_reason": self.finish_reason, "prompt_tokens": self.prompt_tokens,
                  "completion_tokens": self.completion_tokens, "latency_s": self.latency_s, "model": self.model,
                  "messages": self.messages, "params": self.params, "logprobs": self.logprobs,
                  "choices": self.choices}
        if self.surface != "chat":  # a chat answer's record stays as it always was
            record.update(surface=self.surface, response_id=self.response_id)
        return record

    def _repr_markdown_(self) -> str:
        sent = ", ".join(f"{k}={v!r}" for k, v in self.params.items()) or "server defaults"
        tps = f"{self.tokens_per_s:.0f} tok/s" if self.tokens_per_s else "-"
        return (f"{self.text}\n\n---\n*finish_reason* `{self.finish_reason}` · *tokens* "
                f"{self.prompt_tokens} in / {self.completion_tokens} out · {self.latency_s:.2f} s ({tps})"
                f"{' · cached' if self.cached else ''} · *sent* {sent}")
