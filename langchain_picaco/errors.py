"""Typed errors raised by langchain-picaco.

Every error a user can cause names the input at fault and how to fix it, so a command line or a
notebook can show one clear line instead of a deep traceback.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "BudgetExhausted",
    "ConfigError",
    "MissingDependencyError",
    "ModelCallError",
    "PicacoError",
    "PicacoInputError",
    "QueryError",
    "ValueSetError",
]


class PicacoError(Exception):
    """Base class of every error this package raises on purpose."""


class PicacoInputError(PicacoError, ValueError):
    """Bad input from the user: names the field (or file) at fault and the fix.

    Args:
        field: The input at fault, e.g. ``"values[2].description"`` or a file path.
        problem: What is wrong with it.
        fix: What the user should do instead.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")


class ValueSetError(PicacoInputError):
    """A value set (shipped name, file, or object) is invalid."""


class ArtifactError(PicacoInputError):
    """A MetaInstruction file is missing, malformed, foreign, or from a newer version."""


class QueryError(PicacoInputError):
    """A query list or query file is empty, malformed, or too long for the model."""


class ConfigError(PicacoInputError):
    """An optimiser setting or budget is out of range, or a model name is unknown."""


class MissingDependencyError(PicacoError, ImportError):
    """An optional feature was used without its extra installed.

    Args:
        feature: What the user tried to use.
        extra: The ``langchain-picaco[...]`` extra that provides it.
    """

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional extra '{extra}'. "
            f"Fix: pip install 'langchain-picaco[{extra}]'"
        )


class ModelCallError(PicacoError, RuntimeError):
    """A model call failed for good: a permanent error, or retries were exhausted.

    Args:
        role: Which model failed (``"target"``, ``"judge"`` or ``"proposer"``).
        message: What happened and what to do about it.
    """

    def __init__(self, role: str, message: str) -> None:
        self.role = role
        super().__init__(f"{role} model: {message}")


class BudgetExhausted(PicacoError):
    """Raised inside a run when the call or token budget is spent; the optimiser stops cleanly."""
