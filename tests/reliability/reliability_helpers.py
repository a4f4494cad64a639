"""Helpers of the reliability suite: a small scripted world and fast settings.

Every run here optimises on the scripted synthetic world (no model, no network); faults come from
``langchain_picaco.testing.FaultyChatModel``. Judge calibration (when the installed package has it)
is turned off, so these runs measure the optimiser loop only.
"""

from __future__ import annotations

from typing import Any

from langchain_picaco.config import PicacoConfig, RetrySettings
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import SAMPLE_QUERIES, SyntheticWorld

QUERIES = list(SAMPLE_QUERIES[:4])
NO_WAIT = RetrySettings(max_attempts=4, initial_delay=0, max_delay=0, timeout=5)


def settings(**kw: Any) -> PicacoConfig:
    """A small, fast run: 2 rounds of 2 candidates on the four queries, one sample each."""
    base: dict[str, Any] = {
        "iterations": 2,
        "candidates": 2,
        "minibatch": 4,
        "samples_per_query": 1,
        "seed": 3,
        "retry": NO_WAIT,
    }
    if "calibrate" in PicacoConfig.model_fields:
        base["calibrate"] = False
    return PicacoConfig(**{**base, **kw})


def make_optimizer(
    world: SyntheticWorld,
    *,
    target: Any = None,
    judge: Any = None,
    proposer: Any = None,
    config: PicacoConfig | None = None,
    **kw: Any,
) -> PicacoOptimizer:
    return PicacoOptimizer(
        target or world.target(),
        values=world.value_set,
        judge=judge or world.judge(),
        proposer=proposer or world.proposer(),
        config=config or settings(),
        progress=False,
        **kw,
    )


def comparable(mi: MetaInstruction) -> dict[str, Any]:
    """The artifact without what differs between two equal runs (creation time, wall time)."""
    return mi.model_dump(exclude={"created_at": True, "usage": {"wall_seconds"}})
