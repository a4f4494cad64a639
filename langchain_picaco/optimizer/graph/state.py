"""State of the PICACO graph: the narrow input the outside world fills, and what the loop keeps.

The typed dicts name the shapes that travel through the graph: a ``measure`` task
(:class:`SampleTask`, the payload of every ``Send``), a judged response (:class:`Measurement`),
the round's challenger (:class:`Challenger`), a candidate considered (:class:`HistoryRecord`) or
rejected by the guards (:class:`Rejection`), and per-value scores
(:class:`~langchain_picaco.scoring.stats.ValueScoresDict`). They are plain dicts at run time, so
checkpoints and artifacts keep their JSON shape.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langchain_picaco.optimizer.pareto import FrontMember, InstructionEvidence
from langchain_picaco.scoring.stats import ValueScoresDict
from langchain_picaco.values.value_sets import ValueSet, load_value_set

__all__ = [
    "Challenger",
    "HistoryRecord",
    "InputState",
    "Measurement",
    "OutputState",
    "PicacoState",
    "Rejection",
    "SampleTask",
    "ValueScoresDict",
    "input_value_set",
    "merge_usage",
    "reset_or_extend",
    "seed_kept",
]

RESET = "__reset__"


def reset_or_extend(left: list[Any] | None, right: list[Any] | str | None) -> list[Any]:
    """Reducer of fan-in channels: extend, or start afresh when a node writes ``RESET``.

    A node that replaces the channel's content writes ``[RESET, *items]``: start afresh with
    ``items``.
    """
    if right == RESET:
        return []
    if isinstance(right, list) and right and right[0] == RESET:
        return list(right[1:])
    if right is None:
        return list(left or [])
    return [*(left or []), *right]


def merge_usage(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer adding up usage dicts written by parallel tasks."""
    out: dict[str, Any] = dict(left or {})
    for key, value in (right or {}).items():
        if isinstance(value, dict):
            inner = dict(out.get(key) or {})
            for k, v in value.items():
                inner[k] = inner.get(k, 0) + v
            out[key] = inner
        else:
            out[key] = out.get(key, 0) + value
    return out


class SampleTask(TypedDict):
    """One ``measure`` task (a ``Send`` payload): draw one response and have it judged."""

    judge_key: list[Any] | None
    """Seed key of the judge call (None: phase, iteration, query and sample)."""
    phase: str
    """Which phase asks for it: reference, evaluate, confirm, enhance or final."""
    arm: str
    """Which instruction: "bare", "incumbent", "challenger" or "candidate:<i>"."""
    instruction: str | None
    """The instruction in force (None for the bare model)."""
    query: int
    """Index of the query in ``queries``."""
    query_text: str
    """The query."""
    sample: int
    """Sample number; equal numbers share a sampling seed across arms (paired comparison)."""
    seed: int
    """Sampling seed of the target call."""
    temperature: float
    """Sampling temperature of the target call."""
    iteration: int
    """The round it belongs to (0: before the first)."""
    values: dict[str, Any]
    """The resolved value set (``ValueSet.model_dump()``)."""
    judge_protocol: str | None
    """The run's judge protocol."""


class Measurement(TypedDict, total=False):
    """One response and what the judge and the redundancy scorer said of it."""

    phase: str
    """Which phase asked for it: reference, evaluate, confirm, enhance or final."""
    arm: str
    """Which instruction produced it: "bare", "incumbent" or "candidate:<i>"."""
    instruction: str | None
    """The instruction in force (None for the bare model)."""
    query: int
    """Index of the query in ``queries``."""
    sample: int
    """Sample number; equal numbers share a sampling seed across arms (paired comparison)."""
    text: str
    """The response."""
    scores: dict[str, float]
    """Judge score per value, 1..5."""
    redundancy: float
    """How much the response parrots the value text, 0..1."""
    weight: float
    """The PICACO score w(x, y) of the response."""
    fault: str | None
    """A judge fault that was recorded with a neutral score, if any."""


class Challenger(TypedDict):
    """The round's best candidate, awaiting confirmation on fresh samples (paired acceptance)."""

    instruction: str
    """Its text."""
    history_index: int
    """Where its entry is in ``history`` (the confirmation writes its gain there)."""
    screened: NotRequired[bool]
    """The screen was its first look (``screen_is_first_look``): ``accept`` tests it at once."""
    look: NotRequired[int]
    """The confirmation look under way (1 when absent)."""


class HistoryRecord(TypedDict, total=False):
    """One candidate considered (the artifact's ``HistoryEntry``, as the graph keeps it)."""

    iteration: int
    """Round in which it was scored (0 = the seed instruction)."""
    instruction: str
    """The candidate's text."""
    objective: float | None
    """Its selection objective, if scored."""
    per_value: dict[str, float]
    """Its per-value judge means on the screen, where measured."""
    screen_gain: float
    """Mean gain over the incumbent on the round's minibatch."""
    gain: float
    """Gain over the incumbent on the confirmation (the screen's under greedy acceptance)."""
    gain_low: float | None
    """Lower end of the gain's interval (None: infinite)."""
    gain_high: float | None
    """Upper end of the gain's interval (None: infinite)."""
    looks: int
    """Confirmation looks it took."""
    accepted: bool
    """Whether it became the incumbent."""
    rejected_reason: str
    """Why it was rejected after scoring (e.g. "off_task"), if it was."""
    proposal: str
    """"merge" when it merged two front members (absent: improves the weakest value)."""


class Rejection(TypedDict):
    """A proposer reply the guards rejected before any scoring."""

    iteration: int
    """The round."""
    instruction: str
    """The reply's instruction (or sentence) as parsed."""
    reason: str
    """The guard's reason (e.g. "duplicate", "question")."""
    proposal: NotRequired[str]
    """"merge" when the reply was a merge of two front members (absent otherwise)."""


class InputState(BaseModel):
    """What a caller (or LangGraph Studio's input form) provides.

    Attributes:
        value_set: A shipped value-set name (e.g. "confucianism-4") or an inline value set object.
        queries: The optimisation queries.
        seed_instruction: Where the search starts; defaults to the value-listing instruction.
        calibration: A judge calibration report made before (``CalibrationReport`` dump); when
            given, the run does not calibrate again.
    """

    value_set: str | dict[str, Any] = Field(
        default="confucianism-4", description="Shipped value-set name or an inline value set."
    )
    queries: list[str] = Field(
        default_factory=list,
        description="Optimisation queries (empty: the value set's shipped 'optimize' split).",
    )
    seed_instruction: str | None = Field(
        default=None, description="Starting instruction (default: the value-listing one)."
    )
    calibration: dict[str, Any] | None = Field(
        default=None, description="A judge calibration made before (skips calibrating again)."
    )


class PicacoState(TypedDict, total=False):
    """Everything the loop keeps between steps (checkpointed, so a run can resume)."""

    value_set: Any
    """The input as given (name or object)."""
    queries: list[str]
    """The optimisation queries."""
    seed_instruction: str | None
    """The input's seed instruction, if any."""
    calibration: dict[str, Any] | None
    """The judge calibration report (``CalibrationReport`` dump), given or made by ``calibrate``."""
    values: dict[str, Any]
    """The resolved value set (``ValueSet.model_dump()``)."""
    instruction: str
    """The current (incumbent) meta-instruction."""
    seed: str
    """The instruction the search started from."""
    selection: str
    """The selection mode in force: "likelihood" or "sampling"."""
    judge_protocol: str
    """The judge protocol in force ("auto" only until the calibration has chosen one)."""
    phase: str
    """The phase whose responses are being measured."""
    iteration: int
    """Rounds completed."""
    stale: int
    """Rounds in a row without an accepted candidate."""
    changed: bool
    """Whether the last round replaced the incumbent."""
    stop_reason: str | None
    """Why the loop ended, once it has."""
    candidates: list[str]
    """This round's candidate instructions that passed the guards."""
    merged: list[str]
    """Those of this round's candidates that merge two front members (at most one)."""
    rejected: list[Rejection]
    """Candidates the guards rejected, with the reason (all rounds)."""
    minibatch: list[int]
    """Query indices this round's candidates are evaluated on."""
    challenger: Challenger | None
    """The round's best candidate awaiting confirmation on fresh samples, if any."""
    measurements: Annotated[list[Measurement], reset_or_extend]
    """Fan-in: judged responses of the current phase."""
    aligned: dict[str, list[Measurement]]
    """Aligned pool: the best responses per query (by weight) seen so far."""
    noisy: dict[str, list[Measurement]]
    """Noisy pool: bare-model responses per query that parrot the values the most."""
    baseline_redundancy: dict[str, float]
    """Mean redundancy of the bare model's responses per query (the baseline term of w)."""
    reference_scores: dict[str, ValueScoresDict]
    """Per-value scores of the bare model and of the seed instruction."""
    incumbent_scores: ValueScoresDict
    """Per-value scores of the incumbent, from its latest measurement."""
    final_scores: ValueScoresDict
    """Per-value scores of the final instruction on every query."""
    history: list[HistoryRecord]
    """Every candidate considered, with objective, gain, interval and acceptance."""
    evidence: list[InstructionEvidence]
    """Per-value judge sums and counts of every instruction measured so far."""
    pareto_front: list[FrontMember]
    """The per-value Pareto front of the instructions measured so far (from ``evidence``)."""
    usage: Annotated[dict[str, Any], merge_usage]
    """Calls, tokens and faults, added up over the run."""


class OutputState(TypedDict, total=False):
    """What the graph returns."""

    instruction: str
    """The best instruction found."""
    values: dict[str, Any]
    """The resolved value set."""
    final_scores: ValueScoresDict
    """Per-value scores of the final instruction."""
    incumbent_scores: ValueScoresDict
    """Per-value scores of the final instruction at its latest measurement."""
    reference_scores: dict[str, ValueScoresDict]
    """Per-value scores of the bare model and of the seed."""
    history: list[HistoryRecord]
    """Every candidate considered."""
    rejected: list[Rejection]
    """Candidates the guards rejected."""
    pareto_front: list[FrontMember]
    """The per-value Pareto front of every instruction measured."""
    calibration: dict[str, Any] | None
    """The judge calibration report, if one was made or given."""
    stop_reason: str | None
    """Why the run ended."""
    iteration: int
    """Rounds completed."""
    selection: str
    """The selection mode used."""
    judge_protocol: str
    """The judge protocol that scored the run."""
    usage: dict[str, Any]
    """What the run spent."""


def input_value_set(raw: str | dict[str, Any] | ValueSet) -> ValueSet:
    """The value set of the input (``InputState.value_set``): a name, an inline object, or one."""
    if isinstance(raw, ValueSet):
        return raw
    if isinstance(raw, dict):
        return ValueSet.from_dict(raw, source="input.value_set")
    return load_value_set(raw)


def seed_kept(state: PicacoState) -> bool:
    """Whether the run ends on its seed with the seed's reference scores at hand.

    Then the final measurement would draw the very samples the reference phase drew for the
    seed (same instruction, seeds, temperatures and judge seeds): the reference scores are
    its result. Drawing them again costs ``N S`` judged responses and, on a runtime that is
    not bit-exact (llama.cpp reusing its prompt cache), can print a "gain" of an unchanged
    instruction. ``route_final`` skips the draw and ``finish`` reports the seed's scores.
    """
    history = state.get("history") or []
    seed = history[0].get("instruction") if history else None
    return state.get("instruction") == seed and bool(
        (state.get("reference_scores") or {}).get("seed")
    )
