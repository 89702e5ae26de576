"""The list gate: is a candidate list about its query at all? Fitted on real MiniLM signals."""

import numpy as np
import pytest

from ctx_core import Passage
from ctx_core.udcg import (
    DropRule,
    HybridSignals,
    ListGate,
    LogisticCalibrator,
    UtilityDistractionReranker,
    fit_calibrator,
    load_calibrator,
)
from ctx_core.udcg.list_gate import DEFAULT_GATE_FEATURES
from ctx_core.udcg.reranker import DEFAULT_CALIBRATOR, DEFAULT_MIN_SHARE
from ctx_core.udcg.signals import query_coverage

# Four small topics: each query's own list, and the next topic's list as an unrelated one.
TOPICS = [
    (
        "Who wrote the play Hamlet?",
        [
            "Hamlet is a tragedy written by William Shakespeare around 1600.",
            "Shakespeare's plays include Macbeth, Othello and King Lear.",
            "The Globe Theatre in London staged many of Shakespeare's plays.",
        ],
    ),
    (
        "What is the boiling point of water at sea level?",
        [
            "At sea level water boils at 100 degrees Celsius.",
            "The boiling point of a liquid falls as air pressure drops.",
            "Ice melts at 0 degrees Celsius.",
        ],
    ),
    (
        "How do bees make honey?",
        [
            "Bees collect nectar from flowers and store it in the hive.",
            "In the hive, bees fan the nectar with their wings until it thickens into honey.",
            "A colony of honey bees has one queen.",
        ],
    ),
    (
        "When did the first humans land on the Moon?",
        [
            "Apollo 11 landed the first humans on the Moon in July 1969.",
            "Neil Armstrong was the first person to walk on the lunar surface.",
            "The Moon orbits the Earth about once a month.",
        ],
    ),
]


def passages(i):
    return [Passage(text, id=f"t{i}-{j}") for j, text in enumerate(TOPICS[i][1])]


@pytest.fixture(scope="module")
def lists(embedder):
    signals = HybridSignals(embedder)
    related = [signals.signals(q, passages(i)) for i, (q, _) in enumerate(TOPICS)]
    unrelated = [
        signals.signals(q, passages((i + 1) % len(TOPICS))) for i, (q, _) in enumerate(TOPICS)
    ]
    return related, unrelated


def test_coverage_is_the_share_of_query_content_words():
    assert query_coverage("Who wrote Hamlet in 1600?", ["Hamlet, 1600", "hamlet"]) == [
        pytest.approx(2 / 3),
        pytest.approx(1 / 3),
    ]
    assert query_coverage("who is it", ["anything"]) == [0.0]  # only stopwords


def test_gate_separates_own_lists_from_other_questions_lists(lists):
    related, unrelated = lists
    assert all(len(s["coverage"]) == 3 for s in related)
    gate = ListGate.fit(related + unrelated, [True] * 4 + [False] * 4)
    assert gate.features == DEFAULT_GATE_FEATURES and gate.best_column == "dense"
    # the 1% quantile of the related lists' probabilities: at most one related list below
    assert sum(gate.unrelated(s) for s in related) <= 1
    assert all(gate.unrelated(s) for s in unrelated)
    related_p = [gate.probability(s) for s in related]
    assert gate.threshold == pytest.approx(np.quantile(related_p, 0.01))
    again = ListGate.from_dict(gate.to_dict())
    assert again.probability(related[0]) == pytest.approx(gate.probability(related[0]))


def test_gate_errors_name_the_problem():
    with pytest.raises(ValueError, match="summary:column"):
        ListGate([1.0], 0.0, ["dense"])
    with pytest.raises(ValueError, match="summary:column"):
        ListGate([1.0], 0.0, ["mean:dense"])
    with pytest.raises(ValueError, match="weights"):
        ListGate([1.0, 2.0], 0.0, ["max:dense"])
    with pytest.raises(ValueError, match="threshold"):
        ListGate([1.0], 0.0, ["max:dense"], threshold=1.5)
    with pytest.raises(ValueError, match="coverage"):
        ListGate([1.0, 1.0], 0.0).probability({"dense": [0.5]})
    with pytest.raises(ValueError, match="both related and unrelated"):
        ListGate.fit([{"dense": [0.5], "coverage": [1.0]}], [True])


def test_calibrator_saves_and_loads_its_gate(tmp_path, lists):
    related, unrelated = lists
    gate = ListGate.fit(related + unrelated, [True] * 4 + [False] * 4)
    calibrator = LogisticCalibrator([5.0], -2.0, ["dense"], list_gate=gate)
    again = load_calibrator(calibrator.save(tmp_path / "gated.json"))
    assert again.list_gate is not None
    assert again.list_gate.to_dict() == gate.to_dict()
    assert "list_gate" not in LogisticCalibrator([1.0], 0.0).to_dict()


def test_reranker_empties_a_list_the_gate_calls_unrelated(embedder, lists):
    related, unrelated = lists
    gate = ListGate.fit(related + unrelated, [True] * 4 + [False] * 4)
    # A calibrator that finds every passage likely relevant: only the gate can empty a list.
    calibrator = LogisticCalibrator([0.0], 3.0, ["dense"], list_gate=gate)
    reranker = UtilityDistractionReranker(HybridSignals(embedder), calibrator=calibrator)
    assert reranker.list_gate is gate
    own = reranker.explain(TOPICS[0][0], passages(0))
    assert any(d.kept for d in own)
    other = reranker.explain(TOPICS[0][0], passages(1))
    assert {d.reason for d in other} == {"unrelated list"}
    # empty_below given as a number: the gate is not used
    by_probability = UtilityDistractionReranker(
        HybridSignals(embedder), calibrator=calibrator, empty_below=0.5
    )
    assert by_probability.list_gate is None
    assert any(d.kept for d in by_probability.explain(TOPICS[0][0], passages(1)))


def test_a_gate_on_columns_the_signals_lack_is_an_error(lists):
    from ctx_core.scoring import BM25Scorer

    related, unrelated = lists
    gate = ListGate.fit(related + unrelated, [True] * 4 + [False] * 4)
    calibrator = LogisticCalibrator([1.0], 0.0, ["score"], list_gate=gate)
    with pytest.raises(ValueError, match="list gate reads signal columns"):
        UtilityDistractionReranker(BM25Scorer(), calibrator=calibrator)


def test_fit_calibrator_fits_a_gate_on_own_vs_next_query_lists(embedder):
    data = [(q, passages(i), {f"t{i}-0": 1, f"t{i}-1": 1}) for i, (q, _) in enumerate(TOPICS)]
    signals = HybridSignals(embedder)
    calibrator = fit_calibrator(signals, data, features=("dense",), list_gate=DEFAULT_GATE_FEATURES)
    gate = calibrator.list_gate
    assert gate is not None
    assert gate.info["related_lists"] == 4 and gate.info["unrelated_lists"] == 4
    for i, (q, _) in enumerate(TOPICS):
        assert gate.unrelated(signals.signals(q, passages((i + 1) % 4)))
    with pytest.raises(ValueError, match="list_gate needs"):
        fit_calibrator(signals, data[:1], list_gate=DEFAULT_GATE_FEATURES)


def test_share_rule_keeps_the_best_and_what_carries_the_list():
    rule = DropRule(min_share=0.2)
    # total 2.2: besides the best a passage needs p > 0.44 (and p > 0.25, a positive gain)
    assert rule.reasons([0.9, 0.5, 0.35, 0.25, 0.2], [1.0] * 5) == [
        "kept",
        "kept",
        "small share of the list",
        "likely distractor",
        "likely distractor",
    ]
    # the best stays even when many passages share the mass
    assert rule.reasons([0.3] * 10, [1.0] * 10, unrelated=False)[0] == "kept"
    assert rule.reasons([0.9, 0.8], [1.0, 1.0], unrelated=True) == ["unrelated list"] * 2
    with pytest.raises(ValueError, match="min_share"):
        DropRule(min_share=1.0)


def test_shipped_default_records_the_rule_it_was_chosen_with():
    calibrator = load_calibrator(DEFAULT_CALIBRATOR)
    assert calibrator.info.get("min_share") == DEFAULT_MIN_SHARE
    rule = calibrator.info.get("rule", "")
    assert (calibrator.list_gate is not None) == rule.endswith("-gate")
