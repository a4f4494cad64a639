"""PicacoRunnable, the LCEL injection surface, through a RAG chain and a recording model."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.load import dumpd, dumps, load, loads
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue
from langchain_core.prompts import (
    ChatPromptTemplate,
    HumanMessagePromptTemplate,
    PromptTemplate,
    SystemMessagePromptTemplate,
)
from langchain_core.runnables import (
    ConfigurableField,
    RunnableLambda,
    RunnablePassthrough,
    RunnableSequence,
)

from langchain_picaco.errors import PicacoInputError
from langchain_picaco.inject.runnable import LEGACY_LC_IDS, PicacoRunnable, with_meta_instruction
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.testing import RecordingChatModel
from langchain_picaco.values.value_sets import Value, ValueSet

pytestmark = pytest.mark.filterwarnings("ignore:The function `load.*` is in beta")

MI_TEXT = "Be honest, caring and respectful of autonomy, all at once."
USER_SYSTEM = "You are a museum guide. Answer only from the context."
DOC_TEXT = "The Rosetta Stone was found in 1799 near Rashid."
QUESTION = "When was the Rosetta Stone found?"


def _value_set() -> ValueSet:
    return ValueSet(
        "test-3",
        [
            Value("honesty", "Says what is true and admits uncertainty."),
            Value("care", "Attends to the wellbeing of the person asking."),
            Value("autonomy", "Respects the person's right to decide for themselves."),
        ],
        description="Three values for tests.",
    )


@pytest.fixture
def mi() -> MetaInstruction:
    return MetaInstruction(text=MI_TEXT, value_set=_value_set())


@pytest.fixture
def model() -> RecordingChatModel:
    return RecordingChatModel()


def _rag_chain(picaco: Any, model: RecordingChatModel) -> Any:
    retriever = RunnableLambda(lambda q: [Document(page_content=DOC_TEXT, metadata={"q": q})])
    prompt = ChatPromptTemplate.from_messages(
        [("system", USER_SYSTEM), ("human", "Context:\n{context}\n\nQuestion: {question}")]
    )

    def format_docs(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    return (
        {"context": retriever | format_docs, "question": RunnablePassthrough()}
        | prompt
        | picaco
        | model
    )


def _expected_system(position: str) -> str:
    return {
        "prepend": f"{MI_TEXT}\n\n{USER_SYSTEM}",
        "append": f"{USER_SYSTEM}\n\n{MI_TEXT}",
        "replace": MI_TEXT,
    }[position]


def _check_rag_call(messages: list[BaseMessage], position: str) -> None:
    systems = [m for m in messages if isinstance(m, SystemMessage)]
    assert len(systems) == 1, messages
    assert messages[0] is systems[0]
    assert systems[0].content == _expected_system(position)
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    assert len(humans) == 1
    assert DOC_TEXT in humans[0].content and QUESTION in humans[0].content


# ---------------------------------------------------------------- RAG chain, every call style
def _run(chain: Any, mode: str) -> list[Any]:
    if mode == "invoke":
        return [chain.invoke(QUESTION)]
    if mode == "ainvoke":
        return [asyncio.run(chain.ainvoke(QUESTION))]
    if mode == "batch":
        return chain.batch([QUESTION, QUESTION])
    if mode == "abatch":
        return asyncio.run(chain.abatch([QUESTION, QUESTION]))
    if mode == "stream":
        return list(chain.stream(QUESTION))

    async def collect() -> list[Any]:
        return [c async for c in chain.astream(QUESTION)]

    return asyncio.run(collect())


MODES = ["invoke", "ainvoke", "batch", "abatch", "stream", "astream"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("position", ["prepend", "append", "replace"])
def test_rag_chain_model_gets_one_merged_system_message(
    mi: MetaInstruction, model: RecordingChatModel, mode: str, position: str
) -> None:
    chain = _rag_chain(PicacoRunnable(mi, position=position), model)
    outputs = _run(chain, mode)
    assert outputs and all(isinstance(o, AIMessage) for o in outputs)
    assert "".join(str(o.content) for o in outputs[:1]) == "ok"
    expected_calls = 2 if "batch" in mode else 1
    assert len(model.calls) == expected_calls
    for call in model.calls:
        _check_rag_call(call, position)


@pytest.mark.parametrize("mode", MODES)
def test_runnable_alone_every_call_style_returns_chat_prompt_value(mode: str) -> None:
    picaco = PicacoRunnable(MI_TEXT)
    outputs = _run(picaco, mode)
    assert outputs
    for out in outputs:
        assert isinstance(out, ChatPromptValue)
        assert [type(m) for m in out.messages] == [SystemMessage, HumanMessage]
        assert out.messages[0].content == MI_TEXT
        assert out.messages[1].content == QUESTION
    if mode in ("stream", "astream"):
        assert len(outputs) == 1


# ---------------------------------------------------------------- input forms
INPUT_FORMS: dict[str, Any] = {
    "str": "hello",
    "messages": [SystemMessage(content="Sys."), HumanMessage(content="hello")],
    "tuples": [("system", "Sys."), ("human", "hello")],
    "dicts": [{"role": "system", "content": "Sys."}, {"role": "user", "content": "hello"}],
    "chat_prompt_value": ChatPromptValue(
        messages=[SystemMessage(content="Sys."), HumanMessage(content="hello")]
    ),
    "string_prompt_value": StringPromptValue(text="hello"),
    "dict_with_messages": {"messages": [("system", "Sys."), ("user", "hello")]},
    "single_message": HumanMessage(content="hello"),
}
HAS_SYSTEM = {"messages", "tuples", "dicts", "chat_prompt_value", "dict_with_messages"}


@pytest.mark.parametrize("form", sorted(INPUT_FORMS))
def test_every_input_form(form: str) -> None:
    out = PicacoRunnable(MI_TEXT, position="append").invoke(INPUT_FORMS[form])
    assert isinstance(out, ChatPromptValue)
    assert [m.type for m in out.messages] == ["system", "human"]
    expected = f"Sys.\n\n{MI_TEXT}" if form in HAS_SYSTEM else MI_TEXT
    assert out.messages[0].content == expected
    assert out.messages[1].content == "hello"


@pytest.mark.parametrize("bad", [{"question": "hi"}, 42, [object()]])
def test_bad_input_is_a_clear_error(bad: Any) -> None:
    with pytest.raises(PicacoInputError) as err:
        PicacoRunnable(MI_TEXT).invoke(bad)
    assert err.value.field == "input"


def test_other_messages_untouched_and_first_system_only() -> None:
    h = HumanMessage(content="q1", id="h-1", additional_kwargs={"x": 1})
    s1 = SystemMessage(content="first", id="s-1", additional_kwargs={"k": "v"})
    a = AIMessage(content="a1", id="a-1")
    s2 = SystemMessage(content="second", id="s-2")
    out = PicacoRunnable(MI_TEXT).invoke([h, s1, a, s2]).messages
    assert len(out) == 4
    assert out[0] == h and out[0].id == "h-1" and out[0].additional_kwargs == {"x": 1}
    assert out[2] == a and out[3] == s2
    assert out[1].content == f"{MI_TEXT}\n\nfirst"
    assert (out[1].id, out[1].additional_kwargs) == ("s-1", {"k": "v"})
    assert s1.content == "first"  # the input is not mutated


def test_multimodal_system_content_gets_a_leading_text_block() -> None:
    blocks = [{"type": "text", "text": "Sys.", "cache_control": {"type": "ephemeral"}}]
    out = PicacoRunnable(MI_TEXT).invoke([SystemMessage(content=blocks), HumanMessage("hi")])
    assert out.messages[0].content == [{"type": "text", "text": MI_TEXT}, *blocks]


def test_stacking_two_injections_adds_the_instruction_once(model: RecordingChatModel) -> None:
    chain = with_meta_instruction(PicacoRunnable(MI_TEXT) | model, MI_TEXT)
    chain.invoke([("system", USER_SYSTEM), ("human", "hi")])
    assert model.calls[0][0].content.count(MI_TEXT) == 1


# ---------------------------------------------------------------- construction
def test_meta_instruction_is_stored_as_text_with_value_set_name(mi: MetaInstruction) -> None:
    picaco = mi.as_runnable(position="append")
    assert isinstance(picaco, PicacoRunnable)
    assert picaco.instruction == MI_TEXT
    assert picaco.value_set_name == "test-3"
    assert picaco.position == "append"


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_empty_instruction_rejected(bad: Any) -> None:
    with pytest.raises(PicacoInputError, match="instruction"):
        PicacoRunnable(bad)


def test_unknown_position_rejected() -> None:
    with pytest.raises(PicacoInputError, match="position"):
        PicacoRunnable(MI_TEXT, position="middle")


def test_with_meta_instruction_wraps_a_model(
    mi: MetaInstruction, model: RecordingChatModel
) -> None:
    wrapped = with_meta_instruction(model, mi, position="append")
    assert isinstance(wrapped, RunnableSequence)
    wrapped.invoke([("system", USER_SYSTEM), ("human", "hi")])
    (call,) = model.calls
    assert [m.type for m in call] == ["system", "human"]
    assert call[0].content == f"{USER_SYSTEM}\n\n{MI_TEXT}"


def test_with_meta_instruction_rejects_non_runnables() -> None:
    with pytest.raises(PicacoInputError, match="model_or_chain"):
        with_meta_instruction(lambda x: x, MI_TEXT)  # type: ignore[arg-type]


# ---------------------------------------------------------------- callbacks and tracing
class ChainStartRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.runs: list[tuple[str | None, UUID, UUID | None]] = []
        self.lock = threading.Lock()

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with self.lock:
            self.runs.append((kwargs.get("name"), run_id, parent_run_id))


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_callbacks_see_a_nested_picaco_run(
    mi: MetaInstruction, model: RecordingChatModel, mode: str
) -> None:
    chain = _rag_chain(PicacoRunnable(mi), model)
    recorder = ChainStartRecorder()
    config = {"callbacks": [recorder]}
    if mode == "invoke":
        chain.invoke(QUESTION, config=config)
    else:
        asyncio.run(chain.ainvoke(QUESTION, config=config))
    roots = [r for r in recorder.runs if r[2] is None]
    assert len(roots) == 1
    picaco_runs = [r for r in recorder.runs if r[0] == "PicacoRunnable"]
    assert len(picaco_runs) == 1
    assert picaco_runs[0][2] == roots[0][1]  # a direct child of the chain's run


def test_run_name_can_be_overridden() -> None:
    recorder = ChainStartRecorder()
    PicacoRunnable(MI_TEXT).invoke("hi", config={"callbacks": [recorder], "run_name": "inject"})
    assert [r[0] for r in recorder.runs] == ["inject"]


# ---------------------------------------------------------------- configurable swap
def test_configurable_swap_of_instruction(mi: MetaInstruction, model: RecordingChatModel) -> None:
    picaco = PicacoRunnable(mi).configurable_fields(
        instruction=ConfigurableField(id="instruction", name="Meta-instruction")
    )
    chain = _rag_chain(picaco, model)
    chain.invoke(QUESTION, config={"configurable": {"instruction": "Be brief."}})
    chain.invoke(QUESTION)
    swapped, default = model.calls
    assert swapped[0].content == f"Be brief.\n\n{USER_SYSTEM}"
    assert MI_TEXT not in swapped[0].content
    assert default[0].content == f"{MI_TEXT}\n\n{USER_SYSTEM}"


def test_configurable_swap_accepts_a_meta_instruction(model: RecordingChatModel) -> None:
    other = MetaInstruction(text="Put safety first.", value_set=_value_set())
    picaco = PicacoRunnable(MI_TEXT).configurable_fields(
        instruction=ConfigurableField(id="instruction")
    )
    (picaco | model).invoke("hi", config={"configurable": {"instruction": other}})
    assert model.calls[0][0].content == "Put safety first."


# ---------------------------------------------------------------- serialization
def test_lc_identity() -> None:
    assert PicacoRunnable.is_lc_serializable()
    assert PicacoRunnable.get_lc_namespace() == ["langchain_picaco"]


def test_dumpd_load_round_trip(mi: MetaInstruction) -> None:
    picaco = PicacoRunnable(mi, position="append")
    data = dumpd(picaco)
    assert data["id"] == ["langchain_picaco", "PicacoRunnable"]
    assert data["kwargs"]["instruction"] == MI_TEXT
    revived = load(data, allowed_objects=[PicacoRunnable], valid_namespaces=["langchain_picaco"])
    assert isinstance(revived, PicacoRunnable)
    assert revived == picaco
    assert (revived.position, revived.value_set_name) == ("append", "test-3")
    inp = [("system", "Sys."), ("human", "hi")]
    assert revived.invoke(inp) == picaco.invoke(inp)


def test_a_runnable_saved_by_0_1_loads_with_the_legacy_ids(mi: MetaInstruction) -> None:
    data = dumpd(PicacoRunnable(mi, position="append"))
    data["id"] = ["langchain_picaco", "runnables", "PicacoRunnable"]  # 0.1's module path
    with pytest.raises(ValueError, match="not allowed"):
        load(data, allowed_objects=[PicacoRunnable], valid_namespaces=["langchain_picaco"])
    revived = load(
        data,
        allowed_objects=[PicacoRunnable],
        valid_namespaces=["langchain_picaco"],
        additional_import_mappings=LEGACY_LC_IDS,
    )
    assert isinstance(revived, PicacoRunnable)
    assert revived.position == "append"


def test_load_needs_our_namespace() -> None:
    with pytest.raises(ValueError, match="namespace"):
        load(dumpd(PicacoRunnable(MI_TEXT)), allowed_objects=[PicacoRunnable])


def test_chain_round_trips_through_json() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", USER_SYSTEM), ("human", "{question}")])
    chain = prompt | PicacoRunnable(MI_TEXT)
    allowed = [
        RunnableSequence,
        ChatPromptTemplate,
        SystemMessagePromptTemplate,
        HumanMessagePromptTemplate,
        PromptTemplate,
        PicacoRunnable,
    ]
    revived = loads(dumps(chain), allowed_objects=allowed, valid_namespaces=["langchain_picaco"])
    assert revived.invoke({"question": "hi"}) == chain.invoke({"question": "hi"})
    assert revived.invoke({"question": "hi"}).messages[0].content == f"{MI_TEXT}\n\n{USER_SYSTEM}"
