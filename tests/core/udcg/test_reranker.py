import logging

import pytest

from ctx_core import Passage
from ctx_core.llm import TransformersLLM
from ctx_core.udcg import AbstentionUtility, LogisticCalibrator, UtilityDistractionReranker

# overlap score 0 -> p 0.05 (distractor), 1 -> p 0.27 (just above the 0.25 break-even), 2 -> p 0.73
CALIBRATOR = LogisticCalibrator([2.0], -3.0)

PASSAGES = [
    Passage("green pears", id="pears", metadata={"src": "x"}, score=0.9),
    Passage("red apples", id="apples"),
    Passage("blue sky", id="sky"),
    Passage("red red apples", id="red-apples"),
    Passage("apples", id="just-apples"),
]


def make(overlap_scorer, **kwargs):
    return UtilityDistractionReranker(overlap_scorer, calibrator=CALIBRATOR, **kwargs)


def test_drops_likely_distractors_and_explains(overlap_scorer):
    reranker = make(overlap_scorer)
    assert reranker.probability_threshold == pytest.approx(0.25)
    kept = reranker.rerank("red apples", PASSAGES)
    assert [p.id for p in kept] == ["apples", "red-apples", "just-apples"]
    decisions = {d.passage.id: d for d in reranker.explain("red apples", PASSAGES)}
    assert decisions["pears"].reason == "likely distractor" and not decisions["pears"].kept
    assert decisions["pears"].expected_gain < 0 < decisions["just-apples"].expected_gain
    meta = kept[0].metadata
    assert set(meta) >= {"relevance_score", "relevance_probability", "utility", "expected_gain"}
    assert meta["utility"] == 1.0 and kept[0].score == meta["expected_gain"]
    dropped = decisions["pears"].passage
    assert dropped.metadata["src"] == "x" and dropped.metadata["retrieval_score"] == 0.9
    assert PASSAGES[0].metadata == {"src": "x"}  # input untouched


def test_empty_context_when_everything_distracts(overlap_scorer):
    assert make(overlap_scorer).rerank("volcano eruption", PASSAGES) == []
    [only] = make(overlap_scorer, allow_empty=False).rerank("volcano eruption", PASSAGES)
    assert only.id == "pears"  # ties keep input order
    # Five equal passages carry 1/5 of the list each: without the probability floor
    # (p 0.05 < 0.1) the recall objective would keep them all.
    assert (
        len(
            make(overlap_scorer, allow_empty=False, min_probability=0.0).rerank(
                "volcano eruption", PASSAGES
            )
        )
        == 5
    )
    assert make(overlap_scorer).rerank("q", []) == []
    assert overlap_scorer.calls == 3


def test_budget_limits_and_order(overlap_scorer):
    # cl100k tokens: "red apples" 2, "red red apples" 3, "apples" 2
    by_tokens = make(overlap_scorer, token_budget=4).explain("red apples", PASSAGES)
    kept = [d.passage.id for d in by_tokens if d.kept]
    assert kept == ["apples", "just-apples"]  # "red red apples" does not fit after the first 2
    assert {d.passage.id: d.reason for d in by_tokens}["red-apples"] == "over token budget"
    assert [p.id for p in make(overlap_scorer, max_passages=1).rerank("red apples", PASSAGES)] == [
        "apples"
    ]
    assert len(make(overlap_scorer).rerank("red apples", PASSAGES, top_n=2)) == 2
    edges = make(overlap_scorer, order="edges").rerank("red apples", PASSAGES)
    assert [p.id for p in edges] == ["apples", "just-apples", "red-apples"]


async def test_async_matches_sync(overlap_scorer):
    reranker = make(overlap_scorer)
    assert await reranker.arerank("red apples", PASSAGES) == reranker.rerank("red apples", PASSAGES)


def test_bad_configuration(overlap_scorer):
    with pytest.raises(ValueError, match="calibrator is required"):
        UtilityDistractionReranker(overlap_scorer)
    with pytest.raises(ValueError, match="irrelevant_weight"):
        make(overlap_scorer, irrelevant_weight=0.0)
    with pytest.raises(ValueError, match="relevant_weight"):
        make(overlap_scorer, relevant_weight=0.0)
    with pytest.raises(ValueError, match="order"):
        make(overlap_scorer, order="random")
    with pytest.raises(ValueError, match="token_budget"):
        make(overlap_scorer, token_budget=0)
    with pytest.raises(ValueError, match="top_n"):
        make(overlap_scorer).rerank("q", PASSAGES, top_n=0)


@pytest.fixture(scope="module")
def tiny_utility(tiny_llama_dir):
    return AbstentionUtility(
        TransformersLLM(str(tiny_llama_dir), batch_size=4), max_passage_tokens=16
    )


def test_abstention_utility_batches_caches_and_truncates(tiny_utility, caplog):
    docs = [Passage("Paris is in France.", id="a"), Passage("Rome is in Italy.", id="b")]
    u = tiny_utility.utilities("Where is Paris?", docs)
    assert all(0.0 <= x <= 1.0 for x in u)
    singles = [tiny_utility.utilities("Where is Paris?", [d])[0] for d in docs]
    assert u == pytest.approx(singles, abs=1e-5)
    tiny_utility._cache.clear()
    calls = []
    original = tiny_utility.llm.next_token_logprobs
    tiny_utility.llm.next_token_logprobs = lambda *a: calls.append(1) or original(*a)
    try:
        tiny_utility.utilities("Where is Paris?", docs)
        tiny_utility.utilities("Where is Paris?", docs)
    finally:
        tiny_utility.llm.next_token_logprobs = original
    assert len(calls) == 1  # the second call is served from the cache
    with caplog.at_level(logging.WARNING, logger="ctx_core.udcg.utility"):
        tiny_utility.utilities("q", [Passage("word " * 50, id="long-passage")])
    assert "long-passage" in caplog.text


def test_abstention_utility_checks_its_arguments(tiny_utility):
    with pytest.raises(ValueError, match="abstain_token"):
        AbstentionUtility(tiny_utility.llm, instruction="Answer the question.")
    with pytest.raises(TypeError, match="ScoringLLM"):
        AbstentionUtility(object())
    with pytest.raises(ValueError, match="question"):
        tiny_utility.utilities("", ["x"])


def test_reranker_with_a_reader_utility(overlap_scorer, tiny_utility):
    reranker = make(overlap_scorer, utility=tiny_utility)
    decisions = reranker.explain("red apples", PASSAGES)
    for d in decisions:
        assert d.expected_gain == pytest.approx(
            d.utility * (d.relevance_probability - (1 - d.relevance_probability) / 3)
        )
    assert {d.passage.id for d in decisions if d.kept} == {"apples", "red-apples", "just-apples"}


@pytest.mark.slow
def test_smollm2_utilities_are_probabilities(smollm2):
    utility = AbstentionUtility(smollm2)
    u = utility.utilities(
        "Who wrote Hamlet?",
        ["Hamlet is a tragedy written by William Shakespeare.", "The Thames flows through London."],
    )
    assert all(0.0 < x <= 1.0 for x in u)
