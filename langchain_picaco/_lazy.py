"""One mechanism for names a package loads on first use (PEP 562 module ``__getattr__``).

Packages whose names pull in heavy or optional dependencies (the optimiser graph, the local model
runtime, the agent middleware) list them here instead of importing them, so importing the package
stays fast and works without the optional extras.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str,
    names: Mapping[str, str],
    deprecated: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a module's ``__getattr__`` and ``__dir__`` that import names on first use.

    Args:
        package: The module the functions are installed in (``__name__``), for error messages.
        names: Public name -> module that defines it; loaded once, then cached in the module.
        deprecated: Old name -> module that now holds it; still served, with a
            ``DeprecationWarning`` naming the new import path, and not cached (so every use warns
            at its own call site). Absent from ``__dir__``.

    Returns:
        ``(__getattr__, __dir__)`` to assign at module level.
    """
    module = importlib.import_module(package)
    old = dict(deprecated or {})

    def __getattr__(name: str) -> Any:  # noqa: N807 - the PEP 562 hook
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            setattr(module, name, value)
            return value
        if name in old:
            warnings.warn(
                f"'from {package} import {name}' is deprecated and will be removed in the next "
                f"release; use 'from {old[name]} import {name}'",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(old[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807 - the PEP 562 hook
        return sorted({*vars(module), *names})

    return __getattr__, __dir__
