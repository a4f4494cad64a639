"""How the suite is run: ``make unit`` never starts the real local model; ``make test`` lints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collected(marker: str) -> list[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_notebooks.py",
            "-m",
            marker,
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode in (0, 5), out.stdout + out.stderr  # 5: nothing selected
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_the_local_model_notebook_is_integration_only() -> None:
    unit = _collected("not integration")
    assert not [t for t in unit if "05_optimize_local" in t and "test_notebook_runs" in t]
    # the other notebooks still run as unit tests
    assert any("test_notebook_runs[01_quickstart_inject]" in t for t in unit)
    assert any("test_notebook_runs[06_studio_walkthrough]" in t for t in unit)
    # and the static checks of notebook 05 stay in the unit run
    assert any("test_committed_notebook_has_no_outputs[05_optimize_local]" in t for t in unit)
    integration = _collected("integration")
    assert integration == ["tests/test_notebooks.py::test_notebook_runs[05_optimize_local]"]


def test_make_test_runs_lint_first() -> None:
    # -o: take the install stamp as up to date, so only the test recipe itself is printed
    out = subprocess.run(
        ["make", "-n", "-o", ".venv/.picaco-installed", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()

    def first(text: str) -> int:
        found = [i for i, line in enumerate(lines) if text in line]
        assert found, f"`make test` does not run {text!r}:\n{out.stdout}"
        return found[0]

    pytest_run = first("-m pytest tests")
    assert first("ruff check .") < pytest_run
    assert first("ruff format --check .") < pytest_run
