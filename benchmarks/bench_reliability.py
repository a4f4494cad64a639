"""Do PICACO runs survive faults, crashes and bad input?

Prints three tables:

1. Faults. For each fault type, optimisations on the scripted world in which every model call has
   a 10% chance of that fault (independent per call: no bound on repeats), over several seeds:
   faults injected, faults survived (the call got its real answer in the end), calls lost (a
   neutral judge score, an empty response kept, or a call that failed the run), the retries or
   judge re-asks spent, and whether every run found the same instruction as the fault-free run.
2. Kill and resume. A real ``picaco optimize`` process on the scripted world is killed with
   SIGKILL mid-iteration and resumed with ``--resume``: calls repeated (calls of the resumed run
   that the killed run had started for the same task), all calls beyond an uninterrupted run's,
   and whether the artifact equals the uninterrupted run's (with and without ``--cache``).
3. Bad input. Each bad input of ``tests/reliability/test_bad_input.py`` on the command line: exit
   code and the one line printed.

Usage:
    .venv/bin/python benchmarks/bench_reliability.py              # 5 seeds per fault type
    .venv/bin/python benchmarks/bench_reliability.py --seeds 2 --skip-kill
    .venv/bin/python benchmarks/bench_reliability.py --parts kill --kills 3   # one table
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from langchain_picaco.config import PicacoConfig, RetrySettings
from langchain_picaco.errors import ModelCallError
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import (
    FAULT_KINDS,
    FAULT_REPORT_KEYS,
    SAMPLE_QUERIES,
    FaultyChatModel,
    SyntheticWorld,
)
from langchain_picaco.values.value_sets import load_value_set

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

QUERIES = list(SAMPLE_QUERIES)


def config(hang: bool) -> PicacoConfig:
    retry = RetrySettings(
        max_attempts=4, initial_delay=0, max_delay=0, timeout=0.2 if hang else 5.0
    )
    extra: dict[str, Any] = {"calibrate": False} if "calibrate" in PicacoConfig.model_fields else {}
    return PicacoConfig(
        iterations=3,
        candidates=2,
        minibatch=6,
        samples_per_query=1,
        seed=3,
        retry=retry,
        **extra,
    )


ALL = "all kinds at once"


def run(world: SyntheticWorld, kind: str | None, seed: int, rate: float) -> dict[str, Any]:
    def wrap(model: Any, judge: bool) -> Any:
        if kind is None or (kind == "malformed" and not judge):
            return model
        kinds = (
            tuple(k for k in FAULT_KINDS if judge or k != "malformed") if kind == ALL else (kind,)
        )
        return FaultyChatModel(
            inner=model, rate=rate, kinds=kinds, seed=seed, max_per_request=None, hang_seconds=30
        )

    models = [wrap(world.target(), False), wrap(world.judge(), True), wrap(world.proposer(), False)]
    opt = PicacoOptimizer(
        models[0],
        values=world.value_set,
        judge=models[1],
        proposer=models[2],
        config=config(kind == "hang"),
        progress=False,
    )

    def count() -> int:
        return sum(sum(getattr(m, "injected", {}).values()) for m in models)

    try:
        mi = opt.optimize(QUERIES)
    except ModelCallError as exc:
        return {"failed": str(exc), "injected": count()}
    injected = count()
    faults = mi.usage.faults
    lost = faults.get("judge_neutral", 0) + faults.get("empty_response", 0)
    if kind == ALL:
        spent = faults.get("retried", 0) + faults.get("judge_malformed", 0)
    else:
        spent = faults.get(FAULT_REPORT_KEYS[kind], 0) if kind else 0
    return {"mi": mi, "injected": injected, "lost": lost, "spent": spent, "calls": mi.usage.calls}


def fault_table(seeds: int, rate: float, all_rate: float) -> list[dict[str, Any]]:
    world = SyntheticWorld(load_value_set("confucianism-4"))
    base = run(world, None, 0, rate)["mi"]
    rows = []
    for k, kind in enumerate([*FAULT_KINDS, ALL]):
        started = time.monotonic()
        row = {"kind": kind, "runs": 0, "injected": 0, "lost": 0, "spent": 0, "same": 0, "fail": 0}
        row["rate"] = all_rate if kind == ALL else rate
        for seed in range(seeds):
            r = run(world, kind, 1000 * k + seed, row["rate"])
            row["runs"] += 1
            row["injected"] += r["injected"]
            if "failed" in r:
                row["fail"] += 1
                row["lost"] += 1
                continue
            row["lost"] += r["lost"]
            row["spent"] += r["spent"]
            row["same"] += r["mi"].text == base.text and r["mi"].scores == base.scores
        row["survived"] = row["injected"] - row["lost"]
        row["seconds"] = time.monotonic() - started
        rows.append(row)
    return rows


def print_fault_table(rows: list[dict[str, Any]], rate: float) -> None:
    print(f"\n## Faults: {rate:.0%} of calls, independently, per fault type\n")
    print("(the last row: every kind together on the given share of calls)\n")
    print(
        "| fault type | runs | injected | survived | calls lost | retries / re-asks | "
        "same instruction | runs failed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        name = f"{r['kind']} ({r['rate']:.0%})" if r["kind"] == ALL else r["kind"]
        print(
            f"| {name} | {r['runs']} | {r['injected']} | {r['survived']} | {r['lost']} | "
            f"{r['spent']} | {r['same']}/{r['runs']} | {r['fail']} |"
        )


def kill_rows(times: int) -> list[dict[str, Any]]:
    from test_resume import kill_and_resume

    rows = []
    for cache in [False] * times + [True] * times:
        with tempfile.TemporaryDirectory() as tmp:
            quiet = (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            )
            with quiet[0], quiet[1], warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = kill_and_resume(Path(tmp) / "run", cache=cache)
            ref, res = dict(r["reference"]), dict(r["resumed"])
            same_all = ref == res
            ref.pop("usage")
            res.pop("usage")
            rows.append({**r, "cache": cache, "same_all": same_all, "same_but_usage": ref == res})
    return rows


def print_kill_rows(rows: list[dict[str, Any]]) -> None:
    print("\n## Kill (SIGKILL) mid-iteration and resume with `picaco optimize --resume`\n")
    print(
        "| call cache | killed after calls | at round, phase | finished tasks kept | "
        "calls on resume | calls repeated | calls beyond an uninterrupted run | artifact equal |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        equal = (
            "identical (except time stamps)"
            if r["same_all"]
            else "identical except usage split calls/cache hits"
            if r["same_but_usage"]
            else "DIFFERENT"
        )
        print(
            f"| {'yes' if r['cache'] else 'no'} | {r['killed_at']} | "
            f"{r['iteration_at_kill'] + 1}, {r['phase_at_kill']} | {r['finished_tasks_kept']} | "
            f"{r['resume_calls']} | {r['repeated']} | {r['extra']} | {equal} |"
        )


def bad_input_rows() -> list[tuple[str, int, str]]:
    from test_bad_input import CASES, FILES, _fmt

    from langchain_picaco import cli

    rows = []
    for case in CASES:
        if not case.cli:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            for name in case.files:
                FILES[name](Path(tmp) / name)
            err = io.StringIO()
            argv = _fmt(case.cli, Path(tmp))
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                if case.name == "query longer than the context":
                    code = _with_short_context(lambda argv=argv: cli.main(argv))
                else:
                    code = cli.main(argv)
            lines = [x for x in err.getvalue().splitlines() if x.startswith("picaco:")]
            rows.append((case.name, code, lines[-1].replace(tmp, "<tmp>") if lines else ""))
    return rows


def _with_short_context(fn: Any) -> int:
    from test_bad_input import ShortContextTarget

    import langchain_picaco.llm.models as models
    from langchain_picaco.optimizer.resources import Resources

    real = models.resources_for

    def resources_for(value_set: Any, *a: Any, **k: Any) -> Resources:
        w = SyntheticWorld(value_set)
        return Resources(target=ShortContextTarget(world=w), judge=w.judge(), proposer=w.proposer())

    models.resources_for = resources_for
    try:
        return fn()
    finally:
        models.resources_for = real


def print_bad_input(rows: list[tuple[str, int, str]]) -> None:
    print("\n## Bad input on the command line (exit code, the one line printed)\n")
    print("| input | exit | message (`picaco: error: ...`) |")
    print("|---|---|---|")
    for name, code, line in rows:
        message = line.removeprefix("picaco: error: ").replace("|", "/").replace("`", "'")
        print(f"| {name} | {code} | `{message}` |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="runs per fault type")
    parser.add_argument("--rate", type=float, default=0.1, help="share of calls hit")
    parser.add_argument(
        "--all-rate", type=float, default=0.3, help="share of calls hit in the all-kinds row"
    )
    parser.add_argument("--kills", type=int, default=3, help="kill-and-resume runs per mode")
    parser.add_argument("--skip-kill", action="store_true", help="skip the kill-and-resume runs")
    parser.add_argument(
        "--parts",
        default="faults,kill,bad-input",
        help="comma-separated tables to make: faults, kill, bad-input (default: all three)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    unknown = parts - {"faults", "kill", "bad-input"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    warnings.simplefilter("ignore")
    started = time.monotonic()
    if "faults" in parts:
        print_fault_table(fault_table(args.seeds, args.rate, args.all_rate), args.rate)
    if "kill" in parts and not args.skip_kill:
        print_kill_rows(kill_rows(args.kills))
    if "bad-input" in parts:
        print_bad_input(bad_input_rows())
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
