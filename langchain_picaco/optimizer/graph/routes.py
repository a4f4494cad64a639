"""Where the PICACO graph goes after each step: the routers, and the work they fan out.

A router reads the state (and the run's settings from the runtime context) and names the next
node, or returns ``Send("measure", task)`` for every response a phase draws (one
:class:`~langchain_picaco.optimizer.graph.state.SampleTask` each). Before a round, a confirmation
look, an enhancement or the final measurement, it asks the budget
(:func:`~langchain_picaco.optimizer.budget.fits`) and goes to ``budget_stop`` when the budget
cannot pay.

The flow: ``prepare`` -> (``calibrate``) -> reference measurements -> ``update_pools`` ->
``propose`` -> screen (sampling mode) -> ``select`` -> confirmation looks -> ``accept`` ->
``decide`` -> next round, or the final measurement -> ``finish``.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.budget import (
    fits,
    next_round_calls,
    run_confirm_calls,
    run_enhance_calls,
)
from langchain_picaco.optimizer.graph.context import PicacoContext, config_of
from langchain_picaco.optimizer.graph.state import Challenger, PicacoState, SampleTask, seed_kept
from langchain_picaco.scoring.measure import stable_seed

__all__ = [
    "route_after_decide",
    "route_calibrated",
    "route_confirm",
    "route_evaluate",
    "route_final",
    "route_phase",
    "route_prepare",
    "route_round",
]


# ---------------------------------------------------------------------- routers
def route_prepare(
    state: PicacoState, runtime: Runtime[PicacoContext]
) -> list[Send] | Literal["calibrate"]:
    """After ``prepare``: calibrate the judge first (asked, and none was given), else measure."""
    cfg = config_of(runtime)
    if cfg.calibrate and not state.get("calibration"):
        return "calibrate"
    return _reference_sends(state, cfg)


def route_calibrated(
    state: PicacoState, runtime: Runtime[PicacoContext]
) -> list[Send] | Literal["finish"]:
    """After ``calibrate``: stop on a blind judge (``on_blind="stop"``), else measure."""
    if state.get("stop_reason") == "blind_judge":
        return "finish"
    return _reference_sends(state, config_of(runtime))


def route_phase(state: PicacoState) -> Literal["update_pools", "select", "accept", "finish"]:
    """After a phase's measurements are collected: the step that reads them."""
    ms = state.get("measurements") or []
    phase = ms[0]["phase"] if ms else "evaluate"
    if phase in ("reference", "enhance"):
        return "update_pools"
    if phase == "final":
        return "finish"
    if phase == "confirm":
        return "accept"
    return "select"


def route_round(
    state: PicacoState, runtime: Runtime[PicacoContext]
) -> Literal["propose", "budget_stop"]:
    """Start a round when the budget pays for it (and the final measurement), else stop."""
    cfg = config_of(runtime)
    return "propose" if fits(state, cfg, next_round_calls(state, cfg)) else "budget_stop"


def route_evaluate(
    state: PicacoState, runtime: Runtime[PicacoContext]
) -> list[Send] | Literal["select"]:
    """After ``propose``: screen the candidates with the incumbent on the minibatch (sampling).

    Likelihood mode (or no candidate) goes straight to ``select``.
    """
    cfg = config_of(runtime)
    candidates = state.get("candidates") or []
    if state.get("selection") == "likelihood" or not candidates:
        return "select"
    iteration = state.get("iteration", 0) + 1
    arms = [("incumbent", state["instruction"])]
    arms += [(f"candidate:{i}", c) for i, c in enumerate(candidates)]
    sends = []
    for q in state.get("minibatch") or []:
        seed = stable_seed(cfg.seed, "evaluate", iteration, q)
        for arm, instruction in arms:
            sends.append(
                _measure(
                    state,
                    phase="evaluate",
                    iteration=iteration,
                    arm=arm,
                    instruction=instruction,
                    query=q,
                    sample=0,
                    seed=seed,
                    temperature=cfg.temperature,
                )
            )
    return sends


def route_confirm(
    state: PicacoState, runtime: Runtime[PicacoContext]
) -> list[Send] | Literal["accept", "decide", "budget_stop"]:
    """After ``select`` or ``accept``: another confirmation look of the challenger, if any.

    After select: the round's challenger, if any, gets its first look. After accept: a
    challenger still open means the look was inconclusive with a positive gain, so it gets
    another one. Either way, only if the budget can pay for it.
    """
    cfg = config_of(runtime)
    challenger = state.get("challenger")
    if not challenger:
        return "decide"
    if challenger.get("screened"):
        return "accept"  # the screen was the first look (``screen_is_first_look``)
    if not fits(state, cfg, run_confirm_calls(state, cfg)):
        return "budget_stop"
    return _confirm_sends(state, cfg, challenger)


def route_after_decide(
    state: PicacoState, runtime: Runtime[PicacoContext]
) -> list[Send] | Literal["propose", "budget_stop", "finish"]:
    """After ``decide``: the final measurement on a stop, else enhancement samples or a round.

    Under greedy acceptance a new incumbent is measured on every query first (its enhancement
    samples); under paired acceptance the confirmation already measured it on every query.
    """
    cfg = config_of(runtime)
    if state.get("stop_reason"):
        return route_final(state, runtime)
    if not state.get("changed") or cfg.acceptance == "paired":
        return route_round(state, runtime)
    if not fits(state, cfg, run_enhance_calls(state, cfg)):
        return "budget_stop"
    iteration = state.get("iteration", 0)
    sends = []
    for q in range(len(state["queries"])):
        for s in range(cfg.samples_per_query):
            sends.append(
                _measure(
                    state,
                    phase="enhance",
                    arm="incumbent",
                    instruction=state["instruction"],
                    query=q,
                    sample=s,
                    seed=stable_seed(cfg.seed, "enhance", iteration, q, s),
                    temperature=cfg.temperature,
                )
            )
    return sends


def route_final(
    state: PicacoState, runtime: Runtime[PicacoContext]
) -> list[Send] | Literal["finish"]:
    """The final measurement of the instruction, when the budget pays and it is not the seed.

    The final instruction is measured exactly as the reference phase measured the bare model
    and the seed: every query, the same S samples (sample 0 greedy, the others at the sampling
    temperature), the same target seeds and the same judge seeds. So bare, seed and final
    scores are paired (a kept seed is not measured again: ``seed_kept``).
    """
    cfg = config_of(runtime)
    if not fits(state, cfg, 0) or seed_kept(state):
        return "finish"
    return _reference_draws(state, cfg, "final", [("incumbent", state["instruction"])])


# ---------------------------------------------------------------------- the work fanned out
def _measure(
    state: PicacoState,
    *,
    phase: str,
    arm: str,
    instruction: str | None,
    query: int,
    sample: int,
    seed: int,
    temperature: float,
    iteration: int | None = None,
    judge_key: list[Any] | None = None,
) -> Send:
    """A ``measure`` task; ``iteration`` is the round it belongs to (default: rounds completed).

    ``judge_key`` seeds the judge call (default: phase, iteration, query and sample): the final
    measurement uses the reference phase's, so an unchanged response gets the same rating.
    """
    task: SampleTask = {
        "judge_key": judge_key,
        "phase": phase,
        "arm": arm,
        "instruction": instruction,
        "query": query,
        "query_text": state["queries"][query],
        "sample": sample,
        "seed": seed,
        "temperature": temperature,
        "iteration": state.get("iteration", 0) if iteration is None else iteration,
        "values": state["values"],
        "judge_protocol": state.get("judge_protocol"),
    }
    return Send("measure", task)


def _reference_draws(
    state: PicacoState, cfg: PicacoConfig, phase: str, arms: list[tuple[str, str | None]]
) -> list[Send]:
    """The reference phase's samples of each arm: S per query, the same for every phase.

    Sample ``s`` of query ``q`` has the same target seed and temperature (sample 0 greedy, the
    others at ``cfg.temperature``) and the same judge seed key whichever phase draws it, so the
    final measurement redraws exactly the samples of the bare model and the seed.
    """
    sends = []
    for q in range(len(state["queries"])):
        for s in range(cfg.samples_per_query):
            seed = stable_seed(cfg.seed, "sample", q, s)
            temperature = 0.0 if s == 0 else cfg.temperature
            for arm, instruction in arms:
                sends.append(
                    _measure(
                        state,
                        phase=phase,
                        arm=arm,
                        instruction=instruction,
                        query=q,
                        sample=s,
                        seed=seed,
                        temperature=temperature,
                        judge_key=["reference", 0, q, s],
                    )
                )
    return sends


def _reference_sends(state: PicacoState, cfg: PicacoConfig) -> list[Send]:
    """The reference phase: the bare model and the seed, S samples on every query."""
    return _reference_draws(
        state, cfg, "reference", [("bare", None), ("incumbent", state["instruction"])]
    )


def _confirm_sends(state: PicacoState, cfg: PicacoConfig, challenger: Challenger) -> list[Send]:
    """One look of a confirmation: incumbent and challenger on every query, fresh seeds.

    Look 1 draws samples ``0..S-1``; look ``k`` draws ``(k-1)S..kS-1`` with seeds of their own,
    so the pairs of every look are distinct and the test can pool them.
    """
    iteration = state.get("iteration", 0) + 1
    look = int(challenger.get("look", 1))
    per = cfg.samples_per_query
    sends = []
    for q in range(len(state["queries"])):
        for s in range((look - 1) * per, look * per):
            seed = stable_seed(cfg.seed, "confirm", iteration, q, s)
            for arm, instruction in (
                ("incumbent", state["instruction"]),
                ("challenger", challenger["instruction"]),
            ):
                sends.append(
                    _measure(
                        state,
                        phase="confirm",
                        iteration=iteration,
                        arm=arm,
                        instruction=instruction,
                        query=q,
                        sample=s,
                        seed=seed,
                        temperature=cfg.temperature,
                    )
                )
    return sends
