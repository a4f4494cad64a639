"""Redundancy (q_red): how much a response parrots the value text instead of acting on it.

PICACO subtracts ``log q_red(s | x, y)`` from a response's score, so a response that restates the
value descriptions ``s`` ("I value tradition, which means respecting customs ...") scores lower
than one that simply acts on them. Two scorers share one protocol:

- :class:`LexicalRedundancy` (default, pure python): the share of the response's word n-grams
  that also occur in the value text.
- :class:`EmbeddingRedundancy`: cosine similarity, from any LangChain ``Embeddings``, between the
  response and the closest value description.

Both return a number in [0, 1]; 1 means a verbatim copy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from langchain_picaco.values.value_sets import ValueSet

__all__ = [
    "EmbeddingRedundancy",
    "LexicalRedundancy",
    "Redundancy",
    "lexical_redundancy",
    "word_ngrams",
    "words",
]

_APOSTROPHES = re.compile(r"['\u2019]")
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text``: case-folded, apostrophes dropped, split at anything else.

    The package's one word tokeniser: redundancy n-grams, the proposal guards (duplicates, copied
    queries) and the task-fidelity guard's content words all read text through it. Letters and
    digits of any script are word characters; ``don't`` (straight or curly) is one word.

    Example:
        >>> words("Don't copy the user's query: café, 2 times!")
        ['dont', 'copy', 'the', 'users', 'query', 'café', '2', 'times']
    """
    return _WORD.findall(_APOSTROPHES.sub("", text.casefold()))


def word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """The word n-grams of ``text``, lower-cased and without punctuation, in order (with repeats).

    Args:
        text: Any text.
        n: The n-gram length (>= 1).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    tokens = words(text)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _effective_n(response_words: int, n: int) -> int:
    """The n-gram length: ``n``, or the whole response when it is shorter than ``n`` words."""
    return max(1, min(n, response_words))


def _containment(response: str, reference: str, n: int, exclude: str | None = None) -> float:
    tokens = words(response)
    if not tokens:
        return 0.0
    k = _effective_n(len(tokens), n)
    grams = [tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1)]
    ref = set(word_ngrams(reference, k))
    if exclude:
        ref -= set(word_ngrams(exclude, k))
    if not ref:
        return 0.0
    return sum(g in ref for g in grams) / len(grams)


def lexical_redundancy(response: str, reference: str, *, n: int = 3) -> float:
    """Share of the response's word n-grams that also appear in ``reference``, in [0, 1].

    Text is lower-cased and stripped of punctuation; repeated n-grams count each time. A response
    shorter than ``n`` words is compared with n-grams as long as the response itself.

    Args:
        response: The text that may be copying.
        reference: The text that may be copied (e.g. the value descriptions).
        n: The n-gram length.

    Returns:
        0.0 for an empty response or no overlap, 1.0 when every n-gram of the response is copied.

    Example:
        >>> lexical_redundancy("respect the customs of your elders", "Respect the customs!")
        0.25
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return _containment(response, reference, n)


@runtime_checkable
class Redundancy(Protocol):
    """Scores how much a response parrots the value text of a value set, in [0, 1].

    Example:
        >>> class Never:
        ...     def score(self, response, value_set, query=""):
        ...         return 0.0
        ...
        ...     async def ascore(self, response, value_set, query=""):
        ...         return 0.0
        >>> isinstance(Never(), Redundancy)
        True
    """

    def score(self, response: str, value_set: ValueSet, query: str = "") -> float:
        """Redundancy of ``response`` (an answer to ``query``) with ``value_set``'s text."""
        ...

    async def ascore(self, response: str, value_set: ValueSet, query: str = "") -> float:
        """Async :meth:`score`."""
        ...


class LexicalRedundancy:
    """Word n-gram containment of the response in the value text (names and descriptions).

    The reference is ``value_set.value_text()`` only. Copying the *query* is not penalised: a good
    answer legitimately reuses the user's own terms (that is relevance, itself a value in
    ``helpfulness-4``), and the method's term is q_red(s | x, y), the value text *given* the query.
    For the same reason, by default n-grams that the value text shares with the query do not
    count as parroting (``ignore_query_ngrams``): echoing "tradition at my wedding" in answer to a
    question about tradition at a wedding is not restating the value descriptions.

    Args:
        n: The n-gram length (3 by default; shorter responses use their own length).
        ignore_query_ngrams: Drop the value text's n-grams that also occur in the query.

    Example:
        >>> from langchain_picaco.values.value_sets import Value, ValueSet
        >>> red = LexicalRedundancy(n=3)
        >>> vs = ValueSet("t", [Value("tradition", "Respect for the customs of one's culture.")])
        >>> red.score("Show respect for the customs of your culture.", vs)
        0.5
    """

    def __init__(self, n: int = 3, *, ignore_query_ngrams: bool = True) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self.ignore_query_ngrams = ignore_query_ngrams

    def score(self, response: str, value_set: ValueSet, query: str = "") -> float:
        """Share of the response's n-grams found in the value text (minus the query's)."""
        exclude = query if self.ignore_query_ngrams else None
        return _containment(response, value_set.value_text(), self.n, exclude)

    async def ascore(self, response: str, value_set: ValueSet, query: str = "") -> float:
        """Same as :meth:`score` (pure python, fast enough to run inline)."""
        return self.score(response, value_set, query)

    def __repr__(self) -> str:
        return f"LexicalRedundancy(n={self.n}, ignore_query_ngrams={self.ignore_query_ngrams})"


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return dot / (na * nb)


class EmbeddingRedundancy:
    """Semantic redundancy: max over values of max(0, cosine(response, value description)).

    Each value is embedded as ``"<name>: <description>"`` with ``embed_documents`` (as is the
    response, so the comparison is symmetric even for models with query prefixes). The value
    embeddings are computed once per distinct value text and cached. The query is not used.

    Args:
        embeddings: Any LangChain ``Embeddings``.

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> red = EmbeddingRedundancy(DeterministicFakeEmbedding(size=64))
        >>> red.score("Respect the customs of your elders.", vs)  # doctest: +SKIP
        0.12
    """

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self._cache: dict[tuple[str, ...], list[list[float]]] = {}

    @staticmethod
    def _value_texts(value_set: ValueSet) -> tuple[str, ...]:
        return tuple(f"{v.name}: {v.description}" for v in value_set.values)

    def _value_vectors(self, value_set: ValueSet) -> list[list[float]]:
        texts = self._value_texts(value_set)
        if texts not in self._cache:
            self._cache[texts] = [list(v) for v in self.embeddings.embed_documents(list(texts))]
        return self._cache[texts]

    async def _avalue_vectors(self, value_set: ValueSet) -> list[list[float]]:
        texts = self._value_texts(value_set)
        if texts not in self._cache:  # a concurrent duplicate computation is harmless
            vecs = await self.embeddings.aembed_documents(list(texts))
            self._cache[texts] = [list(v) for v in vecs]
        return self._cache[texts]

    @staticmethod
    def _best(response_vec: Sequence[float], value_vecs: Sequence[Sequence[float]]) -> float:
        best = max((_cosine(response_vec, v) for v in value_vecs), default=0.0)
        return min(1.0, max(0.0, best))

    def score(self, response: str, value_set: ValueSet, query: str = "") -> float:
        """Highest cosine similarity between the response and a value description, in [0, 1]."""
        if not response.strip():
            return 0.0
        values = self._value_vectors(value_set)
        (vec,) = self.embeddings.embed_documents([response])
        return self._best(vec, values)

    async def ascore(self, response: str, value_set: ValueSet, query: str = "") -> float:
        """Async :meth:`score` (uses ``aembed_documents``)."""
        if not response.strip():
            return 0.0
        values = await self._avalue_vectors(value_set)
        (vec,) = await self.embeddings.aembed_documents([response])
        return self._best(vec, values)

    def __repr__(self) -> str:
        return f"EmbeddingRedundancy({type(self.embeddings).__name__})"
