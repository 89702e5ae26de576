import numpy as np
import pytest

from ctx_core.udcg import LogisticCalibrator, load_calibrator


def synthetic(seed=0, queries=60):
    rng = np.random.default_rng(seed)
    scores, labels = [], []
    for _ in range(queries):
        shift = rng.normal(0, 0.3)  # query-level offset: absolute scores drift across queries
        y = rng.random(10) < 0.2
        s = shift + np.where(y, 0.6, 0.2) + rng.normal(0, 0.1, 10)
        scores.append(s.tolist())
        labels.append(y.tolist())
    return scores, labels


def log_loss(calibrator, scores, labels):
    total, n = 0.0, 0
    for s, y in zip(scores, labels, strict=True):
        for p, t in zip(calibrator.probabilities(s), y, strict=True):
            total -= np.log(p if t else 1 - p)
            n += 1
    return total / n


def test_platt_scaling_is_monotone_and_calibrated():
    scores, labels = synthetic()
    calibrator = LogisticCalibrator.fit(scores, labels)
    assert calibrator.features == ("score",) and calibrator.weights[0] > 0
    p = calibrator.probabilities([0.0, 0.4, 0.8])
    assert p[0] < p[1] < p[2]
    flat = [x for s in scores for x in calibrator.probabilities(s)]
    rate = np.mean([t for y in labels for t in y])
    assert abs(np.mean(flat) - rate) < 0.02  # mean probability matches the base rate


def test_listwise_features_beat_platt_when_scores_drift_across_queries():
    train, test = synthetic(0), synthetic(1)
    platt = LogisticCalibrator.fit(*train)
    listwise = LogisticCalibrator.fit(
        *train, features=("score", "gap_to_best:score", "zscore:score")
    )
    assert log_loss(listwise, *test) < log_loss(platt, *test)


def test_save_load_round_trip(tmp_path):
    calibrator = LogisticCalibrator.fit(
        *synthetic(), features=("score", "reciprocal_rank:score"), info={"data": "synthetic"}
    )
    path = calibrator.save(tmp_path / "cal.json")
    again = load_calibrator(path)
    assert again.probabilities([0.1, 0.5, 0.9]) == pytest.approx(
        calibrator.probabilities([0.1, 0.5, 0.9])
    )
    assert again.info["data"] == "synthetic" and again.info["positives"] > 0


def test_errors():
    with pytest.raises(ValueError, match="both relevant and non-relevant"):
        LogisticCalibrator.fit([[0.1, 0.2]], [[0, 0]])
    with pytest.raises(ValueError, match="unknown transform"):
        LogisticCalibrator([1.0], 0.0, ("nope:score",))
    with pytest.raises(ValueError, match="2 candidates but 1 labels"):
        LogisticCalibrator.fit([[0.1, 0.2]], [[1]])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_calibrator("/nonexistent/calibrator.json")
    with pytest.raises(ValueError, match="no shipped calibrator"):
        load_calibrator("no-such-name")
    with pytest.raises(ValueError, match="non-finite"):
        LogisticCalibrator([1.0], 0.0).probabilities([float("nan")])
    assert LogisticCalibrator([1.0], 0.0).probabilities([]) == []


def test_named_columns_and_transforms():
    signals = [
        {"a": [0.9, 0.1, 0.2], "b": [0.0, 1.0, 0.0]},
        {"a": [0.5, 0.4, 0.1], "b": [1.0, 0.0, 0.0]},
    ]
    labels = [[1, 0, 0], [1, 1, 0]]
    calibrator = LogisticCalibrator.fit(signals, labels, features=("a", "gap_to_best:a", "b"))
    assert calibrator.columns == {"a", "b"}
    assert len(calibrator.probabilities(signals[0])) == 3
    with pytest.raises(ValueError, match=r"lack columns \['b'\]"):
        calibrator.probabilities({"a": [0.1]})
