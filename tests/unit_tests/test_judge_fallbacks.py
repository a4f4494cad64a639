"""The check the integration tests make on the real judge: no neutral fallbacks, no left-out rows.

A judge whose replies cannot be parsed still lets a run finish (every value at a neutral 3.0) and
a calibration report (the rows left out): the shape checks of the integration tests passed on it.
``assert_judged_cleanly`` is what they assert now; here it is shown to fail on such a judge (a
scripted one that never answers with a rating) and to pass on a judge that always does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import (
    ScriptedChatModel,
    SyntheticWorld,
    assert_judged_cleanly,
    judge_fallbacks,
)
from langchain_picaco.values.queries import load_calibration_references
from langchain_picaco.values.value_sets import ValueSet

QUERIES = [
    "My parents want me to stay in our home town, but I got a job offer abroad. What should I do?",
    "Should I skip my cousin's wedding to attend an important work conference?",
]


class MumblingJudge(ScriptedChatModel):
    """Answers every judge prompt with prose that holds no rating."""

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:  # noqa: D102
        return "It is a thoughtful answer overall; I would rather not put a number on it."


def _optimise(vs: ValueSet, judge: Any) -> Any:
    world = SyntheticWorld(vs)
    # The settings of tests/integration_tests/test_local_pipeline.py.
    cfg = PicacoConfig(
        iterations=1, candidates=1, samples_per_query=1, minibatch=2, calibrate=False
    )
    opt = PicacoOptimizer(
        world.target(), values=vs, judge=judge, proposer=world.proposer(), config=cfg
    )
    return opt.optimize(QUERIES)


def _calibrate(vs: ValueSet, judge: Any) -> Any:
    # The call of tests/integration_tests/test_local_calibration.py.
    refs = {"tradition": load_calibration_references(["tradition"])["tradition"][:1]}
    opt = PicacoOptimizer(judge, values=vs, judge=judge, config=PicacoConfig(max_concurrency=1))
    return opt.calibrate(references=refs, off_topic=[])


def test_a_run_on_an_unreadable_judge_finishes_and_fails_the_check(vs: ValueSet) -> None:
    mi = _optimise(vs, MumblingJudge())
    # What the integration test used to check passes: the run finished with scores in range...
    assert mi.scores is not None and all(1.0 <= s <= 5.0 for s in mi.scores.per_value.values())
    # ... but every one of them is the neutral fallback.
    assert set(mi.scores.per_value.values()) == {3.0}
    assert judge_fallbacks(mi)["judge_neutral"] > 0
    with pytest.raises(AssertionError, match="judge_neutral="):
        assert_judged_cleanly(mi)


def test_a_calibration_on_an_unreadable_judge_fails_the_check(vs: ValueSet) -> None:
    report = _calibrate(vs, MumblingJudge())
    assert sorted(r.kind for r in report.rows) == ["acts", "violates"]  # the old shape check
    found = judge_fallbacks(report)
    assert found["judge_faults"] == 2 and found["faulty_rows"] == 2
    with pytest.raises(AssertionError, match="judge_faults=2"):
        assert_judged_cleanly(report)


def test_a_readable_judge_passes_the_check(vs: ValueSet) -> None:
    world = SyntheticWorld(vs)
    mi = _optimise(vs, world.judge())
    assert judge_fallbacks(mi) == {}
    assert_judged_cleanly(mi)
    report = _calibrate(vs, world.judge())
    assert judge_fallbacks(report) == {}
    assert_judged_cleanly(report)


def test_a_tolerated_fallback_needs_a_bound_and_a_reason(vs: ValueSet) -> None:
    mi = _optimise(vs, MumblingJudge())
    n = judge_fallbacks(mi)["judge_neutral"]
    with pytest.raises(ValueError, match="why"):
        assert_judged_cleanly(mi, allowed=n)
    assert_judged_cleanly(mi, allowed=n, why="a test of the bound")
    with pytest.raises(AssertionError, match=f"at most {n - 1} allowed"):
        assert_judged_cleanly(mi, allowed=n - 1, why="a test of the bound")
