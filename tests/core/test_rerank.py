import pytest

from ctx_core import Passage, Reranker


@pytest.fixture
def passages():
    return [
        Passage("red apples", id="a", metadata={"src": "x"}, score=0.1),
        Passage("green pears", id="b"),
        Passage("red red apples", id="c"),
        Passage("blue sky", id="d"),
    ]


def test_sorts_cuts_and_annotates(overlap_scorer, passages):
    kept = Reranker(overlap_scorer, top_n=2).rerank("red apples", passages)
    assert [p.id for p in kept] == ["a", "c"]  # tie (2 words each) keeps input order
    assert kept[0].metadata == {"src": "x", "relevance_score": 2.0, "retrieval_score": 0.1}
    assert kept[0].score == 2.0 and kept[0].text == "red apples"
    assert passages[0].metadata == {"src": "x"} and passages[0].score == 0.1  # input untouched


def test_threshold_and_per_call_top_n(overlap_scorer, passages):
    reranker = Reranker(overlap_scorer, score_threshold=1.0)
    assert [p.id for p in reranker.rerank("red apples", passages)] == ["a", "c"]
    assert [p.id for p in reranker.rerank("red apples", passages, top_n=1)] == ["a"]


async def test_async_matches_sync(overlap_scorer, passages):
    reranker = Reranker(overlap_scorer)
    assert await reranker.arerank("blue pears", passages) == reranker.rerank("blue pears", passages)


def test_empty_input_calls_no_model(overlap_scorer):
    assert Reranker(overlap_scorer).rerank("q", []) == []
    assert overlap_scorer.calls == 0


def test_bad_arguments(overlap_scorer, passages):
    with pytest.raises(ValueError, match="top_n"):
        Reranker(overlap_scorer, top_n=0)
    with pytest.raises(TypeError, match="scorer"):
        Reranker(scorer=object())
    with pytest.raises(ValueError, match="top_n"):
        Reranker(overlap_scorer).rerank("q", passages, top_n=0)
    with pytest.raises(ValueError, match="query"):
        Reranker(overlap_scorer).rerank("", passages)


def test_default_scorer_is_the_packaged_embedder():
    reranker = Reranker(top_n=1)
    [best] = reranker.rerank("Where is Paris?", ["Bananas are yellow.", "Paris is in France."])
    assert best.text == "Paris is in France."
