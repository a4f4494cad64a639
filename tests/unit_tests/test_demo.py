"""The demo's outcome report: what a run found, or why nothing was accepted (issue 12)."""

from __future__ import annotations

from langchain_picaco.demo import outcome_lines
from langchain_picaco.instruction import HistoryEntry, MetaInstruction
from langchain_picaco.scoring.calibration import CalibrationReport, ValueCalibration
from langchain_picaco.values.value_sets import load_value_set

SEED = "Respond to the user in a way that reflects all of these values: tradition."


def _mi(history: list[HistoryEntry], stop: str = "iterations") -> MetaInstruction:
    return MetaInstruction(
        text=SEED,
        value_set=load_value_set("confucianism-4"),
        history=[HistoryEntry(iteration=0, instruction=SEED, accepted=True), *history],
        stop_reason=stop,
    )


def test_an_accepted_round_is_reported_with_its_confirmed_gain() -> None:
    h = HistoryEntry(
        iteration=1, instruction=SEED + " Keep customs.", gain=0.4, gain_low=0.1, accepted=True
    )
    lines = outcome_lines(_mi([h]))
    assert len(lines) == 1 and "ACCEPTED" in lines[0] and "+0.400" in lines[0]
    assert "+0.100 > 0" in lines[0]


def test_no_acceptance_names_blind_values_rejections_and_challenger_intervals() -> None:
    history = [
        HistoryEntry(iteration=1, instruction="x", rejected_reason="duplicate"),
        HistoryEntry(iteration=1, instruction="y", rejected_reason="duplicate"),
        HistoryEntry(iteration=2, instruction="z", rejected_reason="copies_values"),
        HistoryEntry(iteration=2, instruction=SEED + " A.", gain=0.2, gain_low=-0.3, gain_high=0.7),
        HistoryEntry(iteration=2, instruction=SEED + " B.", screen_gain=-0.147),
    ]
    calibration = CalibrationReport(
        value_set="confucianism-4",
        values=[
            ValueCalibration(name="tradition", verdict="sees"),
            ValueCalibration(
                name="conformity", verdict="blind", separation=0.1, separation_low=-0.4, pairs=5
            ),
            ValueCalibration(
                name="benevolence", verdict="weak", separation=0.6, separation_low=0.2, pairs=5
            ),
            ValueCalibration(name="security", verdict="sees"),
        ],
    )
    text = "\n".join(outcome_lines(_mi(history, stop="patience"), calibration))
    assert "no candidate was accepted" in text
    assert "does not clearly see conformity, benevolence" in text
    assert "sees tradition, security" in text
    assert "2 of 5 proposer replies (repair turns included) were usable" in text
    assert "duplicate 2, copies_values 1" in text
    assert "paired gain +0.200 [-0.300, +0.700]" in text
    assert "1 candidate(s) did not beat the incumbent" in text
    assert "(screen gains on the objective: -0.147)" in text
    assert f"screened out: {SEED + ' B.'!r}" in text
    assert "stopped by: patience" in text


def test_the_heldout_verdict_compares_picaco_with_every_other_column() -> None:
    from langchain_picaco.demo import heldout_verdict
    from langchain_picaco.instruction import ValueScores

    def scores(a: float, b: float) -> ValueScores:
        return ValueScores.from_per_value({"tradition": a, "security": b}, n=3)

    line = heldout_verdict(
        {
            "seed": scores(2.0, 3.0),
            "PICACO": scores(3.0, 3.5),
            "value list (Q+IF)": scores(3.5, 3.5),
        }
    )
    assert "vs seed: mean +0.75, weakest value +1.00" in line
    assert "vs value list (Q+IF): mean -0.25, weakest value -0.50" in line
    assert "no test" in line


def test_a_check_too_small_for_an_interval_says_so_with_its_separations() -> None:
    calibration = CalibrationReport(
        value_set="confucianism-4",
        values=[
            ValueCalibration(name="tradition", verdict="weak", separation=1.16, pairs=1),
            ValueCalibration(name="security", verdict="weak", separation=0.51, pairs=1),
        ],
    )
    text = "\n".join(outcome_lines(_mi([]), calibration))
    assert "(1 reference pair(s) per value) is too small for an interval" in text
    assert "tradition +1.16, security +0.51" in text
    assert "does not clearly see" not in text


def test_a_merge_is_named_as_one() -> None:
    history = [
        HistoryEntry(iteration=1, instruction=SEED + " A.", screen_gain=-0.1),
        HistoryEntry(
            iteration=2,
            instruction=SEED + " AB.",
            gain=0.6,
            gain_low=-0.6,
            gain_high=1.9,
            proposal="merge",
        ),
        HistoryEntry(iteration=4, instruction=SEED + " BA.", screen_gain=-0.2, proposal="merge"),
    ]
    text = "\n".join(outcome_lines(_mi(history)))
    assert "round 2 challenger (a merge of two Pareto-front members): paired gain +0.600" in text
    assert f"screened out (merge): {SEED + ' BA.'!r}" in text
    assert f"screened out: {SEED + ' A.'!r}" in text
