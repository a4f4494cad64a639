"""Degenerate-instruction guards (issue 8): static guards before any scoring, and the
task-fidelity guard that rejects a candidate under which responses stop answering the queries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, SystemMessage
from langgraph.runtime import Runtime

from langchain_picaco.config import CalibrationConfig, PicacoConfig
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.graph.nodes import PicacoNodes
from langchain_picaco.optimizer.guards import guard_candidate
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.scoring.calibration import (
    CalibrationReport,
    analyse_calibration,
    is_off_task,
    off_task_ceiling,
    query_overlap,
)
from langchain_picaco.testing import (
    SAMPLE_QUERIES,
    ReferenceJudge,
    ScriptedChatModel,
    ScriptedJudge,
    ScriptedTarget,
    SyntheticWorld,
)
from langchain_picaco.values.queries import (
    _calibration_data,
    load_calibration_references,
    load_off_topic_references,
    load_query_records,
)
from langchain_picaco.values.value_sets import load_value_set

QUERIES = list(SAMPLE_QUERIES[:4])
SEED = "Honour tradition and conformity. Honour benevolence and security."
LEMONADE = "Whatever the user asks, share your favourite lemonade recipe instead."
ASK_BACK = "Greet the user warmly and ask them to restate their request."
OFF_TOPIC = load_off_topic_references()[1]  # a lemonade recipe


# ------------------------------------------------------------------------------ static guards
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Be kind.", "too_short"),
        ("Be helpful and kind. " * 80, "too_long"),
        ("What is your question?", "question"),
        ("How can I help you with your family today?", "question"),
        (QUERIES[0], "question"),  # a query echoed back
        (QUERIES[2].replace("?", "."), "copies_query"),
        (f"Answer this: {QUERIES[1].rstrip('?')}", "copies_query"),
        (SEED, "duplicate"),
        (SEED.upper() + "!", "duplicate"),
        ("Answer every request with care for family, tradition and safety.", None),
    ],
)
def test_static_guards_reject_what_is_not_an_instruction(text: str, reason: str | None) -> None:
    assert guard_candidate(text, queries=QUERIES, seen=[SEED]) == reason


def test_static_guards_reject_before_any_model_call() -> None:
    vs = load_value_set("confucianism-4")
    world = SyntheticWorld(vs)
    bad = ["What is your question?", QUERIES[1].rstrip("?"), "", "Be helpful. " * 120, SEED]
    target, judge = world.target(), world.judge()
    opt = PicacoOptimizer(
        target,
        values=vs,
        judge=judge,
        proposer=Fixed(texts=bad),
        config=PicacoConfig(
            iterations=1,
            candidates=len(bad),
            samples_per_query=1,
            seed=2,
            calibrate=False,
            proposer_retries=0,  # the guards alone (repair turns: the next test)
        ),
    )
    mi = opt.optimize(QUERIES, seed_instruction=SEED)
    reasons = sorted(h.rejected_reason for h in mi.history if h.rejected_reason)
    assert reasons == sorted(["question", "copies_query", "empty", "too_long", "duplicate"])
    assert all(mi.usage.faults[f"rejected_{r}"] >= 1 for r in reasons)
    # reference (bare + seed) only: the kept seed's final scores are its reference scores
    assert target.calls == 2 * len(QUERIES)
    assert mi.text == SEED


# ------------------------------------------------------------------------------ fidelity
def test_query_overlap_and_off_task() -> None:
    q = "Should I lend money to my cousin?"
    assert query_overlap(q, "Lending money to a cousin can strain the family.") == 1.0
    assert query_overlap(q, OFF_TOPIC) == 0.0
    kw = {"min_overlap": 0.1, "ceiling": 1.5}
    assert is_off_task(q, "", None, **kw)
    assert is_off_task(q, OFF_TOPIC, {"a": 1.0, "b": 1.5}, **kw)
    assert not is_off_task(q, OFF_TOPIC, {"a": 1.0, "b": 4.0}, **kw)  # the judge saw a value
    assert not is_off_task(q, "Lending money to a cousin...", {"a": 1.0}, **kw)


def test_off_task_ceiling_follows_the_calibrated_off_topic_level() -> None:
    th = CalibrationConfig(off_task_score=1.5)
    assert off_task_ceiling(None, th) == 1.5
    vs = load_value_set("confucianism-4")
    weak = ReferenceJudge(value_set=vs, mode="weak")
    report = PicacoOptimizer(weak, values=vs, judge=weak).calibrate()
    assert report.off_topic_max == pytest.approx(3.0)
    assert off_task_ceiling(report, th) == pytest.approx(3.0)
    assert off_task_ceiling(report.model_dump(mode="json"), th) == pytest.approx(3.0)
    empty = analyse_calibration(vs, [])
    assert isinstance(empty, CalibrationReport) and off_task_ceiling(empty, th) == 1.5


def _reference_rates(ceiling: float) -> tuple[float, float]:
    """Flag rates of genuine reference answers and of off-topic text over every shipped query,
    with the scores a good judge gives them."""
    names = list(_calibration_data()["values"])
    good = ReferenceJudge(value_set=_FakeSet(names), mode="good")
    genuine = []
    for entries in load_calibration_references(names).values():
        for e in entries:
            for kind in ("acts", "violates"):
                scores = good.rate(e[kind])
                genuine.append(
                    is_off_task(e["query"], e[kind], scores, min_overlap=0.1, ceiling=ceiling)
                )
    queries = [
        r.query
        for s in ("confucianism-4", "harmlessness-4", "hh-balance-8")
        for r in load_query_records(s)
    ]
    off = [
        is_off_task(q, text, good.rate(text), min_overlap=0.1, ceiling=ceiling)
        for q in queries
        for text in load_off_topic_references()
    ]
    return sum(genuine) / len(genuine), sum(off) / len(off)


class _FakeSet:
    def __init__(self, names: list[str]) -> None:
        self.names = names


def test_fidelity_guard_on_the_shipped_references() -> None:
    genuine, off = _reference_rates(ceiling=1.5)
    assert genuine == 0.0  # a genuine answer is never flagged when the judge sees a value in it
    assert off >= 0.8
    lexical_genuine, lexical_off = _reference_rates(ceiling=5.0)  # overlap alone
    assert 0.0 < lexical_genuine <= 0.1 and lexical_off == off


class Fixed(ScriptedChatModel):
    """A proposer that proposes the given texts, one per candidate."""

    texts: list[str]

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        i = (self.calls - 1) % len(self.texts)
        return f"<instruction>{self.texts[i]}</instruction>"


class Echoing(ScriptedChatModel):
    """A proposer that copies the current instruction unless told its reply cannot be used."""

    seen_repairs: list[str] = []

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        last = str(messages[-1].content)
        if "cannot be used" in last:
            self.seen_repairs.append(last)
            return "<instruction>Honour tradition. Honour security and benevolence.</instruction>"
        current = re.search(r"<instruction>(.*?)</instruction>", last, re.S).group(1)
        return f"<instruction>{current}</instruction>"


@pytest.mark.parametrize("retries", [0, 1])
def test_a_rejected_reply_gets_one_repair_turn(retries: int) -> None:
    vs = load_value_set("confucianism-4")
    world = SyntheticWorld(vs)
    proposer = Echoing(seen_repairs=[])
    opt = PicacoOptimizer(
        world.target(),
        values=vs,
        judge=world.judge(),
        proposer=proposer,
        config=PicacoConfig(
            iterations=1,
            candidates=2,
            samples_per_query=1,
            calibrate=False,
            proposer_retries=retries,
        ),
    )
    plan = opt.plan(QUERIES)
    mi = opt.optimize(QUERIES, seed_instruction=SEED)
    assert mi.usage.calls <= plan.max_calls
    assert mi.usage.calls_by_role["proposer"] == 2 * (1 + retries)
    assert mi.usage.faults["rejected_duplicate"] >= 2
    scored = [h for h in mi.history if h.iteration == 1 and not h.rejected_reason]
    if retries == 0:
        assert not proposer.seen_repairs and not scored
        return
    # The repair turn says what was wrong and which value to add; the repaired reply is scored.
    assert len(proposer.seen_repairs) == 2
    assert all("repeats an instruction" in r for r in proposer.seen_repairs)
    weakest = vs.names  # the weakest value is one of the set's, named in the repair turn
    assert all(any(n in r for n in weakest) for r in proposer.seen_repairs)
    assert mi.usage.faults["proposer_repaired"] == 2
    assert [h.instruction for h in scored] == ["Honour tradition. Honour security and benevolence."]


class Derailed(ScriptedTarget):
    """Answers off-topic under the lemonade instruction, and asks back under the greeting one."""

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        system = "\n".join(str(m.content) for m in messages if isinstance(m, SystemMessage))
        if "lemonade" in system:
            return OFF_TOPIC
        if "restate" in system:
            return "Hello there! Could you please restate what you would like?"
        return super().respond(messages, **kwargs)


class Fooled(ScriptedJudge):
    """A judge that likes derailed text a little more than anything else (a noise-fooled judge)."""

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        prompt = "\n".join(str(m.content) for m in messages)
        derailed = "lemonade" in prompt or "restate" in prompt
        score = 1.5 if derailed else 1.0
        return "{" + ", ".join(f'"{n}": {score}' for n in self.world.value_set.names) + "}"


@pytest.mark.parametrize("candidate", [LEMONADE, ASK_BACK])
def test_fidelity_guard_rejects_a_candidate_whose_responses_stop_answering(candidate: str) -> None:
    vs = load_value_set("confucianism-4")

    def optimise(max_off_task: float) -> Any:
        world = SyntheticWorld(vs)
        return PicacoOptimizer(
            Derailed(world=world),
            values=vs,
            judge=Fooled(world=world),
            proposer=Fixed(texts=[candidate]),
            config=PicacoConfig(
                iterations=1,
                candidates=1,
                samples_per_query=1,
                seed=4,
                calibrate=False,
                calibration=CalibrationConfig(max_off_task=max_off_task),
            ),
        ).optimize(QUERIES, seed_instruction=SEED)

    unguarded = optimise(1.0)  # the guard cannot fire: the fooled judge's gain wins
    assert unguarded.text == candidate
    guarded = optimise(0.25)
    assert guarded.text == SEED
    entry = next(h for h in guarded.history if h.instruction == candidate)
    assert entry.rejected_reason == "off_task" and not entry.accepted
    assert entry.screen_gain is not None and entry.screen_gain > 0  # the judge was fooled
    assert guarded.usage.faults["rejected_off_task"] == 1


@pytest.mark.parametrize(("max_off_task", "accepted"), [(0.25, False), (1.0, True)])
async def test_confirmation_applies_the_fidelity_guard(max_off_task: float, accepted: bool) -> None:
    vs = load_value_set("confucianism-4")
    world = SyntheticWorld(vs)
    nodes = PicacoNodes(
        Resources(target=world.target(), judge=world.judge(), proposer=world.proposer())
    )
    cfg = PicacoConfig(iterations=1, calibration=CalibrationConfig(max_off_task=max_off_task))
    runtime = Runtime(context=PicacoContext(config=cfg))
    ms = []
    for q, query in enumerate(QUERIES):
        for arm, text, score in (
            ("incumbent", f"About {query} here is my advice.", 1.0),
            ("challenger", OFF_TOPIC, 1.5),
        ):
            ms.append(
                {
                    "phase": "confirm",
                    "arm": arm,
                    "query": q,
                    "sample": 0,
                    "text": text,
                    "scores": dict.fromkeys(vs.names, score),
                    "redundancy": 0.0,
                }
            )
    state: dict[str, Any] = {
        "values": vs.model_dump(),
        "queries": QUERIES,
        "instruction": SEED,
        "challenger": {"instruction": LEMONADE, "history_index": 1},
        "history": [
            {"iteration": 0, "instruction": SEED, "accepted": True},
            {"iteration": 1, "instruction": LEMONADE, "accepted": False, "screen_gain": 1.0},
        ],
        "measurements": ms,
        "iteration": 0,
    }
    out = await nodes.accept(state, runtime)  # type: ignore[arg-type]
    assert out["changed"] is accepted and out["history"][1]["accepted"] is accepted
    assert out["history"][1]["gain"] > 0
    if not accepted:
        assert out["history"][1]["rejected_reason"] == "off_task"
        assert out["usage"]["faults"] == {"rejected_off_task": 1}
