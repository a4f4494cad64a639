"""Query sets: the user requests a meta-instruction is optimised and evaluated on.

Queries come from a shipped set (one per shipped value set, with ``"optimize"`` and ``"heldout"``
splits, plus ``"jailbreak"`` with a ``"probe"`` split), from a file, or from a list of strings::

    load_queries("confucianism-4", split="optimize")   # 16 shipped queries
    load_queries("my_queries.jsonl")                   # {"query": "...", "split"?: "..."} per line
    load_queries("my_queries.json")                    # ["...", ...] or [{"query": ...}, ...]
    load_queries("my_queries.txt")                     # one query per line, blank lines ignored
    load_queries(["How do I ...?", "Should I ...?"])

Every problem raises :class:`~langchain_picaco.errors.QueryError` whose ``field`` names the file and
line (``path/to/q.jsonl:7``) or the list item (``queries[3]``).

This module also loads the judge-calibration references: for each shipped value, short queries
with a response that acts on the value and one that violates it, plus off-topic responses.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from langchain_picaco.errors import QueryError, ValueSetError
from langchain_picaco.values.value_sets import ValueSet

__all__ = [
    "QueryRecord",
    "list_query_sets",
    "load_calibration_references",
    "load_off_topic_references",
    "load_queries",
    "load_query_records",
]

_SUFFIXES = (".jsonl", ".json", ".txt")
_QUERY_KEY_ALIASES = ("prompt", "question", "text", "input", "instruction")
_JSON_WHITESPACE = " \t\n\r"


class QueryRecord(BaseModel):
    """One query with where it came from.

    Example:
        >>> rec = load_query_records("jailbreak")[0]
        >>> rec.split, rec.meta["harm"]
        ('probe', 'burglary')
    """

    model_config = ConfigDict(frozen=True)

    query: str
    """The query text, stripped."""
    split: str | None = None
    """The split label from the file (``"optimize"``, ``"heldout"``, ...), if any."""
    line: int | None = None
    """1-based line in the source file (``None`` for a list given in code)."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Other keys of the record, e.g. ``"harm"`` in the jailbreak set."""


# -- shipped data --------------------------------------------------------------------------------


def _data_dir(*parts: str) -> Any:
    return resources.files("langchain_picaco.values").joinpath("data", *parts)


@lru_cache(maxsize=1)
def _shipped_query_files() -> dict[str, str]:
    return {
        entry.name[: -len(".jsonl")].casefold(): entry.name
        for entry in _data_dir("query_sets").iterdir()
        if entry.name.endswith(".jsonl")
    }


def list_query_sets() -> list[str]:
    """Names of the query sets shipped with the package, sorted.

    Example:
        >>> "schwartz-10" in list_query_sets()
        True
    """
    return sorted(_shipped_query_files())


@cache
def _shipped_records(key: str) -> tuple[QueryRecord, ...]:
    name = _shipped_query_files()[key]
    text = _data_dir("query_sets", name).read_text(encoding="utf-8")
    return tuple(_parse_jsonl(text, f"query_sets/{name}"))


# -- parsing -------------------------------------------------------------------------------------


def _where(source: str, line: int) -> str:
    return f"{source}:{line}"


def _record_from_object(obj: Any, source: str, line: int) -> QueryRecord:
    """Validate one JSON entry (a string or an object with ``query``) into a record."""
    where = _where(source, line)
    if isinstance(obj, str):
        return QueryRecord(query=_clean_query(obj, where, line), line=line)
    if not isinstance(obj, Mapping):
        raise QueryError(
            where,
            f"line {line} holds a JSON {type(obj).__name__}, not an object with a 'query' key",
            'write each entry as {"query": "...", "split": "optimize"}',
        )
    if "query" not in obj:
        alias = next((key for key in _QUERY_KEY_ALIASES if key in obj), None)
        fix = (
            f"rename '{alias}' to 'query'" if alias else 'add the query text under the key "query"'
        )
        raise QueryError(where, f"line {line} has no 'query' key", fix)
    split = obj.get("split")
    if split is not None:
        if not isinstance(split, str) or not split.strip():
            raise QueryError(
                where,
                f"line {line} has a 'split' that is not a non-empty string ({split!r})",
                'use a label such as "optimize" or "heldout", or drop the key',
            )
        split = split.strip()
    meta = {key: value for key, value in obj.items() if key not in {"query", "split"}}
    return QueryRecord(
        query=_clean_query(obj["query"], where, line), split=split, line=line, meta=meta
    )


def _clean_query(query: Any, where: str, line: int | None = None) -> str:
    """Check one query is a non-empty string and strip it; ``line`` is named in errors."""
    subject = f"the query on line {line}" if line is not None else "the query"
    if not isinstance(query, str):
        raise QueryError(
            where,
            f"{subject} is a {type(query).__name__}, not a string",
            "write the query as text in double quotes",
        )
    stripped = query.strip()
    if not stripped:
        raise QueryError(where, f"{subject} is empty", "write a query or delete the entry")
    return stripped


def _parse_jsonl(text: str, source: str) -> list[QueryRecord]:
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QueryError(
                _where(source, line_no),
                f"line {line_no} is not valid JSON: {exc.msg} (column {exc.colno})",
                'write one JSON object per line, e.g. {"query": "How do I ...?"}',
            ) from None
        records.append(_record_from_object(obj, source, line_no))
    return records


def _skip_ws(text: str, index: int) -> int:
    while index < len(text) and text[index] in _JSON_WHITESPACE:
        index += 1
    return index


def _parse_json(text: str, source: str) -> list[QueryRecord]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QueryError(
            _where(source, exc.lineno),
            f"line {exc.lineno} is not valid JSON: {exc.msg} (column {exc.colno})",
            "fix the JSON syntax at that position (a missing comma or quote is typical)",
        ) from None
    if not isinstance(doc, list):
        raise QueryError(
            source,
            f"must hold a JSON list, not a {type(doc).__name__}",
            'write ["query one", "query two"] or [{"query": "..."}, ...]',
        )
    # The document is valid JSON, so walk the array again only to learn each entry's line.
    decoder = json.JSONDecoder()
    index = _skip_ws(text, 0) + 1  # past "["
    records = []
    for _ in doc:
        index = _skip_ws(text, index)
        line_no = text.count("\n", 0, index) + 1
        obj, index = decoder.raw_decode(text, index)
        records.append(_record_from_object(obj, source, line_no))
        index = _skip_ws(text, index) + 1  # past "," or "]"
    return records


def _parse_txt(text: str, source: str) -> list[QueryRecord]:
    return [
        QueryRecord(query=line.strip(), line=line_no)
        for line_no, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def _read_text(path: Path) -> str:
    source = str(path)
    if not path.exists():
        raise QueryError(source, "file does not exist", "check the path")
    if path.is_dir():
        raise QueryError(source, "is a folder, not a file", "give the path of a query file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise QueryError(source, f"cannot be read ({exc.strerror})", "check permissions") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise QueryError(
            _where(source, line),
            f"line {line} is not UTF-8 text (bad byte at offset {exc.start})",
            "save the file with UTF-8 encoding",
        ) from None


def _read_file(path: Path) -> list[QueryRecord]:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise QueryError(
            source,
            f"has an unsupported extension '{suffix or '(none)'}'",
            "use .jsonl (one JSON object per line), .json (a list) or .txt (one query per line)",
        )
    text = _read_text(path)
    if suffix == ".jsonl":
        return _parse_jsonl(text, source)
    if suffix == ".json":
        return _parse_json(text, source)
    return _parse_txt(text, source)


def _from_sequence(items: Sequence[Any]) -> list[QueryRecord]:
    records = []
    for index, item in enumerate(items):
        where = f"queries[{index}]"
        records.append(QueryRecord(query=_clean_query(item, where)))
    return records


def _check_records(records: Sequence[QueryRecord], source: str) -> None:
    """Reject an empty source and duplicate queries (compared ignoring case and spacing)."""
    if not records:
        raise QueryError(source, "holds no queries", "add at least one non-empty query")
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        key = " ".join(record.query.split()).casefold()
        if key in seen:
            first = records[seen[key]]
            if record.line is not None and first.line is not None:
                raise QueryError(
                    _where(source, record.line),
                    f"line {record.line} repeats the query on line {first.line} "
                    f"({record.query[:60]!r})",
                    "delete one of the two lines",
                )
            raise QueryError(
                f"queries[{index}]",
                f"repeats queries[{seen[key]}] ({record.query[:60]!r})",
                "remove the duplicate",
            )
        seen[key] = index


def _select_split(records: list[QueryRecord], split: str, source: str) -> list[QueryRecord]:
    available = sorted({record.split for record in records if record.split is not None})
    wanted = split.strip()
    chosen = [record for record in records if record.split == wanted]
    if not chosen:
        have = f"its splits are: {', '.join(available)}" if available else "it has no split labels"
        raise QueryError(
            "split",
            f"{source} has no queries in split {split!r}; {have}",
            "pass one of the listed splits, or split=None for every query"
            if available
            else 'drop split=, or add a "split" key to each line of a .jsonl file',
        )
    return chosen


def load_query_records(
    source: str | os.PathLike[str] | Sequence[str], *, split: str | None = None
) -> list[QueryRecord]:
    """Like :func:`load_queries`, but keep each query's split, line and extra keys.

    Args:
        source: See :func:`load_queries`.
        split: See :func:`load_queries`.

    Returns:
        The records, in source order.

    Raises:
        QueryError: See :func:`load_queries`.
    """
    if isinstance(source, os.PathLike):
        name = str(source)
        records = _read_file(Path(source))
    elif isinstance(source, str):
        key = source.strip().casefold()
        if key in _shipped_query_files():
            name = f"shipped query set '{key}'"
            records = list(_shipped_records(key))
        else:
            path = Path(source).expanduser()
            if not path.exists() and not path.suffix:
                raise QueryError(
                    source,
                    "is not a shipped query set nor an existing file",
                    f"use one of {', '.join(list_query_sets())} or the path of a "
                    ".jsonl, .json or .txt file",
                )
            name = str(path)
            records = _read_file(path)
    elif isinstance(source, Sequence | Iterable) and not isinstance(source, bytes | Mapping):
        name = "queries"
        records = _from_sequence(list(source))
    else:
        raise QueryError(
            "queries",
            f"must be a query set name, a file path or a list of strings, "
            f"not {type(source).__name__}",
            "pass a list of query strings or the path of a query file",
        )
    _check_records(records, name)
    if split is not None:
        if not isinstance(split, str):
            raise QueryError(
                "split",
                f"must be a string, not {type(split).__name__}",
                'pass the split name as a string, e.g. split="heldout"',
            )
        records = _select_split(records, split, name)
    return records


def load_queries(
    source: str | os.PathLike[str] | Sequence[str], *, split: str | None = None
) -> list[str]:
    """Load queries from a shipped set, a file, or a list of strings.

    Args:
        source: A shipped query set name (case-insensitive, see :func:`list_query_sets`); a
            ``.jsonl`` file with one ``{"query": str, "split"?: str}`` object per line; a
            ``.json`` file holding a list of strings or of such objects; a ``.txt`` file with one
            query per line; or a list of strings.
        split: Keep only the queries with this split label (e.g. ``"optimize"``, ``"heldout"``).
            ``None`` keeps all of them.

    Returns:
        The stripped queries, in source order.

    Raises:
        QueryError: Missing file, unsupported extension, no queries, non-UTF-8 bytes, malformed
            JSON, a missing ``query`` key, a non-string or empty query, a duplicate query (both
            lines named), or an unknown split. ``field`` is ``"<file>:<line>"`` where a line is
            at fault.

    Example:
        >>> len(load_queries("hh-balance-8", split="heldout"))
        10
    """
    return [record.query for record in load_query_records(source, split=split)]


# -- calibration references ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _calibration_data() -> dict[str, Any]:
    text = _data_dir("calibration", "references.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("schema") != 1:
        raise ValueError(f"unsupported calibration schema {data.get('schema')!r}")
    return data


def load_calibration_references(
    value_names: Sequence[str] | ValueSet,
) -> dict[str, list[dict[str, str]]]:
    """Reference responses for calibrating a value judge.

    For each value, short queries each with an ``"acts"`` response (clearly acts on the value and
    is otherwise neutral) and a ``"violates"`` response (answers the same query while clearly
    ignoring or violating the value). References exist for every value in the shipped sets.

    Args:
        value_names: The value names (case-insensitive), or a :class:`ValueSet`.

    Returns:
        ``{name: [{"query": ..., "acts": ..., "violates": ...}, ...]}`` keyed by the names as
        given, in the order given. The dicts are fresh copies.

    Raises:
        ValueSetError: A value has no references; ``field`` is the value's name.

    Example:
        >>> refs = load_calibration_references(["tradition"])
        >>> sorted(refs["tradition"][0])
        ['acts', 'query', 'violates']
    """
    names = value_names.names if isinstance(value_names, ValueSet) else list(value_names)
    shipped = {key.casefold(): entries for key, entries in _calibration_data()["values"].items()}
    result: dict[str, list[dict[str, str]]] = {}
    for name in names:
        entries = shipped.get(name.strip().casefold())
        if not entries:
            raise ValueSetError(
                name,
                "has no calibration references (only shipped values have them)",
                "supply your own references for this value: queries with an 'acts' and a "
                f"'violates' response; shipped values are: {', '.join(sorted(shipped))}",
            )
        result[name] = copy.deepcopy(entries)
    return result


def load_off_topic_references() -> list[str]:
    """Fluent responses that ignore the query entirely, for judge calibration.

    Example:
        >>> len(load_off_topic_references()) >= 4
        True
    """
    return list(_calibration_data()["off_topic"])
