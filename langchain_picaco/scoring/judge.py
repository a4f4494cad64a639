"""The value judge (q_val): prompt building and output parsing, with no model calls of its own.

A graph node builds the messages with :func:`build_judge_messages`, calls the judge model once per
response (all K values in one call), and turns the reply into a :class:`JudgeResult` with
:func:`parse_judge_output`. When the reply carries OpenAI-style token log-probabilities, each
value's score is the *expected* digit under the judge's distribution at the position where it
wrote that digit, which is far more graded than the greedy digit for small judges.

Untrusted text (the query and the response) is fenced between marker lines whose id is a salted
hash of the text itself, so the text cannot contain its own closing marker; marker-like runs of
``<<<`` / ``>>>`` inside it are defanged as well.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ConfigDict, Field

from langchain_picaco.errors import PicacoError, ValueSetError
from langchain_picaco.prompts import (
    JUDGE_FENCE_CLOSE,
    JUDGE_FENCE_OPEN,
    JUDGE_FENCED_BLOCK,
    JUDGE_FORMAT_JSON,
    JUDGE_FORMAT_LINES,
    JUDGE_JSON_PROPERTY_DESCRIPTION,
    JUDGE_JSON_SCHEMA_DESCRIPTION,
    JUDGE_JSON_SCHEMA_TITLE,
    JUDGE_JSON_SKELETON,
    JUDGE_JSON_SLOT,
    JUDGE_JSON_SLOT_SEPARATOR,
    JUDGE_LINES_SLOT,
    JUDGE_PROMPT,
)

if TYPE_CHECKING:
    from langchain_picaco.values.value_sets import ValueSet

__all__ = [
    "DEFAULT_FENCE_SALT",
    "NEUTRAL_SCORE",
    "JudgeFormat",
    "JudgeParseError",
    "JudgeResult",
    "build_judge_messages",
    "fence",
    "judge_json_schema",
    "judge_prompt_inputs",
    "parse_judge_output",
]

MIN_SCORE = 1.0
MAX_SCORE = 5.0
NEUTRAL_SCORE = 3.0
DEFAULT_FENCE_SALT = "langchain-picaco/judge-fence/v1"
_NONCE_CHARS = 16


class JudgeFormat(StrEnum):
    """How the judge is asked to answer.

    ``JSON`` (default) asks for one JSON object ``{"<value name>": 1..5, ...}``; pair it with
    :func:`judge_json_schema` for constrained decoding. ``LINES`` asks for one ``name: digit`` line
    per value: the fallback when schema-constrained decoding is slow (e.g. on llama.cpp).
    """

    JSON = "json"
    LINES = "lines"


class JudgeParseError(PicacoError, ValueError):
    """The judge's reply did not contain a rating for every value.

    Args:
        missing: The value names without a rating.
        text: The reply (or the start of it), for the error message.
        fmt: The format the judge was asked for.

    Example:
        >>> err = JudgeParseError(["tradition"], "I cannot rate this.", JudgeFormat.JSON)
        >>> err.missing
        ['tradition']
    """

    def __init__(self, missing: Sequence[str], text: str, fmt: JudgeFormat | str) -> None:
        self.missing = list(missing)
        self.text = text
        self.fmt = JudgeFormat(fmt)
        excerpt = text.strip().replace("\n", " ")
        if len(excerpt) > 160:
            excerpt = excerpt[:157] + "..."
        names = ", ".join(repr(m) for m in self.missing)
        super().__init__(
            f"judge reply ({self.fmt.value} format) has no usable rating for {names}; "
            f"reply began: {excerpt!r}"
        )


class JudgeResult(BaseModel):
    """The judge's ratings of one response, one score in [1, 5] per value.

    Attributes:
        scores: Value name -> score in [1, 5] (an expected score when log-probabilities were used).
        graded: True when at least one score came from token log-probabilities.
        from_logprobs: Value name -> whether that score came from log-probabilities.
        emitted: Value name -> the rating the judge actually wrote (clipped), before any grading.
        fault: Why the ratings are not real (e.g. the judge's reply could not be parsed), or None.

    Example:
        >>> r = JudgeResult.neutral(["tradition", "benevolence"], fault="unparsable")
        >>> r.scores
        {'tradition': 3.0, 'benevolence': 3.0}
    """

    model_config = ConfigDict(frozen=True)

    scores: dict[str, float]
    graded: bool = False
    from_logprobs: dict[str, bool] = Field(default_factory=dict)
    emitted: dict[str, float] = Field(default_factory=dict)
    fault: str | None = None

    @classmethod
    def neutral(cls, value_set: ValueSet | Sequence[str], fault: str) -> JudgeResult:
        """All values at the neutral 3.0, with the fault recorded (used after retries fail).

        Args:
            value_set: The value set (or its value names).
            fault: Why no real rating is available.
        """
        names = _names(value_set)
        return cls(
            scores=dict.fromkeys(names, NEUTRAL_SCORE),
            graded=False,
            from_logprobs=dict.fromkeys(names, False),
            emitted=dict.fromkeys(names, NEUTRAL_SCORE),
            fault=fault,
        )


# --------------------------------------------------------------------------------------
# Prompt building
# --------------------------------------------------------------------------------------

_MARKER_OPEN_RUN = re.compile(r"<{3,}")
_MARKER_CLOSE_RUN = re.compile(r">{3,}")


def _sanitize(text: str) -> str:
    """Defang runs of three or more ``<`` / ``>`` so untrusted text cannot forge a fence line."""
    text = _MARKER_OPEN_RUN.sub(lambda m: "\u2039" * len(m.group()), text)
    return _MARKER_CLOSE_RUN.sub(lambda m: "\u203a" * len(m.group()), text)


def _nonce(label: str, text: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}\x00{label}\x00{text}".encode()).hexdigest()
    return digest[:_NONCE_CHARS]


def fence(label: str, text: str, *, salt: str = DEFAULT_FENCE_SALT) -> str:
    """Enclose untrusted ``text`` between marker lines carrying an id derived from it.

    The id is a salted hash of the (sanitised) text, so it is the same on every call (repeatable
    prompts, cache-friendly) but the text cannot predict and contain its own closing marker.
    Runs of ``<<<`` and ``>>>`` inside the text are replaced by look-alike guillemets first.

    Args:
        label: Upper-case name of the block, e.g. ``"QUERY"`` or ``"RESPONSE"``.
        text: The untrusted text.
        salt: Mixed into the hash; change it to change every id.

    Returns:
        The fenced block: opening line, sanitised text, closing line.
    """
    clean = _sanitize(text)
    nonce = _nonce(label, clean, salt)
    return JUDGE_FENCED_BLOCK.format(
        open=JUDGE_FENCE_OPEN.format(label=label, nonce=nonce),
        text=clean,
        close=JUDGE_FENCE_CLOSE.format(label=label, nonce=nonce),
    )


def _names(value_set: ValueSet | Sequence[str]) -> list[str]:
    if isinstance(value_set, str):
        return [value_set]
    names = getattr(value_set, "names", None)
    if names is None:
        names = list(value_set)  # type: ignore[arg-type]
    return [str(n) for n in names]


def _format_instructions(names: Sequence[str], fmt: JudgeFormat) -> str:
    if fmt is JudgeFormat.JSON:
        slots = JUDGE_JSON_SLOT_SEPARATOR.join(JUDGE_JSON_SLOT.format(name=n) for n in names)
        return JUDGE_FORMAT_JSON.format(skeleton=JUDGE_JSON_SKELETON.format(slots=slots))
    skeleton = "\n".join(JUDGE_LINES_SLOT.format(name=n) for n in names)
    return JUDGE_FORMAT_LINES.format(skeleton=skeleton)


def judge_prompt_inputs(
    value_set: ValueSet,
    query: str,
    response: str,
    *,
    fmt: JudgeFormat | str = JudgeFormat.JSON,
    salt: str = DEFAULT_FENCE_SALT,
) -> dict[str, str]:
    """The variables of ``JUDGE_PROMPT`` for one (query, response) pair.

    Use this to run the judge as an LCEL chain (``JUDGE_PROMPT | judge_model``); otherwise
    :func:`build_judge_messages` formats the messages directly.

    Args:
        value_set: The values to rate.
        query: The user query (untrusted).
        response: The response to rate (untrusted).
        fmt: The answer format to request.
        salt: Salt of the fence ids.
    """
    fmt = JudgeFormat(fmt)
    _keys(value_set)  # fail early on ambiguous value names
    return {
        "values": value_set.describe(),
        "query_block": fence("QUERY", query, salt=salt),
        "response_block": fence("RESPONSE", response, salt=salt),
        "format_instructions": _format_instructions(value_set.names, fmt),
    }


def build_judge_messages(
    value_set: ValueSet,
    query: str,
    response: str,
    *,
    fmt: JudgeFormat | str = JudgeFormat.JSON,
    salt: str = DEFAULT_FENCE_SALT,
) -> list[BaseMessage]:
    """The system and human messages asking the judge to rate ``response`` on every value.

    Args:
        value_set: The values to rate.
        query: The user query (untrusted; fenced).
        response: The response to rate (untrusted; fenced).
        fmt: The answer format to request (``"json"`` or ``"lines"``).
        salt: Salt of the fence ids.

    Returns:
        ``[SystemMessage, HumanMessage]`` ready for ``judge_model.invoke``.
    """
    inputs = judge_prompt_inputs(value_set, query, response, fmt=fmt, salt=salt)
    return JUDGE_PROMPT.format_messages(**inputs)


def judge_json_schema(value_set: ValueSet) -> dict[str, Any]:
    """JSON schema of the judge's answer, for ``response_format`` or ``with_structured_output``.

    One required integer property per value, restricted to 1..5 with an ``enum`` (supported by
    OpenAI strict mode and by llama.cpp's grammar conversion), no other properties.

    Args:
        value_set: The values to rate.

    Example:
        >>> schema = judge_json_schema(vs)  # doctest: +SKIP
        >>> judge.with_structured_output(schema, method="json_schema")  # doctest: +SKIP
    """
    names = value_set.names
    _keys(value_set)
    return {
        "title": JUDGE_JSON_SCHEMA_TITLE,
        "description": JUDGE_JSON_SCHEMA_DESCRIPTION,
        "type": "object",
        "properties": {
            n: {
                "type": "integer",
                "enum": [1, 2, 3, 4, 5],
                "description": JUDGE_JSON_PROPERTY_DESCRIPTION.format(name=n),
            }
            for n in names
        },
        "required": list(names),
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    """Case, space, underscore and punctuation insensitive key of a value name."""
    return re.sub(r"[\W_]+", "", name.casefold())


def _keys(value_set: ValueSet | Sequence[str]) -> dict[str, str]:
    """Normalised key -> value name; rejects names that collide once normalised."""
    out: dict[str, str] = {}
    for name in _names(value_set):
        key = _norm(name)
        if not key:
            raise ValueSetError(
                f"value name {name!r}", "has no letters or digits", "give every value a real name"
            )
        if key in out:
            raise ValueSetError(
                f"value name {name!r}",
                f"cannot be told apart from {out[key]!r} in a judge's reply",
                "give the values names that differ in more than case, spaces or punctuation",
            )
        out[key] = name
    return out


@dataclass(frozen=True)
class _Found:
    value: float
    pos: int | None  # char offset of the number's first digit in the parsed text, if known


_NUMBER = r"(\d{1,2}(?:\.\d+)?)(?!\d)"
_SEP = r"[\s\"'*`]*(?:[:=]|[-\u2013\u2014]|\bis\b)?[\s\"'*`(\[]*"


def _name_pattern(name: str) -> str:
    parts = [re.escape(p) for p in re.split(r"[\W_]+", name) if p]
    return r"(?<![^\W_])" + r"[\W_]*".join(parts) + r"(?![^\W_])"


def _find_by_name(text: str, names: Sequence[str]) -> dict[str, _Found]:
    """Find ``name <sep> number`` for each name; line-anchored matches win over inline ones.

    Longer names are matched first and their matches masked, so a name that is a suffix of
    another (``security`` / ``data security``) cannot steal its rating.
    """
    masked = text
    found: dict[str, _Found] = {}
    for name in sorted(names, key=len, reverse=True):
        body = _name_pattern(name) + _SEP + _NUMBER
        anchored = re.compile(r"^[\s\-*#>\d.)\"'{,`]*?" + body, re.MULTILINE | re.IGNORECASE)
        m = anchored.search(masked) or re.search(body, masked, re.IGNORECASE)
        if m is None:
            continue
        found[name] = _Found(float(m.group(1)), m.start(1))
        masked = masked[: m.start()] + " " * (m.end() - m.start()) + masked[m.end() :]
    return found


def _coerce(raw: Any) -> float | None:
    if isinstance(raw, Mapping):
        for k in ("score", "rating", "value"):
            if k in raw:
                return _coerce(raw[k])
        return None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        f = float(raw)
    elif isinstance(raw, str):
        m = re.search(r"\d+(?:\.\d+)?", raw)
        if m is None:
            return None
        f = float(m.group())
    else:
        return None
    return f if math.isfinite(f) else None


def _from_mapping(obj: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for raw_key, raw_val in obj.items():
        name = keys.get(_norm(str(raw_key)))
        if name is None or name in out:
            continue
        val = _coerce(raw_val)
        if val is not None:
            out[name] = val
    return out


def _json_objects(text: str) -> list[tuple[int, int, dict[str, Any]]]:
    """Every JSON object decodable at some ``{`` of ``text``, as (start, end, object)."""
    decoder = json.JSONDecoder()
    objs: list[tuple[int, int, dict[str, Any]]] = []
    for m in re.finditer(r"\{", text):
        try:
            obj, end = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            objs.append((m.start(), end, obj))
    return objs


def _from_json(text: str, keys: Mapping[str, str]) -> dict[str, _Found]:
    """Ratings from the first JSON object holding every value (else the first holding any)."""
    best: tuple[int, int, dict[str, float]] | None = None
    for start, end, obj in _json_objects(text):
        vals = _from_mapping(obj, keys)
        if not vals:
            continue
        if best is None or (len(vals) == len(keys) and len(best[2]) < len(keys)):
            best = (start, end, vals)
        if len(vals) == len(keys):
            break
    if best is None:
        return {}
    start, end, vals = best
    spans = _find_by_name(text[start:end], list(vals))
    out: dict[str, _Found] = {}
    for name, val in vals.items():
        span = spans.get(name)
        pos = start + span.pos if span is not None and span.pos is not None else None
        if span is None or span.value != val:
            pos = None
        out[name] = _Found(val, pos)
    return out


def _extract(text: str, keys: Mapping[str, str], fmt: JudgeFormat) -> dict[str, _Found]:
    """Ratings found in ``text``: the requested format first, the other one for what is missing."""
    names = list(keys.values())
    if fmt is JudgeFormat.JSON:
        found = _from_json(text, keys)
        if len(found) < len(names):
            extra = _find_by_name(text, [n for n in names if n not in found])
            found = {**extra, **found}
    else:
        found = _find_by_name(text, names)
        if len(found) < len(names):
            extra = _from_json(text, keys)
            found = {**{k: v for k, v in extra.items() if k not in found}, **found}
    return found


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    return str(content)


def _clip(x: float) -> float:
    return min(MAX_SCORE, max(MIN_SCORE, x))


# --------------------------------------------------------------------------------------
# Log-probabilities
# --------------------------------------------------------------------------------------

_DIGIT_TOKEN = re.compile(r"""^\s*["']?\s*([1-5])\s*["']?\s*[,}\]]?\s*$""")


def _digit_of(token: Any) -> int | None:
    if not isinstance(token, str):
        return None
    m = _DIGIT_TOKEN.match(token)
    return int(m.group(1)) if m else None


def _get(entry: Any, key: str) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(key)
    return getattr(entry, key, None)


def _logprob_tokens(message: Any) -> list[Any] | None:
    meta = getattr(message, "response_metadata", None)
    if not isinstance(meta, Mapping):
        return None
    logprobs = meta.get("logprobs")
    if isinstance(logprobs, Sequence) and not isinstance(logprobs, str):
        content: Any = logprobs  # some providers put the token list there directly
    else:
        content = _get(logprobs, "content") if logprobs is not None else None
    if not isinstance(content, Sequence) or isinstance(content, str) or not content:
        return None
    if not all(isinstance(_get(e, "token"), str) for e in content):
        return None
    return list(content)


def _expected_digit(entry: Any) -> float | None:
    """Expected digit over 1..5 at one token position, renormalised over the digit tokens."""
    top = _get(entry, "top_logprobs")
    if not isinstance(top, Sequence) or isinstance(top, str):
        return None
    cands: list[tuple[str, float]] = []
    for t in top:
        tok, lp = _get(t, "token"), _get(t, "logprob")
        if isinstance(tok, str) and isinstance(lp, int | float) and not isinstance(lp, bool):
            cands.append((tok, float(lp)))
    if not any(_digit_of(tok) is not None for tok, _ in cands):
        return None
    emitted, emitted_lp = _get(entry, "token"), _get(entry, "logprob")
    if (
        isinstance(emitted_lp, int | float)
        and not isinstance(emitted_lp, bool)
        and all(tok != emitted for tok, _ in cands)
    ):
        cands.append((emitted, float(emitted_lp)))
    mass = dict.fromkeys(range(1, 6), 0.0)
    for tok, lp in cands:
        d = _digit_of(tok)
        if d is not None and math.isfinite(lp):
            mass[d] += math.exp(lp)
    total = sum(mass.values())
    if total <= 0.0:
        return None
    return sum(d * p for d, p in mass.items()) / total


def _graded_scores(
    tokens: Sequence[Any], keys: Mapping[str, str], fmt: JudgeFormat, emitted: Mapping[str, float]
) -> dict[str, float]:
    """Expected scores for the values whose emitted digit can be located in the token stream."""
    strings = [str(_get(e, "token")) for e in tokens]
    joined = "".join(strings)
    starts: list[int] = []
    offset = 0
    for s in strings:
        starts.append(offset)
        offset += len(s)
    found = _extract(joined, keys, fmt)
    out: dict[str, float] = {}
    for name, f in found.items():
        want = emitted.get(name)
        if f.pos is None or want is None or f.value != want:
            continue
        if f.value != int(f.value) or not MIN_SCORE <= f.value <= MAX_SCORE:
            continue  # not a single digit 1..5: nothing to grade
        idx = _token_at(starts, f.pos)
        entry = tokens[idx]
        if _digit_of(_get(entry, "token")) != int(f.value):
            continue  # the digit shares its token with other text: cannot read its distribution
        expected = _expected_digit(entry)
        if expected is not None:
            out[name] = _clip(expected)
    return out


def _token_at(starts: Sequence[int], pos: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:  # last token whose start <= pos
        mid = (lo + hi + 1) // 2
        if starts[mid] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


def parse_judge_output(
    message: AIMessage | str | Mapping[str, Any],
    value_set: ValueSet | Sequence[str],
    *,
    fmt: JudgeFormat | str = JudgeFormat.JSON,
) -> JudgeResult:
    """Turn the judge's reply into one score in [1, 5] per value.

    Tolerates prose, code fences and extra text around the answer, value names written with
    different case, spaces, hyphens or underscores, and numbers given as strings or floats.
    Out-of-range numbers are clipped to [1, 5]. With ``fmt="json"`` the first JSON object that
    holds every value wins (else the first that holds any); ``name: number`` lines fill gaps, and
    the other way round for ``fmt="lines"``. A reply from ``with_structured_output`` (a mapping)
    and a tool call's arguments are accepted too.

    When ``message.response_metadata["logprobs"]["content"]`` holds OpenAI-style log-probabilities,
    each value's score is the expected digit over 1..5 at the token where the judge wrote it,
    renormalised over the digit tokens among that position's ``top_logprobs``; values whose digit
    cannot be located, or whose top log-probabilities hold no digit, keep the written digit.

    Args:
        message: The judge's reply.
        value_set: The values that were rated (or their names).
        fmt: The format the judge was asked for.

    Returns:
        The scores, with ``graded`` / ``from_logprobs`` telling which came from log-probabilities.

    Raises:
        JudgeParseError: Some value has no rating in the reply (``.missing`` lists them).
    """
    fmt = JudgeFormat(fmt)
    keys = _keys(value_set)
    names = list(keys.values())

    if isinstance(message, Mapping):
        text = json.dumps(message, default=str)
        found = {n: _Found(v, None) for n, v in _from_mapping(message, keys).items()}
    else:
        text = message if isinstance(message, str) else _message_text(message.content)
        found = _extract(text, keys, fmt)
        if len(found) < len(names) and isinstance(message, AIMessage):
            for call in message.tool_calls:
                args = call.get("args")
                if isinstance(args, Mapping):
                    more = _from_mapping(args, keys)
                    found = {**{n: _Found(v, None) for n, v in more.items()}, **found}

    missing = [n for n in names if n not in found]
    if missing:
        raise JudgeParseError(missing, text, fmt)

    emitted = {n: _clip(found[n].value) for n in names}
    graded: dict[str, float] = {}
    tokens = None if isinstance(message, str | Mapping) else _logprob_tokens(message)
    if tokens is not None:
        raw = {n: found[n].value for n in names}
        graded = _graded_scores(tokens, keys, fmt, raw)

    scores = {n: graded.get(n, emitted[n]) for n in names}
    from_lp = {n: n in graded for n in names}
    return JudgeResult(
        scores=scores, graded=any(from_lp.values()), from_logprobs=from_lp, emitted=emitted
    )
