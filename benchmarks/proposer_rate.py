"""How often does a proposer write a usable candidate instruction? (issue 12, deliverable 4)

It runs the optimiser's own ``propose`` node (guards and repair turn included) on a state like
the one after a reference phase: the value-listing seed as the incumbent, per-value scores with
one weakest value, and good examples (the shipped calibration answers that act on a value).
Each round asks for ``--candidates`` candidates; a candidate is *usable* when it passes every
guard (not empty, not a question, not a copy of a query, not a duplicate or near-copy of an
instruction already tried). The script reports the usable share with and without the repair
turn, the rejection reasons, and the proposer calls and seconds spent.

With ``--merge`` every proposal is a Pareto merge (``proposal_strategy="pareto"``, one
candidate a round, on a round that merges): the state's front holds the seed and the seed plus
one sentence for the round's weakest value (stronger there, weaker on another value), and the
proposer is asked to merge them (a whole instruction under ``rewrite``, one sentence under
``add_sentence``); merges have their own guards (length bound, no pasting, no parent copy).

Usage:
    .venv/bin/python benchmarks/proposer_rate.py --proposer local-1.5b --values confucianism-4 \
        --rounds 6 --candidates 2 [--style rewrite|add_sentence] [--retries 0,1]
    .venv/bin/python benchmarks/proposer_rate.py --proposer local-1.5b --merge \
        --style add_sentence --rounds 12

Models are named as everywhere (``local``, ``local-1.5b``, a ``.gguf`` path, ``provider:model``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from collections import Counter
from types import SimpleNamespace
from typing import Any

from langchain_picaco.config import PicacoConfig
from langchain_picaco.llm.models import resolve_model
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.graph.nodes import PicacoNodes
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.values.queries import load_calibration_references, load_queries
from langchain_picaco.values.value_sets import load_value_set

PARTNER_SENTENCE = "In every answer, say plainly how your advice serves {value}."
"""The sentence that makes the merge partner (``--merge``) stronger on the weakest value."""


def _front(value_set: Any, seed: str, weakest: str) -> dict[str, Any]:
    """Evidence and front for ``--merge``: the seed, and the seed plus a sentence for ``weakest``.

    The partner is better on ``weakest`` (3.4 against 2.2) and worse on the next value (2.9
    against 3.6), so neither dominates and the partner complements the seed.
    """
    names = list(value_set.names)
    other = names[(names.index(weakest) + 1) % len(names)]
    partner = f"{seed} {PARTNER_SENTENCE.format(value=weakest)}"
    mine = {n: (2.2 if n == weakest else 3.6) for n in names}
    theirs = {**mine, weakest: 3.4, other: 2.9}
    evidence = [
        {
            "instruction": text,
            "sums": {n: 8 * v for n, v in means.items()},
            "counts": dict.fromkeys(names, 8),
        }
        for text, means in ((seed, mine), (partner, theirs))
    ]
    front = [
        {"instruction": e["instruction"], "per_value": means, "evidence": e["counts"]}
        for e, means in zip(evidence, (mine, theirs), strict=True)
    ]
    return {"evidence": evidence, "pareto_front": front}


def _state(value_set: Any, weakest: str, iteration: int, merge: bool = False) -> dict[str, Any]:
    queries = load_queries(value_set.name, split="optimize")[:4]
    refs = load_calibration_references(list(value_set.names))
    aligned = {}
    for q, name in enumerate(value_set.names[: len(queries)]):
        text = refs[name][0]["acts"]
        aligned[str(q)] = [{"query": q, "text": text, "weight": 1.0 - 0.1 * q}]
    scores = {n: (2.2 if n == weakest else 3.6) for n in value_set.names}
    seed = default_seed_instruction(value_set)
    return {
        **(_front(value_set, seed, weakest) if merge else {}),
        "values": value_set.model_dump(),
        "queries": queries,
        "instruction": seed,
        "iteration": iteration,
        "incumbent_scores": {"per_value": scores},
        "aligned": aligned,
        "noisy": {},
        "history": [{"iteration": 0, "instruction": seed, "accepted": True}],
        "rejected": [],
    }


async def _run(args: argparse.Namespace, retries: int) -> dict[str, Any]:
    value_set = load_value_set(args.values)
    proposer = resolve_model(args.proposer, role="proposer", max_tokens=args.max_tokens)
    resources = Resources(target=proposer, judge=proposer, proposer=proposer)
    nodes = PicacoNodes(resources)
    totals: Counter[str] = Counter()
    examples: list[str] = []
    calls = 0
    started = time.monotonic()
    for r in range(args.rounds):
        cfg = PicacoConfig(
            candidates=args.candidates,
            proposer_retries=retries,
            seed=args.seed + r,
            calibrate=False,
            **({"proposal_style": args.style} if args.style else {}),
            **({"proposal_strategy": "pareto"} if args.merge else {}),
        )
        runtime = SimpleNamespace(context=PicacoContext(config=cfg), stream_writer=None)
        weakest = value_set.names[r % len(value_set)]
        # a merge round: with one candidate, every even round merges (the state holds the round
        # before it)
        iteration = 2 * r + 1 if args.merge else r
        state = _state(value_set, weakest, iteration, merge=args.merge)
        out = await nodes.propose(state, runtime, {})  # type: ignore[arg-type]
        calls += out["usage"]["calls"]
        totals["usable"] += len(out["candidates"])
        totals["asked"] += args.candidates
        for rej in out["rejected"]:
            totals[f"rejected:{rej['reason']}"] += 1
        examples += out["candidates"][:1]
    wall = time.monotonic() - started
    return {
        "retries": retries,
        "usable": totals["usable"],
        "asked": totals["asked"],
        "rate": totals["usable"] / max(1, totals["asked"]),
        "rejections": {k: v for k, v in totals.items() if k.startswith("rejected:")},
        "proposer_calls": calls,
        "wall_s": round(wall, 1),
        "examples": examples[:4],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposer", default="local-1.5b")
    parser.add_argument("--values", default="confucianism-4")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--retries", default="0,1", help="proposer_retries values to measure")
    parser.add_argument("--style", default=None, help="PicacoConfig.proposal_style, if set")
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--merge", action="store_true", help="every proposal a Pareto merge (one candidate)"
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.merge:
        args.candidates = 1
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    results = []
    for retries in (int(x) for x in args.retries.split(",")):
        res = asyncio.run(_run(args, retries))
        res.update(
            proposer=args.proposer, values=args.values, style=args.style or "default",
            merge=args.merge, commit=commit, load=os.getloadavg()[0],
        )  # fmt: skip
        results.append(res)
        print(json.dumps(res, indent=1), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
