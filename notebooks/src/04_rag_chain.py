# Source of notebooks/04_rag_chain.ipynb: edit here, then run tools/make_notebooks.py.
# ruff: noqa: E402, F704
# (F704: top-level await is fine in a notebook)

# %% [markdown]
# # A meta-instruction in a RAG chain
#
# Retrieval-augmented generation puts retrieved text into the prompt; the meta-instruction must
# join that prompt without pushing the retrieved context out of the system message or adding a
# second, competing system message. `PicacoRunnable` does exactly that, between the prompt and the
# model:
#
#     {"context": retriever | format_docs, "question": passthrough}
#         | prompt | PicacoRunnable(mi) | model
#
# Everything here runs offline: the retriever is a small keyword retriever standing in for a vector
# store, and the model is a fake. Swap in your own retriever and model; nothing else changes.

# %%
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class KeywordRetriever(BaseRetriever):
    """Stand-in for a vector store: ranks documents by shared words with the query."""

    documents: list[Document]
    k: int = 2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().replace("?", "").split())
        scored = [(len(words & set(d.page_content.lower().split())), d) for d in self.documents]
        ranked = sorted(scored, key=lambda pair: pair[0], reverse=True)
        return [d for score, d in ranked[: self.k] if score > 0]


retriever = KeywordRetriever(
    documents=[
        Document(
            "The city pool opens at 7 am on weekdays and 9 am on weekends.",
            metadata={"source": "pool.md"},
        ),
        Document(
            "Children under 8 must be accompanied by an adult at the pool.",
            metadata={"source": "pool.md"},
        ),
        Document(
            "Recycling is collected on Tuesdays; glass goes in the green bin.",
            metadata={"source": "waste.md"},
        ),
        Document(
            "Lost library cards are replaced at the front desk for 2 euros.",
            metadata={"source": "library.md"},
        ),
    ]
)
for doc in retriever.invoke("When does the pool open on weekends?"):
    print(doc.metadata["source"], "|", doc.page_content)

# %% [markdown]
# ## The meta-instruction
#
# Usually `MetaInstruction.load("artifact.json")` after a `PicacoOptimizer` run (notebook 02);
# here one is written by hand for the shipped `hh-balance-8` value set (helpful and harmless).

# %%
from langchain_picaco import MetaInstruction, load_value_set

mi = MetaInstruction(
    text=(
        "Answer only from the provided context and say so when it does not contain the answer. "
        "Be clear and actionable, respectful to everyone, and never reveal personal data."
    ),
    value_set=load_value_set("hh-balance-8"),
)

# %% [markdown]
# ## The chain

# %%
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough


def format_docs(docs: list[Document]) -> str:
    return "\n".join(f"[{d.metadata['source']}] {d.page_content}" for d in docs)


prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "You are the city's help desk.\n\nContext:\n{context}"),
        ("human", "{question}"),
    ]
)
model = GenericFakeChatModel(
    messages=iter(
        [
            AIMessage("On weekends the pool opens at 9 am [pool.md]."),
            AIMessage("Yes: children under 8 need an adult with them [pool.md]."),
            AIMessage("Glass goes in the green bin; collection is on Tuesdays [waste.md]."),
            AIMessage("A new library card costs 2 euros at the front desk [library.md]."),
            AIMessage("The context does not say; please ask the pool staff."),
        ]
    )
)
rag = (
    {"context": retriever | format_docs, "question": RunnablePassthrough()}
    | prompt
    | mi.as_runnable()  # = PicacoRunnable(mi)
    | model
    | StrOutputParser()
)


class SeenByModel(BaseCallbackHandler):
    """Keeps the messages each chat-model call receives, and the names of the chain's steps."""

    def __init__(self) -> None:
        self.calls, self.steps = [], []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.extend(messages)

    def on_chain_start(self, serialized, inputs, **kwargs):
        self.steps.append(kwargs.get("name"))


seen = SeenByModel()
print(rag.invoke("When does the pool open on weekends?", config={"callbacks": [seen]}))
(received,) = seen.calls
for message in received:
    print(f"--- {message.type} ---\n{message.content}\n")

# %%
systems = [m for m in received if m.type == "system"]
assert len(systems) == 1  # one system message: instruction + the help desk prompt + context
assert systems[0].content.startswith(mi.text)
assert "9 am on weekends" in systems[0].content  # the retrieved context is still there
assert "PicacoRunnable" in seen.steps  # the injection is its own step in traces
print("traced steps:", [s for s in seen.steps if s])

# %% [markdown]
# ## Batch, stream and async work as for any runnable

# %%
answers = rag.batch(["Do children need an adult at the pool?", "Where does glass go?"])
print(answers)
chunks = list(rag.stream("How much is a new library card?"))
print(len(chunks), "streamed chunks:", "".join(chunks))
print(await rag.ainvoke("Is the pool heated?"))

# %% [markdown]
# ## Or wrap the model instead of editing the chain
#
# `with_meta_instruction(model, mi)` returns `PicacoRunnable(mi) | model`: handy when a chain
# is built elsewhere and takes the model as a parameter.

# %%
from langchain_picaco.inject import with_meta_instruction

echo = GenericFakeChatModel(messages=iter([AIMessage("ok")]))
aligned = with_meta_instruction(echo, mi, position="append")
seen = SeenByModel()
aligned.invoke(
    [("system", "You are the city's help desk."), ("human", "Hi")], config={"callbacks": [seen]}
)
print(seen.calls[0][0].content)
assert seen.calls[0][0].content.endswith(mi.text)
