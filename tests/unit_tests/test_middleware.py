"""PicacoMiddleware: the agent injection surface (LangChain v1 ``create_agent``)."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool

import langchain_picaco
from langchain_picaco.errors import MissingDependencyError, PicacoInputError
from langchain_picaco.inject.middleware import PicacoMiddleware
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.testing import RecordingChatModel
from langchain_picaco.values.value_sets import Value, ValueSet

MI_TEXT = "Be honest, caring and respectful of autonomy, all at once."
PROFILE_A = "Put the child's safety first, then honesty."
PROFILE_B = "Put the researcher's autonomy first, then honesty."
AGENT_SYSTEM = "You are X."


def _value_set() -> ValueSet:
    return ValueSet(
        "test-2",
        [Value("honesty", "Says what is true."), Value("care", "Attends to wellbeing.")],
    )


@pytest.fixture
def mi() -> MetaInstruction:
    return MetaInstruction(text=MI_TEXT, value_set=_value_set())


@pytest.fixture
def model() -> RecordingChatModel:
    return RecordingChatModel()


def _systems(messages: list[BaseMessage]) -> list[SystemMessage]:
    return [m for m in messages if isinstance(m, SystemMessage)]


def _invoke(agent: Any, mode: str, **kwargs: Any) -> dict[str, Any]:
    payload = {"messages": [HumanMessage(content="hi")]}
    if mode == "invoke":
        return agent.invoke(payload, **kwargs)
    return asyncio.run(agent.ainvoke(payload, **kwargs))


# ---------------------------------------------------------------- create_agent
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("prepend", f"{MI_TEXT}\n\n{AGENT_SYSTEM}"),
        ("append", f"{AGENT_SYSTEM}\n\n{MI_TEXT}"),
        ("replace", MI_TEXT),
    ],
    ids=["prepend", "append", "replace"],
)
def test_agent_model_sees_one_merged_system_message(
    mi: MetaInstruction, model: RecordingChatModel, mode: str, position: str, expected: str
) -> None:
    agent = create_agent(
        model=model,
        tools=[],
        system_prompt=AGENT_SYSTEM,
        middleware=[PicacoMiddleware(mi, position=position)],
    )
    result = _invoke(agent, mode)
    assert result["messages"][-1].content == "ok"
    (call,) = model.calls
    assert len(_systems(call)) == 1
    assert call[0].content == expected
    assert [m.type for m in call] == ["system", "human"]
    assert call[1].content == "hi"
    # the instruction is per call, never written into the agent's state
    assert not any(isinstance(m, SystemMessage) for m in result["messages"])


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_every_model_call_of_a_tool_loop_gets_it_exactly_once(
    mi: MetaInstruction, mode: str
) -> None:
    @tool
    def lookup(topic: str) -> str:
        """Look a topic up."""
        return f"facts about {topic}"

    model = RecordingChatModel(
        script=[
            AIMessage(
                content="", tool_calls=[{"name": "lookup", "args": {"topic": "t"}, "id": "c1"}]
            ),
            AIMessage(content="done"),
        ]
    )
    agent = create_agent(
        model=model, tools=[lookup], system_prompt=AGENT_SYSTEM, middleware=[mi.as_middleware()]
    )
    result = _invoke(agent, mode)
    assert result["messages"][-1].content == "done"
    assert len(model.calls) == 2
    for call in model.calls:
        (system,) = _systems(call)
        assert system.content == f"{MI_TEXT}\n\n{AGENT_SYSTEM}"
    assert model.calls[1][-1].type == "tool"


def test_agent_without_system_prompt_gets_instruction_only(model: RecordingChatModel) -> None:
    agent = create_agent(model=model, tools=[], middleware=[PicacoMiddleware(MI_TEXT)])
    agent.invoke({"messages": [HumanMessage(content="hi")]})
    (call,) = model.calls
    assert [m.type for m in call] == ["system", "human"]
    assert call[0].content == MI_TEXT


def test_system_message_in_the_conversation_is_merged_not_duplicated(
    model: RecordingChatModel,
) -> None:
    agent = create_agent(model=model, tools=[], middleware=[PicacoMiddleware(MI_TEXT)])
    agent.invoke({"messages": [SystemMessage(content="From the user."), HumanMessage("hi")]})
    (call,) = model.calls
    assert len(_systems(call)) == 1
    assert call[0].content == f"{MI_TEXT}\n\nFrom the user."


def test_system_message_with_content_blocks(model: RecordingChatModel) -> None:
    blocks = [{"type": "text", "text": AGENT_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    agent = create_agent(
        model=model,
        tools=[],
        system_prompt=SystemMessage(content=blocks, id="agent-sys"),
        middleware=[PicacoMiddleware(MI_TEXT)],
    )
    agent.invoke({"messages": [HumanMessage(content="hi")]})
    (system,) = _systems(model.calls[0])
    assert system.content == [{"type": "text", "text": MI_TEXT}, *blocks]
    assert system.id == "agent-sys"


# ---------------------------------------------------------------- per-user value profiles
class DictContext(TypedDict, total=False):
    value_profile: str
    user_id: str


@dataclass
class AttrContext:
    value_profile: str | None = None


PROFILES = {"a": PROFILE_A, "b": PROFILE_B}


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_profile_from_dict_context(
    mi: MetaInstruction, model: RecordingChatModel, mode: str
) -> None:
    agent = create_agent(
        model=model,
        tools=[],
        system_prompt=AGENT_SYSTEM,
        middleware=[PicacoMiddleware(mi, profiles=PROFILES)],
        context_schema=DictContext,
    )
    _invoke(agent, mode, context={"value_profile": "b"})
    _invoke(agent, mode, context={"value_profile": "a"})
    _invoke(agent, mode, context={"user_id": "u1"})  # no profile: the default instruction
    contents = [call[0].content for call in model.calls]
    assert contents == [
        f"{PROFILE_B}\n\n{AGENT_SYSTEM}",
        f"{PROFILE_A}\n\n{AGENT_SYSTEM}",
        f"{MI_TEXT}\n\n{AGENT_SYSTEM}",
    ]
    assert all(len(_systems(call)) == 1 for call in model.calls)


def test_profile_from_attribute_context_and_meta_instruction_profiles(
    model: RecordingChatModel,
) -> None:
    b = MetaInstruction(text=PROFILE_B, value_set=_value_set())
    agent = create_agent(
        model=model,
        tools=[],
        system_prompt=AGENT_SYSTEM,
        middleware=[PicacoMiddleware(profiles={"b": b}, position="append")],
        context_schema=AttrContext,
    )
    agent.invoke({"messages": [HumanMessage("hi")]}, context=AttrContext(value_profile="b"))
    assert model.calls[0][0].content == f"{AGENT_SYSTEM}\n\n{PROFILE_B}"


def test_custom_context_key(model: RecordingChatModel) -> None:
    agent = create_agent(
        model=model,
        tools=[],
        system_prompt=AGENT_SYSTEM,
        middleware=[PicacoMiddleware(profiles=PROFILES, context_key="values")],
    )
    agent.invoke({"messages": [HumanMessage("hi")]}, context={"values": "a"})
    assert model.calls[0][0].content == f"{PROFILE_A}\n\n{AGENT_SYSTEM}"


def test_no_profile_and_no_default_passes_through(model: RecordingChatModel) -> None:
    agent = create_agent(
        model=model,
        tools=[],
        system_prompt=AGENT_SYSTEM,
        middleware=[PicacoMiddleware(profiles=PROFILES)],
    )
    agent.invoke({"messages": [HumanMessage("hi")]})
    agent.invoke({"messages": [HumanMessage("hi")]}, context={"value_profile": None})
    for call in model.calls:
        assert [(m.type, m.content) for m in call] == [("system", AGENT_SYSTEM), ("human", "hi")]


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_unknown_profile_is_a_clear_error(mi: MetaInstruction, mode: str) -> None:
    model = RecordingChatModel()
    agent = create_agent(
        model=model, tools=[], middleware=[PicacoMiddleware(mi, profiles=PROFILES)]
    )
    with pytest.raises(PicacoInputError) as err:
        _invoke(agent, mode, context={"value_profile": "kids"})
    text = str(err.value)
    assert "'kids'" in text and "'a'" in text and "'b'" in text
    assert err.value.field == "context.value_profile"
    assert model.calls == []


def test_non_string_profile_is_rejected() -> None:
    mw = PicacoMiddleware(MI_TEXT, profiles=PROFILES)
    with pytest.raises(PicacoInputError, match="not a profile name"):
        mw.resolve(_Runtime({"value_profile": 3}))


# ---------------------------------------------------------------- the hooks directly
@dataclass
class _Runtime:
    context: Any = None


def _request(**kw: Any) -> ModelRequest[Any]:
    base: dict[str, Any] = {
        "model": RecordingChatModel(),
        "messages": [HumanMessage(content="hi", id="h1")],
        "runtime": _Runtime(),
    }
    base.update(kw)
    return ModelRequest(**base)


def test_wrap_model_call_merges_and_keeps_the_original_request() -> None:
    mw = PicacoMiddleware(MI_TEXT)
    request = _request(system_prompt=AGENT_SYSTEM)
    seen: list[ModelRequest[Any]] = []

    def handler(req: ModelRequest[Any]) -> ModelResponse[Any]:
        seen.append(req)
        return ModelResponse(result=[AIMessage(content="r")])

    response = mw.wrap_model_call(request, handler)
    assert response.result[0].content == "r"
    (sent,) = seen
    assert sent.system_prompt == f"{MI_TEXT}\n\n{AGENT_SYSTEM}"
    assert sent.messages == request.messages
    assert request.system_prompt == AGENT_SYSTEM  # not mutated


def test_awrap_model_call_merges() -> None:
    mw = PicacoMiddleware(MI_TEXT, position="append")
    seen: list[ModelRequest[Any]] = []

    async def handler(req: ModelRequest[Any]) -> ModelResponse[Any]:
        seen.append(req)
        return ModelResponse(result=[AIMessage(content="r")])

    asyncio.run(mw.awrap_model_call(_request(system_prompt=AGENT_SYSTEM), handler))
    assert seen[0].system_prompt == f"{AGENT_SYSTEM}\n\n{MI_TEXT}"


def test_pass_through_returns_the_same_request() -> None:
    mw = PicacoMiddleware()
    request = _request(system_prompt=AGENT_SYSTEM)
    assert mw.prepare(request) is request


def test_is_an_agent_middleware_with_both_hooks(mi: MetaInstruction) -> None:
    mw = mi.as_middleware(position="append")
    assert isinstance(mw, AgentMiddleware)
    assert isinstance(mw, PicacoMiddleware)
    assert mw.name == "PicacoMiddleware"
    assert type(mw).wrap_model_call is not AgentMiddleware.wrap_model_call
    assert type(mw).awrap_model_call is not AgentMiddleware.awrap_model_call
    assert (mw.instruction, mw.position) == (MI_TEXT, "append")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"instruction": "  "}, "instruction"),
        ({"instruction": MI_TEXT, "position": "middle"}, "position"),
        ({"profiles": {"a": ""}}, "profiles['a']"),
        ({"profiles": {"": PROFILE_A}}, "profiles"),
        ({"context_key": ""}, "context_key"),
    ],
)
def test_constructor_validation(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(PicacoInputError) as err:
        PicacoMiddleware(**kwargs)
    assert err.value.field == field


# ---------------------------------------------------------------- without langchain
def test_without_langchain_import_works_and_construction_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, mi: MetaInstruction
) -> None:
    import langchain_picaco.inject.middleware as installed

    for name in list(sys.modules):
        if name == "langchain" or name.startswith("langchain."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langchain", None)  # `import langchain` now fails
    monkeypatch.delitem(sys.modules, "langchain_picaco.inject.middleware")
    monkeypatch.setattr(langchain_picaco.inject, "middleware", installed)  # restored afterwards

    fresh = importlib.import_module("langchain_picaco.inject.middleware")
    assert fresh is not installed
    from langchain_picaco.inject.middleware import PicacoMiddleware as Stub

    assert Stub.__name__ == "PicacoMiddleware"
    with pytest.raises(MissingDependencyError) as err:
        Stub(mi)
    assert isinstance(err.value, ImportError)
    assert err.value.extra == "agents"
    assert err.value.feature == "PicacoMiddleware"
    assert "langchain-picaco[agents]" in str(err.value)
    with pytest.raises(MissingDependencyError, match="agents"):
        mi.as_middleware()


def test_without_langchain_in_a_fresh_interpreter() -> None:
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "langchain" or name.startswith("langchain."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, Block())
        import langchain_picaco
        from langchain_picaco.errors import MissingDependencyError
        from langchain_picaco.inject.runnable import PicacoRunnable
        from langchain_picaco.inject.middleware import PicacoMiddleware
        if "PicacoMiddleware" in getattr(langchain_picaco, "__all__", ()):
            from langchain_picaco import PicacoMiddleware as Exported
            assert Exported is PicacoMiddleware
        PicacoRunnable("Be kind.").invoke("hi")
        try:
            PicacoMiddleware("Be kind.")
        except MissingDependencyError as exc:
            print("EXTRA", exc.extra)
        assert "langchain" not in sys.modules
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "EXTRA agents"
