"""Property-based tests of the core's public entry points (issue 22, "in the suite").

Arbitrary queries, passages (unicode, empty strings), ids, metadata (NaN and
infinities included), retrieval scores and ``top_n`` values (0, negatives, floats,
bools) go through the rerankers, the context tools, the structurizer and the
chunkers. The properties: no exception outside the documented ones (``ValueError``,
``TypeError``, the project's ``CtxError``), inputs never mutated, ids / text /
metadata kept on every returned item, and the output a permutation of a subset of
the input; a ``top_n`` that is not a positive int and a non-finite score are named
errors.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctx_core import Passage
from ctx_core.chunking import chunk_text, chunk_words
from ctx_core.context import WorkingContext
from ctx_core.errors import CtxError
from ctx_core.rerank import Reranker
from ctx_core.scoring import BM25Scorer
from ctx_core.scoring.base import BaseScorer

#: What a public entry point may raise on bad input.
DOCUMENTED = (ValueError, TypeError, CtxError)
#: Keys the rerankers document that they set on the copies they return.
RESERVED = {"relevance_score", "retrieval_score"}

# No example database: the runs stay fast and write nothing into the working tree.
FAST = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
MODEL = settings(
    max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

texts = st.text(max_size=40)
words = st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=8)
sentences = st.lists(words, min_size=1, max_size=6).map(" ".join)
# Passages that mostly share words with the queries, so scores are not all zero.
passage_texts = st.one_of(texts, sentences, st.just(""))
queries = st.one_of(texts, sentences, st.just(""), st.just("   "))
ids = st.one_of(st.just(""), st.text(max_size=6))
json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
metadata = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in RESERVED),
    st.one_of(json_values, st.lists(json_values, max_size=3)),
    max_size=4,
)
scores = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
passages_ = st.builds(Passage, text=passage_texts, id=ids, metadata=metadata, score=scores)
candidates = st.lists(st.one_of(passage_texts, passages_), max_size=8)
int_top_n = st.one_of(st.none(), st.integers(-3, 10))
odd_top_n = st.one_of(st.booleans(), st.floats(allow_nan=True, allow_infinity=True))


def snapshot(value: Any) -> str:
    """A comparable picture of ``value`` (``repr`` keeps NaN equal to itself)."""
    return repr(copy.deepcopy(value))


def as_passages(items: Sequence[Passage | str]) -> list[Passage]:
    return [p if isinstance(p, Passage) else Passage(p) for p in items]


def check_subset(inputs: Sequence[Passage | str], output: Sequence[Passage]) -> None:
    """Output items are copies of distinct input items with id, text and metadata kept."""
    by_id = {p.id: p for p in as_passages(inputs)}
    seen = [p.id for p in output]
    assert len(seen) == len(set(seen)), "an input passage returned twice"
    for item in output:
        assert isinstance(item, Passage)
        original = by_id[item.id]
        assert item.text == original.text
        for key, value in original.metadata.items():
            assert repr(item.metadata[key]) == repr(value), key


def run_rerank(call: Any, inputs: Sequence[Passage | str]) -> list[Passage] | None:
    """Call, allow only documented errors, check the output; ``None`` when it raised."""
    before = snapshot(inputs)
    try:
        output = call()
    except DOCUMENTED:
        output = None
    assert snapshot(inputs) == before, "the input was mutated"
    if output is not None:
        check_subset(inputs, output)
    return output


# -- Reranker with BM25 (no model) ---------------------------------------------------------


@FAST
@given(
    query=queries,
    items=candidates,
    top_n=int_top_n,
    threshold=st.one_of(st.none(), st.floats(-5, 5)),
)
def test_bm25_rerank(
    query: str, items: list[Any], top_n: int | None, threshold: float | None
) -> None:
    reranker = Reranker(BM25Scorer(), score_threshold=threshold)
    out = run_rerank(lambda: reranker.rerank(query, items, top_n=top_n), items)
    if out is None:
        return
    if top_n is not None:
        assert len(out) <= max(top_n, 0)  # empty input: [] even for a bad top_n
    values = [p.score for p in out]
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert values == sorted(values, reverse=True)
    if threshold is not None:
        assert all(v >= threshold for v in values)
    assert all(p.metadata["relevance_score"] == p.score for p in out)


@FAST
@given(query=queries, items=candidates, top_n=int_top_n)
def test_bm25_arerank_equals_rerank(query: str, items: list[Any], top_n: int | None) -> None:
    reranker = Reranker(BM25Scorer())
    sync = run_rerank(lambda: reranker.rerank(query, items, top_n=top_n), items)
    asynchronous = run_rerank(
        lambda: asyncio.run(reranker.arerank(query, items, top_n=top_n)), items
    )
    assert (sync is None) == (asynchronous is None)
    if sync is not None and asynchronous is not None:
        assert [p.id for p in sync] == [p.id for p in asynchronous]


@FAST
@given(
    query=sentences, items=st.lists(sentences, min_size=1, max_size=5, unique=True), top_n=int_top_n
)
def test_bm25_constructor_top_n(query: str, items: list[str], top_n: int | None) -> None:
    try:
        reranker = Reranker(BM25Scorer(), top_n=top_n)
    except DOCUMENTED:
        assert top_n is not None and top_n < 1
        return
    out = run_rerank(lambda: reranker.rerank(query, items), items)
    assert out is not None
    assert len(out) == (len(items) if top_n is None else min(top_n, len(items)))


@FAST
@given(
    query=sentences, items=st.lists(sentences, min_size=1, max_size=5, unique=True), top_n=odd_top_n
)
def test_top_n_float_or_bool_is_rejected_with_a_named_error(
    query: str, items: list[str], top_n: Any
) -> None:
    with pytest.raises(DOCUMENTED, match="top_n"):
        Reranker(BM25Scorer()).rerank(query, items, top_n=top_n)


@FAST
@given(
    query=sentences, items=st.lists(sentences, min_size=1, max_size=5, unique=True), top_n=odd_top_n
)
def test_top_n_float_or_bool_raises_only_documented_errors(
    query: str, items: list[str], top_n: Any
) -> None:
    reranker = Reranker(BM25Scorer())
    run_rerank(lambda: reranker.rerank(query, items, top_n=top_n), items)


@FAST
@given(items=st.lists(sentences, min_size=2, max_size=6, unique=True), query=sentences)
def test_bm25_rerank_order_does_not_depend_on_input_order(items: list[str], query: str) -> None:
    reranker = Reranker(BM25Scorer())
    forward = reranker.rerank(query, items)
    backward = reranker.rerank(query, list(reversed(items)))
    assert sorted((p.id, round(p.score, 9)) for p in forward) == sorted(
        (p.id, round(p.score, 9)) for p in backward
    )


class TableScorer(BaseScorer):
    """A scorer whose score for a passage is looked up by its text (NaN / inf included)."""

    name = "table"

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def _score(self, query: str, passages: Sequence[Passage]) -> list[float]:
        return [self.table[p.text] for p in passages]


@FAST
@given(
    finite=st.lists(st.floats(-5, 5), min_size=2, max_size=6, unique=True),
    data=st.data(),
)
def test_non_finite_scores_are_rejected_or_ordered_consistently(
    finite: list[float], data: st.DataObject
) -> None:
    # Distinct finite scores (ties keep the input order by design), some replaced by NaN/inf.
    values = [data.draw(st.sampled_from([v, v, math.nan, math.inf, -math.inf])) for v in finite]
    texts_ = [f"passage {i}" for i in range(len(values))]
    reranker = Reranker(TableScorer(dict(zip(texts_, values, strict=True))))
    shuffled = data.draw(st.permutations(texts_))
    try:
        first = [p.id for p in reranker.rerank("q", texts_)]
    except DOCUMENTED:
        return  # a named error is one acceptable definition
    second = [p.id for p in reranker.rerank("q", shuffled)]
    finite_ids = {Passage(t).id for t, v in zip(texts_, values, strict=True) if math.isfinite(v)}
    assert [i for i in first if i in finite_ids] == [i for i in second if i in finite_ids]


# -- Reranker and UDCG reranker on the packaged MiniLM --------------------------------------


@pytest.fixture(scope="module")
def minilm_reranker() -> Reranker:
    from ctx_core.scoring import EmbeddingScorer

    return Reranker(EmbeddingScorer())


@MODEL
@given(
    query=queries, items=st.lists(st.one_of(passage_texts, passages_), max_size=4), top_n=int_top_n
)
def test_minilm_rerank(
    minilm_reranker: Reranker, query: str, items: list[Any], top_n: int | None
) -> None:
    out = run_rerank(lambda: minilm_reranker.rerank(query, items, top_n=top_n), items)
    if out is not None:
        assert all(math.isfinite(p.score) for p in out)


@MODEL
@given(
    query=queries, items=st.lists(st.one_of(passage_texts, passages_), max_size=4), top_n=int_top_n
)
def test_minilm_arerank(
    minilm_reranker: Reranker, query: str, items: list[Any], top_n: int | None
) -> None:
    run_rerank(lambda: asyncio.run(minilm_reranker.arerank(query, items, top_n=top_n)), items)


@pytest.fixture(scope="module")
def udcg_reranker() -> Any:
    from ctx_core.udcg import UtilityDistractionReranker

    # BM25 relevance with a plain logistic calibrator: the UDCG logic without a model.
    from ctx_core.udcg.calibration import LogisticCalibrator

    return UtilityDistractionReranker(BM25Scorer(), calibrator=LogisticCalibrator([1.0], -1.0))


@FAST
@given(query=queries, items=candidates, top_n=int_top_n)
def test_udcg_rerank(udcg_reranker: Any, query: str, items: list[Any], top_n: int | None) -> None:
    out = run_rerank(lambda: udcg_reranker.rerank(query, items, top_n=top_n), items)
    if out is not None and top_n is not None:
        assert len(out) <= max(top_n, 0)  # empty input: [] even for a bad top_n


# -- context tools: fold / restore give back the text byte for byte --------------------------


@FAST
@given(
    text=st.text(min_size=2, max_size=200),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_fold_restore_round_trip(text: str, cut: tuple[float, float]) -> None:
    context = WorkingContext([("user", text)])
    original = context.original()
    a, b = sorted(int(c * len(text)) for c in cut)
    try:
        fragment = context.add_fragment((0, a), (0, b))
    except DOCUMENTED:
        assert a == b  # only an empty span may be refused
        return
    assert context.fragment_text(fragment.id) == text[a:b]
    context.fold(fragment.id)
    context.restore(fragment.id)
    assert context.render().messages == original
    assert context.original() == original
    context.fold(fragment.id)
    context.undo()
    assert context.render().messages == original


# -- structurize: every sentence is under exactly one aspect ---------------------------------


@pytest.fixture(scope="module")
def structurizer() -> Any:
    from ctx_core.structure import HeuristicStructurizer

    return HeuristicStructurizer()


@MODEL
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.lists(sentences.map(lambda s: s + "."), min_size=1, max_size=12).map(" ".join),
        st.lists(sentences, min_size=1, max_size=6).map(
            lambda xs: "\n\n".join(f"# {x}\n{x}." for x in xs)
        ),
    )
)
def test_heuristic_structurizer_covers_every_sentence(structurizer: Any, text: str) -> None:
    try:
        structure = structurizer.structurize(text)
    except DOCUMENTED:
        assert not text.strip()
        return
    covered = [i for aspect in structure.aspects for i in aspect.all_sentences()]
    assert sorted(covered) == list(range(len(structure.sentences)))
    assert structure.source == text
    for sentence in structure.sentences:
        assert text[sentence.start : sentence.end] == sentence.text


# -- chunking: chunks are slices of the text at their offsets, covering every word ----------


@FAST
@given(
    text=st.text(max_size=400),
    max_words=st.integers(-2, 30),
    overlap=st.integers(-1, 10),
    meta=st.one_of(st.none(), metadata),
)
def test_chunking(text: str, max_words: int, overlap: int, meta: dict[str, Any] | None) -> None:
    before = snapshot(meta)
    for chunk in (
        lambda: chunk_text(text, max_words=max_words, metadata=meta),
        lambda: chunk_words(text, max_words=max_words, overlap=overlap, metadata=meta),
    ):
        try:
            out = chunk()
        except DOCUMENTED:
            assert max_words < 1 or not 0 <= overlap < max_words
            continue
        assert snapshot(meta) == before
        for passage in out:
            start, end = passage.metadata["start"], passage.metadata["end"]
            assert text[start:end] == passage.text
            for key, value in (meta or {}).items():
                if key not in ("start", "end", "chunk_index"):
                    assert repr(passage.metadata[key]) == repr(value)
        covered = "".join(p.text for p in out)
        assert sorted(text.split()) == sorted(w for p in out for w in p.text.split()) or (
            out and len(covered) >= len("".join(text.split()))
        )


@FAST
@given(
    messages=st.lists(st.text(min_size=1, max_size=120), min_size=1, max_size=3),
    window=st.integers(1, 40),
    folds=st.data(),
)
def test_context_tools_fold_restore_round_trip(
    messages: list[str], window: int, folds: st.DataObject
) -> None:
    from ctx_core.context import ContextTools

    context = WorkingContext([("user", m) for m in messages])
    original = context.original()
    tools = ContextTools(context)
    made = tools.fragment_context(window_tokens=window)
    if not made.get("ok"):
        return  # a tool error (e.g. nothing to fragment) is a result, not an exception
    fragment_ids = [f["id"] for f in made["fragments"]]
    chosen = (
        folds.draw(st.lists(st.sampled_from(fragment_ids), unique=True)) if fragment_ids else []
    )
    for fragment_id in chosen:
        assert tools.fold_fragment(fragment_id)["ok"]
    for fragment_id in chosen:
        assert tools.restore_fragment(fragment_id)["ok"]
    assert context.render().messages == original
    assert [m["content"] for m in context.original()] == messages
