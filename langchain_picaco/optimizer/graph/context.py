"""Run-time settings of the graph: what LangGraph Studio shows as the configuration form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from langchain_picaco.config import PicacoConfig, config_from_kwargs

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["PicacoContext", "config_of", "context_of"]


@dataclass
class PicacoContext:
    """Settings of one run, passed as ``context=`` (Studio renders them as a form).

    Attributes:
        config: The optimiser settings (iterations, candidates, budget, ...).
        target: Model to align when the graph was built without one: "scripted" (a synthetic
            world, no model needed), "local" (the embedded 0.5B GGUF model), "local-1.5b" (the
            embedded 1.5B one), a path to a .gguf file,
            or a "provider:model" string for ``init_chat_model``.
        judge: Judge model, same forms (empty: the target).
        proposer: Proposer model, same forms (empty: the target).
    """

    config: PicacoConfig = field(
        default_factory=PicacoConfig, metadata={"description": "Optimiser settings."}
    )
    target: str = field(default="scripted", metadata={"description": "Model to align."})
    judge: str = field(default="", metadata={"description": "Judge model (empty: the target)."})
    proposer: str = field(
        default="", metadata={"description": "Proposer model (empty: the target)."}
    )

    def __post_init__(self) -> None:
        # Over the LangGraph API (and from Studio) the context arrives as JSON, and LangGraph
        # builds this dataclass with ``PicacoContext(**context)``: ``config`` is then a dict.
        if not isinstance(self.config, PicacoConfig):
            self.config = config_from_kwargs(self.config)


def context_of(runtime: Runtime[PicacoContext]) -> PicacoContext:
    """The run's context, from a node's or router's ``runtime`` (defaults when it has none).

    A context given as a dict (JSON over the LangGraph API) is turned into a
    :class:`PicacoContext`.
    """
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return PicacoContext()
    if isinstance(ctx, dict):
        data = dict(ctx)
        if isinstance(data.get("config"), dict):
            data["config"] = PicacoConfig.model_validate(data["config"])
        return PicacoContext(**data)
    return ctx


def config_of(runtime: Runtime[PicacoContext]) -> PicacoConfig:
    """The run's optimiser settings, from a node's or router's ``runtime``."""
    return context_of(runtime).config
