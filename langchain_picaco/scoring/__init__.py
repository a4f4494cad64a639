"""Pure scoring functions of PICACO: the value judge (q_val), redundancy (q_red), the objective w.

Nothing here calls a model: graph nodes make the calls and hand the outputs to these functions.
"""

from langchain_picaco.scoring.judge import (
    JudgeFormat,
    JudgeParseError,
    JudgeResult,
    build_judge_messages,
    judge_json_schema,
    judge_prompt_inputs,
    parse_judge_output,
)
from langchain_picaco.scoring.objective import (
    ValueSummary,
    conformity_probability,
    response_weight,
    standardize,
    summarize,
)
from langchain_picaco.scoring.redundancy import (
    EmbeddingRedundancy,
    LexicalRedundancy,
    Redundancy,
    lexical_redundancy,
)

__all__ = [
    "EmbeddingRedundancy",
    "JudgeFormat",
    "JudgeParseError",
    "JudgeResult",
    "LexicalRedundancy",
    "Redundancy",
    "ValueSummary",
    "build_judge_messages",
    "conformity_probability",
    "judge_json_schema",
    "judge_prompt_inputs",
    "lexical_redundancy",
    "parse_judge_output",
    "response_weight",
    "standardize",
    "summarize",
]
