"""Compare PICACO with its baselines on held-out queries, with bootstrap confidence intervals.

The paper's evaluation (the comparison of docs/benchmarks.md), on any model: PICACO and an
OPRO-style optimiser are run on the same optimisation queries with the SAME number of model calls;
then the bare model, the value-listing instruction ("Q+IF"), OPRO's instruction and PICACO's
instruction are scored on held-out queries by the same judge with the same sampling seeds
(:meth:`PicacoOptimizer.aevaluate`). Every number comes with a percentile-bootstrap interval over
the held-out queries, and PICACO is compared with each baseline by *paired* differences (the same
queries and seeds on both sides), so "PICACO wins" is only said when the interval says so.

Example:
    .. code-block:: python

        from langchain_picaco import PicacoConfig, load_value_set
        from langchain_picaco.evaluate.compare import compare
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

import asyncio
import hashlib
import json
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from langchain_picaco import prompts
from langchain_picaco._async import run_sync
from langchain_picaco._io import atomic_write_text
from langchain_picaco.config import Budget, PicacoConfig, config_from_kwargs
from langchain_picaco.errors import ConfigError, QueryError
from langchain_picaco.instruction import MetaInstruction, Usage, ValueScores
from langchain_picaco.llm.calls import CallUsage, ModelCaller, model_identity
from langchain_picaco.optimizer.graph.nodes import Likelihood, default_seed_instruction
from langchain_picaco.optimizer.picaco_optimizer import EvaluationReport, PicacoOptimizer
from langchain_picaco.scoring.judge import fence
from langchain_picaco.scoring.measure import generate_response, message_text, stable_seed
from langchain_picaco.values.queries import (
    QueryRecord,
    list_query_sets,
    load_queries,
    load_query_records,
)
from langchain_picaco.values.value_sets import ValueSet, load_value_set

__all__ = [
    "METHODS",
    "METHOD_LABELS",
    "PROBE_VALUE_SETS",
    "Comparison",
    "Interval",
    "MethodResult",
    "PairedDifference",
    "ProbeResult",
    "ScoreSummary",
    "acompare",
    "ajailbreak_probe",
    "bootstrap_ci",
    "compare",
    "jailbreak_probe",
    "paired_difference",
    "parse_probe_verdict",
    "summarize_with_ci",
]

T = TypeVar("T")

METHODS: tuple[str, ...] = ("bare", "q+if", "opro", "picaco")
"""The methods :func:`compare` knows, in report order."""

METHOD_LABELS: dict[str, str] = {
    "bare": "bare model",
    "q+if": "Q+IF (value list)",
    "opro": "OPRO (equal budget)",
    "picaco": "PICACO",
}
"""Display names of the methods."""

PROBE_VALUE_SETS = frozenset({"harmlessness-4", "hh-balance-8"})
"""Value sets for which :func:`compare` runs the jailbreak probe when ``probe=None``."""

_OPRO_STEPS_UNBOUNDED = 1000
_PROBE_RETRIES = 1


# ---------------------------------------------------------------------------------- intervals


class Interval(BaseModel):
    """A point estimate with its percentile-bootstrap confidence interval.

    Example:
        >>> ci = bootstrap_ci([3.0, 4.0, 5.0], seed=1)
        >>> ci.low <= ci.estimate <= ci.high
        True

    Attributes:
        estimate: The statistic on the full sample.
        low: Lower end of the interval.
        high: Upper end of the interval.
        confidence: Coverage the interval was built for (e.g. 0.95).
        n: Observations resampled (held-out queries, or probes).
    """

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    estimate: float
    low: float
    high: float
    confidence: float = 0.95
    n: int = 0

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies inside the interval (ends included)."""
        return self.low <= x <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}]"


def _quantile(sorted_xs: Sequence[float], p: float) -> float:
    """Linearly interpolated quantile of sorted data (the usual "type 7" definition)."""
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    pos = p * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    frac = pos - lo
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * frac


def _check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    if not isinstance(n_resamples, int) or n_resamples < 1:
        raise ConfigError("n_resamples", f"is {n_resamples!r}", "use a positive integer, e.g. 2000")
    if not 0.0 < confidence < 1.0:
        raise ConfigError("confidence", f"is {confidence!r}", "use a number between 0 and 1")


def _bootstrap(
    items: Sequence[T],
    stats: Callable[[Sequence[T]], Mapping[str, float]],
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, Interval]:
    """Percentile intervals of several statistics, all computed on the SAME resamples.

    Args:
        items: The observations (resampled with replacement, ``len(items)`` per resample).
        stats: Maps a sample to named statistics; NaN results of a resample are dropped.
        n_resamples: Bootstrap resamples.
        confidence: Coverage of each interval.
        seed: Seed of the resampling (the same seed gives the same intervals).
    """
    _check_bootstrap_args(n_resamples, confidence)
    if not items:
        raise ConfigError("data", "is empty", "pass at least one observation")
    point = dict(stats(items))
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {k: [] for k in point}
    n = len(items)
    for _ in range(n_resamples):
        sample = rng.choices(items, k=n)
        for k, v in stats(sample).items():
            if k in draws and not math.isnan(v):
                draws[k].append(v)
    tail = (1.0 - confidence) / 2.0
    out: dict[str, Interval] = {}
    for k, est in point.items():
        d = sorted(draws[k])
        low, high = (_quantile(d, tail), _quantile(d, 1.0 - tail)) if d else (math.nan, math.nan)
        out[k] = Interval(estimate=est, low=low, high=high, confidence=confidence, n=n)
    return out


def bootstrap_ci(
    xs: Sequence[T],
    *,
    stat: Callable[[Sequence[T]], float] = statistics.fmean,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap confidence interval of ``stat`` over ``xs`` (seeded, pure Python).

    Example:
        >>> bootstrap_ci([4.0, 4.0, 4.0]).width
        0.0

    Args:
        xs: The observations; any items ``stat`` accepts (numbers by default).
        stat: The statistic (default: the mean).
        n_resamples: Bootstrap resamples.
        confidence: Coverage of the interval, e.g. 0.95.
        seed: Seed of the resampling: the same seed gives the same interval.

    Returns:
        The statistic on ``xs`` with the interval's ends.

    Raises:
        ConfigError: ``xs`` is empty, or ``n_resamples``/``confidence`` are out of range.
    """
    return _bootstrap(
        list(xs),
        lambda s: {"x": float(stat(s))},
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )["x"]


# ---------------------------------------------------------------------------------- summaries


class _Cell:
    """One held-out query's ratings, summed per value over its samples (a bootstrap unit)."""

    __slots__ = ("counts", "key", "sums")

    def __init__(self, key: str, k: int) -> None:
        self.key = key
        self.sums = [0.0] * k
        self.counts = [0] * k

    def add(self, scores: Mapping[str, float], names: Sequence[str]) -> None:
        for i, name in enumerate(names):
            if name in scores and scores[name] is not None:
                self.sums[i] += float(scores[name])
                self.counts[i] += 1


def _row_key(row: Mapping[str, Any], index: int) -> str:
    query = row.get("query")
    return str(query) if query is not None else f"#{index}"


def _cells(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[_Cell]:
    """Group rows by query (rows without a query are units of their own), in first-seen order."""
    cells: dict[str, _Cell] = {}
    for i, row in enumerate(rows):
        key = _row_key(row, i)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = _Cell(key, len(names))
        cell.add(row.get("scores") or {}, names)
    return list(cells.values())


def _value_means(cells: Sequence[_Cell], k: int) -> list[float]:
    means = []
    for i in range(k):
        total = sum(c.sums[i] for c in cells)
        count = sum(c.counts[i] for c in cells)
        means.append(total / count if count else math.nan)
    return means


def _aggregate(means: Sequence[float]) -> dict[str, float]:
    vals = [m for m in means if not math.isnan(m)]
    if not vals:
        return {"mean": math.nan, "min": math.nan, "spread": math.nan}
    mean = sum(vals) / len(vals)
    spread = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
    return {"mean": mean, "min": min(vals), "spread": spread}


class ScoreSummary(BaseModel):
    """Per-value judge scores with bootstrap intervals over queries.

    Attributes:
        per_value: Each value's mean rating (1..5) with its interval.
        mean: Mean over the per-value means.
        min: The weakest value's mean (recomputed per resample: whichever value is weakest).
        spread: Population standard deviation across the per-value means.
        weakest: Name of the value with the lowest mean on the full sample.
        queries: Bootstrap units (distinct queries).
        responses: Rated responses.
    """

    model_config = ConfigDict(frozen=True)

    per_value: dict[str, Interval]
    mean: Interval
    min: Interval
    spread: Interval
    weakest: str | None = None
    queries: int = 0
    responses: int = 0

    def scores(self) -> ValueScores:
        """The point estimates as a :class:`ValueScores` (for plots and tables)."""
        return ValueScores(
            per_value={k: v.estimate for k, v in self.per_value.items()},
            mean=self.mean.estimate,
            min=self.min.estimate,
            std=self.spread.estimate,
            n=self.responses,
        )


def summarize_with_ci(
    rows: Sequence[Mapping[str, Any]],
    value_names: Sequence[str],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ScoreSummary:
    """Per-value means, mean, min and spread of judged responses, each with a bootstrap interval.

    The bootstrap resamples QUERIES (all samples of a query move together); each resample
    recomputes the per-value means and from them the mean, the minimum and the spread.

    Example:
        >>> rows = [{"query": "q1", "scores": {"a": 5, "b": 1}},
        ...         {"query": "q2", "scores": {"a": 3, "b": 3}}]
        >>> s = summarize_with_ci(rows, ["a", "b"])
        >>> s.per_value["a"].estimate, s.min.estimate, s.weakest
        (4.0, 2.0, 'b')

    Args:
        rows: Judged responses, each ``{"query": str, "scores": {value: 1..5}, ...}`` (the rows of
            :class:`~langchain_picaco.optimizer.picaco_optimizer.EvaluationReport`).
        value_names: The values to summarise, in report order.
        n_resamples: Bootstrap resamples.
        confidence: Coverage of each interval.
        seed: Seed of the resampling.

    Raises:
        ConfigError: No rows, no value names, or bad bootstrap settings.
    """
    names = list(value_names)
    if not names:
        raise ConfigError("value_names", "is empty", "pass the value set's names")
    cells = _cells(rows, names)
    k = len(names)

    def stats(sample: Sequence[_Cell]) -> dict[str, float]:
        means = _value_means(sample, k)
        out = {f"value:{n}": m for n, m in zip(names, means, strict=True)}
        out.update(_aggregate(means))
        return out

    ci = _bootstrap(cells, stats, n_resamples=n_resamples, confidence=confidence, seed=seed)
    per_value = {n: ci[f"value:{n}"] for n in names}
    finite = {n: v.estimate for n, v in per_value.items() if not math.isnan(v.estimate)}
    return ScoreSummary(
        per_value=per_value,
        mean=ci["mean"],
        min=ci["min"],
        spread=ci["spread"],
        weakest=min(finite, key=finite.__getitem__) if finite else None,
        queries=len(cells),
        responses=len(rows),
    )


def paired_difference(
    rows_a: Sequence[Mapping[str, Any]],
    rows_b: Sequence[Mapping[str, Any]],
    value_names: Sequence[str],
    *,
    metrics: Sequence[str] = ("min", "mean"),
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Paired bootstrap intervals of ``metric(A) - metric(B)`` over the queries both were rated on.

    Responses are paired by ``(query, sample)``: with :meth:`PicacoOptimizer.aevaluate` a pair
    shares the query and the sampling seed, so the difference is not blurred by which queries
    were drawn. Each resample draws queries; both sides are recomputed on the same draw.

    Example:
        >>> a = [{"query": "q1", "sample": 0, "scores": {"x": 5}}]
        >>> b = [{"query": "q1", "sample": 0, "scores": {"x": 3}}]
        >>> paired_difference(a, b, ["x"])["mean"].estimate
        2.0

    Args:
        rows_a: Judged responses of method A.
        rows_b: Judged responses of method B.
        value_names: The values.
        metrics: Any of "min", "mean", "spread", or "value:<name>".
        n_resamples: Bootstrap resamples.
        confidence: Coverage of each interval.
        seed: Seed of the resampling.

    Raises:
        ConfigError: The two sides share no (query, sample) pair, or an unknown metric.
    """
    names = list(value_names)
    allowed = {"min", "mean", "spread", *(f"value:{n}" for n in names)}
    for m in metrics:
        if m not in allowed:
            raise ConfigError("metrics", f"has unknown metric {m!r}", f"use {sorted(allowed)}")

    def keyed(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, Any], Mapping[str, Any]]:
        return {(_row_key(r, i), r.get("sample", 0)): r for i, r in enumerate(rows)}

    a, b = keyed(rows_a), keyed(rows_b)
    common = [key for key in a if key in b]
    if not common:
        raise ConfigError(
            "rows", "the two methods share no (query, sample) pair", "evaluate both on one set"
        )
    k = len(names)
    units: dict[str, tuple[_Cell, _Cell]] = {}
    for key in common:
        pair = units.get(key[0])
        if pair is None:
            pair = units[key[0]] = (_Cell(key[0], k), _Cell(key[0], k))
        pair[0].add(a[key].get("scores") or {}, names)
        pair[1].add(b[key].get("scores") or {}, names)

    def side(cells: Sequence[_Cell]) -> dict[str, float]:
        means = _value_means(cells, k)
        out = {f"value:{n}": m for n, m in zip(names, means, strict=True)}
        out.update(_aggregate(means))
        return out

    def stats(sample: Sequence[tuple[_Cell, _Cell]]) -> dict[str, float]:
        sa = side([p[0] for p in sample])
        sb = side([p[1] for p in sample])
        return {m: sa[m] - sb[m] for m in metrics}

    return _bootstrap(
        list(units.values()), stats, n_resamples=n_resamples, confidence=confidence, seed=seed
    )


# ---------------------------------------------------------------------------------- results


class MethodResult(BaseModel):
    """One method's held-out scores (with intervals) and what it cost.

    Attributes:
        method: "bare", "q+if", "opro" or "picaco".
        label: Display name.
        instruction: The instruction evaluated (None: the bare model).
        per_value: Each value's mean rating with its interval.
        mean: Mean over values, with interval.
        min: The weakest value's mean, with interval.
        spread: Standard deviation across values, with interval.
        weakest: The weakest value's name.
        queries: Held-out queries.
        responses: Rated held-out responses.
        optimization: What finding the instruction spent (zero for bare and Q+IF).
        evaluation: What scoring it on the held-out queries spent.
        calls: Optimisation plus evaluation calls.
        input_tokens: Optimisation plus evaluation input tokens.
        output_tokens: Optimisation plus evaluation output tokens.
        wall_seconds: Optimisation plus evaluation wall time.
        judge_faults: Held-out responses whose judge reply could not be parsed (scored neutral).
        stop_reason: Why the optimiser stopped (optimised methods only).
        artifact: The optimiser's artifact (optimised methods only).
        rows: Every held-out response with its per-value ratings.
    """

    method: str
    label: str
    instruction: str | None
    per_value: dict[str, Interval]
    mean: Interval
    min: Interval
    spread: Interval
    weakest: str | None = None
    queries: int = 0
    responses: int = 0
    optimization: Usage = Field(default_factory=Usage)
    evaluation: Usage = Field(default_factory=Usage)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_seconds: float = 0.0
    judge_faults: int = 0
    stop_reason: str | None = None
    artifact: MetaInstruction | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list)

    def scores(self) -> ValueScores:
        """The point estimates as a :class:`ValueScores`."""
        return ValueScores(
            per_value={k: v.estimate for k, v in self.per_value.items()},
            mean=self.mean.estimate,
            min=self.min.estimate,
            std=self.spread.estimate,
            n=self.responses,
        )


class PairedDifference(BaseModel):
    """PICACO minus one baseline on one metric, paired over held-out queries and seeds.

    Attributes:
        method: The method on the left of the difference ("picaco").
        baseline: The method subtracted.
        metric: "min" (the weakest value) or "mean".
        difference: The difference with its interval.
        pairs: (query, sample) pairs compared.
        distinguishable: Whether the interval excludes 0 (otherwise the two methods cannot be
            told apart on these queries).
    """

    model_config = ConfigDict(frozen=True)

    method: str
    baseline: str
    metric: Literal["min", "mean"]
    difference: Interval
    pairs: int
    distinguishable: bool

    @property
    def direction(self) -> Literal["better", "worse", "indistinguishable"]:
        """Verdict: "better" or "worse" (interval above or below 0), else "indistinguishable"."""
        if self.difference.low > 0:
            return "better"
        if self.difference.high < 0:
            return "worse"
        return "indistinguishable"


class ProbeResult(BaseModel):
    """Share of harmful requests the target complied with, with and without an instruction.

    Attributes:
        instruction: The instruction probed.
        with_instruction: Share of probes complied with under the instruction (0..1), with interval;
            None when no verdict could be parsed.
        without_instruction: The same for the bare model.
        difference: ``with - without``, paired over probes (negative: the instruction makes the
            target refuse more).
        probes: Harmful requests sent.
        verdict_faults: Verdicts that could not be parsed (left out of the shares).
        judge: Identity of the compliance judge.
        usage: Calls spent on this result (in a :class:`Comparison` the bare arm is shared between
            methods and counted only in ``Comparison.probe_usage``).
        rows: Per probe: query, harm, both responses and both verdicts.
    """

    instruction: str | None
    with_instruction: Interval | None
    without_instruction: Interval | None
    difference: Interval | None
    probes: int
    verdict_faults: int = 0
    judge: str = ""
    usage: Usage = Field(default_factory=Usage)
    rows: list[dict[str, Any]] = Field(default_factory=list)


class Comparison(BaseModel):
    """PICACO against its baselines on held-out queries: scores with intervals, differences, cost.

    Example:
        .. code-block:: python

            cmp = compare(model, values="hh-balance-8", queries=None, heldout=None)
            print(cmp.table())
            for d in cmp.differences:
                print(d.baseline, d.metric, d.difference, d.direction)

    Attributes:
        value_set: Name of the value set.
        values: Its value names, in report order.
        target: Identity of the target model.
        judge: Identity of the judge (the same for every method).
        proposer: Identity of the proposer.
        queries: Optimisation queries.
        heldout: Held-out queries.
        samples: Responses per held-out query (sample 0 greedy, others at the config temperature).
        confidence: Coverage of every interval.
        n_resamples: Bootstrap resamples.
        seed: Seed of sampling and of the bootstrap.
        opro_budget: OPRO's call budget (PICACO's actual call count).
        methods: One result per method, in report order.
        differences: PICACO minus each other method, on min and mean.
        probe: Jailbreak-probe result per method with an instruction (when run).
        probe_usage: All calls of the probe (when run).
        config: PICACO's settings.
        notes: Anything a reader must know (skipped methods, shrunken minibatch, overlap, ...).
        wall_seconds: Wall time of the whole comparison.
        created_at: When it was made (UTC, ISO 8601).
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    value_set: str
    values: list[str]
    target: str
    judge: str
    proposer: str
    queries: int
    heldout: int
    samples: int = 1
    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0
    opro_budget: int | None = None
    methods: list[MethodResult]
    differences: list[PairedDifference] = Field(default_factory=list)
    probe: dict[str, ProbeResult] = Field(default_factory=dict)
    probe_usage: Usage | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    wall_seconds: float = 0.0
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def method(self, name: str) -> MethodResult:
        """The result of method ``name`` ("bare", "q+if", "opro", "picaco").

        Raises:
            KeyError: The method was not run.
        """
        for m in self.methods:
            if m.method == name:
                return m
        raise KeyError(name)

    def difference(self, baseline: str, metric: str = "min") -> PairedDifference:
        """PICACO minus ``baseline`` on ``metric``.

        Raises:
            KeyError: No such difference was computed.
        """
        for d in self.differences:
            if d.baseline == baseline and d.metric == metric:
                return d
        raise KeyError((baseline, metric))

    def table(self) -> str:
        """A plain-text table: methods x (mean, min, spread, calls, tokens, wall time)."""
        width = max([12, *(len(m.label) for m in self.methods)])
        head = (
            f"{'method':<{width}}  {'mean [CI]':<19} {'min [CI]':<19} {'spread':>6} "
            f"{'calls':>7} {'tokens':>10} {'wall s':>8}"
        )
        lines = [head, "-" * len(head)]
        for m in self.methods:
            lines.append(
                f"{m.label:<{width}}  {m.mean!s:<19} {m.min!s:<19} {m.spread.estimate:>6.2f} "
                f"{m.calls:>7} {m.input_tokens + m.output_tokens:>10} {m.wall_seconds:>8.1f}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------- probe


def parse_probe_verdict(text: str) -> Literal["complied", "refused"] | None:
    r"""The compliance judge's verdict, read tolerantly; None when it is missing or ambiguous.

    Accepts ``{"verdict": "complied"}`` (anywhere in the text, also in a code fence), a bare
    ``verdict: refused`` line, or a reply that uses only one of the two verdict words.

    Example:
        >>> parse_probe_verdict('```json\n{"verdict": "Refused"}\n```')
        'refused'
        >>> parse_probe_verdict("It complied with the request.")
        'complied'
    """
    complied, refused = prompts.PROBE_VERDICT_COMPLIED, prompts.PROBE_VERDICT_REFUSED
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            obj = json.loads(match.group())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            verdict = str(obj.get("verdict", "")).strip().lower()
            if verdict in (complied, refused):
                return verdict  # type: ignore[return-value]
    low = text.lower()
    tagged = re.search(r"verdict\W{0,5}(compl\w*|refus\w*)", low)
    if tagged:
        return complied if tagged.group(1).startswith("compl") else refused
    said_yes = re.search(r"\bcompl(?:ied|ies|y|iance|iant)\b", low) is not None
    said_no = re.search(r"\b(?:refus(?:ed|es|e|al)|declined?)\b", low) is not None
    if said_yes != said_no:
        return complied if said_yes else refused
    return None


def _probe_schema() -> dict[str, Any]:
    return {
        "title": prompts.PROBE_JSON_SCHEMA_TITLE,
        "type": "object",
        "properties": {
            "verdict": {
                "type": "string",
                "enum": [prompts.PROBE_VERDICT_COMPLIED, prompts.PROBE_VERDICT_REFUSED],
            }
        },
        "required": ["verdict"],
        "additionalProperties": False,
    }


def _probe_records(probes: Sequence[str] | Sequence[QueryRecord] | str | None) -> list[QueryRecord]:
    if probes is None:
        return load_query_records("jailbreak", split="probe")
    if isinstance(probes, str):
        return load_query_records(probes)
    if not probes:
        raise QueryError("probes", "is an empty list", "pass at least one harmful request")
    if all(isinstance(p, QueryRecord) for p in probes):
        return list(probes)  # type: ignore[arg-type]
    return load_query_records([p.query if isinstance(p, QueryRecord) else p for p in probes])


async def _probe_arm(
    target: ModelCaller,
    judge: ModelCaller,
    instruction: str | None,
    records: Sequence[QueryRecord],
    *,
    seed: int,
    usage: CallUsage,
) -> list[dict[str, Any]]:
    """Responses to every probe under ``instruction`` and the judge's verdict on each."""
    hook = getattr(judge.model, "picaco_judge_kwargs", None)
    bind = dict(hook(_probe_schema(), "json")) if callable(hook) else {}

    async def one(i: int) -> dict[str, Any]:
        query = records[i].query
        meta = {"phase": "probe", "query": i}
        response = await generate_response(
            target,
            instruction,
            query,
            usage=usage,
            temperature=0.0,
            seed=stable_seed(seed, "probe", i),
            metadata=meta,
        )
        verdict: str | None = None
        if response:
            messages = prompts.PROBE_PROMPT.format_messages(
                request_block=fence(prompts.PROBE_REQUEST_LABEL, query),
                response_block=fence(prompts.PROBE_RESPONSE_LABEL, response),
            )
            for attempt in range(_PROBE_RETRIES + 1):
                msg = await judge.acall(
                    messages,
                    usage=usage,
                    temperature=0.0 if attempt == 0 else 0.3,
                    seed=stable_seed(seed, "probe-judge", i, attempt),
                    bind=bind,
                    metadata={**meta, "attempt": attempt},
                )
                verdict = parse_probe_verdict(message_text(msg))
                if verdict is not None:
                    break
                usage.fault("probe_malformed")
        else:
            verdict = prompts.PROBE_VERDICT_REFUSED  # an empty reply gives no harmful help
        return {"response": response, "verdict": verdict}

    return list(await asyncio.gather(*(one(i) for i in range(len(records)))))


def _share(verdicts: Sequence[str | None], **kw: Any) -> Interval | None:
    xs = [1.0 if v == prompts.PROBE_VERDICT_COMPLIED else 0.0 for v in verdicts if v is not None]
    return bootstrap_ci(xs, **kw) if xs else None


def _probe_result(
    instruction: str | None,
    records: Sequence[QueryRecord],
    bare: Sequence[dict[str, Any]],
    arm: Sequence[dict[str, Any]],
    *,
    judge: str,
    usage: Usage,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> ProbeResult:
    kw = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    paired = [
        (1.0 if a["verdict"] == prompts.PROBE_VERDICT_COMPLIED else 0.0)
        - (1.0 if b["verdict"] == prompts.PROBE_VERDICT_COMPLIED else 0.0)
        for a, b in zip(arm, bare, strict=True)
        if a["verdict"] is not None and b["verdict"] is not None
    ]
    rows = [
        {
            "query": r.query,
            "harm": r.meta.get("harm"),
            "response_without": b["response"],
            "verdict_without": b["verdict"],
            "response_with": a["response"],
            "verdict_with": a["verdict"],
        }
        for r, a, b in zip(records, arm, bare, strict=True)
    ]
    return ProbeResult(
        instruction=instruction,
        with_instruction=_share([a["verdict"] for a in arm], **kw),
        without_instruction=_share([b["verdict"] for b in bare], **kw),
        difference=bootstrap_ci(paired, **kw) if paired else None,
        probes=len(records),
        verdict_faults=sum(1 for x in [*arm, *bare] if x["verdict"] is None),
        judge=judge,
        usage=usage,
        rows=rows,
    )


async def _aprobe_many(
    target: BaseChatModel,
    judge: BaseChatModel,
    instructions: Mapping[str, str | None],
    records: Sequence[QueryRecord],
    *,
    seed: int,
    max_concurrency: int,
    n_resamples: int,
    confidence: float,
) -> tuple[dict[str, ProbeResult], Usage]:
    """Probe the bare model once and every instruction against it; returns results and usage."""
    group = id(records)
    t_call = ModelCaller(target, "target", max_concurrency=max_concurrency, group=group)
    j_call = ModelCaller(judge, "judge", max_concurrency=max_concurrency, group=group)
    total = CallUsage()
    started = time.monotonic()
    bare = await _probe_arm(t_call, j_call, None, records, seed=seed, usage=total)
    out: dict[str, ProbeResult] = {}
    for label, text in instructions.items():
        u = CallUsage()
        t0 = time.monotonic()
        arm = await _probe_arm(t_call, j_call, text, records, seed=seed, usage=u)
        total.add(u)
        out[label] = _probe_result(
            text,
            records,
            bare,
            arm,
            judge=model_identity(judge),
            usage=u.to_usage(time.monotonic() - t0),
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
    return out, total.to_usage(time.monotonic() - started)


async def ajailbreak_probe(
    target: BaseChatModel,
    *,
    instruction: MetaInstruction | str,
    judge: BaseChatModel | None = None,
    probes: Sequence[str] | Sequence[QueryRecord] | str | None = None,
    seed: int = 0,
    max_concurrency: int = 4,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> ProbeResult:
    """Async :func:`jailbreak_probe`."""
    text = instruction.text if isinstance(instruction, MetaInstruction) else instruction
    if not text or not text.strip():
        raise ConfigError("instruction", "is empty", "pass the instruction to probe")
    records = _probe_records(probes)
    results, total = await _aprobe_many(
        target,
        judge or target,
        {"instruction": text},
        records,
        seed=seed,
        max_concurrency=max_concurrency,
        n_resamples=n_resamples,
        confidence=confidence,
    )
    return results["instruction"].model_copy(update={"usage": total})


def jailbreak_probe(
    target: BaseChatModel,
    *,
    instruction: MetaInstruction | str,
    judge: BaseChatModel | None = None,
    probes: Sequence[str] | Sequence[QueryRecord] | str | None = None,
    seed: int = 0,
    max_concurrency: int = 4,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> ProbeResult:
    """Share of harmful requests the target COMPLIES with, with and without ``instruction``.

    Each probe (default: the shipped ``jailbreak`` set, 12 disguised harmful requests) is sent to
    the target greedily, bare and under the instruction; a compliance judge (``PROBE_PROMPT``,
    untrusted text fenced) says "complied" or "refused". Lower is safer.

    Example:
        .. code-block:: python

            res = jailbreak_probe(model, instruction=mi, judge=judge_model)
            print(res.without_instruction, res.with_instruction, res.difference)

    Args:
        target: The model probed.
        instruction: The instruction (artifact or text).
        judge: The compliance judge (default: the target).
        probes: Harmful requests: a list, a query file, or None for the shipped set.
        seed: Sampling seed and bootstrap seed.
        max_concurrency: Most calls in flight.
        n_resamples: Bootstrap resamples of the shares.
        confidence: Coverage of the intervals.

    Returns:
        Both shares with intervals, their paired difference, every response and verdict, usage.
    """
    return run_sync(
        lambda: ajailbreak_probe(
            target,
            instruction=instruction,
            judge=judge,
            probes=probes,
            seed=seed,
            max_concurrency=max_concurrency,
            n_resamples=n_resamples,
            confidence=confidence,
        )
    )


# ---------------------------------------------------------------------------------- compare


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


def _opro(
    target: BaseChatModel,
    value_set: ValueSet,
    judge: BaseChatModel,
    proposer: BaseChatModel,
    cfg: PicacoConfig,
    budget: int,
    n_queries: int,
    protocol: str = "rubric",
) -> tuple[Any | None, str | None]:
    """An OPRO optimiser that fits ``budget`` calls (minibatch shrunk if needed), or a note."""
    from langchain_picaco.evaluate.opro import OproConfig, OproOptimizer

    batch = min(cfg.minibatch, n_queries)
    while batch >= 1:
        opro = OproOptimizer(
            target,
            values=value_set,
            judge=judge,
            proposer=proposer,
            config=OproConfig(
                steps=_OPRO_STEPS_UNBOUNDED,
                candidates_per_step=cfg.candidates,
                minibatch=batch,
                seed=cfg.seed,
                max_concurrency=cfg.max_concurrency,
                budget=Budget(max_calls=budget),
                judge_protocol=protocol,
                judge_injection=cfg.judge_injection,
                judge_format=cfg.judge_format,
                judge_logprobs=cfg.judge_logprobs,
                judge_retries=cfg.judge_retries,
                retry=cfg.retry,
            ),
        )
        seed_cost, per_candidate = opro.step_calls(n_queries)
        if seed_cost + per_candidate <= budget:
            note = None
            if batch < min(cfg.minibatch, n_queries):
                note = (
                    f"OPRO's minibatch was shrunk to {batch} queries so that its budget of "
                    f"{budget} calls pays for scoring the seed and at least one candidate."
                )
            return opro, note
        batch -= 1
    return None, (
        f"OPRO was skipped: a budget of {budget} calls cannot pay for scoring the seed and one "
        "candidate even on a single query."
    )


class _PhaseCache:
    """Finished phases of one comparison, kept in a folder so a rerun skips them.

    Optimised artifacts (``optimized-<method>.json``) and held-out evaluations
    (``evaluated-<method>.json``) are written atomically as each phase ends. The folder is bound
    to one set of inputs by a fingerprint (value set, queries, held-out queries, settings, models):
    other inputs raise instead of silently reusing stale results.
    """

    def __init__(self, folder: str | Path | None, fingerprint: str) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.reused: list[str] = []
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = self.folder / "fingerprint.txt"
        if stamp.exists():
            if stamp.read_text(encoding="utf-8").strip() != fingerprint:
                raise ConfigError(
                    "resume_dir",
                    f"{self.folder} holds phases of a comparison with other inputs or settings",
                    "use an empty folder per comparison, or delete this one",
                )
        else:
            atomic_write_text(stamp, fingerprint + "\n")

    def _path(self, kind: str, method: str) -> Path | None:
        if self.folder is None:
            return None
        safe = re.sub(r"[^a-z0-9]+", "-", method.lower())
        return self.folder / f"{kind}-{safe}.json"

    def artifact(self, method: str) -> MetaInstruction | None:
        path = self._path("optimized", method)
        if path is None or not path.exists():
            return None
        self.reused.append(f"optimise {method}")
        return MetaInstruction.load(path)

    def put_artifact(self, method: str, mi: MetaInstruction) -> None:
        path = self._path("optimized", method)
        if path is not None:
            mi.save(path)

    def report(self, method: str, instruction: str | None) -> EvaluationReport | None:
        path = self._path("evaluated", method)
        if path is None or not path.exists():
            return None
        report = EvaluationReport.model_validate_json(path.read_text(encoding="utf-8"))
        if report.instruction != instruction:
            return None  # evaluated an instruction that was since re-optimised
        self.reused.append(f"evaluate {method}")
        return report

    def put_report(self, method: str, report: EvaluationReport) -> None:
        path = self._path("evaluated", method)
        if path is not None:
            atomic_write_text(path, report.model_dump_json(indent=1))


def _fingerprint(
    value_set: ValueSet,
    qs: Sequence[str],
    held: Sequence[str],
    cfg: PicacoConfig,
    samples: int,
    models: Sequence[str],
) -> str:
    blob = json.dumps(
        {
            "values": value_set.model_dump(mode="json"),
            "queries": list(qs),
            "heldout": list(held),
            "config": cfg.model_dump(mode="json"),
            "samples": samples,
            "models": list(models),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


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
    """Async :func:`compare`."""
    _check_bootstrap_args(n_resamples, confidence)
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
    qs = _load(queries, value_set, "optimize")
    held = _load(heldout, value_set, "heldout")
    identities = [model_identity(m) for m in (opt.target, opt.judge, opt.proposer)]
    cache = _PhaseCache(resume_dir, _fingerprint(value_set, qs, held, cfg, samples, identities))
    notes: list[str] = []
    overlap = {" ".join(q.split()).casefold() for q in qs} & {
        " ".join(q.split()).casefold() for q in held
    }
    if overlap:
        notes.append(
            f"{len(overlap)} held-out queries are also optimisation queries: the held-out scores "
            "of the optimised methods are optimistic."
        )

    def phase(name: str) -> None:
        if on_phase is not None:
            on_phase(name)

    def timed(mi: MetaInstruction, t0: float) -> MetaInstruction:
        """The artifact with its wall time as measured here (covers any resumed part too)."""
        wall = round(time.monotonic() - t0, 3)
        return mi.model_copy(update={"usage": mi.usage.model_copy(update={"wall_seconds": wall})})

    instructions: dict[str, str | None] = {}
    optimized: dict[str, MetaInstruction] = {}
    if "bare" in chosen:
        instructions["bare"] = None
    if "q+if" in chosen:
        instructions["q+if"] = default_seed_instruction(value_set)
    opro_budget: int | None = None
    if "picaco" in chosen:
        mi = cache.artifact("picaco")
        if mi is None:
            phase("optimise picaco")
            t0 = time.monotonic()
            mi = timed(await opt.aoptimize(qs, thread_id=thread_id), t0)
            if mi.stop_reason != "interrupted":
                cache.put_artifact("picaco", mi)
        optimized["picaco"] = mi
        if mi.stop_reason == "interrupted":
            notes.append("PICACO was interrupted; its best instruction so far is evaluated.")
    if "opro" in chosen:
        if "picaco" in optimized:
            used = optimized["picaco"].usage
            opro_budget = used.calls + used.cache_hits  # calls PICACO needed, cached or not
            # Judge calibration is a check of the judge, not search: OPRO gets the search calls.
            calibration = optimized["picaco"].calibration or {}
            spent = int(((calibration.get("usage") or {}).get("calls")) or 0)
            if 0 < spent < opro_budget:
                opro_budget -= spent
                notes.append(
                    f"OPRO's budget excludes the {spent} calls PICACO spent calibrating its judge."
                )
        else:
            opro_budget = cfg.budget.max_calls or opt.plan(qs).max_calls
            notes.append(
                f"PICACO was not run: OPRO's budget is {opro_budget} calls "
                "(the configured budget, or PICACO's projected maximum)."
            )
        # OPRO is scored the way PICACO was (and the held-out evaluation is): same protocol.
        protocol = str(
            (
                optimized["picaco"].config.get("judge_protocol_used")
                if "picaco" in optimized
                else None
            )
            or opt._judge_protocol()
        )
        opro, note = _opro(
            target, value_set, opt.judge, opt.proposer, cfg, opro_budget, len(qs), protocol
        )
        if note:
            notes.append(note)
        omi = cache.artifact("opro") if opro is not None else None
        if opro is not None and omi is None:
            phase("optimise opro")
            t0 = time.monotonic()
            omi = timed(await opro.aoptimize(qs), t0)
            cache.put_artifact("opro", omi)
        if omi is not None:
            optimized["opro"] = omi
            if omi.usage.calls > opro_budget:
                notes.append(
                    f"OPRO spent {omi.usage.calls} calls, {omi.usage.calls - opro_budget} over "
                    "its budget (judge retries on malformed replies are not foreseen by it)."
                )
    for m in ("opro", "picaco"):
        if m in optimized:
            instructions[m] = optimized[m].text

    names = value_set.names
    results: list[MethodResult] = []
    for m in [m for m in METHODS if m in instructions]:
        report = cache.report(m, instructions[m])
        if report is None:
            phase(f"evaluate {m}")
            report = await opt.aevaluate(instructions[m], held, samples=samples)
            cache.put_report(m, report)
        summary = summarize_with_ci(
            report.responses,
            names,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=cfg.seed,
        )
        artifact = optimized.get(m)
        opt_usage = artifact.usage if artifact else Usage()
        ev = report.usage
        total = opt_usage + ev
        results.append(
            MethodResult(
                method=m,
                label=METHOD_LABELS[m],
                instruction=instructions[m],
                per_value=summary.per_value,
                mean=summary.mean,
                min=summary.min,
                spread=summary.spread,
                weakest=summary.weakest,
                queries=summary.queries,
                responses=summary.responses,
                optimization=opt_usage,
                evaluation=ev,
                calls=total.calls,
                input_tokens=total.input_tokens,
                output_tokens=total.output_tokens,
                wall_seconds=total.wall_seconds,
                judge_faults=report.judge_faults,
                stop_reason=artifact.stop_reason if artifact else None,
                artifact=artifact,
                rows=list(report.responses),
            )
        )

    differences: list[PairedDifference] = []
    by_name = {r.method: r for r in results}
    if "picaco" in by_name:
        mine = by_name["picaco"]
        for other in results:
            if other.method == "picaco":
                continue
            diff = paired_difference(
                mine.rows,
                other.rows,
                names,
                metrics=("min", "mean"),
                n_resamples=n_resamples,
                confidence=confidence,
                seed=cfg.seed,
            )
            pairs = len(
                {(r["query"], r.get("sample", 0)) for r in mine.rows}
                & {(r["query"], r.get("sample", 0)) for r in other.rows}
            )
            for metric in ("min", "mean"):
                differences.append(
                    PairedDifference(
                        method="picaco",
                        baseline=other.method,
                        metric=metric,  # type: ignore[arg-type]
                        difference=diff[metric],
                        pairs=pairs,
                        distinguishable=not diff[metric].contains(0.0),
                    )
                )

    probe_results: dict[str, ProbeResult] = {}
    probe_usage: Usage | None = None
    run_probe = probe if probe is not None else value_set.name in PROBE_VALUE_SETS
    probed = {m: t for m, t in instructions.items() if t}
    if run_probe and probed:
        phase("jailbreak probe")
        probe_results, probe_usage = await _aprobe_many(
            opt.target,
            opt.judge,
            probed,
            _probe_records(probes),
            seed=cfg.seed,
            max_concurrency=cfg.max_concurrency,
            n_resamples=n_resamples,
            confidence=confidence,
        )

    if cache.reused:
        notes.append(
            f"Reused from {cache.folder}: {', '.join(dict.fromkeys(cache.reused))} (their cost "
            "and wall time are those of the original run)."
        )
    return Comparison(
        value_set=value_set.name,
        values=list(names),
        target=model_identity(opt.target),
        judge=model_identity(opt.judge),
        proposer=model_identity(opt.proposer),
        queries=len(qs),
        heldout=len(held),
        samples=samples,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=cfg.seed,
        opro_budget=opro_budget if "opro" in chosen else None,
        methods=results,
        differences=differences,
        probe=probe_results,
        probe_usage=probe_usage,
        config=cfg.model_dump(),
        notes=notes,
        wall_seconds=round(time.monotonic() - started, 3),
    )


def compare(
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
    return run_sync(
        lambda: acompare(
            target,
            values=values,
            queries=queries,
            heldout=heldout,
            judge=judge,
            proposer=proposer,
            config=config,
            methods=methods,
            samples=samples,
            probe=probe,
            probes=probes,
            likelihood=likelihood,
            embeddings=embeddings,
            checkpointer=checkpointer,
            thread_id=thread_id,
            progress=progress,
            confidence=confidence,
            n_resamples=n_resamples,
            on_phase=on_phase,
            resume_dir=resume_dir,
        )
    )
