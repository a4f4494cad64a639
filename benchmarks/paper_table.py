"""The paper's comparison table, on any model: value sets x (bare, Q+IF, OPRO, PICACO).

For each value set, runs :func:`langchain_picaco.evaluate.compare` (PICACO, then OPRO with
PICACO's actual call count as its budget, then all four methods scored on held-out queries by the
same judge and seeds), writes that cell's report (report.md, report.csv, report.png,
comparison.json) into ``OUT/<value set>/``, and records the finished cell in ``OUT/cells.json``
(atomically). A rerun with the same settings skips finished cells, so an interrupted benchmark
resumes where it stopped. Inside a cell, every finished phase (PICACO's and OPRO's instructions,
each method's held-out evaluation) is kept in ``OUT/phases/<cell>/`` and reused by a rerun (slow
local models); with ``--checkpoint`` an interrupted PICACO run resumes mid-run too (LangGraph
SQLite checkpointer in ``OUT/checkpoints.sqlite``). At the end it prints the combined
table (value sets x methods: mean, min, calls, tokens) and writes it to ``OUT/paper_table.md``.

Usage:
    .venv/bin/python benchmarks/paper_table.py --model scripted --out /tmp/paper
    .venv/bin/python benchmarks/paper_table.py --model scripted --value-sets confucianism-4 \\
        --queries 8 --heldout 6 --iterations 3 --candidates 2 --out /tmp/paper
    # the local model is slow (seconds per call): keep it tiny
    .venv/bin/python benchmarks/paper_table.py --model local --value-sets confucianism-4 \\
        --queries 2 --heldout 2 --iterations 1 --candidates 1 --out /tmp/paper-local
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_picaco._io import atomic_write_text  # noqa: E402
from langchain_picaco.config import config_from_kwargs  # noqa: E402
from langchain_picaco.errors import PicacoError  # noqa: E402
from langchain_picaco.evaluate.comparison import compare  # noqa: E402
from langchain_picaco.evaluate.reports import combined_table, write_report  # noqa: E402
from langchain_picaco.evaluate.results import METHODS, Comparison  # noqa: E402
from langchain_picaco.llm.models import resources_for  # noqa: E402
from langchain_picaco.values.queries import load_queries  # noqa: E402
from langchain_picaco.values.value_sets import load_value_set  # noqa: E402

CELLS_VERSION = 1
DEFAULT_VALUE_SETS = "confucianism-4,modern-liberalism-4,hh-balance-8"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", default="scripted", help="local, a .gguf path, provider:model, scripted"
    )
    p.add_argument("--judge", default="", help="judge model (default: --model)")
    p.add_argument("--proposer", default="", help="proposer model (default: --model)")
    p.add_argument("--value-sets", default=DEFAULT_VALUE_SETS, help="comma-separated names")
    p.add_argument("--queries", type=int, default=16, help="optimisation queries per value set")
    p.add_argument("--heldout", type=int, default=10, help="held-out queries per value set")
    p.add_argument("--iterations", type=int, default=3, help="PICACO rounds")
    p.add_argument("--candidates", type=int, default=4, help="candidates per round (both)")
    p.add_argument("--samples", type=int, default=2, help="PICACO samples per query")
    p.add_argument("--minibatch", type=int, default=8, help="queries per candidate (both)")
    p.add_argument("--eval-samples", type=int, default=1, help="responses per held-out query")
    p.add_argument("--selection", choices=["auto", "likelihood", "sampling"], default="auto")
    p.add_argument(
        "--judge-protocol",
        choices=["rubric", "per_value", "per_value_digit", "likelihood", "auto"],
        default="rubric",
    )
    p.add_argument("--proposal-style", choices=["rewrite", "add_sentence"], default="rewrite")
    p.add_argument("--proposal-strategy", choices=["weakest", "pareto"], default="pareto")
    p.add_argument(
        "--max-tokens", type=int, default=0, help="cap of each target response (0: the model's)"
    )
    p.add_argument("--calibrate", choices=["on", "off"], default="on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-concurrency", type=int, default=4)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--probe", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--checkpoint", action="store_true", help="SQLite checkpoints for PICACO runs")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--force", action="store_true", help="recompute finished cells")
    p.add_argument("--out", required=True, help="output folder")
    return p


def _settings(args: argparse.Namespace, value_set: str) -> dict[str, Any]:
    return {
        "value_set": value_set,
        "model": args.model,
        "judge": args.judge or args.model,
        "proposer": args.proposer or args.model,
        "queries": args.queries,
        "heldout": args.heldout,
        "iterations": args.iterations,
        "candidates": args.candidates,
        "samples": args.samples,
        "minibatch": args.minibatch,
        "eval_samples": args.eval_samples,
        "selection": args.selection,
        "seed": args.seed,
        "methods": args.methods,
        "probe": args.probe,
        "judge_protocol": args.judge_protocol,
        "proposal_style": args.proposal_style,
        **({"proposal_strategy": "pareto"} if args.proposal_strategy == "pareto" else {}),
        "max_tokens": args.max_tokens,
        "calibrate": args.calibrate,
    }


def cell_key(settings: dict[str, Any]) -> str:
    """A stable id of a cell: its value set plus a digest of every setting that changes results."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return f"{settings['value_set']}-{digest}"


def load_cells(path: Path) -> dict[str, Any]:
    """Finished cells from ``cells.json`` (empty when the file does not exist yet)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(
            f"paper_table: cannot read {path} ({exc}); move it away to start over"
        ) from None
    if data.get("version") != CELLS_VERSION:
        raise SystemExit(f"paper_table: {path} has version {data.get('version')!r}, not 1")
    return dict(data.get("cells") or {})


def save_cells(path: Path, cells: dict[str, Any]) -> None:
    """Write every finished cell, atomically."""
    atomic_write_text(path, json.dumps({"version": CELLS_VERSION, "cells": cells}, indent=1))


class _Progress:
    """tqdm over cells on a terminal; one line per phase on stderr otherwise."""

    def __init__(self, total: int) -> None:
        self.bar = None
        self.total = total
        self.done = 0
        self.name = ""
        if sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc="paper table", unit="cell")
            except ImportError:  # pragma: no cover
                self.bar = None

    def start(self, name: str) -> None:
        self.name = name

    def phase(self, phase: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.name}: {phase}")
        else:
            print(f"[{self.done + 1}/{self.total}] {self.name}: {phase}", file=sys.stderr)

    def finish(self, skipped: bool = False) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif skipped:
            print(
                f"[{self.done}/{self.total}] {self.name}: finished earlier, skipped",
                file=sys.stderr,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_cell(args: argparse.Namespace, value_set_name: str, key: str, out: Path, progress: Any):
    """Run one value set's comparison and write its report; returns the comparison."""
    vs = load_value_set(value_set_name)
    qs = load_queries(vs.name, split="optimize")[: args.queries]
    held = load_queries(vs.name, split="heldout")[: args.heldout]
    res = resources_for(vs, args.model, args.judge, args.proposer)
    cfg = config_from_kwargs(
        None,
        iterations=args.iterations,
        candidates=args.candidates,
        samples_per_query=args.samples,
        minibatch=args.minibatch,
        selection=args.selection,
        seed=args.seed,
        max_concurrency=args.max_concurrency,
        judge_protocol=args.judge_protocol,
        proposal_style=args.proposal_style,
        proposal_strategy=args.proposal_strategy,
        calibrate=args.calibrate == "on",
    )
    target = res.target
    if args.max_tokens and hasattr(target, "max_tokens"):
        # Shorter responses make every judge call shorter (local models: seconds per call).
        target = target.model_copy(update={"max_tokens": args.max_tokens})
    cmp = compare(
        target,
        values=vs,
        queries=qs,
        heldout=held,
        judge=res.judge,
        proposer=res.proposer,
        likelihood=res.likelihood,
        config=cfg,
        methods=[m for m in args.methods.split(",") if m.strip()],
        samples=args.eval_samples,
        probe={"auto": None, "on": True, "off": False}[args.probe],
        checkpointer=str(out / "checkpoints.sqlite") if args.checkpoint else None,
        thread_id=key if args.checkpoint else None,
        progress=False,
        on_phase=progress.phase,
        resume_dir=out / "phases" / key,
    )
    write_report(cmp, out / vs.name, plot=not args.no_plot)
    return cmp


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells_path = out / "cells.json"
    cells = load_cells(cells_path)
    names = [n.strip() for n in args.value_sets.split(",") if n.strip()]
    started = time.monotonic()
    progress = _Progress(len(names))
    comparisons: list[Comparison] = []
    ran = skipped = 0
    try:
        for name in names:
            settings = _settings(args, name)
            key = cell_key(settings)
            progress.start(name)
            if key in cells and not args.force:
                comparisons.append(Comparison.model_validate(cells[key]["comparison"]))
                skipped += 1
                progress.finish(skipped=True)
                continue
            t0 = time.monotonic()
            try:
                cmp = run_cell(args, name, key, out, progress)
            except PicacoError as exc:
                print(f"paper_table: {name}: {exc}", file=sys.stderr)
                return 2
            cells[key] = {
                "settings": settings,
                "wall_seconds": round(time.monotonic() - t0, 3),
                "comparison": cmp.model_dump(mode="json"),
            }
            save_cells(cells_path, cells)
            comparisons.append(cmp)
            ran += 1
            progress.finish()
    finally:
        progress.close()
    table = combined_table(comparisons)
    atomic_write_text(out / "paper_table.md", table)
    print(table)
    print(
        f"{ran} cell(s) run, {skipped} skipped (finished earlier); "
        f"{time.monotonic() - started:.1f} s wall time; reports in {out}/<value set>/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
