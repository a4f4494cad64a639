"""The one merge rule both injection surfaces share (the Runnable and the agent middleware).

A meta-instruction is merged into the user's own system text, never placed in a second, competing
system message. ``merge_instruction`` works on plain text; ``merge_content`` extends the same
rule to LangChain message content (a string or a list of content blocks);
``merge_into_messages`` applies it to a message list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

from langchain_core.messages import BaseMessage, SystemMessage

from langchain_picaco.errors import PicacoInputError

__all__ = [
    "POSITIONS",
    "MergeMemo",
    "Position",
    "check_instruction",
    "check_position",
    "merge_content",
    "merge_instruction",
    "merge_into_messages",
    "merge_system_message",
]

Position = Literal["prepend", "append", "replace"]
"""Where the meta-instruction goes relative to the user's own system text."""

POSITIONS: tuple[str, ...] = get_args(Position)

_SEPARATOR = "\n\n"


def check_position(position: str) -> Position:
    """Validate a position name.

    Raises:
        PicacoInputError: If ``position`` is not one of ``prepend``, ``append``, ``replace``.
    """
    if position not in POSITIONS:
        raise PicacoInputError(
            "position", f"is {position!r}", f"use one of {', '.join(repr(p) for p in POSITIONS)}"
        )
    return position  # type: ignore[return-value]


def check_instruction(instruction: Any, *, field: str = "instruction") -> str:
    """Validate an instruction text and return it stripped.

    Raises:
        PicacoInputError: If it is not a string or is empty.
    """
    if not isinstance(instruction, str):
        raise PicacoInputError(
            field,
            f"is a {type(instruction).__name__}, not text",
            "pass a MetaInstruction or a non-empty string",
        )
    text = instruction.strip()
    if not text:
        raise PicacoInputError(field, "is empty", "pass a non-empty meta-instruction")
    return text


def merge_instruction(system_text: str | None, instruction: str, position: str = "prepend") -> str:
    """Merge a meta-instruction into the user's system text.

    ``prepend`` gives the instruction, a blank line, then the user's text; ``append`` the reverse;
    ``replace`` the instruction only. The merge is idempotent: when the instruction is already in
    the system text, the text comes back unchanged (so stacking two injections adds it once).

    Example:
        .. code-block:: python

            merge_instruction("You are a librarian.", "Be honest and kind.")
            # -> "Be honest and kind." + blank line + "You are a librarian."

    Args:
        system_text: The user's own system text, or ``None`` when there is none.
        instruction: The meta-instruction (surrounding whitespace is ignored).
        position: ``"prepend"`` (default), ``"append"`` or ``"replace"``.

    Returns:
        The merged system text.

    Raises:
        PicacoInputError: For an empty instruction or an unknown position.
    """
    instruction = check_instruction(instruction)
    check_position(position)
    if position == "replace" or system_text is None or not system_text.strip():
        return instruction
    if instruction in system_text:
        return system_text
    if position == "prepend":
        return instruction + _SEPARATOR + system_text
    return system_text + _SEPARATOR + instruction


def _block_text(block: Any) -> str | None:
    if isinstance(block, str):
        return block
    if isinstance(block, dict) and block.get("type") == "text":
        text = block.get("text")
        return text if isinstance(text, str) else None
    return None


def merge_content(
    content: str | list[Any] | None, instruction: str, position: str = "prepend"
) -> str | list[Any]:
    """Merge a meta-instruction into message content (text or a list of content blocks).

    Text content follows :func:`merge_instruction`. For a list of blocks (multimodal content,
    provider cache markers, ...), a text block holding the instruction is put first (``prepend``)
    or last (``append``) and every other block is kept as it is; ``replace`` gives the instruction
    text alone. If any text block already contains the instruction, the content comes back
    unchanged.

    Args:
        content: The system message's content, or ``None`` when there is none.
        instruction: The meta-instruction.
        position: ``"prepend"``, ``"append"`` or ``"replace"``.

    Returns:
        The merged content, of the same kind as the input (a new list, never the input mutated).
    """
    if content is None or isinstance(content, str):
        return merge_instruction(content, instruction, position)
    instruction = check_instruction(instruction)
    check_position(position)
    if position == "replace" or not content:
        return instruction
    texts = (_block_text(b) for b in content)
    if any(t is not None and instruction in t for t in texts):
        return list(content)
    block: dict[str, Any] = {"type": "text", "text": instruction}
    return [block, *content] if position == "prepend" else [*content, block]


def merge_system_message(
    message: SystemMessage | None, instruction: str, position: str = "prepend"
) -> SystemMessage:
    """Return a copy of ``message`` with the instruction merged in (or a new one if ``None``).

    The copy keeps the message's ``id``, ``name``, ``additional_kwargs`` and
    ``response_metadata``; the original is not modified.
    """
    if message is None:
        return SystemMessage(content=merge_instruction(None, instruction, position))
    merged = merge_content(message.content, instruction, position)
    if merged == message.content:
        return message
    return message.model_copy(update={"content": merged})


def merge_into_messages(
    messages: Sequence[BaseMessage],
    instruction: str,
    position: str = "prepend",
    *,
    merge: Callable[[SystemMessage | None, str, str], SystemMessage] = merge_system_message,
) -> list[BaseMessage]:
    """Merge the instruction into the first system message of a list, or insert one at the front.

    Only the first system message changes; any other system messages and all other messages are
    passed through as the same objects.

    Args:
        messages: The conversation (not modified).
        instruction: The meta-instruction.
        position: ``"prepend"``, ``"append"`` or ``"replace"``.
        merge: How one system message is merged (default :func:`merge_system_message`;
            :meth:`MergeMemo.merged` reuses earlier merges).

    Returns:
        A new list with exactly one merged system message.
    """
    out = list(messages)
    for i, msg in enumerate(out):
        if isinstance(msg, SystemMessage):
            out[i] = merge(msg, instruction, position)
            return out
    out.insert(0, merge(None, instruction, position))
    return out


def _plain(message: SystemMessage) -> bool:
    """True for a message that is its content alone: no id, name or extra fields."""
    return (
        message.id is None
        and message.name is None
        and not message.additional_kwargs
        and not message.response_metadata
    )


class MergeMemo:
    """Reuses merged system messages when the same plain system text is merged again.

    A chain's prompt template builds a fresh system message with the same text on every call,
    and an agent passes the very same message object every time; merging the instruction into
    it again and again builds the same message. The memo keeps the merged message per (system
    text, instruction, position) for plain messages (text content, no id, name, or extra
    fields) and hands it back while it is still pristine: a message that someone changed after
    it left (an id assigned by a graph's reducer, say) is never handed out again, a fresh one
    is built instead. Anything else is merged without the memo. At most ``size`` entries are
    kept; the memo starts over when full.
    """

    __slots__ = ("_items", "_size")

    def __init__(self, size: int = 64) -> None:
        """Create an empty memo holding at most ``size`` merged messages."""
        self._items: dict[tuple[str | None, str, str], tuple[SystemMessage, str]] = {}
        self._size = size

    def merged(
        self, message: SystemMessage | None, instruction: str, position: str = "prepend"
    ) -> SystemMessage:
        """Same result as :func:`merge_system_message`, reused for repeated plain messages."""
        if message is None:
            key: tuple[str | None, str, str] = (None, instruction, position)
        elif (
            type(message) is SystemMessage and isinstance(message.content, str) and _plain(message)
        ):
            key = (message.content, instruction, position)
        else:
            return merge_system_message(message, instruction, position)
        hit = self._items.get(key)
        if hit is not None:
            cached, content = hit
            if cached.content is content and _plain(cached):
                return cached
        result = merge_system_message(message, instruction, position)
        if result is message:  # already merged: nothing new to remember
            return result
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[key] = (result, result.content)  # type: ignore[assignment]
        return result

    def merge_into(
        self, messages: Sequence[BaseMessage], instruction: str, position: str = "prepend"
    ) -> list[BaseMessage]:
        """Same result as :func:`merge_into_messages`, using the memo for the system message."""
        return merge_into_messages(messages, instruction, position, merge=self.merged)
