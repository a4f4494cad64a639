"""One screened candidate is the confirmation's first look (``screen_is_first_look``).

Sampling-mode screening of a single candidate on every query (S = 1, shared seeds) draws exactly
what a first confirmation look would, and nothing was selected, so drawing the look again is
waste. These tests pin that the run skips it, that the acceptance test still sees every pair
(and can look again), and that ``plan()`` counts the saving and still bounds the run.
"""

from __future__ import annotations

from typing import Any

import pytest

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer import budget
from langchain_picaco.optimizer.budget import screen_is_first_look
from langchain_picaco.optimizer.graph import nodes
from langchain_picaco.optimizer.graph.state import RESET, reset_or_extend
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import SAMPLE_QUERIES, SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet

QUERIES = list(SAMPLE_QUERIES)


def _config(**kw: Any) -> PicacoConfig:
    base: dict[str, Any] = {
        "iterations": 2,
        "candidates": 1,
        "minibatch": len(QUERIES),
        "samples_per_query": 1,
        "selection": "sampling",
        "seed": 1,
        "calibrate": False,
    }
    return PicacoConfig(**{**base, **kw})


def _run(vs: ValueSet, cfg: PicacoConfig) -> tuple[Any, Any, int]:
    world = SyntheticWorld(vs)
    target, judge, proposer = world.target(), world.judge(), world.proposer()
    opt = PicacoOptimizer(target, values=vs, judge=judge, proposer=proposer, config=cfg)
    plan = opt.plan(QUERIES)
    mi = opt.optimize(QUERIES)
    return mi, plan, target.calls


def test_the_reducer_replaces_the_channel_with_reset_first() -> None:
    assert reset_or_extend([1, 2], [RESET, 3]) == [3]
    assert reset_or_extend([1, 2], RESET) == []
    assert reset_or_extend([1], [2]) == [1, 2]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, True),
        ({"candidates": 2}, False),  # a winner was selected: fresh samples undo its luck
        ({"samples_per_query": 2}, False),  # the screen draws one sample, a look S
        ({"minibatch": 3}, False),  # the screen saw half the queries
        ({"acceptance": "greedy"}, False),
    ],
)
def test_when_the_screen_is_a_first_look(kw: dict[str, Any], expected: bool) -> None:
    assert screen_is_first_look(_config(**kw), len(QUERIES), "sampling") is expected
    assert not screen_is_first_look(_config(**kw), len(QUERIES), "likelihood")


def test_the_run_skips_the_redundant_look_and_still_accepts_on_evidence(
    vs: ValueSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config()
    mi, plan, target_calls = _run(vs, cfg)
    # the same run, with every screen followed by a fresh first look (the old behaviour)
    # where it is looked up: the budget (rounds and the plan) and the select node
    for module in (budget, nodes):
        monkeypatch.setattr(module, "screen_is_first_look", lambda *a, **k: False)
    old, old_plan, old_target_calls = _run(vs, cfg)

    n = len(QUERIES)
    rounds = [h for h in mi.history if h.iteration > 0]
    assert len(rounds) == cfg.iterations and not any(h.rejected_reason for h in rounds)
    challenged = [h for h in rounds if h.gain is not None]
    assert challenged, "no round had a challenger: the test proves nothing"
    accepted = [h for h in challenged if h.accepted]
    assert accepted and all(h.gain_low is not None and h.gain_low > 0 for h in accepted)
    assert mi.scores is not None and mi.scores.min > mi.reference_scores["seed"].min

    def target_responses(history: Any, first_look_drawn: bool) -> int:
        looks = sum(h.looks - (0 if first_look_drawn else 1) for h in history if h.gain is not None)
        # reference (bare, seed), one screen per round (incumbent, candidate), looks, final
        return 2 * n + 2 * n * cfg.iterations + 2 * n * looks + n

    assert target_calls == target_responses(mi.history, first_look_drawn=False)
    assert old_target_calls == target_responses(old.history, first_look_drawn=True)
    per = 2  # target + the rubric judge
    assert plan.calls_by_phase["confirm"] == 0
    assert old_plan.calls_by_phase["confirm"] == per * 2 * n * cfg.iterations
    assert plan.max_calls == old_plan.max_calls - per * 2 * n * cfg.iterations
    assert mi.usage.calls <= plan.max_calls and old.usage.calls <= old_plan.max_calls
