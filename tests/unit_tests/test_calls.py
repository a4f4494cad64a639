"""ModelCaller: retries of transient errors, fail-fast on permanent ones, concurrency, usage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage, HumanMessage

from langchain_picaco.config import RetrySettings
from langchain_picaco.errors import ModelCallError
from langchain_picaco.llm.calls import (
    CallUsage,
    ModelCaller,
    is_transient,
    model_identity,
    sampling_kwargs,
)
from langchain_picaco.testing import ScriptedChatModel

NO_WAIT = RetrySettings(max_attempts=4, initial_delay=0, max_delay=0)
PROMPT = [HumanMessage(content="hello there")]


class RateLimitError(Exception):
    """Named like the providers' rate-limit error."""


class AuthenticationError(Exception):
    """Named like the providers' bad-key error."""


class HTTPStatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code


class Flaky(ScriptedChatModel):
    """Raises ``error`` on its first ``failures`` calls, then answers "ok"."""

    failures: int = 0
    error: Any = None
    seen_kwargs: list[dict[str, Any]] = []

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        self.seen_kwargs.append(dict(kwargs))
        if self.calls <= self.failures:
            raise self.error
        return "ok"


async def test_transient_error_is_retried_then_succeeds() -> None:
    model = Flaky(failures=3, error=RateLimitError("slow down"), seen_kwargs=[])
    usage = CallUsage()
    message = await ModelCaller(model, "target", retry=NO_WAIT).acall(PROMPT, usage=usage)
    assert message.content == "ok"
    assert model.calls == 4  # three failures, then the success
    assert usage.faults == {"retried": 3}
    assert usage.calls == 1 and usage.calls_by_role == {"target": 1}


async def test_transient_error_outliving_the_retries_raises_model_call_error() -> None:
    model = Flaky(failures=10, error=RateLimitError("slow down"), seen_kwargs=[])
    with pytest.raises(ModelCallError) as info:
        await ModelCaller(model, "judge", retry=NO_WAIT).acall(PROMPT, usage=CallUsage())
    assert model.calls == NO_WAIT.max_attempts
    assert "judge" in str(info.value) and "RateLimitError" in str(info.value)
    assert isinstance(info.value.__cause__, RateLimitError)


async def test_permanent_error_fails_at_once() -> None:
    model = Flaky(failures=10, error=AuthenticationError("bad key"), seen_kwargs=[])
    usage = CallUsage()
    with pytest.raises(ModelCallError) as info:
        await ModelCaller(model, "proposer", retry=NO_WAIT).acall(PROMPT, usage=usage)
    assert model.calls == 1
    assert "AuthenticationError" in str(info.value)
    assert "will not heal" in str(info.value)
    assert usage.calls == 0 and usage.faults == {}


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (RateLimitError("x"), True),
        (AuthenticationError("x"), False),
        (HTTPStatusError(429), True),
        (HTTPStatusError(503), True),
        (HTTPStatusError(408), True),
        (HTTPStatusError(400), False),
        (HTTPStatusError(401), False),
        (TimeoutError(), True),
        (ConnectionError(), True),
        (ValueError("bug"), False),
        (KeyError("bug"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


async def test_status_code_decides_over_the_class_name() -> None:
    model = Flaky(failures=2, error=HTTPStatusError(503), seen_kwargs=[])
    usage = CallUsage()
    await ModelCaller(model, "target", retry=NO_WAIT).acall(PROMPT, usage=usage)
    assert model.calls == 3 and usage.faults == {"retried": 2}


async def test_timeout_counts_as_transient() -> None:
    slow = Flaky(latency=0.5, seen_kwargs=[])
    retry = RetrySettings(max_attempts=2, initial_delay=0, max_delay=0, timeout=0.01)
    with pytest.raises(ModelCallError, match="still failing after 2 attempts"):
        await ModelCaller(slow, "target", retry=retry).acall(PROMPT, usage=CallUsage())
    assert slow.calls == 2


async def test_concurrency_bound_is_reached_and_never_exceeded() -> None:
    model = Flaky(latency=0.02, seen_kwargs=[])
    caller = ModelCaller(model, "target", max_concurrency=4)
    usage = CallUsage()
    await asyncio.gather(*(caller.acall(PROMPT, usage=usage) for _ in range(20)))
    assert model.max_in_flight == 4
    assert usage.calls == 20


async def test_callers_of_one_group_share_the_bound() -> None:
    model = Flaky(latency=0.02, seen_kwargs=[])
    usage = CallUsage()
    a = ModelCaller(model, "target", max_concurrency=3, group=7)
    b = ModelCaller(model, "judge", max_concurrency=3, group=7)
    await asyncio.gather(*(c.acall(PROMPT, usage=usage) for c in [a, b] * 8))
    assert model.max_in_flight == 3
    assert usage.calls_by_role == {"target": 8, "judge": 8}
    # separate groups: separate bounds
    other = Flaky(latency=0.02, seen_kwargs=[])
    c = ModelCaller(other, "target", max_concurrency=3, group=8)
    d = ModelCaller(other, "judge", max_concurrency=3, group=9)
    await asyncio.gather(*(x.acall(PROMPT, usage=CallUsage()) for x in [c, d] * 8))
    assert other.max_in_flight == 6


async def test_rate_limiter_is_asked_before_every_attempt() -> None:
    class Limiter:
        acquired = 0

        async def aacquire(self) -> bool:
            Limiter.acquired += 1
            return True

    model = Flaky(failures=2, error=RateLimitError("x"), seen_kwargs=[])
    caller = ModelCaller(model, "target", retry=NO_WAIT, rate_limiter=Limiter())
    await caller.acall(PROMPT, usage=CallUsage())
    assert Limiter.acquired == 3


async def test_sampling_kwargs_reach_models_that_accept_them_only() -> None:
    model = Flaky(seen_kwargs=[])
    await ModelCaller(model, "target").acall(PROMPT, usage=CallUsage(), temperature=0.7, seed=11)
    assert model.seen_kwargs[-1]["temperature"] == 0.7
    assert model.seen_kwargs[-1]["seed"] == 11
    assert sampling_kwargs(FakeListChatModel(responses=["x"]), temperature=0.7, seed=1) == {}
    # a model that does not take them still gets called (no unknown-parameter failure)
    fake = FakeListChatModel(responses=["plain"])
    msg = await ModelCaller(fake, "target").acall(
        PROMPT, usage=CallUsage(), temperature=0.7, seed=1
    )
    assert msg.content == "plain"


async def test_usage_uses_reported_tokens_else_counts_them() -> None:
    usage = CallUsage()
    await ModelCaller(Flaky(seen_kwargs=[]), "target").acall(PROMPT, usage=usage)
    assert (usage.input_tokens, usage.output_tokens) == (2, 1)  # the scripted model's report
    counted = CallUsage()
    fake = FakeListChatModel(responses=["one two three four"])
    await ModelCaller(fake, "target").acall(PROMPT, usage=counted)
    assert counted.input_tokens > 0 and counted.output_tokens >= 4


def test_call_usage_add_and_dict() -> None:
    a = CallUsage(calls=2, input_tokens=10, calls_by_role={"target": 2}, faults={"x": 1})
    b = CallUsage(calls=1, output_tokens=5, calls_by_role={"target": 1, "judge": 1})
    b.fault("x", 2)
    a.add(b)
    assert a.as_dict() == {
        "calls": 3,
        "input_tokens": 10,
        "output_tokens": 5,
        "calls_by_role": {"target": 3, "judge": 1},
        "faults": {"x": 3},
    }


def test_model_identity_has_no_secrets() -> None:
    class Keyed(FakeListChatModel):
        api_key: str = "sk-secret"
        base_url: str = "http://127.0.0.1:8080/v1"

    ident = model_identity(Keyed(responses=["x"], name="tiny"))
    assert ident == "Keyed:tiny"
    assert "secret" not in ident and "8080" not in ident
