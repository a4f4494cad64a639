"""PicacoRunnable: put a meta-instruction into any chain (LCEL), RAG chains included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import field_validator

from langchain_picaco.errors import PicacoInputError
from langchain_picaco.inject.merge import MergeMemo, Position, check_instruction, check_position
from langchain_picaco.instruction import MetaInstruction

__all__ = ["LEGACY_LC_IDS", "PicacoRunnable", "to_messages", "with_meta_instruction"]

# One memo for every PicacoRunnable: its keys hold the instruction and position, so instances
# never see each other's merges (a pydantic private attribute would cost more than the merge).
_MEMO = MergeMemo(size=256)


def to_messages(value: Any) -> list[BaseMessage]:
    """Coerce any chat-model input to a list of messages.

    Accepts a string (one human message), a ``PromptValue``, a list of messages or message-like
    values (``BaseMessage``, ``("role", "text")`` tuples, ``{"role": ..., "content": ...}`` dicts,
    strings), or a dict with a ``"messages"`` key holding such a list.

    Raises:
        PicacoInputError: For any other input.
    """
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, Mapping):
        if "messages" not in value:
            raise PicacoInputError(
                "input",
                f"is a dict without a 'messages' key (keys: {sorted(map(str, value))})",
                "pass a dict with 'messages', a string, a list of messages or a PromptValue",
            )
        return to_messages(value["messages"])
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, Sequence):
        try:
            return convert_to_messages(value)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise PicacoInputError(
                "input", f"holds an item that is not a message ({exc})", "pass chat messages"
            ) from None
    raise PicacoInputError(
        "input",
        f"is a {type(value).__name__}",
        "pass a string, a list of messages, a PromptValue or a dict with 'messages'",
    )


LEGACY_LC_IDS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("langchain_picaco", "runnables", "PicacoRunnable"): ("langchain_picaco", "PicacoRunnable"),
}
"""Serialised ids of earlier releases -> today's, for ``langchain_core.load.load(...,
additional_import_mappings=LEGACY_LC_IDS)``."""


class PicacoRunnable(RunnableSerializable[LanguageModelInput, ChatPromptValue]):
    """Merge a meta-instruction into the system message of any chat-model input.

    The output is a ``ChatPromptValue`` with exactly one merged system message: the first
    incoming system message gets the instruction (the user's own text is kept), or a system
    message is inserted at the front when there is none. All other messages pass through
    untouched. It sits between a prompt and a model, so it fits any chain.

    Example:
        .. code-block:: python

            from langchain_core.prompts import ChatPromptTemplate
            from langchain_picaco import MetaInstruction, PicacoRunnable

            mi = MetaInstruction.load("hh.json")
            prompt = ChatPromptTemplate.from_messages(
                [("system", "Answer from the context: {context}"), ("human", "{question}")]
            )
            chain = prompt | PicacoRunnable(mi) | model
            chain.invoke({"context": "...", "question": "..."})

            # Swap the instruction per call:
            from langchain_core.runnables import ConfigurableField

            picaco = PicacoRunnable(mi).configurable_fields(
                instruction=ConfigurableField(id="instruction")
            )
            (picaco | model).invoke("Hi", config={"configurable": {"instruction": "Be brief."}})

    Attributes:
        instruction: The meta-instruction text.
        position: ``"prepend"`` (default), ``"append"`` or ``"replace"`` the user's system text.
        value_set_name: Name of the value set the instruction was made for (metadata only).
    """

    instruction: str
    position: Position = "prepend"
    value_set_name: str | None = None

    _lc_namespace: ClassVar[list[str]] = ["langchain_picaco"]

    def __init__(self, instruction: MetaInstruction | str | None = None, **kwargs: Any) -> None:
        """Create the runnable.

        Args:
            instruction: A ``MetaInstruction`` (its text and value-set name are used) or a string.
            **kwargs: ``position``, ``value_set_name``, and the usual Runnable fields (``name``).

        Raises:
            PicacoInputError: For a missing or empty instruction or an unknown position.
        """
        if isinstance(instruction, MetaInstruction):
            kwargs["value_set_name"] = instruction.value_set.name
            instruction = instruction.text
        if instruction is None:
            raise PicacoInputError(
                "instruction", "is missing", "pass a MetaInstruction or a non-empty string"
            )
        kwargs["instruction"] = check_instruction(instruction)
        if "position" in kwargs:
            check_position(kwargs["position"])
        super().__init__(**kwargs)

    @field_validator("instruction")
    @classmethod
    def _strip_instruction(cls, v: str) -> str:
        return check_instruction(v)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Return True: the runnable round-trips through ``dumpd``/``load``."""
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """Return ``["langchain_picaco"]``: the class loads from the top-level package.

        A serialised id that does not name the module the class lives in survives a move of
        that module. Payloads written by 0.1 (id ``langchain_picaco.runnables.PicacoRunnable``)
        load with ``additional_import_mappings=LEGACY_LC_IDS``.
        """
        return list(cls._lc_namespace)

    def merge(self, value: LanguageModelInput | Mapping[str, Any]) -> ChatPromptValue:
        """Merge the instruction into an input without callbacks (what ``invoke`` runs).

        Args:
            value: Any chat-model input (see :func:`to_messages`).

        Returns:
            The prompt with the instruction merged into its one system message.
        """
        messages = _MEMO.merge_into(to_messages(value), self.instruction, self.position)
        # Every item is a message built or passed through above: no need to validate again.
        return ChatPromptValue.model_construct(messages=messages)

    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ChatPromptValue:
        """Merge the instruction into ``input``; traced as a run named ``PicacoRunnable``.

        Inside a chain whose callback manager has no handler at all (nothing would receive the
        run's events), the merge runs directly; otherwise it goes through the callback manager.
        """
        if _nobody_listens(config):
            return self.merge(input)
        return self._call_with_config(self.merge, input, config)

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ChatPromptValue:
        """Async :meth:`invoke` (the merge itself is pure CPU work, so no thread hop)."""
        if _nobody_listens(config):
            return self.merge(input)
        return await self._acall_with_config(self._amerge, input, config)

    async def _amerge(self, value: LanguageModelInput) -> ChatPromptValue:
        return self.merge(value)


def _nobody_listens(config: RunnableConfig | None) -> bool:
    """True when ``config`` carries a callback manager without any handler.

    A chain passes each step a child manager; when the chain itself has no handler (no tracer, no
    user callback), starting and ending a run for this step would notify no one. A top-level call
    (no manager yet) always goes through the full path, where environment tracers are attached.
    """
    if not config:
        return False
    callbacks = config.get("callbacks")
    return isinstance(callbacks, BaseCallbackManager) and not callbacks.handlers


def with_meta_instruction(
    model_or_chain: Runnable[Any, Any],
    instruction: MetaInstruction | str,
    *,
    position: Position = "prepend",
) -> Runnable[LanguageModelInput, Any]:
    """Wrap a chat model (or a chain that takes chat-model input) so it gets a meta-instruction.

    Equivalent to ``PicacoRunnable(instruction, position=position) | model_or_chain``.

    Example:
        .. code-block:: python

            aligned = with_meta_instruction(model, MetaInstruction.load("hh.json"))
            aligned.invoke([("system", "You are a tutor."), ("human", "Explain tides.")])

    Args:
        model_or_chain: A chat model, or any runnable that accepts a ``ChatPromptValue``.
        instruction: A ``MetaInstruction`` or its text.
        position: ``"prepend"`` (default), ``"append"`` or ``"replace"``.

    Returns:
        The composed runnable.
    """
    if not isinstance(model_or_chain, Runnable):
        raise PicacoInputError(
            "model_or_chain",
            f"is a {type(model_or_chain).__name__}, not a Runnable",
            "pass a chat model or a chain",
        )
    return PicacoRunnable(instruction, position=position) | model_or_chain
