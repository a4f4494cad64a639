"""The scripted world with conflicting values (issue 15): rival values, stalls, honest routes."""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.testing import SAMPLE_QUERIES, ConflictingWorld, SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet


def test_a_clause_for_one_value_drops_its_rival_and_a_joint_clause_keeps_both(
    vs: ValueSet,
) -> None:
    world = ConflictingWorld(vs)
    assert world.rival("tradition") == "benevolence" and world.rival("security") == "conformity"
    seed = default_seed_instruction(vs)
    assert world.requested(seed) == ["tradition", "conformity"]
    one = f"{seed} Let benevolence shape your advice."
    assert world.requested(one) == ["conformity", "benevolence"]  # a trade: tradition dropped
    back = f"{one} Never lose sight of tradition."
    assert world.requested(back) == ["tradition", "conformity"]  # the later clause wins
    joint = f"{one} Weigh benevolence together with tradition in your advice."
    assert world.requested(joint) == ["tradition", "conformity", "benevolence"]
    # The same instructions in the world without conflicts: every named value is acted on.
    assert SyntheticWorld(vs).requested(one) == ["tradition", "conformity", "benevolence"]


def test_the_clean_judge_rates_what_the_target_acts_on(vs: ValueSet) -> None:
    world = ConflictingWorld(vs)
    response = world.respond(
        f"{default_seed_instruction(vs)} Let benevolence shape your advice.",
        "q",
        temperature=0.0,
        seed=None,
    )
    scores = world.judge().rate(response)
    assert scores == {"tradition": 1, "conformity": 5, "benevolence": 5, "security": 1}


def test_single_edits_reach_a_reconciling_clause_with_some_probability(vs: ValueSet) -> None:
    world = ConflictingWorld(vs)
    proposer = world.proposer()
    seed = default_seed_instruction(vs)
    prompt = f"<instruction>{seed}</instruction>\nWEAKEST VALUE: benevolence"
    replies = [proposer.respond([HumanMessage(content=prompt)], seed=s) for s in range(400)]
    full = sum(
        set(world.requested(r.split("<instruction>")[1].split("</instruction>")[0]))
        == {"tradition", "conformity", "benevolence"}
        for r in replies
    )
    # About 0.55 x 0.25 / 3 of the edits name benevolence with tradition: rare, never zero.
    assert 0.02 * 400 <= full <= 0.1 * 400


def test_the_scripted_proposer_merges_two_instructions_in_its_own_words(vs: ValueSet) -> None:
    world = ConflictingWorld(vs)
    seed = default_seed_instruction(vs)
    a = f"{seed} Let benevolence shape your advice."
    prompt = f"<instruction_a>{seed}</instruction_a>\n<instruction_b>{a}</instruction_b>"
    reply = world.proposer().respond([HumanMessage(content=prompt)])
    merged = reply.removeprefix("<instruction>").removesuffix("</instruction>")
    assert merged not in (seed, a) and seed not in merged
    assert set(world.requested(merged)) == {"tradition", "conformity", "benevolence"}


def test_weakest_value_hill_climbing_stalls_in_most_seeds(vs: ValueSet) -> None:
    stalled = 0
    for seed in range(4):
        world = ConflictingWorld(vs, seed=seed)
        cfg = PicacoConfig(seed=seed, calibrate=False, proposal_strategy="weakest")
        roles = {"judge": world.judge(), "proposer": world.proposer()}
        mi = PicacoOptimizer(world.target(), values=vs, config=cfg, **roles).optimize(
            list(SAMPLE_QUERIES)
        )
        stalled += len(world.requested(mi.text)) < len(vs)
    assert stalled >= 3
