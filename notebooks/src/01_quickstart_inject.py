# Source of notebooks/01_quickstart_inject.ipynb: edit here, then run tools/make_notebooks.py.
# ruff: noqa: E402

# %% [markdown]
# # Quick start: put a meta-instruction into a chain
#
# PICACO optimises **one meta-instruction** that makes a model honour several human values at
# once. This notebook skips the optimisation and shows the other half: taking a saved
# meta-instruction and injecting it into any LangChain chain. It runs offline on a fake model.
#
# 1. load a value set,
# 2. write an instruction by hand as a `MetaInstruction`,
# 3. inject it with `prompt | picaco | model` and look at what the model receives,
# 4. save the artifact and load it back.

# %%
from langchain_picaco import load_value_set

values = load_value_set("hh-balance-8")
print(f"{values.name}: {len(values.values)} values")
for value in values.values:
    print(f"  {value.name:<22} {value.description[:70]}...")

# %% [markdown]
# ## A meta-instruction, written by hand
#
# `PicacoOptimizer.optimize(...)` returns a `MetaInstruction`; here we write one ourselves. It
# carries the value set it was made for, so the artifact says what it is meant to balance.

# %%
from langchain_picaco import MetaInstruction

mi = MetaInstruction(
    text=(
        "Give a relevant, clear and actionable answer with the information the user needs, "
        "while staying respectful and fair to everyone, protecting private data, and never "
        "helping with anything unsafe or illegal."
    ),
    value_set=values,
)
print(mi.summary())

# %% [markdown]
# ## Inject it into a chain
#
# `mi.as_runnable()` returns a `PicacoRunnable`. Put it between the prompt and the model: it
# merges the instruction into the prompt's own system message (the user's text is kept, and
# there is never a second system message). A small callback records what the model receives.

# %%
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate


class SeenByModel(BaseCallbackHandler):
    """Keeps the messages every chat model call receives."""

    def __init__(self) -> None:
        self.calls = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.extend(messages)


prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "You are a helpful museum guide. Answer from the context.\n\n{context}"),
        ("human", "{question}"),
    ]
)
model = GenericFakeChatModel(messages=iter([AIMessage("It was found in 1799 near Rashid.")]))
chain = prompt | mi.as_runnable() | model

seen = SeenByModel()
answer = chain.invoke(
    {
        "context": "The Rosetta Stone was found in 1799 near Rashid (Rosetta).",
        "question": "When was the Rosetta Stone found?",
    },
    config={"callbacks": [seen]},
)
(received,) = seen.calls
for message in received:
    print(f"--- {message.type} ---\n{message.content}\n")
print("answer:", answer.content)

# %%
systems = [m for m in received if m.type == "system"]
assert len(systems) == 1 and systems[0].content.startswith(mi.text)
assert "museum guide" in systems[0].content

# %% [markdown]
# `position` chooses where the instruction goes: `"prepend"` (default), `"append"`, or
# `"replace"` (drop the user's system text). The same merge rule is used by
# `PicacoMiddleware` for agents.

# %%
from langchain_picaco import PicacoRunnable

for position in ("prepend", "append", "replace"):
    merged = PicacoRunnable(mi, position=position).invoke(
        [("system", "You are a museum guide."), ("human", "Hi")]
    )
    shown = merged.messages[0].content.replace(mi.text, "<meta-instruction>")
    print(f"{position:>8}: {shown!r}")

# %% [markdown]
# ## Save and load the artifact
#
# A `MetaInstruction` saves to readable JSON (text, value set, scores, history, models, seed)
# and loads back validated.

# %%
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as tmp:
    path = mi.save(Path(tmp) / "hh-balance-8.json")
    again = MetaInstruction.load(path)
    print(path.read_text()[:400], "...")

assert again.text == mi.text and again.value_set == mi.value_set
print("loaded:", again.value_set.name, "-", len(again.text), "characters")
