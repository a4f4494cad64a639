"""Redundancy (q_red): lexical n-gram containment and the embedding variant."""

from __future__ import annotations

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from langchain_picaco.scoring.redundancy import (
    EmbeddingRedundancy,
    LexicalRedundancy,
    Redundancy,
    lexical_redundancy,
    word_ngrams,
)
from langchain_picaco.values.value_sets import Value, ValueSet

TRADITION = (
    "Respects and preserves the customs, rituals and heritage of one's family, community and "
    "culture, and treats elders and established practices with deference."
)
BENEVOLENCE = "Cares for the welfare of the people one is close to, with kindness and loyalty."


@pytest.fixture
def vs() -> ValueSet:
    return ValueSet("c2", [Value("tradition", TRADITION), Value("benevolence", BENEVOLENCE)])


def test_word_ngrams_normalises() -> None:
    assert word_ngrams("Don't PANIC, friend!", 2) == [("dont", "panic"), ("panic", "friend")]
    with pytest.raises(ValueError):
        word_ngrams("x", 0)


def test_verbatim_copy_scores_one(vs: ValueSet) -> None:
    assert lexical_redundancy(TRADITION, vs.value_text()) == pytest.approx(1.0)
    assert LexicalRedundancy().score(vs.value_text(), vs, "") == pytest.approx(1.0)


def test_unrelated_answer_scores_zero(vs: ValueSet) -> None:
    answer = "The train to Berlin leaves at 9:15 from platform four; buy the ticket online."
    assert lexical_redundancy(answer, vs.value_text()) == 0.0
    assert LexicalRedundancy().score(answer, vs, "When is the train?") == 0.0


def test_partial_copy_in_between(vs: ValueSet) -> None:
    own = "Plan a small ceremony, book the venue early and keep a simple budget for the day."
    half = own + " " + TRADITION
    r_half = lexical_redundancy(half, vs.value_text())
    r_quarter = lexical_redundancy(own + " " + own + " " + TRADITION[:60], vs.value_text())
    assert 0.3 < r_half < 0.8
    assert 0.0 < r_quarter < r_half


def test_punctuation_and_case_do_not_hide_copying(vs: ValueSet) -> None:
    shouted = TRADITION.upper().replace(",", " ;; ").replace(".", "!!!")
    assert lexical_redundancy(shouted, vs.value_text()) == pytest.approx(1.0)


def test_short_responses_fall_back_to_smaller_n() -> None:
    assert lexical_redundancy("Tradition.", "tradition: respect customs") == 1.0
    assert lexical_redundancy("Respect customs", "tradition: respect customs") == 1.0
    assert lexical_redundancy("Hello", "tradition: respect customs") == 0.0
    assert lexical_redundancy("", "tradition") == 0.0
    assert lexical_redundancy("anything at all here", "") == 0.0


def test_query_ngrams_do_not_count_as_parroting(vs: ValueSet) -> None:
    query = "How can I honour the customs, rituals and heritage of my family at my wedding?"
    answer = "To honour the customs, rituals and heritage of your family, ask your grandparents."
    with_query = LexicalRedundancy().score(answer, vs, query)
    ignoring_query = LexicalRedundancy(ignore_query_ngrams=False).score(answer, vs, query)
    assert with_query < ignoring_query
    assert with_query == 0.0


async def test_lexical_async_matches_sync(vs: ValueSet) -> None:
    red = LexicalRedundancy(n=2)
    text = "Kindness and loyalty matter; also book the venue."
    assert await red.ascore(text, vs, "q") == red.score(text, vs, "q") > 0


class _BagOfWords(Embeddings):
    """Deterministic bag-of-words embeddings over a fixed vocabulary, counting calls."""

    vocab = ("customs", "rituals", "heritage", "elders", "kindness", "loyalty", "train", "ticket")

    def __init__(self) -> None:
        self.calls = 0

    def _vec(self, text: str) -> list[float]:
        low = text.lower()
        return [float(low.count(w)) for w in self.vocab]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def test_embedding_redundancy_orders_copy_partial_unrelated(vs: ValueSet) -> None:
    emb = _BagOfWords()
    red = EmbeddingRedundancy(emb)
    copy = red.score(TRADITION, vs)
    partial = red.score("Keep the customs but add a modern ticket system.", vs)
    unrelated = red.score("Take the train; the ticket is cheap.", vs)
    assert copy == pytest.approx(1.0)
    assert 0.0 < partial < copy
    assert unrelated == 0.0
    assert red.score("   ", vs) == 0.0
    # value vectors computed once (1 call), plus one call per non-empty response
    assert emb.calls == 1 + 3


def test_embedding_redundancy_takes_max_over_values(vs: ValueSet) -> None:
    red = EmbeddingRedundancy(_BagOfWords())
    assert red.score("kindness and loyalty", vs) == pytest.approx(1.0)


def test_embedding_redundancy_with_fake_embeddings_clamped(vs: ValueSet) -> None:
    red = EmbeddingRedundancy(DeterministicFakeEmbedding(size=32))
    value_copy = f"tradition: {TRADITION}"
    assert red.score(value_copy, vs) == pytest.approx(1.0)
    other = red.score("Something else entirely.", vs)
    assert 0.0 <= other < 1.0


async def test_embedding_async_matches_sync(vs: ValueSet) -> None:
    red = EmbeddingRedundancy(_BagOfWords())
    text = "Honour the customs and the elders."
    assert await red.ascore(text, vs) == pytest.approx(red.score(text, vs))


def test_protocol() -> None:
    assert isinstance(LexicalRedundancy(), Redundancy)
    assert isinstance(EmbeddingRedundancy(_BagOfWords()), Redundancy)
    with pytest.raises(ValueError):
        LexicalRedundancy(n=0)


class _Fixed(Embeddings):
    """Returns (1, 0) for value texts and (-1, 0) for anything else: cosine -1."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] if ":" in t else [-1.0, 0.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_embedding_redundancy_negative_cosine_is_zero(vs: ValueSet) -> None:
    assert EmbeddingRedundancy(_Fixed()).score("opposite meaning", vs) == 0.0
