"""Execute every notebook in notebooks/ and check the committed files are generated and clean.

Each notebook runs top to bottom in a fresh kernel of *this* interpreter (the project venv),
described by a kernel spec written to a temporary directory: nothing is registered globally and
no user-level Jupyter or IPython state is read or written. Notebooks see
``PICACO_NOTEBOOK_FAST=1`` and may use it to shrink their work. ``PICACO_NOTEBOOK_TIMEOUT``
(seconds, default 300) bounds each cell.

A notebook that starts the real local model (``start_local_model``) is marked ``integration``:
``make unit`` (``-m "not integration"``) does not run it; the other notebooks are unit tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "picaco-test-python"
CELL_TIMEOUT = int(os.environ.get("PICACO_NOTEBOOK_TIMEOUT", "300"))


def _uses_local_model(path: Path) -> bool:
    """Whether a notebook's code starts the real local model (then it is an integration test)."""
    nb = nbformat.read(path, as_version=4)
    return any("start_local_model" in cell.source for cell in nb.cells if cell.cell_type == "code")


NOTEBOOK_RUNS = [
    pytest.param(p, id=p.stem, marks=[pytest.mark.integration] if _uses_local_model(p) else [])
    for p in NOTEBOOKS
]


def _load_generator() -> ModuleType:
    path = ROOT / "tools" / "make_notebooks.py"
    spec = importlib.util.spec_from_file_location("_picaco_make_notebooks", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def private_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec for the running interpreter, visible only to this test."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "picaco test kernel",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PICACO_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "false")
    return KERNEL_NAME


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOK_RUNS)
def test_notebook_runs(path: Path, private_kernel: str, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=private_kernel,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(c.execution_count for c in code_cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: outputs not stripped"
            assert cell.execution_count is None, f"{path.name}: execution count not stripped"


def test_generated_notebooks_are_up_to_date() -> None:
    generator = _load_generator()
    sources = sorted(generator.SRC_DIR.glob("*.py"))
    for source in sources:
        target = NOTEBOOK_DIR / f"{source.stem}.ipynb"
        assert target.exists(), f"{target.name} missing: run tools/make_notebooks.py"
        assert target.read_text(encoding="utf-8") == generator.render(source), (
            f"{target.name} is stale: run tools/make_notebooks.py"
        )
