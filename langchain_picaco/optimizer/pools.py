"""The aligned and noisy pools, and what the proposer is shown from them and from the scores.

Every judged response of the incumbent gets its PICACO score w(x, y) (:func:`weighted`); the
aligned pool keeps the best per query (:func:`merge_pool`), the noisy pool the bare model's
most value-parroting ones. The proposer sees a few of them (:func:`pool_examples`) and the
value to work on (:func:`weakest_value`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from langchain_picaco import prompts
from langchain_picaco.config import PicacoConfig
from langchain_picaco.optimizer.graph.state import Measurement, PicacoState
from langchain_picaco.scoring import response_weight
from langchain_picaco.values.value_sets import ValueSet

__all__ = ["merge_pool", "pool_examples", "weakest_value", "weighted"]


def weighted(
    m: Measurement, baseline: dict[str, float], value_set: ValueSet, cfg: PicacoConfig
) -> Measurement:
    """A copy of the judged response ``m`` with its PICACO score w(x, y) as ``weight``.

    Args:
        m: A judged response (scores and redundancy measured).
        baseline: Mean redundancy of the bare model's responses per query (the baseline term).
        value_set: The values (their weights).
        cfg: The run's settings (beta, eps, red_eps).
    """
    out: Measurement = dict(m)  # type: ignore[assignment]
    out["weight"] = response_weight(
        m["scores"],
        m["redundancy"],
        baseline.get(str(m["query"]), 0.0),
        weights=value_set.normalized_weights(),
        beta=cfg.beta,
        eps=cfg.eps,
        red_eps=cfg.red_eps,
    )
    return out


def merge_pool(
    pool: dict[str, list[Measurement]], new: Sequence[Measurement], size: int
) -> dict[str, list[Measurement]]:
    """Add judged responses to the per-query aligned pool and keep the ``size`` best by weight."""
    out = {k: list(v) for k, v in pool.items()}
    for m in new:
        items = out.setdefault(str(m["query"]), [])
        if all(x["text"] != m["text"] for x in items):
            items.append(m)
    for k, items in out.items():
        items.sort(key=lambda m: m["weight"], reverse=True)
        out[k] = items[:size]
    return out


def weakest_value(scores: dict[str, float], names: Sequence[str], seed: int) -> str:
    """The value with the lowest score; among equally low values, a seeded pick.

    Always naming the first of several tied values (e.g. all at 1.0) would show the proposer the
    same prompt after every round that kept the incumbent, so it would keep proposing the same
    edits, which the duplicate guard then throws away.
    """
    if not scores:
        return names[0]
    low = min(scores.values())
    tied = [n for n in names if n in scores and scores[n] <= low + 1e-9]
    return random.Random(seed).choice(tied) if len(tied) > 1 else tied[0]


def pool_examples(state: PicacoState, pool: str, *, best: bool, k: int = 2) -> str:
    """The proposer prompt's examples: ``k`` responses of a pool ("aligned" or "noisy") by weight.

    Args:
        state: The run's state (its pools and queries).
        pool: Which pool.
        best: Highest weight (or redundancy, in the noisy pool) first; else lowest first.
        k: How many examples.
    """
    items: list[tuple[float, int, Measurement]] = []
    for q, ms in (state.get(pool) or {}).items():  # type: ignore[attr-defined]
        for m in ms:
            key = m.get("weight", m.get("redundancy", 0.0))
            items.append((key, int(q), m))
    items.sort(key=lambda t: t[0], reverse=best)
    lines = [
        prompts.PROPOSER_EXAMPLE.format(
            query=_trim(state["queries"][q], 160), response=_trim(m["text"])
        )
        for _, q, m in items[:k]
    ]
    return "\n".join(lines) or prompts.PROPOSER_NO_EXAMPLES


def _trim(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
