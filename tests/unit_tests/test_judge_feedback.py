"""Judge feedback for the proposer (issue 15, deliverable 3): one counted judge call a round."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import SAMPLE_QUERIES, ScriptedProposer, SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet

QUERIES = list(SAMPLE_QUERIES[:4])
SETTINGS: dict[str, Any] = {"iterations": 3, "patience": 3, "candidates": 2, "seed": 2}
# weakest-value proposals only: every proposal gets the feedback (a merge does not)
SETTINGS.update(samples_per_query=1, calibrate=False, proposal_strategy="weakest")


class Recorder(ScriptedProposer):
    """The scripted proposer, keeping every prompt it is sent."""

    prompts: list[str] = []

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        self.prompts.append("\n".join(str(m.content) for m in messages))
        return super().respond(messages, **kwargs)


def _run(vs: ValueSet, feedback: bool, **kw: Any) -> tuple[Any, Recorder, Any]:
    world = SyntheticWorld(vs)
    proposer = Recorder(world=world, prompts=[])
    cfg = PicacoConfig(**{**SETTINGS, **kw}, judge_feedback=feedback)
    opt = PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=proposer, config=cfg
    )
    return opt.optimize(QUERIES), proposer, opt.plan(QUERIES)


def test_feedback_costs_one_counted_judge_call_a_round_and_reaches_the_proposer(
    vs: ValueSet,
) -> None:
    base, quiet, plan_off = _run(vs, False)
    mi, proposer, plan_on = _run(vs, True)
    rounds = max(h.iteration for h in mi.history)
    # the scripted proposer ignores the feedback: the same run, plus one judge call a round
    assert mi.text == base.text
    assert mi.usage.calls_by_role["judge"] == base.usage.calls_by_role["judge"] + rounds
    assert mi.usage.calls == base.usage.calls + rounds <= plan_on.max_calls
    assert plan_on.calls_by_phase["propose"] == plan_off.calls_by_phase["propose"] + 3
    told = [p for p in proposer.prompts if "A judge read an answer" in p]
    assert len(told) == len(proposer.prompts) > 0
    assert all("It never says how the advice serves" in p for p in told)
    assert not any("A judge read an answer" in p for p in quiet.prompts)


def test_the_merge_variant_gets_no_feedback(vs: ValueSet) -> None:
    _, proposer, _ = _run(vs, True, proposal_strategy="pareto")
    merges = [p for p in proposer.prompts if "<instruction_a>" in p]
    assert merges and not any("A judge read an answer" in p for p in merges)
