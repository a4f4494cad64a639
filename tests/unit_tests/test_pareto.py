"""The per-value Pareto front (issue 15): dominance, ties, one value, evidence, the artifact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from langchain_picaco.config import PicacoConfig
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.optimizer.guards import (
    MERGE_MARGIN_CHARS,
    MERGE_SENTENCE_CHARS,
    guard_merge,
    guard_merge_sentence,
)
from langchain_picaco.optimizer.pareto import (
    InstructionEvidence,
    add_evidence,
    dominates,
    front_of,
    merge_parents,
    pareto_front,
)
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import (
    SAMPLE_QUERIES,
    ConflictingWorld,
    ScriptedProposer,
    SyntheticWorld,
)
from langchain_picaco.values.queries import load_queries
from langchain_picaco.values.value_sets import ValueSet


def _m(text: str | None, **scores: float) -> dict[str, object]:
    return {"instruction": text, "scores": scores}


def _front(rows: dict[str, dict[str, float]]) -> list[str]:
    members = [{"instruction": k, "per_value": v, "evidence": {}} for k, v in rows.items()]
    return [m["instruction"] for m in front_of(members)]  # type: ignore[arg-type]


def test_dominance_needs_every_value_at_least_as_good_and_one_better() -> None:
    assert dominates({"a": 3, "b": 2}, {"a": 2, "b": 2})
    assert not dominates({"a": 2, "b": 2}, {"a": 2, "b": 2})  # equal: neither
    assert not dominates({"a": 3, "b": 1}, {"a": 2, "b": 2})  # a trade
    assert not dominates({"a": 3}, {"a": 2, "b": 2})  # not comparable
    assert not dominates({}, {})


def test_front_keeps_trades_and_ties_and_drops_the_dominated() -> None:
    rows = {
        "A": {"a": 4.0, "b": 2.0},
        "B": {"a": 2.0, "b": 4.0},
        "C": {"a": 3.0, "b": 3.0},
        "D": {"a": 3.0, "b": 2.5},  # dominated by C only
        "E": {"a": 3.0, "b": 3.0},  # ties C: both stay
        "F": {"a": 1.0, "b": 1.0},
    }
    assert _front(rows) == ["A", "B", "C", "E"]


def test_front_on_one_value_is_the_best_instructions() -> None:
    assert _front({"A": {"a": 2.0}, "B": {"a": 4.0}, "C": {"a": 4.0}, "D": {"a": 3.9}}) == [
        "B",
        "C",
    ]


def test_evidence_adds_up_per_instruction_and_value() -> None:
    ev = add_evidence([], [_m("X", a=2, b=4), _m("Y", a=4, b=1), _m(None, a=5, b=5)], ["a", "b"])
    assert [e["instruction"] for e in ev] == ["X", "Y"]  # the bare model is not an instruction
    later = add_evidence(ev, [_m("X", a=4, b=4), _m("X", a=3)], ["a", "b"])
    assert ev[0]["counts"] == {"a": 1, "b": 1}  # the input is left alone
    assert later[0]["counts"] == {"a": 3, "b": 2} and later[0]["sums"] == {"a": 9.0, "b": 8.0}
    front = pareto_front(later)
    x = next(m for m in front if m["instruction"] == "X")
    assert x["per_value"] == {"a": 3.0, "b": 4.0} and x["evidence"] == {"a": 3, "b": 2}
    # Y (4, 1) trades against X (3, 4): both on the front; more evidence can drop one.
    assert {m["instruction"] for m in front} == {"X", "Y"}
    lower = add_evidence(later, [_m("Y", a=1, b=1)] * 6, ["a", "b"])
    assert [m["instruction"] for m in pareto_front(lower)] == ["X"]


@pytest.fixture
def run(vs: ValueSet) -> MetaInstruction:
    world = SyntheticWorld(vs)
    cfg = PicacoConfig(iterations=3, candidates=2, samples_per_query=1, seed=3, calibrate=False)
    opt = PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=world.proposer(), config=cfg
    )
    return opt.optimize(list(SAMPLE_QUERIES[:4]))


def test_a_run_records_the_front_of_what_it_measured(run: MetaInstruction) -> None:
    front = run.pareto_front
    scored = {h.instruction for h in run.history if not h.rejected_reason}
    assert front and {m.instruction for m in front} <= scored
    for m in front:
        assert set(m.per_value) == set(run.value_set.names)
        assert all(n >= 1 for n in m.evidence.values())
        assert not any(dominates(o.per_value, m.per_value) for o in front if o is not m)
    # The seed was measured on every query in the reference phase: at least N responses.
    seed = next((m for m in front if m.instruction == run.history[0].instruction), None)
    if seed is not None:
        assert min(seed.evidence.values()) >= 4


def test_the_front_survives_a_save_and_old_artifacts_still_load(
    run: MetaInstruction, tmp_path: Path
) -> None:
    path = run.save(tmp_path / "mi.json")
    assert MetaInstruction.load(path).pareto_front == run.pareto_front
    old = json.loads(path.read_text())
    del old["pareto_front"]
    path.write_text(json.dumps(old))
    assert MetaInstruction.load(path).pareto_front == []


def test_the_plot_draws_the_front_members(
    run: MetaInstruction, tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("matplotlib")
    from langchain_picaco.evaluate import plots

    drawn: dict[str, object] = {}

    def spy(series, path, **kw):  # type: ignore[no-untyped-def]
        drawn.update(series)
        return Path(path)

    monkeypatch.setattr(plots, "plot_value_scores", spy)
    plots.plot_scores(run, tmp_path / "p.png")
    others = [m for m in run.pareto_front if m.instruction != run.text]
    assert sum(label.startswith("Pareto front ") for label in drawn) == min(len(others), 4)
    on_front = any(m.instruction == run.text for m in run.pareto_front)
    assert ("optimised (on the Pareto front)" in drawn) == on_front


# ------------------------------------------------------------------ proposals from the front
def _ev(text: str, **means: float) -> InstructionEvidence:
    return {"instruction": text, "sums": dict(means), "counts": dict.fromkeys(means, 1)}


def test_merge_parents_picks_the_member_that_complements_the_incumbent() -> None:
    evidence = [
        _ev("INC", a=5, b=5, c=1, d=1),
        _ev("C-ONLY", a=5, b=1, c=5, d=1),
        _ev("D-AND-C", a=1, b=5, c=4, d=5),
        _ev("WORSE", a=4, b=4, c=1, d=1),
    ]
    front = pareto_front(evidence)
    assert "WORSE" not in {m["instruction"] for m in front}
    # the best value by value with the incumbent: (5, 5, 4, 5) beats (5, 5, 5, 1) on the minimum
    assert merge_parents(evidence, front, "INC") == ("INC", "D-AND-C")
    # nothing on the front beats the incumbent anywhere: no merge
    assert merge_parents(evidence[:1], pareto_front(evidence[:1]), "INC") is None
    assert merge_parents(evidence, front, "NEVER MEASURED") is None


def test_guard_merge_bounds_the_length_and_refuses_pastes_and_parents() -> None:
    a = "Respect family customs in every answer."
    b = "Protect the user's safety in every answer."
    kw = {"queries": list(SAMPLE_QUERIES), "seen": [a]}
    assert (
        guard_merge("Respect customs and keep the user safe in every answer.", (a, b), **kw) is None
    )
    assert guard_merge(f"{a} {b}", (a, b), **kw) == "concatenates"
    assert guard_merge(b, (a, b), **kw) == "duplicate"
    long = "Respect customs and keep the user safe in every answer, " * 3
    assert len(long) > len(b) + MERGE_MARGIN_CHARS
    assert guard_merge(long, (a, b), **kw) == "merge_too_long"


def test_a_sentence_merge_keeps_the_incumbent_and_adds_one_bounded_sentence() -> None:
    inc = "Respect family customs in every answer."
    other = "Protect the user's safety in every answer."
    kw = {
        "value_description": "Safety, harmony and stability of society and relationships.",
        "queries": list(SAMPLE_QUERIES),
        "seen": [inc],
    }
    said = "Point out risks to the user's wellbeing and how to avoid them."
    assert guard_merge_sentence(said, (inc, other), **kw) == (f"{inc} {said}", None)
    # the sentence alone is judged first: a pasted value description is refused
    pasted = "Safety, harmony and stability of society and relationships."
    assert guard_merge_sentence(pasted, (inc, other), **kw) == (pasted, "copies_values")
    # giving back a parent is a duplicate, as for any candidate
    parent = f"{inc} Point out risks."
    assert guard_merge_sentence("Point out risks.", (inc, parent), **kw)[1] == "duplicate"
    # room for one sentence, not a paragraph
    rambling = "Point out every risk to the user's wellbeing, " * 6 + "and how to avoid each."
    assert len(rambling) > len(other) + MERGE_SENTENCE_CHARS - len(inc)
    assert guard_merge_sentence(rambling, (inc, other), **kw)[1] == "sentence_too_long"


class MergeCounter(ScriptedProposer):
    """The scripted proposer, counting the merge prompts it is sent."""

    merges: int = 0

    def respond(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        if "<instruction_a>" in "\n".join(str(m.content) for m in messages):
            self.merges += 1
        return super().respond(messages, **kwargs)


def _conflict_run(
    vs: ValueSet, strategy: str, seed: int, style: str = "rewrite"
) -> tuple[MetaInstruction, int]:
    world = ConflictingWorld(vs, seed=seed)
    proposer = MergeCounter(world=world)
    cfg = PicacoConfig(
        seed=seed,
        calibrate=False,
        proposal_strategy=strategy,  # type: ignore[arg-type]
        proposal_style=style,  # type: ignore[arg-type]
    )
    mi = PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=proposer, config=cfg
    ).optimize(load_queries("confucianism-4", split="optimize"))
    return mi, proposer.merges


def test_pareto_merges_front_members_where_weakest_value_edits_stall(vs: ValueSet) -> None:
    weakest, merges = _conflict_run(vs, "weakest", 1)
    assert merges == 0 and weakest.scores is not None and weakest.scores.min == 1.0
    assert not any(h.proposal for h in weakest.history)
    pareto, merges = _conflict_run(vs, "pareto", 1)
    assert merges > 0 and pareto.scores is not None and pareto.scores.min > 4
    # the artifact says which candidates were merges; the one that won is among them
    marked = [h for h in pareto.history if h.proposal == "merge"]
    assert 0 < len(marked) <= merges
    assert any(h.accepted for h in marked)
    assert any(h.instruction == pareto.text for h in marked)
    world = ConflictingWorld(vs)
    assert set(world.requested(pareto.text)) == set(vs.names)
    # the merge was accepted on the paired test like any candidate
    accepted = [h for h in pareto.history if h.accepted and h.iteration > 0]
    assert accepted and all(h.gain_low is not None and h.gain_low > 0 for h in accepted)


def test_sentence_merges_keep_the_incumbent_and_reach_the_balance(vs: ValueSet) -> None:
    weakest, merges = _conflict_run(vs, "weakest", 1, "add_sentence")
    assert merges == 0 and weakest.scores is not None and weakest.scores.min == 1.0
    pareto, merges = _conflict_run(vs, "pareto", 1, "add_sentence")
    assert merges > 0 and pareto.scores is not None and pareto.scores.min > 4
    assert set(ConflictingWorld(vs).requested(pareto.text)) == set(vs.names)
    # every accepted instruction extends the one before it by sentences: nothing was rewritten
    accepted = [h.instruction for h in pareto.history if h.accepted]
    assert len(accepted) > 1
    assert all(b.startswith(a) for a, b in zip(accepted, accepted[1:], strict=False))
    # the plan stays an upper bound with sentence merges (the same C proposer calls a round)
    world = ConflictingWorld(vs, seed=1)
    cfg = PicacoConfig(
        seed=1, calibrate=False, proposal_strategy="pareto", proposal_style="add_sentence"
    )
    plan = PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=world.proposer(), config=cfg
    ).plan(load_queries("confucianism-4", split="optimize"))
    assert pareto.usage.calls <= plan.max_calls


class PromptRecorder(ScriptedProposer):
    """The scripted proposer, keeping the merge prompts it is sent."""

    prompts: list[str] = []

    def respond(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        text = "\n".join(str(m.content) for m in messages)
        if "<instruction_b>" in text:
            self.prompts.append(text)
        return super().respond(messages, **kwargs)


def test_the_sentence_merge_prompt_names_what_the_other_member_does_better(
    vs: ValueSet,
) -> None:
    world = ConflictingWorld(vs, seed=1)
    proposer = PromptRecorder(world=world, prompts=[])
    cfg = PicacoConfig(
        seed=1, calibrate=False, proposal_strategy="pareto", proposal_style="add_sentence"
    )
    PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=proposer, config=cfg
    ).optimize(load_queries("confucianism-4", split="optimize"))
    assert proposer.prompts
    first = proposer.prompts[0]
    assert "<sentence>" in first and "whose answers do better on " in first
    strengths = first.split("whose answers do better on ")[1].split(":")[0]
    assert strengths != "-" and all(n.strip() in vs.names for n in strengths.split(","))


def test_the_merge_costs_no_call_the_plan_does_not_count(vs: ValueSet) -> None:
    world = ConflictingWorld(vs, seed=1)
    plans = {
        s: PicacoOptimizer(
            world.target(),
            values=vs,
            judge=world.judge(),
            proposer=world.proposer(),
            config=PicacoConfig(seed=1, calibrate=False, proposal_strategy=s),  # type: ignore[arg-type]
        ).plan(load_queries("confucianism-4", split="optimize"))
        for s in ("weakest", "pareto")
    }
    assert plans["pareto"].calls_by_phase == plans["weakest"].calls_by_phase
    mi, _ = _conflict_run(vs, "pareto", 1)
    assert mi.usage.calls <= plans["pareto"].max_calls
    rounds = max(h.iteration for h in mi.history)
    assert mi.usage.calls_by_role["proposer"] <= rounds * 4 * 2  # C (1 + retries) a round


class Concatenator(ScriptedProposer):
    """Answers a merge prompt by pasting the two instructions one after the other."""

    def respond(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        prompt = "\n".join(str(m.content) for m in messages)
        if "<instruction_a>" in prompt:
            a = prompt.split("<instruction_a>")[1].split("</instruction_a>")[0]
            b = prompt.split("<instruction_b>")[1].split("</instruction_b>")[0]
            return f"<instruction>{a} {b}</instruction>"
        return super().respond(messages, **kwargs)


def test_a_rejected_merge_is_counted_like_any_rejected_candidate(vs: ValueSet) -> None:
    world = ConflictingWorld(vs, seed=1)
    cfg = PicacoConfig(seed=1, calibrate=False, proposal_strategy="pareto")
    mi = PicacoOptimizer(
        world.target(),
        values=vs,
        judge=world.judge(),
        proposer=Concatenator(world=world),
        config=cfg,
    ).optimize(load_queries("confucianism-4", split="optimize"))
    pasted = [h for h in mi.history if h.rejected_reason in ("concatenates", "merge_too_long")]
    assert pasted and all(h.proposal == "merge" for h in pasted)
    assert mi.usage.faults.get("rejected_concatenates", 0) + mi.usage.faults.get(
        "rejected_merge_too_long", 0
    ) == len(pasted)
    assert mi.usage.faults.get("proposer_repaired", 0) > 0  # the repair turn was tried


def test_weakest_keeps_the_settings_fingerprint_of_checkpoints_saved_before_0_2() -> None:
    from langchain_picaco.optimizer.picaco_optimizer import _settings_fingerprint

    cfg = PicacoConfig(proposal_strategy="weakest")
    data = cfg.model_dump(mode="json", exclude={"max_concurrency", "retry", "budget"})
    del data["proposal_strategy"], data["judge_feedback"]
    old = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    assert _settings_fingerprint(cfg) == old
    # the default since 0.2 is pareto: an older checkpoint does not resume under it
    assert PicacoConfig().proposal_strategy == "pareto"
    assert _settings_fingerprint(PicacoConfig()) != old
    assert _settings_fingerprint(cfg.model_copy(update={"judge_feedback": True})) != old


def test_evidence_does_not_depend_on_the_order_tasks_finished_in() -> None:
    import random

    from langchain_picaco.optimizer.graph.nodes import _with_evidence

    ms = [
        {"arm": arm, "instruction": text, "query": q, "sample": s, "scores": scores}
        for arm, text, scores in (
            ("incumbent", "INC", {"a": 5.0, "b": 1.0}),
            ("candidate:2", "TWO", {"a": 1.0, "b": 5.0}),
            ("candidate:10", "TEN", {"a": 3.0, "b": 3.0}),
            ("candidate:1", "ONE", {"a": 0.1, "b": 0.7}),
        )
        for q in range(3)
        for s in range(2)
    ]
    state = {"evidence": []}
    first = _with_evidence(state, list(ms), ["a", "b"])  # type: ignore[arg-type]
    # the order the instructions were first measured in: incumbent, candidates by number
    assert [e["instruction"] for e in first["evidence"]] == ["INC", "ONE", "TWO", "TEN"]
    for seed in range(5):
        shuffled = list(ms)
        random.Random(seed).shuffle(shuffled)
        assert _with_evidence(state, shuffled, ["a", "b"]) == first  # type: ignore[arg-type]
