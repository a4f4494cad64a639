"""``make docs-numbers`` (benchmarks/docs_numbers.py): markers, stamps, resume, atomic writes.

No real benchmark runs here: the driver is given fake jobs whose command is a one-line Python
program that prints a table and counts its runs in a file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "docs_numbers", ROOT / "benchmarks/docs_numbers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_numbers"] = module
    spec.loader.exec_module(module)
    return module


dn = _load()

DOC = """# A doc

Prose before.

<!-- numbers:fake -->
| old | table |
|---|---|
| 1 | 2 |
<!-- /numbers:fake -->

Prose after, untouched.
"""

# Prints a table whose cell is the run count, and counts runs in {out}/../runs.txt.
PROGRAM = (
    "import pathlib, sys; p = pathlib.Path(sys.argv[1]).parent / 'runs.txt'; "
    "n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); "
    "print('noise'); print('| run | size |'); print('|---|---|'); "
    "print(f'| {n} | ' + sys.argv[2] + ' |')"
)


def _job(name: str = "fake", kind: str = "scripted", program: str = PROGRAM) -> Any:
    return dn.Job(
        name,
        "docs/doc.md",
        kind,
        (("{python}", "-c", program, "{out}/x", "full"),),
        (("{python}", "-c", program, "{out}/x", "quick"),),
        dn.stdout_tables,
        ("1 s", "1 s"),
    )


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one doc and one committed source file."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/doc.md").write_text(DOC, encoding="utf-8")
    (tmp_path / "code.py").write_text("x = 1\n", encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return tmp_path


def _driver(repo: Path, *jobs: Any) -> tuple[Any, list[str]]:
    said: list[str] = []
    return dn.Driver(root=repo, jobs=jobs or (_job(),), say=said.append), said


def _runs(repo: Path, name: str = "fake") -> int:
    return sum(int(p.read_text()) for p in (repo / "runs/docs-numbers" / name).glob("*/runs.txt"))


# ------------------------------------------------------------------------------ markers
def test_place_replaces_only_between_the_markers() -> None:
    new = dn.place(DOC, "fake", "| new |\n|---|\n| 3 |")
    assert "| old | table |" not in new
    assert new.startswith("# A doc\n\nProse before.\n\n<!-- numbers:fake -->\n| new |")
    assert new.endswith("| 3 |\n<!-- /numbers:fake -->\n\nProse after, untouched.\n")
    assert dn.place(new, "fake", "| new |\n|---|\n| 3 |") == new  # idempotent
    assert dn.marker_names(DOC) == ["fake"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("no markers here", "found 0 and 0"),
        ("<!-- numbers:fake -->\nx\n", "found 1 and 0"),
        ("<!-- numbers:fake -->\n<!-- /numbers:fake -->\n<!-- numbers:fake -->\n", "found 2"),
        ("<!-- /numbers:fake -->\n<!-- numbers:fake -->\n", "comes before"),
    ],
)
def test_place_refuses_missing_doubled_or_reversed_markers(text: str, error: str) -> None:
    with pytest.raises(dn.DocsNumbersError, match=error):
        dn.place(text, "fake", "| t |")


def test_stdout_markdown_keeps_the_lines_between_tables_but_not_headings(tmp_path: Path) -> None:
    """bench_trust.py prints headings, prose lines and tables: the doc keeps all but headings."""
    printed = (
        "## (b) Noise-only world\n\nconfucianism-4, 40 seeds; 39 s.\n\n"
        "| method | share |\n|---|---|\n| PICACO | 1/40 |\n\n\n\n"
        "The scripted good judge:\n\n### a report\n| value | acts |\n|---|---|\n| x | 4.7 |\n\n"
    )
    assert dn.stdout_markdown(tmp_path, printed) == (
        "confucianism-4, 40 seeds; 39 s.\n\n| method | share |\n|---|---|\n| PICACO | 1/40 |\n\n"
        "The scripted good judge:\n\n| value | acts |\n|---|---|\n| x | 4.7 |"
    )
    with pytest.raises(dn.DocsNumbersError, match="no markdown table"):
        dn.stdout_markdown(tmp_path, "## (b)\n\nonly prose\n")


def test_a_doc_is_written_atomically(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails at the rename leaves the old doc whole and no temporary file."""
    doc = repo / "docs/doc.md"

    def fail(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        dn.place_in_doc(doc, "fake", "| new |")
    assert doc.read_text(encoding="utf-8") == DOC
    assert sorted(p.name for p in doc.parent.iterdir()) == ["doc.md"]


# ------------------------------------------------------------------------------ running
def test_a_run_places_the_table_with_its_stamp(repo: Path) -> None:
    driver, said = _driver(repo)
    assert driver.run() == 0
    text = (repo / "docs/doc.md").read_text(encoding="utf-8")
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    block = text.split("<!-- numbers:fake -->\n")[1].split("<!-- /numbers:fake -->")[0]
    stamp, table = block.split("\n\n", 1)
    assert f"at commit `{head}`" in stamp and "job `fake`" in stamp
    assert "`python -c " in stamp and "runs/docs-numbers/fake/" in stamp  # the command, as typed
    assert re.search(r"Load average \d+\.\d\d before, \d+\.\d\d after", stamp)
    assert re.search(r"\d+ s wall", stamp) and "quick" not in stamp
    assert table == "| run | size |\n|---|---|\n| 1 | full |\n"  # the table only, no noise
    assert text.startswith("# A doc\n\nProse before.\n\n") and text.endswith("untouched.\n")
    assert any("updated" in s for s in said)


def test_a_second_run_at_the_same_commit_measures_nothing(repo: Path) -> None:
    driver, said = _driver(repo)
    driver.run()
    first = (repo / "docs/doc.md").read_text(encoding="utf-8")
    (repo / "docs/doc.md").write_text(DOC, encoding="utf-8")  # the doc was reset meanwhile
    assert driver.run() == 0
    assert _runs(repo) == 1  # not measured again...
    assert (repo / "docs/doc.md").read_text(encoding="utf-8") == first  # ...but placed again
    assert any("already" in s for s in said)
    assert driver.run(force=True) == 0 and _runs(repo) == 2  # --force measures
    assert "| 2 | full |" in (repo / "docs/doc.md").read_text(encoding="utf-8")


def test_quick_a_new_commit_or_uncommitted_code_measure_again(repo: Path) -> None:
    driver, _ = _driver(repo)
    driver.run()
    driver.run(quick=True)
    assert _runs(repo) == 2
    text = (repo / "docs/doc.md").read_text(encoding="utf-8")
    assert "quick sizes" in text and "| quick |" in text
    (repo / "code.py").write_text("x = 2\n", encoding="utf-8")  # uncommitted code change
    driver.run(quick=True)
    assert _runs(repo) == 3
    assert re.search(r"at commit `\w+\+dirty\.[0-9a-f]{8}`", (repo / "docs/doc.md").read_text())
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    driver.run(quick=True)
    assert _runs(repo) == 4
    (repo / "docs/doc.md").write_text(DOC + "\nmore prose\n", encoding="utf-8")
    driver.run(quick=True)  # a doc change is not a code change
    assert _runs(repo) == 4


def test_a_failing_job_leaves_its_doc_and_the_state_alone(repo: Path) -> None:
    bad = _job(program="import sys; print('| half |'); sys.exit('boom')")
    driver, said = _driver(repo, bad)
    assert driver.run() == 1
    assert (repo / "docs/doc.md").read_text(encoding="utf-8") == DOC
    assert "fake" not in driver.load_state()
    assert any("FAILED" in s and "exited 1" in s and "boom" in s for s in said)


def test_a_job_without_markers_fails_before_it_runs(repo: Path) -> None:
    driver, said = _driver(repo, _job(name="elsewhere"))
    assert driver.run() == 1
    assert _runs(repo, "elsewhere") == 0
    assert any("numbers:elsewhere" in s for s in said)


def test_only_and_scripted_only_choose_jobs(repo: Path) -> None:
    jobs = (_job(), _job(name="slow", kind="local"))
    driver, _ = _driver(repo, *jobs)
    assert [j.name for j in driver.select(scripted_only=True)] == ["fake"]
    assert [j.name for j in driver.select(["slow"])] == ["slow"]
    with pytest.raises(dn.DocsNumbersError, match="unknown job.*nope.*the jobs are: fake, slow"):
        driver.select(["nope"])


def test_an_unknown_job_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture) -> None:
    driver, _ = _driver(repo)
    assert dn.main(["--only", "fake,nope"], driver=driver) == 2
    assert "unknown job(s): nope" in capsys.readouterr().err
    assert _runs(repo) == 0  # nothing ran


def test_list_shows_kind_cost_and_what_is_done(repo: Path, capsys: pytest.CaptureFixture) -> None:
    driver, _ = _driver(repo, _job(), _job(name="slow", kind="local"))
    assert dn.main(["--list"], driver=driver) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["fake", "scripted", "docs/doc.md"] and "to run" in out[1]
    assert out[2].split()[:2] == ["slow", "local"]
    driver.run(["fake"])
    assert "done (full)" in driver.listing()[1]


# ------------------------------------------------------------------------------ the registry
def test_every_job_has_its_markers_and_its_script() -> None:
    names = [j.name for j in dn.JOBS]
    assert len(names) == len(set(names))
    for job in dn.JOBS:
        dn.place((ROOT / job.doc).read_text(encoding="utf-8"), job.name, "")  # markers exist
        for argv in (*job.commands, *job.quick):
            script = argv[1] if argv[1] != "-m" else argv[2].replace(".", "/") + ".py"
            assert (ROOT / script).exists(), script
    # ...and every marker in docs/ belongs to a job
    markers = [
        m for p in sorted((ROOT / "docs").glob("*.md")) for m in dn.marker_names(p.read_text())
    ]
    assert sorted(markers) == sorted(names)
    local = {j.name for j in dn.JOBS if j.kind == "local"}
    assert {"judge-table", "proposer-rate", "paper-table", "demo"} <= local
    scripted = {j.name for j in dn.JOBS if j.kind == "scripted"}
    assert {"trust-a", "trust-b", "trust-c", "trust-d", "optimizer-c", "optimizer-d"} <= scripted
