"""The OPRO-style baseline: the classic loop, its budget, and what it does not do."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import BaseMessage, SystemMessage

from langchain_picaco import prompts
from langchain_picaco.config import Budget
from langchain_picaco.errors import ConfigError
from langchain_picaco.evaluate.opro import OproConfig, OproOptimizer
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.testing import (
    SAMPLE_QUERIES,
    ScriptedChatModel,
    ScriptedProposer,
    SyntheticWorld,
)
from langchain_picaco.values.value_sets import ValueSet

QUERIES = list(SAMPLE_QUERIES)
CLEAN = "Honour tradition and conformity. Honour benevolence and security."
B = 6  # minibatch used below (all queries)


def opro(world: SyntheticWorld, *, proposer: Any = None, **kw: Any) -> OproOptimizer:
    base: dict[str, Any] = {"steps": 4, "candidates_per_step": 3, "minibatch": B, "seed": 0}
    return OproOptimizer(
        world.target(),
        values=world.value_set,
        judge=world.judge(),
        proposer=proposer or world.proposer(),
        config=OproConfig(**{**base, **kw}),
    )


def comparable(mi: MetaInstruction) -> dict[str, Any]:
    return mi.model_dump(exclude={"created_at": True, "usage": {"wall_seconds"}})


class Recording(ScriptedProposer):
    """The world's proposer, keeping every prompt it was shown."""

    seen: list[str] = []

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        self.seen.append("\n".join(str(m.content) for m in messages))
        return super().respond(messages, **kwargs)


class Fixed(ScriptedChatModel):
    """Proposes ``variants[n - 1]`` for variation n."""

    variants: list[str]

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        n = int(re.search(r"Variation (\d+)", str(messages[-1].content)).group(1))
        return f"<instruction>{self.variants[n - 1]}</instruction>"


def test_classic_loop_keeps_the_best_mean_score(world: SyntheticWorld, vs: ValueSet) -> None:
    mi = opro(world).optimize(QUERIES)
    scored = [h for h in mi.history if h.rejected_reason is None]
    assert scored[0].iteration == 0 and scored[0].instruction == default_seed_instruction(vs)
    best = max(scored, key=lambda h: h.objective)
    assert mi.text == best.instruction
    assert [h for h in scored if h.accepted] == [best]
    assert mi.scores is not None and mi.scores.mean == pytest.approx(best.objective)
    assert mi.scores.mean > mi.reference_scores["seed"].mean  # it does find something
    assert mi.stop_reason == "steps"
    assert mi.config["method"] == "opro" and mi.config["steps"] == 4
    assert mi.models["proposer"].startswith("ScriptedProposer")
    # C proposals per step; each instruction scored with one target + one judge call per query
    by_role = mi.usage.calls_by_role
    assert by_role["proposer"] == 4 * 3
    assert by_role["target"] == by_role["judge"] == B * len(scored)
    assert mi.usage.calls == sum(by_role.values())


def test_proposer_sees_top_instructions_best_first_and_no_per_value_hints(world, vs) -> None:
    proposer = Recording(world=world, seen=[])
    opro(world, proposer=proposer, shown=3).optimize(QUERIES)
    last = proposer.seen[-1]
    assert prompts.OPRO_SYSTEM in last
    scores = [float(s) for s in re.findall(r"^score: ([\d.]+)$", last, re.M)]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert "WEAKEST VALUE" not in last and "Examples to avoid" not in last
    assert all(v.description in last for v in vs)  # the goal itself is shown


def test_budget_stops_opro_cleanly_with_an_exact_bound(world: SyntheticWorld) -> None:
    budget = 120
    mi = opro(world, steps=100, budget=Budget(max_calls=budget)).optimize(QUERIES)
    assert mi.stop_reason == "budget"
    # every candidate (1 proposal + B target + B judge calls) is paid for before it is
    # proposed, and the loop stops only when not even one more candidate fits
    per_candidate = 1 + 2 * B
    assert budget - per_candidate < mi.usage.calls <= budget


def test_token_budget_stops_opro(world: SyntheticWorld) -> None:
    mi = opro(world, steps=100, budget=Budget(max_tokens=30_000)).optimize(QUERIES)
    assert mi.stop_reason == "budget"
    # candidates are paid for at the mean tokens per call so far: a projection, not a promise
    assert mi.usage.input_tokens + mi.usage.output_tokens <= 30_000 * 1.1


def test_too_small_budget_is_refused(world: SyntheticWorld) -> None:
    target = world.target()
    opt = OproOptimizer(
        target,
        values=world.value_set,
        judge=world.judge(),
        config=OproConfig(minibatch=B, budget=Budget(max_calls=20)),
    )
    with pytest.raises(ConfigError) as info:
        opt.optimize(QUERIES)
    assert info.value.field == "config.budget.max_calls"
    assert target.calls == 0


def test_same_seed_same_result(world: SyntheticWorld) -> None:
    queries = list(QUERIES)
    a = opro(world).optimize(queries)
    b = opro(world).optimize(queries)
    assert comparable(a) == comparable(b)
    assert queries == QUERIES


def test_no_redundancy_term_a_parroting_instruction_is_kept(world, vs) -> None:
    # PICACO replaces this parroting seed with CLEAN (test_optimizer); OPRO's mean judge score
    # cannot tell them apart, so the tie keeps the earlier, parroting one.
    parroting = CLEAN + " " + vs.get("tradition").description
    proposer = Fixed(variants=[CLEAN])
    mi = opro(world, proposer=proposer, steps=1, candidates_per_step=1).optimize(
        QUERIES, seed_instruction=parroting
    )
    objectives = {h.instruction: h.objective for h in mi.history}
    assert objectives[CLEAN] == objectives[parroting] == 5.0
    assert mi.text == parroting


def test_only_empty_overlong_and_repeated_candidates_are_skipped(world: SyntheticWorld) -> None:
    proposer = Fixed(variants=["What would you like to know?", CLEAN, "", "x" * 1300])
    mi = opro(world, proposer=proposer, steps=1, candidates_per_step=4).optimize(
        QUERIES, seed_instruction=CLEAN
    )
    reasons = [h.rejected_reason for h in mi.history if h.rejected_reason]
    assert reasons == ["duplicate", "empty", "too_long"]
    question = next(h for h in mi.history if h.instruction.startswith("What would"))
    assert question.objective == 1.0  # scored like any other instruction (and it is bad)
    assert mi.text == CLEAN


class Switchboard(ScriptedChatModel):
    """One model in every role, so concurrent calls are counted together."""

    world: Any

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        system = next((str(m.content) for m in messages if isinstance(m, SystemMessage)), "")
        if system == prompts.JUDGE_SYSTEM:
            return self.world.judge().respond(messages, **kwargs)
        if system == prompts.OPRO_SYSTEM:
            return self.world.proposer().respond(messages, **kwargs)
        return self.world.target().respond(messages, **kwargs)


def test_calls_overlap_up_to_max_concurrency(world: SyntheticWorld) -> None:
    model = Switchboard(world=world, latency=0.01)
    mi = OproOptimizer(
        model,
        values=world.value_set,
        config=OproConfig(steps=1, candidates_per_step=2, minibatch=4, max_concurrency=3),
    ).optimize(QUERIES)
    assert model.max_in_flight == 3
    assert model.calls == mi.usage.calls == 2 * 4 + 2 + 2 * 2 * 4


async def test_aoptimize_and_config_errors(world: SyntheticWorld) -> None:
    mi = await opro(world, steps=1).aoptimize(QUERIES)
    assert mi.config["method"] == "opro"
    with pytest.raises(ConfigError) as info:
        OproOptimizer(world.target(), values=world.value_set, config={"steps": 0})
    assert info.value.field == "config.steps"
    with pytest.raises(ConfigError) as info:
        OproOptimizer(FakeListLLM(responses=["x"]), values=world.value_set)  # type: ignore[arg-type]
    assert info.value.field == "target"
