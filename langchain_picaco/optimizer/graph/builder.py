"""Wiring of the PICACO graph: nodes, edges and the routers that fan work out with ``Send``.

``build_graph(...)`` compiles the graph with any checkpointer; the module-level ``graph`` is what
``langgraph.json`` serves to LangGraph Studio (its models are named in the run's context).

Example:
    .. code-block:: python

        from langchain_picaco.optimizer.graph.builder import build_graph
        from langchain_picaco.optimizer.graph.nodes import Resources

        g = build_graph(Resources(target=model, judge=model, proposer=model))
        print(g.get_graph().draw_mermaid())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, Send

from langchain_picaco.config import PicacoConfig
from langchain_picaco.llm.calls import is_transient
from langchain_picaco.optimizer.budget import (
    fits,
    next_round_calls,
    run_confirm_calls,
    run_enhance_calls,
)
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.graph.nodes import PicacoNodes, Resources, seed_kept
from langchain_picaco.optimizer.graph.state import RESET, InputState, OutputState, PicacoState
from langchain_picaco.scoring.measure import stable_seed

__all__ = ["build_graph", "graph", "recursion_limit"]


MAX_ITERATIONS = 1000
"""The most rounds ``PicacoConfig.iterations`` allows."""
STEPS_PER_ROUND = 9
"""Most supersteps one round takes, plus one to spare: propose, measure, collect, select, measure,
collect, accept, decide (paired acceptance, challenger confirmed); greedy acceptance with an
enhancement phase takes as many."""
STEPS_PER_EXTRA_LOOK = 3
"""Supersteps one more confirmation look adds to a round: measure, collect, accept."""
_STEPS_OUTSIDE_ROUNDS = 11
"""Supersteps before the first round and after the last (judge calibration, reference and final
measurements)."""


def recursion_limit(config: PicacoConfig) -> int:
    """A LangGraph ``recursion_limit`` that a run of ``config.iterations`` rounds never reaches."""
    per_round = STEPS_PER_ROUND + STEPS_PER_EXTRA_LOOK * (config.confirm_looks - 1)
    return _STEPS_OUTSIDE_ROUNDS + per_round * config.iterations + 20


def _cfg(runtime_or_config: Any) -> PicacoConfig:
    from langchain_picaco.optimizer.graph.nodes import _config

    return _config(runtime_or_config)


def _sample_task(
    state: PicacoState,
    *,
    phase: str,
    arm: str,
    instruction: str | None,
    query: int,
    sample: int,
    seed: int,
    temperature: float,
    iteration: int | None = None,
    judge_key: list[Any] | None = None,
) -> Send:
    """A ``measure`` task; ``iteration`` is the round it belongs to (default: rounds completed).

    ``judge_key`` seeds the judge call (default: phase, iteration, query and sample): the final
    measurement uses the reference phase's, so an unchanged response gets the same rating.
    """
    return Send(
        "measure",
        {
            "judge_key": judge_key,
            "phase": phase,
            "arm": arm,
            "instruction": instruction,
            "query": query,
            "query_text": state["queries"][query],
            "sample": sample,
            "seed": seed,
            "temperature": temperature,
            "iteration": state.get("iteration", 0) if iteration is None else iteration,
            "values": state["values"],
            "judge_protocol": state.get("judge_protocol"),
        },
    )


def _reference_draw(cfg: PicacoConfig, query: int, sample: int) -> tuple[int, float]:
    """Target seed and temperature of one reference sample (the final measurement reuses them).

    Sample 0 is greedy; the others are drawn at ``cfg.temperature``.
    """
    return stable_seed(cfg.seed, "sample", query, sample), 0.0 if sample == 0 else cfg.temperature


def _reference_judge_key(query: int, sample: int) -> list[Any]:
    """Judge seed key of one reference sample (the final measurement reuses it)."""
    return ["reference", 0, query, sample]


def _confirm_sends(state: PicacoState, cfg: PicacoConfig, challenger: dict[str, Any]) -> list[Send]:
    """One look of a confirmation: incumbent and challenger on every query, fresh seeds.

    Look 1 draws samples ``0..S-1``; look ``k`` draws ``(k-1)S..kS-1`` with seeds of their own,
    so the pairs of every look are distinct and the test can pool them.
    """
    iteration = state.get("iteration", 0) + 1
    look = int(challenger.get("look", 1))
    per = cfg.samples_per_query
    sends = []
    for q in range(len(state["queries"])):
        for s in range((look - 1) * per, look * per):
            seed = stable_seed(cfg.seed, "confirm", iteration, q, s)
            for arm, instruction in (
                ("incumbent", state["instruction"]),
                ("challenger", challenger["instruction"]),
            ):
                sends.append(
                    _sample_task(
                        state,
                        phase="confirm",
                        iteration=iteration,
                        arm=arm,
                        instruction=instruction,
                        query=q,
                        sample=s,
                        seed=seed,
                        temperature=cfg.temperature,
                    )
                )
    return sends


def build_graph(
    resources: Resources | Callable[[PicacoContext, Any], Resources] | None = None,
    *,
    checkpointer: Any | None = None,
    store: Any | None = None,
    cache: Any | None = None,
    name: str = "picaco",
) -> Any:
    """Build and compile the PICACO optimiser graph.

    Args:
        resources: The run's models and scorers, or a callable building them from the context;
            None resolves models by name from the context (how Studio runs it).
        checkpointer: Any LangGraph checkpointer (in-memory, SQLite, PostgreSQL) for resume.
        store: Optional LangGraph store.
        cache: Optional LangGraph node cache.
        name: Name of the compiled graph (its run name in traces).

    Returns:
        The compiled graph (a LangChain Runnable).
    """
    if resources is None:
        from langchain_picaco.llm.models import resources_from_context

        resources = resources_from_context
    nodes = PicacoNodes(resources)
    retry = RetryPolicy(max_attempts=3, retry_on=is_transient)

    def route_reference(state: PicacoState, runtime: Any) -> list[Send]:
        cfg = _cfg(runtime)
        sends = []
        for q in range(len(state["queries"])):
            for s in range(cfg.samples_per_query):
                seed, temp = _reference_draw(cfg, q, s)
                for arm, instruction in (("bare", None), ("incumbent", state["instruction"])):
                    sends.append(
                        _sample_task(
                            state,
                            phase="reference",
                            arm=arm,
                            instruction=instruction,
                            query=q,
                            sample=s,
                            seed=seed,
                            temperature=temp,
                            judge_key=_reference_judge_key(q, s),
                        )
                    )
        return sends

    def route_prepare(state: PicacoState, runtime: Any) -> list[Send] | str:
        cfg = _cfg(runtime)
        if cfg.calibrate and not state.get("calibration"):
            return "calibrate"
        return route_reference(state, runtime)

    def route_calibrated(state: PicacoState, runtime: Any) -> list[Send] | str:
        if state.get("stop_reason") == "blind_judge":
            return "finish"
        return route_reference(state, runtime)

    def route_phase(state: PicacoState) -> str:
        ms = state.get("measurements") or []
        phase = ms[0]["phase"] if ms else "evaluate"
        if phase in ("reference", "enhance"):
            return "update_pools"
        if phase == "final":
            return "finish"
        if phase == "confirm":
            return "accept"
        return "select"

    def route_round(state: PicacoState, runtime: Any) -> str:
        cfg = _cfg(runtime)
        return "propose" if fits(state, cfg, next_round_calls(state, cfg)) else "budget_stop"

    def route_evaluate(state: PicacoState, runtime: Any) -> list[Send] | str:
        cfg = _cfg(runtime)
        candidates = state.get("candidates") or []
        if state.get("selection") == "likelihood" or not candidates:
            return "select"
        iteration = state.get("iteration", 0) + 1
        arms = [("incumbent", state["instruction"])]
        arms += [(f"candidate:{i}", c) for i, c in enumerate(candidates)]
        sends = []
        for q in state.get("minibatch") or []:
            seed = stable_seed(cfg.seed, "evaluate", iteration, q)
            for arm, instruction in arms:
                sends.append(
                    _sample_task(
                        state,
                        phase="evaluate",
                        iteration=iteration,
                        arm=arm,
                        instruction=instruction,
                        query=q,
                        sample=0,
                        seed=seed,
                        temperature=cfg.temperature,
                    )
                )
        return sends

    def route_confirm(state: PicacoState, runtime: Any) -> list[Send] | str:
        # After select: the round's challenger, if any, gets its first look. After accept: a
        # challenger still open means the look was inconclusive with a positive gain, so it
        # gets another one. Either way, only if the budget can pay for it.
        cfg = _cfg(runtime)
        challenger = state.get("challenger")
        if not challenger:
            return "decide"
        if challenger.get("screened"):
            return "accept"  # the screen was the first look (``screen_is_first_look``)
        if not fits(state, cfg, run_confirm_calls(state, cfg)):
            return "budget_stop"
        return _confirm_sends(state, cfg, challenger)

    def route_after_decide(state: PicacoState, runtime: Any) -> list[Send] | str:
        cfg = _cfg(runtime)
        if state.get("stop_reason"):
            return route_final(state, runtime)
        if not state.get("changed") or cfg.acceptance == "paired":
            # Under paired acceptance the confirmation already measured the new incumbent on
            # every query: its responses are the enhancement samples.
            return route_round(state, runtime)
        if not fits(state, cfg, run_enhance_calls(state, cfg)):
            return "budget_stop"
        iteration = state.get("iteration", 0)
        sends = []
        for q in range(len(state["queries"])):
            for s in range(cfg.samples_per_query):
                sends.append(
                    _sample_task(
                        state,
                        phase="enhance",
                        arm="incumbent",
                        instruction=state["instruction"],
                        query=q,
                        sample=s,
                        seed=stable_seed(cfg.seed, "enhance", iteration, q, s),
                        temperature=cfg.temperature,
                    )
                )
        return sends

    def route_final(state: PicacoState, runtime: Any) -> list[Send] | str:
        # The final instruction is measured exactly as the reference phase measured the bare
        # model and the seed: every query, the same S samples (sample 0 greedy, the others at
        # the sampling temperature), the same target seeds and the same judge seeds. So bare,
        # seed and final scores are paired (a kept seed is not measured again: ``seed_kept``).
        cfg = _cfg(runtime)
        if not fits(state, cfg, 0) or seed_kept(state):
            return "finish"
        sends = []
        for q in range(len(state["queries"])):
            for s in range(cfg.samples_per_query):
                seed, temp = _reference_draw(cfg, q, s)
                sends.append(
                    _sample_task(
                        state,
                        phase="final",
                        arm="incumbent",
                        instruction=state["instruction"],
                        query=q,
                        sample=s,
                        seed=seed,
                        temperature=temp,
                        judge_key=_reference_judge_key(q, s),
                    )
                )
        return sends

    async def collect(state: PicacoState) -> dict[str, Any]:
        """Fan-in point: waits for every task of the superstep."""
        return {}

    async def budget_stop(state: PicacoState) -> dict[str, Any]:
        """The budget cannot pay for another round: stop with the best instruction so far."""
        # A confirmation left open by the budget is dropped with its samples (rejected).
        return {"stop_reason": "budget", "measurements": RESET, "challenger": None}

    builder = StateGraph(
        PicacoState,
        context_schema=PicacoContext,
        input_schema=InputState,
        output_schema=OutputState,
    )
    builder.add_node("prepare", nodes.prepare)
    builder.add_node("calibrate", nodes.calibrate, retry_policy=retry)
    builder.add_node("measure", nodes.measure, retry_policy=retry)
    builder.add_node("collect", collect)
    builder.add_node("update_pools", nodes.update_pools)
    builder.add_node("propose", nodes.propose, retry_policy=retry)
    builder.add_node("select", nodes.select)
    builder.add_node("accept", nodes.accept)
    builder.add_node("decide", nodes.decide)
    builder.add_node("budget_stop", budget_stop)
    builder.add_node("finish", nodes.finish)

    builder.add_edge(START, "prepare")
    builder.add_conditional_edges("prepare", route_prepare, ["calibrate", "measure"])
    builder.add_conditional_edges("calibrate", route_calibrated, ["measure", "finish"])
    builder.add_edge("measure", "collect")
    builder.add_conditional_edges(
        "collect", route_phase, ["update_pools", "select", "accept", "finish"]
    )
    builder.add_conditional_edges("update_pools", route_round, ["propose", "budget_stop"])
    builder.add_conditional_edges("propose", route_evaluate, ["measure", "select"])
    builder.add_conditional_edges(
        "select", route_confirm, ["measure", "accept", "decide", "budget_stop"]
    )
    builder.add_conditional_edges("accept", route_confirm, ["measure", "decide", "budget_stop"])
    builder.add_conditional_edges(
        "decide", route_after_decide, ["measure", "propose", "budget_stop", "finish"]
    )
    builder.add_conditional_edges("budget_stop", route_final, ["measure", "finish"])
    builder.add_edge("finish", END)
    compiled = builder.compile(checkpointer=checkpointer, store=store, cache=cache, name=name)
    # LangGraph's default recursion limit (25) stops a run after two rounds; the loop always ends
    # on its own (iterations are capped), so default to the limit of the longest allowed run.
    longest = PicacoConfig(iterations=MAX_ITERATIONS, confirm_looks=4)  # the largest allowed
    return compiled.with_config(recursion_limit=recursion_limit(longest))


graph = build_graph()
"""The graph ``langgraph.json`` serves to LangGraph Studio (models named in each run's context).

Built at import (about 10 ms): the LangGraph API server reads ``module.__dict__["graph"]``, which a
module-level ``__getattr__`` cannot provide."""
