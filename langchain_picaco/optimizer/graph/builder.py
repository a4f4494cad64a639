"""Wiring of the PICACO graph: its nodes (``nodes``) and the edges its routers take (``routes``).

``build_graph(...)`` compiles the graph with any checkpointer; the module-level ``graph`` is what
``langgraph.json`` serves to LangGraph Studio (its models are named in the run's context).

Example:
    .. code-block:: python

        from langchain_picaco.optimizer.graph.builder import build_graph
        from langchain_picaco.optimizer.resources import Resources

        g = build_graph(Resources(target=model, judge=model, proposer=model))
        print(g.get_graph().draw_mermaid())
"""

from __future__ import annotations

from collections.abc import Callable

from langgraph.cache.base import BaseCache
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Checkpointer, RetryPolicy

from langchain_picaco.config import PicacoConfig
from langchain_picaco.llm.calls import is_transient
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.graph.nodes import PicacoNodes, budget_stop, collect
from langchain_picaco.optimizer.graph.routes import (
    route_after_decide,
    route_calibrated,
    route_confirm,
    route_evaluate,
    route_final,
    route_phase,
    route_prepare,
    route_round,
)
from langchain_picaco.optimizer.graph.state import InputState, OutputState, PicacoState
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.values.value_sets import ValueSet

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


def build_graph(
    resources: Resources | Callable[[PicacoContext, ValueSet], Resources] | None = None,
    *,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    cache: BaseCache | None = None,
    name: str = "picaco",
) -> CompiledStateGraph[PicacoState, PicacoContext, InputState, OutputState]:
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

    builder = StateGraph(
        PicacoState,
        context_schema=PicacoContext,
        input_schema=InputState,
        output_schema=OutputState,
    )
    builder.add_node("prepare", nodes.prepare)
    builder.add_node("calibrate", nodes.calibrate, retry_policy=retry)
    # ``measure`` is reached only by ``Send`` (one SampleTask each); naming the state as its
    # input schema keeps LangGraph from making channels of the task's keys.
    builder.add_node("measure", nodes.measure, retry_policy=retry, input_schema=PicacoState)
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
