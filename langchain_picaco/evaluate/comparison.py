"""Compare PICACO with its baselines on held-out queries, with bootstrap confidence intervals.

The paper's evaluation (the comparison of docs/benchmarks.md), on any model: PICACO and an
OPRO-style optimiser are run on the same optimisation queries with the SAME number of model calls;
then the bare model, the value-listing instruction ("Q+IF"), OPRO's instruction and PICACO's
instruction are scored on held-out queries by the same judge with the same sampling seeds
(:meth:`PicacoOptimizer.aevaluate`). Every number comes with a percentile-bootstrap interval over
the held-out queries, and PICACO is compared with each baseline by *paired* differences (the same
queries and seeds on both sides), so "PICACO wins" is only said when the interval says so.

:func:`acompare` is the flow, one step function each: :func:`_optimise_picaco`,
:func:`_opro_budget` and :func:`_optimise_opro` (OPRO at PICACO's call count), :func:`_evaluate`
(each method on the held-out queries), :func:`_differences`, :func:`_probe` (the jailbreak probe)
and :func:`_assemble`. The statistics are in :mod:`~langchain_picaco.evaluate.intervals`, the
result models in :mod:`~langchain_picaco.evaluate.results`, the probe in
:mod:`~langchain_picaco.evaluate.probe`, the ``resume_dir`` folder in
:mod:`~langchain_picaco.evaluate.resume`.

Example:
    .. code-block:: python

        from langchain_picaco import PicacoConfig, load_value_set
        from langchain_picaco.evaluate.comparison import compare
        from langchain_picaco.evaluate.reports import write_report
        from langchain_picaco.testing import SyntheticWorld

        world = SyntheticWorld(load_value_set("confucianism-4"))
        cmp = compare(world.target(), values=world.value_set, judge=world.judge(),
                      proposer=world.proposer(), queries=None, heldout=None,
                      config=PicacoConfig(iterations=2, candidates=2))
        print(cmp.table())
        write_report(cmp, "reports/confucianism-4")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from langchain_picaco._async import sync_twin
from langchain_picaco.config import Budget, PicacoConfig, config_from_kwargs
from langchain_picaco.errors import ConfigError, QueryError
from langchain_picaco.evaluate.intervals import (
    Interval,
    ScoreSummary,
    bootstrap_ci,
    check_bootstrap_args,
    paired_difference,
    summarize_with_ci,
)
from langchain_picaco.evaluate.opro import OproConfig, OproOptimizer
from langchain_picaco.evaluate.probe import (
    PROBE_VALUE_SETS,
    ProbeResult,
    ajailbreak_probe,
    aprobe_many,
    jailbreak_probe,
    parse_probe_verdict,
    probe_records,
)
from langchain_picaco.evaluate.results import (
    METHOD_LABELS,
    METHODS,
    Comparison,
    MethodResult,
    PairedDifference,
)
from langchain_picaco.evaluate.resume import PhaseCache, fingerprint
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.llm.calls import model_identity
from langchain_picaco.llm.usage import Usage
from langchain_picaco.optimizer.picaco_optimizer import EvaluationReport, PicacoOptimizer
from langchain_picaco.optimizer.resources import Likelihood
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.values.queries import QueryRecord, list_query_sets, load_queries
from langchain_picaco.values.value_sets import ValueSet, load_value_set

__all__ = ["acompare", "compare"]

_FROM_0_1 = (
    Interval,
    ScoreSummary,
    bootstrap_ci,
    ajailbreak_probe,
    jailbreak_probe,
    parse_probe_verdict,
)
"""Names of 0.1's ``langchain_picaco.evaluation`` that now live beside this module; that path is
served as this module for one release (:mod:`langchain_picaco._compat`), so they stay here."""

_OPRO_STEPS_UNBOUNDED = 1000
_SHARED_WITH_OPRO = (
    "seed",
    "max_concurrency",
    "judge_injection",
    "judge_format",
    "judge_logprobs",
    "judge_retries",
    "retry",
)
"""PICACO settings OPRO runs with as they are (so both sample, judge and retry alike)."""


@dataclass
class _Run:
    """One comparison in progress: what every step reads, and the notes the steps leave."""

    opt: PicacoOptimizer
    value_set: ValueSet
    cfg: PicacoConfig
    queries: list[str]
    heldout: list[str]
    samples: int
    confidence: float
    n_resamples: int
    on_phase: Callable[[str], None] | None
    resume_dir: InitVar[str | Path | None]
    cache: PhaseCache = field(init=False)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self, resume_dir: str | Path | None) -> None:
        models = [model_identity(m) for m in (self.opt.target, self.opt.judge, self.opt.proposer)]
        stamp = fingerprint(
            self.value_set, self.queries, self.heldout, self.cfg, self.samples, models
        )
        self.cache = PhaseCache(resume_dir, stamp)
        overlap = _normalised(self.queries) & _normalised(self.heldout)
        if overlap:
            self.notes.append(
                f"{len(overlap)} held-out queries are also optimisation queries: the held-out "
                "scores of the optimised methods are optimistic."
            )

    def phase(self, name: str) -> None:
        """Tell ``on_phase`` that a phase starts."""
        if self.on_phase is not None:
            self.on_phase(name)

    def bootstrap(self) -> dict[str, Any]:
        """The settings of every interval: resamples, coverage and seed."""
        return {
            "n_resamples": self.n_resamples,
            "confidence": self.confidence,
            "seed": self.cfg.seed,
        }


def _load(source: Sequence[str] | str | Path | None, value_set: ValueSet, split: str) -> list[str]:
    """Queries from a list, file or shipped set (a shipped set gives its ``split``)."""
    if source is None:
        return load_queries(value_set.name, split=split)
    if isinstance(source, str) and source.strip().casefold() in list_query_sets():
        return load_queries(source, split=split)
    if isinstance(source, Sequence) and not isinstance(source, str) and not source:
        raise QueryError(split, "is an empty list", "pass at least one query")
    return load_queries(source)  # type: ignore[arg-type]


def _check_methods(methods: Sequence[str]) -> list[str]:
    chosen = [m.strip().lower() for m in methods]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ConfigError(
            "methods",
            f"has unknown methods {unknown}" if unknown else "is empty",
            f"choose from {', '.join(METHODS)}",
        )
    if len(set(chosen)) != len(chosen):
        raise ConfigError("methods", "repeats a method", "name each method once")
    return [m for m in METHODS if m in chosen]


def _normalised(queries: Sequence[str]) -> set[str]:
    return {" ".join(q.split()).casefold() for q in queries}


def _timed(mi: MetaInstruction, t0: float) -> MetaInstruction:
    """The artifact with its wall time as measured here (covers any resumed part too)."""
    wall = round(time.monotonic() - t0, 3)
    return mi.model_copy(update={"usage": mi.usage.model_copy(update={"wall_seconds": wall})})


async def _optimise_picaco(run: _Run, thread_id: str | None) -> MetaInstruction:
    """Step 1: PICACO on the optimisation queries (or its artifact from the resume folder)."""
    mi = run.cache.artifact("picaco")
    if mi is None:
        run.phase("optimise picaco")
        t0 = time.monotonic()
        mi = _timed(await run.opt.aoptimize(run.queries, thread_id=thread_id), t0)
        if mi.stop_reason != "interrupted":
            run.cache.put_artifact("picaco", mi)
    if mi.stop_reason == "interrupted":
        run.notes.append("PICACO was interrupted; its best instruction so far is evaluated.")
    return mi


def _opro_budget(run: _Run, picaco: MetaInstruction | None) -> int:
    """Step 2a: OPRO's call budget, the calls PICACO's search needed (cached or not)."""
    if picaco is None:
        budget = run.cfg.budget.max_calls or run.opt.plan(run.queries).max_calls
        run.notes.append(
            f"PICACO was not run: OPRO's budget is {budget} calls "
            "(the configured budget, or PICACO's projected maximum)."
        )
        return budget
    budget = picaco.usage.calls + picaco.usage.cache_hits
    # Judge calibration is a check of the judge, not search: OPRO gets the search calls.
    spent = int((((picaco.calibration or {}).get("usage") or {}).get("calls")) or 0)
    if 0 < spent < budget:
        run.notes.append(
            f"OPRO's budget excludes the {spent} calls PICACO spent calibrating its judge."
        )
        return budget - spent
    return budget


async def _optimise_opro(
    run: _Run, target: BaseChatModel, picaco: MetaInstruction | None, budget: int
) -> MetaInstruction | None:
    """Step 2b: OPRO within ``budget`` calls, judged with PICACO's protocol (None: skipped)."""
    # OPRO is scored the way PICACO was (and the held-out evaluation is): same protocol.
    used = picaco.config.get("judge_protocol_used") if picaco is not None else None
    opro, note = _opro_within(run, target, budget, str(used or run.opt._judge_protocol()))
    if note:
        run.notes.append(note)
    if opro is None:
        return None
    mi = run.cache.artifact("opro")
    if mi is None:
        run.phase("optimise opro")
        t0 = time.monotonic()
        mi = _timed(await opro.aoptimize(run.queries), t0)
        run.cache.put_artifact("opro", mi)
    if mi.usage.calls > budget:
        run.notes.append(
            f"OPRO spent {mi.usage.calls} calls, {mi.usage.calls - budget} over "
            "its budget (judge retries on malformed replies are not foreseen by it)."
        )
    return mi


def _opro_within(
    run: _Run, target: BaseChatModel, budget: int, protocol: str
) -> tuple[OproOptimizer | None, str | None]:
    """An OPRO optimiser that fits ``budget`` calls (minibatch shrunk if needed), or a note."""
    full = min(run.cfg.minibatch, len(run.queries))
    for batch in range(full, 0, -1):
        opro = OproOptimizer(
            target,
            values=run.value_set,
            judge=run.opt.judge,
            proposer=run.opt.proposer,
            config=_opro_config(run.cfg, batch, budget, protocol),
        )
        seed_cost, per_candidate = opro.step_calls(len(run.queries))
        if seed_cost + per_candidate <= budget:
            return opro, None if batch == full else (
                f"OPRO's minibatch was shrunk to {batch} queries so that its budget of "
                f"{budget} calls pays for scoring the seed and at least one candidate."
            )
    return None, (
        f"OPRO was skipped: a budget of {budget} calls cannot pay for scoring the seed and one "
        "candidate even on a single query."
    )


def _opro_config(cfg: PicacoConfig, batch: int, budget: int, protocol: str) -> OproConfig:
    """OPRO's settings: PICACO's candidates, seed and judge settings, ``batch`` and ``budget``."""
    return OproConfig(
        steps=_OPRO_STEPS_UNBOUNDED,
        candidates_per_step=cfg.candidates,
        minibatch=batch,
        budget=Budget(max_calls=budget),
        judge_protocol=protocol,
        **{k: getattr(cfg, k) for k in _SHARED_WITH_OPRO},
    )


def _instructions(
    chosen: Sequence[str], value_set: ValueSet, optimized: dict[str, MetaInstruction]
) -> dict[str, str | None]:
    """The instruction of every method that has one to evaluate, in report order."""
    texts: dict[str, str | None] = {m: mi.text for m, mi in optimized.items()}
    texts["bare"] = None
    texts["q+if"] = default_seed_instruction(value_set)
    return {m: texts[m] for m in METHODS if m in chosen and m in texts}


async def _evaluate(
    run: _Run, method: str, instruction: str | None, artifact: MetaInstruction | None
) -> MethodResult:
    """Step 3: one method's instruction on the held-out queries, with intervals and its cost."""
    report = run.cache.report(method, instruction)
    if report is None:
        run.phase(f"evaluate {method}")
        report = await run.opt.aevaluate(instruction, run.heldout, samples=run.samples)
        run.cache.put_report(method, report)
    return _method_result(run, method, report, artifact)


def _method_result(
    run: _Run, method: str, report: EvaluationReport, artifact: MetaInstruction | None
) -> MethodResult:
    summary = summarize_with_ci(report.responses, run.value_set.names, **run.bootstrap())
    optimization = artifact.usage if artifact else Usage()
    total = optimization + report.usage
    return MethodResult(
        method=method,
        label=METHOD_LABELS[method],
        instruction=report.instruction,
        **dict(summary),  # per_value, mean, min, spread (intervals), weakest, queries, responses
        optimization=optimization,
        evaluation=report.usage,
        calls=total.calls,
        input_tokens=total.input_tokens,
        output_tokens=total.output_tokens,
        wall_seconds=total.wall_seconds,
        judge_faults=report.judge_faults,
        stop_reason=artifact.stop_reason if artifact else None,
        artifact=artifact,
        rows=list(report.responses),
    )


def _differences(run: _Run, results: Sequence[MethodResult]) -> list[PairedDifference]:
    """Step 4: PICACO minus each other method on min and mean, paired over queries and seeds."""
    mine = next((r for r in results if r.method == "picaco"), None)
    if mine is None:
        return []
    out: list[PairedDifference] = []
    for other in results:
        if other is mine:
            continue
        metrics = ("min", "mean")
        diff = paired_difference(
            mine.rows, other.rows, run.value_set.names, metrics=metrics, **run.bootstrap()
        )
        pairs = len(_pairs(mine.rows) & _pairs(other.rows))
        out += [
            PairedDifference(
                method="picaco",
                baseline=other.method,
                metric=metric,
                difference=diff[metric],
                pairs=pairs,
                distinguishable=not diff[metric].contains(0.0),
            )
            for metric in metrics
        ]
    return out


def _pairs(rows: Sequence[dict[str, Any]]) -> set[tuple[Any, Any]]:
    return {(r["query"], r.get("sample", 0)) for r in rows}


async def _probe(
    run: _Run,
    instructions: dict[str, str | None],
    probe: bool | None,
    probes: Sequence[str] | Sequence[QueryRecord] | str | None,
) -> tuple[dict[str, ProbeResult], Usage | None]:
    """Step 5: the jailbreak probe of every instruction (when asked, or by the value set)."""
    wanted = probe if probe is not None else run.value_set.name in PROBE_VALUE_SETS
    probed = {m: t for m, t in instructions.items() if t}
    if not (wanted and probed):
        return {}, None
    run.phase("jailbreak probe")
    return await aprobe_many(
        run.opt.target,
        run.opt.judge,
        probed,
        probe_records(probes),
        seed=run.cfg.seed,
        max_concurrency=run.cfg.max_concurrency,
        n_resamples=run.n_resamples,
        confidence=run.confidence,
    )


def _assemble(
    run: _Run,
    results: list[MethodResult],
    probe: dict[str, ProbeResult],
    probe_usage: Usage | None,
    opro_budget: int | None,
    started: float,
) -> Comparison:
    """Step 6: the comparison, with a note of every phase reused from the resume folder."""
    if run.cache.reused:
        run.notes.append(
            f"Reused from {run.cache.folder}: {', '.join(dict.fromkeys(run.cache.reused))} (their "
            "cost and wall time are those of the original run)."
        )
    return Comparison(
        value_set=run.value_set.name,
        values=list(run.value_set.names),
        target=model_identity(run.opt.target),
        judge=model_identity(run.opt.judge),
        proposer=model_identity(run.opt.proposer),
        queries=len(run.queries),
        heldout=len(run.heldout),
        samples=run.samples,
        opro_budget=opro_budget,
        methods=results,
        differences=_differences(run, results),
        probe=probe,
        probe_usage=probe_usage,
        config=run.cfg.model_dump(),
        notes=run.notes,
        wall_seconds=round(time.monotonic() - started, 3),
        **run.bootstrap(),
    )


async def acompare(
    target: BaseChatModel,
    *,
    values: str | Path | ValueSet,
    queries: Sequence[str] | str | Path | None,
    heldout: Sequence[str] | str | Path | None,
    judge: BaseChatModel | None = None,
    proposer: BaseChatModel | None = None,
    config: PicacoConfig | dict[str, Any] | None = None,
    methods: Sequence[str] = METHODS,
    samples: int = 1,
    probe: bool | None = None,
    probes: Sequence[str] | Sequence[QueryRecord] | str | None = None,
    likelihood: Likelihood | None = None,
    embeddings: Embeddings | None = None,
    checkpointer: Any | None = None,
    thread_id: str | None = None,
    progress: bool | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    on_phase: Callable[[str], None] | None = None,
    resume_dir: str | Path | None = None,
) -> Comparison:
    """Run PICACO and its baselines, then score all of them on held-out queries.

    1. PICACO optimises on ``queries``; 2. OPRO optimises on the same queries with a call budget
    equal to PICACO's ACTUAL call count (its minibatch shrinks if the budget is too small even for
    one candidate); 3. the bare model, Q+IF, OPRO's and PICACO's instructions are scored on
    ``heldout`` by the same judge with the same sampling seeds; 4. every score gets a bootstrap
    interval over the held-out queries, and PICACO minus each other method is computed paired.
    ``compare`` runs it from sync code, ``await acompare(...)`` from async code (the same
    parameters).

    Example:
        .. code-block:: python

            cmp = compare(model, values="confucianism-4", queries=None, heldout=None,
                          config=PicacoConfig(iterations=3))
            write_report(cmp, "out/")

    Args:
        target: The chat model to align.
        values: A shipped value-set name, a JSON file, or a ``ValueSet``.
        queries: Optimisation queries (list, file, shipped set name -> its "optimize" split;
            None: the value set's shipped "optimize" split).
        heldout: Held-out queries (as above; a shipped name or None -> the "heldout" split).
        judge: The value judge of optimisation AND evaluation (default: the target).
        proposer: Writes candidate instructions for both optimisers (default: the target).
        config: PICACO's settings; OPRO takes its candidates, minibatch, seed, judge settings.
        methods: Any of "bare", "q+if", "opro", "picaco".
        samples: Responses per held-out query (sample 0 greedy).
        probe: Run the jailbreak probe (None: only for harmlessness-4 and hh-balance-8).
        probes: Harmful requests for the probe (default: the shipped jailbreak set).
        likelihood: Log-likelihood scorer for PICACO's likelihood selection.
        embeddings: Embeddings for PICACO's redundancy term.
        checkpointer: A LangGraph checkpointer or SQLite path for the PICACO run.
        thread_id: The PICACO run's id with a checkpointer (resumes an interrupted run).
        progress: PICACO's progress bar (None: only on a terminal).
        confidence: Coverage of every interval.
        n_resamples: Bootstrap resamples.
        on_phase: Called with the name of each phase as it starts (for progress display).
        resume_dir: A folder where each finished phase (optimised instruction, held-out
            evaluation) is saved; running again with the same inputs skips those phases (for
            slow models). One folder per comparison: other inputs raise ``ConfigError``.

    Returns:
        The comparison; write it with :func:`langchain_picaco.evaluate.reports.write_report`.
    """
    check_bootstrap_args(n_resamples, confidence)
    if not isinstance(samples, int) or samples < 1:
        raise ConfigError("samples", f"is {samples!r}", "use 1 or more responses per query")
    chosen = _check_methods(methods)
    value_set = load_value_set(values)
    cfg = config_from_kwargs(config)
    started = time.monotonic()
    opt = PicacoOptimizer(
        target,
        values=value_set,
        judge=judge,
        proposer=proposer,
        config=cfg,
        checkpointer=checkpointer,
        embeddings=embeddings,
        likelihood=likelihood,
        progress=progress,
    )
    qs, held = _load(queries, value_set, "optimize"), _load(heldout, value_set, "heldout")
    run = _Run(
        opt, value_set, cfg, qs, held, samples, confidence, n_resamples, on_phase, resume_dir
    )

    optimized: dict[str, MetaInstruction] = {}
    if "picaco" in chosen:
        optimized["picaco"] = await _optimise_picaco(run, thread_id)
    opro_budget = _opro_budget(run, optimized.get("picaco")) if "opro" in chosen else None
    if opro_budget is not None:
        opro = await _optimise_opro(run, target, optimized.get("picaco"), opro_budget)
        if opro is not None:
            optimized["opro"] = opro
    instructions = _instructions(chosen, value_set, optimized)
    results = [await _evaluate(run, m, text, optimized.get(m)) for m, text in instructions.items()]
    probe_results, probe_usage = await _probe(run, instructions, probe, probes)
    return _assemble(run, results, probe_results, probe_usage, opro_budget, started)


@sync_twin(acompare)
def compare(*args: Any, **kwargs: Any) -> Comparison:
    """Sync :func:`acompare` (its parameters and docs)."""
