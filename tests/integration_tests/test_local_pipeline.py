"""The whole pipeline on the real local model: a tiny optimisation, a RAG chain, an agent."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from langchain_picaco import MetaInstruction, PicacoConfig, PicacoOptimizer, load_value_set
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.testing import assert_judged_cleanly

pytestmark = pytest.mark.integration

QUERIES = [
    "My parents want me to stay in our home town, but I got a job offer abroad. What should I do?",
    "Should I skip my cousin's wedding to attend an important work conference?",
]


class _Recorder:
    """Wraps a chat model and keeps the messages of every call (to see what the model got)."""

    def __init__(self) -> None:
        self.seen: list[list[BaseMessage]] = []

    def record(self, value: Any) -> Any:
        self.seen.append(value.to_messages() if hasattr(value, "to_messages") else list(value))
        return value


def test_tiny_optimisation_on_the_local_model(local_chat: Any) -> None:
    vs = load_value_set("confucianism-4")
    opt = PicacoOptimizer(
        local_chat,
        values=vs,
        config=PicacoConfig(
            iterations=1,
            candidates=1,
            samples_per_query=1,
            minibatch=2,
            calibrate=False,
            max_concurrency=2,
        ),
        progress=False,
    )
    plan = opt.plan(QUERIES)
    mi = opt.optimize(QUERIES)
    # A real run: the artifact is complete and its bookkeeping adds up.
    assert mi.text.strip()
    assert mi.stop_reason in ("iterations", "patience")
    assert set(mi.reference_scores) == {"bare", "seed"}
    assert mi.scores is not None and set(mi.scores.per_value) == set(vs.names)
    assert all(1.0 <= s <= 5.0 for s in mi.scores.per_value.values())
    assert 0 < mi.usage.calls <= plan.max_calls
    assert mi.usage.calls_by_role["target"] >= 2 * len(QUERIES)  # bare + seed at least
    assert mi.usage.input_tokens > 0 and mi.usage.output_tokens > 0
    assert mi.history[0].instruction == default_seed_instruction(vs)
    assert mi.models["target"].startswith("ChatLocalLlama")
    # Every score is the judge's reading: no reply fell back to the neutral 3.0. The local judge's
    # rubric reply is held to the ratings' JSON schema by a llama.cpp grammar, so zero is the
    # realistic bound (a retried reply that parsed in the end is fine: judge_malformed).
    assert_judged_cleanly(mi)


def test_rag_chain_answers_through_the_local_model(local_chat: Any) -> None:
    mi = MetaInstruction(
        text="Answer kindly and honour the family's traditions.",
        value_set=load_value_set("confucianism-4"),
    )
    docs = [
        Document(page_content="The Lantern Festival is held on the 15th day of the first month.")
    ]
    retriever = RunnableLambda(lambda q: docs)
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Use only this context:\n{context}"),
            ("human", "{question}"),
        ]
    )
    recorder = _Recorder()
    chain = (
        {
            "context": retriever | (lambda ds: "\n".join(d.page_content for d in ds)),
            "question": lambda q: q,
        }
        | prompt
        | mi.as_runnable()
        | RunnableLambda(recorder.record)
        | local_chat
    )
    answer = chain.invoke("When is the Lantern Festival held?")
    assert isinstance(answer, AIMessage) and answer.content.strip()
    sent = recorder.seen[-1]
    systems = [m for m in sent if isinstance(m, SystemMessage)]
    assert len(systems) == 1
    assert mi.text in systems[0].content and "Use only this context" in systems[0].content
    assert "Lantern Festival" in systems[0].content  # the retrieved context reached the model


def test_agent_with_middleware_answers_through_the_local_model(local_chat: Any) -> None:
    pytest.importorskip("langchain.agents")
    from langchain.agents import create_agent

    mi = MetaInstruction(
        text="Always answer in one short sentence.",
        value_set=load_value_set("helpfulness-4"),
    )
    seen: list[list[BaseMessage]] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized, messages, **kwargs):  # noqa: ANN001
            seen.extend(messages)

    agent = create_agent(
        local_chat,
        tools=[],
        system_prompt="You are a travel assistant.",
        middleware=[mi.as_middleware()],
    )
    out = agent.invoke(
        {"messages": [("human", "Name one city in Italy.")]}, config={"callbacks": [Spy()]}
    )
    assert out["messages"][-1].content.strip()
    systems = [m for m in seen[-1] if isinstance(m, SystemMessage)]
    assert len(systems) == 1
    assert mi.text in systems[0].content and "travel assistant" in systems[0].content
