"""Secrets stay out of artifacts, checkpoints, caches and logs; loading an artifact runs nothing."""

from __future__ import annotations

import importlib
import json
import logging
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from pydantic import SecretStr
from reliability_helpers import QUERIES, make_optimizer, settings

from langchain_picaco.config import RetrySettings
from langchain_picaco.errors import ArtifactError, ModelCallError
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.llm.calls import ModelCaller, model_identity
from langchain_picaco.testing import (
    ScriptedJudge,
    ScriptedProposer,
    ScriptedTarget,
    SyntheticWorld,
)

SECRET = "sk-test-SECRET-4f9a2c71"
URL = "http://127.0.0.1:9/v1"


class KeyedTarget(ScriptedTarget):
    api_key: SecretStr = SecretStr(SECRET)
    base_url: str = URL


class KeyedJudge(ScriptedJudge):
    api_key: SecretStr = SecretStr(SECRET)
    base_url: str = URL


class KeyedProposer(ScriptedProposer):
    api_key: SecretStr = SecretStr(SECRET)
    base_url: str = URL


def all_bytes(folder: Path) -> bytes:
    """Every file under ``folder`` (SQLite main files, WAL and journals included)."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_artifacts_checkpoints_caches_and_logs_hold_no_key(
    world: SyntheticWorld, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    opt = make_optimizer(
        world,
        target=KeyedTarget(world=world),
        judge=KeyedJudge(world=world),
        proposer=KeyedProposer(world=world),
        checkpointer=tmp_path / "runs.sqlite",
        cache=tmp_path / "calls.sqlite",
    )
    mi = opt.optimize(QUERIES, thread_id="keyed")
    mi.save(tmp_path / "mi.json")
    assert mi.models["target"] == "KeyedTarget"
    stored = all_bytes(tmp_path)
    assert (tmp_path / "runs.sqlite").stat().st_size > 0 and len(stored) > 10_000
    for needle in (SECRET, "SECRET-4f9a", "127.0.0.1:9"):
        assert needle.encode() not in stored, needle
        assert needle not in caplog.text
        assert needle not in mi.to_json()


class Leaky(ScriptedTarget):
    """Fails with a provider-style error that quotes its key, as some providers do."""

    api_key: SecretStr = SecretStr(SECRET)

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        err = Exception(f"Incorrect API key provided: {SECRET}. Check your key.")
        err.status_code = 401  # type: ignore[attr-defined]
        raise err


def test_error_messages_and_logs_hide_the_key(
    world: SyntheticWorld, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ModelCallError) as info:
        make_optimizer(
            world, target=Leaky(world=world), checkpointer=tmp_path / "runs.sqlite"
        ).optimize(QUERIES, thread_id="leaky")
    assert SECRET not in str(info.value) and "***" in str(info.value)
    assert "authentication" in str(info.value)
    assert SECRET not in caplog.text
    assert SECRET.encode() not in all_bytes(tmp_path)


def test_a_real_provider_client_with_a_key_leaks_nothing(
    world: SyntheticWorld, tmp_path: Path, caplog
) -> None:
    """ChatOpenAI with a key, pointed at a closed loopback port: every call fails to connect."""
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    caplog.set_level(logging.DEBUG)
    model = ChatOpenAI(api_key=SECRET, base_url=URL, model="gpt-4o-mini", max_retries=0)
    assert SECRET not in model_identity(model) and "127.0.0.1" not in model_identity(model)
    strings = "".join(
        ModelCaller(model, "judge").cache_strings([], temperature=0.0, seed=1, bind=None)
    )
    assert SECRET not in strings and ":9" not in strings
    opt = make_optimizer(
        world,
        target=model,
        config=settings(retry=RetrySettings(max_attempts=2, initial_delay=0, max_delay=0)),
        checkpointer=tmp_path / "runs.sqlite",
        cache=tmp_path / "calls.sqlite",
    )
    with pytest.raises(ModelCallError) as info:
        opt.optimize(QUERIES, thread_id="openai")
    assert "connection" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in caplog.text
    assert SECRET.encode() not in all_bytes(tmp_path)


# ------------------------------------------------------------------------- loading runs nothing
class _Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))

    def __init__(self, marker: Path) -> None:
        self.marker = marker


def test_a_pickle_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "mi.json"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ArtifactError) as info:
        MetaInstruction.load(path)
    assert "Fix:" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "data",
    [
        # a LangChain serialised constructor: loading it with langchain's loads() would build it
        {"lc": 1, "type": "constructor", "id": ["langchain_openai", "ChatOpenAI"], "kwargs": {}},
        # the right kind, with a constructor where the value set goes
        {
            "kind": "langchain-picaco/meta-instruction",
            "schema_version": 1,
            "text": "Be good.",
            "value_set": {
                "lc": 1,
                "type": "constructor",
                "id": ["langchain_openai", "ChatOpenAI"],
                "kwargs": {"api_key": {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}},
            },
        },
        # an unknown field smuggled in next to valid ones
        {
            "kind": "langchain-picaco/meta-instruction",
            "schema_version": 1,
            "text": "Be good.",
            "value_set": {"name": "x", "values": [{"name": "care", "description": "Care."}]},
            "__class__": "os.system",
        },
    ],
)
def test_crafted_json_is_refused(data: dict[str, Any], tmp_path: Path, monkeypatch) -> None:
    built: list[Any] = []
    lc_load = importlib.import_module("langchain_core.load.load")
    monkeypatch.setattr(lc_load, "Reviver", lambda *a, **k: built.append(a) or None)
    path = tmp_path / "mi.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError):
        MetaInstruction.load(path)
    assert built == []  # LangChain's deserialiser was never asked to build anything


async def test_the_key_of_a_wrapped_model_is_hidden_too(world: SyntheticWorld) -> None:
    from langchain_core.messages import HumanMessage

    from langchain_picaco.llm.calls import CallUsage
    from langchain_picaco.testing import FaultyChatModel

    wrapped = FaultyChatModel(inner=Leaky(world=world), rate=0.0)
    with pytest.raises(ModelCallError) as info:
        await ModelCaller(wrapped, "target").acall([HumanMessage(content="hi")], usage=CallUsage())
    assert SECRET not in str(info.value) and "***" in str(info.value)
