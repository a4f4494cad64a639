"""The ``picaco`` command.

Examples:
    picaco value-sets
    picaco plan --values confucianism-4 --model local --iterations 3
    picaco optimize --values confucianism-4 --model local --iterations 2 --out mi.json
    picaco evaluate mi.json --queries heldout.jsonl --model local
    picaco show mi.json --plot scores.png
    picaco calibrate --values harmlessness-4 --model local
    picaco calibrate --values harmlessness-4 --model local --judge local-1.5b

Bad input prints one line and exits 2; a model that fails for good exits 1; Ctrl-C during
``optimize`` keeps the best instruction so far (saved, marked "interrupted"). ``optimize`` first
calibrates the judge and exits 3, naming the values it cannot see, unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_picaco.errors import MissingDependencyError, ModelCallError, PicacoError

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_MODEL_FAILED = 1
EXIT_BLIND_JUDGE = 3


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument_group("models")
    p.add_argument(
        "--model",
        default="local",
        help="model to align: local (0.5B), local-1.5b, a .gguf path, provider:model, or scripted "
        "(default: local)",
    )
    p.add_argument("--judge", default="", help="judge model (default: --model)")
    p.add_argument("--proposer", default="", help="proposer model (default: --model)")


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument_group("optimiser settings")
    p.add_argument("--iterations", type=int, help="rounds of propose/evaluate/refine")
    p.add_argument("--candidates", type=int, help="candidate instructions per round")
    p.add_argument("--samples", type=int, dest="samples_per_query", help="samples per query")
    p.add_argument("--minibatch", type=int, help="queries each candidate is evaluated on")
    p.add_argument("--selection", choices=["auto", "likelihood", "sampling"])
    p.add_argument("--acceptance", choices=["paired", "greedy"])
    p.add_argument("--seed", type=int)
    p.add_argument("--max-calls", type=int, help="call budget")
    p.add_argument("--max-tokens", type=int, help="token budget")
    p.add_argument("--max-concurrency", type=int)
    p.add_argument("--judge-format", choices=["json", "lines"])
    p.add_argument(
        "--judge-logprobs",
        choices=["auto", "on", "off"],
        help="graded judge scores from digit log-probabilities (default: auto)",
    )
    p.add_argument(
        "--judge-protocol",
        choices=["auto", "rubric", "per_value", "per_value_digit", "likelihood"],
        help="how the judge rates: one call for every value (rubric, default), one question "
        "per value, teacher forcing, or auto (calibrate them and keep the best)",
    )
    p.add_argument(
        "--proposal-style",
        choices=["rewrite", "add_sentence"],
        help="the proposer rewrites the instruction (default) or writes one sentence to add",
    )
    p.add_argument(
        "--proposal-strategy",
        choices=["weakest", "pareto"],
        help="also merge Pareto-front members (pareto, the default), or propose for the weakest "
        "value only (weakest; runs saved before 0.2)",
    )


def _model_command(
    sub: Any, name: str, help_text: str, *, values: bool = True, queries: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand that runs models: its parser, with the options every such command shares.

    ``--values`` and ``--queries`` (when asked), then the model and optimiser-settings options in
    their own help groups, so ``--help`` lists them after the command's own options.
    """
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    if values:
        p.add_argument("--values", required=True, help="value-set name or JSON file")
    if queries:
        p.add_argument("--queries", help=queries)
    _add_model_args(p)
    _add_config_args(p)
    return p


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picaco",
        description="PICACO: find one meta-instruction that makes a model honour every value.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("value-sets", help="list the shipped value sets")
    sub.add_parser("query-sets", help="list the shipped query sets")

    optimisation_queries = "query file or shipped set name (default: the value set's)"
    p = _model_command(
        sub,
        "plan",
        "projected calls and tokens of `picaco optimize` with the same options (no calls, "
        "no model server started)",
        queries=optimisation_queries,
    )
    p.add_argument("--no-calibrate", action="store_true", help="plan without the calibration")

    p = _model_command(
        sub, "optimize", "run PICACO and save the meta-instruction", queries=optimisation_queries
    )
    p.add_argument("--out", required=True, help="where to write the artifact (JSON)")
    p.add_argument("--seed-instruction", help="instruction to start from")
    p.add_argument("--checkpoint", help="SQLite file for crash-safe runs (with --resume)")
    p.add_argument("--resume", metavar="ID", help="run id to start or resume (needs --checkpoint)")
    p.add_argument(
        "--cache", metavar="FILE", help="SQLite call cache: re-runs and resumes repeat no calls"
    )
    p.add_argument("--plot", help="also draw per-value scores before/after to this PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--force",
        action="store_true",
        help="optimise even when the judge calibration finds values the judge cannot see",
    )
    p.add_argument("--no-calibrate", action="store_true", help="skip the judge calibration")

    p = _model_command(
        sub, "calibrate", "can the judge see each value? rate reference responses, print a table"
    )
    p.add_argument("--format", choices=["plain", "markdown"], default="plain")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--check", action="store_true", help="exit 3 when the judge cannot see some value"
    )
    p.add_argument("--fail-on", choices=["blind", "weak"], help="verdict that counts as failing")

    p = _model_command(
        sub,
        "evaluate",
        "score a saved meta-instruction on queries",
        values=False,
        queries="query file or shipped set (default: the held-out split)",
    )
    p.add_argument("artifact", help="artifact JSON written by `picaco optimize`")
    p.add_argument("--bare", action="store_true", help="also evaluate the bare model")
    p.add_argument("--cache", metavar="FILE", help="SQLite call cache: a re-run repeats no calls")

    p = _model_command(
        sub,
        "compare",
        "PICACO against the bare model, Q+IF and OPRO on held-out queries",
        queries="optimisation queries (default: the value set's)",
    )
    p.add_argument("--heldout", help="held-out queries (default: the value set's held-out split)")
    p.add_argument("--out", required=True, help="folder for report.md, report.csv, report.png")
    p.add_argument(
        "--methods", default="bare,q+if,opro,picaco", help="comma-separated subset to run"
    )
    p.add_argument("--eval-samples", type=int, default=1, help="responses per held-out query")
    p.add_argument(
        "--probe",
        choices=["auto", "on", "off"],
        default="auto",
        help="jailbreak probe (auto: for harmlessness-4 and hh-balance-8)",
    )
    p.add_argument("--checkpoint", help="SQLite file for a resumable PICACO run")
    p.add_argument(
        "--resume-dir",
        help="folder keeping finished phases; rerun the same command to skip them",
    )
    p.add_argument("--no-plot", action="store_true", help="do not draw report.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("show", help="print a saved meta-instruction and its per-value table")
    p.add_argument("artifact")
    p.add_argument("--plot", help="draw per-value scores before/after to this PNG")
    p.add_argument("--json", action="store_true", help="print the artifact as JSON")
    return parser


def _config(args: argparse.Namespace) -> Any:
    from langchain_picaco.config import config_from_kwargs

    fields = [
        "iterations",
        "candidates",
        "samples_per_query",
        "minibatch",
        "selection",
        "acceptance",
        "seed",
        "max_concurrency",
        "judge_format",
        "judge_logprobs",
        "judge_protocol",
        "proposal_style",
        "proposal_strategy",
    ]
    overrides = {f: getattr(args, f, None) for f in fields}
    budget = {}
    if getattr(args, "max_calls", None) is not None:
        budget["max_calls"] = args.max_calls
    if getattr(args, "max_tokens", None) is not None:
        budget["max_tokens"] = args.max_tokens
    if budget:
        overrides["budget"] = budget
    if getattr(args, "no_calibrate", False):
        overrides["calibrate"] = False
    calibration = {}
    if getattr(args, "fail_on", None):
        calibration["fail_on"] = args.fail_on
    if getattr(args, "force", None) is False:
        # The CLI stops before the reference phase when the judge is blind (exit 3).
        calibration["on_blind"] = "stop"
    if calibration:
        overrides["calibration"] = calibration
    return config_from_kwargs(None, **overrides)


def _models(
    args: argparse.Namespace, values: Any, *, planning: bool = False
) -> tuple[Any, dict[str, Any]]:
    """The target the options name, and what ``PicacoOptimizer`` and ``compare`` take with it.

    Returns ``(target, {values, judge, proposer, likelihood, config})``. With ``planning``:
    stand-ins that know what the named models can do (likelihood selection, the judge's
    protocol), so a plan makes no call and starts no model server.
    """
    from langchain_picaco.llm import models
    from langchain_picaco.values.value_sets import load_value_set

    value_set = load_value_set(values)
    build = models.planning_resources if planning else models.resources_for
    res = build(value_set, args.model, args.judge, args.proposer)
    shared = {"judge": res.judge, "proposer": res.proposer, "likelihood": res.likelihood}
    return res.target, {"values": value_set, **shared, "config": _config(args)}


def _optimizer(args: argparse.Namespace, values: Any, *, planning: bool = False, **kw: Any) -> Any:
    from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer

    target, models = _models(args, values, planning=planning)
    return PicacoOptimizer(target, **models, **kw)


def _print_scores_table(rows: dict[str, Any]) -> None:
    names: list[str] = []
    for s in rows.values():
        names.extend(n for n in s.per_value if n not in names)
    labels = list(rows)
    width = max(12, *(len(x) for x in labels))
    print(f"{'value':<24}" + "".join(f"{lab:>{width + 2}}" for lab in labels))
    for n in names:
        print(
            f"{n:<24}"
            + "".join(
                f"{rows[lab].per_value.get(n, float('nan')):>{width + 2}.2f}" for lab in labels
            )
        )
    for stat in ("mean", "min", "std"):
        label = "spread (std)" if stat == "std" else stat
        print(
            f"{label:<24}"
            + "".join(f"{getattr(rows[lab], stat):>{width + 2}.2f}" for lab in labels)
        )


def _print_artifact(mi: Any) -> None:
    """An artifact's summary and per-value table (its reference points, then the optimised)."""
    print(mi.summary())
    rows = dict(mi.reference_scores)
    if mi.scores is not None:
        rows["optimised"] = mi.scores
    if rows:
        print()
        _print_scores_table(rows)


def _one_line(text: str, width: int = 100) -> str:
    """The text on one line, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _plot(mi: Any, path: str) -> None:
    from langchain_picaco.evaluate.plots import plot_scores

    print(f"plot: {plot_scores(mi, path)}")


def _cmd_value_sets(args: argparse.Namespace) -> int:
    from langchain_picaco.values.value_sets import list_value_sets, load_value_set

    for name in list_value_sets():
        vs = load_value_set(name)
        print(f"{name:<22} {', '.join(vs.names)}")
    return 0


def _cmd_query_sets(args: argparse.Namespace) -> int:
    from langchain_picaco.values.queries import list_query_sets, load_query_records

    for name in list_query_sets():
        records = load_query_records(name)
        splits: dict[str, int] = {}
        for r in records:
            splits[r.split or "-"] = splits.get(r.split or "-", 0) + 1
        print(f"{name:<22} " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items())))
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    # The run `optimize` would make with these options, planned on stand-ins of the named models.
    print(_optimizer(args, args.values, planning=True).plan(args.queries))
    return 0


def _cmd_optimize(args: argparse.Namespace) -> int:
    from langchain_picaco.errors import ConfigError

    if args.resume and not args.checkpoint:
        raise ConfigError("--resume", "needs --checkpoint", "add --checkpoint runs.sqlite")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise ConfigError("--out", f"{out} is a folder", "give a file name like mi.json")
    opt = _optimizer(
        args,
        args.values,
        checkpointer=args.checkpoint,
        progress=False if args.no_progress else None,
        cache=args.cache,
    )
    plan = opt.plan(args.queries)
    print(plan, file=sys.stderr)
    with warnings.catch_warnings():
        if opt.config.calibration.on_blind == "stop":
            # A blind judge ends the run with the one-line message below, not a warning too.
            from langchain_picaco.scoring.calibration import BlindJudgeWarning

            warnings.simplefilter("ignore", BlindJudgeWarning)
        mi = opt.optimize(
            args.queries, seed_instruction=args.seed_instruction, thread_id=args.resume
        )
    if mi.calibration:
        from langchain_picaco.scoring.calibration import CalibrationReport

        report = CalibrationReport.model_validate(mi.calibration)
        if mi.stop_reason == "blind_judge":
            print(report.table("plain"), file=sys.stderr)
            bad = report.failing(opt.config.calibration.fail_on)
            print(
                f"picaco: the judge cannot see {', '.join(bad)} of {report.value_set} "
                f"(calibration verdict {report.verdict}); nothing was optimised. Use a stronger "
                "--judge, or --force to optimise anyway.",
                file=sys.stderr,
            )
            return EXIT_BLIND_JUDGE
        print(
            f"judge calibration: {report.verdict} ({report.usage.calls} calls"
            + (f"; cannot see {', '.join(report.blind_values)}" if report.blind_values else "")
            + ")",
            file=sys.stderr,
        )
    mi.save(out)
    _print_artifact(mi)
    print(f"\nsaved {out} ({mi.usage.calls} calls, stopped by {mi.stop_reason})")
    if args.plot:
        _plot(mi, args.plot)
    return 130 if mi.stop_reason == "interrupted" else 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    opt = _optimizer(args, args.values)
    report = opt.calibrate()
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(report.table(args.format))
    bad = report.failing(opt.config.calibration.fail_on)
    if bad:
        print(f"\nthe judge cannot see: {', '.join(bad)}", file=sys.stderr)
    return EXIT_BLIND_JUDGE if bad and args.check else 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from langchain_picaco.instruction import MetaInstruction

    mi = MetaInstruction.load(args.artifact)
    opt = _optimizer(args, mi.value_set, cache=args.cache)
    rows = {}
    if args.bare:
        rows["bare"] = opt.evaluate(None, args.queries).scores
    report = opt.evaluate(mi, args.queries)
    rows["instruction"] = report.scores
    _print_scores_table(rows)
    print(f"\n{report.usage.calls} calls; judge faults: {report.judge_faults}")
    return 0


def _print_front(mi: Any) -> None:
    """Print the artifact's per-value Pareto front (nothing for an artifact without one)."""
    if not mi.pareto_front:
        return
    print(f"\nPareto front ({len(mi.pareto_front)} instructions no other beats on every value):")
    for i, member in enumerate(mi.pareto_front, 1):
        marker = " (final)" if member.instruction == mi.text else ""
        print(f"  {i}.{marker} {_one_line(member.instruction)}")
        cells = (
            f"{name} {score:.2f} (n={member.evidence.get(name, 0)})"
            for name, score in member.per_value.items()
        )
        print("     " + "; ".join(cells))


def _cmd_show(args: argparse.Namespace) -> int:
    from langchain_picaco.instruction import MetaInstruction

    mi = MetaInstruction.load(args.artifact)
    if args.json:
        print(mi.to_json(), end="")
        return 0
    _print_artifact(mi)
    rejected: dict[str, int] = {}
    for h in mi.history:
        if h.rejected_reason:
            rejected[h.rejected_reason] = rejected.get(h.rejected_reason, 0) + 1
    considered = sum(1 for h in mi.history if not h.rejected_reason)
    merges = [h for h in mi.history if h.proposal == "merge"]
    print(f"\ncandidates scored: {considered}; rejected by guards: {json.dumps(rejected)}")
    if merges:
        scored = [h for h in merges if not h.rejected_reason]
        won = sum(h.accepted for h in scored)
        print(
            f"merges of Pareto-front members: {len(scored)} scored ({won} accepted), "
            f"{len(merges) - len(scored)} rejected by guards"
        )
    _print_front(mi)
    if mi.calibration:
        from langchain_picaco.scoring.calibration import CalibrationReport

        print()
        print(CalibrationReport.model_validate(mi.calibration).table("plain"))
    print(f"usage: {mi.usage.calls} calls, {mi.usage.input_tokens + mi.usage.output_tokens} tokens")
    if args.plot:
        _plot(mi, args.plot)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from langchain_picaco.errors import ConfigError
    from langchain_picaco.evaluate.comparison import compare
    from langchain_picaco.evaluate.reports import difference_sentence, write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} is a file", "give a folder for the report files")
    target, models = _models(args, args.values)
    cmp = compare(
        target,
        **models,
        queries=args.queries,
        heldout=args.heldout,
        methods=[m for m in args.methods.split(",") if m.strip()],
        samples=args.eval_samples,
        probe={"auto": None, "on": True, "off": False}[args.probe],
        checkpointer=args.checkpoint,
        progress=False if args.no_progress else None,
        resume_dir=args.resume_dir,
    )
    paths = write_report(cmp, out, plot=not args.no_plot)
    print(cmp.table())
    if cmp.differences:
        print()
        for d in cmp.differences:
            print(f"- {difference_sentence(d, cmp)}")
    for note in cmp.notes:
        print(f"note: {note}")
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


_COMMANDS = {
    "value-sets": _cmd_value_sets,
    "query-sets": _cmd_query_sets,
    "plan": _cmd_plan,
    "optimize": _cmd_optimize,
    "calibrate": _cmd_calibrate,
    "evaluate": _cmd_evaluate,
    "show": _cmd_show,
    "compare": _cmd_compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``picaco`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (PicacoError, MissingDependencyError) as exc:
        if isinstance(exc, ModelCallError):
            print(f"picaco: model failed: {exc}", file=sys.stderr)
            return EXIT_MODEL_FAILED
        print(f"picaco: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("picaco: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
