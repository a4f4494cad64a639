"""The one merge rule shared by PicacoRunnable and PicacoMiddleware."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langchain_picaco._merge import (
    merge_content,
    merge_instruction,
    merge_into_messages,
    merge_system_message,
)
from langchain_picaco.errors import PicacoInputError

MI = "Weigh honesty, care and autonomy together."
USER = "You are a librarian.\nAnswer from the context."


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("prepend", f"{MI}\n\n{USER}"),
        ("append", f"{USER}\n\n{MI}"),
        ("replace", MI),
    ],
)
def test_positions(position: str, expected: str) -> None:
    assert merge_instruction(USER, MI, position) == expected


@pytest.mark.parametrize("position", ["prepend", "append", "replace"])
@pytest.mark.parametrize("system_text", [None, "", "  \n "])
def test_no_user_text_gives_instruction_only(system_text: str | None, position: str) -> None:
    assert merge_instruction(system_text, MI, position) == MI


@pytest.mark.parametrize("position", ["prepend", "append", "replace"])
def test_idempotent(position: str) -> None:
    once = merge_instruction(USER, MI, position)
    assert merge_instruction(once, MI, position) == once
    assert once.count(MI) == 1


def test_already_present_anywhere_is_not_added_again() -> None:
    text = f"{USER}\n{MI}\nMore."
    assert merge_instruction(text, MI, "prepend") == text


def test_instruction_whitespace_is_ignored() -> None:
    assert merge_instruction(USER, f"  {MI}\n", "prepend") == f"{MI}\n\n{USER}"


def test_user_text_is_kept_verbatim() -> None:
    user = "  indented\n\ntext with {braces}  "
    assert merge_instruction(user, MI, "append") == f"{user}\n\n{MI}"


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_empty_or_non_text_instruction_rejected(bad: object) -> None:
    with pytest.raises(PicacoInputError) as err:
        merge_instruction(USER, bad, "prepend")  # type: ignore[arg-type]
    assert err.value.field == "instruction"


def test_unknown_position_rejected() -> None:
    with pytest.raises(PicacoInputError, match="position") as err:
        merge_instruction(USER, MI, "middle")
    assert "prepend" in err.value.fix


# ---------------------------------------------------------------- content blocks
BLOCKS = [
    {"type": "text", "text": "You are a librarian.", "cache_control": {"type": "ephemeral"}},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
]


def test_blocks_prepend_adds_a_text_block_first_and_keeps_the_rest() -> None:
    merged = merge_content(list(BLOCKS), MI, "prepend")
    assert merged == [{"type": "text", "text": MI}, *BLOCKS]


def test_blocks_append_adds_a_text_block_last() -> None:
    merged = merge_content(list(BLOCKS), MI, "append")
    assert merged == [*BLOCKS, {"type": "text", "text": MI}]


def test_blocks_replace_gives_instruction_only() -> None:
    assert merge_content(list(BLOCKS), MI, "replace") == MI


def test_blocks_input_is_not_mutated_and_merge_is_idempotent() -> None:
    original = [dict(b) for b in BLOCKS]
    once = merge_content(original, MI, "prepend")
    assert original == BLOCKS
    twice = merge_content(once, MI, "prepend")
    assert twice == once
    assert sum(1 for b in twice if isinstance(b, dict) and b.get("text") == MI) == 1


def test_blocks_with_bare_strings() -> None:
    assert merge_content(["Hello", MI], MI, "prepend") == ["Hello", MI]
    assert merge_content(["Hello"], MI, "append") == ["Hello", {"type": "text", "text": MI}]


def test_empty_block_list_gives_instruction() -> None:
    assert merge_content([], MI, "prepend") == MI


# ---------------------------------------------------------------- messages
def test_system_message_copy_keeps_metadata() -> None:
    sm = SystemMessage(
        content=USER, id="sys-1", name="policy", additional_kwargs={"k": 1}, response_metadata={}
    )
    out = merge_system_message(sm, MI, "append")
    assert out is not sm
    assert out.content == f"{USER}\n\n{MI}"
    assert (out.id, out.name, out.additional_kwargs) == ("sys-1", "policy", {"k": 1})
    assert sm.content == USER


def test_merge_into_messages_first_system_only_others_same_objects() -> None:
    h = HumanMessage(content="q", id="h1")
    s1 = SystemMessage(content="first")
    a = AIMessage(content="a", id="a1")
    s2 = SystemMessage(content="second")
    out = merge_into_messages([h, s1, a, s2], MI, "prepend")
    assert [type(m) for m in out] == [HumanMessage, SystemMessage, AIMessage, SystemMessage]
    assert out[0] is h and out[2] is a and out[3] is s2
    assert out[1].content == f"{MI}\n\nfirst"


def test_merge_into_messages_inserts_one_at_front_when_none() -> None:
    h = HumanMessage(content="q")
    out = merge_into_messages([h], MI, "append")
    assert len(out) == 2
    assert isinstance(out[0], SystemMessage) and out[0].content == MI
    assert out[1] is h
