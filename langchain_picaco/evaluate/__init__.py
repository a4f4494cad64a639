"""Does the instruction help? Held-out comparison against the baselines, reports and plots.

``compare`` (bare, Q+IF, OPRO and PICACO on held-out queries, with intervals; the jailbreak
probe), ``opro`` (the OPRO baseline at equal calls), ``reports`` (Markdown, CSV and plot files of
a comparison), ``plots`` (per-value scores before and after; needs the ``plot`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_picaco._lazy import lazy_attributes

_NAMES = {
    name: "langchain_picaco.evaluate.compare"
    for name in (
        "METHODS",
        "Comparison",
        "MethodResult",
        "PairedDifference",
        "ProbeResult",
        "acompare",
        "ajailbreak_probe",
        "compare",
        "jailbreak_probe",
    )
}
_NAMES.update(
    {
        "OproConfig": "langchain_picaco.evaluate.opro",
        "OproOptimizer": "langchain_picaco.evaluate.opro",
        "write_report": "langchain_picaco.evaluate.reports",
        "plot_scores": "langchain_picaco.evaluate.plots",
        "plot_value_scores": "langchain_picaco.evaluate.plots",
    }
)

__all__ = sorted(_NAMES)  # noqa: PLE0605 - one list, the mapping above

__getattr__, __dir__ = lazy_attributes(__name__, _NAMES)

if TYPE_CHECKING:
    from langchain_picaco.evaluate.compare import (
        METHODS as METHODS,
    )
    from langchain_picaco.evaluate.compare import (
        Comparison as Comparison,
    )
    from langchain_picaco.evaluate.compare import (
        MethodResult as MethodResult,
    )
    from langchain_picaco.evaluate.compare import (
        PairedDifference as PairedDifference,
    )
    from langchain_picaco.evaluate.compare import (
        ProbeResult as ProbeResult,
    )
    from langchain_picaco.evaluate.compare import (
        acompare as acompare,
    )
    from langchain_picaco.evaluate.compare import (
        ajailbreak_probe as ajailbreak_probe,
    )
    from langchain_picaco.evaluate.compare import (
        compare as compare,
    )
    from langchain_picaco.evaluate.compare import (
        jailbreak_probe as jailbreak_probe,
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
    from langchain_picaco.evaluate.reports import (
        write_report as write_report,
    )
