"""Fixtures every suite shares: the value set most tests use and a scripted world on it."""

from __future__ import annotations

import os

import pytest

from langchain_picaco.testing import SyntheticWorld
from langchain_picaco.values import ValueSet, load_value_set

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the tests may download a model


@pytest.fixture(scope="session")
def vs() -> ValueSet:
    """The shipped ``confucianism-4`` set (a test module may define its own ``vs``)."""
    return load_value_set("confucianism-4")


@pytest.fixture
def world(vs: ValueSet) -> SyntheticWorld:
    """A fresh noiseless scripted world on ``vs``."""
    return SyntheticWorld(vs)
