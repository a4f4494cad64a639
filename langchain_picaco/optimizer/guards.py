"""The guards a candidate instruction must pass: on its text, and on the responses it draws.

Before any scoring, a proposer reply is parsed (:func:`parse_candidate`, or
:func:`parse_sentence` under ``proposal_style="add_sentence"``) and rejected, with a reason,
when it is no usable instruction (:func:`guard_candidate`, :func:`guard_sentence`): empty, too
short or too long, a question, a copy of a query, a duplicate, parroted value text, talk about
the proposer's prompt. After scoring, the task-fidelity guard (:func:`off_task_share`) rejects a
candidate under which responses stop addressing their queries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.graph.state import Measurement, PicacoState
from langchain_picaco.scoring.calibration import is_off_task, off_task_ceiling
from langchain_picaco.scoring.redundancy import word_ngrams, words

__all__ = [
    "MAX_INSTRUCTION_CHARS",
    "MERGE_MARGIN_CHARS",
    "MERGE_SENTENCE_CHARS",
    "MIN_INSTRUCTION_CHARS",
    "guard_appended",
    "guard_candidate",
    "guard_merge",
    "guard_merge_sentence",
    "guard_sentence",
    "off_task_share",
    "parse_candidate",
    "parse_sentence",
    "word_key",
]

MAX_INSTRUCTION_CHARS = 1200
"""Longest candidate instruction the guards accept."""
MIN_INSTRUCTION_CHARS = 12
"""Shortest candidate instruction the guards accept."""
MERGE_MARGIN_CHARS = 80
"""How much longer than the longer of its two parents a merged instruction may be."""
MERGE_SENTENCE_CHARS = 200
"""How much longer than the longer of its two parents a sentence merge (the incumbent plus one
sentence, ``proposal_style="add_sentence"``) may be: room for one sentence, not two."""
_INSTRUCTION_TAG = re.compile(r"<instruction>(.*?)(?:</instruction>|$)", re.S | re.I)
_SENTENCE_TAG = re.compile(r"<\s*sentence\s*>(.*?)(?:<\s*/\s*sentence\s*>|$)", re.S | re.I)
_ANY_TAG = re.compile(r"<\s*/?\s*(?:sentence|instruction(?:_[ab])?)\s*>", re.I)
_SPACE_BEFORE_STOP = re.compile(r"\s+([.!?,;])")
_DOUBLED_STOP = re.compile(r"([.!?])\.+")
_META = re.compile(
    r"\b(?:value'?s?\s+description|(?:this|the)\s+(?:instruction|description)"
    r"|based\s+on\s+the\s+value|instruction[_ ][ab]|(?:other|current)\s+instruction)\b",
    re.I,
)
"""A sentence about the proposer's prompt ("acts on conformity based on the value's
description", "under instruction_b", "like the other instruction") instead of what the assistant
should do: the target never sees that prompt."""
_QUESTION_START = re.compile(
    r"^(what|how|why|when|where|who|which|can|could|would|should|is|are|do|does|did)\b", re.I
)


def word_key(text: str) -> str:
    """``text`` as its words (:func:`~langchain_picaco.scoring.redundancy.words`), for duplicates.

    Two instructions that differ only in case, punctuation or spacing have the same key.
    """
    return " ".join(words(text))


def _overlap(a: str, b: str, n: int = 3) -> float:
    """Share of ``a``'s distinct word n-grams found in ``b`` (n at most ``a``'s length)."""
    k = max(1, min(n, len(words(a))))
    grams = set(word_ngrams(a, k))
    if not grams:
        return 0.0
    return len(grams & set(word_ngrams(b, k))) / len(grams)


def _copies_query(text: str, queries: Sequence[str]) -> bool:
    """Whether ``text`` and a query of four words or more share most of their word trigrams."""
    return any(
        len(words(q)) >= 4 and (_overlap(q, text) >= 0.6 or _overlap(text, q) >= 0.6)
        for q in queries
    )


def _is_question(text: str) -> bool:
    """Whether ``text`` is a question (an echoed query rather than an instruction)."""
    return text.endswith("?") or bool(_QUESTION_START.match(text) and "?" in text)


def guard_candidate(
    text: str,
    *,
    queries: Sequence[str],
    seen: Sequence[str],
    max_chars: int = MAX_INSTRUCTION_CHARS,
) -> str | None:
    """Why a candidate is not a usable instruction (None when it is).

    Rejects, before any scoring: empty or too short text, text over ``max_chars``, a question
    (an echoed query rather than an instruction to the assistant), a copy of a query, and a
    duplicate of an instruction already considered.

    Args:
        text: The candidate.
        queries: The optimisation queries.
        seen: Instructions already considered (incumbent, history, this round).
        max_chars: Longest acceptable instruction.

    Returns:
        A short reason, or None.
    """
    stripped = text.strip()
    if len(stripped) < MIN_INSTRUCTION_CHARS:
        return "empty" if not stripped else "too_short"
    if len(stripped) > max_chars:
        return "too_long"
    key = word_key(stripped)
    if any(key == word_key(s) for s in seen):
        return "duplicate"
    if _is_question(stripped):
        return "question"
    if _copies_query(stripped, queries):
        return "copies_query"
    return None


def guard_merge(
    text: str, parents: tuple[str, str], *, queries: Sequence[str], seen: Sequence[str]
) -> str | None:
    """Why a merge of two instructions is not usable (None when it is).

    The guards of :func:`guard_candidate` (a merge that gives back a parent is a duplicate),
    and two of its own: a merge longer than the longer parent plus ``MERGE_MARGIN_CHARS``
    ("merge_too_long"), and one that holds both parents word for word ("concatenates").
    """
    reason = guard_candidate(text, queries=queries, seen=[*seen, *parents])
    if reason is not None:
        return reason
    if len(text.strip()) > max(map(len, parents)) + MERGE_MARGIN_CHARS:
        return "merge_too_long"
    key = word_key(text)
    if all(word_key(p) in key for p in parents):
        return "concatenates"
    return None


def guard_appended(
    sentence: str,
    instruction: str,
    *,
    value_description: str,
    queries: Sequence[str],
    seen: Sequence[str],
) -> tuple[str, str | None]:
    """The instruction ``sentence`` appended to ``instruction`` gives, and why it is unusable.

    The ``add_sentence`` style's check: the sentence must pass :func:`guard_sentence`, and the
    whole :func:`guard_candidate`.

    Returns:
        The new instruction (the sentence alone when the sentence is rejected) and a reason
        (None when usable).
    """
    reason = guard_sentence(
        sentence, instruction=instruction, value_description=value_description, queries=queries
    )
    if reason is not None:
        return sentence, reason
    text = f"{instruction} {sentence}".strip()
    return text, guard_candidate(text, queries=queries, seen=seen)


def guard_merge_sentence(
    sentence: str,
    parents: tuple[str, str],
    *,
    value_description: str,
    queries: Sequence[str],
    seen: Sequence[str],
) -> tuple[str, str | None]:
    """The instruction a sentence merge gives, and why it is not usable (None when it is).

    Under ``proposal_style="add_sentence"`` a merge keeps the first parent (the incumbent) and
    appends one sentence that carries what the second does better. The sentence must pass
    :func:`guard_sentence` (``value_description``: the descriptions of the values the second
    parent is stronger on), the whole must pass :func:`guard_candidate` (giving back a parent is
    a duplicate) and be no longer than the longer parent plus ``MERGE_SENTENCE_CHARS``
    ("sentence_too_long").

    Returns:
        The merged instruction (the sentence alone when the sentence is rejected) and a reason.
    """
    text, reason = guard_appended(
        sentence,
        parents[0],
        value_description=value_description,
        queries=queries,
        seen=[*seen, *parents],
    )
    if reason is None and len(text) > max(map(len, parents)) + MERGE_SENTENCE_CHARS:
        reason = "sentence_too_long"
    return text, reason


def parse_sentence(text: str, instruction: str = "") -> str:
    """The new sentence in an ``add_sentence`` reply.

    Small models often wrap it oddly: spaced tags (``< sentence>``), or the whole instruction
    with the sentence at its end (inside ``<instruction>`` tags or not). The sentence is the text
    between sentence tags (else the reply), with the current ``instruction`` removed from its
    start and any leftover tags dropped.
    """
    match = _SENTENCE_TAG.search(text)
    body = match.group(1) if match else text
    inner = _INSTRUCTION_TAG.search(body)
    if inner is not None:
        body = inner.group(1)
    body = " ".join(_ANY_TAG.sub(" ", body).strip().strip('"').split())
    # tag debris leaves stray punctuation: "alive. ." -> "alive."
    body = _DOUBLED_STOP.sub(r"\1", _SPACE_BEFORE_STOP.sub(r"\1", body))
    current = " ".join(instruction.split())
    if current and body.lower().startswith(current.lower()):
        body = body[len(current) :].strip()
    return body if not body or body[-1] in ".!" else body + "."


def guard_sentence(
    sentence: str, *, instruction: str, value_description: str, queries: Sequence[str]
) -> str | None:
    """Why a sentence to append is not usable (None when it is); see :func:`guard_candidate`.

    Rejects an empty or too short sentence, a question, a copy of a query, a sentence that is
    mostly the value's description (parroting), one that talks about the proposer's prompt
    ("the value's description", "this instruction": the target never sees it),
    and one the instruction already says.
    """
    stripped = sentence.strip()
    if len(stripped) < MIN_INSTRUCTION_CHARS:
        return "empty" if not stripped else "too_short"
    if _is_question(stripped):
        return "question"
    if _copies_query(stripped, queries):
        return "copies_query"
    if _overlap(stripped, value_description) >= 0.5:
        return "copies_values"
    if _META.search(stripped):
        return "meta"
    if _overlap(stripped, instruction) >= 0.6:
        return "near_copy"
    return None


def parse_candidate(text: str) -> str:
    """The instruction inside a proposer reply (between instruction tags, else the whole reply)."""
    match = _INSTRUCTION_TAG.search(text)
    body = match.group(1) if match else text
    return body.strip().strip('"').strip()


def off_task_share(state: PicacoState, cfg: PicacoConfig, ms: Sequence[Measurement]) -> float:
    """Share of ``ms`` that do not address their query (the task-fidelity guard; no call)."""
    if not ms:
        return 0.0
    th = cfg.calibration
    ceiling = off_task_ceiling(state.get("calibration"), th)
    queries = state["queries"]
    off = sum(
        is_off_task(
            queries[m["query"]],
            m.get("text", ""),
            m.get("scores"),
            min_overlap=th.off_task_overlap,
            ceiling=ceiling,
        )
        for m in ms
    )
    return off / len(ms)
