"""Does the instruction help? Held-out comparison against the baselines, reports and plots.

``comparison`` (the flow of ``compare``: bare, Q+IF, OPRO and PICACO on held-out queries; the
module is not named ``compare`` so that it never shadows the function), ``results`` (what a
comparison found: ``Comparison``, ``MethodResult``, ``PairedDifference``), ``intervals`` (bootstrap
intervals, per-value summaries, paired differences), ``probe`` (the jailbreak probe), ``resume``
(finished phases kept in ``resume_dir``), ``opro`` (the OPRO baseline at equal calls), ``reports``
(Markdown, CSV and plot files of a comparison), ``plots`` (per-value scores before and after;
needs the ``plot`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_picaco._lazy import lazy_attributes

_NAMES = {
    "METHODS": "langchain_picaco.evaluate.results",
    "Comparison": "langchain_picaco.evaluate.results",
    "MethodResult": "langchain_picaco.evaluate.results",
    "PairedDifference": "langchain_picaco.evaluate.results",
    "ProbeResult": "langchain_picaco.evaluate.probe",
    "ajailbreak_probe": "langchain_picaco.evaluate.probe",
    "jailbreak_probe": "langchain_picaco.evaluate.probe",
    "acompare": "langchain_picaco.evaluate.comparison",
    "compare": "langchain_picaco.evaluate.comparison",
    "OproConfig": "langchain_picaco.evaluate.opro",
    "OproOptimizer": "langchain_picaco.evaluate.opro",
    "write_report": "langchain_picaco.evaluate.reports",
    "plot_scores": "langchain_picaco.evaluate.plots",
    "plot_value_scores": "langchain_picaco.evaluate.plots",
}

__all__ = sorted(_NAMES)  # noqa: PLE0605 - one list, the mapping above

__getattr__, __dir__ = lazy_attributes(__name__, _NAMES)

if TYPE_CHECKING:
    from langchain_picaco.evaluate.comparison import (
        acompare as acompare,
    )
    from langchain_picaco.evaluate.comparison import (
        compare as compare,
    )
    from langchain_picaco.evaluate.opro import (
        OproConfig as OproConfig,
    )
    from langchain_picaco.evaluate.opro import (
        OproOptimizer as OproOptimizer,
    )
    from langchain_picaco.evaluate.plots import (
        plot_scores as plot_scores,
    )
    from langchain_picaco.evaluate.plots import (
        plot_value_scores as plot_value_scores,
    )
    from langchain_picaco.evaluate.probe import (
        ProbeResult as ProbeResult,
    )
    from langchain_picaco.evaluate.probe import (
        ajailbreak_probe as ajailbreak_probe,
    )
    from langchain_picaco.evaluate.probe import (
        jailbreak_probe as jailbreak_probe,
    )
    from langchain_picaco.evaluate.reports import (
        write_report as write_report,
    )
    from langchain_picaco.evaluate.results import (
        METHODS as METHODS,
    )
    from langchain_picaco.evaluate.results import (
        Comparison as Comparison,
    )
    from langchain_picaco.evaluate.results import (
        MethodResult as MethodResult,
    )
    from langchain_picaco.evaluate.results import (
        PairedDifference as PairedDifference,
    )
