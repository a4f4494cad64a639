"""The friendly facade over the PICACO graph: :class:`PicacoOptimizer`.

Example:
    .. code-block:: python

        from langchain.chat_models import init_chat_model
        from langchain_picaco import PicacoConfig, PicacoOptimizer

        model = init_chat_model("openai:gpt-4o-mini")
        opt = PicacoOptimizer(model, values="hh-balance-8", config=PicacoConfig(iterations=3))
        print(opt.plan(queries))            # projected calls and tokens, nothing spent
        mi = opt.optimize(queries)          # a MetaInstruction
        mi.save("hh.json")
        chain = prompt | mi.as_runnable() | model
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from langchain_picaco.calls import CallUsage, ModelCaller, model_identity
from langchain_picaco.config import PicacoConfig, config_from_kwargs
from langchain_picaco.errors import ConfigError, MissingDependencyError, QueryError
from langchain_picaco.graph.builder import build_graph, recursion_limit
from langchain_picaco.graph.context import PicacoContext
from langchain_picaco.graph.nodes import (
    Likelihood,
    Resources,
    default_seed_instruction,
    final_calls,
    reference_calls,
    summarize_scores,
)
from langchain_picaco.instruction import HistoryEntry, MetaInstruction, Usage, ValueScores
from langchain_picaco.measure import generate_response, judge_response, stable_seed
from langchain_picaco.queries import load_queries
from langchain_picaco.scoring import EmbeddingRedundancy, LexicalRedundancy, Redundancy
from langchain_picaco.tokens import count_tokens
from langchain_picaco.values import ValueSet, load_value_set

__all__ = ["EvaluationReport", "Plan", "PicacoOptimizer"]

T = TypeVar("T")

_RESPONSE_TOKENS_GUESS = 200
_JUDGE_PROMPT_OVERHEAD = 350
_PROPOSER_PROMPT_OVERHEAD = 900


class Plan(BaseModel):
    """What a run is projected to spend, before any call is made.

    Attributes:
        queries: Optimisation queries.
        selection: The selection mode the run will use.
        calls_by_phase: Upper bound of model calls per phase.
        max_calls: Upper bound of model calls in all (judge retries aside).
        est_tokens: Estimated input plus output tokens (tiktoken on the prompts).
        budget_calls: The call budget, if any; the run stops cleanly when it is spent.
    """

    queries: int
    selection: str
    calls_by_phase: dict[str, int]
    max_calls: int
    est_tokens: int
    budget_calls: int | None = None

    def __str__(self) -> str:
        phases = ", ".join(f"{k} {v}" for k, v in self.calls_by_phase.items())
        budget = f"; budget {self.budget_calls} calls" if self.budget_calls else ""
        return (
            f"PICACO plan: {self.queries} queries, {self.selection} selection; at most "
            f"{self.max_calls} calls ({phases}); about {self.est_tokens:,} tokens{budget}"
        )


class EvaluationReport(BaseModel):
    """Per-value judge scores of one instruction (or of the bare model) on some queries.

    Attributes:
        instruction: The instruction evaluated (None: the bare model).
        value_set: Name of the value set.
        scores: Per-value means, mean, min and spread.
        responses: Each query, response and its per-value scores.
        usage: Calls and tokens spent.
        judge_faults: Responses whose judge reply could not be parsed (scored neutral).
    """

    instruction: str | None
    value_set: str
    scores: ValueScores
    responses: list[dict[str, Any]] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    judge_faults: int = 0

    def table(self) -> str:
        """A plain-text table of the per-value scores."""
        rows = [f"{'value':<24} score", f"{'-' * 24} -----"]
        rows += [f"{n:<24} {s:5.2f}" for n, s in self.scores.per_value.items()]
        rows.append(f"{'mean':<24} {self.scores.mean:5.2f}")
        rows.append(f"{'min':<24} {self.scores.min:5.2f}")
        rows.append(f"{'spread (std)':<24} {self.scores.std:5.2f}")
        return "\n".join(rows)


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also inside a running loop (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="picaco-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Progress:
    """A progress bar on a terminal (tqdm, if installed); silent otherwise."""

    def __init__(self, enabled: bool | None, total: int, desc: str) -> None:
        self.bar = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is in the dev extra
            return
        self.bar = tqdm(total=total, desc=desc, unit="call", leave=True)

    def event(self, event: dict[str, Any]) -> None:
        if self.bar is None:
            return
        if event.get("event") in ("sampled", "scored", "proposed"):
            self.bar.update(1)
        elif event.get("phase") == "round":
            self.bar.set_postfix(
                round=event.get("iteration"), accepted=event.get("accepted"), refresh=False
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class PicacoOptimizer:
    """Search for one meta-instruction that makes a model honour every value of a value set.

    Example:
        .. code-block:: python

            from langchain_picaco import PicacoOptimizer, PicacoConfig
            from langchain_picaco.testing import SyntheticWorld
            from langchain_picaco import load_value_set

            world = SyntheticWorld(load_value_set("confucianism-4"))
            opt = PicacoOptimizer(world.target(), values=world.value_set,
                                  judge=world.judge(), proposer=world.proposer(),
                                  config=PicacoConfig(iterations=3))
            mi = opt.optimize(["Should I move abroad?", "How do I plan a wedding?"])
            print(mi.summary())

    Args:
        target: The chat model to align (any LangChain ``BaseChatModel``).
        values: A shipped value-set name, a path to a JSON file, or a ``ValueSet``.
        judge: The value judge (default: the target).
        proposer: The model writing candidate instructions (default: the target).
        config: Settings (a ``PicacoConfig`` or a dict of its fields).
        checkpointer: A LangGraph checkpointer, or a path to a SQLite file, to resume runs.
        embeddings: LangChain embeddings for the redundancy term (default: lexical overlap).
        likelihood: Scorer of log p(y | e, x) for likelihood selection (default: the target's
            own, when it offers one through ``picaco_likelihood()``).
        rate_limiter: Optional LangChain rate limiter shared by every call.
        progress: Show a progress bar (None: only when stderr is a terminal).
    """

    def __init__(
        self,
        target: BaseChatModel,
        *,
        values: str | Path | ValueSet,
        judge: BaseChatModel | None = None,
        proposer: BaseChatModel | None = None,
        config: PicacoConfig | dict[str, Any] | None = None,
        checkpointer: Any | None = None,
        embeddings: Embeddings | None = None,
        likelihood: Likelihood | None = None,
        rate_limiter: Any | None = None,
        progress: bool | None = None,
    ) -> None:
        for role, model in (("target", target), ("judge", judge), ("proposer", proposer)):
            if model is not None and not isinstance(model, BaseChatModel):
                raise ConfigError(
                    role,
                    f"is a {type(model).__name__}, not a LangChain chat model",
                    "pass a BaseChatModel (e.g. init_chat_model('provider:model'))",
                )
        self.value_set = load_value_set(values)
        self.config = config_from_kwargs(config)
        self.target = target
        self.judge = judge or target
        self.proposer = proposer or target
        self.checkpointer = checkpointer
        self.progress = progress
        redundancy: Redundancy = (
            EmbeddingRedundancy(embeddings) if embeddings is not None else LexicalRedundancy()
        )
        if likelihood is None:
            hook = getattr(target, "picaco_likelihood", None)
            likelihood = hook() if callable(hook) else None
        self.resources = Resources(
            target=self.target,
            judge=self.judge,
            proposer=self.proposer,
            redundancy=redundancy,
            likelihood=likelihood,
            rate_limiter=rate_limiter,
        )

    # ------------------------------------------------------------------ planning
    def _queries(self, queries: Sequence[str] | str | Path | None, split: str) -> list[str]:
        if queries is None:
            return load_queries(self.value_set.name, split=split)
        if isinstance(queries, Sequence) and not isinstance(queries, str) and not queries:
            raise QueryError("queries", "is an empty list", "pass at least one query")
        return load_queries(queries)

    def _selection(self) -> str:
        if self.config.selection == "sampling" or self.resources.likelihood is None:
            return "sampling"
        return "likelihood"

    def plan(self, queries: Sequence[str] | str | Path | None = None) -> Plan:
        """Project the calls and tokens of :meth:`optimize` without calling any model.

        Args:
            queries: The optimisation queries (list, file, or shipped set name; None: shipped).

        Returns:
            The plan; ``str(plan)`` is a one-line summary.
        """
        qs = self._queries(queries, "optimize")
        cfg = self.config
        n = len(qs)
        b = min(cfg.minibatch, n)
        selection = self._selection()
        paired = cfg.acceptance == "paired"
        per_round_eval = 2 * (cfg.candidates + 1) * b if selection == "sampling" else 0
        phases = {
            "reference": reference_calls(cfg, n),
            "propose": cfg.candidates * cfg.iterations,
            "evaluate": per_round_eval * cfg.iterations,
            "confirm": (4 * n * cfg.samples_per_query * cfg.iterations) if paired else 0,
            "enhance": 0 if paired else 2 * n * cfg.samples_per_query * cfg.iterations,
            "final": final_calls(n),
        }
        total = sum(phases.values())
        q_tokens = sum(count_tokens(q) for q in qs) / n
        instr = count_tokens(default_seed_instruction(self.value_set)) + 40
        values_tokens = count_tokens(self.value_set.describe())
        target_call = q_tokens + instr + _RESPONSE_TOKENS_GUESS
        judge_call = _JUDGE_PROMPT_OVERHEAD + values_tokens + q_tokens + _RESPONSE_TOKENS_GUESS
        judge_call += 10 * len(self.value_set)
        proposer_call = _PROPOSER_PROMPT_OVERHEAD + values_tokens + 2 * _RESPONSE_TOKENS_GUESS
        target_like = (total - phases["propose"]) / 2
        est = target_like * (target_call + judge_call) + phases["propose"] * proposer_call
        return Plan(
            queries=n,
            selection=selection,
            calls_by_phase=phases,
            max_calls=total,
            est_tokens=int(est),
            budget_calls=cfg.budget.max_calls,
        )

    # ------------------------------------------------------------------ optimisation
    def optimize(
        self,
        queries: Sequence[str] | str | Path | None = None,
        *,
        seed_instruction: str | None = None,
        thread_id: str | None = None,
    ) -> MetaInstruction:
        """Run PICACO and return the best meta-instruction (sync; see :meth:`aoptimize`)."""
        return run_sync(
            lambda: self.aoptimize(queries, seed_instruction=seed_instruction, thread_id=thread_id)
        )

    async def aoptimize(
        self,
        queries: Sequence[str] | str | Path | None = None,
        *,
        seed_instruction: str | None = None,
        thread_id: str | None = None,
    ) -> MetaInstruction:
        """Run PICACO and return a new :class:`MetaInstruction` (the inputs are not changed).

        Args:
            queries: Optimisation queries (list, file, or shipped set name; None: shipped).
            seed_instruction: Where the search starts (default: the value-listing instruction).
            thread_id: With a checkpointer, the run's id: running again with the same id
                resumes an interrupted run (a finished one costs no calls).

        Returns:
            The artifact, with per-value scores, history, models, config, seed and usage. A
            spent budget ends the run cleanly, marked ``stop_reason="budget"``; Ctrl-C ends it
            with the best instruction so far, marked ``"interrupted"``.
        """
        qs = self._queries(queries, "optimize")
        plan = self.plan(qs)
        started = time.monotonic()
        async with AsyncExitStack() as stack:
            checkpointer = await _open_checkpointer(self.checkpointer, stack)
            graph = build_graph(self.resources, checkpointer=checkpointer)
            tid = thread_id or str(uuid.uuid4())
            run_config: dict[str, Any] = {
                "configurable": {"thread_id": tid},
                "max_concurrency": max(2, self.config.max_concurrency * 2),
                "recursion_limit": recursion_limit(self.config),
                "run_name": "picaco.optimize",
            }
            context = PicacoContext(config=self.config)
            inp: dict[str, Any] | None = {
                "value_set": self.value_set.model_dump(),
                "queries": qs,
                "seed_instruction": seed_instruction,
            }
            if checkpointer is not None:
                snapshot = await graph.aget_state(run_config)
                if snapshot.values and snapshot.next:
                    inp = None  # resume where the interrupted run stopped
                elif snapshot.values and snapshot.values.get("stop_reason"):
                    return self._artifact(snapshot.values, started)
            progress = _Progress(self.progress, plan.max_calls, "PICACO")
            last: dict[str, Any] = {}
            try:
                async for mode, chunk in graph.astream(
                    inp, run_config, context=context, stream_mode=["custom", "values"]
                ):
                    if mode == "values":
                        last = chunk
                    else:
                        progress.event(chunk)
            except (KeyboardInterrupt, asyncio.CancelledError):
                progress.close()
                if not last.get("instruction"):
                    raise
                return self._artifact({**last, "stop_reason": "interrupted"}, started)
            finally:
                progress.close()
            if checkpointer is not None and not last:
                snapshot = await graph.aget_state(run_config)
                last = dict(snapshot.values)
            return self._artifact(last, started)

    def _artifact(self, values: dict[str, Any], started: float) -> MetaInstruction:
        usage = values.get("usage") or {}
        final = values.get("final_scores") or values.get("incumbent_scores") or {}
        history = [HistoryEntry.model_validate(h) for h in values.get("history") or []]
        history += [
            HistoryEntry(
                iteration=r["iteration"],
                instruction=r["instruction"] or "(empty)",
                rejected_reason=r["reason"],
            )
            for r in values.get("rejected") or []
        ]
        refs = {
            k: _scores(v) for k, v in (values.get("reference_scores") or {}).items() if v.get("n")
        }
        return MetaInstruction(
            text=values["instruction"],
            value_set=self.value_set,
            scores=_scores(final) if final.get("per_value") else None,
            reference_scores=refs,
            history=history,
            models={
                "target": model_identity(self.target),
                "judge": model_identity(self.judge),
                "proposer": model_identity(self.proposer),
            },
            config={
                **self.config.model_dump(),
                "method": "picaco",
                "selection_used": values.get("selection"),
            },
            seed=self.config.seed,
            usage=Usage(
                calls=int(usage.get("calls", 0)),
                input_tokens=int(usage.get("input_tokens", 0)),
                output_tokens=int(usage.get("output_tokens", 0)),
                calls_by_role=dict(usage.get("calls_by_role") or {}),
                faults=dict(usage.get("faults") or {}),
                wall_seconds=round(time.monotonic() - started, 3),
            ),
            stop_reason=values.get("stop_reason"),
        )

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        instruction: MetaInstruction | str | None,
        queries: Sequence[str] | str | Path | None = None,
        *,
        samples: int = 1,
    ) -> EvaluationReport:
        """Score an instruction (or the bare model, with None) on queries (sync)."""
        return run_sync(lambda: self.aevaluate(instruction, queries, samples=samples))

    async def aevaluate(
        self,
        instruction: MetaInstruction | str | None,
        queries: Sequence[str] | str | Path | None = None,
        *,
        samples: int = 1,
    ) -> EvaluationReport:
        """Score an instruction (or the bare model) on queries with the judge.

        Args:
            instruction: A MetaInstruction, its text, or None for the bare model.
            queries: Held-out queries (list, file, or shipped set name; None: the shipped
                held-out split).
            samples: Responses per query (sample 0 is greedy; others at the config temperature).

        Returns:
            The per-value report.
        """
        text = instruction.text if isinstance(instruction, MetaInstruction) else instruction
        qs = self._queries(queries, "heldout")
        cfg = self.config
        group = id(self.resources)
        target = ModelCaller(
            self.target, "target", retry=cfg.retry, max_concurrency=cfg.max_concurrency, group=group
        )
        judge = ModelCaller(
            self.judge, "judge", retry=cfg.retry, max_concurrency=cfg.max_concurrency, group=group
        )
        usage = CallUsage()
        started = time.monotonic()

        async def one(q: int, s: int) -> dict[str, Any]:
            meta = {"phase": "evaluate-report", "query": q, "sample": s}
            response = await generate_response(
                target,
                text,
                qs[q],
                usage=usage,
                temperature=0.0 if s == 0 else cfg.temperature,
                seed=stable_seed(cfg.seed, "sample", q, s),
                metadata=meta,
            )
            result = await judge_response(
                judge,
                self.value_set,
                qs[q],
                response,
                cfg,
                usage=usage,
                seed_key=("evaluate", q, s),
                metadata=meta,
            )
            return {
                "query": qs[q],
                "sample": s,
                "response": response,
                "scores": result.scores,
                "fault": result.fault,
            }

        rows = await asyncio.gather(*(one(q, s) for q in range(len(qs)) for s in range(samples)))
        summary = summarize_scores(rows, self.value_set.names)  # type: ignore[arg-type]
        return EvaluationReport(
            instruction=text,
            value_set=self.value_set.name,
            scores=_scores(summary),
            responses=list(rows),
            usage=Usage(
                calls=usage.calls,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                calls_by_role=usage.calls_by_role,
                faults=usage.faults,
                wall_seconds=round(time.monotonic() - started, 3),
            ),
            judge_faults=sum(1 for r in rows if r["fault"]),
        )


def _scores(d: dict[str, Any]) -> ValueScores:
    return ValueScores(
        per_value=dict(d.get("per_value") or {}),
        mean=float(d.get("mean", math.nan)),
        min=float(d.get("min", math.nan)),
        std=float(d.get("std", 0.0)),
        n=int(d.get("n", 0)),
    )


async def _open_checkpointer(spec: Any, stack: AsyncExitStack) -> Any:
    """A checkpointer object as given, or an async SQLite saver for a path."""
    if spec is None or not isinstance(spec, str | Path):
        return spec
    try:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    except ImportError as exc:
        raise MissingDependencyError("a SQLite checkpointer path", "sqlite") from exc
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    return await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(spec)))
