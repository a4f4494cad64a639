"""Drawing a response and having it judged: the two calls every measurement is made of.

The graph's ``sample`` and ``score`` nodes and :meth:`PicacoOptimizer.evaluate` share these, so a
response is produced and rated the same way during optimisation and evaluation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from langchain_picaco.config import PicacoConfig
from langchain_picaco.llm.calls import CallUsage, ModelCaller
from langchain_picaco.llm.tokens import count_tokens
from langchain_picaco.prompts import JUDGE_LIKELIHOOD_ACTING, JUDGE_LIKELIHOOD_NEUTRAL
from langchain_picaco.scoring import (
    JudgeParseError,
    JudgeResult,
    build_judge_messages,
    judge_json_schema,
    parse_judge_output,
)
from langchain_picaco.scoring.injection import addresses_judge
from langchain_picaco.scoring.judge import NEUTRAL_SCORE
from langchain_picaco.scoring.questions import (
    QuestionKind,
    build_value_messages,
    parse_value_answer,
)
from langchain_picaco.values.value_sets import Value, ValueSet

__all__ = [
    "JUDGE_PROTOCOLS",
    "LIKELIHOOD_SCALE",
    "default_judge_protocol",
    "generate_response",
    "judge_calls_per_response",
    "judge_bind_kwargs",
    "judge_response",
    "likelihood_judge",
    "message_text",
    "question_bind_kwargs",
    "stable_seed",
    "target_messages",
]


JUDGE_PROTOCOLS = ("rubric", "per_value", "per_value_digit", "likelihood")
"""The concrete judge protocols (``"auto"`` resolves to one of them):

* ``rubric``: one call rates every value (JSON or lines); cheapest, for strong judges.
* ``per_value``: one yes/no question per value, ``1 + 4 P(yes)`` from log-probabilities.
* ``per_value_digit``: one 1..5 question per value, the expected digit from log-probabilities.
* ``likelihood``: Bayes' rule by teacher forcing on the judge model (local models only).
"""

LIKELIHOOD_SCALE = 0.05
"""Nats per token of the likelihood protocol's log-ratio that move a score by about 2 points."""


def judge_calls_per_response(protocol: str, n_values: int) -> int:
    """Judge calls (retries aside) that rating one response takes under ``protocol``.

    Args:
        protocol: A concrete protocol (one of :data:`JUDGE_PROTOCOLS`).
        n_values: Values in the value set.
    """
    if protocol == "rubric":
        return 1
    if protocol == "likelihood":
        return n_values + 1
    return n_values


def default_judge_protocol(judge: Any) -> str:
    """The protocol ``judge_protocol="auto"`` uses when no calibration chose one.

    A model may declare ``picaco_judge_protocol`` (the local llama.cpp model says
    ``"per_value"``: small judges see values one at a time); otherwise ``"rubric"``.
    """
    while hasattr(judge, "bound") and not hasattr(judge, "picaco_judge_protocol"):
        judge = judge.bound
    declared = getattr(judge, "picaco_judge_protocol", None)
    return declared if declared in JUDGE_PROTOCOLS else "rubric"


def likelihood_judge(judge: Any) -> Any | None:
    """The judge model's teacher-forcing scorer (its ``picaco_likelihood()``), or None."""
    hook = getattr(judge, "picaco_likelihood", None)
    return hook() if callable(hook) else None


def stable_seed(*parts: Any) -> int:
    """A 31-bit seed derived from ``parts`` (the same in every process, unlike ``hash``)."""
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def message_text(message: AIMessage) -> str:
    """The text of a model reply (string or content blocks)."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


def target_messages(instruction: str | None, query: str) -> list[BaseMessage]:
    """The target's prompt: the instruction as the system message (if any), then the query."""
    messages: list[BaseMessage] = []
    if instruction:
        messages.append(SystemMessage(content=instruction))
    messages.append(HumanMessage(content=query))
    return messages


async def generate_response(
    caller: ModelCaller,
    instruction: str | None,
    query: str,
    *,
    usage: CallUsage,
    temperature: float,
    seed: int,
    config: RunnableConfig | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """One response of the target to ``query`` under ``instruction`` (None: the bare model)."""
    message = await caller.acall(
        target_messages(instruction, query),
        usage=usage,
        config=config,
        temperature=temperature,
        seed=seed,
        metadata=metadata,
    )
    text = message_text(message).strip()
    if not text:
        usage.fault("empty_response")
    return text


def judge_bind_kwargs(judge: Any, value_set: ValueSet, cfg: PicacoConfig) -> dict[str, Any]:
    """Extra judge-call parameters: the model's own hook, plus log-probabilities where supported.

    A chat model may define ``picaco_judge_kwargs(schema, fmt) -> dict`` to ask for constrained
    output its own way (the local llama.cpp model does); ``supports_logprobs = True`` turns on
    graded scores when ``judge_logprobs="auto"``.
    """
    kwargs: dict[str, Any] = {}
    hook = getattr(judge, "picaco_judge_kwargs", None)
    if callable(hook):
        kwargs.update(hook(judge_json_schema(value_set), cfg.judge_format))
    if _wants_logprobs(judge, cfg):
        kwargs.update({"logprobs": True, "top_logprobs": 5})
    return kwargs


def _wants_logprobs(judge: Any, cfg: PicacoConfig) -> bool:
    """Whether judge calls ask for log-probabilities (``cfg.judge_logprobs``, the model's say)."""
    return cfg.judge_logprobs == "on" or (
        cfg.judge_logprobs == "auto" and bool(getattr(judge, "supports_logprobs", False))
    )


async def judge_response(
    caller: ModelCaller,
    value_set: ValueSet,
    query: str,
    response: str,
    cfg: PicacoConfig,
    *,
    usage: CallUsage,
    seed_key: Any,
    config: RunnableConfig | None = None,
    metadata: dict[str, Any] | None = None,
    protocol: str | None = None,
) -> JudgeResult:
    """Rate ``response`` on every value under a judge protocol, retrying malformed replies.

    ``protocol`` (default ``cfg.judge_protocol``; ``"auto"`` without a calibration's choice
    means :func:`default_judge_protocol`) picks how: one call for every value (``rubric``), one
    question per value (``per_value``, ``per_value_digit``) or teacher forcing
    (``likelihood``). After ``cfg.judge_retries`` malformed replies, the value (or, for the
    rubric, every value) gets a neutral 3 and the fault is counted (``judge_neutral``), so one
    bad reply never ends a run. A response that addresses its evaluator is not judged at all
    under ``cfg.judge_injection="flag"``: it scores 1 on every value (see
    :mod:`langchain_picaco.scoring.injection`).
    """
    if not response:
        return JudgeResult(scores=dict.fromkeys(value_set.names, 1.0), fault="empty_response")
    if cfg.judge_injection == "flag" and (passage := addresses_judge(response)) is not None:
        usage.fault("judge_addressed")
        return JudgeResult(
            scores=dict.fromkeys(value_set.names, 1.0),
            fault=f"addresses_judge: {passage[:80]!r}",
        )
    protocol = protocol or cfg.judge_protocol
    if protocol == "auto":
        protocol = default_judge_protocol(caller.model)
    meta = {**(metadata or {}), "judge_protocol": protocol}
    if protocol in ("per_value", "per_value_digit"):
        kind = QuestionKind.YES_NO if protocol == "per_value" else QuestionKind.DIGIT
        return await _judge_per_value(
            caller, value_set, query, response, cfg, kind,
            usage=usage, seed_key=seed_key, config=config, metadata=meta,
        )  # fmt: skip
    if protocol == "likelihood":
        return await _judge_by_likelihood(caller, value_set, query, response, usage=usage)
    messages = build_judge_messages(value_set, query, response, fmt=cfg.judge_format)
    bind = judge_bind_kwargs(caller.model, value_set, cfg)
    for attempt in range(cfg.judge_retries + 1):
        message = await caller.acall(
            messages,
            usage=usage,
            config=config,
            temperature=0.0 if attempt == 0 else 0.3,
            seed=stable_seed(cfg.seed, "judge", seed_key, attempt),
            bind=bind,
            metadata={**meta, "values": value_set.names, "attempt": attempt},
        )
        try:
            return parse_judge_output(message, value_set, fmt=cfg.judge_format)
        except JudgeParseError:
            usage.fault("judge_malformed")
    usage.fault("judge_neutral")
    return JudgeResult.neutral(value_set, fault="judge_unparsable")


def question_bind_kwargs(judge: Any, kind: QuestionKind, cfg: PicacoConfig) -> dict[str, Any]:
    """Per-value question options: the model's own hook, plus log-probabilities where supported.

    A chat model may define ``picaco_question_kwargs(kind) -> dict`` (the local llama.cpp model
    constrains the answer with a grammar, caps it at one token and turns its prompt cache on:
    the questions about one value share the system message and the value's description).
    """
    kwargs: dict[str, Any] = {}
    hook = getattr(judge, "picaco_question_kwargs", None)
    if callable(hook):
        kwargs.update(hook(kind.value))
    if _wants_logprobs(judge, cfg):
        kwargs.update({"logprobs": True, "top_logprobs": 20})
    return kwargs


async def _judge_per_value(
    caller: ModelCaller,
    value_set: ValueSet,
    query: str,
    response: str,
    cfg: PicacoConfig,
    kind: QuestionKind,
    *,
    usage: CallUsage,
    seed_key: Any,
    config: RunnableConfig | None,
    metadata: dict[str, Any],
) -> JudgeResult:
    bind = question_bind_kwargs(caller.model, kind, cfg)

    async def one(value: Value) -> tuple[str, float, bool, float, bool]:
        messages = build_value_messages(value, query, response, kind=kind)
        for attempt in range(cfg.judge_retries + 1):
            message = await caller.acall(
                messages,
                usage=usage,
                config=config,
                temperature=0.0 if attempt == 0 else 0.3,
                seed=stable_seed(cfg.seed, "judge", seed_key, value.name, attempt),
                bind=bind,
                metadata={**metadata, "values": [value.name], "attempt": attempt},
            )
            answer = parse_value_answer(message, kind)
            if answer is not None:
                return value.name, answer.score, answer.from_logprobs, answer.emitted, False
            usage.fault("judge_malformed")
        usage.fault("judge_neutral")
        return value.name, NEUTRAL_SCORE, False, NEUTRAL_SCORE, True

    results = await asyncio.gather(*(one(v) for v in value_set.values))
    failed = [name for name, *_, bad in results if bad]
    return JudgeResult(
        scores={name: score for name, score, *_ in results},
        graded=any(lp for _, _, lp, _, _ in results),
        from_logprobs={name: lp for name, _, lp, _, _ in results},
        emitted={name: emitted for name, _, _, emitted, _ in results},
        fault=f"judge_unparsable: {', '.join(failed)}" if failed else None,
    )


async def _judge_by_likelihood(
    caller: ModelCaller,
    value_set: ValueSet,
    query: str,
    response: str,
    *,
    usage: CallUsage,
) -> JudgeResult:
    """Score each value by ``log p(y | x, acting on v) - log p(y | x, neutral)`` per token.

    The log-ratio ``d`` (nats per token) becomes ``3 + 2 tanh(d / LIKELIHOOD_SCALE)``. Every
    teacher-forced pass is one counted judge call (K + 1 per response).
    """
    scorer = likelihood_judge(caller.model)
    if scorer is None:
        from langchain_picaco.errors import ConfigError

        raise ConfigError(
            "config.judge_protocol",
            f"is 'likelihood' but the judge ({caller.identity}) gives no log-probabilities of "
            "given text",
            "use a local GGUF judge ('local', 'local-1.5b' or a .gguf path) or another protocol",
        )

    async def lbar(system: str) -> float:
        messages = [SystemMessage(content=system), HumanMessage(content=query)]
        score = await scorer.ascore(messages, response)
        usage.calls += 1
        usage.calls_by_role["judge"] = usage.calls_by_role.get("judge", 0) + 1
        usage.input_tokens += sum(map(count_tokens, (system, query, response)))
        return score

    systems = [JUDGE_LIKELIHOOD_NEUTRAL] + [
        JUDGE_LIKELIHOOD_ACTING.format(name=v.name, description=v.description)
        for v in value_set.values
    ]
    neutral, *acting = await asyncio.gather(*(lbar(s) for s in systems))
    scores = {
        v.name: 3.0 + 2.0 * math.tanh((a - neutral) / LIKELIHOOD_SCALE)
        for v, a in zip(value_set.values, acting, strict=True)
    }
    return JudgeResult(
        scores=scores,
        graded=True,
        from_logprobs=dict.fromkeys(scores, True),
        emitted=dict(scores),
    )
