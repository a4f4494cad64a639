"""The ``picaco`` command's happy paths: plan, optimize, show, evaluate, value-sets, query-sets.

Every model is ``scripted`` (the synthetic world), or a ``local`` model that planning must not
start: nothing here loads a model or opens a network connection.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from langchain_picaco.cli import EXIT_BAD_INPUT, main
from langchain_picaco.testing import SAMPLE_QUERIES
from langchain_picaco.values.queries import list_query_sets, load_queries
from langchain_picaco.values.value_sets import list_value_sets, load_value_set

QUERIES = [SAMPLE_QUERIES[i] for i in (0, 1, 3)]
SMALL = ["--iterations", "1", "--candidates", "1", "--minibatch", "2", "--samples", "1"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def no_local_server(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if anything tries to start (or reach) a local model server."""
    started: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        started.append("start")
        raise AssertionError("planning started a local model server")

    import langchain_picaco.llm.local as local
    import langchain_picaco.llm.local.chat as chat
    import langchain_picaco.llm.local.server as server

    monkeypatch.setattr(local, "start_local_model", refuse, raising=False)
    monkeypatch.setattr(chat, "start_local_model", refuse)
    monkeypatch.setattr(server, "get_server", refuse)
    monkeypatch.setattr(chat, "get_server", refuse)
    return started


@pytest.fixture
def queries_file(tmp_path: Path) -> Path:
    path = tmp_path / "queries.txt"
    path.write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    return path


def _calls(plan_line: str) -> dict[str, int]:
    phases = re.search(r"calls \((.*?)\)", plan_line)
    assert phases, plan_line
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", phases.group(1))}


# ------------------------------------------------------------------------------------ listings
def test_value_sets_lists_every_shipped_set_with_its_values(capsys) -> None:
    code, out, err = _run(capsys, "value-sets")
    assert code == 0 and not err
    lines = out.splitlines()
    assert len(lines) == len(list_value_sets())
    for name in list_value_sets():
        line = next(x for x in lines if x.split()[0] == name)
        assert ", ".join(load_value_set(name).names) in line


def test_query_sets_lists_every_shipped_set_with_its_splits(capsys) -> None:
    code, out, err = _run(capsys, "query-sets")
    assert code == 0 and not err
    lines = out.splitlines()
    assert len(lines) == len(list_query_sets())
    n = len(load_queries("confucianism-4", split="optimize"))
    line = next(x for x in lines if x.split()[0] == "confucianism-4")
    assert f"optimize {n}" in line


# ------------------------------------------------------------------------------------ plan
def test_plan_with_the_scripted_model(capsys) -> None:
    code, out, err = _run(capsys, "plan", "--values", "confucianism-4", "--model", "scripted")
    assert code == 0 and not err
    n = len(load_queries("confucianism-4", split="optimize"))
    assert out.startswith(f"PICACO plan: {n} queries, sampling selection, judge protocol rubric")
    calls = _calls(out)
    assert calls["reference"] == 2 * 2 * n * 2  # rubric: 2 calls per response; bare + seed; S=2
    assert calls["final"] == 2 * n * 2
    assert calls["calibrate"] > 0  # optimize calibrates by default, so the plan counts it
    code, out, _ = _run(
        capsys, "plan", "--values", "confucianism-4", "--model", "scripted", "--no-calibrate"
    )
    assert code == 0 and _calls(out)["calibrate"] == 0


def test_plan_of_a_local_model_plans_likelihood_mode_without_starting_it(
    capsys, no_local_server: list[str]
) -> None:
    base = ["plan", "--values", "confucianism-4", "--model", "local"]
    code, out, err = _run(capsys, *base)
    assert code == 0, err
    assert "likelihood selection" in out and _calls(out)["likelihood"] > 0
    assert _calls(out)["evaluate"] == 0  # likelihood mode samples nothing to screen
    # --selection is honoured
    code, out, _ = _run(capsys, *base, "--selection", "sampling")
    assert code == 0 and "sampling selection" in out and _calls(out)["likelihood"] == 0
    # --judge-protocol is honoured: one question per value, K = 4 judge calls per response
    code, out, _ = _run(capsys, *base, "--judge-protocol", "per_value")
    n = len(load_queries("confucianism-4", split="optimize"))
    assert code == 0 and "judge protocol per_value" in out
    assert _calls(out)["reference"] == (1 + 4) * 2 * n * 2
    # "auto" without a calibration takes what the local judge declares (per_value)
    code, out, _ = _run(capsys, *base, "--judge-protocol", "auto", "--no-calibrate")
    assert code == 0 and "judge protocol per_value" in out
    # a chat API judge (no key needed to plan) keeps the rubric
    code, out, _ = _run(
        capsys, *base, "--judge", "openai:gpt-4o", "--judge-protocol", "auto", "--no-calibrate"
    )
    assert code == 0 and "judge protocol rubric" in out and "likelihood selection" in out
    assert no_local_server == []


def test_plan_refuses_likelihood_selection_without_a_scorer(capsys) -> None:
    code, out, err = _run(
        capsys,
        "plan",
        "--values",
        "confucianism-4",
        "--model",
        "scripted",
        "--selection",
        "likelihood",
    )
    assert code == EXIT_BAD_INPUT and not out
    assert "config.selection" in err and "likelihood" in err


def test_plan_is_the_plan_optimize_prints_and_bounds_its_calls(
    capsys, tmp_path: Path, queries_file: Path
) -> None:
    opts = ["--values", "confucianism-4", "--queries", str(queries_file), "--model", "scripted"]
    opts += [*SMALL, "--no-calibrate"]
    code, planned, _ = _run(capsys, "plan", *opts)
    assert code == 0
    out = tmp_path / "mi.json"
    code, stdout, stderr = _run(capsys, "optimize", *opts, "--out", str(out), "--no-progress")
    assert code == 0, stderr
    assert planned.strip() in stderr.splitlines()  # the very plan optimize prints
    used = json.loads(out.read_text())["usage"]["calls"]
    assert 0 < used <= int(re.search(r"at most (\d+) calls", planned).group(1))


# ---------------------------------------------------------------------------- show, evaluate
@pytest.fixture
def artifact(tmp_path: Path, queries_file: Path, capsys) -> Path:
    out = tmp_path / "mi.json"
    opts = ["--values", "confucianism-4", "--queries", str(queries_file), "--model", "scripted"]
    code, _, err = _run(
        capsys, "optimize", *opts, *SMALL, "--no-calibrate", "--out", str(out), "--no-progress"
    )
    assert code == 0, err
    return out


def test_show_prints_the_instruction_and_the_paired_table(capsys, artifact: Path) -> None:
    saved = json.loads(artifact.read_text())
    code, out, err = _run(capsys, "show", str(artifact))
    assert code == 0 and not err
    assert saved["text"] in out
    header = next(line for line in out.splitlines() if line.startswith("value "))
    assert header.split() == ["value", "bare", "seed", "optimised"]
    for name in load_value_set("confucianism-4").names:
        assert any(line.startswith(name) for line in out.splitlines())
    assert "candidates scored:" in out
    assert f"usage: {saved['usage']['calls']} calls" in out
    code, out, _ = _run(capsys, "show", str(artifact), "--json")
    assert code == 0 and json.loads(out)["text"] == saved["text"]


def test_show_prints_the_pareto_front_with_its_evidence(capsys, artifact: Path) -> None:
    saved = json.loads(artifact.read_text())
    assert saved["pareto_front"], "the run records its front"
    code, out, _ = _run(capsys, "show", str(artifact))
    assert code == 0 and f"Pareto front ({len(saved['pareto_front'])} instructions" in out
    first = saved["pareto_front"][0]
    name, score = next(iter(first["per_value"].items()))
    assert f"{name} {score:.2f} (n={first['evidence'][name]})" in out


def test_show_counts_the_merges(capsys, artifact: Path, tmp_path: Path) -> None:
    from langchain_picaco.instruction import HistoryEntry, MetaInstruction

    mi = MetaInstruction.load(artifact)
    merges = [
        HistoryEntry(iteration=2, instruction="A merged one.", proposal="merge", accepted=True),
        HistoryEntry(iteration=4, instruction="Too long.", proposal="merge",
                     rejected_reason="merge_too_long"),
    ]  # fmt: skip
    path = tmp_path / "merged.json"
    mi.model_copy(update={"history": [*mi.history, *merges]}).save(path)
    code, out, _ = _run(capsys, "show", str(path))
    assert code == 0
    assert "merges of Pareto-front members: 1 scored (1 accepted), 1 rejected by guards" in out


def test_evaluate_scores_the_saved_instruction(capsys, artifact: Path, queries_file: Path) -> None:
    code, out, err = _run(
        capsys,
        "evaluate",
        str(artifact),
        "--queries",
        str(queries_file),
        "--model",
        "scripted",
        "--bare",
    )
    assert code == 0, err
    header = out.splitlines()[0]
    assert header.split() == ["value", "bare", "instruction"]
    for name in load_value_set("confucianism-4").names:
        assert any(line.startswith(name) for line in out.splitlines())
    calls = re.search(r"(\d+) calls; judge faults: 0", out)
    assert calls and int(calls.group(1)) > 0


def test_proposal_strategy_and_style_reach_the_config() -> None:
    from langchain_picaco.cli import _config, _parser

    args = _parser().parse_args(
        ["optimize", "--values", "confucianism-4", "--model", "scripted", "--out", "x.json",
         "--proposal-strategy", "pareto", "--proposal-style", "add_sentence"]
    )  # fmt: skip
    cfg = _config(args)
    assert (cfg.proposal_strategy, cfg.proposal_style) == ("pareto", "add_sentence")
    default = _config(
        _parser().parse_args(["optimize", "--values", "confucianism-4", "--out", "x.json"])
    )
    assert default.proposal_strategy == "pareto"  # the default since 0.2
