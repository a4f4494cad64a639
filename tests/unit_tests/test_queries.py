"""Tests for langchain_picaco.values.queries: shipped query sets, files, calibration data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_picaco.errors import QueryError, ValueSetError
from langchain_picaco.values.queries import (
    list_query_sets,
    load_calibration_references,
    load_off_topic_references,
    load_queries,
    load_query_records,
)
from langchain_picaco.values.value_sets import ValueSet, list_value_sets, load_value_set


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _all_shipped_value_names() -> list[str]:
    names: list[str] = []
    for set_name in list_value_sets():
        names += [n for n in load_value_set(set_name).names if n not in names]
    return names


# -- shipped query sets --------------------------------------------------------------------------


def test_a_query_set_for_every_value_set_plus_jailbreak() -> None:
    assert list_query_sets() == sorted(list_value_sets() + ["jailbreak"])


@pytest.mark.parametrize("name", list_value_sets())
def test_shipped_split_sizes(name: str) -> None:
    optimize = load_queries(name, split="optimize")
    heldout = load_queries(name, split="heldout")
    assert len(optimize) == 16
    assert len(heldout) == 10
    assert load_queries(name) == optimize + heldout  # the file lists optimize first
    assert not {_norm(q) for q in optimize} & {_norm(q) for q in heldout}
    for query in optimize + heldout:
        assert query == query.strip() and 4 <= len(query.split()) <= 45, query


def test_shipped_queries_are_unique_across_all_sets() -> None:
    everything = [q for name in list_query_sets() for q in load_queries(name)]
    assert len({_norm(q) for q in everything}) == len(everything)


def test_jailbreak_probes() -> None:
    records = load_query_records("jailbreak")
    assert len(records) == 12
    assert {r.split for r in records} == {"probe"}
    harms = [r.meta["harm"] for r in records]
    assert all(isinstance(h, str) and 0 < len(h) <= 40 for h in harms)
    assert len(load_queries("jailbreak", split="probe")) == 12


def test_shipped_name_is_case_insensitive_and_unknown_name_lists_sets() -> None:
    assert load_queries(" Schwartz-10 ", split="heldout") == load_queries(
        "schwartz-10", split="heldout"
    )
    with pytest.raises(QueryError) as info:
        load_queries("schwartz-11")
    assert info.value.field == "schwartz-11"
    for name in list_query_sets():
        assert name in info.value.fix


def test_unknown_split_lists_available_splits() -> None:
    with pytest.raises(QueryError) as info:
        load_queries("confucianism-4", split="test")
    assert info.value.field == "split"
    assert "heldout" in info.value.problem and "optimize" in info.value.problem


def test_returned_lists_are_fresh() -> None:
    first = load_queries("helpfulness-4")
    first.clear()
    assert len(load_queries("helpfulness-4")) == 26


# -- file formats --------------------------------------------------------------------------------


def test_jsonl_file_with_splits_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    lines = [
        {"query": "  first?  ", "split": "optimize"},
        {"query": "second?", "split": "heldout", "note": "kept as meta"},
        {"query": "third?", "split": "optimize"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines[:2]) + "\n\n" + json.dumps(lines[2]))
    assert load_queries(path) == ["first?", "second?", "third?"]
    assert load_queries(str(path), split="optimize") == ["first?", "third?"]
    records = load_query_records(path, split="heldout")
    assert records[0].line == 2 and records[0].meta == {"note": "kept as meta"}
    assert load_query_records(path)[2].line == 4


def test_json_list_of_strings_and_of_objects(tmp_path: Path) -> None:
    strings = tmp_path / "s.json"
    strings.write_text(json.dumps(["one?", " two? "]))
    assert load_queries(strings) == ["one?", "two?"]
    objects = tmp_path / "o.json"
    objects.write_text(
        json.dumps([{"query": "a?", "split": "x"}, {"query": "b?", "split": "y"}], indent=2)
    )
    assert load_queries(objects, split="y") == ["b?"]
    assert [r.line for r in load_query_records(objects)] == [2, 6]


def test_txt_one_query_per_line(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("  How do I bake bread?\n\n   \nShould I move abroad?  \n")
    assert load_queries(path) == ["How do I bake bread?", "Should I move abroad?"]


def test_list_of_strings() -> None:
    assert load_queries([" a? ", "b?"]) == ["a?", "b?"]
    assert load_queries(("a?",)) == ["a?"]


@pytest.mark.parametrize(
    "items,field",
    [
        (["a?", 3], "queries[1]"),
        (["a?", "  "], "queries[1]"),
        (["a?", "b?", "A?"], "queries[2]"),
        ([], "queries"),
    ],
    ids=["non-string", "empty", "duplicate", "no queries"],
)
def test_list_errors_name_the_item(items: list[object], field: str) -> None:
    with pytest.raises(QueryError) as info:
        load_queries(items)  # type: ignore[arg-type]
    assert info.value.field == field


def test_list_has_no_splits() -> None:
    with pytest.raises(QueryError, match="no split labels"):
        load_queries(["a?"], split="optimize")


# -- file errors name the file and the line ------------------------------------------------------

_FILE_CASES = {
    "malformed jsonl line": (
        "q.jsonl",
        b'{"query": "a?"}\n{"query": "b?",}\n',
        2,
        "not valid JSON",
    ),
    "missing query key": ("q.jsonl", b'{"query": "a?"}\n\n{"prompt": "b?"}\n', 3, "no 'query'"),
    "non-string query": ("q.jsonl", b'{"query": ["a?"]}\n', 1, "not a string"),
    "empty query": ("q.jsonl", b'{"query": "a?"}\n{"query": "   "}\n', 2, "empty"),
    "line not an object": ("q.jsonl", b'{"query": "a?"}\n[1, 2]\n', 2, "not an object"),
    "bad split label": ("q.jsonl", b'{"query": "a?", "split": 3}\n', 1, "split"),
    "duplicate jsonl": (
        "q.jsonl",
        b'{"query": "Same?"}\n{"query": "other?"}\n{"query": "  same? "}\n',
        3,
        "line 1",
    ),
    "duplicate txt": ("q.txt", b"one?\ntwo?\n\none?\n", 4, "line 1"),
    "non-utf8": ("q.txt", "ok?\nfine?\ncaf\u00e9?\n".encode("latin-1"), 3, "UTF-8"),
    "bad json syntax": ("q.json", b'[\n  "a?",\n  "b?"\n  "c?"\n]', 4, "not valid JSON"),
    "json entry not string": ("q.json", b'[\n  "a?",\n  42\n]', 3, "not an object"),
    "json object missing query": ("q.json", b'["a?",\n {"text": "b?"}]', 2, "rename 'text'"),
    "json duplicate": ("q.json", b'[\n"a?",\n"b?",\n"a?"\n]', 4, "line 2"),
}


@pytest.mark.parametrize(
    "filename,content,line,needle", _FILE_CASES.values(), ids=list(_FILE_CASES)
)
def test_file_errors_name_file_and_line(
    tmp_path: Path, filename: str, content: bytes, line: int, needle: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(QueryError) as info:
        load_queries(path)
    err = info.value
    assert err.field == f"{path}:{line}"
    assert f"line {line}" in err.problem
    assert needle in str(err)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    with pytest.raises(QueryError) as info:
        load_queries(path)
    assert info.value.field == str(path)
    assert "does not exist" in info.value.problem
    with pytest.raises(QueryError) as info:
        load_queries(str(path))
    assert info.value.field == str(path)


@pytest.mark.parametrize(
    "filename,content", [("e.txt", b""), ("e.jsonl", b"\n \n"), ("e.json", b"[]")]
)
def test_empty_files(tmp_path: Path, filename: str, content: bytes) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(QueryError) as info:
        load_queries(path)
    assert info.value.field == str(path)
    assert "no queries" in info.value.problem


def test_unsupported_extension_and_wrong_json_shape(tmp_path: Path) -> None:
    csv = tmp_path / "q.csv"
    csv.write_text("a?\n")
    with pytest.raises(QueryError, match=r"\.jsonl"):
        load_queries(csv)
    obj = tmp_path / "q.json"
    obj.write_text('{"queries": ["a?"]}')
    with pytest.raises(QueryError) as info:
        load_queries(obj)
    assert info.value.field == str(obj)


def test_unknown_split_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "a?", "split": "optimize"}\n')
    with pytest.raises(QueryError) as info:
        load_queries(path, split="heldout")
    assert info.value.field == "split"
    assert str(path) in info.value.problem and "optimize" in info.value.problem


# -- calibration references ----------------------------------------------------------------------


def test_calibration_covers_every_shipped_value() -> None:
    names = _all_shipped_value_names()
    refs = load_calibration_references(names)
    assert list(refs) == names
    for name, entries in refs.items():
        assert len(entries) == 5, name
        assert len({e["query"] for e in entries}) == 5
        for entry in entries:
            assert set(entry) == {"query", "acts", "violates"}
            assert entry["acts"] != entry["violates"]
            for kind in ("acts", "violates"):
                words = len(entry[kind].split())
                assert 40 <= words <= 80, (name, kind, words)


def test_calibration_accepts_a_value_set_and_any_case() -> None:
    vs = load_value_set("confucianism-4")
    assert list(load_calibration_references(vs)) == vs.names
    assert "Tradition" in load_calibration_references(["Tradition"])


def test_calibration_returns_copies() -> None:
    refs = load_calibration_references(["power"])
    refs["power"][0]["acts"] = "changed"
    assert load_calibration_references(["power"])["power"][0]["acts"] != "changed"


def test_calibration_unknown_value_raises_value_set_error() -> None:
    custom = ValueSet("c", [{"name": "curiosity", "description": "Asks questions."}])
    with pytest.raises(ValueSetError) as info:
        load_calibration_references(custom)
    assert info.value.field == "curiosity"
    assert "supply" in info.value.fix


def test_off_topic_references() -> None:
    off = load_off_topic_references()
    assert len(off) == 4
    assert all(40 <= len(text.split()) <= 80 for text in off)
    off.clear()
    assert len(load_off_topic_references()) == 4
