"""Evidence in one call: send a request many times on fixed seeds, measure every answer, say it in one sentence.

A core lesson shows the raw request, then hands it to this module, which sends the samples (seed i is the
same for both sides, so A and B differ only in what the lesson changed), measures each answer and prints one
plain sentence with its uncertainty. The machinery (grid, pairing, resampling, odd bounds) stays here.

    from labutils import evidence

    no_system = {"messages": [{"role": "user", "content": "Name an animal."}], "temperature": 0.7}
    system = {**no_system, "messages": [{"role": "system", "content": "Answer with one word only."},
                                        *no_system["messages"]]}
    result = evidence.compare(lab, no_system, system, evidence.one_word, samples=8,
                              names=("no system prompt", "the system prompt"))
    result.answers          # the samples side by side: seed, each side's text and measure
    print(result)           # one sentence: both sides, the difference, its range, what it means

A request is the keyword arguments of `client.chat.completions.create` without `model` and `seed`. A measure
is a function of one answer's text giving True/False (shares are compared) or a number (averages are), or
`pairs_differ(...)`, a number of the whole set. The sentence says "higher"/"lower" only when the whole 95%
interval of the difference is on one side of 0, "no clear difference" when it holds 0, and "can't tell yet"
below `MIN_PAIRS` samples or when every pair differs alike (never a zero-width range shown as evidence).
Taught in notebooks/01_messages_and_roles.ipynb (how to read the numbers), used by lessons 02 and 03.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import intervals, paired
from ..errors import ParameterError
from ..intervals import CANT_TELL, MIN_PAIRS, wilson
from ..params import MAX_SAMPLES, axes, integer, shown
from .sentences import Count, Evidence

if TYPE_CHECKING:
    from ..client import Lab

Measure = Callable[[str], Any]
NOT_ALLOWED = ("model", "seed", "stream")  # the helper sets these (the lab's model, the seeds) or cannot use them


def one_word(text: str) -> bool:
    """True when the answer is one word, trailing punctuation and a leading article aside ('A cat.' passes)."""
    words = [w.strip(".,!?;:'\"*()") for w in text.split()]
    words = [w for w in words if w]
    if len(words) == 2 and words[0].lower() in ("a", "an", "the"):
        words = words[1:]
    return len(words) == 1


one_word.__name__ = "one-word answers"


def words(text: str) -> int:
    """The number of words of an answer."""
    return len(text.split())


words.__name__ = "words per answer"


def pairs_differ(key: Callable[[str], Any], what: str) -> Callable[[list[str]], float]:
    """A measure of a whole set of answers: the share of pairs of answers whose `key` differs (0 = all alike,
    1 = no two alike), e.g. `pairs_differ(lambda t: t.split()[0] if t.split() else "", "first words differ")`."""
    if not callable(key):
        raise ParameterError(f"key={shown(key)} is not allowed: key must be a function of an answer's text")
    return paired.pairwise_stat(lambda x, y: key(x) != key(y), f"pairs whose {what}")


def _name(measure: Any, what: str | None) -> str:
    """The measure's name in the sentence (`what`, else the function's name); refuses what is not a measure."""
    if not callable(measure):
        raise ParameterError(f"measure={shown(measure)} is not allowed: measure must be a function of an answer's "
                             "text giving True/False or a number (e.g. evidence.one_word), or "
                             "evidence.pairs_differ(...)")
    if what is not None and (not isinstance(what, str) or not what.strip()):
        raise ParameterError(f"what={shown(what)} is not allowed: what must be a short text naming the measure")
    return what or getattr(measure, "__name__", "measure")


def _split(name: str, request: Any) -> tuple[list[dict], dict[str, list], dict[str, Any]]:
    """A request dict -> (messages, Grid axes with one value each, other parameters sent with every sample)."""
    if not isinstance(request, dict) or not all(isinstance(k, str) for k in request):
        raise ParameterError(f"{name}={shown(request)} is not allowed: {name} must be a dict of request arguments, "
                             "e.g. {'messages': [{'role': 'user', 'content': 'Hi'}], 'temperature': 0.7}")
    if "messages" not in request:
        raise ParameterError(f"{name}={shown(request)} is not allowed: {name} needs 'messages' (a list of "
                             "{'role': ..., 'content': ...} dicts), as the raw request has")
    for key in NOT_ALLOWED:
        if key in request:
            raise ParameterError(f"{name}[{key!r}]={shown(request[key])} is not allowed: evidence sends the lab's "
                                 "model and its own seeds (the same for both sides); leave "
                                 f"{', '.join(repr(k) for k in NOT_ALLOWED)} out")
    rest = {k: v for k, v in request.items() if k != "messages" and v is not None}  # None: the server's default
    grid_axes = {k: [v] for k, v in rest.items() if k in axes()}
    fixed = {k: v for k, v in rest.items() if k not in grid_axes}
    return request["messages"], grid_axes, fixed


def _checked(lab: Lab, name: str, request: Any) -> tuple[list[dict], dict[str, list], dict[str, Any]]:
    """`_split`, then every argument validated as the send path would, before anything is sent."""
    messages, grid_axes, fixed = _split(name, request)
    lab.prepare(messages, **{k: v[0] for k, v in grid_axes.items()}, **fixed)
    return messages, grid_axes, fixed


def sample(lab: Lab, request: dict, *, samples: int, seed: int = 0, name: str = "request") -> pd.DataFrame:
    """Send `request` `samples` times (seed i derived from `seed` as a Grid does, the same for every request)
    and return one row per answer (`runs` columns: sample, seed, text, finish_reason, error, ...). Cached:
    a re-run sends nothing new."""
    from ..grid import Grid

    messages, grid_axes, fixed = _checked(lab, name, request)
    grid = Grid(samples=samples, seed=seed, **grid_axes)
    return lab.sweep(messages, grid, progress=False, **fixed)


def _values(measure: Any, texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        v = measure(text)
        if isinstance(v, (bool, np.bool_)):
            v = float(v)
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, complex):
            raise ParameterError(f"measure={shown(measure)} is not allowed: it gave {shown(v)} for {text!r}; a "
                                 "measure must give True/False or a number")
        out.append(float(v))
    return out


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["error"].isna()] if "error" in runs.columns else runs


def _failed(*frames: pd.DataFrame) -> str:
    bad = sum(len(f) - len(_ok(f)) for f in frames)
    return f" ({bad} answer{'s' if bad != 1 else ''} failed and {'are' if bad != 1 else 'is'} left out)" if bad else ""


def _check_common(samples: Any, seed: Any) -> tuple[int, int]:
    samples = integer("samples", samples, low=1, high=MAX_SAMPLES)
    seed = integer("seed", seed, high=2**32 - 2)
    return samples, seed


def count(lab: Lab, request: dict, measure: Measure, *, samples: int = 8, seed: int = 0,
          what: str | None = None) -> Count:
    """Send `request` `samples` times on fixed seeds and count how many answers pass `measure` (True/False),
    or average it (a number), with its 95% interval in one sentence. `.k`, `.n`, `.answers` hold the rest.

    >>> evidence.count(lab, {"messages": msgs, "temperature": 0.7}, evidence.one_word, samples=8)  # doctest: +SKIP
    one-word answers: 7 of 8 answers; the share this request gets is likely between 0.53 and 0.98 (95% interval)
    """
    if getattr(measure, "pair", None) is not None:
        raise ParameterError("measure=pairs_differ(...) is not allowed in count: it measures a difference between "
                             "answers; use compare to set two requests side by side")
    samples, seed = _check_common(samples, seed)
    name = _name(measure, what)
    runs = sample(lab, request, samples=samples, seed=seed)
    ok = _ok(runs)
    texts = list(ok["text"])
    raw = [measure(t) for t in texts]
    values = _values(measure, texts)
    share = all(isinstance(v, (bool, np.bool_)) for v in raw) and bool(raw)
    if share:
        lo, hi = wilson(int(sum(values)), len(values))
    else:
        lo, hi = intervals.bootstrap(values)
    answers = pd.DataFrame({"seed": ok["seed"], "text": texts, name: raw}).reset_index(drop=True)
    return Count(name, values, share, lo, hi, answers, _failed(runs))


def _default_names(a: dict, b: dict) -> tuple[str, str]:
    differ = [k for k in dict.fromkeys([*a, *b]) if k != "messages" and a.get(k) != b.get(k)]
    if not differ or a.get("messages") != b.get("messages"):
        return ("request A", "request B")
    return tuple(", ".join(f"{k}={side.get(k)}" for k in differ) for side in (a, b))  # type: ignore[return-value]


def compare(lab: Lab, a: dict, b: dict, measure: Measure, *, samples: int = 8, seed: int = 0,
            what: str | None = None, names: tuple[str, str] | None = None) -> Evidence:
    """Send requests `a` and `b` `samples` times each on the same seeds, measure every answer and say whether
    `b` gives a higher or lower `measure` than `a`, with the 95% interval of the difference, in one sentence.

    `names` (two short texts) name the sides in the sentence; by default the parameters that differ
    ("temperature=1.5"). Everything is checked before a request is sent.

    >>> hot, cold = {**req, "temperature": 1.5}, {**req, "temperature": 0.5}
    >>> evidence.compare(lab, cold, hot, evidence.words)  # doctest: +SKIP
    words per answer: 9.1 with temperature=1.5, 7.2 with temperature=0.5 (the same 8 seeds); difference +1.9, ...
    """
    samples, seed = _check_common(samples, seed)
    name = _name(measure, what)
    if names is not None and not (isinstance(names, (tuple, list)) and len(names) == 2
                                  and all(isinstance(x, str) and x.strip() for x in names)):
        raise ParameterError(f"names={shown(names)} is not allowed: names must be two short texts, e.g. "
                             "('no system prompt', 'the system prompt'): the sentence says 'higher with <second>'")
    _checked(lab, "a", a)  # both sides are refused or accepted before either is sent
    _checked(lab, "b", b)
    names = tuple(names) if names is not None else _default_names(a, b)
    ra = sample(lab, a, samples=samples, seed=seed, name="a")
    rb = sample(lab, b, samples=samples, seed=seed, name="b")
    return judge(ra, rb, measure, what=name, names=names)


def judge(ra: pd.DataFrame, rb: pd.DataFrame, measure: Measure, *, what: str,
          names: tuple[str, str] = ("A", "B")) -> Evidence:
    """The verdict of `compare` from two sets of answers (`runs` frames with `seed` and `text`), paired by seed.
    Pure: no request is sent (tests and `compare` use it)."""
    failed = _failed(ra, rb)
    oa, ob = _ok(ra), _ok(rb)
    both = oa[["seed", "text"]].merge(ob[["seed", "text"]], on="seed", suffixes=("_a", "_b")).set_index("seed")
    ta, tb = list(both["text_a"]), list(both["text_b"])
    n = len(both)
    pairwise = getattr(measure, "pair", None) is not None
    if pairwise:
        raw_a = raw_b = None
        va, vb = [], []
        xa, xb = measure(ta), measure(tb)
    else:
        raw_a, raw_b = [measure(t) for t in ta], [measure(t) for t in tb]
        va, vb = _values(measure, ta), _values(measure, tb)
        xa = float(np.mean(va)) if n else math.nan
        xb = float(np.mean(vb)) if n else math.nan
    share = not pairwise and n > 0 and all(isinstance(v, (bool, np.bool_)) for v in [*raw_a, *raw_b])
    answers = pd.DataFrame({"seed": list(both.index), f"{names[0]}": ta, f"{names[1]}": tb})
    if not pairwise:
        answers.insert(2, f"{what} ({names[0]})", raw_a)
        answers[f"{what} ({names[1]})"] = raw_b
    counts = (f"{int(sum(va))} of {n}", f"{int(sum(vb))} of {n}") if share else ("", "")
    diff = float(xb - xa) if n else math.nan
    base = dict(what=what, names=tuple(names), a=xa, b=xb, diff=diff, n=n, share=share, answers=answers,
                failed=failed, counts=counts)
    if n < MIN_PAIRS:
        return Evidence(**base, lo=math.nan, hi=math.nan, verdict=CANT_TELL)
    frame = pd.DataFrame({"side": ["a"] * n + ["b"] * n, "seed": [*both.index, *both.index], "text": [*ta, *tb]})
    if pairwise:
        d = paired.compare(frame, measure, {"side": "a"}, {"side": "b"})
    else:
        frame["value"] = [*va, *vb]
        d = paired.compare(frame, "value", {"side": "a"}, {"side": "b"})
    lo, hi, note = d.lo, d.hi, ""
    if not (math.isnan(lo) or lo < hi):  # every pair differs alike: resampling them gives no range
        if share:  # each side's own range instead: wider, but never of zero width
            a_lo, a_hi = wilson(int(sum(va)), n)
            b_lo, b_hi = wilson(int(sum(vb)), n)
            lo, hi = b_lo - a_hi + 0.0, b_hi - a_lo + 0.0
            note = "; every pair differed alike, so the range comes from each side's own count"
        else:
            same = "gave the same value" if diff == 0 else f"differed by exactly {abs(diff):.3g}"
            if d.repeats:  # each side one answer on every seed (greedy, say): paired.compare tells
                return Evidence(**base, lo=lo, hi=hi, verdict=CANT_TELL, more_helps=False,
                                note=f"every one of the {n} pairs {same}, each side the same answer on every seed "
                                     "(the seed changes nothing here), so there is no spread to give a range")
            return Evidence(**base, lo=lo, hi=hi, verdict=CANT_TELL,
                            note=f"every one of the {n} pairs {same}, too regular to give a range")
    return Evidence(**base, lo=lo, hi=hi, verdict=intervals.verdict(lo, hi, n), note=note)


__all__ = ["Count", "Evidence", "compare", "count", "judge", "one_word", "pairs_differ", "sample", "words"]
