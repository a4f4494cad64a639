"""One place where the optimiser calls a model: retries, concurrency, tracing names and usage.

Every target, judge and proposer call goes through :class:`ModelCaller`, so that retries with
backoff, the concurrency bound, run names and metadata for tracing, and token accounting are the
same everywhere.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from langchain_picaco.config import RetrySettings
from langchain_picaco.errors import ModelCallError
from langchain_picaco.tokens import count_message_tokens, count_tokens

__all__ = ["CallUsage", "ModelCaller", "is_transient", "model_identity", "sampling_kwargs"]

_TRANSIENT_NAMES = {
    "RateLimitError",
    "APITimeoutError",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "ServerError",
    "ConnectError",
    "ReadTimeout",
    "ConnectTimeout",
    "RemoteProtocolError",
    "TransientModelError",
}
_PERMANENT_NAMES = {
    "AuthenticationError",
    "PermissionDeniedError",
    "BadRequestError",
    "NotFoundError",
    "UnprocessableEntityError",
    "ContextWindowExceededError",
}


def is_transient(exc: BaseException) -> bool:
    """Whether a model error may heal on retry (rate limit, timeout, connection, 5xx).

    Args:
        exc: The exception a model call raised.

    Returns:
        True for errors worth retrying; False for authentication, bad request, context too long.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _PERMANENT_NAMES:
        return False
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if isinstance(status, int):
        return status in (408, 409, 429) or status >= 500
    if names & _TRANSIENT_NAMES:
        return True
    return isinstance(exc, TimeoutError | ConnectionError | asyncio.TimeoutError)


def model_identity(model: Any) -> str:
    """A stable, credential-free name of a model (class and model name), without ports or keys."""
    name = None
    for attr in ("model_name", "model", "model_id", "name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            name = value
            break
    cls = type(model).__name__
    return f"{cls}:{name}" if name else cls


def sampling_kwargs(model: Any, *, temperature: float | None, seed: int | None) -> dict[str, Any]:
    """The sampling parameters a model is known to accept through ``bind``.

    OpenAI-compatible models (the local llama.cpp server included) and this package's scripted
    models take ``temperature`` and ``seed``; other providers get nothing, so a call never fails
    on an unknown parameter.
    """
    accepts = getattr(model, "accepts_sampling_kwargs", None)
    if accepts is None:
        accepts = any(c.__name__ == "BaseChatOpenAI" for c in type(model).__mro__)
    if not accepts:
        return {}
    out: dict[str, Any] = {}
    if temperature is not None:
        out["temperature"] = temperature
    if seed is not None:
        out["seed"] = seed
    return out


@dataclass
class CallUsage:
    """What some calls spent; added up across a run."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    calls_by_role: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)

    def add(self, other: CallUsage) -> None:
        """Add ``other`` into this one."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        for k, v in other.calls_by_role.items():
            self.calls_by_role[k] = self.calls_by_role.get(k, 0) + v
        for k, v in other.faults.items():
            self.faults[k] = self.faults.get(k, 0) + v

    def fault(self, kind: str, n: int = 1) -> None:
        """Count ``n`` faults of ``kind``."""
        self.faults[kind] = self.faults.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for graph state)."""
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls_by_role": dict(self.calls_by_role),
            "faults": dict(self.faults),
        }


# One semaphore per (caller group, event loop): asyncio primitives are bound to a loop.
_SEMAPHORES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _semaphore(key: int, limit: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    per_loop = _SEMAPHORES.setdefault(loop, {})
    sem = per_loop.get(key)
    if sem is None:
        sem = per_loop[key] = asyncio.Semaphore(limit)
    return sem


class ModelCaller:
    """Calls one chat model for one role, with retries, a shared concurrency bound and usage.

    Args:
        model: Any LangChain chat model.
        role: "target", "judge" or "proposer" (used in run names, metadata and usage).
        retry: Retry settings for transient errors.
        max_concurrency: Most calls in flight across every caller sharing ``group``.
        group: Callers with the same group share one concurrency bound.
        rate_limiter: Optional LangChain rate limiter applied before each attempt.
    """

    def __init__(
        self,
        model: BaseChatModel,
        role: str,
        *,
        retry: RetrySettings | None = None,
        max_concurrency: int = 4,
        group: int | None = None,
        rate_limiter: Any | None = None,
    ) -> None:
        self.model = model
        self.role = role
        self.retry = retry or RetrySettings()
        self.max_concurrency = max_concurrency
        self.group = group if group is not None else id(self)
        self.rate_limiter = rate_limiter
        self.identity = model_identity(model)

    async def acall(
        self,
        messages: Sequence[BaseMessage],
        *,
        usage: CallUsage,
        config: RunnableConfig | None = None,
        metadata: dict[str, Any] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        bind: dict[str, Any] | None = None,
    ) -> AIMessage:
        """Call the model once (retrying transient errors) and count what it spent.

        Args:
            messages: The prompt.
            usage: Where calls, tokens and faults are added.
            config: The caller's runnable config (callbacks nest the call into the graph's trace).
            metadata: Extra trace metadata (phase, iteration, query, candidate, ...).
            temperature: Sampling temperature, where the model accepts one.
            seed: Sampling seed, where the model accepts one.
            bind: Extra model parameters (e.g. logprobs, response_format).

        Returns:
            The model's message.

        Raises:
            ModelCallError: A permanent error, or a transient one that outlived the retries.
        """
        kwargs = sampling_kwargs(self.model, temperature=temperature, seed=seed)
        kwargs.update(bind or {})
        runnable = self.model.bind(**kwargs) if kwargs else self.model
        run_config: RunnableConfig = {
            **(config or {}),
            "run_name": f"picaco.{self.role}",
            "tags": [*((config or {}).get("tags") or []), f"picaco:{self.role}"],
            "metadata": {
                **((config or {}).get("metadata") or {}),
                **(metadata or {}),
                "role": self.role,
            },
        }
        sem = _semaphore(self.group, self.max_concurrency)
        attempts = 0

        def _before_sleep(_state: Any) -> None:
            usage.fault("retried")

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            # exponential backoff with full jitter, never above max_delay (the same in every
            # tenacity >= 8.2; wait_exponential_jitter's ``initial`` is deprecated in tenacity 9)
            wait=wait_random_exponential(
                multiplier=self.retry.initial_delay, max=self.retry.max_delay
            ),
            retry=retry_if_exception(is_transient),
            before_sleep=_before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if self.rate_limiter is not None:
                        await self.rate_limiter.aacquire()
                    async with sem:
                        coro = runnable.ainvoke(list(messages), run_config)
                        if self.retry.timeout is not None:
                            result = await asyncio.wait_for(coro, self.retry.timeout)
                        else:
                            result = await coro
        except ModelCallError:
            raise
        except Exception as exc:
            kind = "transient" if is_transient(exc) else "permanent"
            hint = (
                f"still failing after {attempts} attempts; try later or lower max_concurrency"
                if kind == "transient"
                else "this error will not heal on retry; check the model name, key and prompt size"
            )
            raise ModelCallError(self.role, f"{type(exc).__name__}: {exc} ({hint})") from exc
        message = result if isinstance(result, AIMessage) else AIMessage(content=str(result))
        self._count(messages, message, usage)
        return message

    def _count(self, messages: Sequence[BaseMessage], message: AIMessage, usage: CallUsage) -> None:
        usage.calls += 1
        usage.calls_by_role[self.role] = usage.calls_by_role.get(self.role, 0) + 1
        meta = message.usage_metadata
        if meta and (meta.get("input_tokens") or meta.get("output_tokens")):
            usage.input_tokens += int(meta.get("input_tokens") or 0)
            usage.output_tokens += int(meta.get("output_tokens") or 0)
        else:
            usage.input_tokens += count_message_tokens(messages)
            usage.output_tokens += count_tokens(message.text if hasattr(message, "text") else "")
