"""PICACO for LangChain: one meta-instruction that makes an LLM honour several values at once.

Quick start:
    .. code-block:: python

        from langchain_picaco import MetaInstruction, load_value_set

        mi = MetaInstruction(text="Be helpful, and never at the cost of anyone's safety.",
                             value_set=load_value_set("hh-balance-8"))
        chain = prompt | mi.as_runnable() | model
        agent = create_agent(model, middleware=[mi.as_middleware()])

Heavy pieces (the optimiser graph, the agent middleware) load on first use, so ``import
langchain_picaco`` stays fast and works without the optional extras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # values and data
    "Value": "langchain_picaco.values",
    "ValueSet": "langchain_picaco.values",
    "load_value_set": "langchain_picaco.values",
    "list_value_sets": "langchain_picaco.values",
    "load_queries": "langchain_picaco.queries",
    "list_query_sets": "langchain_picaco.queries",
    # the artifact and its surfaces
    "MetaInstruction": "langchain_picaco.instruction",
    "ValueScores": "langchain_picaco.instruction",
    "PicacoRunnable": "langchain_picaco.runnables",
    "with_meta_instruction": "langchain_picaco.runnables",
    "PicacoMiddleware": "langchain_picaco.middleware",
    # the optimiser
    "PicacoOptimizer": "langchain_picaco.optimizer",
    "EvaluationReport": "langchain_picaco.optimizer",
    "Plan": "langchain_picaco.optimizer",
    "PicacoConfig": "langchain_picaco.config",
    "Budget": "langchain_picaco.config",
    "RetrySettings": "langchain_picaco.config",
    "CalibrationConfig": "langchain_picaco.config",
    "CalibrationReport": "langchain_picaco.calibration",
    "BlindJudgeWarning": "langchain_picaco.calibration",
    "build_graph": "langchain_picaco.graph.builder",
    # evaluation against the baselines
    "Comparison": "langchain_picaco.evaluation",
    "compare": "langchain_picaco.evaluation",
    "jailbreak_probe": "langchain_picaco.evaluation",
    "write_report": "langchain_picaco.reports",
    # errors
    "PicacoError": "langchain_picaco.errors",
    "PicacoInputError": "langchain_picaco.errors",
    "ValueSetError": "langchain_picaco.errors",
    "ArtifactError": "langchain_picaco.errors",
    "QueryError": "langchain_picaco.errors",
    "ConfigError": "langchain_picaco.errors",
    "MissingDependencyError": "langchain_picaco.errors",
    "ModelCallError": "langchain_picaco.errors",
}

__all__ = [
    "ArtifactError",
    "BlindJudgeWarning",
    "Budget",
    "CalibrationConfig",
    "CalibrationReport",
    "Comparison",
    "ConfigError",
    "EvaluationReport",
    "MetaInstruction",
    "MissingDependencyError",
    "ModelCallError",
    "PicacoConfig",
    "PicacoError",
    "PicacoInputError",
    "PicacoMiddleware",
    "PicacoOptimizer",
    "PicacoRunnable",
    "Plan",
    "QueryError",
    "RetrySettings",
    "Value",
    "ValueScores",
    "ValueSet",
    "ValueSetError",
    "__version__",
    "build_graph",
    "compare",
    "jailbreak_probe",
    "list_query_sets",
    "list_value_sets",
    "load_queries",
    "load_value_set",
    "with_meta_instruction",
    "write_report",
]

if TYPE_CHECKING:
    from langchain_picaco.calibration import BlindJudgeWarning, CalibrationReport
    from langchain_picaco.config import Budget, CalibrationConfig, PicacoConfig, RetrySettings
    from langchain_picaco.errors import (
        ArtifactError,
        ConfigError,
        MissingDependencyError,
        ModelCallError,
        PicacoError,
        PicacoInputError,
        QueryError,
        ValueSetError,
    )
    from langchain_picaco.evaluation import Comparison, compare, jailbreak_probe
    from langchain_picaco.graph.builder import build_graph
    from langchain_picaco.instruction import MetaInstruction, ValueScores
    from langchain_picaco.middleware import PicacoMiddleware
    from langchain_picaco.optimizer import EvaluationReport, PicacoOptimizer, Plan
    from langchain_picaco.queries import list_query_sets, load_queries
    from langchain_picaco.reports import write_report
    from langchain_picaco.runnables import PicacoRunnable, with_meta_instruction
    from langchain_picaco.values import Value, ValueSet, list_value_sets, load_value_set


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_picaco' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
