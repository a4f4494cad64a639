"""What the numbers a run reports are made of: paired before/after scores, and an aligned pool
that holds only the responses of instructions that won."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.graph.builder import build_graph
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.testing import ScriptedChatModel, SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet

QUERIES = [
    "Should I move abroad for work or stay near my family?",
    "How do I plan a wedding on a small budget?",
    "My friend keeps cancelling plans; what should I do?",
    "Is it fine to skip a family dinner to finish my work?",
]


class NeutralProposer(ScriptedChatModel):
    """Adds a sentence that asks for no value: any gain a candidate shows is noise."""

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        prompt = "\n".join(str(m.content) for m in messages)
        current = re.search(r"<instruction>(.*?)</instruction>", prompt, re.S).group(1).strip()
        return f"<instruction>{current} Write plainly, draft {kwargs.get('seed')}.</instruction>"


async def _states(resources: Resources, cfg: PicacoConfig, vs: ValueSet) -> list[dict[str, Any]]:
    graph = build_graph(resources)
    states = []
    async for state in graph.astream(
        {"value_set": vs.model_dump(), "queries": QUERIES},
        context=PicacoContext(config=cfg),
        stream_mode="values",
    ):
        states.append(state)
    return states


@pytest.mark.parametrize("acceptance", ["paired", "greedy"])
async def test_only_the_winners_responses_enter_the_aligned_pool(
    vs: ValueSet, acceptance: str
) -> None:
    # A noisy world and candidates that change nothing: screening finds chance gains, so
    # candidates are screened and (paired) challengers confirmed, and most are rejected.
    world = SyntheticWorld(vs, hit_rate=0.5, judge_noise=1.0)
    cfg = PicacoConfig(
        iterations=4,
        patience=4,
        candidates=2,
        minibatch=4,
        samples_per_query=2,
        calibrate=False,
        acceptance=acceptance,
        proposal_strategy="weakest",  # candidates that change nothing, merges included
    )
    resources = Resources(target=world.target(), judge=world.judge(), proposer=NeutralProposer())
    states = await _states(resources, cfg, vs)
    final = states[-1]
    history = final["history"]
    winners = {h["instruction"] for h in history if h.get("accepted")}
    losers = {h["instruction"] for h in history[1:] if not h.get("accepted")} - winners
    assert losers, "the scenario must screen candidates that are not accepted"
    if acceptance == "paired":
        confirmed_and_rejected = [h for h in history if "looks" in h and not h["accepted"]]
        assert confirmed_and_rejected, "the scenario must reject a confirmed challenger"
    pooled = {
        m["instruction"]
        for state in states
        for items in (state.get("aligned") or {}).values()
        for m in items
    }
    assert pooled, "the aligned pool is never empty after the reference phase"
    assert not pooled & losers, "a rejected candidate's responses entered the aligned pool"
    assert pooled <= winners


class QuestionProposer(ScriptedChatModel):
    """Echoes a question: every candidate is rejected by the guards, the seed stays."""

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        return "<instruction>What is your question about this?</instruction>"


async def _keep_the_seed(vs: ValueSet, proposer: str) -> tuple[Any, Any, int, int]:
    """A run that keeps its seed; returns the artifact, plan, target calls and all calls."""
    world = SyntheticWorld(vs, hit_rate=0.5, judge_noise=1.0)
    cfg = PicacoConfig(
        iterations=2, candidates=2, minibatch=4, samples_per_query=2, calibrate=False, seed=3
    )
    model = QuestionProposer() if proposer == "question" else NeutralProposer()
    target, judge = world.target(), world.judge()
    opt = PicacoOptimizer(target, values=vs, judge=judge, proposer=model, config=cfg)
    plan = opt.plan(QUERIES)
    mi = await opt.aoptimize(QUERIES)
    return mi, plan, target.calls, target.calls + judge.calls + model.calls


@pytest.mark.parametrize("proposer", ["question", "neutral"])
async def test_a_kept_seed_is_not_measured_again(
    vs: ValueSet, proposer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The final measurement of a kept seed would draw the reference phase's own samples again:
    # the run reuses the seed's reference scores instead (a runtime that is not bit-exact would
    # otherwise print a "gain" of an unchanged instruction).
    mi, plan, target_calls, calls = await _keep_the_seed(vs, proposer)
    assert mi.text == default_seed_instruction(vs)
    assert mi.scores == mi.reference_scores["seed"]
    assert calls == mi.usage.calls <= plan.max_calls
    from langchain_picaco.optimizer.graph import routes

    monkeypatch.setattr(routes, "seed_kept", lambda state: False)  # draw it, as before
    drawn, _, drawn_target_calls, _ = await _keep_the_seed(vs, proposer)
    assert drawn.scores == mi.scores  # the deterministic world draws the same scores ...
    assert drawn_target_calls - target_calls == len(QUERIES) * 2  # ... for N S more responses


@pytest.mark.parametrize("proposer", ["question", "neutral"])
async def test_seed_and_final_scores_are_paired_with_several_samples(
    vs: ValueSet, proposer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The final measurement is forced even though the seed is kept (the run would reuse the
    # seed's scores): it must draw exactly the reference phase's samples.
    from langchain_picaco.optimizer.graph import routes

    monkeypatch.setattr(routes, "seed_kept", lambda state: False)
    # S = 2: sample 0 greedy, sample 1 at temperature 0.8, where the noisy world acts on a
    # requested value only half the time; the judge adds noise seeded by its call seed. With the
    # instruction unchanged, the final measurement must reproduce the seed's scores exactly.
    world = SyntheticWorld(vs, hit_rate=0.5, judge_noise=1.0)
    cfg = PicacoConfig(
        iterations=2,
        candidates=2,
        minibatch=4,
        samples_per_query=2,
        calibrate=False,
        seed=3,
    )
    model = QuestionProposer() if proposer == "question" else NeutralProposer()
    target, judge = world.target(), world.judge()
    opt = PicacoOptimizer(target, values=vs, judge=judge, proposer=model, config=cfg)
    plan = opt.plan(QUERIES)
    mi = await opt.aoptimize(QUERIES)
    assert mi.text == default_seed_instruction(vs), "the scenario must keep the seed"
    seed = mi.reference_scores["seed"]
    assert seed.n == len(QUERIES) * cfg.samples_per_query
    assert mi.scores is not None
    assert mi.scores.n == seed.n  # the same number of samples ...
    assert mi.scores.per_value == seed.per_value  # ... and the same ones: identical scores
    assert mi.scores.mean == seed.mean
    # the final measurement's S samples per query are counted by plan() and fit in it
    per = 2  # rubric: the target's call and one judge call
    assert plan.calls_by_phase["final"] == per * len(QUERIES) * cfg.samples_per_query
    assert target.calls + judge.calls + model.calls == mi.usage.calls <= plan.max_calls
