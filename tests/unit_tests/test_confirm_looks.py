"""Confirmation looks: an inconclusive, positive confirmation measures the pair again."""

from __future__ import annotations

from typing import Any

from langchain_picaco.config import Budget, PicacoConfig
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.optimizer.graph.routes import _confirm_sends
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import SyntheticWorld
from langchain_picaco.values.queries import load_queries
from langchain_picaco.values.value_sets import ValueSet


def _noisy(vs: ValueSet, seed: int) -> SyntheticWorld:
    # A weak judge (noise sd 0.8) and instructions whose length costs follow-through: the
    # confirmation of a real gain is often inconclusive on one look of 32 pairs.
    return SyntheticWorld(vs, judge_noise=0.8, dilution=0.05, seed=seed)


def _optimize(world: SyntheticWorld, seed: int, **kw: Any) -> MetaInstruction:
    cfg = PicacoConfig(seed=seed, calibrate=False, **kw)
    opt = PicacoOptimizer(
        world.target(),
        values=world.value_set,
        judge=world.judge(),
        proposer=world.proposer(),
        config=cfg,
    )
    return opt.optimize(load_queries(world.value_set.name, split="optimize"))


def test_second_look_draws_fresh_distinct_samples() -> None:
    state: dict[str, Any] = {
        "queries": ["q0", "q1", "q2"],
        "instruction": "Be kind.",
        "iteration": 2,
        "values": "confucianism-4",
    }
    cfg = PicacoConfig(samples_per_query=2)
    first = _confirm_sends(state, cfg, {"instruction": "Be kind and calm."})
    second = _confirm_sends(state, cfg, {"instruction": "Be kind and calm.", "look": 2})
    assert len(first) == len(second) == 3 * 2 * 2
    a = {(s.arg["query"], s.arg["sample"], s.arg["arm"]) for s in first}
    b = {(s.arg["query"], s.arg["sample"], s.arg["arm"]) for s in second}
    assert not a & b
    assert {s.arg["sample"] for s in first} == {0, 1}
    assert {s.arg["sample"] for s in second} == {2, 3}
    assert not {s.arg["seed"] for s in first} & {s.arg["seed"] for s in second}
    # Both arms of a pair share query, sample and seed (paired by construction).
    for sends in (first, second):
        by_key: dict[tuple[int, int], set[int]] = {}
        for s in sends:
            by_key.setdefault((s.arg["query"], s.arg["sample"]), set()).add(s.arg["seed"])
        assert all(len(seeds) == 1 for seeds in by_key.values())


def test_inconclusive_positive_looks_get_a_second_look_and_it_pays(vs: ValueSet) -> None:
    two_looks = [_optimize(_noisy(vs, s), s) for s in range(3)]
    one_look = [_optimize(_noisy(vs, s), s, confirm_looks=1) for s in range(3)]
    looked_twice = [h for mi in two_looks for h in mi.history if h.looks == 2]
    assert looked_twice, "no confirmation needed a second look in three noisy runs"
    assert all(h.looks in (None, 1) for mi in one_look for h in mi.history)
    # Every verdict after two looks is a real test on pooled samples: accepted only above 0.
    for h in looked_twice:
        assert h.gain_low is not None
        assert h.accepted == (h.gain_low > 0)
    # Judged by the world's clean judge, the second look finds the instruction more often:
    # the runs with two looks end with every value acted on at least as often.
    covered = [len(_noisy(vs, 0).requested(mi.text)) for mi in two_looks]
    covered_one = [len(_noisy(vs, 0).requested(mi.text)) for mi in one_look]
    assert sum(covered) >= sum(covered_one)


def test_budget_stops_cleanly_with_confirmation_looks(vs: ValueSet) -> None:
    # Budgets that end the run at different points, second looks included (a look that the
    # budget cannot pay for is dropped, with its samples, and the run measures and finishes).
    world = _noisy(vs, 3)
    full = _optimize(world, 3)
    for share in (0.45, 0.7, 0.9):
        budget = int(full.usage.calls * share)
        mi = _optimize(_noisy(vs, 3), 3, budget=Budget(max_calls=budget))
        assert mi.usage.calls <= budget
        assert mi.stop_reason == "budget"
        MetaInstruction.model_validate(mi.model_dump())
