"""What model calls spent: one record type, :class:`Usage`, and the counter that fills it.

:class:`Usage` is what every result keeps (the artifact, an evaluation report, a comparison, a
calibration report) and what is saved in their JSON. :class:`CallUsage` is not a second record:
it is the mutable tally a :class:`~langchain_picaco.llm.calls.ModelCaller` adds to while calls are
in flight (many coroutines add to one tally; retries are kept by kind until the end), and it
becomes a :class:`Usage` once, with :meth:`CallUsage.to_usage` when the work is done. Inside the
LangGraph state the tally travels as its ``as_dict()`` (a plain, checkpointable value that the
state's reducer adds up); :meth:`Usage.from_counts` reads either.

Example:
    >>> tally = CallUsage()
    >>> tally.calls += 2
    >>> tally.fault("retried")
    >>> tally.to_usage(wall_seconds=1.5).model_dump(include={"calls", "faults", "wall_seconds"})
    {'calls': 2, 'faults': {'retried': 1}, 'wall_seconds': 1.5}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["CallUsage", "Usage"]


class Usage(BaseModel):
    """What a run spent.

    Attributes:
        calls: Model calls made (cache hits excluded).
        input_tokens: Prompt tokens over all calls.
        output_tokens: Completion tokens over all calls.
        calls_by_role: Calls per role (target, judge, proposer).
        cache_hits: Calls answered from the call cache.
        cache_misses: Calls that went to a model.
        faults: Faults met and survived, by kind (retries, malformed judge output, ...).
        wall_seconds: Wall-clock time of the run.
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    calls_by_role: dict[str, int] = Field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    faults: dict[str, int] = Field(default_factory=dict)
    wall_seconds: float = 0.0

    @classmethod
    def from_counts(
        cls, counts: CallUsage | Mapping[str, Any] | None, wall_seconds: float = 0.0
    ) -> Usage:
        """The record of a tally: a :class:`CallUsage` or its ``as_dict()`` (the graph state's).

        Retries by kind appear in ``faults`` as ``retried:<kind>`` next to the ``retried`` total.

        Args:
            counts: The tally (None: nothing was spent).
            wall_seconds: Wall-clock time of the work counted.
        """
        d = counts.as_dict() if isinstance(counts, CallUsage) else dict(counts or {})
        faults = {str(k): int(v) for k, v in (d.get("faults") or {}).items()}
        for kind, n in (d.get("retries") or {}).items():
            faults[f"retried:{kind}"] = int(n)
        return cls(
            calls=int(d.get("calls", 0)),
            input_tokens=int(d.get("input_tokens", 0)),
            output_tokens=int(d.get("output_tokens", 0)),
            calls_by_role={str(k): int(v) for k, v in (d.get("calls_by_role") or {}).items()},
            cache_hits=int(d.get("cache_hits", 0)),
            cache_misses=int(d.get("cache_misses", 0)),
            faults=faults,
            wall_seconds=round(wall_seconds, 3),
        )

    def __add__(self, other: Usage) -> Usage:
        """Both runs' spending together (e.g. finding an instruction, then evaluating it)."""
        return Usage(
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            calls_by_role=_sum_counts(self.calls_by_role, other.calls_by_role),
            cache_hits=self.cache_hits + other.cache_hits,
            cache_misses=self.cache_misses + other.cache_misses,
            faults=_sum_counts(self.faults, other.faults),
            wall_seconds=round(self.wall_seconds + other.wall_seconds, 3),
        )


def _sum_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    return _add_counts(dict(a), b)


def _add_counts(into: dict[str, int], more: Mapping[str, int]) -> dict[str, int]:
    """Add ``more`` into ``into`` in place (and return it)."""
    for k, v in more.items():
        into[k] = into.get(k, 0) + v
    return into


@dataclass
class CallUsage:
    """The tally of calls in flight; becomes a :class:`Usage` with :meth:`to_usage`.

    Attributes:
        calls: Model calls made (cache hits are not calls).
        input_tokens: Prompt tokens of those calls.
        output_tokens: Completion tokens of those calls.
        calls_by_role: Calls per role.
        faults: Faults met, by kind (``retried`` counts every retry).
        retries: Retries by the kind of error that caused them (``rate_limit``, ``timeout``, ...).
        cache_hits: Calls answered from the call cache.
        cache_misses: Calls looked up in the cache and sent to the model.
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    calls_by_role: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0

    def add(self, other: CallUsage) -> None:
        """Add ``other`` into this one."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_hits += other.cache_hits
        self.cache_misses += other.cache_misses
        _add_counts(self.calls_by_role, other.calls_by_role)
        _add_counts(self.faults, other.faults)
        _add_counts(self.retries, other.retries)

    def fault(self, kind: str, n: int = 1) -> None:
        """Count ``n`` faults of ``kind``."""
        self.faults[kind] = self.faults.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for graph state); cache and retry counters only when not zero."""
        out: dict[str, Any] = {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls_by_role": dict(self.calls_by_role),
            "faults": dict(self.faults),
        }
        if self.retries:
            out["retries"] = dict(self.retries)
        if self.cache_hits:
            out["cache_hits"] = self.cache_hits
        if self.cache_misses:
            out["cache_misses"] = self.cache_misses
        return out

    def to_usage(self, wall_seconds: float = 0.0) -> Usage:
        """The record of this tally (see :meth:`Usage.from_counts`)."""
        return Usage.from_counts(self, wall_seconds)
