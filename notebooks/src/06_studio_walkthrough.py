# Source of notebooks/06_studio_walkthrough.ipynb: edit here, then run tools/make_notebooks.py.
# ruff: noqa: E402, F704
# (F704: top-level await is fine in a notebook)

# %% [markdown]
# # The optimiser as a LangGraph graph (and in LangGraph Studio)
#
# `PicacoOptimizer` is a thin facade over a compiled LangGraph graph. Working with the graph
# directly gives you what LangGraph gives every graph: streaming of node updates and custom
# progress events, checkpoints (resume, time travel), and LangGraph Studio, which draws the graph
# and lets you start runs from a form.
#
# This notebook builds the graph, draws it, runs it on the offline scripted world while streaming
# its events, and reads its state; the end explains `langgraph dev`, the command that serves the
# graph to Studio.

# %% [markdown]
# ## Build and draw
#
# `build_graph()` compiles the graph. Given no models, it resolves them by name from the run's
# context (that is how Studio runs it); `build_graph(Resources(target=..., judge=...,
# proposer=...))` fixes them instead.

# %%
from IPython.display import Markdown, display

from langchain_picaco.optimizer import build_graph

graph = build_graph()
mermaid = graph.get_graph().draw_mermaid()
display(Markdown(f"```mermaid\n{mermaid}\n```"))
print(mermaid)

# %% [markdown]
# One round of the loop: `propose` asks the proposer for candidate instructions; `measure` (one
# task per response, fanned out with `Send`) samples a response of the target and has the judge
# rate it on every value; `collect` waits for the phase; `select` keeps the best candidate beyond
# the noise; `accept` confirms it on fresh samples; `decide` counts the round and checks the stop
# conditions; `update_pools` keeps the aligned and noisy pools. `prepare` starts the run,
# `calibrate` first checks that the judge can see each value (it rates shipped reference
# responses), `budget_stop` ends a run early when the budget cannot pay for a round, `finish`
# ends it.

# %%
nodes = [n for n in graph.get_graph().nodes if not n.startswith("__")]
print(nodes)
assert {"prepare", "measure", "propose", "select", "decide", "finish"} <= set(nodes)

# %% [markdown]
# ## What Studio's forms show
#
# Studio draws a form for the graph's **input** (`InputState`) and one for its **context** (the
# run's settings, `PicacoContext`): which models to use, and the optimiser's `PicacoConfig`.

# %%
inputs = graph.get_input_jsonschema()["properties"]
for name, field in inputs.items():
    print(f"input   {name:<18} {field.get('description', '')}")
context_form = graph.get_context_jsonschema()["properties"]
for name, field in context_form.items():
    default = field.get("default", "(see PicacoConfig)")
    print(f"context {name:<18} {field.get('description', '')}  default: {default!r}")

# %% [markdown]
# ## Run it, streaming what happens
#
# `target="scripted"` runs the synthetic world of `langchain_picaco.testing` (no model needed);
# in Studio you type the same into the context form. Other values: `"local"` (the embedded GGUF
# model), a path to a `.gguf` file, or `"provider:model"` (e.g. `"openai:gpt-4o-mini"`), with
# `judge` and `proposer` defaulting to the target.
#
# Two stream modes together: `updates` (which node just finished, with what it wrote) and
# `custom` (the progress events the nodes emit: a response sampled or scored, a candidate
# proposed, a round decided, the run done).

# %%
import os
from collections import Counter

from langgraph.checkpoint.memory import InMemorySaver

from langchain_picaco import PicacoConfig
from langchain_picaco.optimizer.graph.context import PicacoContext

FAST = os.environ.get("PICACO_NOTEBOOK_FAST") == "1"  # set by the test suite

graph = build_graph(checkpointer=InMemorySaver())  # a checkpointer keeps every step's state
context = PicacoContext(
    target="scripted",
    config=PicacoConfig(iterations=2 if FAST else 4, candidates=2, samples_per_query=1, seed=1),
)
run = {"configurable": {"thread_id": "walkthrough"}}
inputs = {
    "value_set": "confucianism-4",
    "queries": [
        "My parents want me to join the family firm, but I was offered a job abroad. What now?",
        "A colleague keeps taking credit for my work. How should I respond?",
        "Should I lend money to a cousin who has not paid me back before?",
    ],
}

node_updates, events = [], Counter()
async for mode, chunk in graph.astream(
    inputs, run, context=context, stream_mode=["updates", "custom"]
):
    if mode == "updates":
        node_updates.extend(chunk)
    elif chunk.get("phase") == "round":
        status = "accepted" if chunk["accepted"] else "kept the incumbent"
        print(f"round {chunk['iteration']}: {status}")
    elif chunk.get("phase") == "done":
        print("done:", chunk["stop_reason"])
    else:
        events[(chunk["phase"], chunk.get("event"))] += 1

print("\nnode updates in order (first 12):", node_updates[:12])
print("custom events:", dict(events))

# %% [markdown]
# ## The state, as Studio's state panel shows it
#
# Every key of the graph's state (`PicacoState`) is visible after each step; the last one holds
# the result.

# %%
snapshot = await graph.aget_state(run)
state = snapshot.values
print("state keys:", sorted(state))
print("\ninstruction:", state["instruction"])
print("final per-value scores:", state["final_scores"]["per_value"])
print("stopped by:", state["stop_reason"], "| calls:", state["usage"]["calls_by_role"])
history = [s async for s in graph.aget_state_history(run)]
print(f"\n{len(history)} checkpoints kept (Studio's time travel steps through them)")
assert state["final_scores"]["per_value"] and state["instruction"].strip()
assert node_updates[0] == "prepare" and node_updates[-1] == "finish"

# %% [markdown]
# ## In LangGraph Studio: `langgraph dev`
#
# The repository's `langgraph.json` serves this graph (the module-level `graph` of
# `langchain_picaco/optimizer/graph/builder.py`) under the id `picaco`:
#
# ```json
# {"dependencies": ["."],
#  "graphs": {"picaco": "./langchain_picaco/optimizer/graph/builder.py:graph"},
#  "python_version": "3.11"}
# ```
#
# With the `studio` extra installed (`pip install "langchain-picaco[studio]"`), from the
# repository root:
#
# ```bash
# langgraph dev                      # serves http://127.0.0.1:2024 and opens Studio in a browser
# langgraph dev --no-browser --port 2024
# ```
#
# Studio itself is a web page that talks to that local server. In Studio, choose the `picaco`
# graph, fill the input form (value set, queries), open the context/configuration form to set
# `target` (`scripted` to try it without a model), and submit: the graph lights up node by node,
# and the state and stream events appear beside it. `langgraph dev` keeps threads in memory
# (and in `.langgraph_api/`); for a server with PostgreSQL see `docs/deploy.md`. To keep the
# command fully offline, set `LANGGRAPH_CLI_NO_ANALYTICS=1` and `LANGSMITH_TRACING=false`.
#
# The same server can be driven from code with `langgraph_sdk` (this is what the Studio test in
# `tests/integration_tests/test_studio.py` does):
#
# ```python
# from langgraph_sdk import get_client
#
# client = get_client(url="http://127.0.0.1:2024")
# thread = await client.threads.create()
# async for part in client.runs.stream(
#     thread["thread_id"], "picaco",
#     input={"value_set": "confucianism-4", "queries": ["..."]},
#     context={"target": "scripted", "config": {"iterations": 2}},
#     stream_mode=["updates", "custom"],
# ):
#     print(part.event, part.data)
# ```
