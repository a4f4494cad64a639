"""Per-value judge questions: one short question per value, read from log-probabilities.

The rubric judge (:mod:`langchain_picaco.scoring.judge`) rates every value in one reply. Small
judges rate one overall impression that way (their values move together), so this module asks
about ONE value at a time instead:

* ``yes_no``: "Does the RESPONSE act on the value V? Answer Yes or No." The score is
  ``1 + 4 * P(yes)``, with ``P(yes) = p(Yes) / (p(Yes) + p(No))`` read from the first answer
  token's top log-probabilities (the written word, 5 or 1, when the reply has none).
* ``digit``: "How well ... ? Answer with one digit, 1 to 5." The score is the expected digit
  under the judge's distribution (the written digit when the reply has no log-probabilities).

Each prompt names the value first, then shows the query and the response, then asks: on the 1.5B
local judge, asking about the value after the response (so that a prompt cache could share the
query and response between a response's K questions) more than halved the separation between
answers that act on a value and answers that violate it. Nothing here calls a model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from langchain_picaco.prompts import (
    JUDGE_FEEDBACK_QUESTION,
    JUDGE_FEEDBACK_RULE,
    JUDGE_VALUE_DIGIT_GRAMMAR,
    JUDGE_VALUE_PROMPT,
    JUDGE_VALUE_QUESTIONS,
    JUDGE_VALUE_RULES,
    JUDGE_VALUE_YES_GRAMMAR,
)
from langchain_picaco.scoring.judge import (
    DEFAULT_FENCE_SALT,
    MAX_SCORE,
    MIN_SCORE,
    _expected_digit,
    _get,
    _logprob_tokens,
    _message_text,
    fence,
)
from langchain_picaco.values.value_sets import Value

__all__ = [
    "QuestionKind",
    "ValueAnswer",
    "build_feedback_messages",
    "build_value_messages",
    "parse_value_answer",
    "question_grammar",
]

_YES = re.compile(r"^\W*(yes|y)\W*$", re.I)
_NO = re.compile(r"^\W*(no|n)\W*$", re.I)
_TEXT_YES_NO = re.compile(r"\b(yes|no)\b", re.I)
_TEXT_DIGIT = re.compile(r"(?<!\d)([1-5])(?!\d)")


class QuestionKind(StrEnum):
    """The kind of per-value question: ``yes_no`` or ``digit`` (see the module docstring)."""

    YES_NO = "yes_no"
    DIGIT = "digit"


class ValueAnswer(tuple[float, bool, float]):
    """One value's answer: ``(score in [1, 5], from_logprobs, emitted score in [1, 5])``."""

    __slots__ = ()

    @property
    def score(self) -> float:
        """The score used (graded from log-probabilities when available)."""
        return self[0]

    @property
    def from_logprobs(self) -> bool:
        """Whether the score came from log-probabilities."""
        return self[1]

    @property
    def emitted(self) -> float:
        """The score of the word or digit the judge actually wrote."""
        return self[2]


def build_value_messages(
    value: Value,
    query: str,
    response: str,
    *,
    kind: QuestionKind | str = QuestionKind.YES_NO,
    salt: str = DEFAULT_FENCE_SALT,
) -> list[BaseMessage]:
    """The messages asking whether ``response`` acts on one ``value``.

    Args:
        value: The value asked about.
        query: The user query (untrusted; fenced).
        response: The response judged (untrusted; fenced).
        kind: ``"yes_no"`` or ``"digit"``.
        salt: Salt of the fence ids.

    Returns:
        ``[SystemMessage, HumanMessage]``; the system message is the same for every value.
    """
    kind = QuestionKind(kind)
    return JUDGE_VALUE_PROMPT.format_messages(
        answer_rule=JUDGE_VALUE_RULES[kind.value],
        query_block=fence("QUERY", query, salt=salt),
        response_block=fence("RESPONSE", response, salt=salt),
        name=value.name,
        description=value.description,
        question=JUDGE_VALUE_QUESTIONS[kind.value].format(name=value.name),
    )


def build_feedback_messages(
    value: Value, query: str, response: str, *, salt: str = DEFAULT_FENCE_SALT
) -> list[BaseMessage]:
    """The messages asking the judge, in one sentence, what ``response`` misses of ``value``.

    The per-value prompt (same fences) with the feedback question and answer rule.
    """
    return JUDGE_VALUE_PROMPT.format_messages(
        answer_rule=JUDGE_FEEDBACK_RULE,
        query_block=fence("QUERY", query, salt=salt),
        response_block=fence("RESPONSE", response, salt=salt),
        name=value.name,
        description=value.description,
        question=JUDGE_FEEDBACK_QUESTION.format(name=value.name),
    )


def question_grammar(kind: QuestionKind | str) -> str:
    """A llama.cpp grammar that admits only a valid answer of ``kind``."""
    kind = QuestionKind(kind)
    return JUDGE_VALUE_YES_GRAMMAR if kind is QuestionKind.YES_NO else JUDGE_VALUE_DIGIT_GRAMMAR


def _p_yes(entry: Any) -> float | None:
    """P(yes) among yes/no tokens at one position's top log-probabilities, or None."""
    top = _get(entry, "top_logprobs")
    if not isinstance(top, Sequence) or isinstance(top, str):
        return None
    yes = no = 0.0
    seen: set[str] = set()
    cands = [(_get(t, "token"), _get(t, "logprob")) for t in top]
    cands.append((_get(entry, "token"), _get(entry, "logprob")))
    for tok, lp in cands:
        if not isinstance(tok, str) or tok in seen:
            continue
        if not isinstance(lp, int | float) or isinstance(lp, bool) or not math.isfinite(lp):
            continue
        seen.add(tok)
        if _YES.match(tok):
            yes += math.exp(lp)
        elif _NO.match(tok):
            no += math.exp(lp)
    if yes + no <= 0.0:
        return None
    return yes / (yes + no)


def _from_text(text: str, kind: QuestionKind) -> float | None:
    if kind is QuestionKind.YES_NO:
        m = _TEXT_YES_NO.search(text)
        if m is None:
            return None
        return MAX_SCORE if m.group(1).lower() == "yes" else MIN_SCORE
    m = _TEXT_DIGIT.search(text)
    return float(m.group(1)) if m else None


def parse_value_answer(
    message: AIMessage | str | Mapping[str, Any], kind: QuestionKind | str = QuestionKind.YES_NO
) -> ValueAnswer | None:
    """Turn the judge's reply to one per-value question into a score in [1, 5].

    The first answer token's top log-probabilities are used when the reply carries them
    (OpenAI format in ``response_metadata["logprobs"]``); otherwise the first ``yes``/``no``
    word (5 or 1) or the first digit 1..5 of the text.

    Args:
        message: The judge's reply.
        kind: The question kind that was asked.

    Returns:
        The answer, or None when the reply holds no usable answer.
    """
    kind = QuestionKind(kind)
    if isinstance(message, Mapping):
        text = str(message.get("answer", message.get("content", "")))
    elif isinstance(message, str):
        text = message
    else:
        text = _message_text(message.content)
    emitted = _from_text(text, kind)
    tokens = None if isinstance(message, str | Mapping) else _logprob_tokens(message)
    if tokens:
        first = tokens[0]
        graded = _p_yes(first) if kind is QuestionKind.YES_NO else _expected_digit(first)
        if graded is not None:
            score = MIN_SCORE + 4.0 * graded if kind is QuestionKind.YES_NO else graded
            score = min(MAX_SCORE, max(MIN_SCORE, score))
            return ValueAnswer((score, True, emitted if emitted is not None else score))
    if emitted is None:
        return None
    return ValueAnswer((emitted, False, emitted))
