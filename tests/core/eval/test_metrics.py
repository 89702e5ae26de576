"""Metrics on hand-computed cases, and BM25's official DL19 nDCG@10 (0.5058)."""

import math

import pytest

from ctx_core.eval.datasets import load_dl19
from ctx_core.eval.metrics import (
    distractor_rate,
    exact_match,
    kept_tokens,
    mean,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    paired_bootstrap,
    rank_by_score,
    recall_at_k,
    supporting_recall,
    token_f1,
)
from ctx_core.types import Passage


def test_ndcg_hand_computed_graded():
    qrels = {"a": 3, "b": 0, "c": 1, "d": 2}
    # ranking b a c: DCG = 0 + 3/log2(3) + 1/log2(4); ideal a d c = 3 + 2/log2(3) + 1/log2(4)
    dcg = 3 / math.log2(3) + 1 / 2
    ideal = 3 + 2 / math.log2(3) + 1 / 2
    assert ndcg_at_k(["b", "a", "c"], qrels, k=3) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["a", "d", "c", "b"], qrels, k=3) == pytest.approx(1.0)


def test_ndcg_uses_linear_gain_not_exponential():
    # grade 3 then grade 1 swapped: linear gain gives (1 + 3/log2 3) / (3 + 1/log2 3)
    value = ndcg_at_k(["low", "high"], {"high": 3, "low": 1}, k=2)
    assert value == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))


def test_ndcg_ideal_counts_judged_passages_the_ranking_missed():
    # only one of two relevant passages retrieved, at rank 1
    assert ndcg_at_k(["a", "x"], {"a": 1, "z": 1}, k=10) == pytest.approx(
        1 / (1 + 1 / math.log2(3))
    )


def test_ndcg_cutoff_applies_to_ranking_and_ideal():
    qrels = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["x", "a"], qrels, k=1) == 0.0
    assert ndcg_at_k(["a", "x"], qrels, k=1) == 1.0


def test_ndcg_negative_and_zero_grades_gain_nothing_and_no_relevant_is_zero():
    assert ndcg_at_k(["a", "b"], {"a": -1, "b": 0}, k=10) == 0.0
    assert ndcg_at_k(["a", "b"], {}, k=10) == 0.0


def test_mrr_hand_computed_with_threshold_and_cutoff():
    qrels = {"a": 1, "b": 2}
    assert mrr_at_k(["x", "a", "b"], qrels) == 0.5
    assert mrr_at_k(["x", "a", "b"], qrels, relevance_threshold=2) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "a"], qrels, k=2) == 0.0


def test_recall_hand_computed():
    qrels = {"a": 1, "b": 2, "c": 1, "n": 0}
    assert recall_at_k(["a", "n", "b", "c"], qrels, k=3) == pytest.approx(2 / 3)
    assert recall_at_k(["a", "n", "b", "c"], qrels, k=3, relevance_threshold=2) == 1.0
    assert recall_at_k(["n"], {"n": 0}, k=3) == 0.0


def test_supporting_recall_and_distractor_rate():
    assert supporting_recall(["a", "x"], ["a", "b"]) == 0.5
    assert supporting_recall([], ["a"]) == 0.0
    assert distractor_rate(["a", "x", "y"], {"a": 1, "x": 0}) == pytest.approx(2 / 3)
    assert distractor_rate(["a", "b"], {"a": 1, "b": 1}, relevance_threshold=2) == 1.0
    assert distractor_rate([], {"a": 1}) == 0.0


def test_kept_tokens_counts_cl100k_tokens():
    assert kept_tokens([Passage("Hello world", id="1"), "Hello"]) == 3
    assert kept_tokens([]) == 0


def test_exact_match_and_f1_squad_normalization():
    assert normalize_answer("  The Quick, brown fox!") == "quick brown fox"
    assert exact_match("the Chief of Protocol.", ["Chief of Protocol"]) == 1.0
    assert exact_match("Chief", ["Chief of Protocol"]) == 0.0
    # prediction "chief protocol" vs gold "chief of protocol" -> tokens chief, protocol vs chief, of, protocol
    assert token_f1("Chief Protocol", ["Chief of Protocol"]) == pytest.approx(
        2 * 1.0 * (2 / 3) / (1 + 2 / 3)
    )
    assert token_f1("Paris", ["London", "paris"]) == 1.0
    assert token_f1("nothing shared", "Paris") == 0.0
    assert token_f1("the", ["a"]) == 1.0  # both normalize to empty


def test_rank_by_score_breaks_ties_like_trec_eval():
    assert rank_by_score({"d1": 1.0, "d2": 1.0, "d3": 2.0}) == ["d3", "d2", "d1"]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: ndcg_at_k("abc", {}, 10), TypeError),
        (lambda: ndcg_at_k(["a", "a"], {}, 10), ValueError),
        (lambda: ndcg_at_k(["a"], {}, 0), ValueError),
        (lambda: mrr_at_k([1], {}, 10), TypeError),
        (lambda: recall_at_k(["a"], [("a", 1)], 10), TypeError),
        (lambda: supporting_recall(["a"], []), ValueError),
        (lambda: exact_match("x", []), ValueError),
        (lambda: token_f1(None, ["x"]), TypeError),
        (lambda: kept_tokens("text"), TypeError),
        (lambda: paired_bootstrap([1.0], [1.0, 2.0]), ValueError),
        (lambda: paired_bootstrap([], []), ValueError),
        (lambda: paired_bootstrap([1.0], [1.0], confidence=1.0), ValueError),
    ],
)
def test_bad_input_is_a_clear_error(call, error):
    with pytest.raises(error):
        call()


def test_paired_bootstrap_interval():
    # A constant per-query gain has a zero-width interval at that gain.
    same = paired_bootstrap([0.5, 0.7, 0.9], [0.4, 0.6, 0.8])
    assert same["difference"] == pytest.approx(0.1)
    assert same["low"] == pytest.approx(0.1) and same["high"] == pytest.approx(0.1)
    # Gains and losses that cancel: the interval straddles zero, and is reproducible.
    mixed = paired_bootstrap([1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1], samples=4000)
    assert mixed["difference"] == 0 and mixed["low"] < 0 < mixed["high"]
    assert mixed == paired_bootstrap([1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1], samples=4000)
    assert mixed["queries"] == 6


def test_bm25_dl19_ndcg_at_10_matches_the_official_figure():
    queries = load_dl19()
    assert len(queries) == 43
    value = mean(ndcg_at_k([p.id for p in q.candidates], q.qrels, 10) for q in queries)
    assert round(value, 4) == 0.5058
