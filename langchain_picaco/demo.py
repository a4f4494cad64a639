"""``make demo``: a real PICACO optimisation on the embedded local models, with no API key.

The 0.5B model is the target (fast, and the model being aligned); the 1.5B model judges, one
yes/no question per value read from log-probabilities (the offline judge that sees the most
values, docs/calibration.md), and proposes, one sentence at a time (``add_sentence``: the style a
small model can write, docs/benchmarks.md). The demo

1. checks the judge on part of the shipped calibration references and prints which values it
   sees (the full calibration is ``picaco calibrate``);
2. measures the bare model and the seed (``--seed-instruction``; default the value list,
   "Q+IF", the paper's baseline), then runs rounds of propose -> screen -> confirm: the
   proposer adds one sentence for the weakest value, and the candidate replaces the seed only
   when its paired gain passes the noise test (one candidate screened on every query: the
   screen is the test's first look; a second look draws fresh samples);
3. ends with the outcome: either the accepted instruction, with its confirmed gain, and the
   seed, the new instruction and the value list ("Q+IF", the paper's baseline) side by side on
   held-out queries, or the measured reason why nothing was accepted (values the judge cannot
   see, candidates rejected and why, challengers' gains and intervals);
4. saves the artifact and a plot, and shows the instruction injected into a chain.

Run: ``python -m langchain_picaco.demo [--values NAME] [--queries N] [--iterations N] [--out DIR]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from langchain_picaco.instruction import MetaInstruction, ValueScores
    from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
    from langchain_picaco.scoring.calibration import CalibrationReport
    from langchain_picaco.values.value_sets import ValueSet

__all__ = ["heldout_verdict", "main", "outcome_lines"]


def _say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - a command-line demo


def _table(names: Sequence[str], columns: dict[str, ValueScores]) -> list[str]:
    lines = [f"{'value':<22}" + "".join(f"{k:>14}" for k in columns)]
    for name in names:
        cells = (f"{c.per_value.get(name, float('nan')):>14.2f}" for c in columns.values())
        lines.append(f"{name:<22}" + "".join(cells))
    for stat in ("mean", "min"):
        lines.append(
            f"{stat:<22}" + "".join(f"{getattr(c, stat):>14.2f}" for c in columns.values())
        )
    return lines


def outcome_lines(mi: MetaInstruction, calibration: CalibrationReport | None = None) -> list[str]:
    """What a run found, in plain words: the accepted gains, or why nothing was accepted.

    Args:
        mi: The run's artifact.
        calibration: The judge calibration the run used, if any.

    Returns:
        Lines to print.
    """
    rounds = [h for h in mi.history if h.iteration > 0]
    accepted = [h for h in rounds if h.accepted]
    rejected = Counter(h.rejected_reason for h in rounds if h.rejected_reason)
    tested = [h for h in rounds if h.gain is not None]
    lines: list[str] = []
    if accepted:
        for h in accepted:
            low = f"{h.gain_low:+.3f}" if h.gain_low is not None else "n/a"
            lines.append(
                f"round {h.iteration}: ACCEPTED, paired gain {h.gain:+.3f} on the objective "
                f"(one-sided lower bound {low} > 0, {h.looks or 1} look(s)): {h.instruction!r}"
            )
        return lines
    lines.append("no candidate was accepted: the seed instruction stays. Why, as measured:")
    if calibration is not None:
        failing = calibration.failing("weak")
        no_interval = [
            v for v in calibration.values if v.name in failing and v.separation_low is None
        ]
        if no_interval:
            seps = ", ".join(
                f"{v.name} {v.separation:+.2f}" for v in no_interval if v.separation is not None
            )
            pairs = max(v.pairs for v in no_interval)
            lines.append(
                f"- the judge check ({pairs} reference pair(s) per value) is too small for an "
                f"interval, so no value counts as seen; separations (acts minus violates, "
                f"1..5): {seps or 'none'}"
            )
        elif failing:
            lines.append(
                f"- the judge does not clearly see {', '.join(failing)} "
                f"(calibration: sees {', '.join(calibration.seen_values) or 'none'})"
            )
    proposals = len(rounds)
    usable = proposals - sum(rejected.values())
    reasons = ", ".join(f"{k} {v}" for k, v in rejected.most_common())
    lines.append(
        f"- {usable} of {proposals} proposer replies (repair turns included) were usable "
        "candidates" + (f"; rejected: {reasons}" if reasons else "")
    )
    for h in tested:
        interval = (
            f"[{h.gain_low:+.3f}, {h.gain_high:+.3f}]"
            if h.gain_low is not None and h.gain_high is not None
            else "[n/a]"
        )
        kind = " (a merge of two Pareto-front members)" if h.proposal == "merge" else ""
        lines.append(
            f"- round {h.iteration} challenger{kind}: paired gain {h.gain:+.3f} {interval} over "
            f"{h.looks or 1} look(s), not beyond the noise: {h.instruction!r}"
        )
    screened = [h for h in rounds if h.gain is None and not h.rejected_reason]
    if screened:
        gains = ", ".join(f"{h.screen_gain:+.3f}" for h in screened if h.screen_gain is not None)
        lines.append(
            f"- {len(screened)} candidate(s) did not beat the incumbent on the screening "
            "minibatch" + (f" (screen gains on the objective: {gains})" if gains else "")
        )
        for h in screened:
            kind = " (merge)" if h.proposal == "merge" else ""
            lines.append(f"  screened out{kind}: {h.instruction!r}")
    lines.append(f"- stopped by: {mi.stop_reason}")
    return lines


def heldout_verdict(columns: dict[str, ValueScores]) -> str:
    """One line comparing PICACO with the seed and the value list on held-out queries.

    Args:
        columns: Held-out scores by method (``"seed"``, ``"PICACO"``, and optionally
            ``"value list (Q+IF)"``).

    Returns:
        The line (differences of the mean and of the weakest value; no test: few queries).
    """
    new = columns["PICACO"]
    parts = []
    for name, other in columns.items():
        if name == "PICACO":
            continue
        mean, low = new.mean - other.mean, new.min - other.min
        parts.append(f"vs {name}: mean {mean:+.2f}, weakest value {low:+.2f}")
    return (
        "held-out differences (PICACO minus each; few queries, no test, so read them as a "
        "direction, not a result): " + "; ".join(parts)
    )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The demo's command line, parsed."""
    parser = argparse.ArgumentParser(prog="python -m langchain_picaco.demo")
    parser.add_argument("--values", default="confucianism-4")
    parser.add_argument("--target", default="local", help="model to align (default: local)")
    parser.add_argument("--judge", default="local-1.5b", help="judge (default: local-1.5b)")
    parser.add_argument("--proposer", default="local-1.5b", help="proposer (default: local-1.5b)")
    parser.add_argument(
        "--judge-protocol",
        default="per_value",
        choices=["rubric", "per_value", "per_value_digit", "likelihood"],
    )
    parser.add_argument(
        "--proposal-style", default="add_sentence", choices=["rewrite", "add_sentence"]
    )
    parser.add_argument(
        "--seed-instruction",
        default="values",
        help="the instruction to improve (default 'values': the value list, Q+IF, the "
        "paper's baseline; e.g. 'You are a helpful assistant.' for a plain prompt)",
    )
    parser.add_argument("--queries", type=int, default=4, help="optimisation queries")
    parser.add_argument("--heldout", type=int, default=2, help="held-out queries")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=1)
    parser.add_argument(
        "--looks",
        type=int,
        default=1,
        help="confirmation looks a round (1: the screen decides; 2 doubles a round's cost)",
    )
    parser.add_argument("--check-pairs", type=int, default=1, help="reference pairs per value")
    parser.add_argument("--max-tokens", type=int, default=90, help="per target response")
    parser.add_argument("--out", default="runs/demo")
    return parser.parse_args(argv)


def _say_lines(lines: Sequence[str]) -> None:
    """Print each of ``lines``."""
    for line in lines:
        _say(line)


def _resolve_models(args: argparse.Namespace) -> tuple[BaseChatModel, BaseChatModel, BaseChatModel]:
    """The target, judge and proposer the command line names, announced."""
    from langchain_picaco.llm.models import resolve_model

    target = resolve_model(args.target, role="target", max_tokens=args.max_tokens)
    judge = resolve_model(args.judge, role="judge")
    proposer = resolve_model(args.proposer, role="proposer", max_tokens=120)
    _say(
        f"target: {target.model_name}; judge: {judge.model_name} ({args.judge_protocol}); "  # type: ignore[attr-defined]
        f"proposer: {proposer.model_name} ({args.proposal_style})"
    )  # type: ignore[attr-defined]
    return target, judge, proposer


def _build_optimizer(
    args: argparse.Namespace,
    value_set: ValueSet,
    minibatch: int,
    models: tuple[BaseChatModel, BaseChatModel, BaseChatModel],
) -> PicacoOptimizer:
    """The demo's optimiser: one sample a query, one look, the screen on every query."""
    from langchain_picaco import PicacoConfig, PicacoOptimizer

    target, judge, proposer = models
    config = PicacoConfig(
        iterations=args.iterations,
        candidates=args.candidates,
        # One look: the screen (every query, shared seeds) is the test. A second look doubled
        # a round's time on two cores and did not settle either challenger in a run at 1e69d82
        # (gains +0.02 [-0.78, +0.83] and +0.07 [-0.53, +0.67], docs/benchmarks.md).
        confirm_looks=args.looks,
        samples_per_query=1,
        # Screening samples the candidates (the likelihood screen favours the incumbent when
        # its pool holds only its own greedy responses, as with one sample per query).
        selection="sampling",
        minibatch=minibatch,
        max_concurrency=2,
        seed=0,
        judge_protocol=args.judge_protocol,
        proposal_style=args.proposal_style,
        calibrate=False,  # the check below is the run's calibration (passed to optimize)
    )
    return PicacoOptimizer(target, values=value_set, judge=judge, proposer=proposer, config=config)


def _check_judge(
    optimizer: PicacoOptimizer, value_set: ValueSet, check_pairs: int, started: float
) -> CalibrationReport:
    """Step 1: calibrate the judge on a few shipped reference pairs per value."""
    from langchain_picaco.values.queries import load_calibration_references

    _say(
        f"\n== 1. can the judge see the values? ({check_pairs} reference pair(s) per value; "
        "the full check is 'picaco calibrate') =="
    )
    refs = {
        name: entries[:check_pairs]
        for name, entries in load_calibration_references(list(value_set.names)).items()
    }
    calibration = optimizer.calibrate(references=refs, off_topic=[])
    _say(calibration.table("plain"))
    _say(f"({time.monotonic() - started:.0f} s so far)")
    return calibration


def _optimise(
    optimizer: PicacoOptimizer,
    queries: list[str],
    calibration: CalibrationReport,
    seed_text: str,
    out: Path,
) -> tuple[MetaInstruction, Path]:
    """Step 2: optimise from ``seed_text`` and save the artifact; returns both."""
    _say("\n== 2. optimise ==")
    _say(str(optimizer.plan(queries)))
    _say(f"seed instruction: {seed_text}")
    mi = optimizer.optimize(queries, calibration=calibration, seed_instruction=seed_text)
    return mi, mi.save(out / "meta_instruction.json")


def _print_scores(mi: MetaInstruction, value_set: ValueSet, started: float) -> None:
    """Print the bare model's, the seed's and PICACO's scores and the run's usage."""
    _say("\nper-value judge scores (1..5) on the optimisation queries:")
    columns = {
        "bare model": mi.reference_scores.get("bare"),
        "seed": mi.reference_scores.get("seed"),
    }
    columns["PICACO"] = mi.scores
    _say_lines(_table(value_set.names, {k: v for k, v in columns.items() if v is not None}))
    _say(
        f"({mi.usage.calls} calls, {mi.usage.input_tokens + mi.usage.output_tokens:,} tokens; "
        f"{time.monotonic() - started:.0f} s so far)"
    )


def _compare_heldout(
    optimizer: PicacoOptimizer,
    mi: MetaInstruction,
    heldout: list[str],
    value_set: ValueSet,
    seed_text: str,
    value_list: str,
) -> None:
    """Score the seed, PICACO and the value list on the held-out queries and print them."""
    _say(
        f"\n== held-out queries: seed vs PICACO vs the value list ({len(heldout)} queries, "
        "same seeds) =="
    )
    held = {"seed": optimizer.evaluate(seed_text, heldout).scores}
    held["PICACO"] = optimizer.evaluate(mi, heldout).scores
    if value_list != seed_text:
        held["value list (Q+IF)"] = optimizer.evaluate(value_list, heldout).scores
    _say_lines(_table(value_set.names, held))
    _say(heldout_verdict(held))


def _save_plot(mi: MetaInstruction, path: Path) -> None:
    """Plot the scores to ``path``, or say why not (the plot extra is optional)."""
    from langchain_picaco.evaluate.plots import plot_scores

    try:
        _say(f"plot: {plot_scores(mi, path)}")
    except ImportError as exc:  # the plot extra is optional
        _say(f"plot skipped: {exc}")


def _show_injection(mi: MetaInstruction, target: BaseChatModel, heldout: list[str]) -> None:
    """Step 4: show the instruction injected into a chain, and the target's answer."""
    from langchain_core.prompts import ChatPromptTemplate

    _say("\n== 4. the instruction injected into a chain (prompt | picaco | model) ==")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a thoughtful personal advisor."), ("human", "{question}")]
    )
    messages = (prompt | mi.as_runnable()).invoke({"question": heldout[0]}).to_messages()
    for m in messages:
        _say(f"[{m.type}] {m.content}")
    answer = (prompt | mi.as_runnable() | target).invoke({"question": heldout[0]})
    _say(f"[answer] {answer.content}")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    args = _parse_args(argv)

    from langchain_picaco import load_queries, load_value_set
    from langchain_picaco.optimizer.seed import default_seed_instruction

    started = time.monotonic()
    out = Path(args.out)
    value_set = load_value_set(args.values)
    queries = load_queries(value_set.name, split="optimize")[: args.queries]
    heldout = load_queries(value_set.name, split="heldout")[: args.heldout]

    _say("== langchain-picaco demo: PICACO on the embedded local models (no API key) ==")
    models = _resolve_models(args)
    _say(f"value set: {value_set.name}: {', '.join(value_set.names)}")
    _say(f"queries: {len(queries)} for optimisation, {len(heldout)} held out")
    value_list = default_seed_instruction(value_set)
    seed_text = value_list if args.seed_instruction == "values" else args.seed_instruction
    optimizer = _build_optimizer(args, value_set, len(queries), models)

    calibration = _check_judge(optimizer, value_set, args.check_pairs, started)
    mi, artifact = _optimise(optimizer, queries, calibration, seed_text, out)
    _print_scores(mi, value_set, started)

    _say("\n== 3. outcome ==")
    _say_lines(outcome_lines(mi, calibration))
    if mi.text != seed_text:
        _compare_heldout(optimizer, mi, heldout, value_set, seed_text, value_list)
    _say(f"\nartifact: {artifact}")
    _save_plot(mi, out / "scores.png")

    _show_injection(mi, models[0], heldout)
    _say(
        "\nThe judge is a 1.5B model: read its scores with the calibration above (values it does "
        "not clearly see are scored with noise). A stronger judge (--judge provider:model) gives "
        "numbers you can trust further."
    )
    _say(f"\nwall time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
