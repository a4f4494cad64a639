"""Model names users and LangGraph Studio write, turned into LangChain chat models.

A model spec is one of:

- ``"local"``: the embedded demo model (Qwen2.5-Coder-0.5B-Instruct, a small GGUF run by llama.cpp
  on this machine; extra ``demo-model``);
- ``"local-1.5b"``: the larger embedded model, Qwen2.5-Coder-1.5B-Instruct, on the same runtime
  (extra ``judge-model``);
- a path to any ``.gguf`` file: the same runtime with your own model;
- ``"provider:model"`` (e.g. ``"openai:gpt-4o-mini"``, ``"ollama:qwen2.5"``): LangChain's
  ``init_chat_model`` (needs the ``agents`` extra and the provider's package);
- ``"scripted"``: the synthetic world of :mod:`langchain_picaco.testing` (no model at all; for
  demos, tests and trying LangGraph Studio).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from langchain_picaco.errors import ConfigError, MissingDependencyError
from langchain_picaco.optimizer.graph.context import PicacoContext
from langchain_picaco.optimizer.resources import Resources
from langchain_picaco.values.value_sets import ValueSet

__all__ = [
    "PlannedModel",
    "planning_resources",
    "resolve_model",
    "resources_for",
    "resources_from_context",
]

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str, str, str], Resources] = {}


def resolve_model(
    spec: str | BaseChatModel, *, role: str = "target", **kwargs: Any
) -> BaseChatModel:
    """Turn a model spec into a chat model.

    Args:
        spec: ``"local"``, ``"local-1.5b"``, a ``.gguf`` path, ``"provider:model"``, or a chat
            model (returned as is).
        role: Which role the model plays (for error messages).
        **kwargs: Passed to the local runtime or to ``init_chat_model``.

    Raises:
        ConfigError: For an unknown spec, naming the role and the accepted forms.
        MissingDependencyError: When the needed extra is not installed.
    """
    if isinstance(spec, BaseChatModel):
        return spec
    text = (spec or "").strip()
    kind = _local_kind(text, role)
    pinned, gguf = kind == "pinned", kind == "gguf"
    if pinned or gguf:
        try:
            from langchain_picaco.llm.local import start_local_model
        except ImportError as exc:
            raise MissingDependencyError(f"the local model for --{role}", "local") from exc
        if pinned:
            return start_local_model(text, **kwargs)
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(role, f"model file {text!r} does not exist", "pass a .gguf path")
        return start_local_model(model_path=path, **kwargs)
    if text == "scripted":
        raise ConfigError(
            role, "'scripted' needs a value set", "use resources_for(...) or pass a chat model"
        )
    if ":" in text:
        try:
            from langchain.chat_models import init_chat_model
        except ImportError as exc:
            raise MissingDependencyError(f"model {text!r}", "agents") from exc
        try:
            return init_chat_model(text, **kwargs)
        except ImportError as exc:
            raise ConfigError(
                role,
                f"the provider of {text!r} is not installed ({_one_line(exc)})",
                "pip install its LangChain package",
            ) from None
        except ValueError as exc:
            raise ConfigError(
                role, f"{text!r} is not a known model ({_one_line(exc)})", "check the name"
            ) from None
        except Exception as exc:  # e.g. a provider client refusing to start without a key
            raise ConfigError(
                role,
                f"{text!r} could not be created ({type(exc).__name__}: {_one_line(exc)})",
                "check the provider's API key and settings",
            ) from None
    raise ConfigError(
        role,
        f"{text!r} is not a model spec",
        "use 'local', 'local-1.5b', a path to a .gguf file, 'provider:model' or 'scripted'",
    )


def _local_kind(text: str, role: str) -> str | None:
    """``"pinned"`` (a known local spec), ``"gguf"`` (a file path) or None (not a local model).

    Raises:
        ConfigError: ``local-...`` that is not a pinned model, naming the known ones.
    """
    gguf = text.lower().endswith(".gguf")
    pinned = text == "local" or (text.startswith("local-") and ":" not in text and not gguf)
    if pinned:
        from langchain_picaco.llm.local.demo_model import PINNED_MODELS  # light: no llama.cpp

        if text not in PINNED_MODELS:
            known = ", ".join(repr(k) for k in PINNED_MODELS)
            raise ConfigError(role, f"{text!r} is not a local model", f"use one of {known}")
        return "pinned"
    return "gguf" if gguf else None


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resources_for(
    value_set: ValueSet, target: str, judge: str = "", proposer: str = ""
) -> Resources:
    """Resources for named models (cached per process, so a server starts once).

    Args:
        value_set: The run's values (the scripted world needs them).
        target: Spec of the model to align.
        judge: Spec of the judge (empty: the target's).
        proposer: Spec of the proposer (empty: the target's).
    """
    judge = judge or target
    proposer = proposer or target
    key = (value_set.model_dump_json(), target, judge, proposer)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        # The scripted world's likelihood stand-in is for tests of likelihood mode; named
        # "scripted" runs (Studio, demos) use sampling mode, as a black-box API would.
        res = _resources(value_set, target, judge, proposer, resolve_model)
        _CACHE[key] = res
        return res


def _resources(
    value_set: ValueSet,
    target: str,
    judge: str,
    proposer: str,
    make: Callable[..., BaseChatModel],
) -> Resources:
    """Resources for three model specs: ``scripted`` from one synthetic world, others by ``make``.

    The likelihood scorer is the target's own (``picaco_likelihood``), if it has one.
    """
    world = None
    models: dict[str, BaseChatModel] = {}
    for role, spec in (("target", target), ("judge", judge), ("proposer", proposer)):
        if spec.strip() == "scripted":
            if world is None:
                from langchain_picaco.testing import SyntheticWorld

                world = SyntheticWorld(value_set)
            models[role] = getattr(world, role)()
        else:
            models[role] = make(spec, role=role)
    hook = getattr(models["target"], "picaco_likelihood", None)
    return Resources(
        target=models["target"],
        judge=models["judge"],
        proposer=models["proposer"],
        likelihood=hook() if callable(hook) else None,
    )


def resources_from_context(context: PicacoContext, value_set: ValueSet) -> Resources:
    """Resources named by a run's context (how LangGraph Studio runs the graph)."""
    return resources_for(value_set, context.target, context.judge, context.proposer)


# ---------------------------------------------------------------------------------- planning
class _NoCallLikelihood:
    """Says a model scores given text (likelihood mode), for planning; never scores anything."""

    def __init__(self, spec: str) -> None:
        self.spec = spec

    async def ascore(self, messages: Sequence[BaseMessage], response: str) -> float:
        raise RuntimeError(f"{self.spec!r} is a planning stand-in: it scores nothing")


class PlannedModel(BaseChatModel):
    """A stand-in for a named model with what planning reads of it, and no way to call it.

    ``picaco plan`` plans the run ``picaco optimize`` would make with the same model options, but
    calls no model and starts no local server: a local GGUF model (``local``, ``local-1.5b``, a
    ``.gguf`` path) scores given text (likelihood selection) and declares its judge protocol; a
    ``provider:model`` (a chat API) does neither, and needs no key to be planned.

    Attributes:
        spec: The model spec it stands for.
        scores_text: Whether the model gives log-probabilities of given text.
        picaco_judge_protocol: The protocol ``judge_protocol="auto"`` uses without a calibration
            (None: the default, rubric).
    """

    spec: str
    scores_text: bool = False
    picaco_judge_protocol: str | None = None

    @property
    def _llm_type(self) -> str:
        return "picaco-planned"

    def picaco_likelihood(self) -> _NoCallLikelihood | None:
        """A scorer that says likelihood mode is available (it never scores), or None."""
        return _NoCallLikelihood(self.spec) if self.scores_text else None

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise RuntimeError(f"{self.spec!r} is a planning stand-in: it cannot be called")


def _planned_model(spec: str, role: str) -> BaseChatModel:
    """The stand-in for ``spec`` (checked as :func:`resolve_model` checks it, without loading)."""
    text = (spec or "").strip()
    kind = _local_kind(text, role)
    pinned, gguf = kind == "pinned", kind == "gguf"
    if pinned or gguf:
        if gguf and not Path(text).expanduser().is_file():
            raise ConfigError(role, f"model file {text!r} does not exist", "pass a .gguf path")
        try:  # the class only: no server starts, no model file is read
            from langchain_picaco.llm.local.chat import ChatLocalLlama
        except ImportError as exc:
            raise MissingDependencyError(f"the local model for --{role}", "local") from exc
        declared = ChatLocalLlama.model_fields["picaco_judge_protocol"].default
        return PlannedModel(spec=text, scores_text=True, picaco_judge_protocol=declared)
    if ":" in text:
        return PlannedModel(spec=text)
    if text == "scripted":
        raise ConfigError(role, "'scripted' needs a value set", "use planning_resources(...)")
    return resolve_model(text, role=role)  # raises the ConfigError naming the accepted forms


def planning_resources(
    value_set: ValueSet, target: str, judge: str = "", proposer: str = ""
) -> Resources:
    """Resources for planning a run with named models: nothing is called or started.

    ``scripted`` gives the synthetic world's models (as :func:`resources_for` does); other specs
    give :class:`PlannedModel` stand-ins with the capabilities the real models would have, so
    the plan's selection mode, judge protocol and calls are those of the run.

    Args:
        value_set: The run's values.
        target: Spec of the model to align.
        judge: Spec of the judge (empty: the target's).
        proposer: Spec of the proposer (empty: the target's).
    """
    return _resources(value_set, target, judge or target, proposer or target, _planned_model)
