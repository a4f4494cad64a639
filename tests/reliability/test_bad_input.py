"""Bad input: a typed error naming the input and the fix; the CLI prints one line and exits 2.

Each case runs twice: through the API (the error type, its ``field`` and a "Fix:") and through the
``picaco`` command (exit code 2, one error line on stderr, and no file left behind: no artifact,
no checkpoint, no cache).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import QUERIES, make_optimizer, settings

from langchain_picaco import cli
from langchain_picaco.config import config_from_kwargs
from langchain_picaco.errors import (
    ArtifactError,
    ConfigError,
    PicacoInputError,
    QueryError,
    ValueSetError,
)
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.llm.models import resolve_model
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.testing import ScriptedTarget, SyntheticWorld
from langchain_picaco.values.value_sets import load_value_set

LONG_QUERY = "Please consider every detail of my situation. " * 120  # ~1,000 tokens


class ShortContextTarget(ScriptedTarget):
    """A scripted target that says it reads at most 512 tokens."""

    context_window: int = 512


# ------------------------------------------------------------------------- input files
def _values(n: int, *, dup: bool = False) -> dict[str, Any]:
    vals = [{"name": f"value{i}", "description": f"Value number {i} matters."} for i in range(n)]
    if dup:
        vals.append({"name": "Value0", "description": "The first value again."})
    return {"name": "test-set", "values": vals}


def _artifact_json(**changes: Any) -> str:
    mi = MetaInstruction(text="Honour tradition.", value_set=load_value_set("confucianism-4"))
    data = json.loads(mi.to_json())
    data.update(changes)
    return json.dumps(data)


FILES: dict[str, Callable[[Path], None]] = {
    "empty.json": lambda p: p.write_text(json.dumps(_values(0))),
    "dup.json": lambda p: p.write_text(json.dumps(_values(2, dup=True))),
    "big.json": lambda p: p.write_text(json.dumps(_values(17))),
    "empty.txt": lambda p: p.write_text("\n\n"),
    "latin1.txt": lambda p: p.write_bytes("Caf\xe9 ou th\xe9 ce soir ?\n".encode("latin-1")),
    "broken.jsonl": lambda p: p.write_text('{"query": "How do I plan?"}\n{"query": oops}\n'),
    "long.txt": lambda p: p.write_text("\n".join([*QUERIES, LONG_QUERY]) + "\n"),
    "bad_art.json": lambda p: p.write_text('{"kind": "langchain-picaco/meta-instruction",'),
    "foreign.json": lambda p: p.write_text(
        json.dumps({"lc": 1, "type": "constructor", "id": ["langchain", "x"], "kwargs": {}})
    ),
    "newer.json": lambda p: p.write_text(_artifact_json(schema_version=99)),
    "not_a_cache.sqlite": lambda p: p.write_text("plain text, not SQLite\n" * 40),
}


@dataclass
class Case:
    name: str
    error: type[PicacoInputError]
    field: str
    api: Callable[[Path, SyntheticWorld], Any]
    cli: list[str] | None = None
    files: list[str] = field(default_factory=list)


def _opt(world: SyntheticWorld, tmp: Path, **kw: Any) -> Any:
    return make_optimizer(world, checkpointer=tmp / "runs.sqlite", cache=tmp / "calls.sqlite", **kw)


OPT = ["optimize", "--model", "scripted", "--no-calibrate", "--out", "{tmp}/mi.json"]
OPT += ["--checkpoint", "{tmp}/runs.sqlite", "--resume", "r1", "--cache", "{tmp}/calls.sqlite"]
CS = "confucianism-4"
NO_CHECKPOINT = ["optimize", "--model", "scripted", "--out", "{tmp}/mi.json", "--resume", "x"]
NO_CHECKPOINT += ["--values", CS]

CASES = [
    Case(
        "empty value set",
        ValueSetError,
        "values",
        lambda t, w: load_value_set(t / "empty.json"),
        [*OPT, "--values", "{tmp}/empty.json"],
        ["empty.json"],
    ),
    Case(
        "duplicate values",
        ValueSetError,
        "values[2].name",
        lambda t, w: load_value_set(t / "dup.json"),
        [*OPT, "--values", "{tmp}/dup.json"],
        ["dup.json"],
    ),
    Case(
        "oversized value set",
        ValueSetError,
        "values",
        lambda t, w: load_value_set(t / "big.json"),
        [*OPT, "--values", "{tmp}/big.json"],
        ["big.json"],
    ),
    Case(
        "unknown value set",
        ValueSetError,
        "nope-9",
        lambda t, w: load_value_set("nope-9"),
        [*OPT, "--values", "nope-9"],
    ),
    Case(
        "empty query list",
        QueryError,
        "queries",
        lambda t, w: _opt(w, t).optimize([]),
    ),
    Case(
        "empty query",
        QueryError,
        "queries[1]",
        lambda t, w: _opt(w, t).optimize([QUERIES[0], "   "]),
    ),
    Case(
        "empty query file",
        QueryError,
        "empty.txt",
        lambda t, w: _opt(w, t).optimize(t / "empty.txt"),
        [*OPT, "--values", CS, "--queries", "{tmp}/empty.txt"],
        ["empty.txt"],
    ),
    Case(
        "non-UTF-8 query file",
        QueryError,
        "latin1.txt:1",
        lambda t, w: _opt(w, t).optimize(t / "latin1.txt"),
        [*OPT, "--values", CS, "--queries", "{tmp}/latin1.txt"],
        ["latin1.txt"],
    ),
    Case(
        "malformed query file",
        QueryError,
        "broken.jsonl:2",
        lambda t, w: _opt(w, t).optimize(t / "broken.jsonl"),
        [*OPT, "--values", CS, "--queries", "{tmp}/broken.jsonl"],
        ["broken.jsonl"],
    ),
    Case(
        "query longer than the context",
        QueryError,
        "queries[4]",
        lambda t, w: _opt(w, t, target=ShortContextTarget(world=w)).optimize(t / "long.txt"),
        [*OPT, "--values", CS, "--queries", "{tmp}/long.txt"],
        ["long.txt"],
    ),
    Case(
        "malformed artifact",
        ArtifactError,
        "bad_art.json",
        lambda t, w: MetaInstruction.load(t / "bad_art.json"),
        ["evaluate", "{tmp}/bad_art.json", "--model", "scripted"],
        ["bad_art.json"],
    ),
    Case(
        "foreign artifact",
        ArtifactError,
        "foreign.json",
        lambda t, w: MetaInstruction.load(t / "foreign.json"),
        ["show", "{tmp}/foreign.json"],
        ["foreign.json"],
    ),
    Case(
        "newer-version artifact",
        ArtifactError,
        "schema_version",
        lambda t, w: MetaInstruction.load(t / "newer.json"),
        ["evaluate", "{tmp}/newer.json", "--model", "scripted"],
        ["newer.json"],
    ),
    Case(
        "zero budget",
        ConfigError,
        "config.budget.max_calls",
        lambda t, w: config_from_kwargs({"budget": {"max_calls": 0}}),
        [*OPT, "--values", CS, "--max-calls", "0"],
    ),
    Case(
        "negative budget",
        ConfigError,
        "config.budget.max_tokens",
        lambda t, w: config_from_kwargs({"budget": {"max_tokens": -100}}),
        [*OPT, "--values", CS, "--max-tokens", "-100"],
    ),
    Case(
        "budget below the floor",
        ConfigError,
        "config.budget.max_calls",
        lambda t, w: _opt(w, t, config=settings(budget={"max_calls": 10})).optimize(QUERIES),
        [*OPT, "--values", CS, "--max-calls", "10"],
    ),
    Case(
        "zero iterations",
        ConfigError,
        "config.iterations",
        lambda t, w: config_from_kwargs({"iterations": 0}),
        [*OPT, "--values", CS, "--iterations", "0"],
    ),
    Case(
        "unknown model name",
        ConfigError,
        "target",
        lambda t, w: resolve_model("gpt-nonsense"),
        [*OPT, "--values", CS, "--model", "gpt-nonsense"],
    ),
    Case(
        "unknown judge name",
        ConfigError,
        "judge",
        lambda t, w: resolve_model("nonsense", role="judge"),
        [*OPT, "--values", CS, "--judge", "nonsense"],
    ),
    Case(
        "cache file that is not a cache",
        ConfigError,
        "not_a_cache.sqlite",
        lambda t, w: make_optimizer(w, cache=t / "not_a_cache.sqlite"),
        [*OPT[:-1], "{tmp}/not_a_cache.sqlite", "--values", CS],
        ["not_a_cache.sqlite"],
    ),
    Case(
        "--resume without --checkpoint",
        ConfigError,
        "--resume",
        lambda t, w: cli._cmd_optimize(cli._parser().parse_args(_fmt(NO_CHECKPOINT, t))),
        NO_CHECKPOINT,
    ),
]


def _fmt(args: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in args]


def _prepare(tmp: Path, names: list[str]) -> set[str]:
    for name in names:
        FILES[name](tmp / name)
    return {p.name for p in tmp.iterdir()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_api_raises_a_typed_error_naming_the_input_and_the_fix(
    case: Case, tmp_path: Path, world: SyntheticWorld
) -> None:
    before = _prepare(tmp_path, case.files)
    with pytest.raises(case.error) as info:
        case.api(tmp_path, world)
    err = info.value
    assert case.field in err.field, (err.field, str(err))
    assert "Fix:" in str(err) and err.fix
    assert {p.name for p in tmp_path.iterdir()} == before  # nothing written


CLI_CASES = [c for c in CASES if c.cli]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_prints_one_line_exits_2_and_leaves_no_file(
    case: Case, tmp_path: Path, capsys, monkeypatch
) -> None:
    before = _prepare(tmp_path, case.files)
    if case.name == "query longer than the context":
        world_target = ShortContextTarget

        def resources_for(value_set: Any, *a: Any, **k: Any) -> Resources:
            w = SyntheticWorld(value_set)
            return Resources(target=world_target(world=w), judge=w.judge(), proposer=w.proposer())

        monkeypatch.setattr("langchain_picaco.llm.models.resources_for", resources_for)
    code = cli.main(_fmt(case.cli or [], tmp_path))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("picaco:")]
    assert code == 2, err
    assert len(errors) == 1 and errors[0].startswith("picaco: error:")
    assert errors[0] == lines[-1] and "Fix:" in errors[0]
    # the only other line allowed is the plan, printed before the run starts
    assert all(line.startswith("PICACO plan:") for line in lines[:-1])
    assert {p.name for p in tmp_path.iterdir()} == before  # no artifact, checkpoint or cache


def test_cli_unknown_provider_is_one_line(tmp_path: Path, capsys) -> None:
    code = cli.main(_fmt([*OPT, "--values", CS, "--model", "nosuch:thing"], tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and len([x for x in err.splitlines() if x.strip()]) <= 2


def test_cli_provider_without_a_key_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = cli.main(_fmt([*OPT, "--values", CS, "--model", "openai:gpt-4o-mini"], tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and len([x for x in err.splitlines() if x.strip()]) <= 2


def test_the_installed_command_exits_2_with_one_line(tmp_path: Path) -> None:
    FILES["latin1.txt"](tmp_path / "latin1.txt")
    args = [*OPT, "--values", CS, "--queries", "{tmp}/latin1.txt"]
    proc = subprocess.run(
        [sys.executable, "-m", "langchain_picaco.cli", *_fmt(args, tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "latin1.txt:1" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin1.txt"]


def test_the_context_window_is_read_from_what_the_model_tells() -> None:
    from types import SimpleNamespace

    from langchain_picaco.llm.calls import context_window

    assert context_window(ShortContextTarget(world=None)) == 512
    assert context_window(SimpleNamespace(profile={"max_input_tokens": 128_000})) == 128_000
    server = SimpleNamespace(settings=SimpleNamespace(n_ctx=4096, n_parallel=2))
    assert context_window(SimpleNamespace(server=server)) == 2048  # per slot
    assert context_window(ScriptedTarget(world=None)) is None  # not told: not checked
