# Source of notebooks/02_optimize_synthetic.ipynb: edit here, then run tools/make_notebooks.py.
# ruff: noqa: E402

# %% [markdown]
# # Optimise a meta-instruction in a synthetic world
#
# PICACO searches for **one meta-instruction** under which a model honours every value of a value
# set at once. This notebook runs the whole optimiser offline, in seconds, on a *synthetic world*
# (`langchain_picaco.testing.SyntheticWorld`): scripted target, judge and proposer models whose
# rules are known, so we can see what should happen and check that it does.
#
# The world's rules, in short:
#
# * the **target** acts on a value when the instruction names it in a *focused* sentence (one that
#   names at most two values); in a long list only the first two get its attention (the paper's
#   "instruction bottleneck"); with no instruction it acts on the first value only;
# * the **judge** rates a value 5 when the response acts on it and 1 otherwise;
# * the **proposer** adds a focused sentence for the value it is told is weakest (and now and then
#   proposes something degenerate, which the guards must catch).
#
# So the value-listing instruction ("reflect tradition, conformity, benevolence, security") helps
# with two values only, and a good optimiser must add focused sentences for the others.

# %%
import os

from langchain_picaco import PicacoConfig, PicacoOptimizer, load_queries, load_value_set
from langchain_picaco.testing import SyntheticWorld

FAST = os.environ.get("PICACO_NOTEBOOK_FAST") == "1"  # set by the test suite

values = load_value_set("confucianism-4")
queries = load_queries(values.name, split="optimize")[: 4 if FAST else 6]
heldout = load_queries(values.name, split="heldout")[: 3 if FAST else 6]
world = SyntheticWorld(values)
print(values.name, "->", ", ".join(values.names))
print(f"{len(queries)} optimisation queries, {len(heldout)} held out, e.g. {queries[0]!r}")

# %% [markdown]
# ## Plan, then optimise
#
# `plan()` projects calls and tokens without calling any model: with a paid API this is the number
# to look at first. `optimize()` returns a new `MetaInstruction`.

# %%
# calibrate=False: the scripted judge knows only this world's rules, so it would fail the judge
# calibration on the shipped reference texts (with a real judge, keep it on: see docs/models.md).
config = PicacoConfig(
    iterations=6,
    candidates=3,
    samples_per_query=2,
    minibatch=len(queries),
    patience=6,
    seed=1,
    calibrate=False,
)
optimizer = PicacoOptimizer(
    world.target(),
    values=values,
    judge=world.judge(),
    proposer=world.proposer(),
    config=config,
    progress=False,
)
print(optimizer.plan(queries))
mi = optimizer.optimize(queries)
print(mi.summary())
print(f"\n{mi.usage.calls} calls ({mi.usage.calls_by_role}) in {mi.usage.wall_seconds:.2f} s")

# %% [markdown]
# ## What happened, round by round
#
# Every candidate is in `mi.history`: accepted ones replaced the incumbent after beating it beyond
# the noise on fresh samples; rejected ones carry the guard's reason (a question instead of an
# instruction, a duplicate, ...). Candidates that paste a value's description into the
# instruction make the target parrot it: the redundancy term of the score keeps them out.

# %%
for h in sorted(mi.history, key=lambda h: h.iteration):
    if h.iteration == 0:
        status = "seed"
    elif h.rejected_reason:
        status = f"rejected ({h.rejected_reason})"
    else:
        status = "ACCEPTED" if h.accepted else "kept the incumbent"
    print(f"round {h.iteration}: {status:<22} {h.instruction[-70:]!r}")

# %% [markdown]
# ## Per-value scores before and after
#
# The artifact carries the scores measured during the run: the bare model and the seed
# (value-listing) instruction as references, and the final instruction. `plot_scores` draws them.

# %%
import tempfile
from pathlib import Path

from IPython.display import Image, display

from langchain_picaco.evaluate.plots import plot_scores, plot_value_scores

out = Path(tempfile.mkdtemp(prefix="picaco-nb02-"))
display(Image(filename=str(plot_scores(mi, out / "scores.png"))))

# %% [markdown]
# The same comparison on **held-out** queries, which the optimiser never saw, with
# `optimizer.evaluate(...)` (None means the bare model).

# %%
seed_text = mi.history[0].instruction
reports = {
    "bare model": optimizer.evaluate(None, heldout),
    "value list (seed)": optimizer.evaluate(seed_text, heldout),
    "PICACO": optimizer.evaluate(mi, heldout),
}
for label, report in reports.items():
    print(f"{label:<18} mean {report.scores.mean:.2f}  min {report.scores.min:.2f}")
series = {label: report.scores for label, report in reports.items()}
path = plot_value_scores(series, out / "heldout.png", title="Held-out queries")
display(Image(filename=str(path)))

# %%
# In this world the rules say what must happen: the seed helps two values, PICACO helps more.
assert reports["value list (seed)"].scores.mean > reports["bare model"].scores.mean
assert reports["PICACO"].scores.mean > reports["value list (seed)"].scores.mean
assert mi.scores is not None and mi.scores.mean > mi.reference_scores["seed"].mean

# %% [markdown]
# ## Keep the artifact
#
# `mi.save(path)` writes readable JSON (text, value set, scores, history, models, config, usage);
# `MetaInstruction.load(path)` reads it back, and `mi.as_runnable()` / `mi.as_middleware()` put
# it into chains and agents (notebooks 03 and 04).

# %%
from langchain_picaco import MetaInstruction

saved = mi.save(out / "confucianism-4.json")
again = MetaInstruction.load(saved)
assert again.text == mi.text and again.scores == mi.scores
print(saved.read_text()[:300], "...")
