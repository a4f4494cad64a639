"""The models and scorers one optimisation run uses (not checkpointed: rebuilt on resume).

They live here rather than in ``graph/context.py``: the context is the run's settings, the form
LangGraph Studio renders and a checkpoint can be resumed with, while these are live objects that
the facade, the model-name resolver (``llm.models``) and the baselines build too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from langchain_picaco.llm.calls import ModelCaller
from langchain_picaco.scoring import LexicalRedundancy, Redundancy

if TYPE_CHECKING:
    from langchain_picaco.config import PicacoConfig

__all__ = ["Likelihood", "Resources"]


class Likelihood(Protocol):
    """Length-normalised log-likelihood of a given response, for likelihood-mode selection."""

    async def ascore(self, messages: Sequence[BaseMessage], response: str) -> float:
        """Mean per-token log-probability of ``response`` as the reply to ``messages``."""
        ...


@dataclass
class Resources:
    """The models and scorers one run uses (not checkpointed: rebuilt on resume).

    Attributes:
        target: The model being aligned.
        judge: The value judge.
        proposer: The model that writes candidate instructions.
        redundancy: The q_red scorer.
        likelihood: Scorer of log p(y | e, x), or None (sampling mode only).
        rate_limiter: Optional LangChain rate limiter shared by every call.
        cache: Optional call cache (a LangChain ``BaseCache``, e.g. ``SQLiteCallCache``) looked
            up before every model call.
    """

    target: BaseChatModel
    judge: BaseChatModel
    proposer: BaseChatModel
    redundancy: Redundancy = field(default_factory=LexicalRedundancy)
    likelihood: Likelihood | None = None
    rate_limiter: Any | None = None
    cache: Any | None = None

    def caller(self, role: str, config: PicacoConfig) -> ModelCaller:
        """A counted, retried caller of the ``role`` model (``"target"``, ``"judge"``, ...).

        Callers made from one ``Resources`` share its concurrency bound (``group``), its rate
        limiter and its call cache.
        """
        return ModelCaller(
            getattr(self, role),
            role,
            retry=config.retry,
            max_concurrency=config.max_concurrency,
            group=id(self),
            rate_limiter=self.rate_limiter,
            cache=self.cache,
        )
