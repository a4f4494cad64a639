"""Bootstrap confidence intervals of judge scores over held-out queries.

Every number of a comparison comes with a percentile-bootstrap interval (:class:`Interval`,
:func:`bootstrap_ci`). Judged responses are summarised per value with the QUERY as the resampled
unit (:func:`summarize_with_ci` -> :class:`ScoreSummary`), and two methods are compared by paired
differences over the (query, sample) pairs both were rated on (:func:`paired_difference`). Pure
Python and seeded: the same data and seed give the same intervals.

Example:
    >>> rows = [{"query": "q1", "scores": {"a": 5, "b": 1}},
    ...         {"query": "q2", "scores": {"a": 3, "b": 3}}]
    >>> summarize_with_ci(rows, ["a", "b"]).min.estimate
    2.0
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from langchain_picaco.errors import ConfigError
from langchain_picaco.instruction import ValueScores

__all__ = [
    "Interval",
    "ScoreSummary",
    "bootstrap_ci",
    "check_bootstrap_args",
    "paired_difference",
    "point_scores",
    "summarize_with_ci",
]

T = TypeVar("T")


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


def check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    """Raise :class:`ConfigError` unless the bootstrap settings are usable."""
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
    check_bootstrap_args(n_resamples, confidence)
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
        return point_scores(self)


class Summarised(Protocol):
    """Anything with per-value scores, mean, min and spread as intervals (a summary, a result)."""

    per_value: dict[str, Interval]
    mean: Interval
    min: Interval
    spread: Interval
    responses: int


def point_scores(summary: Summarised) -> ValueScores:
    """The point estimates of ``summary`` as a :class:`ValueScores` (``std`` is the spread)."""
    return ValueScores(
        per_value={k: v.estimate for k, v in summary.per_value.items()},
        mean=summary.mean.estimate,
        min=summary.min.estimate,
        std=summary.spread.estimate,
        n=summary.responses,
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
