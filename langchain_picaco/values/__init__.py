"""What to align with and what to ask: value sets, query sets, and the shipped data behind them.

``value_sets`` holds :class:`Value` and :class:`ValueSet` and loads the shipped sets (``data/
value_sets``); ``queries`` loads query sets (``data/query_sets``) and the calibration references
(``data/calibration``).
"""

from langchain_picaco.values.queries import (
    QueryRecord,
    list_query_sets,
    load_calibration_references,
    load_off_topic_references,
    load_queries,
    load_query_records,
)
from langchain_picaco.values.value_sets import (
    MAX_NAME_LENGTH,
    MAX_VALUES,
    Value,
    ValueSet,
    list_value_sets,
    load_value_set,
)

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_VALUES",
    "QueryRecord",
    "Value",
    "ValueSet",
    "list_query_sets",
    "list_value_sets",
    "load_calibration_references",
    "load_off_topic_references",
    "load_queries",
    "load_query_records",
    "load_value_set",
]
