"""The reranker's keep/drop rule: objectives, the empty-list threshold and budgets."""

import math

import pytest

from ctx_core import Passage
from ctx_core.scoring import BM25Scorer
from ctx_core.udcg import DropRule, LogisticCalibrator, UtilityDistractionReranker


def test_sum_rule_keeps_positive_gain_and_empties_a_hopeless_list():
    rule = DropRule()
    assert rule.probability_threshold == pytest.approx(0.25)
    assert rule.reasons([0.26, 0.25, 0.01], [1, 1, 1]) == [
        "kept",
        "likely distractor",
        "likely distractor",
    ]
    assert rule.reasons([0.2, 0.1], [1, 1]) == ["likely distractor"] * 2


def test_margin_keeps_the_best_unless_the_list_looks_unrelated():
    rule = DropRule(empty_below=0.1)
    assert rule.reasons([0.2, 0.1], [1, 1]) == ["kept", "likely distractor"]
    assert rule.reasons([0.09, 0.01], [1, 1]) == ["unrelated list"] * 2
    # without allow_empty the best stays even below the threshold
    assert DropRule(empty_below=0.1, allow_empty=False).reasons([0.09], [1]) == ["kept"]


def test_mean_objective_maximizes_the_plug_in_expected_udcg():
    probabilities = [0.9, 0.8, 0.3, 0.1]
    rule = DropRule(objective="expected_mean")
    gains = [rule.gain(p) for p in probabilities]
    values = [1 / (1 + math.exp(-sum(gains[:m]) / m)) for m in range(1, 5)]
    best = max(range(4), key=lambda i: values[i]) + 1
    kept = rule.reasons(probabilities, [1] * 4).count("kept")
    assert kept == best == 1  # UDCG is a mean: the best single passage maximizes it
    # With the 0.5 convention a list whose best gain is negative comes out empty ...
    half = DropRule(objective="expected_mean", empty_value=0.5)
    assert half.reasons([0.1, 0.05], [1, 1]).count("kept") == 0
    # ... and with the reference convention (empty = 0) it never does.
    assert rule.reasons([0.1, 0.05], [1, 1]).count("kept") == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"relevant_weight": 0}, "relevant_weight"),
        ({"irrelevant_weight": 0.1}, "irrelevant_weight"),
        ({"objective": "median"}, "objective"),
        ({"empty_below": 1.5}, "empty_below"),
    ],
)
def test_bad_rule_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DropRule(**kwargs)


def test_reranker_reports_the_rule_reason_and_round_trips_its_config():
    calibrator = LogisticCalibrator([4.0], -3.0)
    passages = [
        Passage("volcano eruption lava ash", id="a"),
        Passage("lava", id="b"),
        Passage("bananas are yellow", id="c"),
    ]
    reranker = UtilityDistractionReranker(BM25Scorer(), calibrator=calibrator, empty_below=0.3)
    decisions = reranker.explain("volcano eruption", passages)
    assert next(d.passage.id for d in decisions if d.kept) == "a"
    assert {d.reason for d in decisions} <= {"kept", "likely distractor"}
    unrelated = reranker.explain("quantum chromodynamics", passages)
    assert {d.reason for d in unrelated} == {"unrelated list"}
    config = reranker.config()
    assert config["empty_below"] == 0.3 and config["objective"] == "expected_recall"
    assert config["min_share"] is None  # DEFAULT_MIN_SHARE under expected_recall
    summed = UtilityDistractionReranker(
        BM25Scorer(), calibrator=calibrator, objective="expected_sum", min_share=0.5
    )
    assert summed.config()["min_share"] == 0.5 and summed.rule.min_share == 0.5


def test_recall_objective_without_a_list_rule_empties_only_hopeless_lists():
    rule = DropRule(objective="expected_recall")
    assert rule.reasons([0.2, 0.1], [1, 1]) == ["likely distractor"] * 2
    # with a gate's verdict the best is kept whatever its gain, and what carries the list
    assert rule.reasons([0.2, 0.1], [1, 1], unrelated=False) == ["kept", "kept"]
    # p 0.3 carries 0.3 / 3.9 < 0.1 of the list: dropped though its gain is positive
    assert rule.reasons([0.9] * 4 + [0.3], [1] * 5)[-1] == "small share of the list"
    # p 0.1 is 0.125 of the mass 0.8: kept under the recall objective, not under the sum
    assert rule.reasons([0.7, 0.1], [1, 1], unrelated=False) == ["kept", "kept"]
    assert DropRule().reasons([0.7, 0.1], [1, 1]) == ["kept", "likely distractor"]
    assert DropRule(objective="expected_recall", min_share=0.2).reasons(
        [0.7, 0.1], [1, 1], unrelated=False
    ) == ["kept", "likely distractor"]


def test_recall_objective_probability_floor():
    # 0.12 carries 0.12 / 1.14 > 0.1 of the list, but is below a 0.15 floor
    rule = DropRule(objective="expected_recall", min_probability=0.15)
    assert rule.reasons([0.9, 0.12, 0.12], [1] * 3, unrelated=False) == [
        "kept",
        "likely distractor",
        "likely distractor",
    ]
    assert (
        DropRule(objective="expected_recall").reasons([0.9, 0.12, 0.12], [1] * 3, unrelated=False)
        == ["kept"] * 3
    )
    with pytest.raises(ValueError, match="min_probability"):
        DropRule(min_probability=1.0)
