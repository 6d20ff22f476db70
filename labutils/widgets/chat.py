"""The chat window over a `Chat`: transcript, input box, Send and Reset, the memory mode and token use.

Taught in notebooks/08_chatbot_with_memory.ipynb.
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


def transcript_html(chat: Chat) -> str:
    """The conversation as HTML; turns the memory left out of the last request are greyed and marked."""
    sent = chat.sent_last()
    parts = []
    if chat.system:
        parts.append(f'<div style="color:#555"><b>system</b>: {html.escape(chat.system)}</div>')
    turns = chat.history[1:] if chat.system else chat.history
    for m, was_sent in zip(turns, sent):
        faded = chat.last_sent is not None and not was_sent
        style = "opacity:0.45" if faded else ""
        note = " <i>(not sent last time)</i>" if faded else ""
        colour = "#0b5394" if m["role"] == "user" else "#38761d"
        parts.append(f'<div style="{style};white-space:pre-wrap"><b style="color:{colour}">{m["role"]}</b>: '
                     f"{html.escape(m['content'])}{note}</div>")
    return "".join(parts) or "<i>(no messages yet)</i>"


class ChatUI(RunPanel):
    """A chat window over a `Chat`: transcript, input box, Send and Reset, the memory mode and token use.

    `send()` (or `send_button.click()`) sends `input.value` with `params` (e.g. max_tokens) and shows
    the reply. Taught in notebooks/08_chatbot_with_memory.ipynb.
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
        self.reset_button.on_click(lambda _: self.reset())
        self.memory.observe(self._on_memory, "value")
        self._build([self.transcript, self.input,
                     W.HBox([self.send_button, self.reset_button, self.memory, self.tokens]), self.status])
        self.refresh()

    def summary(self) -> str:
        lines = [f"Chat (memory={self.chat.memory!r}): {self.token_text()}"]
        lines += [f"{m['role']}: {short(m['content'], 80)}" for m in self.chat.history]
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
        self.transcript.value = transcript_html(self.chat)
        self.tokens.value = html.escape(self.token_text())

    def _on_memory(self, change: dict) -> None:
        self.chat.memory = change["new"]
        self.refresh()

    def send(self) -> Completion | None:
        """Send the input box's text; on success clear the box and show the reply. None if it failed."""
        return self.run()

    def _refuse(self) -> str | None:
        return None if self.input.value.strip() else "Type a message first."

    def _work(self) -> Completion:
        reply = self.chat.send(self.input.value, **self.params)
        self.input.value = ""
        return reply

    def _finish(self) -> None:
        self.refresh()

    def reset(self) -> None:
        """Forget the conversation (the system message stays)."""
        self.chat.reset()
        self.status.value = ""
        self.refresh()


def chat_ui(chat: Chat, **params: Any) -> ChatUI:
    """A chat window over `chat`; `params` (e.g. max_tokens=60) are sent with every message.

    Taught in notebooks/08_chatbot_with_memory.ipynb.
    """
    return ChatUI(chat, **params)
