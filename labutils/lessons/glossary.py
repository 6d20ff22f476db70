"""The lab's glossary: each term, the lesson that teaches it, and one plain line that says what it is.

A lesson may use a term from its teaching lesson on. An earlier lesson that must use it defines it where it
is used, in one markdown paragraph that holds the term in bold and names the teaching lesson, e.g.
"**top_k** keeps only the k most likely next tokens (lesson 10 teaches it)". `tests/test_concepts.py`
(`pytest -k concept`) fails when a lesson uses a term, in its prose or its code, before that. Pure data and
pure functions: no request, no side effect on import. `table()` is the glossary as a learner reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Term:
    """One glossary entry: `lesson` teaches it; `prose` and `code` are the patterns (regular expressions,
    case-insensitive unless `case`) that count as a use in a markdown cell and in a code cell."""

    name: str
    lesson: int
    meaning: str
    prose: tuple[str, ...]
    code: tuple[str, ...] = ()
    case: bool = False
    _compiled: dict = field(default_factory=dict, compare=False, repr=False)

    def pattern(self, kind: str) -> re.Pattern:
        """The compiled pattern for a 'markdown' or a 'code' cell (code cells also match the prose forms
        inside their strings and comments)."""
        if kind not in self._compiled:
            forms = self.prose if kind == "markdown" else self.prose + self.code
            flags = 0 if self.case else re.IGNORECASE
            self._compiled[kind] = re.compile("|".join(f"(?:{f})" for f in forms), flags)
        return self._compiled[kind]


def _t(name: str, lesson: int, meaning: str, prose, code=(), case: bool = False) -> Term:
    def as_tuple(x) -> tuple[str, ...]:
        return (x,) if isinstance(x, str) else tuple(x)

    return Term(name, lesson, meaning, as_tuple(prose), as_tuple(code), case)


# Ordered by lesson. The patterns are what a lesson writes when it uses the term: a plain English word that
# only looks like a term ("stop the stack", "runs top to bottom") is left out of the pattern, not allowed.
TERMS: tuple[Term, ...] = (
    _t("token", 0, "a piece of text (a word, part of a word, a space or a sign) the model reads and writes one "
       "at a time", r"\btokens?\b"),
    _t("model", 0, "the network that writes the answer; a request names it by id", r"\bmodels?\b"),
    _t("messages", 0, "the list of turns a chat request sends, each with a role and content", r"\bmessages\b"),
    _t("role", 0, "who speaks in a message: system, user or assistant", r"\broles?\b"),
    _t("system message", 0, "the message with role system: instructions that frame the whole conversation",
       r"\bsystem (?:message|prompt)s?\b"),
    _t("response", 0, "what the server returns: choices, each with a message, and usage", r"\bresponses?\b"),
    _t("finish_reason", 0, "why an answer ended: 'stop' (on its own or at a stop sequence) or 'length' (cut "
       "at max_tokens)", r"\bfinish_reason\b"),
    _t("streaming", 0, "receiving the answer piece by piece as it is written (`stream=True`)",
       r"\bstream(?:ing|ed)?\b"),
    _t("OpenAI-compatible", 0, "the request and response shapes of OpenAI's chat API, which Llama Stack serves",
       r"\bOpenAI[- ]compatible\b"),
    _t("few-shot", 1, "example question-answer turns placed before the real question", r"\bfew[- ]shot\b"),
    _t("sample", 1, "one answer drawn at random from the model; several samples of one request differ",
       (r"\bsamples?\b", r"\bsampled\b", r"\bsampling\b(?!_)")),
    _t("seed", 1, "the number that fixes the random draws: same seed, same parameters, same messages, same "
       "answer", r"\bseed(?:s|ed)?\b"),
    _t("interval", 1, "the range of values the run's numbers are consistent with (95%): a wide one says "
       "'too few samples to know'", (r"\bintervals?\b", r"\b95% CI\b")),
    _t("no clear difference", 1, "the interval of a difference includes 0: this run cannot say which is larger",
       r"\bno clear difference\b"),
    _t("can't tell yet", 1, "too few samples for any verdict: raise SAMPLES", r"\bcan'?t tell yet\b"),
    _t("temperature", 2, "how much the model's next-token probabilities are sharpened (below 1) or "
       "flattened (above 1); 0 always takes the most likely token", r"\btemperatures?\b"),
    _t("next-token probabilities", 2, "the probability the model gives each possible next token",
       r"\bnext[- ]token probabilit(?:y|ies)\b"),
    _t("top_p", 3, "nucleus sampling: keep the most likely tokens until their probability adds up to top_p",
       (r"\btop[_-]p\b", r"\bnucleus\b")),
    _t("max_tokens", 4, "the most tokens the answer may have; an answer cut there ends with finish_reason "
       "'length'", r"\bmax_tokens\b"),
    _t("stop", 4, "stop sequences: text that ends the answer where it appears (`stop=[...]`)",
       (r"\bstop sequences?\b", r"`stop`", r"\bstop\s*=")),
    _t("playground", 5, "sliders that send a request and stream the answer as you change a parameter",
       r"\bplayground\b"),
    _t("A/B", 5, "two parameter sets (or models) answering the same request side by side", r"\bA/B\b"),
    _t("memory", 6, "a chatbot's memory: the earlier turns it sends again with each request",
       (r"\bmemory\b(?! \(RAM)(?! of \d)", r"\bmemory\s*="), code=r"\bmemory\s*="),
    _t("window", 6, "a memory that keeps only the last few turns", r"\b(?:context |sliding )?window\b"),
    _t("Chat", 6, "`labutils.Chat`, the lab's chatbot with memory", (r"`Chat`", r"\bChat\("), case=True),
    _t("code completion", 7, "continuing a text (or code) as it stands, with `client.completions.create`",
       (r"\bcode completion\b", r"(?<!chat\.)\bcompletions\.create\b")),
    _t("Grid", 8, "`labutils.Grid`: every combination of a few parameter values, several samples each",
       (r"\bGrid\b", r"\bgrids?\b"), case=False),
    _t("sweep", 8, "sending every cell of a Grid (`lab.sweep`), in parallel and cached", r"\bsweep(?:s|ing)?\b"),
    _t("runs", 8, "the tidy table of one sweep: one row per request", (r"`runs`",), code=r"\bruns\s*(?:=|\[|\.)"),
    _t("scorer", 8, "a function that marks each answer (pass/fail or a number)", r"\bscorers?\b"),
    _t("summarize", 8, "`labutils.summarize`: one row per Grid cell, each number with its interval",
       (r"`(?:labutils\.)?summari[sz]e`", r"\bsummari[sz]e\("), case=False),
    _t("bootstrap", 8, "an interval from resampling the samples many times", r"\bbootstrap"),
    _t("Wilson", 8, "the interval of a share (k of n)", r"\bWilson\b"),
    _t("probe", 9, "`labutils.probe`: checks whether a distribution honours each parameter",
       r"\bprob(?:e|es|ed|ing)\b"),
    _t("sampler chain", 10, "the engine's samplers in order, each cutting or reshaping the next-token "
       "probabilities before the draw", (r"\bsampler chain\b", r"\bchain\b")),
    _t("top_k", 10, "keep only the k most likely next tokens", r"\btop[_-]k\b"),
    _t("min_p", 10, "keep the tokens at least min_p times as likely as the most likely one", r"\bmin[_-]p\b"),
    _t("typical_p", 10, "keep the tokens whose surprise is closest to the average surprise",
       (r"\btypical[_-]p\b", r"\blocally typical\b")),
    _t("penalties", 10, "presence, frequency and repeat penalties: push down tokens already seen",
       (r"\bpenalt(?:y|ies)\b", r"\b(?:presence|frequency|repeat|repetition)_penalty\b")),
    _t("DRY", 10, "'Don't Repeat Yourself': a sampler that penalises a token extending a repeat of the context",
       (r"\bDRY\b", r"\bdry_\w+"), case=True),
    _t("XTC", 10, "'exclude top choices': a sampler that sometimes removes the most likely tokens",
       (r"\bXTC\b", r"\bxtc_\w+"), case=True),
    _t("logprobs", 10, "the log-probabilities of the chosen token and its top alternatives, returned with "
       "`logprobs=True, top_logprobs=K`", (r"\b(?:top_)?logprobs?\b", r"\blog[- ]?probabilit")),
    _t("TV distance", 11, "total-variation distance: half the summed differences of two distributions (0 = "
       "the same)", (r"\bTV\b", r"\btotal[- ]variation\b"), case=True),
    _t("chi-square", 11, "Pearson's test of observed counts against a predicted distribution",
       (r"\bchi[- ]?squared?\b", r"\bchi2\b", "χ²")),
    _t("p-value", 11, "the chance of a deviation at least this large if the prediction were right",
       (r"\bp[- ]values?\b", r"\bp_value\b", r"\bp < 0\.")),
    _t("power", 11, "how often a test with this many draws catches a given mistake",
       (r"\b(?:statistical )?power\b",), code=r"\bgof\.power\b"),
    _t("response_format", 12, "the request field that constrains the answer to JSON (json_object) or to a "
       "schema (json_schema)", r"\bresponse_format\b"),
    _t("JSON schema", 12, "a description of the JSON an answer must have: its keys, types and required fields",
       r"\bjson[_ ]schema\b"),
    _t("Responses API", 14, "`client.responses.create`: OpenAI's newer request shape, which can keep the "
       "conversation on the server", (r"\bResponses API\b", r"\bresponses\.create\b", r"\bprevious_response_id\b",
                                       r"\blab\.respond\b")),
)

BY_NAME: dict[str, Term] = {t.name: t for t in TERMS}


def defines(paragraph: str, term: Term) -> bool:
    """True when a markdown `paragraph` defines `term` early: the term in bold (`**...**`, matched by its pattern)
    and the teaching lesson named ('lesson 10', 'Lesson 08 teaches', ...)."""
    bold = re.findall(r"\*\*(.+?)\*\*", paragraph, re.DOTALL)
    named = re.search(rf"\blessons? 0?{term.lesson}\b", paragraph, re.IGNORECASE)
    return bool(named) and any(term.pattern("markdown").search(b) for b in bold)


def table():
    """The glossary as a table: term, the lesson that teaches it, what it means. Taught in notebooks/00_setup_and_
    first_request.ipynb (each lesson's terms are in it from its number on)."""
    import pandas as pd

    return pd.DataFrame([{"term": t.name, "lesson": f"{t.lesson:02d}", "meaning": t.meaning} for t in TERMS])


def markdown() -> str:
    """The glossary as a Markdown table (notebooks/GLOSSARY.md is this text; a test keeps it so)."""
    rows = ["# Glossary", "", "Every term the lessons use, the lesson that teaches it, and what it means "
            "(from `labutils/lessons/glossary.py`; `python -m labutils.lessons.glossary` writes this page).", "",
            "| term | lesson | meaning |", "|---|---|---|"]
    rows += [f"| {t.name} | {t.lesson:02d} | {t.meaning} |" for t in TERMS]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # pragma: no cover - writes notebooks/GLOSSARY.md
    from pathlib import Path

    (Path(__file__).resolve().parents[2] / "notebooks" / "GLOSSARY.md").write_text(markdown())
