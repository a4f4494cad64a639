"""Trust the signal (issue 8): false improvements on a noise-only judge, calibration verdicts.

Four parts, all on scripted models (``langchain_picaco.testing``), so they run offline in a few
minutes and repeat exactly:

(a) Calibration verdicts of scripted reference judges with a known separation: "good" (5/1 on
    the value, 3 elsewhere), "weak" (3.5/3.0, 3.2 elsewhere), "halo" (one overall impression on
    every value) and "none" (uniform noise), Gaussian noise on top, over many judge seeds, on
    confucianism-4 and harmlessness-4: how often each overall verdict comes out, and the table of
    one good judge.
(b) Noise-only world (``SyntheticWorld(judge_mode="none")``, confucianism-4, 8 queries): the
    share of runs whose artifact reports an accepted candidate, i.e. a false improvement (the
    judge is pure noise, so no candidate is better), with a 95 % Wilson interval: PICACO (paired
    acceptance), PICACO with greedy acceptance (the paper's "keep the best", as a control), and
    the OPRO-style baseline given PICACO's call budget (its "improvement": a final instruction
    other than the seed with a higher score).
(c) Real-signal world (``judge_mode="good"``): the share of runs that improve: an accepted
    instruction under which the target acts on more values than under the seed (the world's
    ground truth).
(d) Task-fidelity guard on the shipped references: how often genuine answers (the references
    that act on or violate a value) and off-topic text (paired with every shipped query) are
    flagged, by lexical overlap alone and with a good judge's scores; with ``--local-json``,
    also with the scores the local judge gave during its calibration.

Usage:
    .venv/bin/python benchmarks/bench_trust.py                 # all parts, 40 seeds
    .venv/bin/python benchmarks/bench_trust.py --only b --seeds 20
    .venv/bin/python benchmarks/bench_trust.py --only d --local-json conf.json harm.json
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_picaco.config import Budget, CalibrationConfig, PicacoConfig  # noqa: E402
from langchain_picaco.evaluate.opro import OproConfig, OproOptimizer  # noqa: E402
from langchain_picaco.instruction import MetaInstruction  # noqa: E402
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer  # noqa: E402
from langchain_picaco.optimizer.seed import default_seed_instruction  # noqa: E402
from langchain_picaco.scoring.calibration import (  # noqa: E402
    BlindJudgeWarning,
    CalibrationReport,
    calibration_items,
    is_off_task,
    off_task_ceiling,
)
from langchain_picaco.testing import ReferenceJudge, SyntheticWorld  # noqa: E402
from langchain_picaco.values.queries import (  # noqa: E402
    load_calibration_references,
    load_off_topic_references,
    load_queries,
    load_query_records,
)
from langchain_picaco.values.value_sets import load_value_set  # noqa: E402

SETS = ("confucianism-4", "harmlessness-4")
MODES = ("good", "weak", "halo", "none")
NOISE = {"good": 0.3, "weak": 0.1, "halo": 0.1, "none": 0.0}


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def share(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {100 * k / n:.1f} % [95 % CI {100 * low:.1f}, {100 * high:.1f}]"


# ---------------------------------------------------------------------------------------- (a)
def part_a(seeds: int) -> None:
    print("## (a) Calibration verdicts of scripted judges\n")
    print(
        f"Overall verdict over {seeds} judge seeds (Gaussian noise sd in brackets), and the "
        "verdicts of the values one by one (4 per seed).\n"
    )
    print(
        "| value set | judge | sees | weak | blind | values: sees / weak / blind "
        "| mean separation | mean specificity |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in SETS:
        vs = load_value_set(name)
        for mode in MODES:
            verdicts: Counter[str] = Counter()
            per_value: Counter[str] = Counter()
            seps: list[float] = []
            specs: list[float] = []
            for seed in range(seeds):
                judge = ReferenceJudge(value_set=vs, mode=mode, noise=NOISE[mode], seed=seed)
                report = PicacoOptimizer(judge, values=vs, judge=judge).calibrate()
                verdicts[report.verdict] += 1
                per_value.update(v.verdict for v in report.values)
                seps += [v.separation for v in report.values if v.separation is not None]
                specs += [v.specificity for v in report.values if v.specificity is not None]
            print(
                f"| {name} | {mode} ({NOISE[mode]:g}) | {verdicts['sees']} | {verdicts['weak']} "
                f"| {verdicts['blind']} "
                f"| {per_value['sees']} / {per_value['weak']} / {per_value['blind']} "
                f"| {sum(seps) / len(seps):+.2f} "
                f"| {sum(specs) / len(specs):+.2f} |"
            )
    for mode in ("good", "halo"):
        vs = load_value_set("confucianism-4")
        judge = ReferenceJudge(value_set=vs, mode=mode, noise=NOISE[mode], seed=0)
        print(f"\nThe scripted {mode} judge (seed 0) on confucianism-4:\n")
        print(PicacoOptimizer(judge, values=vs, judge=judge).calibrate().table())
    print()


# ---------------------------------------------------------------------------------------- (b, c)
def picaco(world: SyntheticWorld, queries: list[str], seed: int, acceptance: str) -> Any:
    cfg = PicacoConfig(
        iterations=3,
        candidates=3,
        minibatch=8,
        samples_per_query=2,
        acceptance=acceptance,  # type: ignore[arg-type]
        seed=seed,
        calibrate=False,  # (a) covers calibration; here the selection step alone is measured
    )
    opt = PicacoOptimizer(
        world.target(),
        values=world.value_set,
        judge=world.judge(),
        proposer=world.proposer(),
        config=cfg,
    )
    return opt.optimize(queries)


def opro(world: SyntheticWorld, queries: list[str], seed: int, calls: int) -> MetaInstruction:
    cfg = OproConfig(
        steps=1000, candidates_per_step=3, minibatch=8, seed=seed, budget=Budget(max_calls=calls)
    )
    opt = OproOptimizer(
        world.target(),
        values=world.value_set,
        judge=world.judge(),
        proposer=world.proposer(),
        config=cfg,
    )
    return opt.optimize(queries)


def reports_improvement(mi: MetaInstruction) -> bool:
    """Whether the artifact claims a better instruction than the seed."""
    if mi.config.get("method") == "opro":
        seed = mi.reference_scores.get("seed")
        return bool(
            mi.scores is not None
            and seed is not None
            and mi.text != mi.history[0].instruction
            and mi.scores.mean > seed.mean
        )
    return any(h.accepted and h.iteration > 0 for h in mi.history)


def truly_better(world: SyntheticWorld, mi: MetaInstruction, seed_text: str) -> bool:
    """Whether, in the world's ground truth, the target acts on more values under ``mi``."""
    clean = not world.parroted(mi.text)
    return clean and len(world.requested(mi.text)) > len(world.requested(seed_text))


def part_bc(seeds: int, mode: str) -> None:
    vs = load_value_set("confucianism-4")
    queries = load_queries("confucianism-4", split="optimize")[:8]
    seed_text = default_seed_instruction(vs)
    counts: Counter[str] = Counter()
    real: Counter[str] = Counter()
    calls: dict[str, int] = Counter()
    started = time.monotonic()
    for seed in range(seeds):
        world = SyntheticWorld(vs, judge_mode=mode, seed=seed)  # type: ignore[arg-type]
        runs = {
            "PICACO (paired)": picaco(world, queries, seed, "paired"),
            "PICACO (greedy)": picaco(world, queries, seed, "greedy"),
        }
        runs["OPRO-style"] = opro(world, queries, seed, runs["PICACO (paired)"].usage.calls)
        for method, mi in runs.items():
            counts[method] += reports_improvement(mi)
            real[method] += reports_improvement(mi) and truly_better(world, mi, seed_text)
            calls[method] += mi.usage.calls
    took = time.monotonic() - started
    if mode == "none":
        print("## (b) Noise-only world: share of runs reporting a false improvement\n")
        print(
            f"confucianism-4, 8 queries, {seeds} seeds (world and optimiser seed), judge = "
            f"uniform noise; {took:.0f} s.\n"
        )
        print("| method | runs reporting an improvement | mean calls |")
    else:
        print("## (c) Real-signal world: share of runs that improve\n")
        print(
            f"confucianism-4, 8 queries, {seeds} seeds, clean judge; an improvement is real "
            "when the target acts on more values under the final instruction than under the "
            f"seed (ground truth of the world); {took:.0f} s.\n"
        )
        print("| method | runs reporting an improvement | ... that is real | mean calls |")
    print("|---|---|---|" + ("---|" if mode != "none" else ""))
    for method in counts:
        extra = f" {share(real[method], seeds)} |" if mode != "none" else ""
        print(f"| {method} | {share(counts[method], seeds)} |{extra} {calls[method] / seeds:.0f} |")
    print()


# ---------------------------------------------------------------------------------------- (d)
class _Names:
    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)


def part_d(local_json: Sequence[str]) -> None:
    print("## (d) Task-fidelity guard on the shipped references\n")
    th = CalibrationConfig()
    names = list(load_calibration_references(_all_reference_values()).keys())
    judge = ReferenceJudge(value_set=_Names(names), mode="good")
    refs = load_calibration_references(names)
    genuine = [(e["query"], e[k]) for es in refs.values() for e in es for k in ("acts", "violates")]
    queries = sorted(
        {
            r.query
            for s in (
                "confucianism-4",
                "harmlessness-4",
                "hh-balance-8",
                "helpfulness-4",
                "modern-liberalism-4",
                "schwartz-10",
            )
            for r in load_query_records(s)
        }
    )
    off = [(q, t) for q in queries for t in load_off_topic_references()]

    def rate(pairs: list[tuple[str, str]], ceiling: float, scored: bool) -> str:
        flagged = sum(
            is_off_task(
                q,
                t,
                judge.rate(t) if scored else None,
                min_overlap=th.off_task_overlap,
                ceiling=ceiling,
            )
            for q, t in pairs
        )
        return share(flagged, len(pairs))

    print(
        f"Flagged as off-task (overlap < {th.off_task_overlap:g} of the query's content words; "
        f"with a judge: and no value scored above {th.off_task_score:g}).\n"
    )
    print("| rule | genuine answers flagged | off-topic text flagged |")
    print("|---|---|---|")
    print(f"| lexical overlap alone | {rate(genuine, 5.0, False)} | {rate(off, 5.0, False)} |")
    print(
        f"| overlap and a good judge's scores | {rate(genuine, th.off_task_score, True)} | "
        f"{rate(off, th.off_task_score, True)} |"
    )
    for path in local_json:
        report = CalibrationReport.model_validate_json(Path(path).read_text())
        vs = load_value_set(report.value_set)
        items, _ = calibration_items(vs)
        by_key = {(r.value, r.kind, r.index): r for r in report.rows}
        ceiling = off_task_ceiling(report, th)
        flags: dict[str, list[bool]] = {"genuine": [], "off": []}
        for it in items:
            row = by_key.get((it["value"], it["kind"], it["index"]))
            if row is None:
                continue
            bucket = "off" if it["kind"] == "off_topic" else "genuine"
            flags[bucket].append(
                is_off_task(
                    it["query"],
                    it["text"],
                    row.scores,
                    min_overlap=th.off_task_overlap,
                    ceiling=ceiling,
                )
            )
        print(
            f"| overlap and the local judge ({report.value_set}, ceiling {ceiling:.2f}) | "
            f"{share(sum(flags['genuine']), len(flags['genuine']))} | "
            f"{share(sum(flags['off']), len(flags['off']))} |"
        )
    print()


def _all_reference_values() -> list[str]:
    from langchain_picaco.values.queries import _calibration_data

    return list(_calibration_data()["values"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["a", "b", "c", "d"], help="run one part only")
    parser.add_argument("--seeds", type=int, default=40, help="seeds in parts (a), (b) and (c)")
    parser.add_argument(
        "--local-json",
        nargs="*",
        default=[],
        help="calibration reports of the local judge (picaco calibrate --json)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", BlindJudgeWarning)
    if args.only in (None, "a"):
        part_a(args.seeds)
    if args.only in (None, "b"):
        part_bc(args.seeds, "none")
    if args.only in (None, "c"):
        part_bc(args.seeds, "good")
    if args.only in (None, "d"):
        part_d(args.local_json)


if __name__ == "__main__":
    main()
