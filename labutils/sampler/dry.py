"""DRY (Don't Repeat Yourself), the second stage of llama-server's chain: the repeats it finds in the text
seen so far and what it subtracts from the tokens that would extend them, as llama.cpp's
`llama_sampler_dry_apply` (src/llama-sampler.cpp). `labutils.sampler.chain` explains the stage; the
prompt's tokens come from the engine (`labutils.sampler.prompt_tokens`). Taught in
notebooks/10_sampler_chain.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..params import PARAMS

BREAKERS = PARAMS["dry_sequence_breakers"].default  # llama.cpp's default dry_sequence_breakers
DRY = {n: p.default for n, p in PARAMS.items() if p.stage == "dry"}  # DRY's settings at llama-server's defaults: off
# llama.cpp's limits on sequence breakers (characters of a breaker, tokens of its tail), and the
# exponent cap that keeps multiplier x base^exponent a finite float (log of the largest float32)
BREAKER_CHARS, BREAKER_TAIL, FLOAT_MAX_LOG = 40, 20, 88.7228391


@dataclass(frozen=True)
class Context:
    """The tokens the samplers have seen before the answer's first token, oldest first: llama-server feeds
    them the whole prompt, chat template included (`labutils.sampler.prompt_tokens` reads them from
    the engine). `tokenize` is the engine's tokenizer (text -> token pieces, no special tokens), needed
    only for a sequence breaker that can begin inside a token and go on in the next ones."""

    tokens: tuple[str, ...]
    tokenize: Callable[[str], Sequence[str]] | None = field(default=None, compare=False)
    _tails: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)  # text -> tokens

    def breaker_tails(self, piece: str, breakers: Sequence[str]) -> list[tuple[str, ...]]:
        """The sequence breakers that begin with the token `piece`, as llama.cpp's
        `get_overlapping_token_sequences` builds them: () when the piece holds a whole breaker (a one-token
        breaker), else, for each place where the piece ENDS with the beginning of a breaker, the tokens of
        the rest of it (at most 20).

        >>> Context(()).breaker_tails("a:b", BREAKERS)
        [()]
        """
        tails: list[tuple[str, ...]] = []
        for breaker in (b[:BREAKER_CHARS] for b in breakers):
            if breaker in piece:
                tails.append(())
                continue
            pos = piece.find(breaker[0])
            while pos != -1:
                if breaker.startswith(piece[pos:]):  # the piece's end is the breaker's beginning
                    if self.tokenize is None:
                        raise ParameterError(f"the sequence breaker {breaker!r} can begin inside the token {piece!r}: "
                                         "the engine's tokenizer is needed to read the rest of it (Context.tokenize)")
                    rest = breaker[len(piece) - pos:]
                    if rest not in self._tails:  # asked once: a chain is re-run for every cell and fit
                        self._tails[rest] = tuple(self.tokenize(rest))[:BREAKER_TAIL]
                    tail = self._tails[rest]
                    if tail not in tails:
                        tails.append(tail)
                pos = piece.find(breaker[0], pos + 1)
        return tails


@dataclass
class DryScan:
    """What DRY sees before the next token: the `window` it searches (the last dry_penalty_last_n tokens);
    `limit`, how far back a repeat may reach (up to the nearest sequence breaker, the whole window when
    none lies in it); the `breaker` found there (the tokens after it, the token it begins at); `repeats`,
    token -> the length of the longest repeat (at least dry_allowed_length) it would extend; and
    `targets`, those of them DRY penalises (a token holding a whole breaker never is). Built by `dry_scan`."""

    window: tuple[str, ...]
    allowed_length: int
    breakers: tuple[str, ...]
    limit: int
    breaker: tuple[int, str] | None = None  # (tokens after it, the token it begins at), the nearest breaker
    repeats: dict[str, int] = field(default_factory=dict)

    @property
    def targets(self) -> dict[str, int]:
        return {t: n for t, n in self.repeats.items() if not holds_breaker(t, self.breakers)}

    def explain(self) -> str:
        """Why DRY penalises what it does, in one sentence."""
        a = self.allowed_length
        head = f"DRY searches the last {len(self.window)} token(s)"
        if len(self.window) <= a:
            return f"{head}, not more than dry_allowed_length={a}: DRY penalises nothing here."
        if self.breaker is None:
            head += "; no sequence breaker lies in them, so a repeat may reach back through all of them"
        else:
            after, token = self.breaker
            head += (f"; the nearest sequence breaker begins at {token!r}"
                     + (", the last token" if after == 0 else f", followed by {after} token(s)")
                     + f", so a repeat may be at most {self.limit} token(s) long")
        if self.limit < a:
            return f"{head}, less than dry_allowed_length={a}: DRY penalises nothing here."
        targets = sorted(self.targets.items(), key=lambda kv: -kv[1])
        if not targets:
            return f"{head}; no token would extend a repeat of {a} or more tokens, so DRY penalises nothing here."
        found = ", ".join(f"{t!r} (would extend a repeat of {n})" for t, n in targets[:5])
        more = f" and {len(targets) - 5} more" if len(targets) > 5 else ""
        return f"{head}. The tokens it penalises: {found}{more}."


def dry_scan(context: Context, allowed_length: int, last_n: int, breakers: Sequence[str] = BREAKERS) -> DryScan:
    """DRY's search of the context, as llama.cpp's `llama_sampler_dry_apply` (src/llama-sampler.cpp):
    1. from the end backwards, the first token that begins a complete sequence breaker sets the limit of
       a repeat's length (the tokens after the breaker);
    2. for each earlier position k, the length of the longest run ending there that equals the context's
       own ending (capped at the limit; llama.cpp computes these with the Z-algorithm);
    3. the token that FOLLOWED such a run would extend the repeat: it is penalised when the run is at
       least `allowed_length` long (the longest run counts).

    >>> dry_scan(Context(tuple("abcxab")), 2, 64).repeats  # 'a b' repeats; 'c' followed it
    {'c': 2}
    """
    window = tuple(context.tokens[-last_n:]) if last_n > 0 else ()
    n, rev = len(window), window[::-1]
    scan = DryScan(window, allowed_length, tuple(breakers), n)
    if n <= allowed_length:
        return scan
    for i, piece in enumerate(rev):
        longest = -1
        for tail in context.breaker_tails(piece, breakers):
            # a breaker's tail is the tokens after its head: rev[i - 1], rev[i - 2], ...
            if longest < len(tail) <= i and all(tail[o] == rev[i - o - 1] for o in range(len(tail))):
                longest = len(tail)
        if longest >= 0:
            scan.limit, scan.breaker = i - longest, (i, piece)
            break
    if scan.limit < allowed_length:
        return scan
    for k in range(1, n):
        run = 0
        while k + run < n and rev[run] == rev[k + run]:
            run += 1
        run = min(run, scan.limit)
        if run >= allowed_length:
            token = rev[k - 1]
            scan.repeats[token] = max(scan.repeats.get(token, 0), run)
    return scan


def dry_penalty(length: int, multiplier: float, base: float, allowed_length: int) -> float:
    """What DRY subtracts from the logit of a token that would extend a repeat of `length` tokens:
    multiplier x base^(length - allowed_length), the exponent capped so the result stays a finite float.

    >>> round(dry_penalty(5, 0.8, 1.75, 2), 4)
    4.2875
    """
    exponent = length - allowed_length
    cap = int(np.float32(FLOAT_MAX_LOG) / np.float32(math.log(base))) if base > 1.000001 else 0
    if cap > 0 and exponent > cap:
        exponent = cap
    return float(multiplier) * float(base) ** exponent


def holds_breaker(token: str, breakers: Sequence[str]) -> bool:
    """Does the token hold a whole sequence breaker (then DRY never penalises it)?"""
    return any(b[:BREAKER_CHARS] in token for b in breakers)


def dry(logits: np.ndarray, tokens: Sequence[str], scan: DryScan, multiplier: float, base: float) -> np.ndarray:
    """The logits after DRY: each of the scan's targets (a token that would extend a repeat and holds no
    sequence breaker) loses `dry_penalty` of its repeat's length; the others keep theirs."""
    out = np.asarray(logits, dtype=float).copy()
    targets = scan.targets
    for i, t in enumerate(tokens):
        if t in targets:
            out[i] -= dry_penalty(targets[t], multiplier, base, scan.allowed_length)
    return out


def dry_on(settings: dict[str, Any]) -> bool:
    """Does DRY do anything with these settings (multiplier not 0, base >= 1, a window to search)?"""
    s = {**DRY, **{k: v for k, v in settings.items() if v is not None}}
    return float(s["dry_multiplier"]) != 0 and float(s["dry_base"]) >= 1 and int(s["dry_penalty_last_n"]) != 0


__all__ = ["BREAKERS", "DRY", "Context", "DryScan", "dry", "dry_on", "dry_penalty", "dry_scan", "holds_breaker"]
