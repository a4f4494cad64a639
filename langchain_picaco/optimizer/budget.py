"""Every call count of a PICACO run in one place: what each phase costs and what the budget pays.

A judged response costs :func:`response_calls` (the target's call and the judge's, under the
run's protocol); a phase costs :func:`judged_calls` of them (arms x queries x samples). The floor
(:func:`budget_floor`: calibration, reference and final measurements) is checked before a run
starts; the graph's routers ask :func:`fits` before every round (:func:`next_round_calls`),
confirmation look and enhancement; ``PicacoOptimizer.plan`` adds up :func:`phase_calls`, the same
pieces at their largest, so the plan is an exact upper bound of what a run spends. The OPRO
baseline prices its steps with the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langchain_picaco.config import PicacoConfig
from langchain_picaco.errors import ConfigError
from langchain_picaco.scoring.calibration import calibration_calls, calibration_protocols
from langchain_picaco.scoring.measure import default_judge_protocol, judge_calls_per_response
from langchain_picaco.values.value_sets import ValueSet

if TYPE_CHECKING:
    from langchain_picaco.optimizer.graph.state import PicacoState
    from langchain_picaco.optimizer.resources import Likelihood

__all__ = [
    "AVG_TOKENS_BEFORE_ANY_CALL",
    "BudgetFloor",
    "budget_floor",
    "calls_per_response",
    "check_budget_floor",
    "confirm_calls",
    "final_calls",
    "fits",
    "judged_calls",
    "next_round_calls",
    "phase_calls",
    "reference_calls",
    "response_calls",
    "round_calls",
    "run_confirm_calls",
    "run_enhance_calls",
    "run_response_calls",
    "screen_is_first_look",
    "selection_mode",
    "tokens_per_call",
]

AVG_TOKENS_BEFORE_ANY_CALL = 800
"""Tokens a call is assumed to take before the first one has been counted (token budgets)."""

Selection = Literal["likelihood", "sampling"]


def selection_mode(cfg: PicacoConfig, likelihood: Likelihood | None) -> Selection:
    """The selection mode a run uses: ``"likelihood"`` or ``"sampling"`` (the plan's too).

    ``"auto"`` takes likelihood mode when the target scores given text (``likelihood``), else
    sampling.

    Raises:
        ConfigError: ``cfg.selection`` is ``"likelihood"`` and there is no scorer.
    """
    if cfg.selection == "likelihood" and likelihood is None:
        raise ConfigError(
            "config.selection",
            "is 'likelihood' but the target gives no log-probabilities of given text",
            "use selection='sampling' or 'auto', or a backend with prompt log-probs",
        )
    return "likelihood" if cfg.selection != "sampling" and likelihood is not None else "sampling"


# ---------------------------------------------------------------------- what a phase costs
def calls_per_response(protocol: str, n_values: int) -> int:
    """Calls one judged response takes under a concrete judge protocol: target plus judge."""
    return 1 + judge_calls_per_response(protocol, n_values)


def response_calls(cfg: PicacoConfig, n_values: int, protocol: str | None = None) -> int:
    """Calls one judged response takes: the target's, plus the judge's under ``protocol``.

    Args:
        cfg: The run's settings.
        n_values: Values in the value set.
        protocol: The run's judge protocol (default ``cfg.judge_protocol``); ``"auto"`` not yet
            resolved by a calibration counts the costliest of ``cfg.auto_protocols``.
    """
    protocol = protocol or cfg.judge_protocol
    options = cfg.auto_protocols if protocol == "auto" else (protocol,)
    return max(calls_per_response(p, n_values) for p in options)


def judged_calls(per_response: int, *, arms: int, queries: int, samples: int = 1) -> int:
    """Calls of judging ``samples`` responses of each of ``arms`` instructions on ``queries``."""
    return per_response * arms * queries * samples


def reference_calls(cfg: PicacoConfig, n_queries: int, per_response: int = 2) -> int:
    """Calls of the reference phase (bare and seed samples, each judged)."""
    return judged_calls(per_response, arms=2, queries=n_queries, samples=cfg.samples_per_query)


def confirm_calls(cfg: PicacoConfig, n_queries: int, per_response: int = 2) -> int:
    """Calls of one confirmation look: both arms on every query and sample, each judged."""
    return judged_calls(per_response, arms=2, queries=n_queries, samples=cfg.samples_per_query)


def final_calls(cfg: PicacoConfig, n_queries: int, per_response: int = 2) -> int:
    """Calls of the final measurement: the reference phase's S samples per query, each judged.

    The final instruction is measured on the same samples as the bare model and the seed
    (same sample indices, target seeds, temperatures and judge seeds), so the before/after
    scores are paired; that costs ``S`` judged responses per query, not one.
    """
    return judged_calls(per_response, arms=1, queries=n_queries, samples=cfg.samples_per_query)


def enhance_calls(cfg: PicacoConfig, n_queries: int, per_response: int) -> int:
    """Calls of the enhancement samples of a new incumbent (greedy acceptance): S per query."""
    return judged_calls(per_response, arms=1, queries=n_queries, samples=cfg.samples_per_query)


def propose_calls(cfg: PicacoConfig) -> int:
    """Most calls of one round's proposals (proposer replies and the judge's feedback).

    Every candidate's reply repaired every time allowed, and one judge call for the feedback
    when ``judge_feedback`` is on.
    """
    return cfg.candidates * (1 + cfg.proposer_retries) + int(cfg.judge_feedback)


def screen_calls(cfg: PicacoConfig, batch: int, per_response: int) -> int:
    """Calls of a sampling-mode screen: the incumbent and C candidates on the minibatch, judged."""
    return judged_calls(per_response, arms=cfg.candidates + 1, queries=batch)


def likelihood_calls(cfg: PicacoConfig, pooled: int) -> int:
    """Requests of a likelihood-mode selection: every arm scores each of ``pooled`` responses."""
    return (cfg.candidates + 1) * pooled


def screen_is_first_look(cfg: PicacoConfig, n_queries: int, selection: str | None) -> bool:
    """Whether a round's screening doubles as the first look of its confirmation.

    It does when sampling-mode screening of a single candidate draws exactly what a first look
    would: the incumbent and the candidate on every query, ``samples_per_query`` = 1 sample each,
    at shared seeds, under paired acceptance. With one candidate nothing is selected, so there is
    no winner's curse to correct by fresh samples; a second look (if allowed) still draws them.
    ``plan()`` and the per-round budget check count the saving.
    """
    return (
        selection == "sampling"
        and cfg.acceptance == "paired"
        and cfg.candidates == 1
        and cfg.samples_per_query == 1
        and cfg.minibatch >= n_queries
    )


def first_look_calls(
    cfg: PicacoConfig, n_queries: int, per_response: int, selection: str | None
) -> int:
    """Calls of a round's first confirmation look (none: greedy acceptance, or the screen is it)."""
    if cfg.acceptance != "paired" or screen_is_first_look(cfg, n_queries, selection):
        return 0
    return confirm_calls(cfg, n_queries, per_response)


def round_calls(
    cfg: PicacoConfig, n_queries: int, per_response: int, selection: str | None, pooled: int
) -> int:
    """Most calls one round makes up to its first confirmation look (more looks are asked apart).

    Args:
        cfg: The run's settings.
        n_queries: Optimisation queries.
        per_response: Calls one judged response takes (:func:`response_calls`).
        selection: The selection mode.
        pooled: Responses each arm scores in likelihood mode (aligned and noisy pools of the
            minibatch queries).
    """
    batch = min(cfg.minibatch, n_queries)
    if selection == "sampling":
        select = screen_calls(cfg, batch, per_response)
    else:
        select = likelihood_calls(cfg, pooled)
    return propose_calls(cfg) + select + first_look_calls(cfg, n_queries, per_response, selection)


# ---------------------------------------------------------------------- the floor and the plan
@dataclass(frozen=True)
class BudgetFloor:
    """The fewest calls a run needs: calibration (if it runs), reference and final measurements.

    Computed once, by :func:`budget_floor`, for every check and for the plan.

    Attributes:
        n_queries: Optimisation queries.
        protocol: The run's judge protocol ("auto": a calibration will choose it).
        per_response: Calls one judged response takes under it (:func:`response_calls`).
        calibration: Judge calls of the calibration that runs first (0: none runs).
        reference: Calls of the reference phase (bare and seed, S samples per query).
        final: Calls of the final measurement (S samples per query).
    """

    n_queries: int
    protocol: str
    per_response: int
    calibration: int
    reference: int
    final: int

    @property
    def calls(self) -> int:
        """The floor: calibration, reference and final calls."""
        return self.calibration + self.reference + self.final


def budget_floor(
    cfg: PicacoConfig,
    value_set: ValueSet,
    n_queries: int,
    judge: Any,
    calibration: Mapping[str, Any] | None = None,
) -> BudgetFloor:
    """The run's judge protocol and its budget floor (no model is called).

    The one place both are worked out: ``PicacoOptimizer.aoptimize`` checks it before a
    checkpoint file is made, the ``prepare`` node checks it again, and ``plan()`` reports its
    phases, so each names the same floor.

    Args:
        cfg: The run's settings.
        value_set: The values.
        n_queries: Optimisation queries.
        judge: The judge model (which protocols it supports).
        calibration: A calibration given to the run (then none runs, and under ``"auto"`` its
            protocol is the run's).
    """
    calibrating = cfg.calibrate and not calibration
    protocol = cfg.judge_protocol
    if calibration and protocol == "auto":
        protocol = str(calibration.get("protocol") or "rubric")  # the given calibration chose it
    elif protocol == "auto" and not calibrating:
        protocol = default_judge_protocol(judge)
    tried = calibration_protocols(cfg, judge) if protocol == "auto" else (protocol,)
    per = response_calls(cfg, len(value_set), protocol)
    return BudgetFloor(
        n_queries=n_queries,
        protocol=protocol,
        per_response=per,
        calibration=calibration_calls(value_set, protocols=tried) if calibrating else 0,
        reference=reference_calls(cfg, n_queries, per),
        final=final_calls(cfg, n_queries, per),
    )


def check_budget_floor(cfg: PicacoConfig, floor: BudgetFloor) -> None:
    """Refuse a call budget below the run's floor (:func:`budget_floor`), naming the floor.

    Args:
        cfg: The run's settings.
        floor: The run's floor.

    Raises:
        ConfigError: When ``cfg.budget.max_calls`` is below ``floor.calls``.
    """
    need, calibration, n = floor.calls, floor.calibration, floor.n_queries
    measure = floor.reference + floor.final
    if cfg.budget.max_calls is not None and cfg.budget.max_calls < need:
        what = (
            f"the {need} calls that calibrating the judge ({calibration}) and measuring the bare "
            f"model, the seed and the final instruction on {n} queries ({measure}) take"
            if calibration
            else f"the {need} calls that measuring the bare model, the seed and the final "
            f"instruction on {n} queries takes"
        )
        fix = "; or calibrate=False" if calibration else ""
        raise ConfigError(
            "config.budget.max_calls",
            f"is {cfg.budget.max_calls}, fewer than {what}",
            f"raise it to at least {need}, or use fewer queries or samples_per_query{fix}",
        )


def phase_calls(cfg: PicacoConfig, floor: BudgetFloor, selection: str) -> dict[str, int]:
    """Most calls of every phase of a run (``Plan.calls_by_phase``; their sum bounds the run).

    Every round counts what :func:`round_calls` lets it spend with the pools at their largest,
    every look a round may add, and the enhancement samples of greedy acceptance.

    Args:
        cfg: The run's settings.
        floor: The run's floor (:func:`budget_floor`).
        selection: The selection mode (:func:`selection_mode`).
    """
    n, per, rounds = floor.n_queries, floor.per_response, cfg.iterations
    batch = min(cfg.minibatch, n)
    paired = cfg.acceptance == "paired"
    # likelihood mode: every arm scores each minibatch query's aligned pool (at most M1) and
    # noisy pool (bare responses: at most S of them, and at most M2)
    pooled = batch * (cfg.aligned_pool + min(cfg.noisy_pool, cfg.samples_per_query))
    sampling = selection == "sampling"
    return {
        "calibrate": floor.calibration,
        "reference": floor.reference,
        "propose": propose_calls(cfg) * rounds,
        "evaluate": screen_calls(cfg, batch, per) * rounds if sampling else 0,
        "likelihood": 0 if sampling else likelihood_calls(cfg, pooled) * rounds,
        "confirm": first_look_calls(cfg, n, per, selection) * rounds,
        # at most: a round whose first look is inconclusive with a positive gain looks again
        "confirm_extra_looks": (
            confirm_calls(cfg, n, per) * rounds * (cfg.confirm_looks - 1) if paired else 0
        ),
        "enhance": 0 if paired else enhance_calls(cfg, n, per) * rounds,
        "final": floor.final,
    }


# ---------------------------------------------------------------------- what the budget pays
def tokens_per_call(tokens: float, calls: int) -> float:
    """Tokens a call has taken on average so far (:data:`AVG_TOKENS_BEFORE_ANY_CALL` before any)."""
    return tokens / calls if calls else AVG_TOKENS_BEFORE_ANY_CALL


def run_response_calls(state: PicacoState, cfg: PicacoConfig) -> int:
    """Calls one judged response takes in this run (target plus the run's judge protocol)."""
    return response_calls(cfg, len(state["values"]["values"]), state.get("judge_protocol"))


def fits(state: PicacoState, cfg: PicacoConfig, calls: int) -> bool:
    """Whether ``calls`` more calls, plus the final measurement, fit in the budget."""
    usage = state.get("usage") or {}
    used = int(usage.get("calls", 0))
    per = run_response_calls(state, cfg)
    need = calls + final_calls(cfg, len(state["queries"]), per)
    if cfg.budget.max_calls is not None and used + need > cfg.budget.max_calls:
        return False
    if cfg.budget.max_tokens is not None:
        tokens = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
        if tokens + need * tokens_per_call(tokens, used) > cfg.budget.max_tokens:
            return False
    return True


def _pooled(state: PicacoState, batch: int) -> int:
    """Most responses an arm scores in a likelihood-mode selection with the pools as they are.

    Every arm scores every response of the aligned and noisy pools of each minibatch query; the
    minibatch is drawn later, so take the largest pools.
    """
    aligned = state.get("aligned") or {}
    noisy = state.get("noisy") or {}
    sizes = sorted(
        (len(pool) + len(noisy.get(q) or []) for q, pool in aligned.items() if pool),
        reverse=True,
    )
    return sum(sizes[:batch])


def next_round_calls(state: PicacoState, cfg: PicacoConfig) -> int:
    """Most calls the next round makes up to its first look (:func:`round_calls`), in this run."""
    n = len(state["queries"])
    return round_calls(
        cfg,
        n,
        run_response_calls(state, cfg),
        state.get("selection"),
        _pooled(state, min(cfg.minibatch, n)),
    )


def run_enhance_calls(state: PicacoState, cfg: PicacoConfig) -> int:
    """Calls of the enhancement samples of a new incumbent in this run (:func:`enhance_calls`)."""
    return enhance_calls(cfg, len(state["queries"]), run_response_calls(state, cfg))


def run_confirm_calls(state: PicacoState, cfg: PicacoConfig) -> int:
    """Calls of one confirmation look in this run (:func:`confirm_calls`)."""
    return confirm_calls(cfg, len(state["queries"]), run_response_calls(state, cfg))
