from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from ctx_core.scoring.bm25 import BM25Scorer
from ctx_core.udcg import LogisticCalibrator
from langchain_ctx import CtxEmbeddings, RerankingRetriever, UDCGReranker

CALIBRATOR = LogisticCalibrator([2.0], -3.0)  # overlap 0 -> p 0.05, 1 -> 0.27, 2 -> 0.73

DOCS = [
    Document("green pears", id="pears", metadata={"src": "x"}),
    Document("red apples", id="apples"),
    Document("blue sky", id="sky"),
]


def test_drops_distractors_and_keeps_caller_data(overlap_scorer):
    reranker = UDCGReranker(relevance=overlap_scorer, calibrator=CALIBRATOR)
    kept = reranker.compress_documents(DOCS, "red apples")
    assert [d.id for d in kept] == ["apples"]
    assert set(kept[0].metadata) == {
        "relevance_score",
        "relevance_probability",
        "utility",
        "expected_gain",
    }
    assert DOCS[1].metadata == {}
    assert reranker.compress_documents(DOCS, "volcano") == []
    assert reranker.compress_documents([], "red") == []


async def test_async_top_n_and_retriever(overlap_scorer):
    reranker = UDCGReranker(relevance=overlap_scorer, calibrator=CALIBRATOR, top_n=1)
    docs = [Document("red apples"), Document("red red apples"), Document("apples")]
    assert len(await reranker.acompress_documents(docs, "red apples")) == 1
    store = InMemoryVectorStore.from_documents(DOCS, CtxEmbeddings())
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": 3}),
        # BM25 0 -> p 0.05: below the default rule's 0.1 floor (at -2.0, p 0.12 would pass
        # it, and two such documents carry more than 0.1 of a 3-document list each).
        reranker=UDCGReranker(relevance=BM25Scorer(), calibrator=LogisticCalibrator([3.0], -3.0)),
        k=3,
    )
    assert [d.id for d in retriever.invoke("apples")] == ["apples"]


def test_in_contextual_compression_retriever(overlap_scorer):
    store = InMemoryVectorStore.from_documents(DOCS, CtxEmbeddings())
    retriever = ContextualCompressionRetriever(
        base_compressor=UDCGReranker(relevance=overlap_scorer, calibrator=CALIBRATOR),
        base_retriever=store.as_retriever(search_kwargs={"k": 3}),
    )
    assert [d.id for d in retriever.invoke("green pears")] == ["pears"]


def test_rule_settings_reach_the_core_reranker(overlap_scorer):
    default = UDCGReranker(relevance=overlap_scorer, calibrator=CALIBRATOR).core_reranker().rule
    assert default.objective == "expected_recall" and default.min_probability == 0.1
    rule = (
        UDCGReranker(
            relevance=overlap_scorer, calibrator=CALIBRATOR, min_share=0.3, min_probability=0.2
        )
        .core_reranker()
        .rule
    )
    assert rule.min_share == 0.3 and rule.min_probability == 0.2
