"""Per-value score plots (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

from langchain_picaco._io import atomic_write_bytes
from langchain_picaco.errors import MissingDependencyError
from langchain_picaco.instruction import MetaInstruction, ValueScores

__all__ = ["plot_scores", "plot_value_scores"]

MAX_FRONT_DRAWN = 4
"""Pareto-front members drawn beside the final instruction (the others are in the artifact)."""


def plot_value_scores(
    series: Mapping[str, ValueScores],
    path: str | os.PathLike[str],
    *,
    title: str = "Per-value judge scores",
) -> Path:
    """Draw grouped bars, one group per value and one bar per series, and save a PNG atomically.

    Args:
        series: Label -> scores (e.g. {"bare model": ..., "value list": ..., "PICACO": ...}).
        path: Where to write the PNG.
        title: Plot title.

    Returns:
        The path written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("plotting", "plot") from exc
    labels = list(series)
    values: list[str] = []
    for s in series.values():
        values.extend(v for v in s.per_value if v not in values)
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(values) + 2), 4.2))
    for i, label in enumerate(labels):
        s = series[label]
        xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(values))]
        ys = [s.per_value.get(v, 0.0) for v in values]
        ax.bar(xs, ys, width=width, label=f"{label} (mean {s.mean:.2f}, min {s.min:.2f})")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(values, rotation=20, ha="right")
    ax.set_ylim(0, 5.4)
    ax.set_ylabel("judge score (1..5)")
    ax.set_title(title)
    ax.axhline(1, color="grey", lw=0.5)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1, fontsize=8, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_scores(instruction: MetaInstruction, path: str | os.PathLike[str]) -> Path:
    """Plot an artifact's per-value scores before (bare model, seed) and after optimisation.

    Args:
        instruction: The artifact (needs ``scores``; ``reference_scores`` are drawn when present,
            and so are up to ``MAX_FRONT_DRAWN`` members of its Pareto front besides the final).
        path: Where to write the PNG.
    """
    names = {"bare": "bare model", "seed": "seed instruction"}
    series: dict[str, ValueScores] = {
        names.get(k, k): v for k, v in instruction.reference_scores.items()
    }
    front = instruction.pareto_front
    on_front = any(m.instruction == instruction.text for m in front)
    if instruction.scores is not None:
        series["optimised (on the Pareto front)" if on_front else "optimised"] = instruction.scores
    others = [m for m in front if m.instruction != instruction.text]
    for i, member in enumerate(others[:MAX_FRONT_DRAWN], 1):
        n = min(member.evidence.values(), default=0)
        series[f"Pareto front {i} (n={n})"] = ValueScores.from_per_value(member.per_value, n)
    return plot_value_scores(
        series, path, title=f"{instruction.value_set.name}: per-value scores before and after"
    )
