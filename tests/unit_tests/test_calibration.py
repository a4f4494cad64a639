"""Judge calibration (issue 8): verdicts of scripted judges with a known separation, the report,
and how ``optimize`` and the CLI act on it."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from langchain_picaco import BlindJudgeWarning
from langchain_picaco.cli import EXIT_BLIND_JUDGE, main
from langchain_picaco.config import Budget, CalibrationConfig, PicacoConfig
from langchain_picaco.errors import ConfigError
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.scoring.calibration import (
    CalibrationReport,
    CalibrationRow,
    analyse_calibration,
    calibration_calls,
    calibration_items,
)
from langchain_picaco.scoring.stats import t_quantile
from langchain_picaco.testing import SAMPLE_QUERIES, ReferenceJudge, SyntheticWorld
from langchain_picaco.values.queries import load_calibration_references, load_off_topic_references
from langchain_picaco.values.value_sets import Value, ValueSet, load_value_set

SETS = ["confucianism-4", "harmlessness-4"]
QUERIES = [SAMPLE_QUERIES[i] for i in (0, 1, 3)]


def calibrate(vs: ValueSet, judge: Any, **cfg: Any) -> CalibrationReport:
    opt = PicacoOptimizer(judge, values=vs, judge=judge, config=PicacoConfig(**cfg))
    return opt.calibrate()


# ------------------------------------------------------------------------------ statistics
@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [(0.975, 1, 12.706), (0.975, 4, 2.776), (0.95, 4, 2.132), (0.95, 10, 1.812), (0.975, 60, 2.0)],
)
def test_t_quantile_matches_tables(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, abs=2e-3)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, abs=2e-3)


def test_separation_interval_pools_the_variance_over_values() -> None:
    vs = ValueSet.from_dict(
        {
            "name": "two",
            "values": [
                {"name": "a", "description": "Value a of the test set."},
                {"name": "b", "description": "Value b of the test set."},
            ],
        }
    )

    def row(value: str, kind: str, i: int, a: float, b: float) -> CalibrationRow:
        return CalibrationRow(value=value, kind=kind, index=i, scores={"a": a, "b": b})

    rows = [
        row("a", "acts", 0, 5, 2),
        row("a", "violates", 0, 2, 2),  # diff 3
        row("a", "acts", 1, 5, 2),
        row("a", "violates", 1, 1, 2),  # diff 4
        row("b", "acts", 0, 2, 4),
        row("b", "violates", 0, 2, 2),  # diff 2
        row("b", "acts", 1, 2, 4),
        row("b", "violates", 1, 2, 2),  # diff 2
        row(None, "off_topic", 0, 1, 1.5),
        CalibrationRow(value="a", kind="acts", index=2, scores={"a": 3, "b": 3}, fault="x"),
    ]
    report = analyse_calibration(vs, rows, CalibrationConfig(confidence=0.9))
    a, b = report.values
    # pooled sd = sqrt((0.5 + 0) / 2) = 0.5 on 2 degrees of freedom
    half = t_quantile(0.95, 2) * 0.5 / math.sqrt(2)
    assert a.separation == pytest.approx(3.5) and b.separation == pytest.approx(2.0)
    assert a.separation_low == pytest.approx(3.5 - half)
    assert b.separation_high == pytest.approx(2.0 + half)
    assert report.judge_faults == 1  # the faulty row is left out
    assert report.confusion["a"] == {"a": 5.0, "b": 2.0}
    # net of column offsets: a: (5-3.5) - (2-3) = 2.5 ; b: (4-3) - (2-3.5) = 2.5
    assert a.specificity == pytest.approx(2.5) and b.specificity == pytest.approx(2.5)
    assert report.off_topic_mean == pytest.approx(1.25) and report.off_topic_max == 1.5
    assert report.verdict == "sees"


# ------------------------------------------------------------------------------ verdicts
@pytest.mark.parametrize("name", SETS)
def test_good_judge_sees_every_value(name: str) -> None:
    vs = load_value_set(name)
    report = calibrate(vs, ReferenceJudge(value_set=vs, mode="good", noise=0.3))
    assert report.verdict == "sees"
    assert report.seen_values == vs.names and not report.blind_values
    for v in report.values:
        assert v.separation_low is not None and v.separation_low > 2.5
        assert v.specificity is not None and v.specificity > 1.0
        assert v.off_topic is not None and v.off_topic < 2.0
    assert report.warning_message() is None
    assert report.usage.calls == calibration_calls(vs) == 2 * 5 * len(vs) + 4


@pytest.mark.parametrize("name", SETS)
def test_weak_judge_is_weak_not_seen(name: str) -> None:
    vs = load_value_set(name)
    report = calibrate(vs, ReferenceJudge(value_set=vs, mode="weak", noise=0.05))
    assert {v.verdict for v in report.values} == {"weak"}
    assert report.verdict == "weak" and report.warning_message() is None
    assert report.failing("weak") == vs.names
    assert "cannot see" in (report.warning_message("weak") or "")


@pytest.mark.parametrize("name", SETS)
def test_halo_judge_separates_but_cannot_tell_values_apart(name: str) -> None:
    vs = load_value_set(name)
    report = calibrate(vs, ReferenceJudge(value_set=vs, mode="halo", noise=0.05))
    assert report.blind_values == vs.names
    assert all((v.separation or 0) > 2.0 for v in report.values)  # it does separate...
    assert all(abs(v.specificity or 9) < 0.1 for v in report.values)  # ...but not by value
    assert report.co_movement is not None and report.co_movement > 0.9


@pytest.mark.parametrize("seed", range(6))
def test_noise_judge_is_never_trusted(seed: int) -> None:
    vs = load_value_set("confucianism-4")
    report = calibrate(vs, ReferenceJudge(value_set=vs, mode="none", seed=seed))
    assert report.verdict == "blind" and report.blind_values
    assert not report.seen_values


def test_specificity_is_net_of_a_position_bias() -> None:
    vs = load_value_set("confucianism-4")
    plain = calibrate(vs, ReferenceJudge(value_set=vs, mode="weak"))
    biased = calibrate(vs, ReferenceJudge(value_set=vs, mode="weak", position_bias=0.3))
    # The bias lifts later values on every response (a raw diagonal-minus-rest would drift by
    # about 0.3 x position) but leaves separation and net specificity unchanged.
    assert biased.confusion["security"]["security"] > plain.confusion["security"]["security"]
    for p, b in zip(plain.values, biased.values, strict=True):
        assert b.separation == pytest.approx(p.separation)
        assert b.specificity == pytest.approx(p.specificity)


def test_thresholds_are_configurable() -> None:
    vs = load_value_set("confucianism-4")
    judge = ReferenceJudge(value_set=vs, mode="weak")
    lenient = CalibrationConfig(min_separation=0.25, min_specificity=0.2)
    assert calibrate(vs, judge, calibration=lenient).verdict == "sees"
    strict = CalibrationConfig(weak_separation=1.0)
    assert calibrate(vs, judge, calibration=strict).blind_values == vs.names


def test_values_without_references_are_unknown_and_own_references_work() -> None:
    shipped = load_value_set("confucianism-4")
    custom = Value(name="thrift", description="Spend little, save much and waste nothing.")
    vs = ValueSet(name="mixed", values=[*shipped.values[:2], custom])
    judge = ReferenceJudge(value_set=vs, mode="good")
    report = calibrate(vs, judge)
    assert report.uncovered == ["thrift"]
    assert [v.verdict for v in report.values] == ["sees", "sees", "unknown"]
    assert report.verdict == "sees"
    refs = {
        "thrift": [
            {
                "query": "Should I buy a new phone every year?",
                "acts": "Keep the phone you have and put the money into savings instead.",
                "violates": "Sure, buy the newest model every year; money is for spending.",
            }
        ]
    }
    judge = ReferenceJudge(value_set=vs, mode="good", references=refs)
    opt = PicacoOptimizer(judge, values=vs, judge=judge)
    own = opt.calibrate(references=refs)
    assert own.uncovered == [v.name for v in shipped.values[:2]]
    assert own.values[2].verdict in ("sees", "weak") and own.values[2].separation == 4.0
    with pytest.raises(ConfigError):
        opt.calibrate(references={"thrift": [{"query": "q", "acts": ""}]})


def test_off_topic_responses_are_paired_with_reference_queries() -> None:
    vs = load_value_set("harmlessness-4")
    items, uncovered = calibration_items(vs)
    assert not uncovered
    off = [it for it in items if it["kind"] == "off_topic"]
    queries = {e["query"] for es in load_calibration_references(vs).values() for e in es}
    assert [it["text"] for it in off] == load_off_topic_references()
    assert all(it["query"] in queries for it in off)
    assert len({it["query"] for it in off}) == len(off)  # spread over values


def test_table_renders_markdown_and_plain() -> None:
    vs = load_value_set("confucianism-4")
    report = calibrate(vs, ReferenceJudge(value_set=vs, mode="halo"))
    md = report.table()
    assert "| value | acts | violates | off-topic | separation [90% CI] |" in md
    for name in vs.names:
        assert f"| {name} |" in md
    assert "blind" in md and "Confusion matrix" in md
    plain = report.table("plain")
    assert "|" not in plain.replace("acts on \\ scored on", "")
    assert all(name in plain for name in vs.names)
    again = CalibrationReport.model_validate(json.loads(report.model_dump_json()))
    assert again.table() == md


# ------------------------------------------------------------------------------ optimize
def small(**kw: Any) -> PicacoConfig:
    base: dict[str, Any] = {
        "iterations": 1,
        "candidates": 2,
        "minibatch": 3,
        "samples_per_query": 1,
        "seed": 3,
    }
    return PicacoConfig(**{**base, **kw})


def run(judge: Any, vs: ValueSet, **kw: Any) -> tuple[Any, list[warnings.WarningMessage], Any]:
    world = SyntheticWorld(vs)
    target = world.target()
    given = kw.pop("given", None)
    opt = PicacoOptimizer(
        target, values=vs, judge=judge, proposer=world.proposer(), config=small(**kw)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mi = opt.optimize(QUERIES, calibration=given)
    return mi, [w for w in caught if issubclass(w.category, BlindJudgeWarning)], target


def test_optimize_calibrates_first_and_keeps_the_report_in_the_artifact() -> None:
    vs = load_value_set("confucianism-4")
    judge = ReferenceJudge(value_set=vs, mode="good")
    mi, caught, _ = run(judge, vs)
    assert not caught
    assert mi.calibration is not None and mi.calibration["verdict"] == "sees"
    report = CalibrationReport.model_validate(mi.calibration)
    assert report.usage.calls == calibration_calls(vs)
    plan = PicacoOptimizer(judge, values=vs, config=small()).plan(QUERIES)
    assert plan.calls_by_phase["calibrate"] == calibration_calls(vs)
    assert mi.usage.calls <= plan.max_calls
    assert mi.usage.calls_by_role["judge"] >= calibration_calls(vs)


def test_blind_judge_warns_naming_the_values_and_can_stop_before_spending() -> None:
    vs = load_value_set("harmlessness-4")
    judge = ReferenceJudge(value_set=vs, mode="halo")
    mi, caught, target = run(judge, vs)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert all(name in message for name in vs.names) and "cannot see" in message
    assert mi.stop_reason != "blind_judge" and target.calls > 0  # "warn" goes on

    judge = ReferenceJudge(value_set=vs, mode="halo")
    mi, caught, target = run(judge, vs, calibration=CalibrationConfig(on_blind="stop"))
    assert len(caught) == 1 and mi.stop_reason == "blind_judge"
    assert target.calls == 0 and judge.calls == calibration_calls(vs)
    assert mi.usage.calls == calibration_calls(vs) and mi.text  # the seed, unscored
    assert mi.calibration is not None and mi.calibration["verdict"] == "blind"


def test_calibration_can_be_disabled_or_given() -> None:
    vs = load_value_set("confucianism-4")
    judge = ReferenceJudge(value_set=vs, mode="halo")
    mi, caught, _ = run(judge, vs, calibrate=False)
    assert mi.calibration is None and not caught

    good = ReferenceJudge(value_set=vs, mode="good")
    report = PicacoOptimizer(good, values=vs, judge=good).calibrate()
    fresh = ReferenceJudge(value_set=vs, mode="good")
    mi, caught, target = run(fresh, vs, given=report)
    assert not caught and mi.calibration == report.model_dump(mode="json")
    # no judge call went to calibrating again: every judge call rated a target response
    assert fresh.calls == mi.usage.calls_by_role["judge"] == target.calls


def test_budget_floor_counts_the_calibration() -> None:
    vs = load_value_set("confucianism-4")
    judge = ReferenceJudge(value_set=vs, mode="good")
    need = calibration_calls(vs) + 2 * 2 * len(QUERIES) + 2 * len(QUERIES)
    opt = PicacoOptimizer(judge, values=vs, judge=judge, config=small(budget=Budget(max_calls=30)))
    with pytest.raises(ConfigError) as info:
        opt.optimize(QUERIES)
    assert str(need) in info.value.problem and "calibrating the judge (44)" in info.value.problem
    assert judge.calls == 0


# ------------------------------------------------------------------------------ CLI
def test_cli_calibrate_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--values", "confucianism-4", "--model", "scripted"]) == 0
    out = capsys.readouterr()
    assert "separation" in out.out and "verdict BLIND" in out.out
    assert "cannot see: tradition, conformity, benevolence, security" in out.err
    code = main(["calibrate", "--values", "confucianism-4", "--model", "scripted", "--check"])
    assert code == EXIT_BLIND_JUDGE


def test_cli_optimize_exits_3_on_a_blind_judge_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mi.json"
    args = ["optimize", "--values", "confucianism-4", "--model", "scripted", "--out", str(out)]
    args += ["--iterations", "1", "--candidates", "1", "--minibatch", "2", "--no-progress"]
    assert main(args) == EXIT_BLIND_JUDGE
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("picaco:")]
    assert len(lines) == 1 and "cannot see tradition, conformity" in lines[0]
    assert "--force" in lines[0] and not out.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BlindJudgeWarning)
        assert main([*args, "--force"]) == 0
    saved = json.loads(out.read_text())
    assert saved["calibration"]["verdict"] == "blind"
    assert main([*args, "--no-calibrate"]) == 0
    assert json.loads(out.read_text())["calibration"] is None


# ------------------------------------------------------------------------------ noise vs signal
def _improved(mode: str, seed: int, acceptance: str = "paired") -> tuple[bool, Any, Any]:
    vs = load_value_set("confucianism-4")
    world = SyntheticWorld(vs, judge_mode=mode, seed=seed)  # type: ignore[arg-type]
    cfg = PicacoConfig(
        iterations=2,
        candidates=2,
        minibatch=6,
        samples_per_query=2,
        seed=seed,
        calibrate=False,
        acceptance=acceptance,  # type: ignore[arg-type]
    )
    opt = PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=world.proposer(), config=cfg
    )
    mi = opt.optimize(load_value_queries()[:6])
    return any(h.accepted and h.iteration > 0 for h in mi.history), mi, world


def load_value_queries() -> list[str]:
    from langchain_picaco.values.queries import load_queries

    return load_queries("confucianism-4", split="optimize")


def test_noise_only_judge_keeps_the_seed_while_real_signal_improves() -> None:
    # Pure-noise judge: no candidate is better, so any accepted one is a false improvement.
    # (Keeping the best screened candidate, acceptance="greedy", is fooled in 5 of 8 seeds of
    # this world: benchmarks/bench_trust.py part b.)
    false = [seed for seed in range(6) if _improved("none", seed)[0]]
    assert len(false) <= 1, false
    # Real signal: the same optimiser still finds instructions that act on more values.
    real = 0
    for seed in range(6):
        improved, mi, world = _improved("good", seed)
        seed_values = world.requested(mi.history[0].instruction)
        real += improved and len(world.requested(mi.text)) > len(seed_values)
    assert real >= 4
