"""The objective w(x, y), its balance property, and the summaries."""

from __future__ import annotations

import inspect
import math

import pytest

from langchain_picaco.config import DEFAULT_BETA, DEFAULT_EPS, DEFAULT_RED_EPS, PicacoConfig
from langchain_picaco.errors import ConfigError
from langchain_picaco.scoring.objective import (
    ValueSummary,
    conformity_probability,
    response_weight,
    standardize,
    summarize,
)


def test_conformity_probability_known_values() -> None:
    assert conformity_probability(1.0, eps=0.05) == pytest.approx(0.05 / 4.1)
    assert conformity_probability(3.0, eps=0.05) == pytest.approx(0.5)
    assert conformity_probability(5.0, eps=0.05) == pytest.approx(4.05 / 4.1)
    assert conformity_probability(1.0) == pytest.approx(0.25 / 4.5)  # the config's eps
    assert conformity_probability(2.0, eps=0.5) == pytest.approx(1.5 / 5.0)
    # clipped to the scale
    assert conformity_probability(7.0) == conformity_probability(5.0)
    assert conformity_probability(0.0) == conformity_probability(1.0)
    with pytest.raises(ConfigError):
        conformity_probability(3.0, eps=0.0)


def test_response_weight_known_numbers() -> None:
    scores = {"a": 5.0, "b": 3.0}
    expected = math.log(4.05 / 4.1) + math.log(0.5) - math.log(0.01 + 0.2) + math.log(0.01 + 0.1)
    assert response_weight(scores, 0.2, 0.1, eps=0.05, red_eps=0.01) == pytest.approx(expected)
    expected_beta = 2.0 * (math.log(4.05 / 4.1) + math.log(0.5)) - math.log(0.01) + math.log(0.01)
    got = response_weight(scores, 0.0, 0.0, beta=2.0, eps=0.05, red_eps=0.01)
    assert got == pytest.approx(expected_beta)
    # the defaults are the config's: eps 0.25, red_eps 0.1
    expected = math.log(4.25 / 4.5) + math.log(0.5) - math.log(0.1 + 0.2) + math.log(0.1 + 0.1)
    assert response_weight(scores, 0.2, 0.1) == pytest.approx(expected)


def test_objective_defaults_are_the_configs() -> None:
    """One source of truth: a weight computed with the functions' defaults is a default run's."""
    cfg = PicacoConfig()
    weight = inspect.signature(response_weight).parameters
    assert weight["beta"].default == cfg.beta == DEFAULT_BETA
    assert weight["eps"].default == cfg.eps == DEFAULT_EPS
    assert weight["red_eps"].default == cfg.red_eps == DEFAULT_RED_EPS
    assert inspect.signature(conformity_probability).parameters["eps"].default == cfg.eps
    scores = {"a": 1.0, "b": 4.0}
    assert response_weight(scores, 0.3, 0.1) == response_weight(
        scores, 0.3, 0.1, beta=cfg.beta, eps=cfg.eps, red_eps=cfg.red_eps
    )


def test_parroting_lowers_w() -> None:
    scores = {"a": 4.0, "b": 4.0}
    acts = response_weight(scores, redundancy=0.02, baseline_redundancy=0.05)
    parrots = response_weight(scores, redundancy=0.9, baseline_redundancy=0.05)
    assert parrots < acts
    # the baseline shifts every response of a query equally
    shift = response_weight(scores, 0.02, 0.5) - response_weight(scores, 0.02, 0.05)
    assert shift == pytest.approx(math.log(0.1 + 0.5) - math.log(0.1 + 0.05))  # red_eps 0.1


def test_balance_beats_equal_mean_with_one_value_ignored() -> None:
    lopsided = {"a": 1.0, "b": 5.0}
    balanced = {"a": 3.0, "b": 3.0}
    assert sum(lopsided.values()) == sum(balanced.values())
    assert response_weight(balanced, 0.0, 0.0) > response_weight(lopsided, 0.0, 0.0)
    many = {f"v{i}": 5.0 for i in range(7)} | {"ignored": 1.0}
    fair = {f"v{i}": 4.0 for i in range(7)} | {"ignored": 4.0}
    assert response_weight(fair, 0.0, 0.0) > response_weight(many, 0.0, 0.0)


def test_weights_are_normalised_to_k() -> None:
    scores = {"a": 2.0, "b": 4.0}
    plain = response_weight(scores, 0.1, 0.1)
    assert response_weight(scores, 0.1, 0.1, weights={"a": 7.0, "b": 7.0}) == pytest.approx(plain)
    # a:b = 3:1 -> 1.5 and 0.5
    expected = 1.5 * math.log(conformity_probability(2.0)) + 0.5 * math.log(
        conformity_probability(4.0)
    )
    assert response_weight(scores, 0.1, 0.1, weights={"a": 3.0, "b": 1.0}) == pytest.approx(
        expected
    )
    with pytest.raises(ConfigError):
        response_weight(scores, 0.1, 0.1, weights={"a": 1.0})
    with pytest.raises(ConfigError):
        response_weight(scores, 0.1, 0.1, weights={"a": 0.0, "b": 0.0})
    with pytest.raises(ConfigError):
        response_weight({}, 0.1, 0.1)


def test_summarize_known_data() -> None:
    s = summarize({"tradition": [4, 5, 3], "benevolence": [2.0, 2.0, 2.0], "security": [3, 3, 3]})
    assert isinstance(s, ValueSummary)
    assert s.per_value == {"tradition": 4.0, "benevolence": 2.0, "security": 3.0}
    assert s.mean == pytest.approx(3.0)
    assert s.min == 2.0
    assert s.weakest == "benevolence"
    assert s.std == pytest.approx(math.sqrt(2.0 / 3.0))
    assert s.n == 3
    assert ValueSummary.model_validate_json(s.model_dump_json()) == s
    with pytest.raises(ValueError):
        summarize({})
    with pytest.raises(ValueError):
        summarize({"a": []})


def test_standardize() -> None:
    assert standardize([1.0, 3.0]) == [-1.0, 1.0]
    z = standardize([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])  # mean 5, population std 2
    assert z[0] == pytest.approx(-1.5) and z[-1] == pytest.approx(2.0)
    assert sum(z) == pytest.approx(0.0)
    assert standardize([3.3, 3.3, 3.3]) == [0.0, 0.0, 0.0]
    assert standardize([]) == []
