"""`Chat`: a chatbot whose memory is nothing but the message list it sends with every request.

The model remembers nothing between requests: each `send` re-sends the conversation so far. The
memory strategy decides which earlier turns go along:

- "full":   every earlier turn (the request grows until the context is full);
- "window": the last `max_turns` exchanges (user + assistant pairs);
- "tokens": as many of the newest exchanges as fit a token budget (oldest dropped first);
- "none":   no earlier turns, only the latest user message (the model "forgets" at once).

The system message is always sent and never dropped. A reproducible reply (temperature 0, or a seed) is
kept in the lab's response cache, as a sweep's rows are, so a re-run conversation is read back, not sent
again. Taught in notebooks/06_chatbot_with_memory.ipynb.

`refers_to_earlier(text)` finds where an answer speaks of a conversation that came before it ("here are
some more", "as I said"): a small model invents one, and a learner can take it for server memory.
Taught in notebooks/00_setup_and_first_request.ipynb.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .client.cache import Cache
from .client.request import messages_from
from .errors import ContextTooLong, ParameterError
from .params import check_all, choice, integer, shown

if TYPE_CHECKING:
    from .client.lab import Completion, Lab

MEMORIES = ("full", "window", "tokens", "none")
CHARS_PER_TOKEN = 4.0  # rule of thumb for English text with BPE tokenizers
TOKENS_PER_MESSAGE = 4  # role markers the chat template wraps around each message
TOKENS_PER_REQUEST = 3  # the assistant header that primes the reply
DEFAULT_WINDOW = 3  # exchanges kept by memory="window" when max_turns is not given
DEFAULT_REPLY_RESERVE = 256  # tokens kept free for the reply by memory="tokens" when max_tokens is not set
CONTEXT_MARGIN = 0.05  # share of the context memory="tokens" leaves free for estimation error
MIN_BUDGET = TOKENS_PER_REQUEST + TOKENS_PER_MESSAGE + 1  # the smallest request: one one-token message
MAX_COUNT = 10**9  # the upper bound of max_turns and max_tokens_history
EMPTY_REPLY = "(empty reply)"  # stored instead of "" (the API rejects empty message content)


# Words with which an answer speaks of an earlier conversation (lesson 00 checks every answer it prints)
EARLIER = re.compile(r"\b(as i (said|mentioned)|mentioned (earlier|before|above)|(add|here are|some|a few) more"
                     r"|add(ed|ing)? (\w+ ){0,3}to the list|additional|previous(ly)?|earlier|once again)\b", re.I)


def refers_to_earlier(text: str) -> str | None:
    """The words with which `text` refers to an earlier conversation (e.g. 'additional', 'here are some
    more', 'as I mentioned'), or None. The request holds only the messages sent, and the server keeps
    nothing between requests, so such a reference is invented by the model, never remembered."""
    found = EARLIER.search(text or "")
    return found.group(0) if found else None


def memory_sent(sent: list[dict], fact: str) -> bool:
    """Did a request carry `fact` (case-insensitive) in a message BEFORE its new one, i.e. as memory?
    `sent` is what went out: `chat.last_sent`, or `completion.messages`. Taught in
    notebooks/06_chatbot_with_memory.ipynb."""
    return any(fact.lower() in str(m.get("content", "")).lower() for m in sent[:-1])


def recall(sent: list[dict], reply: str, fact: str) -> str:
    """One line that tells "memory not sent" from "model too small" when a chatbot is asked for `fact`:
    whether the request carried it (`memory_sent`) and whether the reply used it. Taught in
    notebooks/06_chatbot_with_memory.ipynb."""
    held, used = memory_sent(sent, fact), fact.lower() in (reply or "").lower()
    if not held:
        return (f"{fact!r} was not in the request ({len(sent)} messages sent): the memory did not send it, so "
                "no model could answer from it" + (" (the reply names it by chance)" if used else ""))
    if used:
        return f"{fact!r} was in the request ({len(sent)} messages sent) and the reply used it: recalled"
    return (f"{fact!r} was in the request ({len(sent)} messages sent) but the reply missed it: the memory worked, "
            "the model did not use it (a 135M model often misses; a larger one, lesson 13, usually answers)")


def estimate_tokens(messages: list[dict]) -> int:
    """A rough, tokenizer-free estimate of the prompt tokens of `messages`.

    ceil(len(content) / 4) per message plus 4 tokens of template markers per message plus 3 for the
    reply header. It is an approximation (real counts depend on the tokenizer and the chat template);
    `Chat` corrects it with the `prompt_tokens` the server reports.
    """
    return TOKENS_PER_REQUEST + sum(
        TOKENS_PER_MESSAGE + math.ceil(len(m["content"]) / CHARS_PER_TOKEN) for m in messages)


class Chat:
    """A conversation with memory: `send(text)` sends the kept history plus `text` and records the reply.

    >>> chat = Chat(lab, system="Answer in one sentence.", memory="window", max_turns=2)  # doctest: +SKIP
    >>> chat.send("My name is Ada.", max_tokens=30).text                                  # doctest: +SKIP

    `history` holds every message (system first, then user/assistant turns; replies are stored with
    role "assistant", never "user"). `last_sent` is the exact message list of the last request, so a
    lesson can show what the memory kept. `**params` (temperature, top_p, max_tokens, seed, stop) are
    defaults for every `send`, validated by labutils.params.

    Token counts: before sending, the prompt size is *estimated* with `estimate_tokens` (chars / 4 plus
    template overhead) and then *calibrated*: after each reply that reports usage (non-streamed
    requests do; streamed ones from llama.cpp do not), the gap between the server's `prompt_tokens`
    and the estimate of the same messages is stored in `calibration` and added to later estimates.
    Estimates can still be off by a few tokens, so "tokens" memory leaves 5% of the context free;
    "full" and "window" refuse only requests whose estimate already exceeds the context.

    `cache`: with True (the default) a reproducible request (temperature 0, or a seed) that is not streamed
    is answered from the lab's response cache (the one sweeps use, `LAB_CACHE_DIR`) and stored there, under
    the same key and rule as every request of the lab, so re-running a conversation sends nothing; an
    unseeded draw at temperature > 0 and a streamed reply (`on_token`) are always sent. False sends every
    request; a `labutils.client.Cache` uses that one.
    Taught in notebooks/06_chatbot_with_memory.ipynb.
    """

    def __init__(self, lab: Lab, system: str | None = None, memory: str = "full", max_turns: int | None = None,
                 max_tokens_history: int | None = None, cache: bool | Cache = True, **params: Any):
        from .client.lab import Lab

        if not isinstance(lab, Lab):
            raise ParameterError(f"lab={shown(lab)} is not allowed: pass the connected lab, e.g. "
                                 "Chat(labutils.connect())")
        if not isinstance(cache, bool) and not (hasattr(cache, "get") and hasattr(cache, "put")):
            raise ParameterError(f"cache={shown(cache)} is not allowed: cache must be True (the lab's response "
                                 "cache), False (send every request) or a labutils.client.Cache")
        self.lab = lab
        self.cache = cache
        self.system = messages_from("x", system)[0]["content"] if system is not None else None
        self.memory = memory
        self.max_turns = integer("max_turns", max_turns, 0, MAX_COUNT, optional=True)
        self.max_tokens_history = integer("max_tokens_history", max_tokens_history, 1, MAX_COUNT, optional=True)
        self.params = check_all(params, max_tokens_limit=lab.context_length)
        self.calibration = 0  # server prompt_tokens minus our estimate, from the last reply with usage
        self.last: Completion | None = None
        self.last_sent: list[dict] | None = None
        self._turns: list[dict] = []
        if memory == "tokens":
            self._budget(self.params)  # fail now, not at the first send, when no budget is known

    @property
    def memory(self) -> str:
        return self._memory

    @memory.setter
    def memory(self, value: str) -> None:
        self._memory = choice("memory", value, MEMORIES)

    def __repr__(self) -> str:
        return (f"Chat(memory={self.memory!r}, {len(self._turns) // 2} exchanges, "
                f"~{self.token_count()} tokens of history)")

    @property
    def history(self) -> list[dict]:
        """Every message so far (a copy): the system message, then alternating user/assistant turns."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [dict(m) for m in self._turns]

    @property
    def exchanges(self) -> list[tuple[dict, dict]]:
        """The finished (user, assistant) pairs, oldest first."""
        return [(self._turns[i], self._turns[i + 1]) for i in range(0, len(self._turns) - 1, 2)]

    def sent_last(self) -> list[bool]:
        """For each turn of `history` after the system message: was it in the last request?

        The kept turns are always the newest exchanges before the latest one, so they are counted from
        the end of the request. All False before the first request.
        """
        turns = len(self._turns)
        if self.last_sent is None:
            return [False] * turns
        kept_before = max(0, len(self.last_sent) - int(bool(self.system)) - 1)
        first = turns - 2 - kept_before
        return [i >= first for i in range(turns)]

    def reset(self) -> None:
        """Forget every turn; the system message, the defaults and the calibration stay."""
        self._turns.clear()
        self.last = None
        self.last_sent = None

    def estimate(self, messages: list[dict]) -> int:
        """Estimated prompt tokens of `messages`: `estimate_tokens` plus the calibration from usage."""
        return max(1, estimate_tokens(messages) + self.calibration)

    def token_count(self) -> int:
        """Estimated tokens the whole history would take as a prompt (what memory="full" sends next)."""
        history = self.history
        return self.estimate(history) if history else 0

    def _budget(self, params: dict) -> int | None:
        """Most prompt tokens a request may use: max_tokens_history, and the context minus the reply
        (max_tokens, else up to 256 tokens) minus a 5% margin for the estimate's error."""
        context = self.lab.context_length
        limits = [self.max_tokens_history] if self.max_tokens_history else []
        if context:
            reply = params.get("max_tokens") or min(DEFAULT_REPLY_RESERVE, context // 4)
            limits.append(context - reply - int(context * CONTEXT_MARGIN))
        if self.memory == "tokens" and not limits:
            raise ParameterError("memory='tokens' needs max_tokens_history=... because the model's context "
                                 "length is unknown (set LAB_CONTEXT_LENGTH or pass max_tokens_history)")
        if context and limits[-1] < MIN_BUDGET:
            reply = params.get("max_tokens") or min(DEFAULT_REPLY_RESERVE, context // 4)
            margin = int(context * CONTEXT_MARGIN)
            raise ParameterError(f"max_tokens={reply} leaves memory='tokens' no room for the conversation: the "
                                 f"model's context holds {context} tokens, the reply may take {reply} and {margin} "
                                 f"are kept free for the estimate's error, which leaves {limits[-1]} (at least "
                                 f"{MIN_BUDGET} are needed). Use max_tokens <= {context - margin - MIN_BUDGET}, or "
                                 "another memory.")
        return min(limits) if limits else None

    def messages_for(self, text: str, **params: Any) -> list[dict]:
        """The messages `send(text, **params)` would send, after the memory strategy; nothing is sent.

        Raises ContextTooLong when even the system message plus `text` cannot fit.
        """
        if not isinstance(text, str) or not text.strip():
            raise ParameterError(f"text={shown(text)} is not allowed: send one user message as a non-empty string. "
                                 "A Chat keeps its own history (system message, then user/assistant turns); to send a "
                                 "whole message list of your own, use lab.chat(messages)")
        sent = check_all({**self.params, **params}, max_tokens_limit=self.lab.context_length)
        new = messages_from(text)
        head = [{"role": "system", "content": self.system}] if self.system else []
        pairs = self.exchanges
        if self.memory == "none":
            pairs = []
        elif self.memory == "window":
            keep = DEFAULT_WINDOW if self.max_turns is None else self.max_turns
            pairs = pairs[len(pairs) - keep:] if keep else []
        context = self.lab.context_length
        if self.memory == "tokens":
            budget = self._budget(sent)
            kept: list[tuple[dict, dict]] = []
            for pair in reversed(pairs):  # newest first; stop at the first exchange that does not fit
                if self.estimate([*head, *pair, *(m for p in kept for m in p), *new]) > budget:
                    break
                kept.insert(0, pair)
            pairs = kept
            messages = [*head, *(m for p in pairs for m in p), *new]
            need = self.estimate(messages)
            if need > budget:
                raise ContextTooLong(f"this message needs ~{need} prompt tokens with the system message alone, "
                                     f"more than the budget of {budget} tokens (max_tokens_history="
                                     f"{self.max_tokens_history}, context {context}, minus room for the "
                                     "reply). Shorten the message or the system prompt, or raise the budget.")
            return [dict(m) for m in messages]
        messages = [*head, *(m for p in pairs for m in p), *new]
        need = self.estimate(messages) + (sent.get("max_tokens") or 1)
        if context and need > context:
            raise ContextTooLong(f"memory={self.memory!r} would send ~{self.estimate(messages)} prompt tokens "
                                 f"(+ {sent.get('max_tokens') or 1} for the reply) but the model's context "
                                 f"holds {context}. Use memory='tokens' or 'window', call reset(), or send "
                                 "a shorter message.")
        return [dict(m) for m in messages]

    def _store(self, on_token: Callable[[str], None] | None) -> Cache | None:
        """The cache this send reads and fills (Lab.send applies the rule: reproducible requests only)."""
        if self.cache is True:
            return None if on_token is not None else Cache()  # a streamed reply is watched as it comes
        return None if self.cache is False else self.cache

    def send(self, text: str, *, on_token: Callable[[str], None] | None = None, **params: Any) -> Completion:
        """Send `text` with the remembered turns; record both turns and return the reply (a Completion).

        `text` is one user message (a string): a list of messages is refused, because the Chat's memory, not
        the caller, decides which earlier turns go along (use `lab.chat(messages)` to send a list as it is).
        If the request fails, nothing is recorded, so the conversation can simply be retried.
        """
        messages = self.messages_for(text, **params)
        store = self._store(on_token)
        try:
            reply = self.lab.send(messages, {**self.params, **params}, on_token=on_token, cache=store)
        finally:
            if store is not None and store is not self.cache:  # one this send opened (cache=True), not the caller's
                store.close()
        if reply.prompt_tokens:
            self.calibration += reply.prompt_tokens - self.estimate(messages)
        self._turns.append({"role": "user", "content": messages[-1]["content"]})
        self._turns.append({"role": "assistant", "content": reply.text if reply.text.strip() else EMPTY_REPLY})
        self.last, self.last_sent = reply, messages
        return reply
