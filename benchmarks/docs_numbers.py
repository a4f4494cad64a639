"""Regenerate every table in docs/ that a script in this repo produces: ``make docs-numbers``.

Each *job* runs one benchmark script (a subprocess, as a person would run it), takes the table it
made, stamps it with the commit it was measured at, the command, the machine's load average
before and after and the wall time, and puts it into its doc between the marker lines
``<!-- numbers:NAME -->`` and ``<!-- /numbers:NAME -->`` (the doc is rewritten atomically: a
killed run never leaves half a file). Text outside the markers is never touched, so the prose
around a table is for a person to check against the new numbers.

Jobs are ``scripted`` (the scripted world: no model, seconds to minutes) or ``local`` (the
embedded llama.cpp models: slow, minutes to an hour on two cores). ``--quick`` runs every job at
small sizes (and says so in the stamp).

Resumable: a job's finished result is kept in ``runs/docs-numbers/state.json`` with the commit
and the command it was made with; a re-run at the same commit with the same arguments places the
kept table again instead of measuring it again (``--force`` measures anyway). A job that was
interrupted runs again from its start (paper_table and judge_table resume inside, from their
output folder under ``runs/docs-numbers/NAME/``). When tracked files other than docs/ differ from
the commit, the stamp says ``+dirty.<hash of the diff>`` and that is part of the key.

Usage:
    python benchmarks/docs_numbers.py --list
    python benchmarks/docs_numbers.py --scripted-only            # every scripted table
    python benchmarks/docs_numbers.py --quick --scripted-only    # the same at small sizes
    python benchmarks/docs_numbers.py --only optimizer-b,reliability-kill --force
    make docs-numbers ARGS="--scripted-only"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the checkout's package, not another install

from langchain_picaco._io import atomic_write_text  # noqa: E402

STATE_DIR = Path("runs") / "docs-numbers"
PY = "{python}"
OUT = "{out}"

Extract = Callable[[Path, str], str]
"""``(output folder, captured stdout) -> the markdown block`` of a job."""


class DocsNumbersError(Exception):
    """A job, a doc or the command line is not as the driver needs it."""


# ------------------------------------------------------------------------------ extractors
def stdout_tables(out: Path, stdout: str) -> str:
    """Every markdown table the script printed (lines starting with ``|``), in order."""
    blocks: list[list[str]] = []
    previous = False
    for line in stdout.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous:
            blocks.append([])
        if is_row:
            blocks[-1].append(line.rstrip())
        previous = is_row
    if not blocks:
        raise DocsNumbersError("the script printed no markdown table")
    return "\n\n".join("\n".join(b) for b in blocks)


def stdout_markdown(out: Path, stdout: str) -> str:
    """Everything the script printed (tables and the lines between them), without its headings.

    For scripts that print markdown (bench_trust.py): the doc has its own headings, so the
    script's ``#`` lines are dropped and runs of blank lines are closed up.
    """
    lines = [ln.rstrip() for ln in stdout.splitlines() if not re.match(r"#+ ", ln)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not any(ln.startswith("|") for ln in text.splitlines()):
        raise DocsNumbersError("the script printed no markdown table")
    return text


def out_file(name: str, *, demote: bool = False) -> Extract:
    """The markdown file ``name`` the script wrote into its output folder.

    With ``demote`` its ``# title`` line is dropped and every other heading goes one level down,
    so a report's sections sit under the doc's own heading.
    """

    def extract(out: Path, stdout: str) -> str:
        path = out / name
        if not path.exists():
            raise DocsNumbersError(f"the script wrote no {name} in {out}")
        text = path.read_text(encoding="utf-8").strip()
        if demote:
            lines = [ln for ln in text.splitlines() if not re.match(r"# ", ln)]
            text = "\n".join("#" + ln if ln.startswith("#") else ln for ln in lines).strip()
        return text

    return extract


def proposer_rows(out: Path, stdout: str) -> str:
    """The proposer table from proposer_rate.py's ``--out`` JSON files (one per style)."""
    rows = [
        "| proposer | style | repair turns | usable | rejected | proposer calls | s |",
        "|---|---|---|---|---|---|---|",
    ]
    files = sorted(out.glob("proposer-*.json"))
    if not files:
        raise DocsNumbersError(f"proposer_rate.py wrote no proposer-*.json in {out}")
    for path in files:
        for r in json.loads(path.read_text(encoding="utf-8")):
            rejected = ", ".join(
                f"{k.split(':', 1)[1]} {n}" for k, n in sorted(r["rejections"].items())
            )
            rows.append(
                f"| {r['proposer']} | {r['style']} | {r['retries']} | "
                f"{r['usable']} / {r['asked']} ({r['rate']:.0%}) | {rejected or 'none'} | "
                f"{r['proposer_calls']} | {r['wall_s']:.0f} |"
            )
    return "\n".join(rows)


def demo_table(out: Path, stdout: str) -> str:
    """Scores, calls and outcome of ``make demo`` from the artifact it saved."""
    from langchain_picaco.instruction import MetaInstruction

    path = out / "meta_instruction.json"
    if not path.exists():
        raise DocsNumbersError(f"the demo saved no artifact in {out}")
    mi = MetaInstruction.load(path)
    columns = {**mi.reference_scores}
    if mi.scores is not None:
        columns["final"] = mi.scores
    names = list(mi.value_set.names)
    rows = [
        "| value | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name in names:
        rows.append(
            f"| {name} | "
            + " | ".join(f"{c.per_value.get(name, float('nan')):.2f}" for c in columns.values())
            + " |"
        )
    for stat in ("mean", "min"):
        cells = " | ".join(f"**{getattr(c, stat):.2f}**" for c in columns.values())
        rows.append(f"| {stat} | {cells} |")
    accepted = sum(1 for h in mi.history[1:] if h.accepted)
    roles = ", ".join(f"{n} {r}" for r, n in sorted(mi.usage.calls_by_role.items()))
    rows += [
        "",
        f"{mi.usage.calls} model calls ({roles}); "
        f"{mi.usage.input_tokens + mi.usage.output_tokens:,} tokens; "
        f"stop reason `{mi.stop_reason}`; {accepted} candidate(s) accepted.",
    ]
    return "\n".join(rows)


# ------------------------------------------------------------------------------ the registry
@dataclass(frozen=True)
class Job:
    """One table of one doc and the commands that measure it.

    Attributes:
        name: The marker name (``<!-- numbers:NAME -->``) and the ``--only`` name.
        doc: The doc holding the markers, relative to the repo root.
        kind: ``scripted`` (no model) or ``local`` (the embedded models: slow).
        commands: Argument lists; ``{python}`` is this interpreter, ``{out}`` the job's folder.
        quick: The same at small sizes (``--quick``).
        extract: Turns the output folder and the captured stdout into the markdown block.
        cost: Estimated wall time at full size, and with ``--quick``, on two cores.
    """

    name: str
    doc: str
    kind: Literal["scripted", "local"]
    commands: tuple[tuple[str, ...], ...]
    quick: tuple[tuple[str, ...], ...]
    extract: Extract = stdout_tables
    cost: tuple[str, str] = ("?", "?")

    def argv(self, quick: bool) -> tuple[tuple[str, ...], ...]:
        """The commands of a full or a ``--quick`` run (placeholders unfilled)."""
        return self.quick if quick else self.commands


BENCH_OPT = (PY, "benchmarks/bench_optimizer.py")
BENCH_REL = (PY, "benchmarks/bench_reliability.py")
TRUST = (PY, "benchmarks/bench_trust.py")
INJECTION = (PY, "benchmarks/judge_injection.py")
PROPOSER = (PY, "benchmarks/proposer_rate.py", "--values", "confucianism-4", "--rounds")
PAPER = (
    PY, "benchmarks/paper_table.py", "--model", "local", "--judge", "local-1.5b",
    "--proposer", "local-1.5b", "--judge-protocol", "per_value", "--proposal-style",
    "add_sentence", "--max-tokens", "90", "--calibrate", "off", "--candidates", "1",
    "--samples", "1", "--selection", "sampling", "--max-concurrency", "2", "--probe", "off",
)  # fmt: skip
SENSITIVITY = ("--world", "0.8,0.02", "--world", "0.5,0.05", "--world", "0.8,0.1")
MD = ("--markdown", f"{OUT}/table.md")


def _proposer(rounds: str) -> tuple[tuple[str, ...], ...]:
    """proposer_rate.py on the 1.5B, rewrite then add_sentence, each without and with repair."""
    common = (*PROPOSER, rounds, "--candidates", "2", "--retries", "0,1", "--proposer")
    styles = [("rewrite", ()), ("add_sentence", ("--style", "add_sentence"))]
    return tuple(
        (*common, "local-1.5b", *style, "--out", f"{OUT}/proposer-{i}-{label}.json")
        for i, (label, style) in enumerate(styles)
    )


def _paper(value_sets: str, heldout: str, iterations: str) -> tuple[tuple[str, ...], ...]:
    return (
        (*PAPER, "--value-sets", value_sets, "--queries", "4", "--minibatch", "4",
         "--heldout", heldout, "--iterations", iterations, "--no-plot", "--out", f"{OUT}/paper"),
    )  # fmt: skip


JOBS: tuple[Job, ...] = (
    Job(
        "optimizer-a", "docs/benchmarks.md", "scripted",
        ((*BENCH_OPT, "--only", "a", *MD),),
        ((*BENCH_OPT, "--only", "a", "--latency", "0.05", *MD),),
        out_file("table.md"), ("2 min", "20 s"),
    ),
    Job(
        "optimizer-b", "docs/benchmarks.md", "scripted",
        ((*BENCH_OPT, "--only", "b", *MD),),
        ((*BENCH_OPT, "--only", "b", *MD),),
        out_file("table.md"), ("10 s", "10 s"),
    ),
    Job(
        "optimizer-c", "docs/benchmarks.md", "scripted",
        ((*BENCH_OPT, "--only", "c", *MD),),
        ((*BENCH_OPT, "--only", "c", "--seeds", "2", *MD),),
        out_file("table.md"), ("8 min", "2 min"),
    ),
    Job(
        "optimizer-c-sensitivity", "docs/benchmarks.md", "scripted",
        ((*BENCH_OPT, "--only", "c", "--no-greedy", *SENSITIVITY, *MD),),
        ((*BENCH_OPT, "--only", "c", "--no-greedy", "--seeds", "2", *SENSITIVITY, *MD),),
        out_file("table.md"), ("3 min", "40 s"),
    ),
    Job(
        "optimizer-d", "docs/benchmarks.md", "scripted",
        ((*BENCH_OPT, "--only", "d", *MD),),
        ((*BENCH_OPT, "--only", "d", "--seeds", "2", *MD),),
        out_file("table.md"), ("12 min", "1 min"),
    ),
    Job(
        "optimizer-d-sentence", "docs/benchmarks.md", "scripted",
        ((*BENCH_OPT, "--only", "d", "--proposal-style", "add_sentence", *MD),),
        ((*BENCH_OPT, "--only", "d", "--proposal-style", "add_sentence", "--seeds", "2", *MD),),
        out_file("table.md"), ("12 min", "1 min"),
    ),
    Job(
        "trust-a", "docs/calibration.md", "scripted",
        ((*TRUST, "--only", "a"),), ((*TRUST, "--only", "a", "--seeds", "5"),),
        stdout_markdown, ("1 min", "10 s"),
    ),
    Job(
        "trust-b", "docs/calibration.md", "scripted",
        ((*TRUST, "--only", "b"),), ((*TRUST, "--only", "b", "--seeds", "5"),),
        stdout_markdown, ("2 min", "20 s"),
    ),
    Job(
        "trust-c", "docs/calibration.md", "scripted",
        ((*TRUST, "--only", "c"),), ((*TRUST, "--only", "c", "--seeds", "5"),),
        stdout_markdown, ("2 min", "20 s"),
    ),
    Job(
        "trust-d", "docs/calibration.md", "scripted",
        ((*TRUST, "--only", "d"),), ((*TRUST, "--only", "d"),),
        stdout_markdown, ("10 s", "10 s"),
    ),
    Job(
        "reliability-faults", "docs/reliability.md", "scripted",
        ((*BENCH_REL, "--parts", "faults", "--seeds", "10"),),
        ((*BENCH_REL, "--parts", "faults", "--seeds", "2"),),
        stdout_tables, ("12 min", "2.5 min"),  # mostly waiting out injected hangs
    ),
    Job(
        "reliability-kill", "docs/reliability.md", "scripted",
        ((*BENCH_REL, "--parts", "kill", "--kills", "3"),),
        ((*BENCH_REL, "--parts", "kill", "--kills", "1"),),
        stdout_tables, ("3 min", "1 min"),
    ),
    Job(
        "reliability-bad-input", "docs/reliability.md", "scripted",
        ((*BENCH_REL, "--parts", "bad-input"),),
        ((*BENCH_REL, "--parts", "bad-input"),),
        stdout_tables, ("20 s", "20 s"),
    ),
    Job(
        "injection-0.5b", "docs/reliability.md", "local",
        ((*INJECTION, "--judge", "local", "--protocol", "rubric"),),
        ((*INJECTION, "--judge", "local", "--protocol", "rubric"),),
        stdout_tables, ("2 min", "2 min"),
    ),
    Job(
        "injection-1.5b", "docs/reliability.md", "local",
        ((*INJECTION, "--judge", "local-1.5b", "--protocol", "per_value"),),
        ((*INJECTION, "--judge", "local-1.5b", "--protocol", "per_value"),),
        stdout_tables, ("2 min", "2 min"),
    ),
    Job(
        "judge-table", "docs/calibration.md", "local",
        ((PY, "benchmarks/judge_table.py", "--judges", "local,local-1.5b", "--protocols",
          "rubric,per_value,per_value_digit,likelihood",
          "--value-sets", "confucianism-4,harmlessness-4", "--out", f"{OUT}/judge"),),
        ((PY, "benchmarks/judge_table.py", "--judges", "local-1.5b", "--protocols", "per_value",
          "--value-sets", "confucianism-4", "--out", f"{OUT}/judge"),),
        out_file("judge/judge_table.md", demote=True), ("90 min", "10 min"),
    ),  # fmt: skip
    Job(
        "proposer-rate", "docs/benchmarks.md", "local",
        _proposer("6"), _proposer("2"), proposer_rows, ("40 min", "15 min"),
    ),
    Job(
        "paper-table", "docs/benchmarks.md", "local",
        _paper("confucianism-4,harmlessness-4", "8", "2"), _paper("confucianism-4", "3", "1"),
        out_file("paper/paper_table.md"), ("2 h", "30 min"),
    ),
    Job(
        "demo", "docs/benchmarks.md", "local",
        ((PY, "-m", "langchain_picaco.demo", "--out", f"{OUT}/demo"),),
        ((PY, "-m", "langchain_picaco.demo", "--iterations", "1", "--out", f"{OUT}/demo"),),
        lambda out, stdout: demo_table(out / "demo", stdout), ("11 min", "7 min"),
    ),
)  # fmt: skip


# ------------------------------------------------------------------------------ markers
def _marker(name: str, end: bool = False) -> str:
    return f"<!-- {'/' if end else ''}numbers:{name} -->"


def place(text: str, name: str, block: str) -> str:
    """``text`` with the lines between NAME's two marker lines replaced by ``block``.

    Raises:
        DocsNumbersError: A marker is missing, doubled, or the end comes first.
    """
    start, end = _marker(name), _marker(name, end=True)
    lines = text.split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.strip() == start]
    ends = [i for i, ln in enumerate(lines) if ln.strip() == end]
    if len(starts) != 1 or len(ends) != 1:
        raise DocsNumbersError(
            f"expected one {start} line and one {end} line, found {len(starts)} and {len(ends)}"
        )
    if ends[0] < starts[0]:
        raise DocsNumbersError(f"{end} comes before {start}")
    inner = block.strip("\n").split("\n")
    return "\n".join([*lines[: starts[0] + 1], *inner, *lines[ends[0] :]])


def place_in_doc(path: Path, name: str, block: str) -> bool:
    """Put ``block`` between NAME's markers in the doc at ``path``, atomically.

    Returns:
        Whether the doc changed.
    """
    text = path.read_text(encoding="utf-8")
    new = place(text, name, block)
    if new == text:
        return False
    atomic_write_text(path, new)
    return True


def marker_names(text: str) -> list[str]:
    """The names of every start marker in ``text``."""
    return re.findall(r"^\s*<!-- numbers:([\w.\-]+) -->\s*$", text, re.M)


# ------------------------------------------------------------------------------ running
def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def commit_id(root: Path) -> str:
    """The short commit, with ``+dirty.<hash>`` when tracked files outside docs/ changed."""
    head = _git(root, "rev-parse", "--short", "HEAD") or "unknown"
    outside = ("--", ".", ":(exclude)docs", ":(exclude)runs")
    diff = _git(root, "diff", "HEAD", *outside)
    if not diff:
        return head
    return f"{head}+dirty.{hashlib.sha256(diff.encode()).hexdigest()[:8]}"


def job_key(job: Job, commit: str, quick: bool) -> str:
    """What a finished result is kept under: the commit and the exact commands."""
    payload = json.dumps([job.name, commit, quick, job.argv(quick)])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def shown(argv: Sequence[str]) -> str:
    """A command as a person types it (``python``; the job folder as ``runs/docs-numbers/...``)."""
    return shlex.join("python" if a == PY else a for a in argv)


def stamp(job: Job, record: dict[str, Any]) -> str:
    """The line above a table: commit, command, load and wall time."""
    quick = ", quick sizes" if record["quick"] else ""
    commands = "; ".join(f"`{c}`" for c in record["commands"])
    return (
        f"_Measured at commit `{record['commit']}` by `make docs-numbers` (job `{job.name}`"
        f"{quick}): {commands}. Load average {record['load_before']:.2f} before, "
        f"{record['load_after']:.2f} after ({os.cpu_count()} cores); {record['wall_s']:.0f} s "
        f"wall; {record['finished_at']}._"
    )


@dataclass
class Driver:
    """Runs jobs and places their tables; state and job folders under ``root/runs/``."""

    root: Path = ROOT
    jobs: Sequence[Job] = JOBS
    python: str = sys.executable
    say: Callable[[str], None] = field(default=lambda s: print(s, flush=True))

    @property
    def state_path(self) -> Path:
        return self.root / STATE_DIR / "state.json"

    def load_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def save_state(self, state: dict[str, Any]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.state_path, json.dumps(state, indent=1, sort_keys=True))

    def select(self, only: Sequence[str] = (), scripted_only: bool = False) -> list[Job]:
        """The jobs to run, in registry order.

        Raises:
            DocsNumbersError: An ``only`` name that is no job.
        """
        by_name = {j.name: j for j in self.jobs}
        unknown = [n for n in only if n not in by_name]
        if unknown:
            raise DocsNumbersError(
                f"unknown job(s): {', '.join(unknown)}; the jobs are: {', '.join(by_name)}"
            )
        chosen = [j for j in self.jobs if not only or j.name in only]
        return [j for j in chosen if not (scripted_only and j.kind == "local")]

    def run_job(self, job: Job, quick: bool, commit: str) -> dict[str, Any]:
        """Run ``job``'s commands and return its record (table, stamp data)."""
        key = job_key(job, commit, quick)
        out = self.root / STATE_DIR / job.name / key
        out.mkdir(parents=True, exist_ok=True)
        paths = [str(self.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        stdout: list[str] = []
        for argv in job.argv(quick):
            filled = [self.python if a == PY else a.replace(OUT, str(out)) for a in argv]
            proc = subprocess.run(
                filled, cwd=self.root, env=env, capture_output=True, text=True, check=False
            )
            for name, text in (("stdout.txt", proc.stdout), ("stderr.txt", proc.stderr)):
                with (out / name).open("a", encoding="utf-8") as fh:
                    fh.write(text)
            if proc.returncode != 0:
                tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
                raise DocsNumbersError(
                    f"{shown(argv)} exited {proc.returncode} (log: {out}/stderr.txt)\n{tail}"
                )
            stdout.append(proc.stdout)
        table = job.extract(out, "".join(stdout))
        rel = os.path.relpath(out, self.root)
        return {
            "key": key,
            "commit": commit,
            "quick": quick,
            "commands": [shown([a.replace(OUT, rel) for a in argv]) for argv in job.argv(quick)],
            "table": table,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "wall_s": time.monotonic() - started,
            "finished_at": time.strftime("%Y-%m-%d", time.gmtime()),
        }

    def run(
        self,
        only: Sequence[str] = (),
        *,
        quick: bool = False,
        scripted_only: bool = False,
        force: bool = False,
    ) -> int:
        """Run (or resume) the chosen jobs; returns the number of jobs that failed."""
        jobs = self.select(only, scripted_only)
        commit = commit_id(self.root)
        failed = 0
        for job in jobs:
            doc = self.root / job.doc
            try:
                place(doc.read_text(encoding="utf-8"), job.name, "")  # markers first
                state = self.load_state()
                record = state.get(job.name)
                if force or not record or record.get("key") != job_key(job, commit, quick):
                    self.say(f"{job.name}: running ({job.kind}, about {job.cost[quick]})")
                    record = self.run_job(job, quick, commit)
                    state = self.load_state()
                    state[job.name] = record
                    self.save_state(state)
                else:
                    self.say(f"{job.name}: measured at {commit} already; placing the kept table")
                changed = place_in_doc(doc, job.name, f"{stamp(job, record)}\n\n{record['table']}")
                self.say(
                    f"{job.name}: {job.doc} {'updated' if changed else 'unchanged'} "
                    f"({record['wall_s']:.0f} s)"
                )
            except (DocsNumbersError, OSError) as exc:
                failed += 1
                self.say(f"{job.name}: FAILED: {exc}")
        return failed

    def listing(self) -> list[str]:
        """One line per job: name, kind, doc, estimated cost, and whether it is done here."""
        state = self.load_state()
        commit = commit_id(self.root)
        lines = [f"{'job':<24} {'kind':<9} {'doc':<20} {'full':<12} {'quick':<9} at {commit}"]
        for job in self.jobs:
            record = state.get(job.name) or {}
            done = [
                label
                for label, quick in (("full", False), ("quick", True))
                if record.get("key") == job_key(job, commit, quick)
            ]
            lines.append(
                f"{job.name:<24} {job.kind:<9} {job.doc:<20} {job.cost[0][:11]:<12} "
                f"{job.cost[1][:8]:<9} {'done (' + done[0] + ')' if done else 'to run'}"
            )
        return lines


def main(argv: Sequence[str] | None = None, driver: Driver | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the jobs and stop")
    parser.add_argument("--only", default="", help="comma-separated job names")
    parser.add_argument("--quick", action="store_true", help="small sizes (stamped as such)")
    parser.add_argument("--scripted-only", action="store_true", help="skip the local-model jobs")
    parser.add_argument("--force", action="store_true", help="measure even if kept")
    args = parser.parse_args(argv)
    driver = driver or Driver()
    if args.list:
        for line in driver.listing():
            print(line)
        return 0
    only = [n for n in args.only.split(",") if n]
    try:
        failed = driver.run(
            only, quick=args.quick, scripted_only=args.scripted_only, force=args.force
        )
    except DocsNumbersError as exc:
        print(f"docs_numbers: error: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
