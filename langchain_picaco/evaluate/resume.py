"""``resume_dir``: the finished phases of a comparison, kept in a folder so a rerun skips them.

A comparison on a slow model runs for hours; :class:`PhaseCache` writes each optimised artifact
(``optimized-<method>.json``) and each held-out evaluation (``evaluated-<method>.json``) as its
phase ends, and hands them back to a rerun with the same inputs (:func:`fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from langchain_picaco._io import atomic_write_text
from langchain_picaco.config import PicacoConfig, comparable_settings
from langchain_picaco.errors import ConfigError
from langchain_picaco.instruction import MetaInstruction
from langchain_picaco.optimizer.picaco_optimizer import EvaluationReport
from langchain_picaco.values.value_sets import ValueSet

__all__ = ["PhaseCache", "fingerprint"]


class PhaseCache:
    """Finished phases of one comparison, kept in a folder so a rerun skips them.

    Optimised artifacts (``optimized-<method>.json``) and held-out evaluations
    (``evaluated-<method>.json``) are written atomically as each phase ends. The folder is bound
    to one set of inputs by a fingerprint (value set, queries, held-out queries, settings, models):
    other inputs raise instead of silently reusing stale results.
    """

    def __init__(self, folder: str | Path | None, fingerprint: str) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.reused: list[str] = []
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = self.folder / "fingerprint.txt"
        if stamp.exists():
            if stamp.read_text(encoding="utf-8").strip() != fingerprint:
                raise ConfigError(
                    "resume_dir",
                    f"{self.folder} holds phases of a comparison with other inputs or settings",
                    "use an empty folder per comparison, or delete this one",
                )
        else:
            atomic_write_text(stamp, fingerprint + "\n")

    def _path(self, kind: str, method: str) -> Path | None:
        if self.folder is None:
            return None
        safe = re.sub(r"[^a-z0-9]+", "-", method.lower())
        return self.folder / f"{kind}-{safe}.json"

    def artifact(self, method: str) -> MetaInstruction | None:
        """The saved artifact of ``method``'s optimisation, if any."""
        path = self._path("optimized", method)
        if path is None or not path.exists():
            return None
        self.reused.append(f"optimise {method}")
        return MetaInstruction.load(path)

    def put_artifact(self, method: str, mi: MetaInstruction) -> None:
        """Keep ``method``'s optimised artifact."""
        path = self._path("optimized", method)
        if path is not None:
            mi.save(path)

    def report(self, method: str, instruction: str | None) -> EvaluationReport | None:
        """The saved held-out evaluation of ``method``, if it evaluated this ``instruction``."""
        path = self._path("evaluated", method)
        if path is None or not path.exists():
            return None
        report = EvaluationReport.model_validate_json(path.read_text(encoding="utf-8"))
        if report.instruction != instruction:
            return None  # evaluated an instruction that was since re-optimised
        self.reused.append(f"evaluate {method}")
        return report

    def put_report(self, method: str, report: EvaluationReport) -> None:
        """Keep ``method``'s held-out evaluation."""
        path = self._path("evaluated", method)
        if path is not None:
            atomic_write_text(path, report.model_dump_json(indent=1))


def fingerprint(
    value_set: ValueSet,
    qs: Sequence[str],
    held: Sequence[str],
    cfg: PicacoConfig,
    samples: int,
    models: Sequence[str],
) -> str:
    """What binds a folder to one comparison: values, queries, settings, samples and models."""
    blob = json.dumps(
        {
            "values": value_set.model_dump(mode="json"),
            "queries": list(qs),
            "heldout": list(held),
            "config": comparable_settings(cfg),
            "samples": samples,
            "models": list(models),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()
