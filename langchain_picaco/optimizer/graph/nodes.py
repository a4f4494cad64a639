"""The steps of the PICACO loop, one job each.

``prepare`` validates the input; ``measure`` (fanned out per query and arm with ``Send``) draws
one response (``sample``) and rates it with the value judge, one structured call for all values,
and the redundancy scorer (``score``); ``update_pools`` keeps the aligned and noisy pools;
``propose`` asks the proposer for candidate instructions and applies the guards; ``select``
scores the candidates (likelihood or sampling mode) and keeps the best beyond the noise;
``accept`` tests the challenger on fresh samples; ``decide`` counts rounds and stop conditions;
``finish`` writes the final summary; ``collect`` waits for a phase's tasks and ``budget_stop``
ends a run the budget cannot pay for. ``calibrate`` (after ``prepare``, when
``config.calibrate`` is on) rates shipped reference responses with the judge and records which
values it can see; the task-fidelity guard in ``select`` and ``accept`` rejects a candidate under
which responses stop addressing their queries. The routers between the steps are in ``routes``;
what the steps compute with lives beside the optimiser (``guards``, ``pools``, ``budget``) and in
``scoring``.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from langchain_picaco import prompts
from langchain_picaco._lazy import lazy_attributes
from langchain_picaco.errors import QueryError
from langchain_picaco.llm.calls import CallUsage, ModelCaller
from langchain_picaco.llm.tokens import count_tokens
from langchain_picaco.optimizer.budget import (
    budget_floor,
    check_budget_floor,
    screen_is_first_look,
    selection_mode,
)
from langchain_picaco.optimizer.graph.context import PicacoContext, config_of, context_of
from langchain_picaco.optimizer.graph.state import (
    RESET,
    Challenger,
    HistoryRecord,
    Measurement,
    PicacoState,
    Rejection,
    SampleTask,
    input_value_set,
    seed_kept,
)
from langchain_picaco.optimizer.guards import (
    guard_appended,
    guard_candidate,
    guard_merge,
    guard_merge_sentence,
    off_task_share,
    parse_candidate,
    parse_sentence,
    word_key,
)
from langchain_picaco.optimizer.pareto import (
    add_evidence,
    means_of,
    merge_parents,
    pareto_front,
)
from langchain_picaco.optimizer.pools import merge_pool, pool_examples, weakest_value, weighted
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.scoring import standardize
from langchain_picaco.scoring.calibration import run_calibration
from langchain_picaco.scoring.measure import (
    generate_response,
    judge_response,
    message_text,
    stable_seed,
)
from langchain_picaco.scoring.questions import build_feedback_messages
from langchain_picaco.scoring.stats import paired_gain, summarize_scores
from langchain_picaco.values.value_sets import ValueSet

if TYPE_CHECKING:
    from langchain_core.prompts import ChatPromptTemplate

    from langchain_picaco.config import PicacoConfig

__all__ = ["PicacoNodes", "budget_stop", "collect"]

FEEDBACK_CHARS = 300
"""Longest judge feedback passed to the proposer (``judge_feedback``)."""

# Names of this module's public list in 0.1 that now live elsewhere and that it does not import
# for its own use: served for one release, with a DeprecationWarning naming their new module.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {},
    {
        "BudgetFloor": "langchain_picaco.optimizer.budget",
        "Likelihood": "langchain_picaco.optimizer.resources",
    },
)


def _proposal_prompts(
    state: PicacoState,
    value_set: ValueSet,
    scores: dict[str, float],
    weakest: str,
    sentences: bool,
) -> tuple[ChatPromptTemplate, ChatPromptTemplate, dict[str, Any]]:
    """The proposer's prompt, its repair prompt and their inputs, for the proposal style."""
    if sentences:
        prompt = prompts.PROPOSER_SENTENCE_PROMPT
        repair = prompts.PROPOSER_SENTENCE_REPAIR_PROMPT
        base = {
            "instruction": state["instruction"],
            "weakest": weakest,
            "weakest_description": value_set.get(weakest).description,
            "good_examples": pool_examples(state, "aligned", best=True, k=1),
        }
    else:
        prompt, repair = prompts.PROPOSER_PROMPT, prompts.PROPOSER_REPAIR_PROMPT
        base = {
            "values": value_set.describe(),
            "instruction": state["instruction"],
            "scores": "\n".join(
                prompts.PROPOSER_SCORE_LINE.format(name=n, score=s) for n, s in scores.items()
            )
            or prompts.PROPOSER_NO_EXAMPLES,
            "weakest": weakest,
            "good_examples": pool_examples(state, "aligned", best=True),
            "noisy_examples": pool_examples(state, "noisy", best=True),
        }
    return prompt, repair, base


def _seen_instructions(state: PicacoState) -> list[str]:
    """Instructions a candidate may not repeat: the incumbent and every accepted one."""
    # A candidate that failed the noise test may come back (it gets fresh samples, and each
    # round's test has its own share of the error rate); past incumbents may not.
    return [
        state["instruction"],
        *(h["instruction"] for h in state.get("history") or [] if h.get("accepted")),
    ]


def _arm_order(m: Measurement) -> tuple[int, int, int, int]:
    """A measurement's place in a fixed order: incumbent, candidates by number, challenger."""
    arm = m.get("arm", "")
    rank = {"incumbent": 0, "challenger": 2}.get(arm, 1)
    number = int(arm.partition(":")[2]) if arm.startswith("candidate:") else 0
    return rank, number, m.get("query", 0), m.get("sample", 0)


def _with_evidence(state: PicacoState, ms: list[Measurement], names: list[str]) -> dict[str, Any]:
    """The state's evidence with the judged responses added, and the Pareto front it gives.

    The responses are added in a fixed order, not the order their tasks finished in: a run
    resumed from a checkpoint (whose kept tasks' writes come back first) builds the same
    evidence, the same front and the same merge parents as an uninterrupted one.
    """
    evidence = add_evidence(state.get("evidence") or [], sorted(ms, key=_arm_order), names)
    return {"evidence": evidence, "pareto_front": pareto_front(evidence)}


def _merge_variant(cfg: PicacoConfig, iteration: int) -> int | None:
    """The round's variant that merges two front members (None: none this round).

    Under ``proposal_strategy="pareto"``: the last of the C variants; with one candidate a
    round, the only one, every other round. The other variants improve the weakest value.
    """
    if cfg.proposal_strategy != "pareto":
        return None
    if cfg.candidates > 1:
        return cfg.candidates
    return 1 if iteration % 2 == 0 else None


def _merge_inputs(state: PicacoState, value_set: ValueSet) -> dict[str, Any] | None:
    """The merge prompt's inputs for the incumbent and its partner on the front (None: none)."""
    evidence = state.get("evidence") or []
    parents = merge_parents(evidence, state.get("pareto_front") or [], state["instruction"])
    if parents is None:
        return None
    means = [means_of(evidence, p) for p in parents]
    names = [n for n in value_set.names if n in means[0] and n in means[1]]

    def lines(m: dict[str, float]) -> str:
        return "\n".join(prompts.PROPOSER_SCORE_LINE.format(name=n, score=m[n]) for n in names)

    def stronger(a: dict[str, float], b: dict[str, float]) -> list[str]:
        return [n for n in names if a[n] > b[n]]

    first, second = stronger(means[0], means[1]), stronger(means[1], means[0])
    return {
        "parents": parents,
        "values": value_set.describe(),
        "first": parents[0],
        "second": parents[1],
        "first_scores": lines(means[0]),
        "second_scores": lines(means[1]),
        "strengths": prompts.PROPOSER_MERGE_STRENGTHS.format(
            first=", ".join(first) or "-", second=", ".join(second) or "-"
        ),
        "second_strengths": ", ".join(second) or "-",
        "second_description": " ".join(value_set.get(n).description for n in second),
    }


def _minibatch(cfg: PicacoConfig, iteration: int, n: int) -> list[int]:
    """The round's screening minibatch: indices of queries, drawn with the round's seed."""
    rng = random.Random(stable_seed(cfg.seed, "minibatch", iteration))
    return sorted(rng.sample(range(n), min(cfg.minibatch, n)))


@dataclass
class _ProposalRound:
    """One round of proposals: what the proposer is asked, and what the guards rejected."""

    state: PicacoState
    cfg: PicacoConfig
    iteration: int
    weakest: str
    sentences: bool
    prompt: ChatPromptTemplate
    repair: ChatPromptTemplate
    base: dict[str, Any]
    seen: list[str]
    rejected: list[Rejection]
    usage: CallUsage
    merge: dict[str, Any] | None = None
    """The merge prompt's inputs (``parents`` among them), when a variant merges this round."""
    merge_variant: int | None = None
    """The variant that merges (see ``_merge_variant``)."""
    feedback: list[BaseMessage] | None = None
    """The judge's feedback message, added after the prompt of every variant but the merge."""

    def merging(self, variant: int) -> bool:
        """Whether ``variant`` is this round's merge."""
        return self.merge is not None and variant == self.merge_variant

    def read_merge(self, reply: str) -> tuple[str, str | None]:
        """The merged instruction in a reply, and why it is unusable (None: usable).

        Under ``add_sentence`` the reply is one sentence, appended to the incumbent (the first
        parent); otherwise it is the whole merged instruction.
        """
        assert self.merge is not None
        parents, queries = self.merge["parents"], self.state["queries"]
        if self.sentences:
            sentence = parse_sentence(reply, parents[0])
            return guard_merge_sentence(
                sentence,
                parents,
                value_description=self.merge["second_description"],
                queries=queries,
                seen=self.seen,
            )
        text = parse_candidate(reply)
        return text, guard_merge(text, parents, queries=queries, seen=self.seen)

    def merge_prompts(self) -> tuple[ChatPromptTemplate, ChatPromptTemplate]:
        """The merge prompt and its repair turn, for the proposal style."""
        if self.sentences:
            return (
                prompts.PROPOSER_SENTENCE_MERGE_PROMPT,
                prompts.PROPOSER_SENTENCE_MERGE_REPAIR_PROMPT,
            )
        return prompts.PROPOSER_MERGE_PROMPT, prompts.PROPOSER_MERGE_REPAIR_PROMPT

    def read(self, reply: str) -> tuple[str, str | None]:
        """The candidate in a reply, and why it is unusable (None: usable)."""
        state, seen = self.state, self.seen
        if not self.sentences:
            text = parse_candidate(reply)
            return text, guard_candidate(text, queries=state["queries"], seen=seen)
        return guard_appended(
            parse_sentence(reply, state["instruction"]),
            state["instruction"],
            value_description=self.base["weakest_description"],
            queries=state["queries"],
            seen=seen,
        )

    async def ask(
        self,
        caller: ModelCaller,
        config: RunnableConfig,
        variant: int,
        proposed: Callable[[int], None],
    ) -> str:
        """Candidate ``variant``, repaired in the conversation until usable ("": rejected)."""
        cfg, iteration, usage = self.cfg, self.iteration, self.usage
        merging = self.merging(variant)
        prompt, repair, read = (
            (*self.merge_prompts(), self.read_merge)
            if merging
            else (self.prompt, self.repair, self.read)
        )
        base = self.merge if merging and self.merge is not None else self.base
        messages = prompt.format_messages(**base, variant=variant)
        if self.feedback and not merging:
            messages = [*messages, *self.feedback]
        text = ""
        for attempt in range(cfg.proposer_retries + 1):
            msg = await caller.acall(
                messages,
                usage=usage,
                config=config,
                temperature=max(cfg.temperature, 0.7),
                seed=stable_seed(
                    cfg.seed, "propose", iteration, variant, *([attempt] if attempt else [])
                ),
                metadata={
                    "phase": "propose",
                    "iteration": iteration,
                    "candidate": variant,
                    "attempt": attempt,
                    **({"proposal": "merge"} if merging else {}),
                },
            )
            text, reason = read(message_text(msg))
            if reason is None:
                break
            usage.fault(f"rejected_{reason}")
            rejection: Rejection = {"iteration": iteration, "instruction": text, "reason": reason}
            if merging:
                rejection["proposal"] = "merge"
            self.rejected.append(rejection)
            if attempt == cfg.proposer_retries:
                return ""
            # Tell the proposer what was wrong and ask again in the same conversation.
            usage.fault("proposer_repaired")
            messages = [
                *messages,
                msg,
                *repair.format_messages(
                    **{"weakest": self.weakest, **base},
                    problem=prompts.PROPOSER_PROBLEMS.get(reason, reason),
                ),
            ]
        proposed(variant)
        return text

    def distinct(self, raw: list[str]) -> list[str]:
        """The usable candidates, each once: the round's own duplicates are rejected."""
        candidates: list[str] = []
        for text in raw:
            if not text:
                continue  # rejected (and recorded) inside the repair loop
            # Only the round's own duplicates are left to catch: each reply passed its guards.
            reason = "duplicate" if word_key(text) in map(word_key, candidates) else None
            if reason:
                self.rejected.append(
                    {"iteration": self.iteration, "instruction": text, "reason": reason}
                )
                self.usage.fault(f"rejected_{reason}")
            else:
                candidates.append(text)
        return candidates


class PicacoNodes:
    """The node functions, bound to a way of getting the run's models.

    Args:
        resources: Fixed resources, or a callable building them from the run's context and
            value set (Studio runs name their models in the context).
    """

    def __init__(
        self, resources: Resources | Callable[[PicacoContext, ValueSet], Resources]
    ) -> None:
        self._resources = resources

    # ------------------------------------------------------------------ helpers
    def resources(self, runtime: Runtime[PicacoContext], values: Any) -> Resources:
        """The run's resources (built from the context's model names when not given)."""
        if isinstance(self._resources, Resources):
            return self._resources
        value_set = input_value_set(values)
        return self._resources(context_of(runtime), value_set)

    def caller(self, runtime: Runtime[PicacoContext], role: str, values: Any) -> ModelCaller:
        """A model caller for ``role``, sharing the run's concurrency bound."""
        return self.resources(runtime, values).caller(role, config_of(runtime))

    @staticmethod
    def _emit(runtime: Runtime[PicacoContext], event: dict[str, Any]) -> None:
        writer = getattr(runtime, "stream_writer", None)
        if writer is not None:
            writer(event)

    # ------------------------------------------------------------------ prepare
    async def prepare(self, state: PicacoState, runtime: Runtime[PicacoContext]) -> dict[str, Any]:
        """Validate the input; resolve the value set, selection mode and seed instruction."""
        cfg = config_of(runtime)
        raw = state.get("value_set") or "confucianism-4"
        value_set = input_value_set(raw)
        queries = [q.strip() for q in state.get("queries") or [] if isinstance(q, str)]
        if not state.get("queries"):
            from langchain_picaco.values.queries import load_queries

            queries = load_queries(value_set.name, split="optimize")
        if not queries or any(not q for q in queries):
            raise QueryError(
                "queries", "are empty or hold an empty query", "pass non-empty queries"
            )
        res = self.resources(runtime, value_set)
        selection = selection_mode(cfg, res.likelihood)
        seed = (state.get("seed_instruction") or "").strip() or default_seed_instruction(value_set)
        floor = budget_floor(cfg, value_set, len(queries), res.judge, state.get("calibration"))
        check_budget_floor(cfg, floor)
        protocol = floor.protocol
        return {
            "values": value_set.model_dump(),
            "queries": queries,
            "instruction": seed,
            "seed": seed,
            "selection": selection,
            "judge_protocol": protocol,
            "phase": "reference",
            "iteration": 0,
            "stale": 0,
            "changed": False,
            "stop_reason": None,
            "candidates": [],
            "merged": [],
            "rejected": [],
            "minibatch": [],
            "measurements": RESET,
            "aligned": {},
            "noisy": {},
            "baseline_redundancy": {},
            "reference_scores": {},
            "history": [{"iteration": 0, "instruction": seed, "accepted": True, "objective": None}],
        }

    # ------------------------------------------------------------------ calibrate
    async def calibrate(
        self, state: PicacoState, runtime: Runtime[PicacoContext], config: RunnableConfig
    ) -> dict[str, Any]:
        """Have the judge rate the shipped reference responses; record which values it sees.

        One judge call per reference response (counted in usage, role judge). With
        ``config.calibration.on_blind="stop"`` a judge that fails the calibration ends the run
        here (``stop_reason="blind_judge"``), before the reference phase spends anything.
        """
        cfg = config_of(runtime)
        value_set = ValueSet.model_validate(state["values"])
        usage = CallUsage()
        report = await run_calibration(
            self.caller(runtime, "judge", value_set),
            value_set,
            cfg,
            usage=usage,
            config=config,
            on_scored=lambda _row: self._emit(runtime, {"phase": "calibrate", "event": "scored"}),
            protocol=state.get("judge_protocol") or cfg.judge_protocol,
        )
        data = report.model_dump(mode="json")
        failing = report.failing(cfg.calibration.fail_on)
        self._emit(
            runtime,
            {
                "phase": "calibrate",
                "event": "calibrated",
                "verdict": report.verdict,
                "failing": failing,
                "calibration": data,
            },
        )
        out: dict[str, Any] = {
            "calibration": data,
            "judge_protocol": report.protocol,
            "usage": usage.as_dict(),
        }
        if failing and cfg.calibration.on_blind == "stop":
            out["stop_reason"] = "blind_judge"
        return out

    # ------------------------------------------------------------------ measure
    async def measure(
        self, task: SampleTask, runtime: Runtime[PicacoContext], config: RunnableConfig
    ) -> dict[str, Any]:
        """Draw one response of the target and have it judged (one ``Send`` task per response).

        The two calls run back to back in one task, so the judge call of one response overlaps
        the target calls of others instead of waiting for every response of the phase: one
        superstep per phase, and calls packed densely under ``max_concurrency``.
        """
        usage = CallUsage()
        record = await self.sample(task, runtime, config, usage)
        record = await self.score(record, task, runtime, config, usage)
        return {"measurements": [record], "usage": usage.as_dict()}

    async def sample(
        self,
        task: SampleTask,
        runtime: Runtime[PicacoContext],
        config: RunnableConfig,
        usage: CallUsage,
    ) -> Measurement:
        """Draw one response of the target to one query under one instruction."""
        cfg = config_of(runtime)
        text = await generate_response(
            self.caller(runtime, "target", task["values"]),
            task.get("instruction"),
            task["query_text"],
            usage=usage,
            temperature=task.get("temperature", cfg.temperature),
            seed=task["seed"],
            config=config,
            metadata={
                "phase": task["phase"],
                "iteration": task["iteration"],
                "query": task["query"],
                "sample": task["sample"],
                "arm": task["arm"],
            },
        )
        self._emit(runtime, {"phase": task["phase"], "event": "sampled", "arm": task["arm"]})
        return {
            "phase": task["phase"],
            "arm": task["arm"],
            "instruction": task.get("instruction"),
            "query": task["query"],
            "sample": task["sample"],
            "text": text,
        }

    async def score(
        self,
        record: Measurement,
        task: SampleTask,
        runtime: Runtime[PicacoContext],
        config: RunnableConfig,
        usage: CallUsage,
    ) -> Measurement:
        """Rate one response on every value (one judge call) and measure its redundancy."""
        value_set = ValueSet.model_validate(task["values"])
        res = self.resources(runtime, value_set)
        result = await judge_response(
            self.caller(runtime, "judge", value_set),
            value_set,
            task["query_text"],
            record["text"],
            config_of(runtime),
            usage=usage,
            seed_key=tuple(task.get("judge_key") or ())
            or (record["phase"], task["iteration"], record["query"], record["sample"]),
            config=config,
            protocol=task.get("judge_protocol"),
            metadata={
                "phase": record["phase"],
                "iteration": task["iteration"],
                "query": record["query"],
                "arm": record["arm"],
            },
        )
        out: Measurement = dict(record)  # type: ignore[assignment]
        out["scores"] = result.scores
        out["fault"] = result.fault
        out["redundancy"] = await res.redundancy.ascore(
            record["text"], value_set, task["query_text"]
        )
        self._emit(runtime, {"phase": record["phase"], "event": "scored", "arm": record["arm"]})
        return out

    # ------------------------------------------------------------------ pools
    async def update_pools(
        self, state: PicacoState, runtime: Runtime[PicacoContext]
    ) -> dict[str, Any]:
        """Merge the phase's judged responses into the pools; record reference scores."""
        cfg = config_of(runtime)
        value_set = ValueSet.model_validate(state["values"])
        names = value_set.names
        ms = list(state.get("measurements") or [])
        out: dict[str, Any] = {"measurements": RESET}
        baseline = dict(state.get("baseline_redundancy") or {})
        if state.get("phase") == "reference":
            bare = [m for m in ms if m["arm"] == "bare"]
            by_q: dict[int, list[Measurement]] = {}
            for m in bare:
                by_q.setdefault(m["query"], []).append(m)
            noisy: dict[str, list[Measurement]] = {}
            for q, items in by_q.items():
                baseline[str(q)] = sum(m["redundancy"] for m in items) / len(items)
                ranked = sorted(items, key=lambda m: m["redundancy"], reverse=True)
                noisy[str(q)] = ranked[: cfg.noisy_pool]
            out["noisy"] = noisy
            out["baseline_redundancy"] = baseline
            out["reference_scores"] = {
                "bare": summarize_scores(bare, names),
                "seed": summarize_scores([m for m in ms if m["arm"] == "incumbent"], names),
            }
        mine = [weighted(m, baseline, value_set, cfg) for m in ms if m["arm"] != "bare"]
        out["aligned"] = merge_pool(state.get("aligned") or {}, mine, cfg.aligned_pool)
        if mine:
            out["incumbent_scores"] = summarize_scores(mine, names)
            out.update(_with_evidence(state, mine, names))
        return out

    # ------------------------------------------------------------------ propose
    async def propose(
        self, state: PicacoState, runtime: Runtime[PicacoContext], config: RunnableConfig
    ) -> dict[str, Any]:
        """Ask the proposer for C candidate instructions; reject degenerate ones before scoring."""
        cfg = config_of(runtime)
        value_set = ValueSet.model_validate(state["values"])
        iteration = state.get("iteration", 0) + 1
        scores = (state.get("incumbent_scores") or {}).get("per_value") or {}
        weakest = weakest_value(
            scores, value_set.names, stable_seed(cfg.seed, "weakest", iteration)
        )
        sentences = cfg.proposal_style == "add_sentence"
        prompt, repair, base = _proposal_prompts(state, value_set, scores, weakest, sentences)
        caller = self.caller(runtime, "proposer", value_set)
        round_ = _ProposalRound(
            state=state,
            cfg=cfg,
            iteration=iteration,
            weakest=weakest,
            sentences=sentences,
            prompt=prompt,
            repair=repair,
            base=base,
            seen=_seen_instructions(state),
            rejected=list(state.get("rejected") or []),
            usage=CallUsage(),
            merge_variant=_merge_variant(cfg, iteration),
        )
        if round_.merge_variant is not None:
            round_.merge = _merge_inputs(state, value_set)
        if cfg.judge_feedback:
            reason = await self._judge_feedback(state, runtime, config, weakest, round_.usage)
            if reason:
                round_.feedback = prompts.PROPOSER_FEEDBACK_PROMPT.format_messages(
                    weakest=weakest, feedback=reason
                )

        def proposed(variant: int) -> None:
            self._emit(runtime, {"phase": "propose", "event": "proposed", "candidate": variant})

        raw = await asyncio.gather(
            *(round_.ask(caller, config, v, proposed) for v in range(1, cfg.candidates + 1))
        )
        candidates = round_.distinct(raw)
        merge = raw[round_.merge_variant - 1] if round_.merge_variant and round_.merge else ""
        return {
            "candidates": candidates,
            "merged": [merge] if merge and merge in candidates else [],
            "rejected": round_.rejected,
            "minibatch": _minibatch(cfg, iteration, len(state["queries"])),
            "phase": "evaluate",
            "usage": round_.usage.as_dict(),
        }

    async def _judge_feedback(
        self,
        state: PicacoState,
        runtime: Runtime[PicacoContext],
        config: RunnableConfig,
        weakest: str,
        usage: CallUsage,
    ) -> str | None:
        """One judge call: why the pooled answer scored lowest on ``weakest`` falls short of it.

        The answer is the aligned pool's lowest on the weakest value (responses already judged);
        no call when the pool is empty. The reply's first line, at most ``FEEDBACK_CHARS``.
        """
        cfg = config_of(runtime)
        value_set = ValueSet.model_validate(state["values"])
        pooled = [m for ms in (state.get("aligned") or {}).values() for m in ms]
        scored = [m for m in pooled if weakest in (m.get("scores") or {})]
        if not scored:
            return None
        low = min(scored, key=lambda m: m["scores"][weakest])
        iteration = state.get("iteration", 0) + 1
        msg = await self.caller(runtime, "judge", value_set).acall(
            build_feedback_messages(
                value_set.get(weakest), state["queries"][low["query"]], low["text"]
            ),
            usage=usage,
            config=config,
            temperature=0.0,
            seed=stable_seed(cfg.seed, "feedback", iteration),
            metadata={"phase": "propose", "iteration": iteration, "feedback": weakest},
        )
        lines = message_text(msg).strip().splitlines()
        reason = lines[0].strip()[:FEEDBACK_CHARS] if lines else ""
        if not reason:
            usage.fault("feedback_empty")
        return reason or None

    # ------------------------------------------------------------------ select
    async def select(
        self, state: PicacoState, runtime: Runtime[PicacoContext], config: RunnableConfig
    ) -> dict[str, Any]:
        """Score every candidate against the incumbent and keep the best beyond the noise."""
        cfg = config_of(runtime)
        value_set = ValueSet.model_validate(state["values"])
        iteration = state.get("iteration", 0) + 1
        candidates = list(state.get("candidates") or [])
        per_query: dict[str, dict[int, float]] = {}
        per_value: dict[str, dict[str, Any]] = {}
        out: dict[str, Any] = {"measurements": RESET}
        usage = CallUsage()
        ms: list[Measurement] = []  # the screened responses (sampling mode)
        if state.get("selection") == "likelihood":
            per_query, scored = await self._likelihood_objectives(state, runtime, candidates)
            usage.add(scored)
        else:
            baseline = state.get("baseline_redundancy") or {}
            ms = [weighted(m, baseline, value_set, cfg) for m in state.get("measurements") or []]
            for m in ms:
                arm = m["arm"]
                per_query.setdefault(arm, {})
                per_query[arm].setdefault(m["query"], 0.0)
                per_query[arm][m["query"]] += m["weight"]
            for arm in {m["arm"] for m in ms}:
                per_value[arm] = summarize_scores(
                    [m for m in ms if m["arm"] == arm], value_set.names
                )
            # Only the winner's responses join the aligned pool: the incumbent's here, and a
            # candidate's only once it is accepted (below, under greedy acceptance; in
            # ``accept``, from its confirmation, under paired acceptance). A screened candidate
            # that is not accepted (worse, off-task, or a challenger the confirmation may still
            # reject) must not teach the proposer or the likelihood objective.
            out["aligned"] = merge_pool(
                state.get("aligned") or {},
                [m for m in ms if m["arm"] == "incumbent"],
                cfg.aligned_pool,
            )
        inc = per_query.get("incumbent", {})
        history: list[HistoryRecord] = list(state.get("history") or [])
        challenger: tuple[float, int] | None = None
        entries: list[HistoryRecord] = []
        screened = list(state.get("measurements") or [])
        merged = set(state.get("merged") or [])
        for i, text in enumerate(candidates):
            arm = f"candidate:{i}"
            mine = per_query.get(arm, {})
            common = sorted(set(mine) & set(inc))
            gain = sum(mine[q] - inc[q] for q in common) / len(common) if common else 0.0
            off_task = off_task_share(state, cfg, [m for m in screened if m["arm"] == arm])
            entries.append(
                {
                    "iteration": iteration,
                    "instruction": text,
                    "objective": sum(mine.values()) / len(mine) if mine else None,
                    "per_value": (per_value.get(arm) or {}).get("per_value", {}),
                    "screen_gain": gain,
                    "accepted": False,
                    **({"proposal": "merge"} if text in merged else {}),
                }
            )
            if off_task > cfg.calibration.max_off_task:
                # Under this candidate the responses stopped answering the queries: whatever
                # the judge says of them, it is not a better instruction.
                entries[-1]["rejected_reason"] = "off_task"
                usage.fault("rejected_off_task")
                continue
            if gain > 0 and (challenger is None or gain > challenger[0]):
                challenger = (gain, i)
        history.extend(entries)
        out["history"] = history
        out["changed"] = False
        out["challenger"] = None
        if usage.faults or usage.calls:
            out["usage"] = usage.as_dict()
        if challenger is not None and cfg.acceptance == "greedy":
            entry = history[len(history) - len(entries) + challenger[1]]
            entry.update(accepted=True, gain=challenger[0])
            out["instruction"] = candidates[challenger[1]]
            out["changed"] = True
            winner = f"candidate:{challenger[1]}"
            if per_value.get(winner):
                out["incumbent_scores"] = per_value[winner]
            won = [m for m in ms if m["arm"] == winner]
            if won:  # sampling mode: the new incumbent's screened responses join the pool
                out["aligned"] = merge_pool(out["aligned"], won, cfg.aligned_pool)
        elif challenger is not None:
            picked: Challenger = {
                "instruction": candidates[challenger[1]],
                "history_index": len(history) - len(entries) + challenger[1],
            }
            out["challenger"] = picked
            if screen_is_first_look(cfg, len(state["queries"]), state.get("selection")):
                # One candidate, screened with the incumbent on every query at shared seeds:
                # nothing was selected, so the screen is an unbiased paired look. It is the
                # confirmation's first look (the accept node tests it; more looks draw fresh
                # samples), which saves drawing the same-sized look again.
                picked["screened"] = True
                arm = f"candidate:{challenger[1]}"
                names = {arm: "challenger", "incumbent": "incumbent"}
                looked = [
                    {**m, "phase": "confirm", "arm": names[m["arm"]]}
                    for m in screened
                    if m["arm"] in names
                ]
                out["measurements"] = [RESET, *looked]
                # The forwarded responses become evidence once ``accept`` has tested them.
                ms = [m for m in ms if m["arm"] not in names]
        if ms:
            out.update(_with_evidence(state, ms, value_set.names))
        if out["challenger"] is None:
            self._emit_round(runtime, iteration, out["changed"], state, out)
        return out

    async def accept(self, state: PicacoState, runtime: Runtime[PicacoContext]) -> dict[str, Any]:
        """Confirm the round's best candidate on fresh samples: accept it only beyond the noise.

        The screening step picked the candidate with the largest gain on the minibatch, so that
        gain is biased upwards. The confirmation draws new responses (fresh seeds) for the
        incumbent and the challenger on EVERY query, ``samples_per_query`` each (paired by query
        and sample seed), and accepts the challenger when the
        one-sided lower confidence bound of the paired gain is above zero, at level
        ``(1 - confidence) / (iterations * confirm_looks)`` (Bonferroni over rounds and looks),
        so a whole run reports a false improvement with probability at most ``1 - confidence``.

        A look that is inconclusive with a positive gain asks for another look (fresh samples
        for both arms, tested together with the ones already drawn) while looks remain: the
        round's state then keeps its measurements and its challenger.
        """
        cfg = config_of(runtime)
        value_set = ValueSet.model_validate(state["values"])
        iteration = state.get("iteration", 0) + 1
        challenger = {k: v for k, v in (state.get("challenger") or {}).items() if k != "screened"}
        baseline = state.get("baseline_redundancy") or {}
        ms = [weighted(m, baseline, value_set, cfg) for m in state.get("measurements") or []]
        by_arm: dict[str, dict[tuple[int, int], float]] = {"incumbent": {}, "challenger": {}}
        for m in ms:
            by_arm[m["arm"]][(m["query"], m["sample"])] = m["weight"]
        common = sorted(set(by_arm["incumbent"]) & set(by_arm["challenger"]))
        diffs = [by_arm["challenger"][q] - by_arm["incumbent"][q] for q in common]
        looks = cfg.confirm_looks
        look = int(challenger.get("look", 1))
        gain, low, high = paired_gain(diffs, (1 - cfg.confidence) / (cfg.iterations * looks))
        off_task = off_task_share(state, cfg, [m for m in ms if m["arm"] == "challenger"])
        off = off_task > cfg.calibration.max_off_task
        accepted = low > 0 and not off
        again = not accepted and not off and gain > 0 and look < looks
        history = list(state.get("history") or [])
        idx = challenger.get("history_index")
        if idx is not None and 0 <= idx < len(history):
            entry = dict(history[idx])
            entry.update(
                gain=gain,
                gain_low=None if math.isinf(low) else low,
                gain_high=None if math.isinf(high) else high,
                accepted=accepted,
                looks=look,
            )
            if off:
                entry["rejected_reason"] = "off_task"
            history[idx] = entry
        if again:
            # Inconclusive but pointing up: measure the same pair again before deciding. The
            # measurements stay (no reset), so the next look tests every sample drawn so far.
            self._emit(
                runtime,
                {
                    "phase": "confirm",
                    "event": "look_again",
                    "iteration": iteration,
                    "look": look + 1,
                    "gain": gain,
                },
            )
            return {"history": history, "challenger": {**challenger, "look": look + 1}}
        # The confirmation measured both arms on every query: the winner's responses are its
        # enhancement samples (E-step) and its per-value scores tell the proposer what is weakest.
        # Only the winner's join the aligned pool: a rejected (or off-task) challenger's do not.
        winner = "challenger" if accepted else "incumbent"
        won = [m for m in ms if m["arm"] == winner]
        out: dict[str, Any] = {
            "measurements": RESET,
            "history": history,
            "changed": accepted,
            "challenger": None,
            "aligned": merge_pool(state.get("aligned") or {}, won, cfg.aligned_pool),
        }
        out["incumbent_scores"] = summarize_scores(won, value_set.names)
        out.update(_with_evidence(state, ms, value_set.names))
        if accepted:
            out["instruction"] = challenger["instruction"]
        if off:
            out["usage"] = {"faults": {"rejected_off_task": 1}}
        self._emit_round(runtime, iteration, accepted, state, out, gain=gain)
        return out

    def _emit_round(
        self,
        runtime: Runtime[PicacoContext],
        iteration: int,
        accepted: bool,
        state: PicacoState,
        out: dict[str, Any],
        gain: float | None = None,
    ) -> None:
        self._emit(
            runtime,
            {
                "phase": "round",
                "iteration": iteration,
                "accepted": accepted,
                "gain": gain,
                "instruction": out.get("instruction", state["instruction"]),
            },
        )

    async def _likelihood_objectives(
        self, state: PicacoState, runtime: Runtime[PicacoContext], candidates: list[str]
    ) -> tuple[dict[str, dict[int, float]], CallUsage]:
        """J per arm and query: raise the aligned pool's likelihood, lower the noisy pool's.

        Every scored response is one request to the model (a prompt evaluation): it is counted
        as a call of role ``likelihood`` with its prompt tokens, so usage and budgets see it.
        """
        cfg = config_of(runtime)
        res = self.resources(runtime, state["values"])
        assert res.likelihood is not None  # prepare chose likelihood mode only with a scorer
        likelihood = res.likelihood
        arms = {"incumbent": state["instruction"]}
        arms.update({f"candidate:{i}": c for i, c in enumerate(candidates)})
        aligned = state.get("aligned") or {}
        noisy = state.get("noisy") or {}
        sem = asyncio.Semaphore(cfg.max_concurrency)
        usage = CallUsage()

        async def lbar(instruction: str, query: str, response: str) -> float:
            messages = [SystemMessage(content=instruction), HumanMessage(content=query)]
            async with sem:
                score = await likelihood.ascore(messages, response)
            usage.calls += 1
            usage.calls_by_role["likelihood"] = usage.calls_by_role.get("likelihood", 0) + 1
            usage.input_tokens += sum(map(count_tokens, (instruction, query, response)))
            return score

        out: dict[str, dict[int, float]] = {arm: {} for arm in arms}
        for q in state.get("minibatch") or []:
            pool = aligned.get(str(q)) or []
            bad = noisy.get(str(q)) or []
            if not pool:
                continue
            z = standardize([m["weight"] for m in pool])
            query = state["queries"][q]
            for arm, instruction in arms.items():
                good = await asyncio.gather(*(lbar(instruction, query, m["text"]) for m in pool))
                worse = await asyncio.gather(*(lbar(instruction, query, m["text"]) for m in bad))
                j = sum(zi * li for zi, li in zip(z, good, strict=True)) / len(pool)
                if worse:
                    # Contrast the noisy pool with the aligned one: the z-weighted term ignores a
                    # shift of every log-likelihood, so a bare noisy term would reward an
                    # instruction that makes every response (aligned ones too) less likely.
                    j -= cfg.noise_weight * (sum(worse) / len(worse) - sum(good) / len(good))
                out[arm][q] = j
        return out, usage

    # ------------------------------------------------------------------ decide / finish
    async def decide(self, state: PicacoState, runtime: Runtime[PicacoContext]) -> dict[str, Any]:
        """Count the round; stop on iterations or patience (the budget is checked by routers)."""
        cfg = config_of(runtime)
        iteration = state.get("iteration", 0) + 1
        stale = 0 if state.get("changed") else state.get("stale", 0) + 1
        stop = None
        if iteration >= cfg.iterations:
            stop = "iterations"
        elif stale >= cfg.patience:
            stop = "patience"
        return {"iteration": iteration, "stale": stale, "stop_reason": stop}

    async def finish(self, state: PicacoState, runtime: Runtime[PicacoContext]) -> dict[str, Any]:
        """Summarise the final measurement (when one was made) and close the run.

        The final measurement draws the reference phase's samples (all ``samples_per_query`` of
        them per query, with the same seeds and temperatures, judged with the same judge seeds),
        so ``final_scores`` is paired with ``reference_scores``: same queries, same sample
        indices, same decoding. When the run kept its seed, that measurement is the reference
        phase's own, so it is not drawn again: ``final_scores`` are the seed's scores.
        (Scoring the reference on sample 0 only would also pair them, but would drop ``S - 1``
        of every ``S`` reference responses from the reported numbers; measuring the final
        instruction ``S`` times costs ``(S - 1) N`` more judged responses, and ``plan()`` and
        the budget count them.)
        """
        value_set = ValueSet.model_validate(state["values"])
        ms = [m for m in state.get("measurements") or [] if m.get("phase") == "final"]
        out: dict[str, Any] = {"measurements": RESET}
        if ms:
            out["final_scores"] = summarize_scores(ms, value_set.names)
            out.update(_with_evidence(state, ms, value_set.names))
        elif seed_kept(state):
            # The seed was kept: its reference scores are the final measurement (the same
            # samples, drawn once).
            out["final_scores"] = state["reference_scores"]["seed"]
        else:
            out["final_scores"] = state.get("incumbent_scores") or {}
        out["stop_reason"] = state.get("stop_reason") or "iterations"
        self._emit(runtime, {"phase": "done", "stop_reason": out["stop_reason"]})
        return out


async def collect(state: PicacoState) -> dict[str, Any]:
    """Fan-in point: waits for every task of the superstep."""
    return {}


async def budget_stop(state: PicacoState) -> dict[str, Any]:
    """The budget cannot pay for another round: stop with the best instruction so far."""
    # A confirmation left open by the budget is dropped with its samples (rejected).
    return {"stop_reason": "budget", "measurements": RESET, "challenger": None}
