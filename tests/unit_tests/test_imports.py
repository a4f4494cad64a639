"""The public surface: fifteen top-level names, one list of them, and 0.1's paths still served."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

import langchain_picaco
from langchain_picaco import _compat

PACKAGE_DIR = Path(langchain_picaco.__file__).parent


def _type_checking_names(path: Path) -> set[str]:
    """Names imported under ``if TYPE_CHECKING:`` in a module (what type checkers see)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in stmt.names)
    return names


def test_the_top_level_exports_at_most_fifteen_names_from_one_list() -> None:
    assert len(langchain_picaco.__all__) <= 15
    assert langchain_picaco.__all__ == ["__version__", *langchain_picaco.EXPORTS]
    assert _type_checking_names(PACKAGE_DIR / "__init__.py") == set(langchain_picaco.EXPORTS)


@pytest.mark.parametrize("name", sorted(langchain_picaco.EXPORTS))
def test_every_exported_name_resolves_to_its_module_object(name: str) -> None:
    module = importlib.import_module(langchain_picaco.EXPORTS[name])
    assert getattr(langchain_picaco, name) is getattr(module, name)


def test_the_version_is_the_installed_distributions() -> None:
    assert langchain_picaco.__version__ == metadata.version("langchain-picaco")


@pytest.mark.parametrize("subpackage", ["evaluate", "inject", "optimizer", "values"])
def test_subpackage_type_shadows_match_their_exports(subpackage: str) -> None:
    module = importlib.import_module(f"langchain_picaco.{subpackage}")
    init = PACKAGE_DIR / subpackage / "__init__.py"
    shadow = _type_checking_names(init)
    if shadow:  # lazy packages: the TYPE_CHECKING block is what type checkers see
        assert shadow == set(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None


@pytest.mark.parametrize("name", sorted(langchain_picaco.DEPRECATED))
def test_a_name_of_0_1_still_imports_from_the_top_with_a_warning(name: str) -> None:
    new_home = importlib.import_module(langchain_picaco.DEPRECATED[name])
    with pytest.warns(DeprecationWarning, match=f"from {new_home.__name__} import {name}"):
        value = getattr(langchain_picaco, name)
    assert value is getattr(new_home, name)
    assert name not in dir(langchain_picaco)


@pytest.mark.parametrize("old", sorted(_compat.MOVED_MODULES))
def test_a_module_path_of_0_1_is_the_same_module_with_a_warning(old: str) -> None:
    new = importlib.import_module(_compat.MOVED_MODULES[old])
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"'{old}' moved to '{new.__name__}'"):
        aliased = importlib.import_module(old)
    assert aliased is new
    assert aliased.__spec__.name == new.__name__  # keeps its own spec


def test_a_submodule_of_a_moved_package_is_not_loaded_twice() -> None:
    sys.modules.pop("langchain_picaco.graph", None)
    sys.modules.pop("langchain_picaco.graph.builder", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_picaco.graph import builder as old_builder
    from langchain_picaco.optimizer.graph import builder

    assert old_builder is builder


def test_python_dash_m_of_the_old_local_path_still_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "langchain_picaco.local", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "prepare" in result.stdout


def test_no_module_of_the_package_imports_an_old_path() -> None:
    """Every module imports without one DeprecationWarning of ours (pytest turns them to errors)."""
    skipped = {"langchain_picaco.llm.local.__main__"}
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="langchain_picaco."):
        if info.name in skipped or info.name.startswith("langchain_picaco._compat"):
            continue
        importlib.import_module(info.name)


def test_no_submodule_shadows_a_function_of_the_same_name() -> None:
    """``import langchain_picaco.evaluate.<module>`` must not replace an exported function."""
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="langchain_picaco."):
        package, _, leaf = info.name.rpartition(".")
        exports = getattr(importlib.import_module(package), "__all__", [])
        assert leaf not in exports, f"{info.name} shares its name with {package}.{leaf}"
    importlib.import_module("langchain_picaco.evaluate.comparison")
    from langchain_picaco import compare
    from langchain_picaco.evaluate import compare as compare_too

    assert callable(compare) and compare is compare_too
    assert compare.__name__ == "compare"
