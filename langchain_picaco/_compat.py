"""Old import paths of langchain-picaco 0.1, served for one release with a ``DeprecationWarning``.

The package was reorganised into subpackages that follow the flow (``values`` -> ``optimizer`` ->
the artifact -> ``inject`` -> ``evaluate``; ``llm`` and ``scoring`` beside them). Code that still
imports a module by its old path (``langchain_picaco.calls``, ``langchain_picaco.graph.builder``,
``python -m langchain_picaco.local``) gets the module at its new path, the very same module object,
and one warning naming the new path. This finder is installed by ``langchain_picaco/__init__.py``;
nothing else imports it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import CodeType, ModuleType

__all__ = ["MOVED_MODULES", "install"]

MOVED_MODULES: dict[str, str] = {
    "langchain_picaco.queries": "langchain_picaco.values.queries",
    "langchain_picaco.calls": "langchain_picaco.llm.calls",
    "langchain_picaco.cache": "langchain_picaco.llm.cache",
    "langchain_picaco.tokens": "langchain_picaco.llm.tokens",
    "langchain_picaco.models": "langchain_picaco.llm.models",
    "langchain_picaco.local": "langchain_picaco.llm.local",
    "langchain_picaco.measure": "langchain_picaco.scoring.measure",
    "langchain_picaco.calibration": "langchain_picaco.scoring.calibration",
    "langchain_picaco.graph": "langchain_picaco.optimizer.graph",
    "langchain_picaco.graph.prompts": "langchain_picaco.prompts",
    "langchain_picaco.runnables": "langchain_picaco.inject.runnable",
    "langchain_picaco.middleware": "langchain_picaco.inject.middleware",
    "langchain_picaco.evaluation": "langchain_picaco.evaluate.comparison",
    "langchain_picaco.baselines": "langchain_picaco.evaluate.opro",
    "langchain_picaco.reports": "langchain_picaco.evaluate.reports",
    "langchain_picaco.plots": "langchain_picaco.evaluate.plots",
}
"""Old module path -> new one. Submodules of a moved package follow it
(``langchain_picaco.graph.builder`` -> ``langchain_picaco.optimizer.graph.builder``)."""


def new_path(name: str) -> str | None:
    """The new path of an old module name, or ``None`` if ``name`` did not move."""
    if name in MOVED_MODULES:
        return MOVED_MODULES[name]
    parent = name.rpartition(".")[0]
    while parent:
        if parent in MOVED_MODULES:
            return f"{MOVED_MODULES[parent]}.{name[len(parent) + 1 :]}"
        parent = parent.rpartition(".")[0]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Hands out the module at its new path; ``runpy`` (``python -m``) gets its code too."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"'{self.old}' moved to '{self.new}'; the old path will be removed in the next release",
            DeprecationWarning,
            stacklevel=3,
        )
        module = importlib.import_module(self.new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module is initialised); give it back its own ``__spec__``.

        The import system sets ``__spec__`` to the alias spec after ``create_module``; the module
        keeps its real one so ``importlib.reload`` and ``python -m`` of the new path still work.
        """
        module.__spec__ = self._spec

    def get_code(self, fullname: str) -> CodeType | None:
        """The new module's code, for ``python -m <old path>``."""
        spec = importlib.util.find_spec(self.new)
        loader = spec.loader if spec else None
        get_code = getattr(loader, "get_code", None)
        return get_code(self.new) if get_code else None

    def is_package(self, fullname: str) -> bool:
        spec = importlib.util.find_spec(self.new)
        return bool(spec and spec.submodule_search_locations is not None)


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("langchain_picaco."):
            return None
        new = new_path(fullname)
        if new is None:
            return None
        loader = _AliasLoader(fullname, new)
        return importlib.util.spec_from_loader(
            fullname, loader, is_package=loader.is_package(fullname)
        )


def install() -> None:
    """Put the finder first on ``sys.meta_path``, once (idempotent).

    First, so that ``langchain_picaco.graph.builder`` is not found by the path finder under the
    aliased parent's ``__path__`` and loaded a second time as a separate module.
    """
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
