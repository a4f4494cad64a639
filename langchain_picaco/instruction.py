"""The artifact: a saved meta-instruction with everything needed to trust and reuse it."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from langchain_picaco._io import atomic_write_text
from langchain_picaco.errors import ArtifactError
from langchain_picaco.llm.usage import Usage
from langchain_picaco.values.value_sets import ValueSet

if TYPE_CHECKING:
    from langchain_picaco.inject.middleware import PicacoMiddleware
    from langchain_picaco.inject.runnable import PicacoRunnable

__all__ = [
    "ARTIFACT_KIND",
    "SCHEMA_VERSION",
    "HistoryEntry",
    "MetaInstruction",
    "ParetoMember",
    "Usage",
    "ValueScores",
]

ARTIFACT_KIND = "langchain-picaco/meta-instruction"
SCHEMA_VERSION = 1
MAX_INSTRUCTION_CHARS = 8000


class ValueScores(BaseModel):
    """Per-value judge scores (1..5) of one instruction, or of none, on a set of queries.

    Attributes:
        per_value: Mean judge score of each value.
        mean: Mean over values.
        min: The weakest value's mean (the balance that PICACO optimises).
        std: Spread across the per-value means (population standard deviation).
        n: How many responses each mean is over.
    """

    model_config = ConfigDict(frozen=True)

    per_value: dict[str, float]
    mean: float
    min: float
    std: float
    n: int = 0

    @classmethod
    def from_per_value(cls, per_value: dict[str, float], n: int = 0) -> ValueScores:
        """Build the summary from per-value means."""
        vals = list(per_value.values())
        if not vals:
            return cls(per_value={}, mean=float("nan"), min=float("nan"), std=float("nan"), n=n)
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
        return cls(per_value=dict(per_value), mean=mean, min=min(vals), std=std, n=n)

    @property
    def weakest(self) -> str | None:
        """Name of the value with the lowest mean score."""
        if not self.per_value:
            return None
        return min(self.per_value, key=self.per_value.__getitem__)


class HistoryEntry(BaseModel):
    """One candidate instruction considered during optimisation.

    Attributes:
        iteration: Round in which it was scored (0 = the seed instruction).
        instruction: The candidate's text.
        objective: Its selection objective (higher is better), if scored.
        per_value: Its per-value judge means, where measured.
        screen_gain: Mean gain over the incumbent on the round's minibatch (selection step).
        gain: Gain over the incumbent on fresh confirmation samples (or the screening gain
            under greedy acceptance).
        gain_low: Lower end of the gain's confidence interval.
        gain_high: Upper end of the gain's confidence interval.
        looks: Confirmation looks it took (fresh samples were added after an inconclusive look).
        accepted: Whether it became the current instruction.
        rejected_reason: Why a guard rejected it before scoring, if it did.
        proposal: "merge" when it merged two Pareto-front members
            (``proposal_strategy="pareto"``); None when it improved the weakest value.
    """

    iteration: int
    instruction: str
    objective: float | None = None
    per_value: dict[str, float] = Field(default_factory=dict)
    screen_gain: float | None = None
    gain: float | None = None
    gain_low: float | None = None
    gain_high: float | None = None
    looks: int | None = None
    accepted: bool = False
    rejected_reason: str | None = None
    proposal: Literal["merge"] | None = None


class ParetoMember(BaseModel):
    """One instruction on the run's per-value Pareto front (no other beats it on every value).

    Attributes:
        instruction: Its text.
        per_value: Its mean judge score (1..5) per value, over every response judged in the run.
        evidence: How many judged responses each mean is over.
    """

    model_config = ConfigDict(frozen=True)

    instruction: str
    per_value: dict[str, float]
    evidence: dict[str, int] = Field(default_factory=dict)


class MetaInstruction(BaseModel):
    """A meta-instruction found by PICACO (or written by hand), ready to inject into any chain.

    Example:
        .. code-block:: python

            from langchain_picaco import MetaInstruction, load_value_set

            mi = MetaInstruction(
                text="Answer helpfully while respecting everyone's safety and privacy.",
                value_set=load_value_set("hh-balance-8"),
            )
            mi.save("hh.json")
            chain = prompt | mi.as_runnable() | model

    Attributes:
        text: The instruction injected into the system message.
        value_set: The values it was optimised for.
        scores: Per-value scores of the final instruction on the run's evaluation queries.
        reference_scores: Scores of reference points ("bare", "seed", ...) measured the same way.
        history: Every candidate considered, with its objective and acceptance.
        pareto_front: The per-value Pareto front of every instruction the run measured (empty in
            artifacts saved before it was recorded).
        models: Model identities by role (target, judge, proposer).
        config: The optimiser settings used.
        seed: The run's random seed.
        usage: Calls, tokens, cache hits and faults.
        stop_reason: Why the run ended ("iterations", "patience", "budget", "interrupted", ...).
        calibration: The judge calibration report, where one was run.
        created_at: When the artifact was made (UTC, ISO 8601).
        package_version: The langchain-picaco version that made it.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["langchain-picaco/meta-instruction"] = ARTIFACT_KIND
    schema_version: int = SCHEMA_VERSION
    text: str
    value_set: ValueSet
    scores: ValueScores | None = None
    reference_scores: dict[str, ValueScores] = Field(default_factory=dict)
    history: list[HistoryEntry] = Field(default_factory=list)
    pareto_front: list[ParetoMember] = Field(default_factory=list)
    models: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    usage: Usage = Field(default_factory=Usage)
    stop_reason: str | None = None
    calibration: dict[str, Any] | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    package_version: str = Field(default_factory=lambda: _package_version())

    @field_validator("text")
    @classmethod
    def _check_text(cls, v: str) -> str:
        if not v or not v.strip():
            raise ValueError("the instruction text is empty")
        if len(v) > MAX_INSTRUCTION_CHARS:
            raise ValueError(f"the instruction text is longer than {MAX_INSTRUCTION_CHARS} chars")
        return v.strip()

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> str:
        """Serialise to readable, stable JSON."""
        return self.model_dump_json(indent=2) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the artifact as JSON, atomically (never a half-written file).

        Args:
            path: Destination file; parent folders are created.

        Returns:
            The path written.
        """
        return atomic_write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "artifact") -> MetaInstruction:
        """Validate a parsed JSON object as an artifact.

        Raises:
            ArtifactError: For a foreign object, a newer schema, or invalid fields.
        """
        if not isinstance(data, dict):
            raise ArtifactError(
                source, "is not a JSON object", "pass a file written by MetaInstruction.save"
            )
        kind = data.get("kind")
        if kind != ARTIFACT_KIND:
            raise ArtifactError(
                source,
                f"is not a langchain-picaco meta-instruction (kind={kind!r})",
                "pass a file written by MetaInstruction.save or `picaco optimize --out`",
            )
        version = data.get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise ArtifactError(
                f"{source}: schema_version",
                f"is {version!r}, not a positive integer",
                "re-create the artifact with MetaInstruction.save",
            )
        if version > SCHEMA_VERSION:
            raise ArtifactError(
                f"{source}: schema_version",
                f"is {version}, newer than this package reads ({SCHEMA_VERSION})",
                "upgrade langchain-picaco",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            raise ArtifactError(
                f"{source}: {loc}", err["msg"], "repair the field or re-create the artifact"
            ) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MetaInstruction:
        """Read and validate an artifact written by :meth:`save`. Never executes code.

        Raises:
            ArtifactError: Missing, unreadable, malformed, foreign, or newer-version file.
        """
        p = Path(path)
        src = str(p)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(src, "no such file", "check the path") from None
        except OSError as exc:
            raise ArtifactError(src, f"cannot be read ({exc.strerror})", "check the path") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ArtifactError(
                src, "is not UTF-8 text", "pass a JSON file written by MetaInstruction.save"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArtifactError(
                src,
                f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                "pass a JSON file written by MetaInstruction.save",
            ) from None
        return cls.from_dict(data, source=src)

    # ------------------------------------------------------------------ surfaces
    def as_runnable(self, **kwargs: Any) -> PicacoRunnable:
        """Return a ``PicacoRunnable`` that injects this instruction."""
        from langchain_picaco.inject.runnable import PicacoRunnable

        return PicacoRunnable(self, **kwargs)

    def as_middleware(self, **kwargs: Any) -> PicacoMiddleware:
        """Return a ``PicacoMiddleware`` (needs the ``agents`` extra)."""
        from langchain_picaco.inject.middleware import PicacoMiddleware

        return PicacoMiddleware(self, **kwargs)

    def summary(self) -> str:
        """A short human-readable summary: the text and the per-value scores."""
        lines = [f"Meta-instruction for {self.value_set.name}:", f"  {self.text}"]
        if self.scores:
            lines.append(
                f"  scores: mean {self.scores.mean:.2f}, min {self.scores.min:.2f}, "
                f"spread {self.scores.std:.2f}"
            )
            for name, s in self.scores.per_value.items():
                lines.append(f"    {name:<24} {s:.2f}")
        if self.stop_reason:
            lines.append(f"  stopped by: {self.stop_reason}")
        return "\n".join(lines)


def _package_version() -> str:
    from langchain_picaco import __version__

    return __version__
