"""The per-value Pareto front (issue 15): dominance, ties, one value, evidence, the artifact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_picaco.config import PicacoConfig
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.optimizer.pareto import (
    add_evidence,
    dominates,
    front_of,
    pareto_front,
)
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import SAMPLE_QUERIES, SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet


def _m(text: str | None, **scores: float) -> dict[str, object]:
    return {"instruction": text, "scores": scores}


def _front(rows: dict[str, dict[str, float]]) -> list[str]:
    members = [{"instruction": k, "per_value": v, "evidence": {}} for k, v in rows.items()]
    return [m["instruction"] for m in front_of(members)]  # type: ignore[arg-type]


def test_dominance_needs_every_value_at_least_as_good_and_one_better() -> None:
    assert dominates({"a": 3, "b": 2}, {"a": 2, "b": 2})
    assert not dominates({"a": 2, "b": 2}, {"a": 2, "b": 2})  # equal: neither
    assert not dominates({"a": 3, "b": 1}, {"a": 2, "b": 2})  # a trade
    assert not dominates({"a": 3}, {"a": 2, "b": 2})  # not comparable
    assert not dominates({}, {})


def test_front_keeps_trades_and_ties_and_drops_the_dominated() -> None:
    rows = {
        "A": {"a": 4.0, "b": 2.0},
        "B": {"a": 2.0, "b": 4.0},
        "C": {"a": 3.0, "b": 3.0},
        "D": {"a": 3.0, "b": 2.5},  # dominated by C only
        "E": {"a": 3.0, "b": 3.0},  # ties C: both stay
        "F": {"a": 1.0, "b": 1.0},
    }
    assert _front(rows) == ["A", "B", "C", "E"]


def test_front_on_one_value_is_the_best_instructions() -> None:
    assert _front({"A": {"a": 2.0}, "B": {"a": 4.0}, "C": {"a": 4.0}, "D": {"a": 3.9}}) == [
        "B",
        "C",
    ]


def test_evidence_adds_up_per_instruction_and_value() -> None:
    ev = add_evidence([], [_m("X", a=2, b=4), _m("Y", a=4, b=1), _m(None, a=5, b=5)], ["a", "b"])
    assert [e["instruction"] for e in ev] == ["X", "Y"]  # the bare model is not an instruction
    later = add_evidence(ev, [_m("X", a=4, b=4), _m("X", a=3)], ["a", "b"])
    assert ev[0]["counts"] == {"a": 1, "b": 1}  # the input is left alone
    assert later[0]["counts"] == {"a": 3, "b": 2} and later[0]["sums"] == {"a": 9.0, "b": 8.0}
    front = pareto_front(later)
    x = next(m for m in front if m["instruction"] == "X")
    assert x["per_value"] == {"a": 3.0, "b": 4.0} and x["evidence"] == {"a": 3, "b": 2}
    # Y (4, 1) trades against X (3, 4): both on the front; more evidence can drop one.
    assert {m["instruction"] for m in front} == {"X", "Y"}
    lower = add_evidence(later, [_m("Y", a=1, b=1)] * 6, ["a", "b"])
    assert [m["instruction"] for m in pareto_front(lower)] == ["X"]


@pytest.fixture
def run(vs: ValueSet) -> MetaInstruction:
    world = SyntheticWorld(vs)
    cfg = PicacoConfig(iterations=3, candidates=2, samples_per_query=1, seed=3, calibrate=False)
    opt = PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=world.proposer(), config=cfg
    )
    return opt.optimize(list(SAMPLE_QUERIES[:4]))


def test_a_run_records_the_front_of_what_it_measured(run: MetaInstruction) -> None:
    front = run.pareto_front
    scored = {h.instruction for h in run.history if not h.rejected_reason}
    assert front and {m.instruction for m in front} <= scored
    for m in front:
        assert set(m.per_value) == set(run.value_set.names)
        assert all(n >= 1 for n in m.evidence.values())
        assert not any(dominates(o.per_value, m.per_value) for o in front if o is not m)
    # The seed was measured on every query in the reference phase: at least N responses.
    seed = next((m for m in front if m.instruction == run.history[0].instruction), None)
    if seed is not None:
        assert min(seed.evidence.values()) >= 4


def test_the_front_survives_a_save_and_old_artifacts_still_load(
    run: MetaInstruction, tmp_path: Path
) -> None:
    path = run.save(tmp_path / "mi.json")
    assert MetaInstruction.load(path).pareto_front == run.pareto_front
    old = json.loads(path.read_text())
    del old["pareto_front"]
    path.write_text(json.dumps(old))
    assert MetaInstruction.load(path).pareto_front == []


def test_the_plot_draws_the_front_members(
    run: MetaInstruction, tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("matplotlib")
    from langchain_picaco.evaluate import plots

    drawn: dict[str, object] = {}

    def spy(series, path, **kw):  # type: ignore[no-untyped-def]
        drawn.update(series)
        return Path(path)

    monkeypatch.setattr(plots, "plot_value_scores", spy)
    plots.plot_scores(run, tmp_path / "p.png")
    others = [m for m in run.pareto_front if m.instruction != run.text]
    assert sum(label.startswith("Pareto front ") for label in drawn) == min(len(others), 4)
    on_front = any(m.instruction == run.text for m in run.pareto_front)
    assert ("optimised (on the Pareto front)" in drawn) == on_front
