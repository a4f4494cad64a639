# Source of notebooks/03_agent_profiles.ipynb: edit here, then run tools/make_notebooks.py.
# ruff: noqa: E402

# %% [markdown]
# # Per-user value profiles in an agent
#
# One agent, several audiences: a library assistant that answers children and researchers. The
# two audiences weigh values differently (harmlessness first for children, helpfulness first for
# researchers), so each gets its own meta-instruction, and `PicacoMiddleware` picks one **per
# call** from the agent's run-time context.
#
# 1. optimise one meta-instruction per profile (on the offline synthetic world, so this notebook
#    needs no model or key; with a real model only the `PicacoOptimizer(...)` line changes),
# 2. build a LangChain v1 agent (`create_agent`) with a `context_schema` and `PicacoMiddleware`,
# 3. run it for different users and look at what the model receives on every call of its tool loop.

# %%
import os

from langchain_picaco import MetaInstruction, PicacoConfig, PicacoOptimizer, load_value_set
from langchain_picaco.testing import SyntheticWorld

FAST = os.environ.get("PICACO_NOTEBOOK_FAST") == "1"  # set by the test suite


def optimise_profile(value_set_name: str) -> MetaInstruction:
    """One PICACO run on the synthetic world (swap in your own models for real use)."""
    values = load_value_set(value_set_name)
    world = SyntheticWorld(values)
    optimizer = PicacoOptimizer(
        world.target(),
        values=values,
        judge=world.judge(),
        proposer=world.proposer(),
        # calibrate=False: the scripted judge knows only the synthetic world's rules
        config=PicacoConfig(iterations=3 if FAST else 6, candidates=3, seed=1, calibrate=False),
        progress=False,
    )
    return optimizer.optimize()  # no queries: the value set's shipped optimisation split


profiles = {
    "kids": optimise_profile("harmlessness-4"),
    "researchers": optimise_profile("helpfulness-4"),
}
default = MetaInstruction(
    text=(
        "Give a relevant, clear and actionable answer with the information the user needs, while "
        "staying respectful and fair, protecting private data, and never helping with anything "
        "unsafe or illegal."
    ),
    value_set=load_value_set("hh-balance-8"),
)
for name, mi in profiles.items():
    print(f"[{name}] ({mi.value_set.name}, mean score {mi.scores.mean:.2f})\n  {mi.text}\n")

# %% [markdown]
# ## The agent
#
# The context schema says what each run carries besides the messages: here a user id and the
# value profile. `PicacoMiddleware(default, profiles=...)` reads `context.value_profile` (change
# the field with `context_key=`); a run without a profile gets the default instruction.
#
# The model is a scripted fake that first calls the catalogue tool, then answers, so the agent
# makes two model calls per run; a callback records what each call receives.

# %%
from dataclasses import dataclass
from itertools import cycle

from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from langchain_picaco import PicacoMiddleware


@dataclass
class LibraryContext:
    """What each run of the agent carries besides the conversation."""

    user_id: str
    value_profile: str | None = None


@tool
def search_catalogue(query: str) -> str:
    """Search the library catalogue."""
    return f"3 books match {query!r}: 'Volcanoes', 'Inside the Earth', 'Lava and Ash'."


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel that accepts tools (it answers from its script anyway)."""

    def bind_tools(self, tools, **kwargs):
        return self


class SeenByModel(BaseCallbackHandler):
    """Keeps the messages every chat-model call receives."""

    def __init__(self) -> None:
        self.calls = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.extend(messages)


script = cycle(
    [
        AIMessage(
            "",
            tool_calls=[{"name": "search_catalogue", "args": {"query": "volcanoes"}, "id": "c1"}],
        ),
        AIMessage("We have three books on volcanoes; 'Volcanoes' is a good start."),
    ]
)
agent = create_agent(
    model=ToolCallingFake(messages=script),
    tools=[search_catalogue],
    system_prompt="You are the assistant of the city library.",
    middleware=[PicacoMiddleware(default, profiles=profiles)],
    context_schema=LibraryContext,
)

# %% [markdown]
# ## One agent, three users

# %%
users = [
    LibraryContext(user_id="mia-9", value_profile="kids"),
    LibraryContext(user_id="dr-okafor", value_profile="researchers"),
    LibraryContext(user_id="guest"),  # no profile: the default instruction
]
seen_by_user = {}
for context in users:
    seen = SeenByModel()
    result = agent.invoke(
        {"messages": [("user", "Do you have books about volcanoes?")]},
        context=context,
        config={"callbacks": [seen]},
    )
    seen_by_user[context.user_id] = seen.calls
    system = seen.calls[0][0]
    print(f"--- {context.user_id} ({context.value_profile or 'default'}): ")
    print(f"{len(seen.calls)} model calls; the system message of each:\n{system.content}\n")
    print("answer:", result["messages"][-1].content, "\n")

# %%
expected = {
    "mia-9": profiles["kids"].text,
    "dr-okafor": profiles["researchers"].text,
    "guest": default.text,
}
for user_id, calls in seen_by_user.items():
    assert len(calls) == 2  # the tool call, then the answer
    for messages in calls:
        systems = [m for m in messages if m.type == "system"]
        # exactly one system message: the instruction merged into the agent's own prompt
        assert len(systems) == 1
        assert systems[0].content.startswith(expected[user_id])
        assert systems[0].content.endswith("You are the assistant of the city library.")

# %% [markdown]
# An unknown profile is an error that names the known ones, rather than a silent fallback:

# %%
from langchain_picaco.errors import PicacoInputError

try:
    agent.invoke(
        {"messages": [("user", "Hi")]},
        context=LibraryContext(user_id="x", value_profile="teachers"),
    )
except PicacoInputError as exc:
    print(exc)
else:
    raise AssertionError("an unknown profile must be refused")

# %% [markdown]
# In an application the profiles come from saved artifacts:
# `PicacoMiddleware(MetaInstruction.load("default.json"), profiles={"kids":
# MetaInstruction.load("kids.json"), ...})`, and the context from your user store.
