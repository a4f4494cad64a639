"""One usage record (Usage) in every result, filled from one tally (CallUsage)."""

from __future__ import annotations

import json

from langchain_picaco.instruction import Usage as ArtifactUsage
from langchain_picaco.llm.calls import CallUsage as CallersTally
from langchain_picaco.llm.usage import CallUsage, Usage

SAVED = {  # the usage of an artifact saved before Usage moved to llm/usage.py
    "calls": 7,
    "input_tokens": 900,
    "output_tokens": 120,
    "calls_by_role": {"target": 3, "judge": 4},
    "cache_hits": 2,
    "cache_misses": 5,
    "faults": {"retried": 1, "retried:timeout": 1},
    "wall_seconds": 1.25,
}


def test_the_artifact_the_caller_and_the_record_share_one_type_each() -> None:
    assert ArtifactUsage is Usage
    assert CallersTally is CallUsage


def test_saved_usage_loads_and_saves_to_the_same_json() -> None:
    usage = Usage.model_validate_json(json.dumps(SAVED))
    assert json.loads(usage.model_dump_json()) == SAVED
    assert list(Usage().model_dump()) == list(SAVED)  # the same fields, in the same order


def test_a_tally_and_its_graph_state_dict_give_the_same_record() -> None:
    tally = CallUsage(calls=3, input_tokens=10, calls_by_role={"judge": 3}, cache_hits=1)
    tally.fault("retried", 2)
    tally.retries["rate_limit"] = 2
    record = tally.to_usage(wall_seconds=0.12345)
    assert record == Usage.from_counts(tally.as_dict(), 0.12345)
    assert record.faults == {"retried": 2, "retried:rate_limit": 2}
    assert (record.calls, record.cache_hits, record.wall_seconds) == (3, 1, 0.123)
    assert Usage.from_counts(None) == Usage()


def test_two_records_add_up() -> None:
    a = Usage(calls=2, input_tokens=5, calls_by_role={"target": 2}, faults={"x": 1}, wall_seconds=1)
    b = Usage(calls=1, output_tokens=4, calls_by_role={"judge": 1}, faults={"x": 2}, cache_hits=3)
    total = a + b
    assert (total.calls, total.input_tokens, total.output_tokens) == (3, 5, 4)
    assert total.calls_by_role == {"target": 2, "judge": 1}
    assert total.faults == {"x": 3} and total.cache_hits == 3 and total.wall_seconds == 1.0
    assert a.faults == {"x": 1}  # the operands are left as they were
