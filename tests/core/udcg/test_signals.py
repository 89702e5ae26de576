import pytest

from ctx_core import Passage
from ctx_core.scoring.bm25 import BM25Scorer, word_tokens
from ctx_core.udcg import HybridSignals, RelevanceSignals, ScorerSignals

PASSAGES = [
    Passage(
        "Kiss and Tell is a 1945 film starring Shirley Temple as Corliss Archer.",
        id="film",
        metadata={"title": "Kiss and Tell (1945 film)"},
    ),
    Passage(
        "Shirley Temple later served as Chief of Protocol of the United States.",
        id="temple",
        metadata={"title": "Shirley Temple"},
    ),
    Passage(
        "Meet Corliss Archer was a radio program.",
        id="radio",
        metadata={"title": "Meet Corliss Archer"},
    ),
    Passage("Bananas are rich in potassium.", id="banana"),
]
QUESTION = "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"


@pytest.fixture(scope="module")
def hybrid(embedder):
    return HybridSignals(embedder)


def test_hybrid_columns(hybrid):
    assert isinstance(hybrid, RelevanceSignals)
    columns = hybrid.signals(QUESTION, PASSAGES)
    assert set(columns) == set(hybrid.columns)
    assert all(len(v) == len(PASSAGES) for v in columns.values())
    dense = columns["dense"]
    assert dense.index(max(dense)) == 0  # the film paragraph is the best first hop
    # The best paragraph names "Shirley Temple": a link to the second hop.
    assert columns["title_in_best"] == [0.0, 1.0, 0.0, 0.0]
    assert columns["title_in_query"][0] == 0.75  # kiss, tell, film of kiss, tell, 1945, film
    assert columns["title_in_query"][3] == 0.0  # no title
    assert columns["bm25"][3] == 0.0 and columns["bm25"][0] > 0
    assert columns["feedback"][1] > columns["feedback"][3]


async def test_hybrid_async_and_empty(hybrid):
    assert await hybrid.asignals(QUESTION, PASSAGES) == hybrid.signals(QUESTION, PASSAGES)
    assert hybrid.signals(QUESTION, []) == {c: [] for c in hybrid.columns}
    with pytest.raises(ValueError, match="query"):
        hybrid.signals("", PASSAGES)


def test_scorer_signals_wraps_any_scorer():
    signals = ScorerSignals(BM25Scorer())
    assert signals.signals("radio program", PASSAGES)["score"][2] > 0
    with pytest.raises(TypeError, match="scorer"):
        ScorerSignals(object())


def test_bm25_in_list():
    assert word_tokens("Don't stop") == ["don", "t", "stop"]
    scores = BM25Scorer().score("shirley temple protocol", PASSAGES)
    assert scores.index(max(scores)) == 1
    with pytest.raises(ValueError, match="k1"):
        BM25Scorer(k1=-1)
