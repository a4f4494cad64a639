"""The optimiser graph's parts: wiring, guards, statistics, pools, likelihood objective, steps."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, SystemMessage
from langgraph.runtime import Runtime

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.graph.builder import (
    _STEPS_OUTSIDE_ROUNDS,
    MAX_ITERATIONS,
    STEPS_PER_ROUND,
    build_graph,
    recursion_limit,
)
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.graph.nodes import PicacoNodes
from langchain_picaco.optimizer.graph.state import RESET, merge_usage, reset_or_extend
from langchain_picaco.optimizer.guards import (
    MAX_INSTRUCTION_CHARS,
    guard_candidate,
    parse_candidate,
)
from langchain_picaco.optimizer.pools import merge_pool, weakest_value
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.scoring.stats import paired_gain, summarize_scores, t_quantile
from langchain_picaco.testing import ScriptedChatModel, ScriptedLikelihood, SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet, load_value_set

DOCS_GRAPH = Path(__file__).resolve().parents[2] / "docs" / "graph.mmd"
NODES = [
    "prepare",
    "calibrate",
    "measure",
    "collect",
    "update_pools",
    "propose",
    "select",
    "accept",
    "decide",
    "budget_stop",
    "finish",
]


def _resources(world: SyntheticWorld, **kw: Any) -> Resources:
    return Resources(target=world.target(), judge=world.judge(), proposer=world.proposer(), **kw)


# ------------------------------------------------------------------------------------ wiring
def test_mermaid_names_every_node_and_docs_copy_is_current(world: SyntheticWorld) -> None:
    mermaid = build_graph(_resources(world)).get_graph().draw_mermaid()
    declared = set(re.findall(r"^\s*(\w+)\(", mermaid, re.M))
    assert declared == {"__start__", "__end__", *NODES}
    for node in NODES:
        assert re.search(rf"\b{node}\s+-\.?->|-\.?->\s+{node}\b", mermaid), node
    assert DOCS_GRAPH.read_text() == mermaid, (
        "docs/graph.mmd is stale: regenerate it with "
        "build_graph(Resources(...)).get_graph().draw_mermaid()"
    )


def test_compiled_graph_carries_a_recursion_limit_for_the_longest_run(world) -> None:
    graph = build_graph(_resources(world))
    assert graph.config["recursion_limit"] == recursion_limit(
        PicacoConfig(iterations=MAX_ITERATIONS, confirm_looks=4)
    )
    with pytest.raises(ValueError):
        PicacoConfig(iterations=MAX_ITERATIONS + 1)


class FocusedProposer(ScriptedChatModel):
    """Always adds a focused sentence for the weakest value it is shown (no bad edits)."""

    world: Any

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        prompt = "\n".join(str(m.content) for m in messages)
        current = re.search(r"<instruction>(.*?)</instruction>", prompt, re.S).group(1).strip()
        weakest = re.search(r"WEAKEST VALUE:\s*([\w\- ]+)", prompt).group(1).strip()
        return f"<instruction>{current} Put {self.world.trigger(weakest)} first.</instruction>"


async def test_every_round_accepted_fits_the_recursion_limit() -> None:
    # One new value per round for nine rounds: every round takes the longest path (screen,
    # confirm, accept, enhance). The old limit (50 + 12 T with separate sample/score steps)
    # raised GraphRecursionError here.
    vs = load_value_set("schwartz-10")
    world = SyntheticWorld(vs, focus=1, hit_rate=1.0)
    cfg = PicacoConfig(iterations=10, candidates=1, minibatch=4, samples_per_query=1, patience=10)
    graph = build_graph(
        Resources(target=world.target(), judge=world.judge(), proposer=FocusedProposer(world=world))
    )
    # 5 queries, minibatch 4: the screen is not a first look, so every round confirms.
    queries = [f"Question {i}: should I move abroad for work?" for i in range(5)]
    limit = _STEPS_OUTSIDE_ROUNDS + STEPS_PER_ROUND * cfg.iterations
    steps: set[int] = set()
    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(
        {"value_set": vs.model_dump(), "queries": queries},
        {"recursion_limit": limit},
        context=PicacoContext(config=cfg),
        stream_mode=["debug", "values"],
    ):
        if mode == "debug":
            steps.add(chunk["step"])
        else:
            final = chunk
    accepted = [h for h in final["history"][1:] if h["accepted"]]
    assert len(accepted) == 9
    assert final["final_scores"]["min"] == 5.0
    assert max(steps) >= STEPS_PER_ROUND * len(accepted)  # the constant is not too large
    assert max(steps) <= limit


async def test_stream_reports_progress_events(world: SyntheticWorld, vs: ValueSet) -> None:
    graph = build_graph(_resources(world))
    cfg = PicacoConfig(iterations=1, candidates=2, minibatch=2, samples_per_query=1)
    events: list[dict[str, Any]] = []
    async for chunk in graph.astream(
        {"value_set": "confucianism-4", "queries": ["Should I move abroad for work?"] * 1},
        context=PicacoContext(config=cfg),
        stream_mode="custom",
    ):
        events.append(chunk)
    kinds = {e.get("event") for e in events}
    assert {"sampled", "scored", "proposed"} <= kinds
    assert events[-1] == {"phase": "done", "stop_reason": "iterations"}
    assert any(e.get("phase") == "round" for e in events)


# ------------------------------------------------------------------------------------ guards
QUERIES = ["Should I move abroad for work or stay near my family?", "How do I plan a wedding?"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("Be nice.", "too_short"),
        ("x" * (MAX_INSTRUCTION_CHARS + 1), "too_long"),
        ("What is your question?", "question"),
        ("How can I help you today with your plans?", "question"),
        ("Please tell me what you would like to know?", "question"),
        ("Should I move abroad for work or stay near my family", "copies_query"),
        ("My question: should I move abroad for work or stay near my family.", "copies_query"),
        ("Respond with care for tradition and for the family.", None),
        ("Help the user; which option is safer is worth saying. Be kind.", None),
    ],
)
def test_guard_reasons(text: str, reason: str | None) -> None:
    assert guard_candidate(text, queries=QUERIES, seen=[]) == reason


def test_guard_rejects_duplicates_up_to_case_spacing_and_punctuation() -> None:
    seen = ["Respond with care for tradition, and for the family."]
    assert (
        guard_candidate(
            "respond  with care for TRADITION and for the family", queries=[], seen=seen
        )
        == "duplicate"
    )
    assert (
        guard_candidate("Respond with care for tradition and security.", queries=[], seen=seen)
        is None
    )


def test_guard_short_queries_do_not_count_as_copies() -> None:
    # a 3-word query is too short to tell a copy from normal reuse of its words
    assert (
        guard_candidate(
            "Plan a wedding with care for the family.", queries=["Plan a wedding"], seen=[]
        )
        is None
    )


def test_parse_candidate() -> None:
    assert (
        parse_candidate("Sure!\n<instruction> Be kind to all. </instruction> done")
        == "Be kind to all."
    )
    assert parse_candidate("<INSTRUCTION>unterminated text") == "unterminated text"
    assert parse_candidate('"Just the text."') == "Just the text."


# ------------------------------------------------------------------------------------ statistics
def test_t_quantile_matches_tables() -> None:
    assert t_quantile(0.975, 10) == pytest.approx(2.228, abs=2e-3)
    assert t_quantile(0.95, 5) == pytest.approx(2.015, abs=5e-3)
    assert t_quantile(0.995, 30) == pytest.approx(2.750, abs=2e-3)
    assert t_quantile(0.975, 1000) == pytest.approx(1.962, abs=2e-3)


@pytest.mark.parametrize(
    ("alpha", "df", "expected"),
    [(0.0025, 1, 127.32), (0.0025, 2, 14.089), (0.025, 4, 2.776)],
)
def test_paired_gain_uses_the_exact_t_quantile_at_small_df(
    alpha: float, df: int, expected: float
) -> None:
    # Differences with mean 0 and standard deviation sqrt(n): the half-width of the interval is
    # then exactly t(1 - alpha, n - 1). Known table values, not the code compared with itself
    # (the old Cornish-Fisher series gave 65.3 and 13.1 at df = 1 and 2).
    n = df + 1
    base = [float(i) - (n - 1) / 2 for i in range(n)]  # mean 0
    sd = math.sqrt(sum(b * b for b in base) / (n - 1))
    diffs = [b * math.sqrt(n) / sd for b in base]
    mean, low, high = paired_gain(diffs, alpha)
    assert mean == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(expected, rel=2e-4)
    assert low == pytest.approx(-expected, rel=2e-4)


def test_paired_gain() -> None:
    mean, low, high = paired_gain([1.0, 2.0, 3.0, 4.0], 0.025)
    half = t_quantile(0.975, 3) * math.sqrt(5 / 3) / 2
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - half, 2.5 + half))
    assert paired_gain([2.0, 2.0, 2.0], 0.01) == (2.0, 2.0, 2.0)
    assert paired_gain([3.0], 0.05) == (3.0, -math.inf, math.inf)
    assert paired_gain([], 0.05) == (0.0, -math.inf, math.inf)
    # a smaller alpha widens the interval
    assert paired_gain([1.0, 2.0, 4.0], 0.001)[1] < paired_gain([1.0, 2.0, 4.0], 0.05)[1]


def test_summarize_scores() -> None:
    ms = [
        {"scores": {"a": 5.0, "b": 1.0}},
        {"scores": {"a": 3.0, "b": 3.0}},
    ]
    s = summarize_scores(ms, ["a", "b"])  # type: ignore[arg-type]
    assert s["per_value"] == {"a": 4.0, "b": 2.0}
    assert (s["mean"], s["min"], s["std"], s["n"]) == (3.0, 2.0, 1.0, 2)
    empty = summarize_scores([], ["a"])
    assert empty["n"] == 0 and math.isnan(empty["mean"])


def test_weakest_breaks_ties_by_seed_not_by_order() -> None:
    names = ["a", "b", "c", "d"]
    assert weakest_value({"a": 5.0, "b": 2.0, "c": 3.0, "d": 4.0}, names, 0) == "b"
    assert weakest_value({}, names, 0) == "a"
    tied = {"a": 5.0, "b": 1.0, "c": 1.0, "d": 1.0}
    picks = {weakest_value(tied, names, seed) for seed in range(40)}
    assert picks == {"b", "c", "d"}
    assert weakest_value(tied, names, 3) == weakest_value(tied, names, 3)


# ------------------------------------------------------------------------------------ pools
def _m(q: int, text: str, weight: float) -> dict[str, Any]:
    return {"query": q, "text": text, "weight": weight}


def test_merge_pool_keeps_best_distinct_and_does_not_mutate() -> None:
    pool = {"0": [_m(0, "a", 1.0)]}
    new = [_m(0, "b", 3.0), _m(0, "a", 9.0), _m(0, "c", 2.0), _m(1, "d", -1.0)]
    out = merge_pool(pool, new, size=2)  # type: ignore[arg-type]
    assert [m["text"] for m in out["0"]] == ["b", "c"]
    assert [m["text"] for m in out["1"]] == ["d"]
    assert pool == {"0": [_m(0, "a", 1.0)]}


def test_reducers() -> None:
    assert reset_or_extend([1, 2], [3]) == [1, 2, 3]
    assert reset_or_extend([1, 2], RESET) == []
    assert reset_or_extend(None, None) == []
    merged = merge_usage(
        {"calls": 2, "calls_by_role": {"target": 2}},
        {"calls": 1, "calls_by_role": {"target": 1, "judge": 1}, "faults": {"x": 1}},
    )
    assert merged == {"calls": 3, "calls_by_role": {"target": 3, "judge": 1}, "faults": {"x": 1}}


def test_default_seed_instruction_lists_every_value(vs: ValueSet) -> None:
    seed = default_seed_instruction(vs)
    assert all(name in seed for name in vs.names)


# ------------------------------------------------------------------------------------ likelihood J
class ShiftedLikelihood:
    """The world's likelihood, minus ``shift`` for every response under a marked instruction."""

    def __init__(self, world: SyntheticWorld, shift: float) -> None:
        self.base = ScriptedLikelihood(world)
        self.shift = shift

    async def ascore(self, messages: Sequence[BaseMessage], response: str) -> float:
        system = " ".join(str(m.content) for m in messages if isinstance(m, SystemMessage))
        return self.base.score(messages, response) - (self.shift if "MARKER" in system else 0.0)


def _pool_state(world: SyntheticWorld, instruction: str, noisy_instruction: str | None = None):
    q = "Should I move abroad for work or stay near my family?"
    full = world.respond(instruction, q, temperature=0, seed=0)  # acts on tradition + conformity
    partial = world.respond("Honour tradition.", q, temperature=0, seed=0)  # tradition only
    noisy = world.respond(noisy_instruction, q, temperature=0, seed=0)
    return {
        "values": world.value_set.model_dump(),
        "queries": [q],
        "instruction": instruction,
        "minibatch": [0],
        "aligned": {"0": [_m(0, full, 0.0), _m(0, partial, -3.0)]},
        "noisy": {"0": [{"query": 0, "text": noisy, "redundancy": 0.0}]},
    }


async def _objectives(world, likelihood, state, candidates, noise_weight=1.0):
    nodes = PicacoNodes(_resources(world, likelihood=likelihood))
    runtime = Runtime(context=PicacoContext(config=PicacoConfig(noise_weight=noise_weight)))
    objectives, _ = await nodes._likelihood_objectives(state, runtime, candidates)
    return objectives


async def test_likelihood_requests_are_counted_as_calls(world: SyntheticWorld) -> None:
    state = _pool_state(world, INCUMBENT)
    nodes = PicacoNodes(_resources(world, likelihood=ScriptedLikelihood(world)))
    runtime = Runtime(context=PicacoContext(config=PicacoConfig()))
    _, usage = await nodes._likelihood_objectives(state, runtime, ["Honour tradition only."])
    # 2 arms x (2 aligned + 1 noisy responses) = 6 prompt evaluations
    assert usage.calls == 6
    assert usage.calls_by_role == {"likelihood": 6}
    assert usage.input_tokens > 6 * 5


INCUMBENT = "Honour tradition and conformity."


async def test_likelihood_objective_ignores_an_instruction_that_makes_everything_unlikely(
    world: SyntheticWorld,
) -> None:
    state = _pool_state(world, INCUMBENT)
    marked = INCUMBENT + " MARKER: answer."
    for noise_weight in (0.5, 1.0, 2.0):
        j = await _objectives(world, ShiftedLikelihood(world, 3.0), state, [marked], noise_weight)
        # Before the fix the noisy term alone made this gain noise_weight * 3.
        assert j["candidate:0"][0] == pytest.approx(j["incumbent"][0])


async def test_likelihood_objective_prefers_what_the_best_responses_do(world) -> None:
    state = _pool_state(world, INCUMBENT)
    j = await _objectives(world, ScriptedLikelihood(world), state, ["Honour tradition only."])
    assert j["candidate:0"][0] < j["incumbent"][0]


async def test_likelihood_objective_penalises_making_parroting_likely(world, vs) -> None:
    parroting = INCUMBENT + " " + vs.get("benevolence").description
    # the noisy pool holds a response that parrots the value text
    state = _pool_state(world, INCUMBENT, noisy_instruction=parroting)
    assert vs.get("benevolence").description in state["noisy"]["0"][0]["text"]
    j = await _objectives(world, ScriptedLikelihood(world), state, [parroting])
    assert j["candidate:0"][0] < j["incumbent"][0]
