"""PICACO for LangChain: one meta-instruction that makes an LLM honour several values at once.

Quick start:
    .. code-block:: python

        from langchain_picaco import MetaInstruction, load_value_set

        mi = MetaInstruction(text="Be helpful, and never at the cost of anyone's safety.",
                             value_set=load_value_set("hh-balance-8"))
        chain = prompt | mi.as_runnable() | model
        agent = create_agent(model, middleware=[mi.as_middleware()])

The package follows the flow: ``values`` (value sets, query sets) -> ``optimizer`` (the LangGraph
state machine and its facade) -> the artifact (``instruction``) -> ``inject`` (Runnable, agent
middleware) -> ``evaluate`` (baselines, reports, plots); ``llm`` (model calls, cache, tokens, the
local models) and ``scoring`` (judge, objective, calibration, statistics) serve them. This module
exports the names most users need; everything else is importable from its subpackage.

Heavy pieces (the optimiser graph, the agent middleware) load on first use, so ``import
langchain_picaco`` stays fast and works without the optional extras.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from langchain_picaco import _compat
from langchain_picaco._lazy import lazy_attributes

try:
    __version__ = metadata.version("langchain-picaco")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

EXPORTS: dict[str, str] = {
    # values
    "Value": "langchain_picaco.values",
    "ValueSet": "langchain_picaco.values",
    "load_value_set": "langchain_picaco.values",
    "load_queries": "langchain_picaco.values",
    # the optimiser
    "PicacoConfig": "langchain_picaco.config",
    "Budget": "langchain_picaco.config",
    "PicacoOptimizer": "langchain_picaco.optimizer",
    "BlindJudgeWarning": "langchain_picaco.scoring.calibration",
    # the artifact and its surfaces
    "MetaInstruction": "langchain_picaco.instruction",
    "PicacoRunnable": "langchain_picaco.inject",
    "PicacoMiddleware": "langchain_picaco.inject",
    # evaluation
    "compare": "langchain_picaco.evaluate",
    "write_report": "langchain_picaco.evaluate",
    # errors
    "PicacoError": "langchain_picaco.errors",
}
"""The public top-level names (with ``__version__``, the whole of ``__all__``) -> their module."""

DEPRECATED: dict[str, str] = {
    "ValueScores": "langchain_picaco.instruction",
    "list_value_sets": "langchain_picaco.values",
    "list_query_sets": "langchain_picaco.values",
    "with_meta_instruction": "langchain_picaco.inject",
    "EvaluationReport": "langchain_picaco.optimizer",
    "Plan": "langchain_picaco.optimizer",
    "build_graph": "langchain_picaco.optimizer",
    "RetrySettings": "langchain_picaco.config",
    "CalibrationConfig": "langchain_picaco.config",
    "CalibrationReport": "langchain_picaco.scoring.calibration",
    "Comparison": "langchain_picaco.evaluate",
    "jailbreak_probe": "langchain_picaco.evaluate",
    "PicacoInputError": "langchain_picaco.errors",
    "ValueSetError": "langchain_picaco.errors",
    "ArtifactError": "langchain_picaco.errors",
    "QueryError": "langchain_picaco.errors",
    "ConfigError": "langchain_picaco.errors",
    "MissingDependencyError": "langchain_picaco.errors",
    "ModelCallError": "langchain_picaco.errors",
}
"""Top-level names of 0.1 that moved to their subpackage; served for one release, with a warning."""

__all__ = ["__version__", *EXPORTS]  # noqa: PLE0604 - built from the one list above

_compat.install()
__getattr__, __dir__ = lazy_attributes(__name__, EXPORTS, DEPRECATED)

if TYPE_CHECKING:
    from langchain_picaco.config import (
        Budget as Budget,
    )
    from langchain_picaco.config import (
        PicacoConfig as PicacoConfig,
    )
    from langchain_picaco.errors import (
        PicacoError as PicacoError,
    )
    from langchain_picaco.evaluate import (
        compare as compare,
    )
    from langchain_picaco.evaluate import (
        write_report as write_report,
    )
    from langchain_picaco.inject import (
        PicacoMiddleware as PicacoMiddleware,
    )
    from langchain_picaco.inject import (
        PicacoRunnable as PicacoRunnable,
    )
    from langchain_picaco.instruction import (
        MetaInstruction as MetaInstruction,
    )
    from langchain_picaco.optimizer import (
        PicacoOptimizer as PicacoOptimizer,
    )
    from langchain_picaco.scoring.calibration import (
        BlindJudgeWarning as BlindJudgeWarning,
    )
    from langchain_picaco.values import (
        Value as Value,
    )
    from langchain_picaco.values import (
        ValueSet as ValueSet,
    )
    from langchain_picaco.values import (
        load_queries as load_queries,
    )
    from langchain_picaco.values import (
        load_value_set as load_value_set,
    )
