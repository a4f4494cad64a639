"""Fixtures of the reliability suite (helpers live in ``reliability_helpers``)."""

from __future__ import annotations

import pytest
from reliability_helpers import QUERIES, make_optimizer

from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.testing import SyntheticWorld
from langchain_picaco.values.value_sets import ValueSet


@pytest.fixture(autouse=True)
def _fresh_model_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models named on the command line (``--model scripted``) are not shared across tests."""
    monkeypatch.setattr("langchain_picaco.llm.models._CACHE", {})


@pytest.fixture(scope="session")
def baseline(vs: ValueSet) -> MetaInstruction:
    """The fault-free run every faulty run is compared with."""
    return make_optimizer(SyntheticWorld(vs)).optimize(QUERIES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A run stopped by a failing task leaves LangGraph's cancelled sibling retry coroutines
    # un-awaited; LangGraph warns about its own coroutine.
    here = str(__file__).rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(
                pytest.mark.filterwarnings(
                    "ignore:coroutine 'arun_with_retry' was never awaited:RuntimeWarning"
                )
            )
