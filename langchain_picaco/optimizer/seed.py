"""Where the search starts: the value-listing seed instruction ("Q+IF"), also a baseline."""

from __future__ import annotations

from langchain_picaco import prompts
from langchain_picaco.values.value_sets import ValueSet

__all__ = ["default_seed_instruction"]


def default_seed_instruction(value_set: ValueSet) -> str:
    """The value-listing instruction ("Q+IF"): the default seed and a baseline."""
    names = prompts.TARGET_VALUE_NAME_SEPARATOR.join(value_set.names)
    return prompts.TARGET_SEED_INSTRUCTION.format(value_names=names)
