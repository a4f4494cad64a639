"""How well does the PICACO optimiser use its calls, and does it beat the baselines?

Three parts, all on the scripted synthetic world (``langchain_picaco.testing``), so they run in
seconds, offline, and repeat exactly:

(a) Parallel efficiency. Every scripted call takes a fixed latency (0.2 s, about the fastest a
    hosted chat model answers, and 0.05 s as a stress case in which the per-call CPU work of
    LangChain and the graph on 2 cores weighs four times as much); with
    ``max_concurrency=8`` a perfect scheduler would finish in ``calls x latency / 8``. We report
    wall time over that ideal and where the rest goes, from a timeline of every call (LangChain
    callbacks): time with no call in flight (start-up and the graph's own work between
    supersteps), time with only proposer calls in flight (a round proposes C < 8 candidates and
    nothing else can run until they are back), and partly filled time at the ends of phases.
(b) Model calls per round with ONE judge call per response rating every value (the ``rubric``
    protocol) against one judge call per value (``per_value``: K calls per response, the
    paper's way), for K = 4, 8, 10: both runs are made and their calls counted by phase (the
    paper-defaults lines printed after the table are computed, and say so).
(c) A table on held-out queries: the bare model, the value-listing instruction ("Q+IF"), an
    OPRO-style optimiser given the SAME call budget and proposer as PICACO, and PICACO, in five
    worlds, ten seeds each: a clean or a noisy judge (Gaussian noise, sd 0.8 on the 1..5 scale,
    what a weak judge looks like), K=4 or K=8 values, and instructions whose length is free or
    costs follow-through ("dilution" 0.05: each sentence beyond the first lowers the chance
    that any one demand is followed by 5 %, as instruction-following studies report for piled-up
    demands). Each final instruction is scored with ``PicacoOptimizer.evaluate`` on the value
    set's held-out queries by the world's CLEAN judge (the ground truth of the world, also in
    the noisy-judge worlds). Columns: per-value min and mean (1..5), "parrot" (mean lexical
    redundancy of the held-out responses, 0..1: how much they restate the value descriptions),
    the final instruction's sentences, and calls spent optimising; then, per world, in how many
    seeds PICACO's min (and mean) is above, equal to, or below OPRO's.
(d) Proposals from the Pareto front (issue 15): PICACO proposing only for the weakest value
    (``proposal_strategy="weakest"``) against PICACO merging front members
    (``proposal_strategy="pareto"``), both at their defaults otherwise, and OPRO given the larger
    of the two runs' call counts; a control row runs weakest-only with the pareto run's call
    count as its budget and no patience stop (so weakest-only is not short of calls). Worlds:
    the conflicting world (``ConflictingWorld``: rival values, where weakest-value edits trade
    one value for another) with a clean and a noisy judge, and the five worlds of (c); twenty
    seeds each, held-out min and mean by the world's clean judge, per-seed wins and the paired
    mean difference (pareto minus weakest) with its 95 % t interval. ``--proposal-style
    add_sentence`` runs it with the proposer writing one sentence at a time (a merge keeps the
    incumbent and adds one sentence for what the other front member does better).

Usage:
    .venv/bin/python benchmarks/bench_optimizer.py              # all three parts
    .venv/bin/python benchmarks/bench_optimizer.py --only a     # one part (a, b or c)
    .venv/bin/python benchmarks/bench_optimizer.py --only c --seeds 5
    .venv/bin/python benchmarks/bench_optimizer.py --only c --no-greedy --world 0.8,0.1
    .venv/bin/python benchmarks/bench_optimizer.py --only b --markdown b.md   # tables as markdown
    .venv/bin/python benchmarks/bench_optimizer.py --only d --seeds 20
    .venv/bin/python benchmarks/bench_optimizer.py --only d --proposal-style add_sentence
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402

from langchain_picaco.config import Budget, PicacoConfig  # noqa: E402
from langchain_picaco.evaluate.opro import OproConfig, OproOptimizer  # noqa: E402
from langchain_picaco.instruction import MetaInstruction  # noqa: E402
from langchain_picaco.optimizer.picaco_optimizer import EvaluationReport, PicacoOptimizer  # noqa: E402
from langchain_picaco.optimizer.seed import default_seed_instruction  # noqa: E402
from langchain_picaco.scoring import LexicalRedundancy  # noqa: E402
from langchain_picaco.scoring.stats import paired_gain  # noqa: E402
from langchain_picaco.testing import ConflictingWorld, SyntheticWorld  # noqa: E402
from langchain_picaco.values.queries import load_queries  # noqa: E402
from langchain_picaco.values.value_sets import ValueSet, load_value_set  # noqa: E402


# ---------------------------------------------------------------------------------------- (a)
class Timeline(BaseCallbackHandler):
    """Records (start, end, role) of every chat-model call."""

    run_inline = True

    def __init__(self) -> None:
        self.open: dict[Any, tuple[float, str]] = {}
        self.calls: list[tuple[float, float, str]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: Any, **kw: Any
    ) -> None:
        role = ((kw.get("metadata") or {}).get("role")) or "?"
        self.open[run_id] = (time.perf_counter(), role)

    def on_llm_end(self, response: Any, *, run_id: Any, **kw: Any) -> None:
        start, role = self.open.pop(run_id)
        self.calls.append((start, time.perf_counter(), role))


def _breakdown(timeline: Timeline, t0: float, t1: float, slots: int) -> dict[str, float]:
    """Split [t0, t1] by what was in flight; return seconds of idle capacity by cause."""
    points = sorted(
        [(s, 1, r) for s, _, r in timeline.calls] + [(e, -1, r) for _, e, r in timeline.calls],
        key=lambda p: (p[0], p[1]),
    )
    in_flight: dict[str, int] = {}
    out = {"none_in_flight": 0.0, "only_proposer": 0.0, "partly_filled": 0.0, "full": 0.0}
    idle = dict.fromkeys(out, 0.0)
    last = t0
    for t, d, role in [*points, (t1, 0, "")]:
        dt = max(0.0, t - last)
        n = sum(in_flight.values())
        if n == 0:
            key = "none_in_flight"
        elif n == in_flight.get("proposer", 0):
            key = "only_proposer"
        elif n < slots:
            key = "partly_filled"
        else:
            key = "full"
        out[key] += dt
        idle[key] += dt * (slots - min(n, slots)) / slots
        if role:
            in_flight[role] = in_flight.get(role, 0) + d
        last = max(last, t)
    return {**{f"time_{k}": v for k, v in out.items()}, **{f"lost_{k}": v for k, v in idle.items()}}


def part_a(latency: float = 0.05, slots: int = 8) -> list[str]:
    """Run part (a) at one latency; print the text table, return the markdown rows."""
    print("\n(a) Parallel efficiency: wall time over calls x latency / max_concurrency")
    print(
        f"    latency {latency} s per call, max_concurrency {slots}, confucianism-4, sampling mode"
    )
    vs = load_value_set("confucianism-4")
    header = (
        f"{'queries':>7} {'calls':>6} {'wall s':>7} {'ideal s':>7} {'ratio':>6} | lost s: "
        f"{'no call':>7} {'proposer':>8} {'partial':>7} {'stretch':>7} | {'structural':>10}"
    )
    print("    " + header)
    rows: list[str] = []
    for n_queries in (8, 16):
        qs = load_queries("confucianism-4", split="optimize")[:n_queries]
        cfg = PicacoConfig(
            iterations=4,
            candidates=4,
            minibatch=8,
            max_concurrency=slots,
            selection="sampling",
            calibrate=False,
        )
        for attempt in ("warm-up", "measured"):
            world = SyntheticWorld(vs, latency=latency)
            timeline = Timeline()
            models = [world.target(), world.judge(), world.proposer()]
            for m in models:
                m.callbacks = [timeline]
            opt = PicacoOptimizer(
                models[0], values=vs, judge=models[1], proposer=models[2], config=cfg
            )
            t0 = time.perf_counter()
            mi = opt.optimize(qs)
            t1 = time.perf_counter()
            if attempt == "warm-up":
                continue  # loads tiktoken and imports once, as a long-lived process would
            assert max(m.max_in_flight for m in models) <= slots
            wall = t1 - t0
            ideal = mi.usage.calls * latency / slots
            b = _breakdown(timeline, t0, t1, slots)
            busy = sum(e - s for s, e, _ in timeline.calls)
            stretch = (busy - mi.usage.calls * latency) / slots
            structural = (ideal + b["lost_only_proposer"] + b["lost_partly_filled"]) / ideal
            print(
                f"    {n_queries:>7} {mi.usage.calls:>6} {wall:>7.2f} {ideal:>7.2f} "
                f"{wall / ideal:>6.2f} |         {b['lost_none_in_flight']:>7.2f} "
                f"{b['lost_only_proposer']:>8.2f} {b['lost_partly_filled']:>7.2f} "
                f"{stretch:>7.2f} | {structural:>10.2f}"
            )
            rows.append(
                f"| {latency} s | {n_queries} | {mi.usage.calls} | {wall:.2f} | {ideal:.2f} | "
                f"**{wall / ideal:.2f}** | {structural:.2f} |"
            )
    print(
        "    lost s = slot-seconds left idle / max_concurrency, by what was in flight: no call\n"
        "    (start-up, the graph's own work between supersteps), only proposer calls (C=4 < 8\n"
        "    slots, nothing else may run), partly filled (ends of phases); stretch = how much\n"
        "    longer than the latency calls took (event-loop and LangChain overhead per call).\n"
        "    wall = ideal + the four lost columns. structural = (ideal + proposer + partial) /\n"
        "    ideal: the ratio with zero CPU overhead, i.e. what the superstep structure costs."
    )
    return rows


A_HEADER = [
    "| latency | queries | calls | wall s | ideal s | ratio | structural |",
    "|---|---|---|---|---|---|---|",
]


# ---------------------------------------------------------------------------------------- (b)
class PhaseCounter(BaseCallbackHandler):
    """Counts chat-model calls by (phase, role), from the metadata every PICACO call carries."""

    run_inline = True

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        meta = kw.get("metadata") or {}
        self.calls[(str(meta.get("phase", "?")), str(meta.get("role", "?")))] += 1


_OUTSIDE_ROUNDS = {"calibrate", "reference", "final"}


def _per_round(name: str, protocol: str) -> dict[str, float]:
    """One run of part (b)'s settings; calls per round counted by phase, not computed."""
    vs = load_value_set(name)
    qs = load_queries(name, split="optimize")[:8]
    world = SyntheticWorld(vs)
    counter = PhaseCounter()
    models = [world.target(), world.judge(), world.proposer()]
    for m in models:
        m.callbacks = [counter]
    cfg = PicacoConfig(
        iterations=3,
        candidates=4,
        minibatch=8,
        patience=3,
        calibrate=False,
        judge_protocol=protocol,  # type: ignore[arg-type]
    )
    opt = PicacoOptimizer(models[0], values=vs, judge=models[1], proposer=models[2], config=cfg)
    mi = opt.optimize(qs)
    assert sum(counter.calls.values()) == mi.usage.calls  # every call seen (no likelihood calls)
    rounds = max(h.iteration for h in mi.history)
    loop = {k: n for k, n in counter.calls.items() if k[0] not in _OUTSIDE_ROUNDS}
    return {
        "rounds": rounds,
        "responses": sum(n for (_, role), n in loop.items() if role == "target") / rounds,
        "calls": sum(loop.values()) / rounds,
        "text": mi.text,
    }


def part_b() -> list[str]:
    """Run part (b); print the text table, return the markdown rows."""
    print("\n(b) Model calls per round, judge protocol rubric (one judge call per response)")
    print("    against per_value (one judge call per value and response), both measured on the")
    print("    synthetic world: 8 queries, S=2, C=4, minibatch 8, paired acceptance, 3 rounds")
    print(
        f"    {'value set':<16} {'K':>3} {'responses/it':>12} {'rubric/it':>9} "
        f"{'per_value/it':>12} {'ratio':>6}"
    )
    rows: list[str] = []
    for name in ("confucianism-4", "hh-balance-8", "schwartz-10"):
        k = len(load_value_set(name))
        rubric = _per_round(name, "rubric")
        per_value = _per_round(name, "per_value")
        same = "" if rubric["text"] == per_value["text"] else " (different instructions found)"
        ratio = per_value["calls"] / rubric["calls"]
        print(
            f"    {name:<16} {k:>3} {rubric['responses']:>12.1f} {rubric['calls']:>9.1f} "
            f"{per_value['calls']:>12.1f} {ratio:>6.2f}{same}"
        )
        responses = f"{rubric['responses']:.1f}"
        if per_value["responses"] != rubric["responses"]:
            responses += f" / {per_value['responses']:.1f}"
        rows.append(
            f"| {name} | {k} | {responses} | {rubric['calls']:.1f} | {per_value['calls']:.1f} | "
            f"{ratio:.2f} |"
        )
    n, s, c, b = 50, 2, 4, 8
    responses = (c + 1) * b + 2 * b + n * s
    print(
        f"    COMPUTED, not measured: paper defaults (N={n}, S={s}, C={c}, minibatch {b}, every "
        f"round accepted): {responses} responses per round"
    )
    for k in (4, 8, 10):
        ours = 2 * responses + c
        paper = (1 + k) * responses + c
        print(
            f"      K={k:>2}: rubric {ours} calls, per-value {paper} calls, "
            f"ratio {paper / ours:.2f}"
        )
    return rows


B_HEADER = [
    "| value set | K | responses / round | rubric: calls / round | per_value: calls / round "
    "| ratio |",
    "|---|---|---|---|---|---|",
]


# ---------------------------------------------------------------------------------------- (c)
@dataclass
class Row:
    min: float
    mean: float
    parrot: float
    calls: int
    sentences: int = 0


def _evaluate(world: SyntheticWorld, vs: ValueSet, text: str | None, qs: Sequence[str]) -> Row:
    clean = SyntheticWorld(
        vs,
        focus=world.focus,
        bare_values=world.bare_values,
        dilution=world.dilution,
        seed=world.seed,
    )
    opt = PicacoOptimizer(world.target(), values=vs, judge=clean.judge())
    report: EvaluationReport = opt.evaluate(text, list(qs), samples=2)
    red = LexicalRedundancy()
    parrot = statistics.fmean(red.score(r["response"], vs, r["query"]) for r in report.responses)
    return Row(report.scores.min, report.scores.mean, parrot, 0, len(world.sentences(text)))


def _opro(
    world: SyntheticWorld, vs: ValueSet, qs: Sequence[str], seed: int, budget: int
) -> MetaInstruction:
    """OPRO with the same target, judge and proposer, stopped by a call budget."""
    return OproOptimizer(
        world.target(),
        values=vs,
        judge=world.judge(),
        proposer=world.proposer(),
        # the budget, not the step count, ends the run
        config=OproConfig(steps=1000, seed=seed, budget=Budget(max_calls=budget)),
    ).optimize(list(qs))


def _one_world(
    name: str, judge_noise: float, dilution: float, seed: int, greedy_row: bool
) -> dict[str, Row]:
    vs = load_value_set(name)
    qs = load_queries(name, split="optimize")
    heldout = load_queries(name, split="heldout")
    world = SyntheticWorld(vs, judge_noise=judge_noise, dilution=dilution, seed=seed)
    rows: dict[str, Row] = {
        "bare model": _evaluate(world, vs, None, heldout),
        "Q+IF (value list)": _evaluate(world, vs, default_seed_instruction(vs), heldout),
    }
    picaco = PicacoOptimizer(
        world.target(),
        values=vs,
        judge=world.judge(),
        proposer=world.proposer(),
        config=PicacoConfig(seed=seed, calibrate=False),
    ).optimize(qs)
    opro = _opro(world, vs, qs, seed, picaco.usage.calls)
    row = _evaluate(world, vs, opro.text, heldout)
    rows["OPRO (same budget)"] = Row(row.min, row.mean, row.parrot, opro.usage.calls, row.sentences)
    row = _evaluate(world, vs, picaco.text, heldout)
    rows["PICACO"] = Row(row.min, row.mean, row.parrot, picaco.usage.calls, row.sentences)
    if greedy_row:
        greedy = PicacoOptimizer(
            world.target(),
            values=vs,
            judge=world.judge(),
            proposer=world.proposer(),
            config=PicacoConfig(seed=seed, acceptance="greedy", calibrate=False),
        ).optimize(qs)
        row = _evaluate(world, vs, greedy.text, heldout)
        rows["PICACO, greedy accept*"] = Row(
            row.min, row.mean, row.parrot, greedy.usage.calls, row.sentences
        )
        opro2 = _opro(world, vs, qs, seed, greedy.usage.calls)
        row = _evaluate(world, vs, opro2.text, heldout)
        rows["OPRO, greedy's budget*"] = Row(
            row.min, row.mean, row.parrot, opro2.usage.calls, row.sentences
        )
    return rows


def _versus_counts(per_seed: Sequence[dict[str, Row]], attr: str) -> tuple[int, int, int]:
    ours = [getattr(r["PICACO"], attr) for r in per_seed]
    theirs = [getattr(r["OPRO (same budget)"], attr) for r in per_seed]
    above = sum(a > b + 1e-9 for a, b in zip(ours, theirs, strict=True))
    below = sum(a < b - 1e-9 for a, b in zip(ours, theirs, strict=True))
    return above, len(ours) - above - below, below


def _versus(per_seed: Sequence[dict[str, Row]], attr: str) -> str:
    above, equal, below = _versus_counts(per_seed, attr)
    return f"above in {above}, equal in {equal}, below in {below}"


WORLDS = [
    ("clean judge, K=4", "confucianism-4", 0.0, 0.0),
    ("clean judge, K=8", "hh-balance-8", 0.0, 0.0),
    ("noisy judge (sd 0.8), K=4", "confucianism-4", 0.8, 0.0),
    ("clean judge, K=4, dilution 0.05", "confucianism-4", 0.0, 0.05),
    ("noisy judge (sd 0.8), K=4, dilution 0.05", "confucianism-4", 0.8, 0.05),
]


def part_c(seeds: int, greedy_row: bool = True, worlds: Sequence[tuple] = ()) -> list[str]:
    """Run part (c); print the text tables, return two markdown tables (scores, per seed)."""
    print("\n(c) Held-out scores (1..5; mean over seeds), PICACO defaults (T=10, C=4, S=2,")
    print("    minibatch 8, paired acceptance, 2 looks), OPRO given PICACO's call count as budget")
    scores = [
        "| world | method | min | mean | parrot | sent. | calls |",
        "|---|---|---|---|---|---|---|",
    ]
    versus = [
        "| world | PICACO vs OPRO, min: above / equal / below | mean: above / equal / below |",
        "|---|---|---|",
    ]
    for title, name, noise, dilution in worlds or WORLDS:
        per_seed = [_one_world(name, noise, dilution, s, greedy_row) for s in range(seeds)]
        print(f"\n    {title}: {name}, {seeds} seeds, 16 optimisation / 10 held-out queries")
        print(
            f"    {'method':<24} {'min':>5} {'mean':>5} {'parrot':>6} {'sent.':>5} {'calls':>6}"
            "   min per seed"
        )
        for i, method in enumerate(per_seed[0]):
            rows = [r[method] for r in per_seed]
            mins = " ".join(f"{r.min:.1f}" for r in rows)
            cells = (
                f"{statistics.fmean(r.min for r in rows):.2f}",
                f"{statistics.fmean(r.mean for r in rows):.2f}",
                f"{statistics.fmean(r.parrot for r in rows):.2f}",
                f"{statistics.fmean(r.sentences for r in rows):.1f}",
                f"{statistics.fmean(r.calls for r in rows):.0f}",
            )
            print(
                f"    {method:<24} {cells[0]:>5} {cells[1]:>5} {cells[2]:>6} {cells[3]:>5} "
                f"{cells[4]:>6}   {mins}"
            )
            label = f"**{method}**" if method == "PICACO" else method
            scores.append(f"| {title if i == 0 else ''} | {label} | " + " | ".join(cells) + " |")
        print(f"    PICACO vs OPRO per seed: min {_versus(per_seed, 'min')};")
        print(f"                             mean {_versus(per_seed, 'mean')}")
        mins = " / ".join(str(n) for n in _versus_counts(per_seed, "min"))
        means = " / ".join(str(n) for n in _versus_counts(per_seed, "mean"))
        versus.append(f"| {title} | {mins} | {means} |")
    if greedy_row:
        print(
            "\n    * sensitivity rows: PICACO with acceptance='greedy' (no noise test), and OPRO\n"
            "      given that run's call count."
        )
    return [*scores, "", *versus]


# ---------------------------------------------------------------------------------------- (d)
D_WORLDS = [
    ("conflicting values, clean judge, K=4", "confucianism-4", 0.0, 0.0, True),
    ("conflicting values, noisy judge (sd 0.8), K=4", "confucianism-4", 0.8, 0.0, True),
    *((title, name, noise, dilution, False) for title, name, noise, dilution in WORLDS),
]
WEAKEST, PARETO, CONTROL, OPRO = (
    "weakest only",
    "pareto + merge",
    "weakest, pareto's calls*",
    "OPRO (same budget)",
)


def _strategy_run(
    world: SyntheticWorld,
    vs: ValueSet,
    qs: Sequence[str],
    seed: int,
    strategy: str,
    budget: int | None = None,
    style: str = "rewrite",
) -> MetaInstruction:
    """PICACO at its defaults with ``strategy`` and ``style``; with a budget, no patience stop."""
    extra: dict[str, Any] = {}
    if budget is not None:
        extra = {"budget": Budget(max_calls=budget), "patience": 10}
    cfg = PicacoConfig(
        seed=seed,
        calibrate=False,
        proposal_strategy=strategy,
        proposal_style=style,
        **extra,
    )
    roles = {"judge": world.judge(), "proposer": world.proposer()}
    return PicacoOptimizer(world.target(), values=vs, config=cfg, **roles).optimize(list(qs))


def _held_out(world: SyntheticWorld, vs: ValueSet, mi: MetaInstruction, qs: Sequence[str]) -> Row:
    row = _evaluate(world, vs, mi.text, qs)
    return Row(row.min, row.mean, row.parrot, mi.usage.calls, row.sentences)


def _strategies(
    name: str, noise: float, dilution: float, conflicting: bool, seed: int, style: str
) -> dict:
    """One seed of part (d): the four methods' held-out rows."""
    vs = load_value_set(name)
    qs = load_queries(name, split="optimize")
    heldout = load_queries(name, split="heldout")
    kind = ConflictingWorld if conflicting else SyntheticWorld
    world = kind(vs, judge_noise=noise, dilution=dilution, seed=seed)
    weakest = _strategy_run(world, vs, qs, seed, "weakest", style=style)
    pareto = _strategy_run(world, vs, qs, seed, "pareto", style=style)
    control = _strategy_run(world, vs, qs, seed, "weakest", budget=pareto.usage.calls, style=style)
    opro = _opro(world, vs, qs, seed, max(weakest.usage.calls, pareto.usage.calls))
    runs = {WEAKEST: weakest, PARETO: pareto, CONTROL: control, OPRO: opro}
    return {label: _held_out(world, vs, mi, heldout) for label, mi in runs.items()}


def _wins(per_seed: Sequence[dict[str, Row]], ours: str, theirs: str, attr: str) -> str:
    a = [getattr(r[ours], attr) for r in per_seed]
    b = [getattr(r[theirs], attr) for r in per_seed]
    above = sum(x > y + 1e-9 for x, y in zip(a, b, strict=True))
    below = sum(x < y - 1e-9 for x, y in zip(a, b, strict=True))
    return f"{above} / {len(a) - above - below} / {below}"


def _paired(per_seed: Sequence[dict[str, Row]], ours: str, theirs: str, attr: str) -> str:
    diffs = [getattr(r[ours], attr) - getattr(r[theirs], attr) for r in per_seed]
    mean, low, high = paired_gain(diffs, 0.025)
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def part_d(seeds: int, style: str = "rewrite") -> list[str]:
    """Run part (d); print the text tables, return two markdown tables (scores, paired)."""
    print("\n(d) Weakest-value proposals against Pareto + merge and OPRO (held-out, clean judge;")
    print(f"    {seeds} seeds a world; PICACO defaults T=10, C=4, S=2, minibatch 8, patience 3;")
    print(f"    proposal_style={style})")
    scores = ["| world | method | min | mean | sent. | calls |", "|---|---|---|---|---|---|"]
    paired = [
        "| world | min: pareto − weakest [95% CI] | above / equal / below "
        "| mean: pareto − weakest [95% CI] | above / equal / below "
        "| min vs weakest at pareto's calls* | min vs OPRO |",
        "|---|---|---|---|---|---|---|",
    ]
    for title, name, noise, dilution, conflicting in D_WORLDS:
        started = time.perf_counter()
        per_seed = [_strategies(name, noise, dilution, conflicting, s, style) for s in range(seeds)]
        print(f"\n    {title}: {name} ({time.perf_counter() - started:.0f} s)")
        print(f"    {'method':<26} {'min':>5} {'mean':>5} {'sent.':>5} {'calls':>6}   min per seed")
        for i, method in enumerate(per_seed[0]):
            rows = [r[method] for r in per_seed]
            cells = (
                f"{statistics.fmean(r.min for r in rows):.2f}",
                f"{statistics.fmean(r.mean for r in rows):.2f}",
                f"{statistics.fmean(r.sentences for r in rows):.1f}",
                f"{statistics.fmean(r.calls for r in rows):.0f}",
            )
            mins = " ".join(f"{r.min:.1f}" for r in rows)
            print(
                f"    {method:<26} {cells[0]:>5} {cells[1]:>5} {cells[2]:>5} {cells[3]:>6}   {mins}"
            )
            label = f"**{method}**" if method == PARETO else method
            scores.append(f"| {title if i == 0 else ''} | {label} | " + " | ".join(cells) + " |")
        cells = (
            _paired(per_seed, PARETO, WEAKEST, "min"),
            _wins(per_seed, PARETO, WEAKEST, "min"),
            _paired(per_seed, PARETO, WEAKEST, "mean"),
            _wins(per_seed, PARETO, WEAKEST, "mean"),
            _wins(per_seed, PARETO, CONTROL, "min"),
            _wins(per_seed, PARETO, OPRO, "min"),
        )
        print(f"    pareto - weakest: min {cells[0]} (seeds above/equal/below {cells[1]}),")
        print(f"                      mean {cells[2]} ({cells[3]})")
        print(f"    pareto vs weakest at pareto's calls, min: {cells[4]}; vs OPRO, min: {cells[5]}")
        paired.append(f"| {title} | " + " | ".join(cells) + " |")
    print("\n    * control: weakest-only given the pareto run's call count as budget, patience off")
    return [*scores, "", *paired]


def _markdown(path: str | None, blocks: Sequence[list[str]]) -> None:
    """Write the markdown tables (one block each, a blank line between) to ``path``."""
    if path:
        text = "\n\n".join("\n".join(b) for b in blocks if b) + "\n"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["a", "b", "c", "d"], help="run one part only")
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds per world in (c) (10) and (d) (20)"
    )
    parser.add_argument(
        "--latency",
        default="0.2,0.05",
        help="seconds per call in (a), comma-separated for several runs",
    )
    parser.add_argument(
        "--world",
        action="append",
        default=[],
        metavar="NOISE,DILUTION",
        help="in (c), a confucianism-4 world with this judge noise and dilution instead of the "
        "five defaults (repeatable), e.g. --world 0.8,0.1",
    )
    parser.add_argument("--no-greedy", action="store_true", help="skip the sensitivity rows")
    parser.add_argument(
        "--proposal-style",
        choices=["rewrite", "add_sentence"],
        default="rewrite",
        help="in (d), how PICACO's proposer writes (merges included): the whole instruction, "
        "or one sentence appended to the incumbent",
    )
    parser.add_argument("--markdown", help="also write the tables as markdown to this file")
    args = parser.parse_args()
    worlds = []
    for spec in args.world:
        noise, dilution = (float(x) for x in spec.split(","))
        title = f"judge noise sd {noise}, K=4, dilution {dilution}"
        worlds.append((title, "confucianism-4", noise, dilution))
    started = time.perf_counter()
    blocks: list[list[str]] = []
    if args.only in (None, "a"):
        rows = []
        for latency in (float(x) for x in args.latency.split(",")):
            rows += part_a(latency=latency)
        blocks.append([*A_HEADER, *rows])
    if args.only in (None, "b"):
        blocks.append([*B_HEADER, *part_b()])
    if args.only in (None, "c"):
        blocks.append(part_c(args.seeds or 10, greedy_row=not args.no_greedy, worlds=worlds))
    if args.only in (None, "d"):
        blocks.append(part_d(args.seeds or 20, style=args.proposal_style))
    _markdown(args.markdown, blocks)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
