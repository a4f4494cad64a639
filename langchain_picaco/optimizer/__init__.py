"""The PICACO optimiser: a LangGraph state machine (``graph/``) and the facade that runs it.

``picaco_optimizer`` holds :class:`PicacoOptimizer` (``optimize``/``aoptimize``, ``plan``,
``evaluate``); ``graph/`` the state machine in LangGraph's template layout (``state``,
``context``, ``nodes``, ``routes``, ``builder``). What the steps work with, in the order of a
round: ``resources`` (the run's models), ``seed`` (where the search starts), ``pools`` (weighted
responses and what the proposer is shown), ``guards`` (what a candidate must pass) and
``budget`` (every call count, the plan's and the routers'). The prompts live in
:mod:`langchain_picaco.prompts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_picaco._lazy import lazy_attributes

__all__ = ["EvaluationReport", "PicacoOptimizer", "Plan", "build_graph"]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "EvaluationReport": "langchain_picaco.optimizer.picaco_optimizer",
        "PicacoOptimizer": "langchain_picaco.optimizer.picaco_optimizer",
        "Plan": "langchain_picaco.optimizer.picaco_optimizer",
        "build_graph": "langchain_picaco.optimizer.graph.builder",
    },
)

if TYPE_CHECKING:
    from langchain_picaco.optimizer.graph.builder import build_graph
    from langchain_picaco.optimizer.picaco_optimizer import EvaluationReport, PicacoOptimizer, Plan
