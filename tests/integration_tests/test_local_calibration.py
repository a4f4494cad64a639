"""Judge calibration with the real local model (issue 8): one value, one reference pair and no
off-topic text (two judge calls of ~950 prompt tokens), so the test stays near a minute on two
shared cores."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.picaco_optimizer import PicacoOptimizer
from langchain_picaco.testing import assert_judged_cleanly
from langchain_picaco.values.queries import load_calibration_references
from langchain_picaco.values.value_sets import load_value_set

pytestmark = pytest.mark.integration


def test_local_judge_calibration_on_one_value(local_chat: Any) -> None:
    from langchain_picaco.llm.local import start_local_model

    judge = start_local_model(max_tokens=64)  # the session's server; room for a 4-value JSON
    vs = load_value_set("confucianism-4")
    refs = {"tradition": load_calibration_references(["tradition"])["tradition"][:1]}
    opt = PicacoOptimizer(judge, values=vs, judge=judge, config=PicacoConfig(max_concurrency=1))
    report = opt.calibrate(references=refs, off_topic=[])

    assert report.usage.calls >= 2  # acts and violates (+ retries of malformed replies)
    assert report.usage.calls_by_role == {"judge": report.usage.calls}
    assert report.uncovered == ["conformity", "benevolence", "security"]
    kinds = sorted(r.kind for r in report.rows)
    assert kinds == ["acts", "violates"]
    for row in report.rows:
        assert set(row.scores) == set(vs.names)
        assert all(1.0 <= s <= 5.0 for s in row.scores.values())
    tradition = report.values[0]
    assert tradition.verdict in ("sees", "weak", "blind") and tradition.pairs <= 1
    assert [v.verdict for v in report.values[1:]] == ["unknown"] * 3
    assert "| tradition |" in report.table()
    # Both rows are the judge's reading: none left out as unparsable, no neutral fallback (the
    # rubric reply is grammar-constrained to the ratings' JSON schema, so zero is realistic).
    assert_judged_cleanly(report)
