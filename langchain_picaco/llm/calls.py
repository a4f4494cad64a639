"""One place where the optimiser calls a model: cache, retries, concurrency, tracing and usage.

Every target, judge and proposer call goes through :class:`ModelCaller`, so that the call cache,
retries with backoff, the concurrency bound and rate limit, run names and metadata for tracing,
and token accounting are the same everywhere.

Which layer retries what (so nothing is retried twice):

* :class:`ModelCaller` retries each model call on its own: transient errors (rate limit, timeout,
  connection reset, 5xx) and empty replies, with exponential backoff and full jitter, up to
  ``RetrySettings.max_attempts``. Errors that will not heal (authentication, bad request, context
  too long) fail at once with a :class:`~langchain_picaco.errors.ModelCallError` saying what to do.
* The judge (:func:`~langchain_picaco.scoring.measure.judge_response`) re-asks on malformed
  output, then records a neutral score and a fault.
* The graph's node ``RetryPolicy`` (``retry_on=is_transient``) only sees transient errors raised
  outside a model call (an embeddings or likelihood scorer). A ``ModelCallError`` has used up its
  retries already and is never transient, so a node is not re-run for it (which would repeat the
  node's calls that had succeeded).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_core.runnables import RunnableConfig
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from langchain_picaco.config import RetrySettings
from langchain_picaco.errors import ModelCallError
from langchain_picaco.llm.tokens import count_message_tokens, count_tokens
from langchain_picaco.llm.usage import CallUsage, Usage

if TYPE_CHECKING:
    from langchain_core.caches import BaseCache
    from langchain_core.runnables import Runnable

__all__ = [
    "CallUsage",
    "EmptyReplyError",
    "ModelCaller",
    "artifact_usage",
    "context_window",
    "fault_kind",
    "is_transient",
    "model_identity",
    "sampling_kwargs",
]

logger = logging.getLogger(__name__)

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
    "EmptyReplyError",
}
_PERMANENT_NAMES = {
    "AuthenticationError",
    "PermissionDeniedError",
    "BadRequestError",
    "NotFoundError",
    "UnprocessableEntityError",
    "ContextWindowExceededError",
}
_RATE_NAMES = {"RateLimitError"}
_TIMEOUT_NAMES = {"APITimeoutError", "ReadTimeout", "ConnectTimeout", "TimeoutException"}
_CONNECTION_NAMES = {"APIConnectionError", "ConnectError", "RemoteProtocolError"}
_SERVER_NAMES = {"InternalServerError", "ServiceUnavailableError", "ServerError"}
_AUTH_NAMES = {"AuthenticationError", "PermissionDeniedError"}
_CONTEXT_WORDS = re.compile(
    r"context[_ ](length|window)|maximum context|too many tokens|prompt is too long|"
    r"exceeds? the (model'?s? )?(context|maximum)",
    re.I,
)
_PERMANENT_HINTS = {
    "authentication": "the key was refused; set a valid API key for this model",
    "context_too_long": (
        "the prompt is longer than the model's context; shorten the queries or the instruction, "
        "or use a model with a longer context"
    ),
    "bad_request": "the request was refused; check the model name and its parameters",
    "error": "check the model name, key and prompt size",
}
_EXCLUDED_PARAM = re.compile(
    r"key|secret|password|passwd|credential|auth|bearer|session|cookie|url|uri|host|port|"
    r"endpoint|proxy|header|client|organi[sz]ation|base$|^base|callback|latency|timeout|retries",
    re.I,
)


class EmptyReplyError(Exception):
    """A model answered with no text and no tool call (retried like a transient error).

    Args:
        message: The empty reply, kept for when every attempt was empty.
    """

    def __init__(self, message: AIMessage) -> None:
        super().__init__("the model returned an empty reply")
        self.message = message


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    return status if isinstance(status, int) else None


def check_chat_models(**models: Any) -> None:
    """Raise a typed error for any role given something that is not a LangChain chat model.

    Args:
        **models: Role name -> model (None is allowed: that role defaults to another model).

    Raises:
        ConfigError: Naming the role and what to pass instead.
    """
    from langchain_picaco.errors import ConfigError

    for role, model in models.items():
        if model is not None and not isinstance(model, BaseChatModel):
            raise ConfigError(
                role,
                f"is a {type(model).__name__}, not a LangChain chat model",
                "pass a BaseChatModel (e.g. init_chat_model('provider:model'))",
            )


def is_transient(exc: BaseException) -> bool:
    """Whether a model error may heal on retry (rate limit, timeout, connection, 5xx).

    Args:
        exc: The exception a model call raised.

    Returns:
        True for errors worth retrying; False for authentication, bad request, context too long,
        and for a ``ModelCallError`` (its retries are used up already).
    """
    if isinstance(exc, ModelCallError):
        return False
    names = _names(exc)
    if names & _PERMANENT_NAMES:
        return False
    status = _status(exc)
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    if names & _TRANSIENT_NAMES:
        return True
    return isinstance(exc, TimeoutError | ConnectionError | asyncio.TimeoutError)


def fault_kind(exc: BaseException) -> str:
    """A short name of what went wrong, for fault counts and messages.

    Transient kinds: ``rate_limit``, ``timeout``, ``connection``, ``server_error``,
    ``empty_reply``, ``transient``. Permanent kinds: ``authentication``, ``context_too_long``,
    ``bad_request``, ``error``.

    Args:
        exc: The exception a model call raised.
    """
    names = _names(exc)
    status = _status(exc)
    if isinstance(exc, EmptyReplyError):
        return "empty_reply"
    if is_transient(exc):
        if status == 429 or names & _RATE_NAMES:
            return "rate_limit"
        if status == 408 or names & _TIMEOUT_NAMES or isinstance(exc, TimeoutError):
            return "timeout"
        if status is not None and status >= 500 or names & _SERVER_NAMES:
            return "server_error"
        if names & _CONNECTION_NAMES or isinstance(exc, ConnectionError):
            return "connection"
        return "transient"
    if "ContextWindowExceededError" in names or _CONTEXT_WORDS.search(str(exc)):
        return "context_too_long"
    if status in (401, 403) or names & _AUTH_NAMES:
        return "authentication"
    if (status is not None and 400 <= status < 500) or names & _PERMANENT_NAMES:
        return "bad_request"
    return "error"


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


def _plain(value: Any) -> Any:
    """``value`` if it is plain JSON data without secrets, else None (left out)."""
    if isinstance(value, SecretStr):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        out = {str(k): _plain(v) for k, v in value.items() if not _EXCLUDED_PARAM.search(str(k))}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return None


def _model_params(model: Any) -> dict[str, Any]:
    """The model's identifying parameters (e.g. max_tokens), without keys, URLs or ports."""
    try:
        params = dict(getattr(model, "_identifying_params", {}) or {})
    except Exception:  # a third-party model's property may fail; identity still holds
        params = {}
    return _plain(params) or {}


def _secrets(model: Any, depth: int = 2) -> list[str]:
    """Secret values a model object holds, also in wrapped models (to scrub error messages)."""
    out: list[str] = []
    fields = getattr(type(model), "model_fields", {}) or {}
    for name in fields:
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret and len(secret) >= 6:
                out.append(secret)
        elif depth > 0 and isinstance(value, BaseChatModel):
            out.extend(_secrets(value, depth - 1))
    return out


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def context_window(model: Any) -> int | None:
    """The most prompt tokens ``model`` takes, when the model says (else None).

    Looks at ``context_window``, ``max_input_tokens`` and ``n_ctx`` attributes, the model profile's
    ``max_input_tokens``, and the embedded llama.cpp server's context per slot.

    Args:
        model: A chat model.
    """
    for attr in ("context_window", "max_input_tokens", "n_ctx"):
        value = getattr(model, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    profile = getattr(model, "profile", None)
    if isinstance(profile, Mapping):
        value = profile.get("max_input_tokens")
        if isinstance(value, int) and value > 0:
            return value
    settings = getattr(getattr(model, "server", None), "settings", None)
    n_ctx = getattr(settings, "n_ctx", None)
    if isinstance(n_ctx, int) and n_ctx > 0:
        slots = getattr(settings, "n_parallel", 1)
        return n_ctx // max(1, slots if isinstance(slots, int) else 1)
    return None


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


artifact_usage = Usage.from_counts
"""0.1's name of :meth:`~langchain_picaco.llm.usage.Usage.from_counts` (kept for one release)."""


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


def _message_key(message: BaseMessage) -> dict[str, Any]:
    """What of a message decides the reply (not its random id)."""
    out: dict[str, Any] = {"type": message.type, "content": message.content}
    if message.name:
        out["name"] = message.name
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [{k: c.get(k) for k in ("name", "args", "id")} for c in tool_calls]
    tool_call_id = getattr(message, "tool_call_id", None)
    if tool_call_id:
        out["tool_call_id"] = tool_call_id
    return out


def _is_empty(message: AIMessage) -> bool:
    if message.tool_calls:
        return False
    content = message.content
    if isinstance(content, str):
        return not content.strip()
    return not any(
        (b.get("text") or "").strip() if isinstance(b, dict) else str(b).strip() for b in content
    )


class ModelCaller:
    """Calls one chat model for one role: cache, retries, a shared concurrency bound and usage.

    Example:
        .. code-block:: python

            from langchain_picaco.llm.cache import SQLiteCallCache
            from langchain_picaco.llm.calls import CallUsage, ModelCaller

            usage = CallUsage()
            caller = ModelCaller(model, "judge", cache=SQLiteCallCache("calls.sqlite"))
            reply = await caller.acall(messages, usage=usage, temperature=0.0, seed=1)
            print(usage.calls, usage.cache_hits, usage.faults)

    Args:
        model: Any LangChain chat model.
        role: "target", "judge" or "proposer" (used in run names, metadata and usage).
        retry: Retry settings for transient errors.
        max_concurrency: Most calls in flight across every caller sharing ``group``.
        group: Callers with the same group share one concurrency bound.
        rate_limiter: Optional LangChain rate limiter, asked before each attempt (not for cache
            hits).
        cache: Optional LangChain cache (e.g. :class:`~langchain_picaco.llm.cache.SQLiteCallCache`),
            looked up before each call; a hit costs no call and no budget.
        retry_empty: Retry an empty reply like a transient error (the last empty reply is
            returned when every attempt was empty).
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
        cache: BaseCache | None = None,
        retry_empty: bool = True,
    ) -> None:
        self.model = model
        self.role = role
        self.retry = retry or RetrySettings()
        self.max_concurrency = max_concurrency
        self.group = group if group is not None else id(self)
        self.rate_limiter = rate_limiter
        self.cache = cache
        self.retry_empty = retry_empty
        self.identity = model_identity(model)

    def cache_strings(
        self,
        messages: Sequence[BaseMessage],
        *,
        temperature: float | None,
        seed: int | None,
        bind: Mapping[str, Any] | None,
    ) -> tuple[str, str]:
        """The ``(prompt, llm_string)`` pair a call is cached under.

        The model string holds the model's identity (class and model name: no key, URL or port),
        its identifying parameters without secrets, and the call's temperature, seed and bound
        parameters, as requested (also for models that ignore them, so two samples with different
        seeds are never one cache entry). The cache stores only a hash of the pair.
        """
        prompt = json.dumps(
            [_message_key(m) for m in messages], sort_keys=True, ensure_ascii=False, default=str
        )
        llm = json.dumps(
            {
                "model": self.identity,
                "params": _model_params(self.model),
                "temperature": temperature,
                "seed": seed,
                "bind": _plain(dict(bind or {})),
            },
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return prompt, llm

    async def _lookup(self, key: tuple[str, str], usage: CallUsage) -> AIMessage | None:
        assert self.cache is not None
        try:
            cached = await self.cache.alookup(*key)
        except sqlite3.Error as exc:  # a broken cache must not end the run: call the model
            logger.warning("call cache lookup failed (%s); calling the model", exc)
            usage.fault("cache_error")
            return None
        if not cached:
            return None
        first: Generation = cached[0]
        if isinstance(first, ChatGeneration) and isinstance(first.message, AIMessage):
            return first.message
        return AIMessage(content=first.text)

    async def _store(self, key: tuple[str, str], message: AIMessage, usage: CallUsage) -> None:
        assert self.cache is not None
        try:
            await self.cache.aupdate(*key, [ChatGeneration(message=message)])
        except sqlite3.Error as exc:
            logger.warning("call cache update failed (%s)", exc)
            usage.fault("cache_error")

    async def _cache_hit(self, key: tuple[str, str], usage: CallUsage) -> AIMessage | None:
        """The cached reply under ``key`` (None: a miss), counting the hit or the miss."""
        hit = await self._lookup(key, usage)
        if hit is not None:
            usage.cache_hits += 1
            return hit
        usage.cache_misses += 1
        return None

    def _bound_model(
        self, temperature: float | None, seed: int | None, bind: dict[str, Any] | None
    ) -> Runnable[Any, Any]:
        """The model with the call's sampling settings and extra parameters bound."""
        kwargs = sampling_kwargs(self.model, temperature=temperature, seed=seed)
        kwargs.update(bind or {})
        return self.model.bind(**kwargs) if kwargs else self.model

    def _run_config(
        self, config: RunnableConfig | None, metadata: dict[str, Any] | None
    ) -> RunnableConfig:
        """The caller's config with this role's run name, tag and trace metadata added."""
        return {
            **(config or {}),
            "run_name": f"picaco.{self.role}",
            "tags": [*((config or {}).get("tags") or []), f"picaco:{self.role}"],
            "metadata": {
                **((config or {}).get("metadata") or {}),
                **(metadata or {}),
                "role": self.role,
            },
        }

    def _retrying(self, usage: CallUsage) -> AsyncRetrying:
        """The retry loop: transient errors only, backoff with full jitter, each retry counted."""

        def _before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            kind = fault_kind(exc) if exc is not None else "transient"
            usage.fault("retried")
            usage.retries[kind] = usage.retries.get(kind, 0) + 1
            logger.info(
                "%s model: %s on attempt %d, retrying", self.role, kind, state.attempt_number
            )

        return AsyncRetrying(
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

    async def _attempt(
        self,
        messages: Sequence[BaseMessage],
        runnable: Runnable[Any, Any],
        run_config: RunnableConfig,
        sem: asyncio.Semaphore,
    ) -> AIMessage:
        """One attempt: the rate limit, the concurrency bound, the call and its timeout."""
        if self.rate_limiter is not None:
            await self.rate_limiter.aacquire()
        async with sem:
            coro = runnable.ainvoke(list(messages), run_config)
            if self.retry.timeout is not None:
                result = await asyncio.wait_for(coro, self.retry.timeout)
            else:
                result = await coro
        return result if isinstance(result, AIMessage) else AIMessage(content=str(result))

    def _call_error(self, exc: Exception, attempts: int) -> ModelCallError:
        """The error a failed call raises: what went wrong and what to do, without secrets."""
        kind = fault_kind(exc)
        if is_transient(exc):
            hint = (
                f"{kind}, still failing after {attempts} attempts; try later or lower "
                "max_concurrency"
            )
        else:
            hint = f"{kind}: this error will not heal on retry; {_PERMANENT_HINTS[kind]}"
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        text = _scrub(f"{detail} ({hint})", _secrets(self.model))
        return ModelCallError(self.role, text)

    async def _call_with_retries(
        self,
        messages: Sequence[BaseMessage],
        runnable: Runnable[Any, Any],
        run_config: RunnableConfig,
        usage: CallUsage,
    ) -> AIMessage:
        """The model's reply, retrying transient errors and (with ``retry_empty``) empty replies.

        Raises:
            EmptyReplyError: Every attempt came back empty (each was counted).
            ModelCallError: A permanent error, or a transient one that outlived the retries.
        """
        sem = _semaphore(self.group, self.max_concurrency)
        attempts = 0
        retrying = self._retrying(usage)
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    message = await self._attempt(messages, runnable, run_config, sem)
                    if self.retry_empty and _is_empty(message):
                        self._count(messages, message, usage)  # an answered call, if empty
                        raise EmptyReplyError(message)
        except (ModelCallError, EmptyReplyError):
            raise
        except Exception as exc:
            raise self._call_error(exc, attempts) from exc
        return message

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
        """Call the model once (cache first, retrying transient errors) and count what it spent.

        Args:
            messages: The prompt.
            usage: Where calls, tokens, cache hits and faults are added.
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
        key = None
        if self.cache is not None:
            key = self.cache_strings(messages, temperature=temperature, seed=seed, bind=bind)
            hit = await self._cache_hit(key, usage)
            if hit is not None:
                return hit
        runnable = self._bound_model(temperature, seed, bind)
        run_config = self._run_config(config, metadata)
        try:
            message = await self._call_with_retries(messages, runnable, run_config, usage)
        except EmptyReplyError as exc:
            # every attempt came back empty (each was counted): hand the empty reply on, the
            # caller records it (an empty response, a malformed judge reply, an empty candidate)
            return exc.message
        self._count(messages, message, usage)
        if key is not None:
            await self._store(key, message, usage)
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
