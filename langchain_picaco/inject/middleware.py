"""PicacoMiddleware: put a meta-instruction into any LangChain v1 agent (``create_agent``).

``langchain`` (the ``agents`` extra) is imported only when ``PicacoMiddleware`` is first looked up,
so ``import langchain_picaco`` stays light and works without it. Without the extra, the name
still imports; constructing the middleware raises
:class:`~langchain_picaco.errors.MissingDependencyError`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import SystemMessage

from langchain_picaco.errors import MissingDependencyError, PicacoInputError
from langchain_picaco.inject.merge import (
    MergeMemo,
    Position,
    check_instruction,
    check_position,
    merge_system_message,
)

if TYPE_CHECKING:
    from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse

    from langchain_picaco.instruction import MetaInstruction

__all__ = ["PicacoMiddleware"]

_FEATURE = "PicacoMiddleware"
_EXTRA = "agents"
_BUILD_LOCK = threading.Lock()


def _text_of(instruction: Any, field: str) -> str:
    text = getattr(instruction, "text", instruction)  # a MetaInstruction, or a string
    return check_instruction(text, field=field)


class _PicacoMiddlewareLogic:
    """The middleware's behaviour, independent of the ``langchain`` base class."""

    instruction: str | None
    position: Position
    profiles: dict[str, str]
    context_key: str

    def __init__(
        self,
        instruction: MetaInstruction | str | None = None,
        *,
        position: Position = "prepend",
        profiles: Mapping[str, MetaInstruction | str] | None = None,
        context_key: str = "value_profile",
    ) -> None:
        super().__init__()
        self.instruction = None if instruction is None else _text_of(instruction, "instruction")
        self.position = check_position(position)
        self.profiles = {}
        for name, item in (profiles or {}).items():
            if not isinstance(name, str) or not name:
                raise PicacoInputError(
                    "profiles", f"has a key {name!r}", "name every profile with a non-empty string"
                )
            self.profiles[name] = _text_of(item, f"profiles[{name!r}]")
        if not isinstance(context_key, str) or not context_key:
            raise PicacoInputError(
                "context_key", f"is {context_key!r}", "pass the context field naming the profile"
            )
        self.context_key = context_key
        self._memo = MergeMemo()

    # ------------------------------------------------------------------ resolution
    def _profile_name(self, runtime: Any) -> str | None:
        context = getattr(runtime, "context", None)
        if context is None:
            return None
        if isinstance(context, Mapping):
            name = context.get(self.context_key)
        else:
            name = getattr(context, self.context_key, None)
        if name is None or name == "":
            return None
        if not isinstance(name, str):
            raise PicacoInputError(
                f"context.{self.context_key}",
                f"is a {type(name).__name__}, not a profile name",
                f"pass one of: {self._known()}",
            )
        return name

    def _known(self) -> str:
        return ", ".join(repr(n) for n in sorted(self.profiles)) or "(no profiles configured)"

    def resolve(self, runtime: Any) -> str | None:
        """Return the instruction for one model call, or ``None`` to pass the call through.

        The profile named by ``runtime.context[context_key]`` (a dict key or an attribute) wins;
        otherwise the default instruction is used.

        Raises:
            PicacoInputError: If the context names a profile that does not exist.
        """
        name = self._profile_name(runtime)
        if name is None:
            return self.instruction
        try:
            return self.profiles[name]
        except KeyError:
            raise PicacoInputError(
                f"context.{self.context_key}",
                f"names the unknown value profile {name!r} (known: {self._known()})",
                "pass a known profile name or add it to PicacoMiddleware(profiles=...)",
            ) from None

    def _merged(self, request: ModelRequest[Any], text: str) -> ModelRequest[Any]:
        if request.system_message is not None:
            merged = self._memo.merged(request.system_message, text, self.position)
            return request.override(system_message=merged)
        # No agent system prompt: a system message may sit in the conversation itself; merge into
        # it rather than adding a second one.
        for i, message in enumerate(request.messages):
            if isinstance(message, SystemMessage):
                messages = list(request.messages)
                messages[i] = merge_system_message(message, text, self.position)
                return request.override(messages=messages)
        return request.override(system_message=self._memo.merged(None, text, self.position))

    def prepare(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        """Return the request with the meta-instruction merged into its system message.

        Returns the same request when no instruction applies (no profile and no default).
        """
        text = self.resolve(request.runtime)
        return request if text is None else self._merged(request, text)

    # ------------------------------------------------------------------ hooks
    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Merge the meta-instruction into the system message, then call the model."""
        return handler(self.prepare(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async :meth:`wrap_model_call`."""
        return await handler(self.prepare(request))


_DOC = """LangChain v1 agent middleware that merges a meta-instruction into every model call.

    The instruction is merged into the agent's system message (``system_prompt``), keeping the
    user's own text and never adding a second system message. Per call, an instruction can be
    picked from ``runtime.context`` (per-user value profiles); without a profile and without a
    default instruction, the call passes through unchanged. Needs the ``agents`` extra.

    Example:
        .. code-block:: python

            from langchain.agents import create_agent
            from langchain_picaco import MetaInstruction, PicacoMiddleware

            mi = MetaInstruction.load("hh.json")
            agent = create_agent(
                model, tools=[], system_prompt="You are a librarian.",
                middleware=[PicacoMiddleware(mi, profiles={"kids": kids_mi})],
            )
            agent.invoke({"messages": [("user", "Hi")]}, context={"value_profile": "kids"})

    Args:
        instruction: The default meta-instruction (a ``MetaInstruction`` or text), or ``None``.
        position: ``"prepend"`` (default), ``"append"`` or ``"replace"`` the agent's system text.
        profiles: Named instructions, chosen per call by ``runtime.context[context_key]``.
        context_key: The context field (dict key or attribute) naming the profile.

    Raises:
        MissingDependencyError: When constructed without ``langchain`` installed.
        PicacoInputError: For an empty instruction, an unknown position, or (per call) an unknown
            profile name.
    """


def _build_class() -> type:
    try:
        from langchain.agents.middleware import AgentMiddleware as _AgentMiddleware
    except ImportError as exc:
        cause = exc

        class _MissingPicacoMiddleware:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise MissingDependencyError(_FEATURE, _EXTRA) from cause

        _MissingPicacoMiddleware.__name__ = _MissingPicacoMiddleware.__qualname__ = _FEATURE
        _MissingPicacoMiddleware.__module__ = __name__
        _MissingPicacoMiddleware.__doc__ = _DOC
        return _MissingPicacoMiddleware

    return type(
        _FEATURE,
        (_PicacoMiddlewareLogic, _AgentMiddleware),
        {"__module__": __name__, "__qualname__": _FEATURE, "__doc__": _DOC},
    )


if TYPE_CHECKING:

    class PicacoMiddleware(_PicacoMiddlewareLogic, AgentMiddleware[Any, Any, Any]):  # noqa: D101
        pass

else:

    def __getattr__(name: str) -> Any:
        if name != _FEATURE:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        with _BUILD_LOCK:  # one class per process, even if first looked up from two threads
            cls = globals().get(_FEATURE)
            if cls is None:
                cls = globals()[_FEATURE] = _build_class()
        return cls

    def __dir__() -> list[str]:
        return sorted({*globals(), _FEATURE})
