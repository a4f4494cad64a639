"""An OPRO-style optimiser: the baseline PICACO is compared with.

Classic OPRO (Yang et al., 2023, "Large Language Models as Optimizers") keeps a list of the
instructions tried so far with their scores, shows the best ones, sorted by score, to a proposer
model, asks it for new instructions that score higher, scores those, and repeats. Here an
instruction's score is the mean judge score over all values and over a fixed minibatch of the
optimisation queries (greedy responses, one judge call per response rating every value, the same
calls PICACO makes). Unlike PICACO there is no per-value objective (the weakest value is never
named), no redundancy term (parroting the value text costs nothing), no aligned or noisy pools
and no noise test (the best mean wins). A call budget (``Budget(max_calls=...)``) makes the two
comparable at equal cost.

Example:
    .. code-block:: python

        from langchain_picaco import Budget, load_value_set
        from langchain_picaco.evaluate.opro import OproConfig, OproOptimizer
        from langchain_picaco.testing import SyntheticWorld

        world = SyntheticWorld(load_value_set("confucianism-4"))
        opro = OproOptimizer(world.target(), values=world.value_set, judge=world.judge(),
                             proposer=world.proposer(),
                             config=OproConfig(steps=5, budget=Budget(max_calls=400)))
        mi = opro.optimize(["Should I move abroad?", "How do I plan a wedding?"])
        print(mi.config["method"], mi.text)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_picaco import prompts
from langchain_picaco._async import run_sync
from langchain_picaco.config import Budget, PicacoConfig, RetrySettings, config_error
from langchain_picaco.errors import ConfigError, QueryError
from langchain_picaco.instruction import HistoryEntry, MetaInstruction, ValueScores
from langchain_picaco.llm.calls import CallUsage, ModelCaller, check_chat_models, model_identity
from langchain_picaco.optimizer.budget import calls_per_response, judged_calls, tokens_per_call
from langchain_picaco.optimizer.guards import guard_candidate, parse_candidate
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.scoring.measure import (
    generate_response,
    judge_response,
    message_text,
    stable_seed,
)
from langchain_picaco.scoring.stats import summarize_scores
from langchain_picaco.values.queries import load_queries
from langchain_picaco.values.value_sets import ValueSet, load_value_set

__all__ = ["OproConfig", "OproOptimizer"]

_QUESTIONS_SHOWN = 3


class OproConfig(BaseModel):
    """Settings of the OPRO-style baseline.

    Example:
        .. code-block:: python

            OproConfig(steps=8, candidates_per_step=4, budget=Budget(max_calls=500))

    Attributes:
        steps: Rounds of propose -> score.
        candidates_per_step: New instructions proposed per round.
        minibatch: Optimisation queries every instruction is scored on (the same ones throughout,
            so scores are comparable across rounds).
        seed: Seed of the minibatch choice and of sampling (where the model accepts one).
        max_concurrency: Most model calls in flight at once.
        budget: Spend limit; the run stops cleanly before a round it cannot pay for (the last
            round proposes fewer candidates when only some fit).
        shown: Best earlier instructions shown to the proposer.
        proposer_temperature: Sampling temperature of the proposer (OPRO uses 1.0).
        judge_protocol: How the judge is asked (as ``PicacoConfig.judge_protocol``, resolved:
            no "auto"); a comparison gives OPRO the protocol PICACO was scored with.
        judge_injection: Responses that address the judge: "flag" (score 1, no call) or "off".
        judge_format: Answer format asked of the judge: "json" or "lines".
        judge_logprobs: Use digit log-probabilities for graded judge scores: "auto", "on", "off".
        judge_retries: Extra judge calls on malformed output before a neutral score is recorded.
        retry: Retries of transient model errors.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(default=10, ge=1, le=1000)
    candidates_per_step: int = Field(default=4, ge=1, le=64)
    minibatch: int = Field(default=8, ge=1)
    seed: int = 0
    max_concurrency: int = Field(default=4, ge=1, le=256)
    budget: Budget = Field(default_factory=Budget)
    shown: int = Field(default=8, ge=1, le=100)
    proposer_temperature: float = Field(default=1.0, ge=0, le=2)
    judge_protocol: Literal["rubric", "per_value", "per_value_digit", "likelihood"] = "rubric"
    judge_injection: Literal["flag", "off"] = "flag"
    judge_format: Literal["json", "lines"] = "json"
    judge_logprobs: Literal["auto", "on", "off"] = "auto"
    judge_retries: int = Field(default=2, ge=0, le=10)
    retry: RetrySettings = Field(default_factory=RetrySettings)


class _Scored(BaseModel):
    """One instruction with its score on the minibatch."""

    step: int
    instruction: str
    score: float
    summary: dict[str, Any]


class OproOptimizer:
    """Optimise a meta-instruction the OPRO way: propose, score by mean judge score, keep the best.

    Example:
        .. code-block:: python

            from langchain_picaco.evaluate.opro import OproConfig, OproOptimizer

            opro = OproOptimizer(model, values="hh-balance-8", config=OproConfig(steps=5))
            mi = opro.optimize(queries)
            print(mi.text, mi.scores)

    Args:
        target: The chat model to align.
        values: A shipped value-set name, a path to a JSON file, or a ``ValueSet``.
        judge: The value judge (default: the target).
        proposer: The model writing candidate instructions (default: the target).
        config: Settings (an ``OproConfig`` or a dict of its fields).
    """

    def __init__(
        self,
        target: BaseChatModel,
        *,
        values: str | Path | ValueSet,
        judge: BaseChatModel | None = None,
        proposer: BaseChatModel | None = None,
        config: OproConfig | dict[str, Any] | None = None,
    ) -> None:
        check_chat_models(target=target, judge=judge, proposer=proposer)
        self.value_set = load_value_set(values)
        self.config = _config(config)
        self.target = target
        self.judge = judge or target
        self.proposer = proposer or target

    # ------------------------------------------------------------------ public API
    def step_calls(self, n_queries: int) -> tuple[int, int]:
        """Calls to score the seed, and calls per candidate (judge retries aside).

        Args:
            n_queries: Optimisation queries (the minibatch is at most this many).
        """
        batch = min(self.config.minibatch, n_queries)
        per = calls_per_response(self.config.judge_protocol, len(self.value_set))
        seed = judged_calls(per, arms=1, queries=batch)
        return seed, 1 + seed  # a candidate: one proposer call, then scored as the seed

    def optimize(
        self, queries: Sequence[str] | str | Path | None = None, seed_instruction: str | None = None
    ) -> MetaInstruction:
        """Run the OPRO loop and return the best instruction (sync; see :meth:`aoptimize`)."""
        return run_sync(lambda: self.aoptimize(queries, seed_instruction))

    async def aoptimize(
        self, queries: Sequence[str] | str | Path | None = None, seed_instruction: str | None = None
    ) -> MetaInstruction:
        """Run the OPRO loop.

        Args:
            queries: Optimisation queries (list, file, or shipped set name; None: shipped).
            seed_instruction: The first instruction scored (default: the value-listing one).

        Returns:
            A new artifact: the instruction with the best mean score, its per-value scores on the
            minibatch, every instruction scored (``history``), models, config (marked
            ``method="opro"``), seed and usage; ``stop_reason`` is "steps" or "budget".

        Raises:
            ConfigError: The budget cannot pay for scoring the seed and one candidate.
        """
        qs = _queries(queries, self.value_set)
        cfg = self.config
        started = time.monotonic()
        seed_cost, per_candidate = self.step_calls(len(qs))
        if cfg.budget.max_calls is not None and cfg.budget.max_calls < seed_cost + per_candidate:
            need = seed_cost + per_candidate
            raise ConfigError(
                "config.budget.max_calls",
                f"is {cfg.budget.max_calls}, fewer than the {need} calls that scoring the seed "
                f"and one candidate on {min(cfg.minibatch, len(qs))} queries takes",
                f"raise it to at least {need}, or use a smaller minibatch",
            )
        rng = random.Random(stable_seed(cfg.seed, "opro-minibatch"))
        batch = sorted(rng.sample(range(len(qs)), min(cfg.minibatch, len(qs))))
        group = id(self)
        callers = {
            role: ModelCaller(
                getattr(self, role),
                role,
                retry=cfg.retry,
                max_concurrency=cfg.max_concurrency,
                group=group,
            )
            for role in ("target", "judge", "proposer")
        }
        usage = CallUsage()
        seed = (seed_instruction or "").strip() or default_seed_instruction(self.value_set)
        scored = [await self._score(callers, qs, batch, 0, seed, usage)]
        rejected: list[HistoryEntry] = []
        stop_reason = "steps"
        for step in range(1, cfg.steps + 1):
            n = self._affordable(usage, per_candidate)
            if n == 0:
                stop_reason = "budget"
                break
            texts = await self._propose(callers["proposer"], qs, scored, step, n, usage)
            seen = [s.instruction for s in scored]
            fresh: list[str] = []
            for text in texts:
                reason = _guard(text, [*seen, *fresh])
                if reason:
                    rejected.append(
                        HistoryEntry(
                            iteration=step, instruction=text or "(empty)", rejected_reason=reason
                        )
                    )
                    usage.fault(f"rejected_{reason}")
                else:
                    fresh.append(text)
            scored += await asyncio.gather(
                *(self._score(callers, qs, batch, step, text, usage) for text in fresh)
            )
        return self._artifact(scored, rejected, usage, stop_reason, started)

    # ------------------------------------------------------------------ steps
    def _affordable(self, usage: CallUsage, per_candidate: int) -> int:
        """How many candidates the budget still pays for this round (at most the configured C)."""
        cfg = self.config
        n = cfg.candidates_per_step
        if cfg.budget.max_calls is not None:
            n = min(n, (cfg.budget.max_calls - usage.calls) // per_candidate)
        if cfg.budget.max_tokens is not None:
            tokens = usage.input_tokens + usage.output_tokens
            per_call = max(tokens_per_call(tokens, usage.calls), 1.0)
            n = min(n, int((cfg.budget.max_tokens - tokens) // (per_call * per_candidate)))
        return max(0, n)

    async def _propose(
        self,
        caller: ModelCaller,
        qs: list[str],
        scored: list[_Scored],
        step: int,
        n: int,
        usage: CallUsage,
    ) -> list[str]:
        cfg = self.config
        best = sorted(scored, key=lambda s: s.score, reverse=True)[: cfg.shown]
        base = {
            "values": self.value_set.describe(),
            "instructions": "\n\n".join(
                prompts.OPRO_INSTRUCTION_ITEM.format(instruction=s.instruction, score=s.score)
                for s in best
            ),
            "questions": "\n".join(
                prompts.OPRO_QUESTION_ITEM.format(question=_trim(q)) for q in qs[:_QUESTIONS_SHOWN]
            ),
        }

        async def one(variant: int) -> str:
            messages = prompts.OPRO_PROMPT.format_messages(**base, variant=variant)
            msg = await caller.acall(
                messages,
                usage=usage,
                temperature=cfg.proposer_temperature,
                seed=stable_seed(cfg.seed, "opro-propose", step, variant),
                metadata={"phase": "opro-propose", "iteration": step, "candidate": variant},
            )
            return parse_candidate(message_text(msg))

        return list(await asyncio.gather(*(one(v) for v in range(1, n + 1))))

    async def _score(
        self,
        callers: dict[str, ModelCaller],
        qs: list[str],
        batch: list[int],
        step: int,
        instruction: str,
        usage: CallUsage,
    ) -> _Scored:
        cfg = self.config
        judge_cfg = PicacoConfig(
            seed=cfg.seed,
            judge_protocol=cfg.judge_protocol,
            judge_injection=cfg.judge_injection,
            judge_format=cfg.judge_format,
            judge_logprobs=cfg.judge_logprobs,
            judge_retries=cfg.judge_retries,
        )

        async def one(q: int) -> dict[str, Any]:
            meta = {"phase": "opro-score", "iteration": step, "query": q}
            text = await generate_response(
                callers["target"],
                instruction,
                qs[q],
                usage=usage,
                temperature=0.0,
                seed=stable_seed(cfg.seed, "sample", q, 0),
                metadata=meta,
            )
            result = await judge_response(
                callers["judge"],
                self.value_set,
                qs[q],
                text,
                judge_cfg,
                usage=usage,
                seed_key=("opro", step, instruction, q),
                metadata=meta,
            )
            return {"scores": result.scores}

        rows = await asyncio.gather(*(one(q) for q in batch))
        summary = summarize_scores(rows, self.value_set.names)  # type: ignore[arg-type]
        return _Scored(step=step, instruction=instruction, score=summary["mean"], summary=summary)

    def _artifact(
        self,
        scored: list[_Scored],
        rejected: list[HistoryEntry],
        usage: CallUsage,
        stop_reason: str,
        started: float,
    ) -> MetaInstruction:
        # max() keeps the first of equal scores: the earliest instruction wins ties.
        best = max(scored, key=lambda s: s.score)
        history = [
            HistoryEntry(
                iteration=s.step,
                instruction=s.instruction,
                objective=s.score,
                per_value=dict(s.summary["per_value"]),
                accepted=s is best,
            )
            for s in scored
        ]
        return MetaInstruction(
            text=best.instruction,
            value_set=self.value_set,
            scores=_value_scores(best.summary),
            reference_scores={"seed": _value_scores(scored[0].summary)},
            history=[*history, *rejected],
            models={
                "target": model_identity(self.target),
                "judge": model_identity(self.judge),
                "proposer": model_identity(self.proposer),
            },
            config={**self.config.model_dump(), "method": "opro"},
            seed=self.config.seed,
            usage=usage.to_usage(time.monotonic() - started),
            stop_reason=stop_reason,
        )


def _config(config: OproConfig | dict[str, Any] | None) -> OproConfig:
    if config is None:
        return OproConfig()
    if isinstance(config, OproConfig):
        return config
    if not isinstance(config, dict):
        raise ConfigError("config", f"is a {type(config).__name__}", "pass an OproConfig or a dict")
    try:
        return OproConfig.model_validate(config)
    except ValidationError as exc:
        raise config_error(exc) from None


def _queries(queries: Sequence[str] | str | Path | None, value_set: ValueSet) -> list[str]:
    if queries is None:
        return load_queries(value_set.name, split="optimize")
    if isinstance(queries, Sequence) and not isinstance(queries, str) and not queries:
        raise QueryError("queries", "is an empty list", "pass at least one query")
    return load_queries(queries)


def _guard(text: str, seen: Sequence[str]) -> str | None:
    """Classic OPRO only skips empty, overlong and already-scored instructions.

    PICACO's extra guards (questions, copies of a query) are left out on purpose: they are part
    of what is being compared.
    """
    reason = guard_candidate(text, queries=[], seen=seen)
    return None if reason == "question" else reason


def _trim(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _value_scores(summary: dict[str, Any]) -> ValueScores:
    return ValueScores(
        per_value=dict(summary.get("per_value") or {}),
        mean=float(summary["mean"]),
        min=float(summary["min"]),
        std=float(summary.get("std", 0.0)),
        n=int(summary.get("n", 0)),
    )
