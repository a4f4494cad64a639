"""The call cache: hashed keys, plain-JSON values, hits that cost nothing, safe loading."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration
from reliability_helpers import QUERIES, comparable, make_optimizer

from langchain_picaco.errors import ConfigError
from langchain_picaco.llm.cache import SQLiteCallCache, cache_key
from langchain_picaco.llm.calls import CallUsage, ModelCaller
from langchain_picaco.testing import ScriptedChatModel, SyntheticWorld

PROMPT = [SystemMessage(content="Be kind."), HumanMessage(content="Where is the station?")]


class Echo(ScriptedChatModel):
    """Answers with the seed and temperature it got, so a wrong cache hit would show."""

    model_name: str = "echo-1"
    reply: str = "answer"

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        return f"{self.reply} seed={kwargs.get('seed')} t={kwargs.get('temperature')}"


async def call(caller: ModelCaller, usage: CallUsage, **kw: Any) -> str:
    msg = await caller.acall(PROMPT, usage=usage, **kw)
    return str(msg.content)


def test_cache_stores_hashes_and_generations_only(tmp_path: Path) -> None:
    cache = SQLiteCallCache(tmp_path / "c.sqlite")
    msg = AIMessage(
        content="the reply",
        usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
    )
    cache.update("PROMPT-TEXT-XYZ", "LLM-STRING-QRS", [ChatGeneration(message=msg)])
    cache.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"PROMPT-TEXT-XYZ" not in raw and b"LLM-STRING-QRS" not in raw
    assert cache_key("PROMPT-TEXT-XYZ", "LLM-STRING-QRS").encode() in raw
    again = SQLiteCallCache(tmp_path / "c.sqlite")  # persists across objects
    (gen,) = again.lookup("PROMPT-TEXT-XYZ", "LLM-STRING-QRS")
    assert isinstance(gen, ChatGeneration) and gen.message.content == "the reply"
    assert gen.message.usage_metadata["output_tokens"] == 2
    assert again.lookup("PROMPT-TEXT-XYZ", "other") is None
    assert again.stats() == {"entries": 1, "hits": 1, "misses": 1}
    again.clear()
    assert len(again) == 0


def test_an_unused_cache_leaves_no_file(tmp_path: Path) -> None:
    SQLiteCallCache(tmp_path / "never.sqlite").check()
    assert not (tmp_path / "never.sqlite").exists()


async def test_a_hit_costs_no_call_and_is_counted(tmp_path: Path) -> None:
    model = Echo()
    caller = ModelCaller(model, "target", cache=SQLiteCallCache(tmp_path / "c.sqlite"))
    usage = CallUsage()
    first = await call(caller, usage, temperature=0.7, seed=1)
    again = await call(caller, usage, temperature=0.7, seed=1)
    assert first == again == "answer seed=1 t=0.7"
    assert model.calls == 1
    assert (usage.calls, usage.cache_hits, usage.cache_misses) == (1, 1, 1)
    assert usage.as_dict()["cache_hits"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 2},
        {"temperature": 0.3},
        {"bind": {"logprobs": True}},
    ],
)
async def test_other_parameters_are_other_entries(tmp_path: Path, change: dict) -> None:
    model = Echo()
    caller = ModelCaller(model, "target", cache=SQLiteCallCache(tmp_path / "c.sqlite"))
    usage = CallUsage()
    base: dict[str, Any] = {"temperature": 0.7, "seed": 1}
    await call(caller, usage, **base)
    await call(caller, usage, **{**base, **change})
    assert model.calls == 2 and usage.cache_hits == 0


async def test_other_models_are_other_entries_but_ports_and_keys_do_not_count(
    tmp_path: Path,
) -> None:
    cache = SQLiteCallCache(tmp_path / "c.sqlite")
    await call(ModelCaller(Echo(), "target", cache=cache), CallUsage(), seed=1)
    other = Echo(model_name="echo-2", reply="other")
    assert await call(ModelCaller(other, "target", cache=cache), CallUsage(), seed=1) == (
        "other seed=1 t=None"
    )

    # the same model behind another port or key: one entry; other max_tokens: another entry
    def strings(**params: Any) -> tuple[str, str]:
        model = Served(params=params)
        return ModelCaller(model, "t").cache_strings(PROMPT, temperature=0, seed=1, bind=None)

    here = strings(base_url="http://127.0.0.1:1111/v1", api_key="sk-a1b2c3d4", max_tokens=64)
    there = strings(base_url="http://127.0.0.1:2222/v1", api_key="sk-e5f6g7h8", max_tokens=64)
    assert here == there
    assert "1111" not in "".join(here) and "sk-a1b2" not in "".join(here)
    assert strings(base_url="http://127.0.0.1:1111/v1", max_tokens=32) != here


class Served(Echo):
    params: dict[str, Any] = {}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, **self.params}


async def test_models_that_ignore_seeds_still_get_one_entry_per_seed(tmp_path: Path) -> None:
    fake = FakeListChatModel(responses=["one", "two"])
    caller = ModelCaller(fake, "target", cache=SQLiteCallCache(tmp_path / "c.sqlite"))
    usage = CallUsage()
    assert await call(caller, usage, seed=1) == "one"
    assert await call(caller, usage, seed=2) == "two"  # not the cached "one"
    assert await call(caller, usage, seed=1) == "one" and usage.cache_hits == 1


async def test_empty_replies_are_not_cached(tmp_path: Path) -> None:
    class Empty(ScriptedChatModel):
        def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
            return ""

    from langchain_picaco.config import RetrySettings

    model = Empty()
    cache = SQLiteCallCache(tmp_path / "c.sqlite")
    retry = RetrySettings(max_attempts=1, initial_delay=0, max_delay=0)
    caller = ModelCaller(model, "target", cache=cache, retry=retry)
    await call(caller, CallUsage())
    await call(caller, CallUsage())
    assert model.calls == 2 and len(cache) == 0


def test_langchain_can_use_it_as_a_model_cache(tmp_path: Path) -> None:
    cache = SQLiteCallCache(tmp_path / "c.sqlite")
    fake = FakeListChatModel(responses=["first", "second"], cache=cache)
    assert fake.invoke("hello").content == "first"
    assert fake.invoke("hello").content == "first"  # from the cache
    assert cache.hits == 1


# ------------------------------------------------------------------------- safety
def _raw_row(path: Path, value: str) -> str:
    key = "f" * 64
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO picaco_calls (key, value, created) VALUES (?, ?, 0)", (key, value)
        )
    return key


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps({"format": "other", "generations": []}),
        # a LangChain constructor instead of a message: never built
        json.dumps(
            {
                "format": "langchain-picaco/call-cache/v1",
                "generations": [
                    {
                        "kind": "chat",
                        "message": {
                            "lc": 1,
                            "type": "constructor",
                            "id": ["langchain", "llms", "openai", "OpenAI"],
                            "kwargs": {},
                        },
                    }
                ],
            }
        ),
        json.dumps(
            {
                "format": "langchain-picaco/call-cache/v1",
                "generations": [{"kind": "chat", "message": {"type": "system", "data": {}}}],
            }
        ),
    ],
)
def test_a_tampered_entry_is_a_miss(tmp_path: Path, value: str, monkeypatch) -> None:
    cache = SQLiteCallCache(tmp_path / "c.sqlite")
    assert len(cache) == 0
    _raw_row(tmp_path / "c.sqlite", value)
    monkeypatch.setattr("langchain_picaco.llm.cache.cache_key", lambda p, s: "f" * 64)
    assert cache.lookup("p", "s") is None


def test_a_file_that_is_not_a_cache_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.sqlite"
    bad.write_text("just some text, not a database\n" * 50)
    with pytest.raises(ConfigError) as info:
        SQLiteCallCache(bad).check()
    assert info.value.field == str(bad) and "Fix:" in str(info.value)
    with pytest.raises(ConfigError, match="folder"):
        SQLiteCallCache(tmp_path).check()


# ------------------------------------------------------------------------- whole runs
def test_a_rerun_with_the_cache_spends_no_calls(world: SyntheticWorld, tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    first = make_optimizer(world, cache=path).optimize(QUERIES)
    assert first.usage.cache_misses == first.usage.calls > 0
    target, judge, proposer = world.target(), world.judge(), world.proposer()
    again = make_optimizer(
        world, target=target, judge=judge, proposer=proposer, cache=path
    ).optimize(QUERIES)
    assert target.calls == judge.calls == proposer.calls == 0
    assert again.usage.calls == 0 and again.usage.cache_misses == 0
    assert again.usage.cache_hits == first.usage.cache_hits + first.usage.cache_misses
    keep = comparable(again)
    ref = comparable(first)
    for d in (keep, ref):
        d.pop("usage")
    assert keep == ref


def test_a_cached_run_equals_an_uncached_one(
    world: SyntheticWorld, tmp_path: Path, baseline
) -> None:
    mi = make_optimizer(world, cache=tmp_path / "calls.sqlite").optimize(QUERIES)
    assert mi.text == baseline.text and mi.scores == baseline.scores
    # calls answered from the cache within the run (the same request twice) are not calls
    assert mi.usage.calls + mi.usage.cache_hits == baseline.usage.calls
