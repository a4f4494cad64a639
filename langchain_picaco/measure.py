"""Drawing a response and having it judged: the two calls every measurement is made of.

The graph's ``sample`` and ``score`` nodes and :meth:`PicacoOptimizer.evaluate` share these, so a
response is produced and rated the same way during optimisation and evaluation.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from langchain_picaco.calls import CallUsage, ModelCaller
from langchain_picaco.config import PicacoConfig
from langchain_picaco.scoring import (
    JudgeParseError,
    JudgeResult,
    build_judge_messages,
    judge_json_schema,
    parse_judge_output,
)
from langchain_picaco.values import ValueSet

__all__ = [
    "generate_response",
    "judge_bind_kwargs",
    "judge_response",
    "message_text",
    "stable_seed",
    "target_messages",
]


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
    use_lp = cfg.judge_logprobs == "on" or (
        cfg.judge_logprobs == "auto" and bool(getattr(judge, "supports_logprobs", False))
    )
    if use_lp:
        kwargs.update({"logprobs": True, "top_logprobs": 5})
    return kwargs


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
) -> JudgeResult:
    """Rate ``response`` on every value in one judge call, retrying malformed replies.

    After ``cfg.judge_retries`` malformed replies, the response gets a neutral 3 on every value
    and the fault is counted (``judge_neutral``), so one bad reply never ends a run.
    """
    if not response:
        return JudgeResult(scores=dict.fromkeys(value_set.names, 1.0), fault="empty_response")
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
            metadata={**(metadata or {}), "values": value_set.names, "attempt": attempt},
        )
        try:
            return parse_judge_output(message, value_set, fmt=cfg.judge_format)
        except JudgeParseError:
            usage.fault("judge_malformed")
    usage.fault("judge_neutral")
    return JudgeResult.neutral(value_set, fault="judge_unparsable")
