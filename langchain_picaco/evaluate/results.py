"""What a comparison found: the methods, each method's result, the paired differences.

:class:`Comparison` is what :func:`~langchain_picaco.evaluate.comparison.compare` returns and
:func:`~langchain_picaco.evaluate.reports.write_report` writes (``comparison.json``): one
:class:`MethodResult` per method in :data:`METHODS` order (held-out scores with intervals, and
what finding and scoring the instruction cost), :class:`PairedDifference` of PICACO minus each
baseline, and the jailbreak probe's :class:`~langchain_picaco.evaluate.probe.ProbeResult` where
it was run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from langchain_picaco.evaluate.intervals import Interval, point_scores
from langchain_picaco.evaluate.probe import ProbeResult
from langchain_picaco.instruction import MetaInstruction, ValueScores
from langchain_picaco.llm.usage import Usage

__all__ = ["METHODS", "METHOD_LABELS", "Comparison", "MethodResult", "PairedDifference"]

METHODS: tuple[str, ...] = ("bare", "q+if", "opro", "picaco")
"""The methods :func:`~langchain_picaco.evaluate.comparison.compare` knows, in report order."""

METHOD_LABELS: dict[str, str] = {
    "bare": "bare model",
    "q+if": "Q+IF (value list)",
    "opro": "OPRO (equal budget)",
    "picaco": "PICACO",
}
"""Display names of the methods."""


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
        return point_scores(self)


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
