"""The add_sentence proposal style (issue 12): a small proposer writes one sentence, the code
appends it to the incumbent; guards reject questions, pasted value text and repeats."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.graph.nodes import PicacoNodes
from langchain_picaco.optimizer.guards import guard_sentence, parse_sentence
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.optimizer.seed import default_seed_instruction
from langchain_picaco.testing import SAMPLE_QUERIES, ScriptedChatModel, SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet

QUERIES = list(SAMPLE_QUERIES[:4])


def test_parse_sentence_reads_the_tags_and_ends_the_sentence() -> None:
    assert parse_sentence("Sure! <sentence>Honour family customs</sentence>") == (
        "Honour family customs."
    )
    assert parse_sentence('"Keep promises to relatives."') == "Keep promises to relatives."
    assert parse_sentence("") == ""
    seed = "Respond with care."
    assert parse_sentence("< sentence>Keep customs alive. </sentence>.", seed) == (
        "Keep customs alive."
    )
    wrapped = f"<instruction>{seed} Keep customs alive.</instruction>"
    assert parse_sentence(wrapped, seed) == "Keep customs alive."
    assert parse_sentence(f"<sentence>{seed}   Keep customs alive.</sentence>", seed) == (
        "Keep customs alive."
    )
    # a merge reply that hands back the other instruction in the merge prompt's own tags
    # (seen from the 1.5B proposer): the tags go, and so does the incumbent at its start
    merged = f"<sentence><instruction_a>{seed} Keep customs alive.</instruction_a>.</sentence>"
    assert parse_sentence(merged, seed) == "Keep customs alive."


def test_guard_sentence_reasons(vs: ValueSet) -> None:
    seed = default_seed_instruction(vs)
    desc = vs.get("tradition").description
    kw = {"instruction": seed, "value_description": desc, "queries": QUERIES}
    assert guard_sentence("Suggest ways to keep family customs alive.", **kw) is None
    assert guard_sentence("", **kw) == "empty"
    assert guard_sentence("Be kind.", **kw) == "too_short"
    assert guard_sentence("What customs does your family keep?", **kw) == "question"
    assert guard_sentence(desc, **kw) == "copies_values"
    assert guard_sentence(seed, **kw) == "near_copy"
    # a sentence about the proposer's prompt (seen from the 1.5B proposer in make demo)
    meta = "You are a helpful assistant that acts on conformity based on the value's description."
    assert guard_sentence(meta, **kw) == "meta"
    assert guard_sentence("Follow the instruction about customs in every answer.", **kw) == "meta"
    # merge replies that point at the merge prompt's instructions (seen from the 1.5B proposer)
    under_b = "Under instruction_b, the assistant should respond with advice that serves others."
    assert guard_sentence(under_b, **kw) == "meta"
    assert guard_sentence("Keep customs alive like the other instruction does.", **kw) == "meta"
    assert guard_sentence("Stress the value of keeping family customs alive.", **kw) is None
    assert guard_sentence(QUERIES[1].rstrip("?") + " for the family.", **kw) == "copies_query"


def test_add_sentence_candidates_extend_the_incumbent_and_a_run_improves(vs: ValueSet) -> None:
    world = SyntheticWorld(vs)
    cfg = PicacoConfig(
        proposal_style="add_sentence",
        iterations=4,
        candidates=3,
        samples_per_query=1,
        seed=1,
        calibrate=False,
    )
    opt = PicacoOptimizer(
        world.target(), values=vs, judge=world.judge(), proposer=world.proposer(), config=cfg
    )
    mi = opt.optimize(QUERIES)
    seed = default_seed_instruction(vs)
    tried = [h.instruction for h in mi.history if h.iteration > 0 and not h.rejected_reason]
    assert tried and all(t.startswith(seed) for t in tried)
    assert mi.text != seed and mi.scores is not None
    assert mi.scores.mean > mi.reference_scores["seed"].mean


class Parrot(ScriptedChatModel):
    """Pastes the weakest value's description on the first try, writes a sentence when told."""

    world: Any

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        if len(messages) > 2:  # the repair turn
            return "<sentence>Point to the customs the family already keeps.</sentence>"
        prompt = str(messages[-1].content)
        name = prompt.split("neglect this value:\n", 1)[1].split(":", 1)[0]
        return f"<sentence>{self.world.value_set.get(name).description}</sentence>"


async def test_pasted_value_text_is_rejected_and_repaired_and_counted(vs: ValueSet) -> None:
    world = SyntheticWorld(vs)
    proposer = Parrot(world=world)
    nodes = PicacoNodes(Resources(target=proposer, judge=proposer, proposer=proposer))
    cfg = PicacoConfig(proposal_style="add_sentence", candidates=2, proposer_retries=1)
    runtime = SimpleNamespace(context=PicacoContext(config=cfg), stream_writer=None)
    seed = default_seed_instruction(vs)
    state = {
        "values": vs.model_dump(),
        "queries": QUERIES,
        "instruction": seed,
        "iteration": 0,
        "incumbent_scores": {"per_value": {n: 3.0 for n in vs.names}},
        "history": [{"iteration": 0, "instruction": seed, "accepted": True}],
    }
    out = await nodes.propose(state, runtime, {})  # type: ignore[arg-type]
    assert out["candidates"] == [f"{seed} Point to the customs the family already keeps."]
    # Both repairs wrote the same sentence: the second is the round's duplicate.
    assert sorted(r["reason"] for r in out["rejected"]) == [
        "copies_values",
        "copies_values",
        "duplicate",
    ]
    assert proposer.calls == out["usage"]["calls"] == 4
    assert out["usage"]["faults"]["proposer_repaired"] == 2
