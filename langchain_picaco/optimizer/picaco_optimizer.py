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
import hashlib
import json
import math
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from langchain_picaco._async import run_sync, sync_twin
from langchain_picaco.config import PicacoConfig, comparable_settings, config_from_kwargs
from langchain_picaco.errors import ConfigError, MissingDependencyError, QueryError
from langchain_picaco.instruction import (
    HistoryEntry,
    MetaInstruction,
    ParetoMember,
    Usage,
    ValueScores,
)
from langchain_picaco.llm.calls import (
    CallUsage,
    ModelCaller,
    check_chat_models,
    context_window,
    model_identity,
)
from langchain_picaco.llm.tokens import count_message_tokens, count_tokens
from langchain_picaco.optimizer.budget import (
    budget_floor,
    check_budget_floor,
    phase_calls,
    selection_mode,
)
from langchain_picaco.optimizer.graph.builder import build_graph, recursion_limit
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.resources import Likelihood, Resources
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.scoring import (
    EmbeddingRedundancy,
    LexicalRedundancy,
    Redundancy,
    build_judge_messages,
)
from langchain_picaco.scoring.calibration import (
    BlindJudgeWarning,
    CalibrationReport,
    References,
    run_calibration,
)
from langchain_picaco.scoring.measure import (
    default_judge_protocol,
    generate_response,
    judge_response,
    stable_seed,
    target_messages,
)
from langchain_picaco.scoring.stats import summarize_scores
from langchain_picaco.values.queries import load_queries
from langchain_picaco.values.value_sets import ValueSet, load_value_set

__all__ = ["EvaluationReport", "Plan", "PicacoOptimizer"]

_RESPONSE_TOKENS_GUESS = 200
_JUDGE_PROMPT_OVERHEAD = 350
_PROPOSER_PROMPT_OVERHEAD = 900


class Plan(BaseModel):
    """What a run is projected to spend, before any call is made.

    Attributes:
        queries: Optimisation queries.
        selection: The selection mode the run will use.
        judge_protocol: The judge protocol the run will use ("auto": the calibration chooses;
            the plan then counts every protocol it tries and the costliest per response).
        calls_by_phase: Upper bound of model calls per phase.
        max_calls: Upper bound of the calls a run counts, all roles, if every reply can be used:
            judge replies asked again because they could not be read (up to ``judge_retries``
            more per question) and empty replies sent again are counted calls left out here;
            attempts that failed with a transient error and were retried are not counted.
        est_tokens: Estimated input plus output tokens (tiktoken on the prompts).
        budget_calls: The call budget, if any; the run stops cleanly when it is spent.
    """

    queries: int
    selection: str
    judge_protocol: str = "rubric"
    calls_by_phase: dict[str, int]
    max_calls: int
    est_tokens: int
    budget_calls: int | None = None

    def __str__(self) -> str:
        phases = ", ".join(f"{k} {v}" for k, v in self.calls_by_phase.items())
        budget = f"; budget {self.budget_calls} calls" if self.budget_calls else ""
        return (
            f"PICACO plan: {self.queries} queries, {self.selection} selection, judge protocol "
            f"{self.judge_protocol}; at most "
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
            from langchain_picaco.values import load_value_set

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
        cache: A call cache (a LangChain ``BaseCache``) or a path to a SQLite file
            (:class:`~langchain_picaco.llm.cache.SQLiteCallCache`): a re-run or a resumed run gets
            repeated calls from it at no cost; hits and misses are in the artifact's usage.
        requests_per_second: Bound on model requests per second (an ``InMemoryRateLimiter``
            shared by every call); not with ``rate_limiter``.
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
        cache: Any | None = None,
        requests_per_second: float | None = None,
    ) -> None:
        check_chat_models(target=target, judge=judge, proposer=proposer)
        self.value_set = load_value_set(values)
        self.config = config_from_kwargs(config)
        self.target = target
        self.judge = judge or target
        self.proposer = proposer or target
        self.checkpointer = checkpointer
        self.progress = progress
        self._protocol_used: str | None = None  # what "auto" chose in the last calibration/run
        redundancy: Redundancy = (
            EmbeddingRedundancy(embeddings) if embeddings is not None else LexicalRedundancy()
        )
        if likelihood is None:
            hook = getattr(target, "picaco_likelihood", None)
            likelihood = hook() if callable(hook) else None
        self.cache = _open_cache(cache)
        self.resources = Resources(
            target=self.target,
            judge=self.judge,
            proposer=self.proposer,
            redundancy=redundancy,
            likelihood=likelihood,
            rate_limiter=_rate_limiter(rate_limiter, requests_per_second),
            cache=self.cache,
        )

    # ------------------------------------------------------------------ planning
    def _queries(self, queries: Sequence[str] | str | Path | None, split: str) -> list[str]:
        if queries is None:
            return load_queries(self.value_set.name, split=split)
        if isinstance(queries, Sequence) and not isinstance(queries, str) and not queries:
            raise QueryError("queries", "is an empty list", "pass at least one query")
        return load_queries(queries)

    def check_context(self, queries: Sequence[str], seed_instruction: str | None = None) -> None:
        """Refuse queries too long for the target's or the judge's context window.

        The longest query (counted with tiktoken, so approximately) with the seed instruction,
        and its judge prompt with room for the reply, must fit the context the model reports
        (``context_window``, ``max_input_tokens``, ``n_ctx``, its profile, or the local server's
        setting). Models that report none are not checked.

        Raises:
            QueryError: Naming the query index, its length and the window.
        """
        if not queries:
            return
        lengths = [count_tokens(q) for q in queries]
        i = max(range(len(queries)), key=lengths.__getitem__)
        seed = (seed_instruction or "").strip() or default_seed_instruction(self.value_set)
        reply = _max_tokens(self.target)
        checks = (
            ("target", self.target, target_messages(seed, queries[i]), reply),
            (
                "judge",
                self.judge,
                build_judge_messages(self.value_set, queries[i], "", fmt=self.config.judge_format),
                reply + _max_tokens(self.judge),
            ),
        )
        for role, model, messages, reserve in checks:
            window = context_window(model)
            if window is None:
                continue
            need = count_message_tokens(messages) + reserve
            if need > window:
                raise QueryError(
                    f"queries[{i}]",
                    f"is about {lengths[i]} tokens; the {role} model's prompt with it (and room "
                    f"for the reply) needs about {need} tokens, more than the model's context "
                    f"window of {window}",
                    "shorten or drop that query, or use a model with a longer context",
                )

    def _judge_protocol(self) -> str:
        """The concrete protocol for measurements outside a run (evaluate)."""
        if self.config.judge_protocol == "auto":
            return self._protocol_used or default_judge_protocol(self.judge)
        return self.config.judge_protocol

    def _selection(self) -> str:
        """The run's selection mode (refusing ``"likelihood"`` without a scorer, as a run does)."""
        return selection_mode(self.config, self.resources.likelihood)

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
        selection = self._selection()
        floor = budget_floor(cfg, self.value_set, n, self.judge)  # what aoptimize checks
        protocol, per = floor.protocol, floor.per_response
        phases = phase_calls(cfg, floor, selection)
        total = sum(phases.values())
        q_tokens = sum(count_tokens(q) for q in qs) / n
        instr = count_tokens(default_seed_instruction(self.value_set)) + 40
        values_tokens = count_tokens(self.value_set.describe())
        target_call = q_tokens + instr + _RESPONSE_TOKENS_GUESS
        judge_call = _JUDGE_PROMPT_OVERHEAD + values_tokens + q_tokens + _RESPONSE_TOKENS_GUESS
        judge_call += 10 * len(self.value_set)
        if per > 2:  # one short question per value: the prompt holds one value, not all
            judge_call -= values_tokens * (1 - 1 / len(self.value_set))
        proposer_call = _PROPOSER_PROMPT_OVERHEAD + values_tokens + 2 * _RESPONSE_TOKENS_GUESS
        responses = (total - phases["propose"] - phases["calibrate"] - phases["likelihood"]) / per
        est = responses * (target_call + (per - 1) * judge_call) + phases["propose"] * proposer_call
        est += phases["likelihood"] * (q_tokens + instr + _RESPONSE_TOKENS_GUESS)
        est += phases["calibrate"] * judge_call
        return Plan(
            queries=n,
            selection=selection,
            judge_protocol=protocol,
            calls_by_phase=phases,
            max_calls=total,
            est_tokens=int(est),
            budget_calls=cfg.budget.max_calls,
        )

    # ------------------------------------------------------------------ optimisation
    async def aoptimize(
        self,
        queries: Sequence[str] | str | Path | None = None,
        *,
        seed_instruction: str | None = None,
        thread_id: str | None = None,
        calibration: CalibrationReport | None = None,
    ) -> MetaInstruction:
        """Run PICACO and return a new :class:`MetaInstruction` (the inputs are not changed).

        Unless ``config.calibrate`` is off or a ``calibration`` is given, the run first
        calibrates the judge (see :meth:`calibrate`); when the judge cannot see some value, a
        :class:`~langchain_picaco.BlindJudgeWarning` naming it is emitted at once,
        and with ``config.calibration.on_blind="stop"`` the run ends there
        (``stop_reason="blind_judge"``, nothing else spent).

        Args:
            queries: Optimisation queries (list, file, or shipped set name; None: shipped).
            seed_instruction: Where the search starts (default: the value-listing instruction).
            thread_id: With a checkpointer, the run's id: running again with the same id
                resumes an interrupted run (a finished one costs no calls).
            calibration: A report from :meth:`calibrate` to use instead of calibrating again
                (its calls are not counted again).

        Returns:
            The artifact, with per-value scores, history, models, config, seed, usage and the
            judge calibration. A spent budget ends the run cleanly, marked
            ``stop_reason="budget"``; Ctrl-C ends it with the best instruction so far, marked
            ``"interrupted"``.
        """
        qs = self._queries(queries, "optimize")
        self.check_context(qs, seed_instruction)
        # The floor prepare checks (calibration included when it runs), checked here too, before
        # a checkpoint file is made: one floor, one message.
        given = calibration.model_dump(mode="json") if calibration is not None else None
        check_budget_floor(
            self.config, budget_floor(self.config, self.value_set, len(qs), self.judge, given)
        )
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
                "metadata": {"picaco_settings": _settings_fingerprint(self.config)},
            }
            context = PicacoContext(config=self.config)
            inp: dict[str, Any] | None = {
                "value_set": self.value_set.model_dump(),
                "queries": qs,
                "seed_instruction": seed_instruction,
                "calibration": calibration.model_dump(mode="json") if calibration else None,
            }
            if calibration is not None:
                self._warn_if_blind(calibration)
            if checkpointer is not None:
                snapshot = await graph.aget_state(run_config)
                if snapshot.values:
                    self._check_resumable(snapshot, qs, tid)
                if snapshot.values and snapshot.tasks:
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
                        if chunk.get("event") == "calibrated":
                            self._warn_if_blind(chunk["calibration"])
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

    @sync_twin(aoptimize)
    def optimize(*args: Any, **kwargs: Any) -> MetaInstruction:
        """Sync twin of :meth:`aoptimize` (the docstring is replaced by aoptimize's)."""

    def _check_resumable(self, snapshot: Any, queries: Sequence[str], tid: str) -> None:
        """Refuse to resume (or reread) a run with other queries, values or settings."""
        values = snapshot.values
        stored = values.get("values") or values.get("value_set")
        names = (
            [v.get("name") for v in stored.get("values") or []]
            if isinstance(stored, dict)
            else None
        )
        saved = [q.strip() for q in values.get("queries") or [] if isinstance(q, str)]
        fingerprint = (snapshot.metadata or {}).get("picaco_settings")
        problem = None
        if names is not None and names != self.value_set.names:
            problem = f"was started with the values {names}"
        elif saved and saved != [q.strip() for q in queries]:
            problem = f"was started with other queries ({len(saved)} of them)"
        elif fingerprint and fingerprint != _settings_fingerprint(self.config):
            before = self.config.model_copy(update={"proposal_strategy": "weakest"})
            if fingerprint == _settings_fingerprint(before):
                raise ConfigError(
                    f"thread_id {tid!r}",
                    "was started with proposal_strategy='weakest' (the default before 0.2)",
                    "resume with proposal_strategy='weakest' (--proposal-strategy weakest), or "
                    "start a new run id",
                )
            problem = "was started with other settings (iterations, seed, candidates, ...)"
        if problem:
            raise ConfigError(
                f"thread_id {tid!r}",
                problem,
                "resume with the same values, queries and settings, or start a new run id",
            )

    def _artifact(self, values: dict[str, Any], started: float) -> MetaInstruction:
        if values.get("judge_protocol") not in (None, "auto"):
            self._protocol_used = str(values["judge_protocol"])
        usage = values.get("usage") or {}
        final = values.get("final_scores") or values.get("incumbent_scores") or {}
        history = [HistoryEntry.model_validate(h) for h in values.get("history") or []]
        history += [
            HistoryEntry(
                iteration=r["iteration"],
                instruction=r["instruction"] or "(empty)",
                rejected_reason=r["reason"],
                proposal=r.get("proposal"),
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
            pareto_front=[ParetoMember.model_validate(m) for m in values.get("pareto_front") or []],
            models={
                "target": model_identity(self.target),
                "judge": model_identity(self.judge),
                "proposer": model_identity(self.proposer),
            },
            config={
                **self.config.model_dump(),
                "method": "picaco",
                "selection_used": values.get("selection"),
                "judge_protocol_used": values.get("judge_protocol"),
            },
            seed=self.config.seed,
            usage=Usage.from_counts(usage, time.monotonic() - started),
            stop_reason=values.get("stop_reason"),
            calibration=values.get("calibration"),
        )

    # ------------------------------------------------------------------ calibration
    def _warn_if_blind(self, report: CalibrationReport | dict[str, Any]) -> None:
        """Emit a :class:`BlindJudgeWarning` when the judge fails its calibration."""
        if not isinstance(report, CalibrationReport):
            report = CalibrationReport.model_validate(report)
        message = report.warning_message(self.config.calibration.fail_on)
        if message:
            warnings.warn(f"PICACO: {message}", BlindJudgeWarning, stacklevel=2)

    def calibrate(
        self,
        *,
        references: References | None = None,
        off_topic: Sequence[str] | None = None,
    ) -> CalibrationReport:
        """Calibrate the judge on reference responses (sync; see :meth:`acalibrate`)."""
        return run_sync(lambda: self.acalibrate(references=references, off_topic=off_topic))

    async def acalibrate(
        self,
        *,
        references: References | None = None,
        off_topic: Sequence[str] | None = None,
    ) -> CalibrationReport:
        """Measure whether the judge can see each value, before any budget is spent on it.

        The judge rates reference responses (per value: some that act on it and some that
        violate it, on a few queries; plus off-topic text), one call per response. The report
        gives, per value, the separation (acts minus violates, with a confidence interval), the
        specificity (does a response written for the value score higher on it than on the
        others), a verdict ("sees", "weak", "blind") and a confusion matrix; ``report.table()``
        renders them.

        Args:
            references: ``{value: [{"query", "acts", "violates"}, ...]}`` for values without
                shipped references, or to replace them (None: the shipped ones).
            off_topic: Off-topic responses (None: the shipped ones).

        Returns:
            The report (it does not warn; :meth:`optimize` does).
        """
        cfg = self.config
        caller = ModelCaller(
            self.judge,
            "judge",
            retry=cfg.retry,
            max_concurrency=cfg.max_concurrency,
            group=id(self.resources),
            rate_limiter=self.resources.rate_limiter,
        )
        started = time.monotonic()
        report = await run_calibration(
            caller,
            self.value_set,
            cfg,
            usage=CallUsage(),
            references=references,
            off_topic=off_topic,
        )
        usage = report.usage.model_copy(
            update={"wall_seconds": round(time.monotonic() - started, 3)}
        )
        self._protocol_used = report.protocol
        return report.model_copy(update={"usage": usage})

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
        self.check_context(qs, text)
        cfg = self.config
        target, judge = (self.resources.caller(role, cfg) for role in ("target", "judge"))
        usage = CallUsage()
        started = time.monotonic()
        protocol = self._judge_protocol()

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
                protocol=protocol,
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
            usage=Usage.from_counts(usage, time.monotonic() - started),
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


def _max_tokens(model: Any) -> int:
    """The reply length a model is set to (0 when it does not say)."""
    value = getattr(model, "max_tokens", None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _settings_fingerprint(config: PicacoConfig) -> str:
    """A hash of the settings that shape a run's result (not concurrency, retries or budget)."""
    data = comparable_settings(config, exclude={"max_concurrency", "retry", "budget"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _rate_limiter(limiter: Any | None, requests_per_second: float | None) -> Any | None:
    """The given limiter, or an ``InMemoryRateLimiter`` for ``requests_per_second``."""
    if requests_per_second is None:
        return limiter
    if limiter is not None:
        raise ConfigError(
            "requests_per_second",
            "was given together with rate_limiter",
            "pass one of them",
        )
    if not isinstance(requests_per_second, int | float) or not requests_per_second > 0:
        raise ConfigError(
            "requests_per_second",
            f"is {requests_per_second!r}, not a positive number",
            "pass a rate above 0, e.g. 2.5",
        )
    from langchain_core.rate_limiters import InMemoryRateLimiter

    return InMemoryRateLimiter(
        requests_per_second=float(requests_per_second),
        check_every_n_seconds=min(0.1, 0.25 / float(requests_per_second)),
        max_bucket_size=1,
    )


def _open_cache(spec: Any | None) -> Any | None:
    """A call cache as given, or a :class:`SQLiteCallCache` for a path (checked if it exists)."""
    if spec is None:
        return None
    if isinstance(spec, str | Path):
        from langchain_picaco.llm.cache import SQLiteCallCache

        cache = SQLiteCallCache(spec)
        cache.check()
        return cache
    if not callable(getattr(spec, "alookup", None)) or not callable(getattr(spec, "aupdate", None)):
        raise ConfigError(
            "cache",
            f"is a {type(spec).__name__}, not a LangChain cache",
            "pass a path to a SQLite file or a BaseCache such as SQLiteCallCache",
        )
    return spec


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
