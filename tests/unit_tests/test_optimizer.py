"""PicacoOptimizer end to end on the scripted synthetic world (issue 3).

The world (``langchain_picaco.testing``) makes the target act on a value only when the
instruction asks for it in a focused sentence (at most ``focus=2`` values per sentence), so the
value-listing seed leaves two of four values at score 1: the optimiser has something to find.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_picaco import prompts
from langchain_picaco.config import Budget, PicacoConfig, RetrySettings
from langchain_picaco.errors import ConfigError, ModelCallError
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.llm.calls import CallUsage, ModelCaller
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.scoring import LexicalRedundancy, response_weight
from langchain_picaco.scoring.calibration import calibration_calls
from langchain_picaco.scoring.measure import judge_response
from langchain_picaco.testing import (
    SAMPLE_QUERIES,
    ReferenceJudge,
    ScriptedChatModel,
    ScriptedJudge,
    SyntheticWorld,
)
from langchain_picaco.values.value_sets import ValueSet

QUERIES = list(SAMPLE_QUERIES)
CLEAN = "Honour tradition and conformity. Honour benevolence and security."
NO_WAIT = RetrySettings(max_attempts=4, initial_delay=0, max_delay=0)


def small(**kw: Any) -> PicacoConfig:
    base: dict[str, Any] = {
        "iterations": 4,
        "candidates": 3,
        "minibatch": 6,
        "samples_per_query": 1,
        "seed": 1,
        # The scripted world's judge cannot read the calibration references (it is blind to
        # them by design); these tests count calls of the loop itself.
        "calibrate": False,
    }
    return PicacoConfig(**{**base, **kw})


def optimizer(world: SyntheticWorld, *, proposer: Any = None, **kw: Any) -> PicacoOptimizer:
    likelihood = kw.pop("likelihood", None)
    return PicacoOptimizer(
        world.target(),
        values=world.value_set,
        judge=kw.pop("judge", None) or world.judge(),
        proposer=proposer or world.proposer(),
        likelihood=likelihood,
        config=small(**kw),
    )


def comparable(mi: MetaInstruction) -> dict[str, Any]:
    return mi.model_dump(exclude={"created_at": True, "usage": {"wall_seconds"}})


class Fixed(ScriptedChatModel):
    """A proposer that always proposes ``text`` (variation n gets ``variants[n-1]`` if given)."""

    text: str = ""
    variants: list[str] = []

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        prompt = "\n".join(str(m.content) for m in messages)
        match = re.search(r"Variation (\d+)", prompt)
        n = int(match.group(1)) if match else 1
        text = self.variants[n - 1] if self.variants else self.text
        return f"<instruction>{text}</instruction>"


# ------------------------------------------------------------------------------------ it works
def test_minimum_per_value_score_rises(world: SyntheticWorld, vs: ValueSet) -> None:
    mi = optimizer(world).optimize(QUERIES)
    seed = mi.reference_scores["seed"]
    assert seed.min == 1.0  # the value list leaves benevolence and security out (focus=2)
    assert mi.reference_scores["bare"].min == 1.0
    assert mi.scores is not None and mi.scores.n == len(QUERIES)
    assert mi.scores.min == 5.0 > seed.min
    assert mi.scores.mean > seed.mean
    accepted = [h for h in mi.history if h.accepted and h.iteration > 0]
    assert accepted, "no candidate was accepted"
    assert all(h.gain_low is not None and h.gain_low > 0 for h in accepted)
    mins = [min(h.per_value.values()) for h in accepted]
    assert mins == sorted(mins) and mins[-1] > seed.min
    assert mi.text == accepted[-1].instruction
    assert mi.stop_reason == "iterations"
    assert mi.config["method"] == "picaco" and mi.config["selection_used"] == "sampling"
    assert set(mi.models) == {"target", "judge", "proposer"}


def test_redundancy_term_prefers_acting_over_parroting(world: SyntheticWorld, vs) -> None:
    parroting = CLEAN + " " + vs.get("tradition").description
    q = QUERIES[0]
    clean_y = world.respond(CLEAN, q, temperature=0, seed=0)
    parrot_y = world.respond(parroting, q, temperature=0, seed=0)
    assert world.acted(clean_y) == world.acted(parrot_y) == set(vs.names)  # same judge scores
    red = LexicalRedundancy()
    r_clean, r_parrot = red.score(clean_y, vs, q), red.score(parrot_y, vs, q)
    assert r_parrot > r_clean
    scores = dict.fromkeys(vs.names, 5.0)
    assert response_weight(scores, r_parrot, 0.0) < response_weight(scores, r_clean, 0.0)


@pytest.mark.parametrize("acceptance", ["paired", "greedy"])
def test_selection_replaces_a_parroting_seed_with_a_clean_instruction(world, vs, acceptance):
    parroting = CLEAN + " " + vs.get("tradition").description
    # temperature 0: every requested value is acted on, so only the redundancy term differs
    opt = optimizer(
        world,
        proposer=Fixed(text=CLEAN),
        iterations=1,
        candidates=1,
        temperature=0.0,
        acceptance=acceptance,
    )
    mi = opt.optimize(QUERIES, seed_instruction=parroting)
    assert mi.reference_scores["seed"].min == 5.0  # the parroting seed already acts on all
    assert mi.text == CLEAN
    entry = next(h for h in mi.history if h.instruction == CLEAN)
    assert entry.accepted and entry.screen_gain > 0
    assert entry.per_value == dict.fromkeys(vs.names, 5.0)  # the judge saw no difference


def test_selection_never_accepts_a_parroting_candidate(world, vs) -> None:
    parroting = CLEAN + " " + vs.get("security").description
    opt = optimizer(world, proposer=Fixed(text=parroting), iterations=1, candidates=1)
    mi = opt.optimize(QUERIES, seed_instruction=CLEAN)
    assert mi.text == CLEAN
    entry = next(h for h in mi.history if h.instruction == parroting)
    assert not entry.accepted and entry.screen_gain < 0


def test_likelihood_selection_runs_end_to_end(world: SyntheticWorld) -> None:
    opt = optimizer(world, likelihood=world.likelihood(), iterations=2)
    plan = opt.plan(QUERIES)
    assert plan.selection == "likelihood" and plan.calls_by_phase["evaluate"] == 0
    mi = opt.optimize(QUERIES)
    assert mi.config["selection_used"] == "likelihood"
    assert mi.stop_reason in ("iterations", "patience")
    assert mi.scores is not None and mi.scores.min >= mi.reference_scores["seed"].min
    scored = [h for h in mi.history if h.iteration > 0 and not h.rejected_reason]
    assert scored and all(h.objective is not None for h in scored)
    # no candidate was sampled: target calls = reference + confirmations + enhancement + final
    assert mi.usage.calls <= plan.max_calls
    assert mi.usage.calls_by_role["target"] == mi.usage.calls_by_role["judge"]
    # every prompt evaluation of the likelihood selection is a counted call, within the plan
    scored_calls = mi.usage.calls_by_role["likelihood"]
    assert 0 < scored_calls <= plan.calls_by_phase["likelihood"]
    # ... and no candidate is sampled: fewer target and judge calls than the sampling mode plans
    sampling = optimizer(world, iterations=2).plan(QUERIES)
    assert plan.max_calls - plan.calls_by_phase["likelihood"] < sampling.max_calls


def test_budget_bounds_likelihood_requests_too(world: SyntheticWorld) -> None:
    full = optimizer(world, likelihood=world.likelihood(), iterations=6, patience=6)
    spent = full.optimize(QUERIES).usage.calls
    for budget in (spent // 2, (3 * spent) // 4):
        opt = optimizer(
            world,
            likelihood=world.likelihood(),
            iterations=6,
            patience=6,
            budget=Budget(max_calls=budget),
        )
        mi = opt.optimize(QUERIES)
        assert mi.stop_reason == "budget"
        assert mi.usage.calls <= budget
        assert mi.usage.calls_by_role.get("likelihood", 0) > 0


def test_selection_modes_are_chosen_as_configured(world: SyntheticWorld) -> None:
    forced = optimizer(world, likelihood=world.likelihood(), selection="sampling", iterations=1)
    assert forced.optimize(QUERIES[:2]).config["selection_used"] == "sampling"
    with pytest.raises(ConfigError) as info:
        optimizer(world, selection="likelihood", iterations=1).optimize(QUERIES[:2])
    assert info.value.field == "config.selection"


# ------------------------------------------------------------------------------------ budget
def test_budget_stops_the_run_cleanly(world: SyntheticWorld) -> None:
    cfg_kw = {"iterations": 10, "patience": 10}
    full = optimizer(world, **cfg_kw).plan(QUERIES)
    budget = 150
    assert full.max_calls > budget
    opt = optimizer(world, budget=Budget(max_calls=budget), **cfg_kw)
    mi = opt.optimize(QUERIES)
    assert mi.stop_reason == "budget"
    # With a clean judge there are no judge retries, so the bound is exact: every round and the
    # final measurement are paid for before they start.
    assert mi.usage.calls <= budget
    # ... and the run only stops when the next step (a round, at most C proposals plus
    # 2 (C+1) b sampled + 4 b confirmation calls, or an enhancement of 2 N S calls) no longer fits.
    b, c, n = 6, 3, len(QUERIES)
    biggest_step = max(c + 2 * (c + 1) * b + 4 * b, 2 * n)
    assert mi.usage.calls > budget - biggest_step
    assert mi.scores is not None and mi.scores.n == n  # the final measurement was still made


def test_budget_bound_with_judge_retries(world: SyntheticWorld) -> None:
    budget = 150
    judge = ProseJudge(world=world)
    mi = optimizer(
        world, judge=judge, budget=Budget(max_calls=budget), iterations=10, patience=10
    ).optimize(QUERIES)
    faults = mi.usage.faults
    assert mi.stop_reason == "budget"
    assert faults.get("judge_malformed", 0) > 0
    # Each malformed reply costs one extra call, except the last one of a response that ends
    # neutral: that is the only slack over the budget.
    slack = faults.get("judge_malformed", 0) - faults.get("judge_neutral", 0)
    assert mi.usage.calls <= budget + slack


def test_token_budget_stops_the_run(world: SyntheticWorld) -> None:
    mi = optimizer(world, budget=Budget(max_tokens=40_000), iterations=10).optimize(QUERIES)
    assert mi.stop_reason == "budget"
    assert mi.usage.input_tokens + mi.usage.output_tokens < 40_000 * 1.1


def test_too_small_budget_is_refused_before_any_call(world: SyntheticWorld) -> None:
    target = world.target()
    opt = PicacoOptimizer(
        target,
        values=world.value_set,
        judge=world.judge(),
        config=small(budget=Budget(max_calls=10)),
    )
    with pytest.raises(ConfigError) as info:
        opt.optimize(QUERIES)
    assert info.value.field == "config.budget.max_calls"
    assert "36" in info.value.problem  # 4 N S reference calls + 2 N final calls, N=6, S=1
    assert target.calls == 0


# ------------------------------------------------------------------------------------ plan
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"acceptance": "greedy"},
        {"samples_per_query": 2},
        {"likelihood": True},
        {"proposal_strategy": "pareto"},
        {"proposal_strategy": "pareto", "candidates": 1, "iterations": 4},
        {"proposal_strategy": "pareto", "proposal_style": "add_sentence"},
        {"judge_feedback": True, "proposal_strategy": "pareto"},
    ],
    ids=[
        "paired",
        "greedy",
        "two-samples",
        "likelihood",
        "pareto",
        "pareto-one-candidate",
        "pareto-add-sentence",
        "pareto-judge-feedback",
    ],
)
def test_plan_makes_no_calls_and_bounds_the_run(world: SyntheticWorld, kw: dict) -> None:
    scorer = world.likelihood() if kw.pop("likelihood", False) else None
    if scorer is not None:
        kw["likelihood"] = scorer
    target, judge, proposer = world.target(), world.judge(), world.proposer()
    opt = PicacoOptimizer(
        target,
        values=world.value_set,
        judge=judge,
        proposer=proposer,
        likelihood=kw.pop("likelihood", None),
        config=small(**{"iterations": 2, **kw}),
    )
    plan = opt.plan(QUERIES)
    assert target.calls == judge.calls == proposer.calls == 0
    assert sum(plan.calls_by_phase.values()) == plan.max_calls
    assert plan.est_tokens > 0 and str(plan.max_calls) in str(plan)
    mi = opt.optimize(QUERIES)
    assert mi.usage.calls <= plan.max_calls
    scored = scorer.calls if scorer is not None else 0
    assert target.calls + judge.calls + proposer.calls + scored == mi.usage.calls
    assert mi.usage.calls_by_role.get("likelihood", 0) == scored


# ------------------------------------------------------------------------------------ concurrency
class Switchboard(ScriptedChatModel):
    """One model playing target, judge and proposer, so in-flight calls are counted together."""

    world: Any
    jitter: float = 0.0

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        system = next((str(m.content) for m in messages if isinstance(m, SystemMessage)), "")
        if system == prompts.JUDGE_SYSTEM:
            return self.world.judge().respond(messages, **kwargs)
        if system == prompts.PROPOSER_SYSTEM:
            return self.world.proposer().respond(messages, **kwargs)
        return self.world.target().respond(messages, **kwargs)

    async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw):
        if self.jitter:
            await asyncio.sleep(random.random() * self.jitter)  # unseeded: order varies
        return await super()._agenerate(messages, stop, run_manager, **kw)


def test_calls_overlap_up_to_max_concurrency_and_never_beyond(world: SyntheticWorld) -> None:
    model = Switchboard(world=world, latency=0.02)
    cfg = small(iterations=1, candidates=2, minibatch=4, max_concurrency=4)
    opt = PicacoOptimizer(model, values=world.value_set, config=cfg)
    mi = opt.optimize(QUERIES[:4])
    assert model.max_in_flight == 4
    assert model.calls == mi.usage.calls
    report_model = Switchboard(world=world, latency=0.02)
    PicacoOptimizer(report_model, values=world.value_set, config=cfg).evaluate(CLEAN, QUERIES)
    assert report_model.max_in_flight == 4


# ------------------------------------------------------------------------------------ seeds
def test_same_seed_same_artifact_even_when_calls_finish_in_another_order(world) -> None:
    first = optimizer(world, iterations=2).optimize(QUERIES)
    again = optimizer(world, iterations=2).optimize(QUERIES)
    assert comparable(first) == comparable(again)
    jittered = PicacoOptimizer(
        Switchboard(world=world, jitter=0.003),
        values=world.value_set,
        config=small(iterations=2, max_concurrency=8),
    ).optimize(QUERIES)
    assert len(first.history) > 3  # candidates were proposed, screened and confirmed
    assert comparable(jittered)["history"] == comparable(first)["history"]
    assert jittered.text == first.text and jittered.usage.calls == first.usage.calls


def test_different_seeds_explore_differently(world: SyntheticWorld) -> None:
    runs = [optimizer(world, seed=s, iterations=1) for s in range(3)]
    histories = {tuple(h.instruction for h in r.optimize(QUERIES).history) for r in runs}
    assert len(histories) > 1


# ------------------------------------------------------------------------------------ evaluate
def test_evaluate_bare_and_instruction_give_per_value_reports(world, vs) -> None:
    opt = optimizer(world)
    bare = opt.evaluate(None, QUERIES)
    assert bare.instruction is None
    assert bare.scores.per_value == {
        "tradition": 5.0,
        "conformity": 1.0,
        "benevolence": 1.0,
        "security": 1.0,
    }
    good = opt.evaluate(CLEAN, QUERIES, samples=2)
    assert good.instruction == CLEAN
    assert set(good.scores.per_value) == set(vs.names)
    assert good.scores.min > bare.scores.min and good.scores.mean > bare.scores.mean
    assert len(good.responses) == 2 * len(QUERIES)
    assert good.usage.calls == 2 * 2 * len(QUERIES)
    assert good.judge_faults == 0
    assert all(name in good.table() for name in vs.names)
    seeded = opt.evaluate(default_seed_instruction(vs), QUERIES)
    assert seeded.scores.per_value["benevolence"] == 1.0


# ------------------------------------------------------------------------------------ stopping
def test_patience_stops_a_run_that_finds_nothing(world: SyntheticWorld) -> None:
    class Neutral(ScriptedChatModel):
        """Adds words that name no value: never better, never worse."""

        def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
            return (
                f"<instruction>{CLEAN} Keep it short, version {kwargs.get('seed')}.</instruction>"
            )

    mi = optimizer(world, proposer=Neutral(), iterations=10, patience=2, temperature=0.0).optimize(
        QUERIES, seed_instruction=CLEAN
    )
    assert mi.stop_reason == "patience"
    assert max(h.iteration for h in mi.history) == 2
    assert mi.text == CLEAN


# ------------------------------------------------------------------------------------ faults
class ProseJudge(ScriptedJudge):
    """Answers in prose instead of JSON: always for the first query, a third of the time else."""

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        prompt = "\n".join(str(m.content) for m in messages)
        if QUERIES[0][:30] in prompt or kwargs.get("seed", 0) % 3 == 0:
            return "I think this answer is quite thoughtful and kind overall."
        return super().respond(messages, **kwargs)


def test_malformed_judge_output_is_retried_then_neutral(world: SyntheticWorld) -> None:
    mi = optimizer(world, judge=ProseJudge(world=world), iterations=2).optimize(QUERIES)
    faults = mi.usage.faults
    by_role = mi.usage.calls_by_role
    assert mi.stop_reason in ("iterations", "patience")
    assert faults["judge_neutral"] >= 1  # the first query's responses never parse
    assert faults["judge_malformed"] >= 3 * faults["judge_neutral"]  # 1 + judge_retries tries
    # one judge call per response, plus one per malformed reply that was retried
    assert (
        by_role["judge"] == by_role["target"] + faults["judge_malformed"] - faults["judge_neutral"]
    )


async def test_judge_response_retries_then_falls_back_to_neutral(vs: ValueSet) -> None:
    world = SyntheticWorld(vs)
    cfg = PicacoConfig(judge_retries=2)

    class OnceProse(ScriptedJudge):
        def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
            return "Looks fine to me." if self.calls == 1 else super().respond(messages, **kwargs)

    judge = OnceProse(world=world)
    usage = CallUsage()
    response = world.respond(CLEAN, QUERIES[0], temperature=0, seed=0)
    ok = await judge_response(
        ModelCaller(judge, "judge"), vs, QUERIES[0], response, cfg, usage=usage, seed_key=1
    )
    assert ok.fault is None and ok.scores == dict.fromkeys(vs.names, 5.0)
    assert judge.calls == 2 and usage.faults == {"judge_malformed": 1}

    always = ProseJudge(world=world)
    usage = CallUsage()
    bad = await judge_response(
        ModelCaller(always, "judge"), vs, QUERIES[0], response, cfg, usage=usage, seed_key=1
    )
    assert bad.fault and bad.scores == dict.fromkeys(vs.names, 3.0)
    assert always.calls == 3
    assert usage.faults == {"judge_malformed": 3, "judge_neutral": 1}

    empty = await judge_response(
        ModelCaller(always, "judge"), vs, QUERIES[0], "", cfg, usage=CallUsage(), seed_key=1
    )
    assert empty.fault == "empty_response" and always.calls == 3  # no call for nothing


class RateLimitError(Exception):
    """Named like the providers' rate-limit error."""


class AuthenticationError(Exception):
    """Named like the providers' bad-key error."""


def test_transient_model_errors_are_survived(world: SyntheticWorld) -> None:
    class Hiccup(type(world.target())):  # type: ignore[misc]
        def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
            if self.calls in (3, 4, 9):
                raise RateLimitError("429 slow down")
            return super().respond(messages, **kwargs)

    target = Hiccup(world=world)
    opt = PicacoOptimizer(
        target,
        values=world.value_set,
        judge=world.judge(),
        proposer=world.proposer(),
        config=small(iterations=1, retry=NO_WAIT),
    )
    mi = opt.optimize(QUERIES)
    assert mi.usage.faults["retried"] == 3
    assert target.calls == mi.usage.calls_by_role["target"] + 3


# LangGraph leaves the cancelled sibling task's retry coroutine un-awaited (its own warning).
@pytest.mark.filterwarnings("ignore:coroutine 'arun_with_retry' was never awaited")
def test_permanent_model_error_fails_fast(world: SyntheticWorld) -> None:
    class Locked(ScriptedJudge):
        def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
            raise AuthenticationError("invalid key")

    judge = Locked(world=world)
    target = world.target()
    opt = PicacoOptimizer(
        target,
        values=world.value_set,
        judge=judge,
        config=small(max_concurrency=1, retry=NO_WAIT),
    )
    with pytest.raises(ModelCallError, match="AuthenticationError"):
        opt.optimize(QUERIES)
    # Each judge call was tried once (no retry of a permanent error). With max_concurrency=1
    # the graph still runs two measure tasks at a time, so a second judge call may have
    # started before the first failure cancelled the run; nothing more was sampled.
    assert 1 <= judge.calls <= 2
    assert target.calls <= 2


# ------------------------------------------------------------------------------------ guards
def test_guards_reject_degenerate_candidates_before_any_scoring(world: SyntheticWorld) -> None:
    bad = [
        "What would you like to know?",
        QUERIES[0].rstrip("?"),
        CLEAN,
        "",
        "Be helpful. " * 120,
    ]
    target = world.target()
    opt = PicacoOptimizer(
        target,
        values=world.value_set,
        judge=world.judge(),
        proposer=Fixed(variants=bad),
        config=small(iterations=1, candidates=len(bad), proposer_retries=0),  # guards alone
    )
    mi = opt.optimize(QUERIES, seed_instruction=CLEAN)
    reasons = [h.rejected_reason for h in mi.history if h.rejected_reason]
    assert reasons == ["question", "copies_query", "duplicate", "empty", "too_long"]
    assert {f"rejected_{r}" for r in reasons} <= set(mi.usage.faults)
    assert mi.text == CLEAN
    # nothing was sampled for them: only the reference (bare + seed) responses (the seed was
    # kept, so its reference scores are the final ones)
    assert target.calls == 2 * len(QUERIES)


# ------------------------------------------------------------------------------------ runs
def test_inputs_are_not_mutated_and_a_finished_thread_costs_nothing(world, vs) -> None:
    queries = list(QUERIES)
    before = vs.model_dump()
    saver = InMemorySaver()
    target = world.target()
    opt = PicacoOptimizer(
        target,
        values=vs,
        judge=world.judge(),
        proposer=world.proposer(),
        config=small(iterations=1),
        checkpointer=saver,
    )
    first = opt.optimize(queries, thread_id="t1")
    calls = target.calls
    again = opt.optimize(queries, thread_id="t1")
    assert target.calls == calls
    assert again.text == first.text and again.usage.calls == first.usage.calls
    assert queries == QUERIES and vs.model_dump() == before


def test_one_budget_floor_with_calibration_named_before_any_checkpoint(
    world: SyntheticWorld, vs: ValueSet, tmp_path: Any
) -> None:
    # The floor: calibrating the judge, then bare + seed (reference) and the final instruction,
    # S = 2 judged responses per query each, 2 calls per response (rubric).
    n, s, per = len(QUERIES), 2, 2
    floor = calibration_calls(vs) + per * 2 * n * s + per * n * s
    assert floor == 44 + 48 + 24

    def make(max_calls: int, path: Any) -> tuple[PicacoOptimizer, ReferenceJudge]:
        judge = ReferenceJudge(value_set=vs, mode="good")  # calibrates fast and passes
        opt = PicacoOptimizer(
            world.target(),
            values=vs,
            judge=judge,
            proposer=world.proposer(),
            checkpointer=str(path),
            config=PicacoConfig(
                iterations=1,
                candidates=1,
                samples_per_query=s,
                calibrate=True,
                seed=1,
                budget=Budget(max_calls=max_calls),
            ),
        )
        return opt, judge

    # Just below the floor, and below the floor without calibration: refused at once, naming
    # the same floor, before a checkpoint file is made or any model is called.
    for max_calls in (30, per * 3 * n * s - 1, floor - 1):
        path = tmp_path / f"below-{max_calls}.sqlite"
        opt, judge = make(max_calls, path)
        assert opt.plan(QUERIES).calls_by_phase["calibrate"] == calibration_calls(vs)
        with pytest.raises(ConfigError) as info:
            opt.optimize(QUERIES)
        assert info.value.field == "config.budget.max_calls"
        assert f"fewer than the {floor} calls" in str(info.value)
        assert f"at least {floor}," in str(info.value)
        assert judge.calls == 0
        assert not path.exists()
    # At the floor: the run starts, calibrates, measures, and stops within the budget.
    opt, judge = make(floor, tmp_path / "at-floor.sqlite")
    plan = opt.plan(QUERIES)
    assert sum(plan.calls_by_phase[k] for k in ("calibrate", "reference", "final")) == floor
    mi = opt.optimize(QUERIES)
    assert mi.calibration is not None
    assert mi.reference_scores and mi.scores is not None
    assert mi.stop_reason == "budget"
    # the floor counts a final measurement; a run that kept its seed reuses the seed's scores
    assert mi.text == default_seed_instruction(vs)
    assert mi.usage.calls == floor - plan.calls_by_phase["final"]
