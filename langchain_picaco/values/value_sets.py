"""Values and value sets: what a meta-instruction must make the model honour.

A :class:`Value` is a name, a one-paragraph description written for a judge, and a weight. A
:class:`ValueSet` is 1 to 16 values with unique names. Six sets ship with the package (see
:func:`list_value_sets`); any other set loads from a JSON file of the same shape::

    {"name": "my-set", "description": "One sentence.",
     "values": [{"name": "tradition", "description": "...", "weight": 1.0}]}

Every problem with a value set raises :class:`~langchain_picaco.errors.ValueSetError` whose
``field`` names the exact input at fault (``values[2].description``) and whose message says how to
fix it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from langchain_picaco._io import atomic_write_text
from langchain_picaco.errors import ValueSetError

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_VALUES",
    "Value",
    "ValueSet",
    "list_value_sets",
    "load_value_set",
]

MAX_VALUES = 16
"""The most values one set may hold."""

MAX_NAME_LENGTH = 64
"""The longest value name, in characters (after stripping)."""

_VALUE_KEYS = ("name", "description", "weight")
_SET_KEYS = ("name", "description", "values")
_DEFAULT_SOURCE = "value set"
_UNSET: Any = object()  # marks a constructor argument the caller left out


def _given(**fields: Any) -> dict[str, Any]:
    """Keep the constructor arguments that were passed, so pydantic reports missing ones."""
    return {key: value for key, value in fields.items() if value is not _UNSET}


def _clean_text(text: str, *, what: str, max_length: int | None = None) -> str:
    """Strip ``text`` and check it is non-empty and short enough (else a pydantic error)."""
    stripped = text.strip()
    if not stripped:
        raise PydanticCustomError(
            "empty_text",
            "must not be empty or only whitespace",
            {"fix": f"write a {what}"},
        )
    if max_length is not None and len(stripped) > max_length:
        raise PydanticCustomError(
            "text_too_long",
            "is {length} characters long, more than {max_length}",
            {
                "length": len(stripped),
                "max_length": max_length,
                "fix": f"shorten the {what} to at most {max_length} characters "
                "and move detail into the description",
            },
        )
    return stripped


class Value(BaseModel):
    """One human value the model should act on.

    Args:
        name: Short identifier, e.g. ``"self-direction"``; stripped, 1 to 64 characters, one line.
        description: One paragraph for the judge: what a response that acts on the value does,
            and what one that ignores or violates it looks like.
        weight: Relative importance (finite, > 0). Only the ratios between weights matter.

    Example:
        >>> v = Value("tradition", "Respects customs and heritage ...", weight=2.0)
        >>> v.name
        'tradition'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Short identifier, unique within a set (case-insensitively)."""
    description: str
    """One paragraph that tells a judge how to recognise the value in a response."""
    weight: float = Field(default=1.0, strict=True)
    """Relative importance; normalised by :meth:`ValueSet.normalized_weights`."""

    def __init__(
        self,
        name: str = _UNSET,
        description: str = _UNSET,
        weight: float = _UNSET,
        **data: Any,
    ) -> None:
        # Positional arguments are allowed; pydantic also calls this for nested dicts.
        super().__init__(**_given(name=name, description=description, weight=weight), **data)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        name = _clean_text(name, what="value name", max_length=MAX_NAME_LENGTH)
        if any(ch in name for ch in "\r\n\t"):
            raise PydanticCustomError(
                "multiline_name",
                "must be a single line",
                {"fix": "remove line breaks and tabs from the name"},
            )
        return name

    @field_validator("description")
    @classmethod
    def _check_description(cls, description: str) -> str:
        return _clean_text(description, what="one-paragraph description of the value")

    @field_validator("weight")
    @classmethod
    def _check_weight(cls, weight: float) -> float:
        if not math.isfinite(weight) or weight <= 0:
            raise PydanticCustomError(
                "bad_weight",
                "must be a finite number greater than 0, got {weight}",
                {"weight": weight, "fix": "use a positive weight such as 1.0 (the default)"},
            )
        return float(weight)


class ValueSet(BaseModel):
    """A named set of 1 to 16 values with unique names, the target of one meta-instruction.

    Iterating a set yields its :class:`Value` objects in order; ``len(s)`` is the number of values.
    ``values`` is stored as a tuple, so a set (like its values) cannot be changed after creation.

    Args:
        name: Name of the set, e.g. ``"hh-balance-8"``.
        values: The values (``Value`` objects or mappings with the same keys), 1 to 16 of them,
            names unique case-insensitively.
        description: One sentence saying what the set is for.

    Example:
        >>> vs = ValueSet("family", [Value("tradition", "..."), Value("benevolence", "...")])
        >>> vs.names
        ['tradition', 'benevolence']
        >>> vs.get("Tradition").name
        'tradition'
        >>> vs2 = ValueSet.from_dict(vs.to_dict())  # raises ValueSetError on bad data
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Name of the set."""
    values: tuple[Value, ...] = Field(min_length=1, max_length=MAX_VALUES)
    """The values, in order."""
    description: str = ""
    """One sentence saying what the set is for."""

    def __init__(
        self,
        name: str = _UNSET,
        values: Iterable[Value | Mapping[str, Any]] = _UNSET,
        description: str = _UNSET,
        **data: Any,
    ) -> None:
        if not isinstance(values, str | bytes | Mapping) and isinstance(values, Iterable):
            values = tuple(values)
        super().__init__(**_given(name=name, values=values, description=description), **data)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        return _clean_text(name, what="name for the value set")

    @field_validator("description")
    @classmethod
    def _check_description(cls, description: str) -> str:
        return description.strip()

    @field_validator("values")
    @classmethod
    def _check_unique(cls, values: tuple[Value, ...]) -> tuple[Value, ...]:
        seen: dict[str, int] = {}
        for index, value in enumerate(values):
            key = value.name.casefold()
            if key in seen:
                first = seen[key]
                raise PydanticCustomError(
                    "duplicate_value_name",
                    "'{name}' duplicates the name of values[{first}] (names are compared "
                    "case-insensitively)",
                    {
                        "name": value.name,
                        "first": first,
                        "field": f"values[{index}].name",
                        "fix": "give each value a distinct name, or merge the two entries",
                    },
                )
            seen[key] = index
        return values

    # -- container helpers ---------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The value names, in order."""
        return [value.name for value in self.values]

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[Value]:  # type: ignore[override]
        """Iterate over the values (not over field/value pairs as a plain pydantic model does)."""
        return iter(self.values)

    def __contains__(self, name: object) -> bool:
        """``"Tradition" in vs`` is true when a value of that name (any case) is in the set."""
        if isinstance(name, Value):
            name = name.name
        if not isinstance(name, str):
            return False
        key = name.strip().casefold()
        return any(value.name.casefold() == key for value in self.values)

    def get(self, name: str) -> Value:
        """Return the value called ``name`` (case-insensitive).

        Raises:
            KeyError: No value of that name; the message lists the known names.
        """
        key = name.strip().casefold()
        for value in self.values:
            if value.name.casefold() == key:
                return value
        raise KeyError(
            f"value set '{self.name}' has no value named {name!r}; "
            f"known values: {', '.join(self.names)}"
        )

    def normalized_weights(self) -> dict[str, float]:
        """Weights scaled to sum to 1, keyed by value name, in set order."""
        total = math.fsum(value.weight for value in self.values)
        return {value.name: value.weight / total for value in self.values}

    def describe(self) -> str:
        """A bullet list, one ``- name: description`` line per value, for use inside prompts."""
        return "\n".join(f"- {value.name}: {value.description}" for value in self.values)

    def value_text(self) -> str:
        """All names and descriptions as one text: the ``s`` the redundancy term compares to."""
        return "\n".join(f"{value.name}: {value.description}" for value in self.values)

    # -- (de)serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the file format; ``ValueSet.from_dict(s.to_dict()) == s``."""
        return {
            "name": self.name,
            "description": self.description,
            "values": [
                {"name": v.name, "description": v.description, "weight": v.weight}
                for v in self.values
            ],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the set as an indented UTF-8 JSON file (atomically); return the path."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        return atomic_write_text(path, text)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = _DEFAULT_SOURCE) -> ValueSet:
        """Build a set from plain data, raising :class:`ValueSetError` instead of pydantic errors.

        Args:
            data: A mapping with ``name``, ``values`` and optional ``description``.
            source: Where the data came from (a file path, say); named in error messages.

        Raises:
            ValueSetError: ``field`` is the exact path at fault, e.g. ``values[2].description``.
        """
        if not isinstance(data, Mapping):
            raise ValueSetError(
                source,
                f"must be a JSON object with keys {', '.join(_SET_KEYS)}; "
                f"got {type(data).__name__}",
                'write {"name": ..., "description": ..., "values": [{"name": ..., '
                '"description": ...}]}',
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _to_value_set_error(exc, source) from None


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic location such as ``("values", 2, "name")`` into ``values[2].name``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _fix_for(error: ErrorDetails, path: str) -> str:
    """A suggestion for a pydantic error that has no ``fix`` of its own."""
    kind = error["type"]
    loc = error["loc"]
    last = str(loc[-1]) if loc else ""
    in_value = any(isinstance(part, int) for part in loc)
    if kind == "missing":
        hint = {
            "name": 'add "name": a short identifier',
            "description": 'add "description": one paragraph for the judge',
            "values": 'add "values": a list of {"name": ..., "description": ...} objects',
        }
        return hint.get(last, f"add the required key '{last}'")
    if kind == "extra_forbidden":
        allowed = _VALUE_KEYS if in_value else _SET_KEYS
        return f"remove '{last}' or correct its spelling; allowed keys: {', '.join(allowed)}"
    if kind == "too_short":
        return "list at least one value"
    if kind == "too_long":
        return f"keep at most {MAX_VALUES} values; split the rest into another value set"
    if kind in {"float_type", "float_parsing", "int_type"}:
        return "give the weight as a JSON number greater than 0, e.g. 1.0"
    if kind == "string_type":
        return "give this as text (a JSON string)"
    if kind in {"tuple_type", "list_type", "iterable_type"}:
        return 'give "values" as a list of {"name": ..., "description": ...} objects'
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return 'give each value as an object {"name": ..., "description": ..., "weight"?: ...}'
    return f"correct {path or 'the input'}"


def _to_value_set_error(exc: ValidationError, source: str) -> ValueSetError:
    """Convert the first pydantic error into a :class:`ValueSetError` with a field path and fix."""
    errors = exc.errors(include_url=False)
    # pydantic adds a spurious "too short" on the list when an item fails; keep the item's error.
    if any(len(e["loc"]) > 1 and e["loc"][0] == "values" for e in errors):
        errors = [e for e in errors if not (e["loc"] == ("values",) and e["type"] == "too_short")]
    first = errors[0]
    ctx = first.get("ctx") or {}
    path = str(ctx.get("field") or _loc_to_path(first["loc"]) or source)
    message = first["msg"]
    problem = message[:1].lower() + message[1:] if message else "is invalid"
    if first["type"] == "too_short" and path == "values":
        problem = "must list at least one value, got none"
    elif first["type"] == "too_long" and path == "values":
        problem = f"lists {ctx.get('actual_length')} values, more than the maximum of {MAX_VALUES}"
    elif first["type"] in {"tuple_type", "list_type", "iterable_type"}:
        problem = f"must be a list of value objects, got {type(first['input']).__name__}"
    if source != _DEFAULT_SOURCE:
        problem += f" (in {source})"
    if len(errors) > 1:
        problem += f"; {len(errors) - 1} more problem(s) after this one"
    fix = str(ctx.get("fix") or _fix_for(first, path))
    return ValueSetError(path, problem, fix)


# -- shipped sets and files ----------------------------------------------------------------------


def _shipped_dir() -> Any:
    """The packaged ``data/value_sets`` folder (a Traversable)."""
    return resources.files("langchain_picaco.values").joinpath("data", "value_sets")


@lru_cache(maxsize=1)
def _shipped_files() -> dict[str, str]:
    """Map of lower-case shipped set name to its file name."""
    return {
        entry.name[: -len(".json")].casefold(): entry.name
        for entry in _shipped_dir().iterdir()
        if entry.name.endswith(".json")
    }


def list_value_sets() -> list[str]:
    """Names of the value sets shipped with the package, sorted.

    Example:
        >>> "hh-balance-8" in list_value_sets()
        True
    """
    return sorted(_shipped_files())


@cache
def _load_shipped(key: str) -> ValueSet:
    entry = _shipped_dir().joinpath(_shipped_files()[key])
    source = f"shipped value set '{key}'"
    return _parse_json_text(entry.read_text(encoding="utf-8"), source)


def _parse_json_text(text: str, source: str) -> ValueSet:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueSetError(
            source,
            f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            "fix the JSON syntax at that position (a missing comma or quote is typical)",
        ) from None
    return ValueSet.from_dict(data, source=source)


def _load_file(path: Path) -> ValueSet:
    source = str(path)
    if not path.exists():
        raise ValueSetError(
            source,
            "file does not exist",
            f"check the path, or use a shipped set: {', '.join(list_value_sets())}",
        )
    if path.is_dir():
        raise ValueSetError(source, "is a folder, not a file", "give the path of a .json file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueSetError(
            source, f"cannot be read ({exc.strerror})", "check permissions"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueSetError(
            source,
            f"is not UTF-8 text (bad byte at line {line}, byte offset {exc.start})",
            "save the file with UTF-8 encoding",
        ) from None
    return _parse_json_text(text, source)


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(".json") or "/" in text or "\\" in text or text.startswith(".")


def load_value_set(
    name_or_path: str | os.PathLike[str] | ValueSet | Mapping[str, Any],
) -> ValueSet:
    """Load a shipped value set by name, a value set JSON file, or pass a ``ValueSet`` through.

    Args:
        name_or_path: A shipped name (case-insensitive, see :func:`list_value_sets`), a path to
            a JSON file in the value set format, a ``ValueSet`` (returned as is), or a mapping in
            the file format.

    Returns:
        The value set.

    Raises:
        ValueSetError: Unknown name (the message lists the shipped names), or a file that is
            missing, not UTF-8, not valid JSON (with line and column) or of the wrong shape.

    Example:
        >>> load_value_set("HH-Balance-8").names[:2]
        ['informativeness', 'relevance']
    """
    if isinstance(name_or_path, ValueSet):
        return name_or_path
    if isinstance(name_or_path, Mapping):
        return ValueSet.from_dict(name_or_path)
    if isinstance(name_or_path, os.PathLike):
        return _load_file(Path(name_or_path))
    if not isinstance(name_or_path, str):
        raise ValueSetError(
            "name_or_path",
            f"must be a set name, a path or a ValueSet, got {type(name_or_path).__name__}",
            f"pass one of {', '.join(list_value_sets())} or the path of a JSON file",
        )
    key = name_or_path.strip().casefold()
    if key in _shipped_files():
        return _load_shipped(key)
    path = Path(name_or_path).expanduser()
    if path.exists() or _looks_like_path(name_or_path):
        return _load_file(path)
    raise ValueSetError(
        name_or_path,
        "is not a shipped value set nor an existing file",
        f"use one of the shipped sets ({', '.join(list_value_sets())}) "
        "or the path of a JSON value set file",
    )
