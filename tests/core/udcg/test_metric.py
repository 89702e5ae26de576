import math

import pytest

from ctx_core import Passage
from ctx_core.udcg import udcg, udcg_of_passages

# The reference repository's published examples (GiovanniTRA/UDCG, data/dataset_with_udcg.json):
# p(NO-RESPONSE) per passage, relevance labels, and the UDCG it reports. Its pipeline script
# ran with --irrelevant_weight -0.333.
PUBLISHED = [
    (
        [
            2.086162567138672e-06,
            1.341104507446289e-05,
            0.1318359375,
            0.1812744140625,
            0.02081298828125,
        ],
        [True, True, False, False, False],
        0.5553808928170055,
    ),
    (
        [
            5.960464477539063e-08,
            6.616115570068359e-06,
            0.00018215179443359375,
            0.006114959716796875,
            0.0093536376953125,
        ],
        [True, True, False, False, False],
        0.5501411475208001,
    ),
    (
        [
            3.0100345611572266e-05,
            0.00010311603546142578,
            0.007602691650390625,
            0.01299285888671875,
            0.00013053417205810547,
        ],
        [True, False, False, False, False],
        0.4837510250741193,
    ),
]


@pytest.mark.parametrize(("p", "labels", "expected"), PUBLISHED)
def test_matches_the_reference_implementation(p, labels, expected):
    assert udcg([1 - x for x in p], labels, irrelevant_weight=-0.333) == pytest.approx(
        expected, abs=1e-12
    )


def test_issue_example_and_default_weight():
    utilities = [1.0, 1.0, 1 - 0.1318, 1 - 0.1813, 1 - 0.0208]
    labels = [True, True, False, False, False]
    assert round(udcg(utilities, labels, irrelevant_weight=-0.333), 4) == 0.5554
    # By hand, with the exact -1/3 default: (2 - (0.8682 + 0.8187 + 0.9792) / 3) / 5
    by_hand = 1 / (1 + math.exp(-(2 - (0.8682 + 0.8187 + 0.9792) / 3) / 5))
    assert udcg(utilities, labels) == pytest.approx(by_hand, abs=1e-12)


def test_hand_computed_cases_and_position_hook():
    assert udcg([], []) == 0.0  # the reference implementation
    assert udcg([], [], empty_value=0.5) == 0.5
    assert udcg([0.5], [True]) == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert udcg([0.6], [False], irrelevant_weight=-0.5) == pytest.approx(1 / (1 + math.exp(0.3)))
    discounted = udcg([1.0, 1.0], [True, True], position_weight=lambda i, n: 1.0 / (i + 1))
    assert discounted == pytest.approx(1 / (1 + math.exp(-(1.0 + 0.5) / 2)))


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        udcg([1.0], [True, False])
    with pytest.raises(ValueError, match=r"utilities\[1\]"):
        udcg([0.5, 1.5], [True, False])
    with pytest.raises(ValueError, match="both 0"):
        udcg([0.5], [True], relevant_weight=0, irrelevant_weight=0)


def test_udcg_of_passages_names_missing_labels():
    ps = [Passage("a", id="a"), Passage("b", id="b"), Passage("c", id="c")]
    value = udcg_of_passages(ps, {"a": 1.0, "b": 0.5, "c": 0.0}, {"a": 2, "b": 0, "c": 1})
    assert value == pytest.approx(udcg([1.0, 0.5, 0.0], [True, False, True]))
    with pytest.raises(ValueError, match="labels missing for passage ids: b, c"):
        udcg_of_passages(ps, {"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 1})
    with pytest.raises(ValueError, match="utilities missing for passage ids: c"):
        udcg_of_passages(ps, {"a": 1.0, "b": 1.0}, {"a": 1, "b": 0, "c": 0})
