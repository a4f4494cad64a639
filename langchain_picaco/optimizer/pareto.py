"""The per-value Pareto front of every instruction measured so far (no extra calls).

Every judged response of an instruction (reference, screen, confirmation, final) adds to that
instruction's evidence: a sum and a count per value. An instruction is on the front while no
other is at least as good on every value and better on one (by the per-value means). Members
keep their text, their per-value means and the number of judged responses behind each mean.

Everything here is pure: the graph keeps the evidence in its state (``PicacoState.evidence``)
and writes the front next to it (``PicacoState.pareto_front``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from typing_extensions import TypedDict

__all__ = [
    "FrontMember",
    "InstructionEvidence",
    "add_evidence",
    "dominates",
    "front_of",
    "means_of",
    "merge_parents",
    "pareto_front",
]


class InstructionEvidence(TypedDict):
    """What the judge said of one instruction's responses so far, value by value."""

    instruction: str
    """The instruction's text."""
    sums: dict[str, float]
    """Sum of the judge scores (1..5) per value."""
    counts: dict[str, int]
    """Judged responses per value."""


class FrontMember(TypedDict):
    """One instruction on the Pareto front."""

    instruction: str
    """The instruction's text."""
    per_value: dict[str, float]
    """Mean judge score per value."""
    evidence: dict[str, int]
    """Judged responses behind each mean."""


def add_evidence(
    evidence: Sequence[InstructionEvidence],
    measurements: Iterable[Mapping[str, Any]],
    names: Sequence[str],
) -> list[InstructionEvidence]:
    """The evidence with the judged responses added (a new list; the bare model is left out).

    Args:
        evidence: The evidence so far, in the order the instructions were first measured.
        measurements: Judged responses (``Measurement`` dicts: ``instruction`` and ``scores``).
        names: The value names to keep.
    """
    out = [
        InstructionEvidence(
            instruction=e["instruction"], sums=dict(e["sums"]), counts=dict(e["counts"])
        )
        for e in evidence
    ]
    where = {e["instruction"]: i for i, e in enumerate(out)}
    for m in measurements:
        text = m.get("instruction")
        scores = m.get("scores") or {}
        if not text or not scores:
            continue
        if text not in where:
            where[text] = len(out)
            out.append(InstructionEvidence(instruction=text, sums={}, counts={}))
        entry = out[where[text]]
        for name in names:
            if name in scores:
                entry["sums"][name] = entry["sums"].get(name, 0.0) + float(scores[name])
                entry["counts"][name] = entry["counts"].get(name, 0) + 1
    return out


def means_of(evidence: Sequence[InstructionEvidence], instruction: str) -> dict[str, float]:
    """The per-value means of ``instruction`` (empty when it was never measured)."""
    for e in evidence:
        if e["instruction"] == instruction:
            return {k: e["sums"][k] / n for k, n in e["counts"].items() if n}
    return {}


def dominates(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every value and better on one.

    Means on different sets of values are not comparable: neither dominates.
    """
    if set(a) != set(b) or not a:
        return False
    return all(a[k] >= b[k] for k in a) and any(a[k] > b[k] for k in a)


def front_of(members: Sequence[FrontMember]) -> list[FrontMember]:
    """The members no other member dominates, in their given order (ties all stay)."""
    return [
        m
        for m in members
        if not any(dominates(o["per_value"], m["per_value"]) for o in members if o is not m)
    ]


def pareto_front(evidence: Sequence[InstructionEvidence]) -> list[FrontMember]:
    """The Pareto front of the measured instructions, by their per-value means."""
    members = [
        FrontMember(
            instruction=e["instruction"],
            per_value={k: e["sums"][k] / n for k, n in e["counts"].items() if n},
            evidence={k: n for k, n in e["counts"].items() if n},
        )
        for e in evidence
    ]
    return front_of([m for m in members if m["per_value"]])


def merge_parents(
    evidence: Sequence[InstructionEvidence], front: Sequence[FrontMember], incumbent: str
) -> tuple[str, str] | None:
    """The incumbent and the front member that complements it best, to merge.

    A partner must beat the incumbent on at least one value. Among those, the one whose
    value-by-value best with the incumbent is most balanced wins (highest minimum, then highest
    mean; ties go to the earlier member). None when no member qualifies or the incumbent was
    never measured.
    """
    mine = means_of(evidence, incumbent)
    if not mine:
        return None

    def union(member: FrontMember) -> tuple[float, float]:
        best = [max(v, member["per_value"].get(k, v)) for k, v in mine.items()]
        return min(best), sum(best) / len(best)

    partners = [
        m
        for m in front
        if m["instruction"] != incumbent
        and any(m["per_value"].get(k, v) > v for k, v in mine.items())
    ]
    if not partners:
        return None
    return incumbent, max(partners, key=union)["instruction"]
