"""Fixtures for integration tests that run the real embedded local model."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

# Imported at collection time: it sets OMP_WAIT_POLICY before any test loads the OpenMP runtime.
import langchain_picaco.llm.local  # noqa: F401
from langchain_picaco.errors import MissingDependencyError


@pytest.fixture(scope="session")
def local_chat() -> Iterator[Any]:
    """A started ``ChatLocalLlama`` on the demo model (greedy, seed 0, max_tokens 32).

    The server is shared by every ``start_local_model()`` call in the session and stopped at the
    end. Skips, saying why, only when the ``local`` or ``demo-model`` extra is not installed; any
    other failure (corrupt model file, load error) fails the tests.
    """
    missing = [m for m in ("xllamacpp", "langchain_openai") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"local model runtime not installed ({', '.join(missing)}); "
            "pip install 'langchain-picaco[local]'"
        )
    from langchain_picaco.llm.local import start_local_model

    try:
        model = start_local_model(max_tokens=32)
    except MissingDependencyError as err:
        pytest.skip(f"demo model not installed: {err}")
    yield model
    model.close()
