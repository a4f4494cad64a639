"""Report files of a comparison, the `picaco compare` command and the paper-table benchmark."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from langchain_picaco import PicacoConfig, load_queries, load_value_set
from langchain_picaco.cli import main as cli_main
from langchain_picaco.evaluate.comparison import compare
from langchain_picaco.evaluate.intervals import Interval
from langchain_picaco.evaluate.reports import (
    REPORT_FILES,
    combined_table,
    difference_sentence,
    report_csv,
    report_markdown,
    write_report,
)
from langchain_picaco.evaluate.results import Comparison, PairedDifference
from langchain_picaco.testing import SyntheticWorld

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    vs = load_value_set("confucianism-4")
    world = SyntheticWorld(vs, judge_noise=0.6)
    return compare(
        world.target(),
        values=vs,
        judge=world.judge(),
        proposer=world.proposer(),
        likelihood=world.likelihood(),
        queries=load_queries(vs.name, split="optimize")[:4],
        heldout=load_queries(vs.name, split="heldout")[:4],
        config=PicacoConfig(iterations=1, candidates=2, minibatch=4, samples_per_query=1),
        progress=False,
        n_resamples=300,
    )


def test_write_report_writes_every_file(comparison: Comparison, tmp_path: Path) -> None:
    paths = write_report(comparison, tmp_path / "out")
    assert set(paths) == {"markdown", "csv", "png", "json"}
    for kind, name in REPORT_FILES.items():
        assert paths[kind] == tmp_path / "out" / name and paths[kind].is_file()
    assert paths["png"].read_bytes()[:8] == PNG_SIGNATURE
    write_report(comparison, tmp_path / "out")  # rewriting in place works
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(REPORT_FILES.values())
    again = Comparison.model_validate_json(paths["json"].read_text())
    assert again.method("picaco").mean == comparison.method("picaco").mean


def test_markdown_has_the_tables_and_intervals(comparison: Comparison) -> None:
    md = report_markdown(comparison)
    names = " | ".join(comparison.values)
    assert f"| method | {names} | mean [95% CI] | min [95% CI] | spread [95% CI] |" in md
    assert "| method | optimisation calls | evaluation calls | total calls | input tokens" in md
    for m in comparison.methods:
        row = next(line for line in md.splitlines() if line.startswith(f"| {m.label} | "))
        assert f"{m.mean.estimate:.2f} [{m.mean.low:.2f}, {m.mean.high:.2f}]" in row
    assert "## PICACO against each baseline (paired)" in md
    # One sentence per difference, each saying where the interval lies.
    sentences = [line for line in md.splitlines() if line.startswith("- PICACO minus")]
    assert len(sentences) == len(comparison.differences) == 6
    assert all(
        ("contains 0" in s) or ("lies above 0" in s) or ("lies below 0" in s) for s in sentences
    )
    assert "![per-value scores with intervals](report.png)" in md
    assert "OPRO's call budget is PICACO's actual call count" in md


def test_csv_parses_and_matches_the_comparison(comparison: Comparison) -> None:
    rows = list(csv.DictReader(io.StringIO(report_csv(comparison))))
    assert [r["method"] for r in rows] == [m.method for m in comparison.methods]
    for r, m in zip(rows, comparison.methods, strict=True):
        assert float(r["mean"]) == pytest.approx(m.mean.estimate, abs=1e-4)
        assert float(r["min_low"]) <= float(r["min_high"])
        for v in comparison.values:
            assert float(r[f"{v}_low"]) <= float(r[f"{v}_high"])
        assert int(r["calls"]) == m.calls
        assert int(r["input_tokens"]) == m.input_tokens
        assert float(r["wall_seconds"]) >= 0
    opro = next(r for r in rows if r["method"] == "opro")
    d = comparison.difference("opro", "min").difference
    assert float(opro["diff_min"]) == pytest.approx(d.estimate, abs=1e-4)
    assert next(r for r in rows if r["method"] == "picaco")["diff_min"] == ""


def test_no_plot_leaves_out_the_png(comparison: Comparison, tmp_path: Path) -> None:
    paths = write_report(comparison, tmp_path, plot=False)
    assert "png" not in paths and not (tmp_path / "report.png").exists()
    assert "report.png" not in paths["markdown"].read_text()


def _diff(low: float, high: float) -> PairedDifference:
    ci = Interval(estimate=(low + high) / 2, low=low, high=high, n=10)
    return PairedDifference(
        method="picaco",
        baseline="opro",
        metric="min",
        difference=ci,
        pairs=10,
        distinguishable=not ci.contains(0.0),
    )


@pytest.mark.parametrize(
    ("low", "high", "expected", "direction"),
    [
        (-0.2, 0.4, "NOT distinguishable", "indistinguishable"),
        (0.1, 0.5, "PICACO is better", "better"),
        (-0.6, -0.1, "PICACO is worse", "worse"),
    ],
)
def test_difference_sentence(
    comparison: Comparison, low: float, high: float, expected: str, direction: str
) -> None:
    d = _diff(low, high)
    assert d.direction == direction
    sentence = difference_sentence(d, comparison)
    assert expected in sentence
    assert "PICACO minus OPRO (equal budget) on the weakest value (min)" in sentence


def test_combined_table_lists_every_cell(comparison: Comparison) -> None:
    other = comparison.model_copy(update={"value_set": "other-set"})
    table = combined_table([comparison, other])
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[0] == "| value set | method | mean [CI] | min [CI] | calls | tokens | wall s |"
    assert len(lines) == 2 + 2 * len(comparison.methods)
    assert sum(line.startswith("| other-set | ") for line in lines) == len(comparison.methods)
    sentences = [line for line in table.splitlines() if line.startswith("- ")]
    against = {b: sum(f"PICACO minus {b}" in s for s in sentences) for b in ("Q+IF", "OPRO")}
    compared = {d.baseline for d in comparison.differences}
    for label, baseline in (("Q+IF", "q+if"), ("OPRO", "opro")):
        per_cell = sum(d.baseline == baseline for d in comparison.differences)
        assert against[label] == (2 * per_cell if baseline in compared else 0)
    assert not any("minus bare" in s for s in sentences)


def test_cli_compare_writes_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queries = tmp_path / "q.txt"
    queries.write_text("\n".join(load_queries("modern-liberalism-4", split="optimize")[:3]))
    out = tmp_path / "report"
    code = cli_main(
        [
            "compare",
            "--values",
            "modern-liberalism-4",
            "--model",
            "scripted",
            "--queries",
            str(queries),
            "--heldout",
            "modern-liberalism-4",
            "--iterations",
            "1",
            "--candidates",
            "1",
            "--methods",
            "bare,q+if,picaco",
            "--out",
            str(out),
            "--no-progress",
            "--no-plot",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "PICACO minus bare model" in printed
    cmp = Comparison.model_validate_json((out / "comparison.json").read_text())
    assert [m.method for m in cmp.methods] == ["bare", "q+if", "picaco"]
    assert cmp.queries == 3 and cmp.heldout == 10  # the shipped held-out split
    assert (out / "report.md").is_file() and (out / "report.csv").is_file()


def test_cli_compare_bad_method_exits_2(tmp_path: Path) -> None:
    argv = ["compare", "--values", "confucianism-4", "--model", "scripted", "--out", str(tmp_path)]
    assert cli_main([*argv, "--methods", "bare,nope"]) == 2


def _paper_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("paper_table", ROOT / "benchmarks/paper_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["paper_table"] = module
    spec.loader.exec_module(module)
    return module


def test_paper_table_is_resumable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pt = _paper_table()
    argv = [
        "--model",
        "scripted",
        "--value-sets",
        "confucianism-4,helpfulness-4",
        "--queries",
        "3",
        "--heldout",
        "2",
        "--iterations",
        "1",
        "--candidates",
        "1",
        "--minibatch",
        "3",
        "--no-plot",
        "--out",
        str(tmp_path),
    ]
    assert pt.main(argv) == 0
    first = capsys.readouterr().out
    assert "2 cell(s) run, 0 skipped" in first
    cells = json.loads((tmp_path / "cells.json").read_text())["cells"]
    assert len(cells) == 2
    assert (tmp_path / "confucianism-4" / "report.md").is_file()
    table = (tmp_path / "paper_table.md").read_text()
    assert "| confucianism-4 | PICACO |" in table and "| helpfulness-4 | OPRO" in table
    # A rerun skips both finished cells and prints the same table.
    assert pt.main(argv) == 0
    second = capsys.readouterr().out
    assert "0 cell(s) run, 2 skipped" in second
    assert (tmp_path / "paper_table.md").read_text() == table
    # Changing a setting is a new cell; the old ones stay.
    assert pt.main([*argv[:-2], "--seed", "1", "--value-sets", "helpfulness-4", *argv[-2:]]) == 0
    assert "1 cell(s) run, 0 skipped" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "cells.json").read_text())["cells"]) == 3
