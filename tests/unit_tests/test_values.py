"""Tests for langchain_picaco.values.value_sets: Value / ValueSet, shipped sets, loaders."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from langchain_picaco.errors import ValueSetError
from langchain_picaco.values.value_sets import (
    MAX_VALUES,
    Value,
    ValueSet,
    list_value_sets,
    load_value_set,
)

# The membership the design doc (picaco-method.md) fixes for each shipped set.
EXPECTED_MEMBERS = {
    "helpfulness-4": ["informativeness", "relevance", "clarity", "actionability"],
    "harmlessness-4": ["non-toxicity", "fairness", "privacy", "safety-and-legality"],
    "hh-balance-8": [
        "informativeness",
        "relevance",
        "clarity",
        "actionability",
        "non-toxicity",
        "fairness",
        "privacy",
        "safety-and-legality",
    ],
    "confucianism-4": ["tradition", "conformity", "benevolence", "security"],
    "modern-liberalism-4": ["self-direction", "universalism", "stimulation", "hedonism"],
    "schwartz-10": [
        "self-direction",
        "stimulation",
        "hedonism",
        "achievement",
        "power",
        "security",
        "conformity",
        "tradition",
        "benevolence",
        "universalism",
    ],
}


def _value(name: str, description: str = "A description.", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, **extra}


def _set(*values: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "test-set", "description": "A test set.", "values": list(values), **extra}


# -- shipped sets --------------------------------------------------------------------------------


def test_list_value_sets_is_sorted_and_complete() -> None:
    names = list_value_sets()
    assert names == sorted(names)
    assert set(names) == set(EXPECTED_MEMBERS)


@pytest.mark.parametrize("name", sorted(EXPECTED_MEMBERS))
def test_shipped_set_has_expected_members(name: str) -> None:
    vs = load_value_set(name)
    assert vs.name == name
    assert vs.names == EXPECTED_MEMBERS[name]
    assert len(vs) == len(EXPECTED_MEMBERS[name])
    assert int(name.rsplit("-", 1)[1]) == len(vs)
    # one sentence describing the set
    assert vs.description.endswith(".")
    assert vs.description.count(". ") == 0


@pytest.mark.parametrize("name", sorted(EXPECTED_MEMBERS))
def test_shipped_values_follow_the_writing_rules(name: str) -> None:
    for value in load_value_set(name):
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", value.name), value.name
        words = len(value.description.split())
        assert 60 <= words <= 110, (value.name, words)
        assert "\n" not in value.description
        assert value.weight == 1.0


def test_same_value_name_has_same_description_in_every_set() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for set_name in list_value_sets():
        for value in load_value_set(set_name):
            if value.name in seen:
                first_set, description = seen[value.name]
                assert value.description == description, (value.name, first_set, set_name)
            else:
                seen[value.name] = (set_name, value.description)
    assert len(seen) == 18  # 8 helpful/harmless values + the 10 Schwartz values


def test_hh_balance_is_the_verbatim_union() -> None:
    union = list(load_value_set("helpfulness-4")) + list(load_value_set("harmlessness-4"))
    assert list(load_value_set("hh-balance-8")) == union


def test_load_is_case_insensitive_and_passes_value_sets_through() -> None:
    vs = load_value_set("  HH-Balance-8 ")
    assert vs.name == "hh-balance-8"
    assert load_value_set(vs) is vs


def test_unknown_name_lists_shipped_names() -> None:
    with pytest.raises(ValueSetError) as info:
        load_value_set("confucianism-5")
    assert info.value.field == "confucianism-5"
    for name in list_value_sets():
        assert name in info.value.fix


def test_wrong_argument_type_is_a_value_set_error() -> None:
    with pytest.raises(ValueSetError) as info:
        load_value_set(42)  # type: ignore[arg-type]
    assert info.value.field == "name_or_path"


# -- the models ----------------------------------------------------------------------------------


def test_value_strips_and_accepts_positional_arguments() -> None:
    value = Value("  tradition ", "  Keeps customs.  ", 2)
    assert (value.name, value.description, value.weight) == ("tradition", "Keeps customs.", 2.0)
    assert Value(name="a", description="b") == Value("a", "b", 1.0)


def test_models_are_frozen_and_hashable() -> None:
    vs = load_value_set("confucianism-4")
    with pytest.raises(ValidationError):
        vs.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        vs.values[0].weight = 3.0  # type: ignore[misc]
    assert isinstance(vs.values, tuple)
    assert hash(vs) == hash(load_value_set("confucianism-4"))


def test_container_helpers() -> None:
    vs = ValueSet("pair", [Value("Tradition", "Keeps customs."), Value("power", "Seeks status.")])
    assert [v.name for v in vs] == ["Tradition", "power"]
    assert len(vs) == 2
    assert vs.get("tradition").name == "Tradition"
    assert vs.get(" POWER ").description == "Seeks status."
    assert "tradition" in vs and "hedonism" not in vs
    with pytest.raises(KeyError) as info:
        vs.get("hedonism")
    assert "Tradition" in str(info.value) and "power" in str(info.value)


def test_normalized_weights_sum_to_one_and_keep_ratios() -> None:
    vs = ValueSet("w", [Value("a", "x", 1.0), Value("b", "x", 3.0), Value("c", "x", 4.0)])
    weights = vs.normalized_weights()
    assert list(weights) == ["a", "b", "c"]
    assert math.isclose(sum(weights.values()), 1.0)
    assert weights == pytest.approx({"a": 0.125, "b": 0.375, "c": 0.5})


def test_describe_and_value_text() -> None:
    vs = load_value_set("modern-liberalism-4")
    lines = vs.describe().splitlines()
    assert len(lines) == len(vs)
    for line, value in zip(lines, vs, strict=True):
        assert line == f"- {value.name}: {value.description}"
    text = vs.value_text()
    for value in vs:
        assert value.name in text and value.description in text
    assert not text.startswith("-")


def test_dict_and_model_dump_round_trips() -> None:
    vs = ValueSet("mixed", [Value("a", "first", 0.5), Value("b", "second")], "Two values.")
    data = vs.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert ValueSet.from_dict(data) == vs
    assert ValueSet.model_validate(vs.model_dump()) == vs
    assert ValueSet.model_validate_json(vs.model_dump_json()) == vs


def test_json_file_round_trip_and_load_by_path(tmp_path: Path) -> None:
    original = load_value_set("schwartz-10")
    path = original.save(tmp_path / "sets" / "copy.json")
    assert load_value_set(path) == original
    assert load_value_set(str(path)) == original
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps(_set(_value("care", "Looks after people.", weight=2))))
    loaded = load_value_set(custom)
    assert loaded.names == ["care"] and loaded.values[0].weight == 2.0


def test_direct_construction_raises_pydantic_error() -> None:
    with pytest.raises(ValidationError):
        ValueSet("dup", [Value("a", "x"), Value("A", "y")])


# -- typed errors with exact field paths ---------------------------------------------------------

BAD_SETS = {
    "no values": (_set(), "values"),
    "too many values": (_set(*[_value(f"v{i}") for i in range(MAX_VALUES + 1)]), "values"),
    "values not a list": ({"name": "s", "values": "tradition"}, "values"),
    "missing values": ({"name": "s"}, "values"),
    "missing set name": ({"values": [_value("a")]}, "name"),
    "blank set name": ({"name": "  ", "values": [_value("a")]}, "name"),
    "unknown set key": (_set(_value("a"), valuez=[]), "valuez"),
    "empty description": (
        _set(_value("a"), _value("b"), _value("c", " \n ")),
        "values[2].description",
    ),
    "missing description": (_set(_value("a"), {"name": "b"}), "values[1].description"),
    "non-string description": (_set(_value("a", 5)), "values[0].description"),
    "blank value name": (_set(_value("   ")), "values[0].name"),
    "value name too long": (_set(_value("x" * 65)), "values[0].name"),
    "multi-line value name": (_set(_value("a\nb")), "values[0].name"),
    "duplicate name": (
        _set(_value("a"), _value("Care"), _value("b"), _value(" care ")),
        "values[3].name",
    ),
    "zero weight": (_set(_value("a", weight=0)), "values[0].weight"),
    "negative weight": (_set(_value("a"), _value("b", weight=-1.5)), "values[1].weight"),
    "infinite weight": (_set(_value("a", weight=float("inf"))), "values[0].weight"),
    "nan weight": (_set(_value("a", weight=float("nan"))), "values[0].weight"),
    "string weight": (_set(_value("a", weight="2")), "values[0].weight"),
    "boolean weight": (_set(_value("a", weight=True)), "values[0].weight"),
    "misspelt weight": (_set(_value("a", wieght=2)), "values[0].wieght"),
    "value not an object": (_set(_value("a"), "tradition"), "values[1]"),
}


@pytest.mark.parametrize("data,field", BAD_SETS.values(), ids=list(BAD_SETS))
def test_from_dict_errors_name_the_exact_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueSetError) as info:
        ValueSet.from_dict(data)
    err = info.value
    assert err.field == field
    assert err.problem and err.fix
    assert str(err).startswith(f"{field}: ")


def test_from_dict_names_the_source_and_rejects_non_mappings() -> None:
    with pytest.raises(ValueSetError) as info:
        ValueSet.from_dict(_set(_value("a", "")), source="my.json")
    assert info.value.field == "values[0].description"
    assert "my.json" in str(info.value)
    with pytest.raises(ValueSetError) as info:
        ValueSet.from_dict(["a"], source="my.json")  # type: ignore[arg-type]
    assert info.value.field == "my.json"


def test_too_many_values_message_gives_the_limit() -> None:
    data = _set(*[_value(f"v{i}") for i in range(20)])
    with pytest.raises(ValueSetError, match="20 values, more than the maximum of 16"):
        ValueSet.from_dict(data)


# -- file errors ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ValueSetError) as info:
        load_value_set(path)
    assert info.value.field == str(path)
    assert "does not exist" in info.value.problem
    with pytest.raises(ValueSetError) as info:
        load_value_set(str(path))
    assert info.value.field == str(path)


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueSetError, match="folder"):
        load_value_set(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{\n"name": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(ValueSetError) as info:
        load_value_set(path)
    assert info.value.field == str(path)
    assert "UTF-8" in info.value.problem and "line 2" in info.value.problem


def test_bad_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "x",\n  "values": [\n    {"name": "a" "description": "b"}\n]}\n')
    with pytest.raises(ValueSetError) as info:
        load_value_set(path)
    assert info.value.field == str(path)
    assert "line 4" in info.value.problem and "column 18" in info.value.problem


def test_wrong_shape_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text('["tradition", "power"]')
    with pytest.raises(ValueSetError) as info:
        load_value_set(path)
    assert info.value.field == str(path)


def test_invalid_content_in_file_names_field_and_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_set(_value("a"), _value("b", weight=0))))
    with pytest.raises(ValueSetError) as info:
        load_value_set(path)
    assert info.value.field == "values[1].weight"
    assert str(path) in str(info.value)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_set(_value("caf\u00e9"))).encode())
    assert load_value_set(path).names == ["caf\u00e9"]
