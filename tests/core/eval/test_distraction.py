"""The leave-one-data-set-out protocol's pieces on hand-made signal lists."""

import math

import pytest

from ctx_core.eval.tasks.distraction import (
    SignalList,
    fit_calibrator_on,
    keep,
    list_metrics,
    matched_top_k,
    mean_metrics,
    top_k,
)
from ctx_core.udcg import DropRule, LogisticCalibrator


def make(qid, scores, grades, dataset="toy", relevant_grade=1):
    ids = tuple(f"{qid}-{i}" for i in range(len(scores)))
    qrels = {i: g for i, g in zip(ids, grades, strict=True) if g > 0}
    return SignalList(
        dataset, qid, ids, tuple(grades), qrels, (10,) * len(ids), {"dense": scores},
        relevant_grade=relevant_grade,
    )  # fmt: skip


def test_list_metrics_by_hand():
    s = make("q", [0.9, 0.8, 0.1, 0.05], [2, 0, 1, 0])
    m = list_metrics(s, [0, 1])
    assert m["recall"] == 0.5 and m["distractor_rate"] == 0.5 and m["kept"] == 2
    assert m["kept_tokens"] == 20 and m["empty"] == 0
    assert m["udcg"] == pytest.approx(1 / (1 + math.exp(-(1 - 1 / 3) / 2)))
    empty = list_metrics(s, [])
    assert empty["udcg"] == 0.0 and empty["udcg_empty_half"] == 0.5 and empty["empty"] == 1
    assert math.isnan(list_metrics(make("z", [0.1], [0]), [0])["recall"])


def test_relevant_grade_and_unrelated_twins_change_the_labels():
    s = make("q", [0.9, 0.8], [1, 2], relevant_grade=2)
    assert s.labels == [False, True]
    twin = s.unrelated({"dense": [0.3, 0.2, 0.1]}, ["x", "y", "z"], [1, 1, 1])
    assert twin.labels == [False] * 3 and not twin.related and twin.qrels == {}


def test_mismatched_lengths_are_an_error_naming_the_column():
    with pytest.raises(ValueError, match="dense"):
        SignalList("toy", "q", ("a", "b"), (0, 1), {}, (1, 1), {"dense": [0.1]})


def test_matched_top_k_interpolates_between_sizes():
    lists = [make("a", [0.9, 0.5, 0.1], [1, 1, 0]), make("b", [0.2, 0.7, 0.6], [0, 0, 1])]
    half = mean_metrics(matched_top_k(lists, "dense", 1.5))
    one = mean_metrics([list_metrics(s, top_k(s, "dense", 1)) for s in lists])
    two = mean_metrics([list_metrics(s, top_k(s, "dense", 2)) for s in lists])
    assert half["kept"] == 1.5
    assert half["recall"] == pytest.approx((one["recall"] + two["recall"]) / 2)


def test_keep_applies_the_reranker_rule_to_calibrated_probabilities():
    lists = [make(f"q{i}", [0.9, 0.6, 0.2, 0.1], [1, 1, 0, 0]) for i in range(4)]
    calibrator = fit_calibrator_on(lists, ("dense",))
    assert isinstance(calibrator, LogisticCalibrator)
    assert calibrator.info["lists"] == 4
    kept = keep(lists[0], calibrator, DropRule())
    assert kept == [0, 1]
    assert keep(lists[0], calibrator, DropRule(objective="expected_mean")) == [0]
