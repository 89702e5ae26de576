"""Property-based tests of the LangChain reranker over real ``Document`` objects (issue 22).

Arbitrary queries, documents (unicode, empty text, ids, metadata with NaN/inf) and
``top_n`` values go through ``ContextReranker.compress_documents`` (BM25 scorer: no
model). Properties: only documented errors, the caller's documents are not mutated,
every returned document is a copy of a distinct input one with its id, text and
metadata, at most ``top_n`` of them (a per-call ``top_n=0`` keeps none), best first by the
score written now (an input ``relevance_score`` is replaced).
"""

from __future__ import annotations

import asyncio
import copy
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from ctx_core.errors import CtxError
from ctx_core.scoring import BM25Scorer
from langchain_ctx import ContextReranker

DOCUMENTED = (ValueError, TypeError, CtxError)
RESERVED = {"relevance_score", "retrieval_score"}
FAST = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

words = st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=8)
sentences = st.lists(words, min_size=1, max_size=6).map(" ".join)
texts = st.one_of(st.text(max_size=40), sentences, st.just(""))
queries = st.one_of(st.text(max_size=30), sentences, st.just(""))
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
metadata = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in RESERVED),
    st.one_of(values, st.lists(values, max_size=3)),
    max_size=4,
)
documents = st.lists(
    st.builds(
        Document,
        page_content=texts,
        metadata=metadata,
        id=st.one_of(st.none(), st.text(min_size=1, max_size=6)),
    ),
    max_size=8,
)
top_ns = st.one_of(st.none(), st.integers(1, 10))


def snapshot(docs: list[Document]) -> str:
    return repr([(d.id, d.page_content, copy.deepcopy(d.metadata)) for d in docs])


def check_output(inputs: list[Document], output: list[Document], top_n: int | None) -> None:
    assert all(isinstance(d, Document) for d in output)
    if top_n is not None:
        assert len(output) <= top_n
    free = list(range(len(inputs)))
    for doc in output:
        assert all(doc is not d for d in inputs), "returned the caller's object, not a copy"
        match = next(
            (
                i
                for i in free
                if inputs[i].page_content == doc.page_content
                and inputs[i].id == doc.id
                and all(repr(doc.metadata.get(k)) == repr(v) for k, v in inputs[i].metadata.items())
            ),
            None,
        )
        assert match is not None, f"no distinct input document for {doc!r}"
        free.remove(match)
    scores = [d.metadata["relevance_score"] for d in output]
    assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
    assert scores == sorted(scores, reverse=True)


def compress(reranker: ContextReranker, docs: list[Document], query: str, use_async: bool) -> Any:
    if use_async:
        return asyncio.run(reranker.acompress_documents(docs, query))
    return reranker.compress_documents(docs, query)


@FAST
@given(docs=documents, query=queries, top_n=top_ns, use_async=st.booleans())
def test_compress_documents(
    docs: list[Document], query: str, top_n: int | None, use_async: bool
) -> None:
    reranker = ContextReranker(scorer=BM25Scorer(), top_n=top_n)
    before = snapshot(docs)
    try:
        output = list(compress(reranker, docs, query, use_async))
    except DOCUMENTED:
        output = None
    assert snapshot(docs) == before, "the caller's documents were mutated"
    if output is not None:
        check_output(docs, output, top_n)
    if not docs:
        assert output == []


@FAST
@given(
    top_n=st.one_of(
        st.integers(-3, 0), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)
    )
)
def test_bad_constructor_top_n_is_a_documented_error(top_n: Any) -> None:
    # Refused when built, or refused when used, or honoured: never an undocumented error.
    try:
        reranker = ContextReranker(scorer=BM25Scorer(), top_n=top_n)
        out = reranker.compress_documents([Document(t) for t in ("a b", "b c", "c d")], "b")
    except DOCUMENTED:
        return
    assert len(out) <= max(int(top_n), 0)


@FAST
@given(docs=st.lists(sentences, min_size=1, max_size=5, unique=True), query=sentences)
def test_per_call_top_n_zero_is_not_the_default(docs: list[str], query: str) -> None:
    reranker = ContextReranker(scorer=BM25Scorer(), top_n=None)
    try:
        out = reranker.rerank_documents([Document(t) for t in docs], query, top_n=0)
    except DOCUMENTED:
        return
    assert out == []


@FAST
@given(
    docs=st.lists(sentences, min_size=2, max_size=5, unique=True),
    old=st.lists(st.floats(-100, 100), min_size=5, max_size=5),
    query=sentences,
)
def test_input_relevance_score_is_replaced(docs: list[str], old: list[float], query: str) -> None:
    given_docs = [
        Document(t, metadata={"relevance_score": s}) for t, s in zip(docs, old, strict=False)
    ]
    out = ContextReranker(scorer=BM25Scorer()).compress_documents(given_docs, query)
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)
