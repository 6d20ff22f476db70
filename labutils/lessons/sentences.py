"""The results of `labutils.evidence` and the one sentence each prints: `Count` (one request's answers counted)
and `Evidence` (B against A on the same seeds). Pure: built by `evidence.count`, `evidence.compare` and
`evidence.judge`; nothing here sends a request. Taught in notebooks/01_messages_and_roles.ipynb (how to read
the numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..intervals import CANT_TELL, LEVEL, MIN_PAIRS, signed


@dataclass
class Count:
    """How often (or how much) one request's answers show a measure over seeded samples; `str()` is the sentence."""

    what: str
    values: list[float]
    share: bool
    lo: float
    hi: float
    answers: pd.DataFrame = field(repr=False)
    failed: str = ""
    level: float = LEVEL

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def k(self) -> int:
        """Answers that pass (a True/False measure); for a number, the answers above 0."""
        return int(sum(v > 0 for v in self.values))

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def sentence(self) -> str:
        if not self.n:
            return f"{self.what}: no answer came back{self.failed}, so there is nothing to count"
        if self.share:
            line = (f"{self.what}: {self.k} of {self.n} answers{self.failed}; the share this request gets is likely "
                    f"between {self.lo:.2f} and {self.hi:.2f} ({self.level:.0%} interval)")
            if self.k == self.n:
                return line + (f"; {self.n} of {self.n} cannot rule out a share as low as {self.lo:.2f}: "
                               "more samples raise it")
            if self.k == 0:
                return line + (f"; 0 of {self.n} cannot rule out a share as high as {self.hi:.2f}: "
                               "more samples lower it")
            return line
        if self.n < 2 or math.isnan(self.lo):
            return f"{self.what}: {self.mean:.3g} on average over {self.n} answer(s){self.failed}: {CANT_TELL}"
        if self.lo == self.hi:
            return (f"{self.what}: {self.mean:.3g} in every one of the {self.n} answers{self.failed}; no spread to "
                    "give a range from, so raise SAMPLES before trusting it")
        return (f"{self.what}: {self.mean:.3g} on average over {self.n} answers{self.failed}, likely between "
                f"{self.lo:.3g} and {self.hi:.3g} ({self.level:.0%} interval)")

    def __repr__(self) -> str:
        return self.sentence

    __str__ = __repr__


@dataclass
class Evidence:
    """B against A on the same seeds: both sides, the difference B - A, its range and its verdict."""

    what: str
    names: tuple[str, str]
    a: float
    b: float
    diff: float
    lo: float
    hi: float
    n: int
    share: bool
    verdict: str
    answers: pd.DataFrame = field(repr=False)
    note: str = ""
    failed: str = ""
    counts: tuple[str, str] = ("", "")
    level: float = LEVEL
    more_helps: bool = True  # False when every sample of each side gave one and the same answer: more won't help

    @property
    def sentence(self) -> str:
        name_a, name_b = self.names
        if self.share:
            sides = f"{self.counts[1]} with {name_b}, {self.counts[0]} with {name_a}"
        else:
            sides = f"{self.b:.3g} with {name_b}, {self.a:.3g} with {name_a}"
        head = f"{self.what}: {sides} (the same {self.n} seeds{self.failed})"
        if self.verdict == CANT_TELL:
            why = self.note or f"{self.n} samples per side are too few to judge (at least {MIN_PAIRS} are needed)"
            if not self.more_helps:
                return f"{head}. {why}: can't tell yet, and more samples would only repeat them."
            return f"{head}. {why}: can't tell yet, raise SAMPLES."
        where = "includes 0" if self.lo <= 0 <= self.hi else "all above 0" if self.lo > 0 else "all below 0"
        rng = (f"difference {signed(self.diff)}, likely between {signed(self.lo)} and {signed(self.hi)} "
               f"({self.level:.0%} interval, {where}{self.note})")
        if self.verdict == "no clear difference":
            return f"{head}; {rng}: no clear difference, these samples cannot tell the two apart."
        return f"{head}; {rng}: {self.verdict} with {name_b}."

    def __repr__(self) -> str:
        return self.sentence

    __str__ = __repr__


__all__ = ["Count", "Evidence"]
