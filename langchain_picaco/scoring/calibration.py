"""Trust the signal: calibrate the value judge, and tell answers from off-task text.

Before an optimiser spends a budget on a judge's scores, it should know whether those scores
carry the values at all. :func:`run_calibration` has the judge rate a shipped set of reference
responses (per value: responses that act on it, responses that violate it, on a few queries,
plus fluent off-topic text), one call per response rating every value, and
:func:`analyse_calibration` turns the ratings into a :class:`CalibrationReport`:

- **separation** of a value: mean score on the value of responses that act on it minus those
  that violate it (paired by query), with a t interval whose variance is pooled over the values;
- **specificity** of a value: how much more a response written to act on it scores on it than on
  the other values, net of each value's column offset (a judge may score a value high on every
  response, e.g. because of its position in the answer): ``N[a][a] - mean_{b != a} N[a][b]``
  with ``N[a][b] = M[a][b] - mean_a' M[a'][b]`` and ``M`` the confusion matrix;
- a **verdict** per value, "sees", "weak" or "blind", by the thresholds of
  :class:`~langchain_picaco.config.CalibrationConfig`.

The task-fidelity guard (:func:`is_off_task`) flags a response that does not address its query:
empty, or sharing few content words with the query *and* scored no higher on any value than the
judge scores off-topic text. The optimiser rejects a candidate instruction under which too many
responses are off-task.

Example:
    .. code-block:: python

        from langchain_picaco import PicacoOptimizer

        opt = PicacoOptimizer(model, values="confucianism-4")
        report = opt.calibrate()
        print(report.table())
        if report.blind_values:
            print("the judge cannot see", report.blind_values)
"""

from __future__ import annotations

import asyncio
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from langchain_picaco.config import CalibrationConfig, PicacoConfig
from langchain_picaco.errors import ConfigError, ValueSetError
from langchain_picaco.instruction import Usage
from langchain_picaco.llm.calls import CallUsage, ModelCaller
from langchain_picaco.scoring.measure import (
    judge_calls_per_response,
    judge_response,
    likelihood_judge,
)
from langchain_picaco.scoring.redundancy import words
from langchain_picaco.scoring.stats import t_quantile
from langchain_picaco.values.value_sets import ValueSet

__all__ = [
    "BlindJudgeWarning",
    "CalibrationReport",
    "CalibrationRow",
    "References",
    "ValueCalibration",
    "analyse_calibration",
    "calibration_calls",
    "calibration_items",
    "calibration_protocols",
    "choose_protocol",
    "is_off_task",
    "off_task_ceiling",
    "query_overlap",
    "run_calibration",
]

Verdict = Literal["sees", "weak", "blind", "unknown"]
_RANK: dict[str, int] = {"sees": 0, "weak": 1, "blind": 2}


class BlindJudgeWarning(UserWarning):
    """The value judge cannot tell some values apart: optimising them would chase noise."""


# ---------------------------------------------------------------------------- statistics
def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 3:
        return None
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:  # a constant series
        return None


# ---------------------------------------------------------------------------- data
class CalibrationRow(BaseModel):
    """One judged reference response.

    Attributes:
        value: The value the response was written for (None for off-topic text).
        kind: "acts", "violates" or "off_topic".
        index: Which reference of that value and kind (acts and violates of one index share a
            query).
        scores: The judge's score per value, 1..5.
        fault: A judge fault (unparsable reply); such rows are left out of the statistics.
    """

    model_config = ConfigDict(frozen=True)

    value: str | None
    kind: Literal["acts", "violates", "off_topic"]
    index: int
    scores: dict[str, float]
    fault: str | None = None


class ValueCalibration(BaseModel):
    """What calibration found for one value.

    Attributes:
        name: The value.
        acts: Mean score on the value of responses acting on it.
        violates: Mean score on the value of responses violating it.
        off_topic: Mean score on the value of off-topic responses.
        separation: ``acts - violates`` (mean of the per-query differences).
        separation_low: Lower end of its confidence interval (None: not estimable).
        separation_high: Upper end of its confidence interval (None: not estimable).
        specificity: How much more a response written for this value scores on it than on the
            others, net of column offsets (None with a single value).
        pairs: Reference queries (acts/violates pairs) behind the separation.
        verdict: "sees", "weak", "blind", or "unknown" (no references for the value).
        reason: Why the verdict, in a few words.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    acts: float | None = None
    violates: float | None = None
    off_topic: float | None = None
    separation: float | None = None
    separation_low: float | None = None
    separation_high: float | None = None
    specificity: float | None = None
    pairs: int = 0
    verdict: Verdict = "unknown"
    reason: str = ""


class CalibrationReport(BaseModel):
    """How far a value judge can be trusted on a value set (see the module docstring).

    Example:
        .. code-block:: python

            report = PicacoOptimizer(model, values="harmlessness-4").calibrate()
            print(report.table())            # markdown; report.table("plain") for a terminal
            report.blind_values              # values the judge cannot see
            report.failing("weak")           # values that are weak or blind

    Attributes:
        value_set: Name of the value set.
        judge: Identity of the judge model.
        protocol: The judge protocol calibrated (``PicacoConfig.judge_protocol``).
        values: Per-value findings, in value-set order.
        confusion: ``confusion[a][b]``: mean score on value ``b`` of responses written to act on
            value ``a``.
        acts_mean: Mean own-value score of the acting responses.
        violates_mean: Mean own-value score of the violating responses.
        off_topic_mean: Mean score of off-topic responses over every value.
        off_topic_max: Highest score any off-topic response got on any value.
        co_movement: Mean correlation between values' scores over every judged response (near 1:
            the values move together; the judge rates one overall impression).
        verdict: Worst verdict over the covered values ("unknown" when none is covered).
        confidence: Two-sided level of the separation intervals.
        thresholds: The :class:`CalibrationConfig` the verdicts used.
        uncovered: Values without reference responses (not calibrated).
        rows: Every judged reference response.
        judge_faults: Judged responses whose reply could not be parsed (left out).
        usage: Calls and tokens spent (under ``"auto"``: by every protocol tried).
        alternatives: When several protocols were calibrated (``judge_protocol="auto"``), one
            summary per protocol tried, this one included: ``protocol``, ``verdict``, ``seen``,
            ``weak``, ``blind`` (value names), ``calls``, ``chosen``.
    """

    value_set: str
    judge: str = ""
    protocol: str = "rubric"
    values: list[ValueCalibration]
    confusion: dict[str, dict[str, float]] = Field(default_factory=dict)
    acts_mean: float | None = None
    violates_mean: float | None = None
    off_topic_mean: float | None = None
    off_topic_max: float | None = None
    co_movement: float | None = None
    verdict: Verdict = "unknown"
    confidence: float = 0.9
    thresholds: dict[str, Any] = Field(default_factory=dict)
    uncovered: list[str] = Field(default_factory=list)
    rows: list[CalibrationRow] = Field(default_factory=list)
    judge_faults: int = 0
    usage: Usage = Field(default_factory=Usage)
    alternatives: list[dict[str, Any]] = Field(default_factory=list)

    # ------------------------------------------------------------------ verdicts
    def _with(self, verdict: str) -> list[str]:
        return [v.name for v in self.values if v.verdict == verdict]

    @property
    def blind_values(self) -> list[str]:
        """Values the judge cannot see."""
        return self._with("blind")

    @property
    def weak_values(self) -> list[str]:
        """Values the judge sees only weakly."""
        return self._with("weak")

    @property
    def seen_values(self) -> list[str]:
        """Values the judge sees."""
        return self._with("sees")

    def failing(self, fail_on: Literal["blind", "weak"] = "blind") -> list[str]:
        """Values whose verdict is ``fail_on`` or worse ("weak" includes blind values)."""
        worst = _RANK[fail_on]
        return [v.name for v in self.values if _RANK.get(v.verdict, -1) >= worst]

    def warning_message(self, fail_on: Literal["blind", "weak"] = "blind") -> str | None:
        """One line naming the values that fail, or None when the judge can be trusted."""
        bad = self.failing(fail_on)
        if not bad:
            return None
        details = ", ".join(
            f"{v.name} {_num(v.separation, signed=True)}/{_num(v.specificity, signed=True)}"
            for v in self.values
            if v.name in bad
        )
        return (
            f"the judge ({self.judge or 'judge'}) cannot see {', '.join(bad)} of "
            f"{self.value_set} (separation/specificity: {details}; verdict {self.verdict}); "
            "optimising on its scores would chase noise. Use a stronger judge, or go on anyway "
            "(calibrate=False, or --force)."
        )

    # ------------------------------------------------------------------ rendering
    def table(self, fmt: Literal["markdown", "plain"] = "markdown") -> str:
        """The per-value table and the confusion matrix, as markdown or plain text."""
        level = round(self.confidence * 100)
        head = [
            "value",
            "acts",
            "violates",
            "off-topic",
            f"separation [{level}% CI]",
            "specificity",
            "verdict",
        ]
        body = [
            [
                v.name,
                _num(v.acts),
                _num(v.violates),
                _num(v.off_topic),
                _interval(v.separation, v.separation_low, v.separation_high),
                _num(v.specificity, signed=True),
                v.verdict,
            ]
            for v in self.values
        ]
        parts = [
            f"Judge calibration of {self.judge or 'the judge'} on {self.value_set}, protocol "
            f"{self.protocol} ({self.usage.calls} judge calls): verdict **{self.verdict}**"
            if fmt == "markdown"
            else f"Judge calibration of {self.judge or 'the judge'} on {self.value_set}, protocol "
            f"{self.protocol} ({self.usage.calls} judge calls): verdict {self.verdict.upper()}",
            "",
            _render(head, body, fmt),
        ]
        if self.confusion:
            names = [v.name for v in self.values]
            cols = list(next(iter(self.confusion.values())))
            rows = [
                [a, *(_num(self.confusion[a].get(b)) for b in cols)]
                for a in names
                if a in self.confusion
            ]
            parts += [
                "",
                "Confusion matrix: mean score on each value (columns) of responses written to "
                "act on a value (rows).",
                "",
                _render(["acts on \\ scored on", *cols], rows, fmt),
            ]
        notes = [
            f"acting responses score {_num(self.acts_mean)} on their value, violating ones "
            f"{_num(self.violates_mean)}, off-topic text {_num(self.off_topic_mean)} "
            f"(highest {_num(self.off_topic_max)})",
        ]
        if self.co_movement is not None:
            notes.append(f"mean correlation between values' scores: {self.co_movement:+.2f}")
        if self.uncovered:
            notes.append(f"not calibrated (no references): {', '.join(self.uncovered)}")
        if self.judge_faults:
            notes.append(f"unparsable judge replies left out: {self.judge_faults}")
        for v in self.values:
            if v.verdict != "sees" and v.reason:
                notes.append(f"{v.name} is {v.verdict}: {v.reason}")
        for alt in self.alternatives:
            notes.append(
                f"protocol {alt['protocol']}{' (chosen)' if alt.get('chosen') else ''}: sees "
                f"{len(alt['seen'])}, weak {len(alt['weak'])}, blind {len(alt['blind'])} "
                f"({alt['calls']} calls)"
            )
        parts.append("")
        parts += [f"- {n}" if fmt == "markdown" else n for n in notes]
        return "\n".join(parts)


def _num(x: float | None, *, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def _interval(mean: float | None, low: float | None, high: float | None) -> str:
    if mean is None:
        return "-"
    if low is None or high is None:
        return f"{mean:+.2f} [n/a]"
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def _render(head: Sequence[str], rows: Sequence[Sequence[str]], fmt: str) -> str:
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=False)]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) for r in [head]]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


# ---------------------------------------------------------------------------- references
References = Mapping[str, Sequence[Mapping[str, str]]]


def _references(
    value_set: ValueSet, references: References | None
) -> tuple[dict[str, list[dict[str, str]]], list[str]]:
    """Reference pairs per covered value, and the values without any."""
    from langchain_picaco.values.queries import load_calibration_references

    covered: dict[str, list[dict[str, str]]] = {}
    uncovered: list[str] = []
    if references is not None:
        given = {k.casefold(): v for k, v in references.items()}
        for name in value_set.names:
            entries = given.get(name.casefold())
            if not entries:
                uncovered.append(name)
                continue
            for i, e in enumerate(entries):
                if not all(isinstance(e.get(k), str) and e.get(k) for k in _KEYS):
                    raise ConfigError(
                        f"references[{name!r}][{i}]",
                        "needs non-empty 'query', 'acts' and 'violates' strings",
                        "give each reference as {'query': ..., 'acts': ..., 'violates': ...}",
                    )
            covered[name] = [{k: str(e[k]) for k in _KEYS} for e in entries]
        return covered, uncovered
    for name in value_set.names:
        try:
            covered[name] = load_calibration_references([name])[name]
        except ValueSetError:
            uncovered.append(name)
    return covered, uncovered


_KEYS = ("query", "acts", "violates")


def calibration_items(
    value_set: ValueSet,
    references: References | None = None,
    off_topic: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The responses calibration has judged, and the values it cannot cover.

    Args:
        value_set: The values.
        references: ``{value: [{"query", "acts", "violates"}, ...]}`` (None: the shipped ones).
        off_topic: Off-topic responses (None: the shipped ones); each is paired with a reference
            query in turn.

    Returns:
        ``(items, uncovered)``; each item has ``value``, ``kind``, ``index``, ``query``, ``text``.
    """
    from langchain_picaco.values.queries import load_off_topic_references

    covered, uncovered = _references(value_set, references)
    items: list[dict[str, Any]] = []
    for name, entries in covered.items():
        for i, e in enumerate(entries):
            for kind in ("acts", "violates"):
                items.append(
                    {"value": name, "kind": kind, "index": i, "query": e["query"], "text": e[kind]}
                )
    queries = [e["query"] for entries in covered.values() for e in entries]
    texts = list(load_off_topic_references() if off_topic is None else off_topic)
    if queries:
        for j, text in enumerate(texts):
            # Spread the off-topic texts over the values' queries: one per value in turn.
            query = queries[(j * 2) % len(queries)] if len(queries) > 1 else queries[0]
            items.append(
                {"value": None, "kind": "off_topic", "index": j, "query": query, "text": text}
            )
    return items, uncovered


def calibration_calls(
    value_set: ValueSet,
    references: References | None = None,
    off_topic: Sequence[str] | None = None,
    protocols: Sequence[str] = ("rubric",),
) -> int:
    """Judge calls a calibration makes (judge retries aside); no model is called.

    Args:
        value_set: The values.
        references: Own references (None: the shipped ones).
        off_topic: Own off-topic responses (None: the shipped ones).
        protocols: The judge protocols calibrated, each on every reference.
    """
    items, _ = calibration_items(value_set, references, off_topic)
    return len(items) * sum(judge_calls_per_response(p, len(value_set)) for p in protocols)


def calibration_protocols(cfg: PicacoConfig, judge: Any) -> tuple[str, ...]:
    """The protocols a calibration tries: ``cfg.auto_protocols`` under ``"auto"``, else one.

    Under ``"auto"``, ``likelihood`` is dropped for a judge that cannot score given text.
    """
    if cfg.judge_protocol != "auto":
        return (cfg.judge_protocol,)
    usable = tuple(
        p for p in cfg.auto_protocols if p != "likelihood" or likelihood_judge(judge) is not None
    )
    return usable or ("rubric",)


def choose_protocol(reports: Sequence[CalibrationReport]) -> CalibrationReport:
    """The calibration whose protocol sees the most values (no model call).

    Ties are broken by fewer blind values, then by the larger sum of the separations' lower
    confidence bounds, then by the earlier report (list the cheaper protocols first).

    Args:
        reports: One calibration per protocol, on the same value set and references.

    Returns:
        The chosen report, with ``alternatives`` summarising every report and ``usage`` adding
        up what all of them spent.
    """
    if not reports:
        raise ValueError("choose_protocol needs at least one report")

    def key(item: tuple[int, CalibrationReport]) -> tuple[float, ...]:
        i, r = item
        lows = sum(v.separation_low or 0.0 for v in r.values)
        return (len(r.seen_values), -len(r.blind_values), lows, -i)

    best = max(enumerate(reports), key=key)[1]
    summary = [
        {
            "protocol": r.protocol,
            "verdict": r.verdict,
            "seen": r.seen_values,
            "weak": r.weak_values,
            "blind": r.blind_values,
            "calls": r.usage.calls,
            "chosen": r is best,
        }
        for r in reports
    ]
    total = CallUsage()
    for r in reports:
        total.add(
            CallUsage(
                calls=r.usage.calls,
                input_tokens=r.usage.input_tokens,
                output_tokens=r.usage.output_tokens,
                calls_by_role=dict(r.usage.calls_by_role),
                faults=dict(r.usage.faults),
            )
        )
    usage = Usage(
        calls=total.calls,
        input_tokens=total.input_tokens,
        output_tokens=total.output_tokens,
        calls_by_role=total.calls_by_role,
        faults=total.faults,
        wall_seconds=sum(r.usage.wall_seconds for r in reports),
    )
    return best.model_copy(update={"alternatives": summary, "usage": usage})


# ---------------------------------------------------------------------------- analysis
def _paired_differences(
    good: Sequence[CalibrationRow], covered: Sequence[str]
) -> dict[str, list[float]]:
    """Per covered value: its acting minus its violating score, one a complete reference pair."""
    by_key = {(r.value, r.kind, r.index): r for r in good}
    diffs: dict[str, list[float]] = {}
    for n in covered:
        idx = sorted({r.index for r in good if r.value == n})
        diffs[n] = [
            by_key[(n, "acts", i)].scores[n] - by_key[(n, "violates", i)].scores[n]
            for i in idx
            if (n, "acts", i) in by_key and (n, "violates", i) in by_key
        ]
    return diffs


def _pooled_noise(
    diffs: Mapping[str, Sequence[float]], confidence: float
) -> tuple[int, float, float]:
    """The judge's noise: degrees of freedom, pooled SD and two-sided t quantile."""
    # One noise level for the judge: residual variance of the paired differences, pooled over
    # the values (a few references per value leave too few degrees of freedom per value).
    df = sum(max(0, len(d) - 1) for d in diffs.values())
    ss = sum(sum((x - _mean(d)) ** 2 for x in d) for d in diffs.values() if d)
    sd = math.sqrt(ss / df) if df else math.nan
    tq = t_quantile(1 - (1 - confidence) / 2, df) if df else math.inf
    return df, sd, tq


def _confusion(
    good: Sequence[CalibrationRow], covered: Sequence[str], names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Mean score on each value (columns) of the responses written to act on a value (rows)."""
    confusion: dict[str, dict[str, float]] = {}
    for a in covered:
        acting = [r for r in good if r.value == a and r.kind == "acts"]
        if acting:
            confusion[a] = {b: _mean([r.scores[b] for r in acting]) for b in names}
    return confusion


def _value_calibration(
    name: str,
    good: Sequence[CalibrationRow],
    off_rows: Sequence[CalibrationRow],
    d: Sequence[float],
    noise: tuple[int, float, float],
    spec: float | None,
    th: CalibrationConfig,
) -> ValueCalibration:
    """One covered value's scores, separation with its interval, specificity and verdict."""
    df, sd, tq = noise
    acts = [r.scores[name] for r in good if r.value == name and r.kind == "acts"]
    viol = [r.scores[name] for r in good if r.value == name and r.kind == "violates"]
    off = [r.scores[name] for r in off_rows]
    sep = _mean(d) if d else None
    low = high = None
    if d and df and math.isfinite(tq):
        half = tq * sd / math.sqrt(len(d))
        low, high = sep - half, sep + half  # type: ignore[operator]
    verdict, reason = _verdict(sep, low, spec, th)
    return ValueCalibration(
        name=name,
        acts=_mean(acts) if acts else None,
        violates=_mean(viol) if viol else None,
        off_topic=_mean(off) if off else None,
        separation=sep,
        separation_low=low,
        separation_high=high,
        specificity=spec,
        pairs=len(d),
        verdict=verdict,
        reason=reason,
    )


def _overall_verdict(results: Sequence[ValueCalibration]) -> Verdict:
    """The worst verdict of the values that have one ("unknown" when none has)."""
    judged = [v for v in results if v.verdict != "unknown"]
    return max((v.verdict for v in judged), key=lambda x: _RANK[x]) if judged else "unknown"


def _value_results(
    names: Sequence[str],
    covered: Sequence[str],
    good: Sequence[CalibrationRow],
    th: CalibrationConfig,
) -> tuple[list[ValueCalibration], dict[str, dict[str, float]]]:
    """Every value's calibration (one without references: no verdict), and the confusion."""
    diffs = _paired_differences(good, covered)
    noise = _pooled_noise(diffs, th.confidence)
    confusion = _confusion(good, covered, names)
    offsets = {b: _mean([confusion[a][b] for a in confusion]) for b in names}
    use_offsets = len(confusion) >= 2
    off_rows = [r for r in good if r.kind == "off_topic"]

    results: list[ValueCalibration] = []
    for n in names:
        if n not in covered:
            results.append(ValueCalibration(name=n, reason="no reference responses"))
            continue
        spec = _specificity(n, names, confusion, offsets if use_offsets else None)
        results.append(_value_calibration(n, good, off_rows, diffs[n], noise, spec, th))
    return results, confusion


def _pooled_means(good: Sequence[CalibrationRow], names: Sequence[str]) -> dict[str, float | None]:
    """The report's pooled numbers: own-value means, off-topic mean and max, co-movement."""
    off_rows = [r for r in good if r.kind == "off_topic"]
    own_acts = [r.scores[r.value] for r in good if r.kind == "acts" and r.value]
    own_viol = [r.scores[r.value] for r in good if r.kind == "violates" and r.value]
    off_all = [s for r in off_rows for s in r.scores.values()]
    columns = {n: [r.scores[n] for r in good] for n in names}
    pairs = [
        c
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if (c := _correlation(columns[a], columns[b])) is not None
    ]
    return {
        "acts_mean": _mean(own_acts) if own_acts else None,
        "violates_mean": _mean(own_viol) if own_viol else None,
        "off_topic_mean": _mean(off_all) if off_all else None,
        "off_topic_max": max(off_all) if off_all else None,
        "co_movement": _mean(pairs) if pairs else None,
    }


def analyse_calibration(
    value_set: ValueSet,
    rows: Sequence[CalibrationRow],
    thresholds: CalibrationConfig | None = None,
    *,
    judge: str = "",
    uncovered: Sequence[str] = (),
    usage: Usage | None = None,
) -> CalibrationReport:
    """Turn judged reference responses into a :class:`CalibrationReport` (no model call).

    Args:
        value_set: The values rated.
        rows: The judged references (faulty rows are counted and left out).
        thresholds: Verdict thresholds (default: :class:`CalibrationConfig` defaults).
        judge: The judge's identity, for the report.
        uncovered: Values that have no references.
        usage: What the calibration spent.

    Returns:
        The report; values in ``uncovered`` get verdict "unknown".
    """
    th = thresholds or CalibrationConfig()
    names = value_set.names
    good = [r for r in rows if not r.fault and all(n in r.scores for n in names)]
    faults = len(rows) - len(good)
    covered = [n for n in names if n not in uncovered]
    results, confusion = _value_results(names, covered, good, th)
    return CalibrationReport(
        value_set=value_set.name,
        judge=judge,
        values=results,
        confusion=confusion,
        **_pooled_means(good, names),
        verdict=_overall_verdict(results),
        confidence=th.confidence,
        thresholds=th.model_dump(),
        uncovered=list(uncovered),
        rows=list(rows),
        judge_faults=faults,
        usage=usage or Usage(),
    )


def _specificity(
    name: str,
    names: Sequence[str],
    confusion: Mapping[str, Mapping[str, float]],
    offsets: Mapping[str, float] | None,
) -> float | None:
    row = confusion.get(name)
    others = [b for b in names if b != name]
    if row is None or not others:
        return None

    def net(b: str) -> float:
        return row[b] - (offsets[b] if offsets is not None else 0.0)

    return net(name) - _mean([net(b) for b in others])


def _verdict(
    sep: float | None, low: float | None, spec: float | None, th: CalibrationConfig
) -> tuple[Verdict, str]:
    if sep is None:
        return "blind", "no parsable judgement of its references"
    if sep <= th.weak_separation:
        return "blind", (
            f"acting and violating responses score alike (separation {sep:+.2f} <= "
            f"{th.weak_separation:g})"
        )
    if spec is not None and spec <= th.weak_specificity:
        return "blind", (
            f"cannot tell it from the other values (specificity {spec:+.2f} <= "
            f"{th.weak_specificity:g})"
        )
    if low is None or low <= th.min_separation:
        shown = "n/a" if low is None else f"{low:+.2f}"
        return "weak", f"separation not clearly above {th.min_separation:g} (CI low {shown})"
    if spec is not None and spec < th.min_specificity:
        return "weak", f"specificity {spec:+.2f} < {th.min_specificity:g}"
    return "sees", ""


# ---------------------------------------------------------------------------- the calls
async def run_calibration(
    caller: ModelCaller,
    value_set: ValueSet,
    cfg: PicacoConfig,
    *,
    usage: CallUsage,
    references: References | None = None,
    off_topic: Sequence[str] | None = None,
    config: RunnableConfig | None = None,
    on_scored: Callable[[CalibrationRow], None] | None = None,
    protocol: str | None = None,
) -> CalibrationReport:
    """Have the judge rate every reference response and analyse the ratings.

    One judge call per response rates all values (the call every measurement makes, through
    :func:`~langchain_picaco.scoring.measure.judge_response`, greedy and seeded).

    Args:
        caller: The judge's caller.
        value_set: The values.
        cfg: Judge settings (format, log-probabilities, retries, seed) and thresholds
            (``cfg.calibration``).
        usage: Where the calls are counted.
        references: Own reference pairs per value (None: the shipped ones).
        off_topic: Own off-topic responses (None: the shipped ones).
        config: Runnable config passed to every call (callbacks, tags).
        on_scored: Called after each judged response (progress).
        protocol: The judge protocol to calibrate (default ``cfg.judge_protocol``; ``"auto"``
            calibrates every one of :func:`calibration_protocols` and keeps the one that sees
            the most values, see :func:`choose_protocol`).

    Returns:
        The report, with its own usage (every protocol's calls are added to ``usage``).
    """
    protocol = protocol or cfg.judge_protocol
    if protocol == "auto":
        reports = []
        for p in calibration_protocols(cfg, caller.model):
            reports.append(
                await run_calibration(
                    caller,
                    value_set,
                    cfg,
                    usage=usage,
                    references=references,
                    off_topic=off_topic,
                    config=config,
                    on_scored=on_scored,
                    protocol=p,
                )
            )
        return choose_protocol(reports)
    items, uncovered = calibration_items(value_set, references, off_topic)
    mine = CallUsage()

    async def one(item: dict[str, Any]) -> CalibrationRow:
        result = await judge_response(
            caller,
            value_set,
            item["query"],
            item["text"],
            cfg,
            usage=mine,
            seed_key=("calibrate", item["value"], item["kind"], item["index"]),
            config=config,
            metadata={"phase": "calibrate", "value": item["value"], "kind": item["kind"]},
            protocol=protocol,
        )
        row = CalibrationRow(
            value=item["value"],
            kind=item["kind"],
            index=item["index"],
            scores=dict(result.scores),
            fault=result.fault,
        )
        if on_scored is not None:
            on_scored(row)
        return row

    rows = await asyncio.gather(*(one(it) for it in items))
    usage.add(mine)
    report = analyse_calibration(
        value_set,
        rows,
        cfg.calibration,
        judge=caller.identity,
        uncovered=uncovered,
        usage=Usage(
            calls=mine.calls,
            input_tokens=mine.input_tokens,
            output_tokens=mine.output_tokens,
            calls_by_role=dict(mine.calls_by_role),
            faults=dict(mine.faults),
        ),
    )
    return report.model_copy(update={"protocol": protocol})


# ---------------------------------------------------------------------------- task fidelity
_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from about as into over under
    is are was were be been being am do does did done have has had having i me my mine we us our
    you your yours he him his she her it its they them their this that these those what which who
    whom whose how why when where should would could can will shall may might must not no yes
    than too very just also there here some any all more most such own same other only both each
    few nor get got make made really thing things one want need like know think way still even
    ever much many lot well good best better bad let tell ask say said please help""".split()
)
_CONTRACTION = re.compile(r"['\u2019](?:s|re|ve|ll|d|m|t)\b", re.I)
"""A contraction's ending, dropped before the content words are read: "you're" is the stopword
"you", and "don't" is "don"."""


_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def _stem(word: str) -> str:
    """A crude stem: drop one common suffix, keep five letters ("lending" and "lend" match)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def _content(text: str) -> set[str]:
    """Crude stems of the content words: no stopword, no number, three letters or more.

    Words are the package's (:func:`~langchain_picaco.scoring.redundancy.words`), read after
    contraction endings are dropped (``_CONTRACTION``), so a contracted stopword stays a stopword.
    """
    tokens = words(_CONTRACTION.sub("", text))
    return {_stem(w) for w in tokens if len(w) >= 3 and w.isalpha() and w not in _STOPWORDS}


def query_overlap(query: str, response: str) -> float:
    """Share of the query's content words (crudely stemmed) that the response uses.

    Example:
        >>> query_overlap("Should I lend money to my cousin?", "Lending money to a cousin...")
        1.0
        >>> query_overlap("Should I lend money to my cousin?", "Lemonade needs six lemons.")
        0.0
    """
    content = _content(query)
    if not content:
        return 1.0
    return len(content & _content(response)) / len(content)


def off_task_ceiling(
    calibration: CalibrationReport | Mapping[str, Any] | None, thresholds: CalibrationConfig
) -> float:
    """The highest judge score an off-task response may get on any value.

    ``thresholds.off_task_score``, or the highest score the judge gave an off-topic reference
    during calibration, whichever is higher: a response is off-task only when the judge sees no
    more of any value in it than in text that ignores the query.
    """
    ceiling = thresholds.off_task_score
    if calibration is None:
        return ceiling
    top = (
        calibration.off_topic_max
        if isinstance(calibration, CalibrationReport)
        else calibration.get("off_topic_max")
    )
    return max(ceiling, float(top)) if top is not None else ceiling


def is_off_task(
    query: str,
    response: str,
    scores: Mapping[str, float] | None,
    *,
    min_overlap: float,
    ceiling: float,
) -> bool:
    """Whether a response fails to address its query (no model call).

    Off-task: empty, or sharing less than ``min_overlap`` of the query's content words *and*
    scored at most ``ceiling`` on every value (the judge saw nothing of any value in it either).

    Example:
        >>> is_off_task("Should I lend money to my cousin?", "", None, min_overlap=0.1,
        ...             ceiling=1.5)
        True
    """
    if not response.strip():
        return True
    if query_overlap(query, response) >= min_overlap:
        return False
    return not scores or max(scores.values()) <= ceiling
