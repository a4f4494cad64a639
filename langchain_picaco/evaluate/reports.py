"""Reports of a :class:`~langchain_picaco.evaluate.results.Comparison`: markdown, CSV, PNG and JSON.

:func:`write_report` writes, atomically, into one folder:

- ``report.md``: the scores table (methods x values, mean, min, spread, each with its bootstrap
  interval), the cost table, PICACO's paired difference to each baseline with one plain sentence
  each, the jailbreak probe (when run), the instructions and the notes;
- ``report.csv``: one row per method, every estimate with its interval ends and the cost;
- ``report.png``: grouped bars per value (and mean, min) per method with interval whiskers
  (needs the ``plot`` extra; skipped with a note in the markdown otherwise);
- ``comparison.json``: the whole comparison, every held-out response included
  (``Comparison.model_validate_json`` reads it back).

How to read them: docs/reports.md.

Example:
    .. code-block:: python

        from langchain_picaco.evaluate.reports import write_report

        paths = write_report(comparison, "reports/hh-balance-8")
        print(paths["markdown"].read_text())
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from langchain_picaco._io import atomic_write_bytes, atomic_write_text
from langchain_picaco.errors import MissingDependencyError
from langchain_picaco.evaluate.intervals import Interval
from langchain_picaco.evaluate.probe import ProbeResult
from langchain_picaco.evaluate.results import Comparison, PairedDifference

__all__ = [
    "REPORT_FILES",
    "combined_table",
    "difference_sentence",
    "plot_comparison",
    "probe_sentence",
    "report_csv",
    "report_markdown",
    "write_report",
]

logger = logging.getLogger(__name__)

REPORT_FILES = {
    "markdown": "report.md",
    "csv": "report.csv",
    "png": "report.png",
    "json": "comparison.json",
}
"""Kind -> file name of what :func:`write_report` writes."""

_METRIC_WORDS = {"min": "weakest value (min)", "mean": "mean over values"}


def _ci(x: Interval | None, digits: int = 2) -> str:
    if x is None or math.isnan(x.estimate):
        return "n/a"
    return f"{x.estimate:.{digits}f} [{x.low:.{digits}f}, {x.high:.{digits}f}]"


def _signed(x: Interval) -> str:
    return f"{x.estimate:+.2f} [{x.low:+.2f}, {x.high:+.2f}]"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "l") -> list[str]:
    sep = ["---" if i == 0 else ("---:" if align == "r" else "---") for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _label(cmp: Comparison, method: str) -> str:
    try:
        return cmp.method(method).label
    except KeyError:
        return method


def difference_sentence(diff: PairedDifference, cmp: Comparison) -> str:
    """One plain sentence on PICACO minus a baseline, saying whether the interval contains 0.

    Args:
        diff: The paired difference.
        cmp: The comparison it belongs to (for labels, confidence and query counts).
    """
    pct = round(100 * diff.difference.confidence)
    what = (
        f"{_label(cmp, diff.method)} minus {_label(cmp, diff.baseline)} on the "
        f"{_METRIC_WORDS[diff.metric]}: {_signed(diff.difference)} ({pct}% interval, "
        f"{diff.difference.n} held-out queries, {diff.pairs} paired responses)."
    )
    if diff.direction == "better":
        verdict = (
            f"The interval lies above 0: {_label(cmp, diff.method)} is better on these queries."
        )
    elif diff.direction == "worse":
        verdict = (
            f"The interval lies below 0: {_label(cmp, diff.method)} is worse on these queries."
        )
    else:
        verdict = (
            "The interval contains 0: on these queries the two are NOT distinguishable "
            "(the difference may be noise)."
        )
    return f"{what} {verdict}"


def probe_sentence(label: str, res: ProbeResult) -> str:
    """One plain sentence on an instruction's effect on jailbreak compliance.

    Args:
        label: Display name of the method whose instruction was probed.
        res: The probe result.
    """
    if res.difference is None or res.with_instruction is None or res.without_instruction is None:
        return (
            f"{label}: no usable verdicts ({res.verdict_faults} of {2 * res.probes} could not be "
            "parsed), so nothing can be said about compliance."
        )
    d = res.difference
    base = (
        f"{label}: complied with {res.with_instruction.estimate:.0%} of {res.probes} harmful "
        f"requests, against {res.without_instruction.estimate:.0%} for the bare model "
        f"(difference {_signed(d)})."
    )
    if d.high < 0:
        return f"{base} The instruction makes the model refuse more often."
    if d.low > 0:
        return f"{base} The instruction makes the model comply MORE often."
    return f"{base} The interval contains 0: no distinguishable effect on these probes."


def _intro_lines(cmp: Comparison, pct: int) -> list[str]:
    """The report's title and the paragraph on what was run and how to read it."""
    return [
        f"# PICACO comparison: {cmp.value_set}",
        "",
        f"Target `{cmp.target}`, judge `{cmp.judge}`, proposer `{cmp.proposer}`. "
        f"{cmp.queries} optimisation queries; {cmp.heldout} held-out queries x {cmp.samples} "
        f"sample(s). Scores are the judge's ratings (1 = ignores the value, 5 = fully acts on "
        f"it), averaged over the held-out responses; brackets hold the {pct}% percentile-"
        f"bootstrap interval over held-out queries ({cmp.n_resamples} resamples, seed "
        f"{cmp.seed}). How to read this report: docs/reports.md.",
        "",
    ]


def _scores_section(cmp: Comparison, pct: int) -> list[str]:
    """The scores section: per value, mean, min and spread of each method, with intervals."""
    header = [
        "method",
        *cmp.values,
        f"mean [{pct}% CI]",
        f"min [{pct}% CI]",
        f"spread [{pct}% CI]",
    ]
    rows = [
        [
            m.label,
            *(_ci(m.per_value.get(v)) for v in cmp.values),
            _ci(m.mean),
            _ci(m.min) + (f" ({m.weakest})" if m.weakest else ""),
            _ci(m.spread),
        ]
        for m in cmp.methods
    ]
    return ["## Scores", "", *_table(header, rows)]


def _cost_section(cmp: Comparison) -> list[str]:
    """The cost section: calls, tokens, wall time and judge faults of each method."""
    lines = [
        "",
        "## Cost",
        "",
        "Calls, tokens and wall time of finding the instruction (optimisation) plus scoring it "
        "on the held-out queries (evaluation). OPRO's call budget is PICACO's actual call count"
        + (f" ({cmp.opro_budget} calls)." if cmp.opro_budget is not None else "."),
        "",
    ]
    header = [
        "method",
        "optimisation calls",
        "evaluation calls",
        "total calls",
        "input tokens",
        "output tokens",
        "wall s",
        "judge faults",
    ]
    rows = [
        [
            m.label,
            str(m.optimization.calls),
            str(m.evaluation.calls),
            str(m.calls),
            f"{m.input_tokens:,}",
            f"{m.output_tokens:,}",
            f"{m.wall_seconds:.1f}",
            str(m.judge_faults),
        ]
        for m in cmp.methods
    ]
    return lines + _table(header, rows)


def _differences_section(cmp: Comparison, pct: int) -> list[str]:
    """The paired differences of PICACO against each baseline: a table, then one sentence each."""
    lines = [
        "",
        "## PICACO against each baseline (paired)",
        "",
        "Differences are PICACO minus the baseline, paired over the same held-out queries and "
        "sampling seeds. An interval that contains 0 means the two methods cannot be told "
        "apart on these queries.",
        "",
    ]
    header = ["baseline", f"min difference [{pct}% CI]", f"mean difference [{pct}% CI]"]
    rows = []
    for baseline in dict.fromkeys(d.baseline for d in cmp.differences):
        cells = [_label(cmp, baseline)]
        for metric in ("min", "mean"):
            try:
                d = cmp.difference(baseline, metric)
            except KeyError:
                cells.append("n/a")
                continue
            mark = "" if d.distinguishable else " (contains 0)"
            cells.append(_signed(d.difference) + mark)
        rows.append(cells)
    lines += _table(header, rows)
    lines.append("")
    lines += [f"- {difference_sentence(d, cmp)}" for d in cmp.differences]
    return lines


def _probe_section(cmp: Comparison, pct: int) -> list[str]:
    """The jailbreak probe: compliance with and without each instruction, and the probe's cost."""
    first = next(iter(cmp.probe.values()))
    lines = [
        "",
        "## Jailbreak probe",
        "",
        f"Share of {first.probes} disguised harmful requests the target COMPLIED with "
        f"(lower is safer), as classified by `{first.judge}`; greedy responses; "
        f"{pct}% bootstrap intervals over the requests.",
        "",
    ]
    header = ["instruction of", "complied, bare", "complied, with instruction", "difference"]
    rows = [
        [
            _label(cmp, method),
            _ci(res.without_instruction),
            _ci(res.with_instruction),
            _signed(res.difference) if res.difference else "n/a",
        ]
        for method, res in cmp.probe.items()
    ]
    lines += _table(header, rows)
    lines.append("")
    lines += [f"- {probe_sentence(_label(cmp, method), res)}" for method, res in cmp.probe.items()]
    if cmp.probe_usage is not None:
        u = cmp.probe_usage
        lines.append(
            f"- Probe cost: {u.calls} calls, {u.input_tokens:,} input and "
            f"{u.output_tokens:,} output tokens, {u.wall_seconds:.1f} s."
        )
    return lines


def _instructions_section(cmp: Comparison) -> list[str]:
    """Each method's instruction in a text block, with why its search stopped."""
    lines = ["", "## Instructions", ""]
    for m in cmp.methods:
        lines.append(f"**{m.label}**" + (f" (stopped by {m.stop_reason})" if m.stop_reason else ""))
        lines.append("")
        if m.instruction:
            lines += ["```text", m.instruction.replace("```", "'''"), "```"]
        else:
            lines.append("(no instruction)")
        lines.append("")
    return lines


def report_markdown(cmp: Comparison, *, png: str | None = REPORT_FILES["png"]) -> str:
    """The markdown report of a comparison.

    Args:
        cmp: The comparison.
        png: File name of the plot to embed (None: no plot).
    """
    pct = round(100 * cmp.confidence)
    lines = _intro_lines(cmp, pct)
    lines += _scores_section(cmp, pct)
    lines += _cost_section(cmp)
    if cmp.differences:
        lines += _differences_section(cmp, pct)
    if cmp.probe:
        lines += _probe_section(cmp, pct)
    if png:
        lines += ["", "## Plot", "", f"![per-value scores with intervals]({png})"]
    lines += _instructions_section(cmp)
    if cmp.notes:
        lines += ["## Notes", ""]
        lines += [f"- {n}" for n in cmp.notes]
        lines.append("")
    lines.append(f"Made {cmp.created_at}; whole comparison {cmp.wall_seconds:.1f} s wall time.")
    return "\n".join(lines) + "\n"


def _csv_header(cmp: Comparison) -> list[str]:
    cols = ["value_set", "method", "label"]
    for v in cmp.values:
        cols += [v, f"{v}_low", f"{v}_high"]
    for s in ("mean", "min", "spread"):
        cols += [s, f"{s}_low", f"{s}_high"]
    cols += [
        "weakest",
        "queries",
        "responses",
        "optimization_calls",
        "evaluation_calls",
        "calls",
        "input_tokens",
        "output_tokens",
        "wall_seconds",
        "judge_faults",
        "diff_min",
        "diff_min_low",
        "diff_min_high",
        "diff_mean",
        "diff_mean_low",
        "diff_mean_high",
        "probe_complied",
        "probe_complied_bare",
        "instruction",
    ]
    return cols


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.4f}"


def report_csv(cmp: Comparison) -> str:
    """The CSV report: one row per method (PICACO's differences on the baselines' rows).

    Args:
        cmp: The comparison.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_csv_header(cmp))
    for m in cmp.methods:
        row: list[str] = [cmp.value_set, m.method, m.label]
        for v in cmp.values:
            ci = m.per_value.get(v)
            row += [_fmt(ci.estimate), _fmt(ci.low), _fmt(ci.high)] if ci else ["", "", ""]
        for ci in (m.mean, m.min, m.spread):
            row += [_fmt(ci.estimate), _fmt(ci.low), _fmt(ci.high)]
        row += [
            m.weakest or "",
            str(m.queries),
            str(m.responses),
            str(m.optimization.calls),
            str(m.evaluation.calls),
            str(m.calls),
            str(m.input_tokens),
            str(m.output_tokens),
            f"{m.wall_seconds:.3f}",
            str(m.judge_faults),
        ]
        for metric in ("min", "mean"):
            try:
                d = cmp.difference(m.method, metric).difference
                row += [_fmt(d.estimate), _fmt(d.low), _fmt(d.high)]
            except KeyError:
                row += ["", "", ""]
        probe = cmp.probe.get(m.method)
        row += [
            _fmt(probe.with_instruction.estimate) if probe and probe.with_instruction else "",
            _fmt(probe.without_instruction.estimate) if probe and probe.without_instruction else "",
            m.instruction or "",
        ]
        writer.writerow(row)
    return buf.getvalue()


def plot_comparison(cmp: Comparison, path: str | os.PathLike[str]) -> Path:
    """Grouped bars (per value, then mean and min) per method, with interval whiskers; PNG.

    Args:
        cmp: The comparison.
        path: Where to write the PNG (atomically).

    Raises:
        MissingDependencyError: matplotlib (the ``plot`` extra) is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("report plots", "plot") from exc
    groups = [*cmp.values, "mean", "min"]
    n = max(1, len(cmp.methods))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.5, 0.9 * len(groups) * max(1.0, n / 3) + 2), 4.4))
    for i, m in enumerate(cmp.methods):
        cis = [m.per_value.get(v) for v in cmp.values] + [m.mean, m.min]
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(groups))]
        ys = [c.estimate if c else 0.0 for c in cis]
        err = [
            [max(0.0, c.estimate - c.low) if c else 0.0 for c in cis],
            [max(0.0, c.high - c.estimate) if c else 0.0 for c in cis],
        ]
        ax.bar(xs, ys, width=width, yerr=err, capsize=2, label=m.label)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20, ha="right")
    ax.axvline(len(cmp.values) - 0.5, color="grey", lw=0.6, ls="--")
    ax.set_ylim(0, 5.4)
    ax.set_ylabel("judge score (1..5)")
    pct = round(100 * cmp.confidence)
    ax.set_title(f"{cmp.value_set}: held-out scores, {pct}% bootstrap intervals")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(4, n), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_report(
    cmp: Comparison, out_dir: str | os.PathLike[str], *, plot: bool = True
) -> dict[str, Path]:
    """Write report.md, report.csv, report.png and comparison.json into ``out_dir``, atomically.

    Example:
        .. code-block:: python

            paths = write_report(cmp, "out/confucianism-4")
            paths["csv"]  # Path('out/confucianism-4/report.csv')

    Args:
        cmp: The comparison.
        out_dir: The folder (created if missing).
        plot: Also draw the PNG (skipped, with a log warning, when matplotlib is missing).

    Returns:
        Kind ("markdown", "csv", "png", "json") -> path written.
    """
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    png_name: str | None = None
    if plot:
        try:
            paths["png"] = plot_comparison(cmp, out / REPORT_FILES["png"])
            png_name = REPORT_FILES["png"]
        except MissingDependencyError as exc:
            logger.warning("report plot skipped: %s", exc)
    paths["json"] = atomic_write_text(out / REPORT_FILES["json"], cmp.model_dump_json(indent=1))
    paths["csv"] = atomic_write_text(out / REPORT_FILES["csv"], report_csv(cmp))
    paths["markdown"] = atomic_write_text(
        out / REPORT_FILES["markdown"], report_markdown(cmp, png=png_name)
    )
    return paths


_TABLE_BASELINES = ("q+if", "opro")


def combined_table(comparisons: Sequence[Comparison]) -> str:
    """A markdown table over several comparisons: value sets x methods (mean, min, calls, tokens).

    Under the table, one sentence per paired difference of PICACO against the value list (Q+IF)
    and against OPRO, the two questions the paper's table answers.

    Args:
        comparisons: One comparison per value set (or per cell of a benchmark).
    """
    header = ["value set", "method", "mean [CI]", "min [CI]", "calls", "tokens", "wall s"]
    rows = []
    for cmp in comparisons:
        for m in cmp.methods:
            rows.append(
                [
                    cmp.value_set,
                    m.label,
                    _ci(m.mean),
                    _ci(m.min),
                    str(m.calls),
                    f"{m.input_tokens + m.output_tokens:,}",
                    f"{m.wall_seconds:.1f}",
                ]
            )
    lines = _table(header, rows)
    diffs = [
        f"- {cmp.value_set}: {difference_sentence(d, cmp)}"
        for cmp in comparisons
        for baseline in _TABLE_BASELINES
        for d in cmp.differences
        if d.baseline == baseline
    ]
    if diffs:
        lines += ["", *diffs]
    return "\n".join(lines) + "\n"
