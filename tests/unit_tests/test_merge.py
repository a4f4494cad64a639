"""The one merge rule shared by PicacoRunnable and PicacoMiddleware."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langchain_picaco.errors import PicacoInputError
from langchain_picaco.inject.merge import (
    MergeMemo,
    merge_content,
    merge_instruction,
    merge_into_messages,
    merge_system_message,
)

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


# --------------------------------------------------------------------------- MergeMemo
def test_memo_gives_the_same_result_as_the_plain_merge() -> None:
    memo = MergeMemo()
    for position in ("prepend", "append", "replace"):
        for content in ("You are a guide.", ""):
            plain = merge_system_message(SystemMessage(content=content), "Be kind.", position)
            assert memo.merged(SystemMessage(content=content), "Be kind.", position) == plain
        assert memo.merged(None, "Be kind.", position) == merge_system_message(
            None, "Be kind.", position
        )


def test_memo_reuses_the_merged_message_for_repeated_plain_text() -> None:
    memo = MergeMemo()
    first = memo.merged(SystemMessage(content="You are a guide."), "Be kind.")
    again = memo.merged(SystemMessage(content="You are a guide."), "Be kind.")
    assert again is first
    # Another instruction or position is another entry.
    other = memo.merged(SystemMessage(content="You are a guide."), "Be brief.")
    assert other is not first and other.content.startswith("Be brief.")
    appended = memo.merged(SystemMessage(content="You are a guide."), "Be kind.", "append")
    assert appended.content == "You are a guide.\n\nBe kind."


def test_memo_never_hands_out_a_message_changed_after_it_left() -> None:
    memo = MergeMemo()
    first = memo.merged(SystemMessage(content="You are a guide."), "Be kind.")
    first.id = "assigned-by-a-reducer"
    second = memo.merged(SystemMessage(content="You are a guide."), "Be kind.")
    assert second is not first and second.id is None
    second.content = "edited"
    third = memo.merged(SystemMessage(content="You are a guide."), "Be kind.")
    assert third.content == "Be kind.\n\nYou are a guide."


def test_memo_leaves_messages_with_extra_fields_alone() -> None:
    memo = MergeMemo()
    named = SystemMessage(content="Guide.", name="sys", id="m1", additional_kwargs={"k": 1})
    a = memo.merged(named, "Be kind.")
    b = memo.merged(named, "Be kind.")
    assert a is not b and a == b
    assert (a.name, a.id, a.additional_kwargs) == ("sys", "m1", {"k": 1})
    blocks = SystemMessage(content=[{"type": "text", "text": "Guide."}])
    merged = memo.merged(blocks, "Be kind.")
    assert merged.content == [
        {"type": "text", "text": "Be kind."},
        {"type": "text", "text": "Guide."},
    ]


def test_memo_returns_an_already_merged_message_itself_and_stays_bounded() -> None:
    memo = MergeMemo(size=3)
    done = SystemMessage(content="Be kind.\n\nGuide.")
    assert memo.merged(done, "Be kind.") is done
    for i in range(10):
        memo.merged(SystemMessage(content=f"Guide {i}."), "Be kind.")
    assert len(memo._items) <= 3


def test_memo_merge_into_matches_merge_into_messages() -> None:
    memo = MergeMemo()
    convo = [HumanMessage(content="hi"), SystemMessage(content="Guide."), AIMessage(content="yo")]
    assert memo.merge_into(convo, "Be kind.") == merge_into_messages(convo, "Be kind.")
    assert memo.merge_into(convo[:1], "Be kind.") == merge_into_messages(convo[:1], "Be kind.")
    with pytest.raises(PicacoInputError, match="instruction"):
        memo.merged(SystemMessage(content="Guide."), "   ")
