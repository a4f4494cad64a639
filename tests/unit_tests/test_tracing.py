"""The optimiser's trace tree, seen by a plain callback handler (no LangSmith, no network).

A ``BaseCallbackHandler`` is attached the way LangSmith's tracer attaches itself: through a
LangChain configure hook (a context variable every callback manager reads), so the run under test
is the unmodified ``PicacoOptimizer.optimize`` call. The handler records the name, parent, tags and
metadata of every chain and chat-model start, and the tests check the tree:

    picaco.optimize                      (the graph, root)
    ├── prepare, update_pools, collect, select, accept, decide, finish   (node runs)
    ├── calibrate ── picaco.judge                 (metadata phase "calibrate")
    ├── measure ── picaco.target, picaco.judge    (metadata phase/iteration/query/arm, values)
    └── propose ── picaco.proposer                (metadata phase/iteration/candidate)
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from langchain_picaco import MetaInstruction, PicacoConfig, PicacoOptimizer, load_value_set
from langchain_picaco.testing import SyntheticWorld

QUERIES = [
    "Should I move abroad for a better job even though my parents are getting old?",
    "My team wants to skip a safety check to meet a deadline. What should I do?",
]
CONFIG = PicacoConfig(
    iterations=2,
    candidates=2,
    samples_per_query=1,
    minibatch=2,
    selection="sampling",
    acceptance="paired",
    seed=1,
)
NODES = {
    "prepare",
    "calibrate",
    "measure",
    "collect",
    "update_pools",
    "propose",
    "select",
    "decide",
    "finish",
}
MODEL_RUNS = {"picaco.target", "picaco.judge", "picaco.proposer"}


@dataclass
class Run:
    kind: str
    name: str
    run_id: UUID
    parent: UUID | None
    tags: list[str]
    metadata: dict[str, Any]


class RunRecorder(BaseCallbackHandler):
    """Keeps every chain and chat-model start (thread-safe; called inline, in order)."""

    run_inline = True

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[UUID, Run] = {}
        self._lock = threading.Lock()

    def _add(
        self, kind: str, serialized: Any, run_id: UUID, parent: UUID | None, **kw: Any
    ) -> None:
        name = kw.get("name") or (serialized or {}).get("name") or "?"
        run = Run(
            kind, name, run_id, parent, list(kw.get("tags") or []), dict(kw.get("metadata") or {})
        )
        with self._lock:
            self.runs[run_id] = run

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self._add("chain", serialized, run_id, parent_run_id, **kw)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self._add("chat", serialized, run_id, parent_run_id, **kw)

    def on_llm_start(
        self,
        serialized: Any,
        prompts: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self._add("llm", serialized, run_id, parent_run_id, **kw)

    # ------------------------------------------------------------------ queries
    def parent_of(self, run: Run) -> Run | None:
        return self.runs.get(run.parent) if run.parent else None

    def named(self, name: str) -> list[Run]:
        return [r for r in self.runs.values() if r.name == name]


_HANDLER: ContextVar[RunRecorder | None] = ContextVar("picaco_test_run_recorder", default=None)
register_configure_hook(_HANDLER, inheritable=True)


def _optimize(recorder: RunRecorder) -> MetaInstruction:
    values = load_value_set("confucianism-4")
    world = SyntheticWorld(values, seed=1)
    opt = PicacoOptimizer(
        world.target(),
        values=values,
        judge=world.judge(),
        proposer=world.proposer(),
        config=CONFIG,
        progress=False,
    )
    token = _HANDLER.set(recorder)
    try:
        return opt.optimize(QUERIES)
    finally:
        _HANDLER.reset(token)


@pytest.fixture(scope="module")
def traced() -> tuple[RunRecorder, MetaInstruction]:
    mp = pytest.MonkeyPatch()
    for var in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGSMITH_TRACING_V2"):
        mp.setenv(var, "false")
    try:
        recorder = RunRecorder()
        mi = _optimize(recorder)
    finally:
        mp.undo()
    return recorder, mi


def test_one_root_run_the_graph(traced: tuple[RunRecorder, MetaInstruction]) -> None:
    recorder, _ = traced
    roots = [r for r in recorder.runs.values() if r.parent is None]
    assert [r.name for r in roots] == ["picaco.optimize"]
    assert roots[0].kind == "chain"
    # Every run hangs under that root (no orphaned model call starts its own trace).
    for run in recorder.runs.values():
        top = run
        while top.parent is not None:
            assert top.parent in recorder.runs, f"{run.name}: parent {top.parent} never started"
            top = recorder.runs[top.parent]
        assert top is roots[0]


def test_node_runs_are_children_of_the_root(traced: tuple[RunRecorder, MetaInstruction]) -> None:
    recorder, _ = traced
    (root,) = recorder.named("picaco.optimize")
    children = [r for r in recorder.runs.values() if r.parent == root.run_id]
    names = {r.name for r in children}
    assert names >= NODES, f"missing node runs: {NODES - names}"
    for run in children:
        assert run.kind == "chain"
        assert run.metadata.get("langgraph_node") == run.name
    # The rounds are visible as repeated node runs: one propose and one decide per round.
    assert len([r for r in children if r.name == "propose"]) == CONFIG.iterations
    assert len([r for r in children if r.name == "decide"]) == CONFIG.iterations


def test_model_runs_are_named_by_role_and_nested_under_nodes(
    traced: tuple[RunRecorder, MetaInstruction],
) -> None:
    recorder, mi = traced
    models = [r for r in recorder.runs.values() if r.kind in ("chat", "llm")]
    assert {r.name for r in models} == MODEL_RUNS
    expected_parent = {"picaco.target": "measure", "picaco.proposer": "propose"}
    for run in models:
        parent = recorder.parent_of(run)
        assert parent is not None, run
        if run.name == "picaco.judge":
            # the judge rates responses in measure, and reference texts in calibrate
            want = "calibrate" if run.metadata.get("phase") == "calibrate" else "measure"
        else:
            want = expected_parent[run.name]
        assert parent.name == want, run
        role = run.name.removeprefix("picaco.")
        assert f"picaco:{role}" in run.tags
        assert run.metadata["role"] == role
    # One traced model run per counted call, by role.
    by_role = {role: 0 for role in ("target", "judge", "proposer")}
    for run in models:
        by_role[run.metadata["role"]] += 1
    assert by_role == mi.usage.calls_by_role


def test_model_run_metadata(traced: tuple[RunRecorder, MetaInstruction]) -> None:
    recorder, mi = traced
    values = load_value_set("confucianism-4").names
    phases_seen: set[str] = set()
    measured = [
        r
        for r in recorder.named("picaco.target") + recorder.named("picaco.judge")
        if recorder.parent_of(r).name == "measure"  # type: ignore[union-attr]
    ]
    for run in measured:
        md = run.metadata
        assert md["phase"] in {"reference", "evaluate", "confirm", "enhance", "final"}
        assert isinstance(md["iteration"], int) and 0 <= md["iteration"] <= CONFIG.iterations
        assert md["query"] in range(len(QUERIES))
        assert isinstance(md["arm"], str) and md["arm"]
        phases_seen.add(md["phase"])
    assert {"reference", "evaluate"} <= phases_seen
    # a final measurement is drawn only when the run changed its seed
    assert ("final" in phases_seen) == (mi.text != mi.history[0].instruction)
    for run in recorder.named("picaco.judge"):
        if run.metadata["phase"] != "calibrate":
            assert run.metadata["values"] == values
    calibration = [r for r in recorder.named("picaco.judge") if r.metadata["phase"] == "calibrate"]
    assert calibration, "the judge calibration made no traced judge call"
    assert {r.metadata["value"] for r in calibration} - {None} <= set(values)  # None: off-topic
    assert all(r.metadata["kind"] for r in calibration)
    proposals = recorder.named("picaco.proposer")
    assert len(proposals) == CONFIG.iterations * CONFIG.candidates
    seen = {(r.metadata["iteration"], r.metadata["candidate"]) for r in proposals}
    assert seen == {
        (i, c) for i in range(1, CONFIG.iterations + 1) for c in range(1, CONFIG.candidates + 1)
    }
    assert all(r.metadata["phase"] == "propose" for r in proposals)
    # The reference phase is before any round; the final measurement after the last.
    for run in recorder.named("picaco.target"):
        if run.metadata["phase"] == "reference":
            assert run.metadata["iteration"] == 0
        if run.metadata["phase"] == "final":
            assert run.metadata["iteration"] == CONFIG.iterations


def test_a_round_shares_one_iteration_number(traced: tuple[RunRecorder, MetaInstruction]) -> None:
    recorder, _ = traced
    proposer_rounds = {r.metadata["iteration"] for r in recorder.named("picaco.proposer")}
    evaluated = {
        r.metadata["iteration"]
        for r in recorder.named("picaco.target")
        if r.metadata["phase"] in ("evaluate", "confirm")
    }
    assert evaluated and evaluated <= proposer_rounds


def test_tracing_changes_nothing(traced: tuple[RunRecorder, MetaInstruction]) -> None:
    """The same run without the handler gives the same instruction and the same calls."""
    _, mi = traced
    values = load_value_set("confucianism-4")
    world = SyntheticWorld(values, seed=1)
    plain = PicacoOptimizer(
        world.target(),
        values=values,
        judge=world.judge(),
        proposer=world.proposer(),
        config=CONFIG,
        progress=False,
    ).optimize(QUERIES)
    assert plain.text == mi.text
    assert plain.usage.calls_by_role == mi.usage.calls_by_role
