"""The chat window over a `Chat`: transcript, input box, Send and Reset, the memory mode and token use.

Taught in notebooks/06_chatbot_with_memory.ipynb.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from .._frames import short
from ..chat import MEMORIES
from .base import CHAT_FALLBACK, RunPanel

if TYPE_CHECKING:
    from ..chat import Chat
    from ..client import Completion


CUT_NOTE = " ✂ <i>(cut at max_tokens: the reply did not end on its own)</i>"


def _turn(role: str, content: str, style: str = "", note: str = "") -> str:
    colour = "#0b5394" if role == "user" else "#38761d"
    return (f'<div style="{style};white-space:pre-wrap"><b style="color:{colour}">{role}</b>: '
            f"{html.escape(content)}{note}</div>")


def transcript_html(chat: Chat, cut: set[int] | frozenset[int] = frozenset(), pending: str | None = None,
                    partial: str | None = None) -> str:
    """The conversation as HTML; turns the memory left out of the last request are greyed and marked,
    replies cut by max_tokens (their indexes in `chat.history` in `cut`) end in ✂. `pending` is a user
    message on its way and `partial` the reply streaming in, shown before the turn is recorded."""
    sent = chat.sent_last()
    parts = []
    if chat.system:
        parts.append(f'<div style="color:#555"><b>system</b>: {html.escape(chat.system)}</div>')
    offset = 1 if chat.system else 0
    turns = chat.history[offset:]
    for i, (m, was_sent) in enumerate(zip(turns, sent)):
        faded = chat.last_sent is not None and not was_sent
        style = "opacity:0.45" if faded else ""
        note = (CUT_NOTE if i + offset in cut else "") + (" <i>(not sent last time)</i>" if faded else "")
        parts.append(_turn(m["role"], m["content"], style, note))
    if pending is not None:
        parts.append(_turn("user", pending))
        parts.append(_turn("assistant", partial or "", note="" if partial else " <i>…</i>"))
    return "".join(parts) or "<i>(no messages yet)</i>"


class ChatUI(RunPanel):
    """A chat window over a `Chat`: transcript, input box, Send and Reset, the memory mode and token use.

    `send()` (or `send_button.click()`) shows the message at once, sends it with `params` (e.g.
    max_tokens) and streams the reply into the transcript token by token; a reply cut by max_tokens is
    marked ✂. Taught in notebooks/06_chatbot_with_memory.ipynb.
    """

    fallback = CHAT_FALLBACK
    busy = "waiting for the reply…"

    def __init__(self, chat: Chat, **params: Any):
        super().__init__(W.Button(description="Send", button_style="primary", icon="paper-plane"))
        self.send_button = self.run_button
        self.chat = chat
        self.params = params
        self.transcript = W.HTML(layout=W.Layout(border="1px solid #ccc", padding="4px", min_height="4em"))
        self.input = W.Textarea(placeholder="Type a message", rows=2, layout=W.Layout(width="100%"))
        self.reset_button = W.Button(description="Reset", icon="trash")
        self.memory = W.Dropdown(options=list(MEMORIES), value=chat.memory, description="memory",
                                 layout=W.Layout(width="14em"))
        self.tokens = W.HTML()
        self.cut: set[int] = set()  # indexes in chat.history of replies cut by max_tokens
        self._pending: str | None = None
        self._pieces: list[str] = []
        self.reset_button.on_click(lambda _: self.reset())
        self.memory.observe(self._on_memory, "value")
        self._build([self.transcript, self.input,
                     W.HBox([self.send_button, self.reset_button, self.memory, self.tokens]), self.status])
        self.refresh()

    def summary(self) -> str:
        lines = [f"Chat (memory={self.chat.memory!r}): {self.token_text()}"]
        lines += [f"{m['role']}: {short(m['content'], 80)}{' ✂ (cut at max_tokens)' if i in self.cut else ''}"
                  for i, m in enumerate(self.chat.history)]
        return "\n".join(lines)

    def token_text(self) -> str:
        n = len(self.chat.history)
        text = f"history: {n} message{'s' * (n != 1)}, ~{self.chat.token_count()} tokens"
        if self.chat.last_sent is not None:
            reported = self.chat.last.prompt_tokens if self.chat.last else None
            text += f" · last request sent {len(self.chat.last_sent)} messages"
            if reported:
                text += f" ({reported} prompt tokens, reported by the server)"
        return text

    def refresh(self) -> None:
        partial = "".join(self._pieces)
        self.transcript.value = transcript_html(self.chat, self.cut, self._pending, partial)
        self.tokens.value = html.escape(self.token_text())

    def _on_memory(self, change: dict) -> None:
        self.chat.memory = change["new"]
        self.refresh()

    def send(self) -> Completion | None:
        """Send the input box's text; on success clear the box and show the reply. None if it failed."""
        return self.run()

    def _refuse(self) -> str | None:
        return None if self.input.value.strip() else "Type a message first."

    def _start(self) -> None:
        self._pending, self._pieces = self.input.value, []
        self.refresh()  # the learner's message shows at once, before the reply starts

    def _on_token(self, piece: str) -> None:
        self._pieces.append(piece)
        self.refresh()

    def _work(self) -> Completion:
        reply = self.chat.send(self.input.value, on_token=self._on_token, **self.params)
        self.input.value = ""
        if reply.finish_reason == "length":
            self.cut.add(len(self.chat.history) - 1)
        return reply

    def _ok(self, reply: Completion) -> str:
        if reply.finish_reason == "length":
            return (f"✂ the reply was cut at max_tokens={reply.completion_tokens}: raise max_tokens "
                    "(chat_ui(chat, max_tokens=...)) for whole replies")
        return ""

    def _finish(self) -> None:
        self._pending, self._pieces = None, []
        self.refresh()

    def reset(self) -> None:
        """Forget the conversation (the system message stays)."""
        self.chat.reset()
        self.cut.clear()
        self.status.value = ""
        self.refresh()


def chat_ui(chat: Chat, **params: Any) -> ChatUI:
    """A chat window over `chat`; `params` (e.g. max_tokens=60) are sent with every message.

    Taught in notebooks/06_chatbot_with_memory.ipynb.
    """
    return ChatUI(chat, **params)
