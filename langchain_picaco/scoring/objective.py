"""The PICACO objective w(x, y) and the summaries built on judge scores.

From docs/method.md, the score of a response ``y`` to a query ``x`` under an instruction is the
variational lower bound of the conditional total correlation::

    w(x, y) = beta * sum_k log q_val(v_k | x, y)     # every value honoured
              - log q_red(s | x, y)                   # ... without parroting the value text s
              + E_{y0 ~ bare model} log q_red(s | x, y0)

Here ``q_val`` is a judge score mapped to a probability (:func:`conformity_probability`) and
``q_red`` a redundancy in [0, 1] (see ``scoring.redundancy``), smoothed by ``red_eps``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from langchain_picaco.config import DEFAULT_BETA, DEFAULT_EPS, DEFAULT_RED_EPS
from langchain_picaco.errors import ConfigError

__all__ = [
    "ValueSummary",
    "conformity_probability",
    "response_weight",
    "standardize",
    "summarize",
]

MIN_SCORE = 1.0
MAX_SCORE = 5.0


def conformity_probability(score: float, eps: float = DEFAULT_EPS) -> float:
    """Map a judge score on 1..5 to q_val in (0, 1): ``(score - 1 + eps) / (4 + 2 * eps)``.

    The score is clipped to [1, 5] first, so the result lies in ``[eps / (4 + 2 eps),
    (4 + eps) / (4 + 2 eps)]`` and its log is always finite.

    Args:
        score: The judge's score (an expected score may be fractional).
        eps: Smoothing; the larger, the softer the penalty of a score of 1 (default
            ``PicacoConfig.eps``'s, 0.25).

    Example:
        >>> round(conformity_probability(3.0), 3)
        0.5
    """
    if eps <= 0:
        raise ConfigError("eps", f"must be > 0, got {eps}", "use a small positive number like 0.25")
    s = min(MAX_SCORE, max(MIN_SCORE, float(score)))
    return (s - MIN_SCORE + eps) / (MAX_SCORE - MIN_SCORE + 2 * eps)


def _value_weights(names: Sequence[str], weights: Mapping[str, float] | None) -> dict[str, float]:
    """``K * normalised weight`` per value, so equal weights are 1 each whatever K is."""
    if weights is None:
        return dict.fromkeys(names, 1.0)
    missing = [n for n in names if n not in weights]
    if missing:
        raise ConfigError(
            "weights", f"has no weight for {missing}", "give a weight to every scored value"
        )
    raw = {n: float(weights[n]) for n in names}
    if any(not math.isfinite(w) or w < 0 for w in raw.values()):
        raise ConfigError("weights", f"must be finite and >= 0, got {raw}", "use weights >= 0")
    total = sum(raw.values())
    if total <= 0:
        raise ConfigError("weights", "sum to zero", "give at least one value a positive weight")
    k = len(names)
    return {n: k * w / total for n, w in raw.items()}


def response_weight(
    scores: Mapping[str, float],
    redundancy: float,
    baseline_redundancy: float,
    *,
    weights: Mapping[str, float] | None = None,
    beta: float = DEFAULT_BETA,
    eps: float = DEFAULT_EPS,
    red_eps: float = DEFAULT_RED_EPS,
) -> float:
    """The PICACO score w(x, y) of one response; higher is better.

    ``w = beta * sum_k weight_k * log q_val_k - log(red_eps + r) + log(red_eps + r0)``, where
    ``q_val_k = conformity_probability(scores[k], eps)``, ``r`` is the response's redundancy and
    ``r0`` the bare model's mean redundancy on the same query (the baseline term of the method).

    Sign, checked against docs/method.md (``- log q_red(s|x,y) + E_y0 log q_red(s|x,y0)``):
    q_red is the chance that the value text can be read back from ``y``, i.e. how much ``y``
    parrots it. A parroting response has q_red near 1, so ``-log q_red`` is near 0; a response
    that acts without restating has q_red near 0, so ``-log(red_eps + r)`` is large. Parroting
    therefore LOWERS w. The baseline term does not depend on ``y``: it only shifts w per query
    (w = 0 on the redundancy side when ``r == r0``).

    The balance comes from the log: one value at score 1 costs ``log(eps / (4 + 2 eps))``
    (about -2.9 at the default eps 0.25, -4.4 at the paper's 0.05), which no other value can buy
    back (each is at most ~0).

    Weights are rescaled to ``K * w_k / sum(w)``: equal weights are 1 each (the method's plain
    sum) and the number of values does not change what a weight means.

    Args:
        scores: Value name -> judge score in [1, 5].
        redundancy: q_red of this response, in [0, 1].
        baseline_redundancy: Mean q_red of the bare model's responses to the same query.
        weights: Value name -> relative weight (None: all equal).
        beta: Weight of the conformity terms against the redundancy terms.
        eps: Smoothing of :func:`conformity_probability`.
        red_eps: Smoothing of the redundancy logs (keeps ``log 0`` finite).

    The defaults of ``beta``, ``eps`` and ``red_eps`` are :class:`~langchain_picaco.PicacoConfig`'s
    (``config.DEFAULT_BETA``, ``DEFAULT_EPS``, ``DEFAULT_RED_EPS``), so a weight computed here
    equals the one a run computes with default settings.

    Example:
        >>> round(response_weight({"a": 3.0, "b": 3.0}, 0.0, 0.0), 4)  # 2 * log 0.5
        -1.3863
    """
    if not scores:
        raise ConfigError("scores", "is empty", "pass at least one value's score")
    if red_eps <= 0:
        raise ConfigError("red_eps", f"must be > 0, got {red_eps}", "use e.g. 0.1")
    names = list(scores)
    w = _value_weights(names, weights)
    conformity = sum(w[n] * math.log(conformity_probability(scores[n], eps)) for n in names)
    r = min(1.0, max(0.0, float(redundancy)))
    r0 = min(1.0, max(0.0, float(baseline_redundancy)))
    return beta * conformity - math.log(red_eps + r) + math.log(red_eps + r0)


class ValueSummary(BaseModel):
    """Per-value means of judge scores and the balance statistics PICACO reports.

    Attributes:
        per_value: Value name -> mean score.
        mean: Mean of the per-value means.
        min: The lowest per-value mean.
        std: Population standard deviation across the per-value means (the spread).
        weakest: Name of the value with the lowest mean (first one on ties).
        n: How many scores each mean is over (the largest count when counts differ).

    Example:
        >>> s = summarize({"tradition": [4, 5], "benevolence": [2, 2]})
        >>> (s.mean, s.min, s.weakest)
        (3.25, 2.0, 'benevolence')
    """

    model_config = ConfigDict(frozen=True)

    per_value: dict[str, float]
    mean: float
    min: float
    std: float
    weakest: str
    n: int


def summarize(per_value: Mapping[str, Sequence[float]]) -> ValueSummary:
    """Summarise scores per value: per-value means, their mean, minimum, spread and weakest value.

    Args:
        per_value: Value name -> the scores it received (one per rated response).

    Raises:
        ValueError: No values, or a value without any score.
    """
    if not per_value:
        raise ValueError("summarize() needs at least one value")
    empty = [k for k, xs in per_value.items() if len(xs) == 0]
    if empty:
        raise ValueError(f"no scores for {empty}")
    means = {k: math.fsum(float(x) for x in xs) / len(xs) for k, xs in per_value.items()}
    vals = list(means.values())
    mean = math.fsum(vals) / len(vals)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / len(vals))
    weakest = min(means, key=lambda k: means[k])
    return ValueSummary(
        per_value=means,
        mean=mean,
        min=means[weakest],
        std=std,
        weakest=weakest,
        n=max(len(xs) for xs in per_value.values()),
    )


def standardize(xs: Sequence[float]) -> list[float]:
    """Z-scores of ``xs`` (population std); all zeros when the values are all equal.

    Args:
        xs: Numbers, e.g. the w of the responses in one query's pool.

    Example:
        >>> standardize([1.0, 3.0])
        [-1.0, 1.0]
    """
    if not xs:
        return []
    vals = [float(x) for x in xs]
    mean = math.fsum(vals) / len(vals)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / len(vals))
    if std <= 1e-12 * max(1.0, abs(mean)):
        return [0.0] * len(vals)
    return [(v - mean) / std for v in vals]
