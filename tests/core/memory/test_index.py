"""MemoryIndex: three layers, expansion, de-duplication, reranking, provenance, add/remove."""

import numpy as np
import pytest

from ctx_core.memory import DocumentMemory, MemoryIndex, OutlineEntry, ScenarioChunk
from ctx_core.memory.index import layer_rows

DOCS = {
    "france": "# Paris\n\nParis is the capital of France and sits on the Seine.\n\n# Lyon\n\nLyon is known for its food.",
    "fruit": "# Bananas\n\nBananas are long yellow fruit that grow in bunches.\n\n# Apples\n\nApples can be red or green.",
    "space": "# Mars\n\nMars is the fourth planet from the sun and looks red.\n\n# Moon\n\nThe Moon orbits the Earth.",
}


@pytest.fixture(scope="module")
def index(embedder):
    idx = MemoryIndex(embedder)
    idx.add_texts(list(DOCS.values()), ids=list(DOCS), metadatas=[{"topic": k} for k in DOCS])
    return idx


def test_search_returns_chunks_with_provenance(index):
    hits = index.search("What is the capital of France?", k=2)
    assert hits[0].id == "france#0"
    top = hits[0]
    assert top.text == "# Paris\n\nParis is the capital of France and sits on the Seine."
    assert top.metadata["heading"] == "Paris" and top.metadata["doc_id"] == "france"
    assert top.metadata["topic"] == "france"  # the document's metadata is kept
    assert "chunk" in top.metadata["memory_layers"]
    assert set(top.metadata["layer_scores"]) == set(top.metadata["memory_layers"])
    assert top.score == top.metadata["relevance_score"] == top.metadata["retrieval_score"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_outline_and_core_hits_expand_to_the_documents_chunks(embedder):
    idx = MemoryIndex(embedder, chunk_k=0, outline_k=1, core_k=0)
    idx.add_texts(list(DOCS.values()), ids=list(DOCS))
    hits = idx.search("Bananas and Apples", k=10)
    assert {h.metadata["doc_id"] for h in hits} == {"fruit"}
    assert {h.id for h in hits} == {"fruit#0", "fruit#1"}  # the outline row expands to both
    assert all(h.metadata["memory_layers"] == ["outline"] for h in hits)
    only_core = idx.search("yellow fruit in bunches", k=10, layers=["core"])
    assert only_core == []  # core_k=0 takes no core rows
    idx.core_k = 1
    assert {
        h.metadata["memory_layers"][0] for h in idx.search("yellow fruit", k=10, layers=["core"])
    } == {"core"}


def test_layers_hold_what_was_embedded(index):
    rows = index.rows("france")
    assert next(r.text for r in rows["chunk"]).startswith("Paris\n# Paris")
    assert rows["outline"][0].text == "Outline:\nParis\nLyon" and rows["outline"][0].chunks == (
        0,
        1,
    )
    assert rows["core"][0].text.startswith("Key information:\n") and rows["core"][0].chunks == (
        0,
        1,
    )


def test_long_outline_and_core_layers_are_split_into_rows():
    source = "".join(f"Sentence number {i} is here. " for i in range(30))
    chunks = [
        ScenarioChunk(i * 28, (i + 1) * 28 if i < 29 else len(source), f"core {i} " * 5, i)
        for i in range(30)
    ]
    outline = [OutlineEntry(f"Heading {i} of the document") for i in range(30)]
    memory = DocumentMemory("long", source, outline, chunks)
    rows = layer_rows(memory, layer_words=20)
    assert len(rows["outline"]) > 1 and len(rows["core"]) > 1
    covered = [c for r in rows["core"] for c in r.chunks]
    assert covered == list(range(30))  # each core row expands to exactly its own chunks


def test_near_duplicates_are_dropped_and_keep_provenance(embedder):
    idx = MemoryIndex(embedder)
    text = "Mount Everest is the highest mountain on Earth, in the Himalayas."
    idx.add_texts([text, text + " ", "Rivers flow into the sea."], ids=["a", "b", "c"])
    hits = idx.search("highest mountain", k=5)
    assert [h.metadata["doc_id"] for h in hits].count("a") + [
        h.metadata["doc_id"] for h in hits
    ].count("b") == 1
    assert hits[0].metadata["doc_id"] == "a"  # the first added wins ties


def test_rerank_with_any_scorer(index, overlap_scorer):
    hits = index.search("Which planet is red?", k=3, scorer=overlap_scorer)
    assert overlap_scorer.calls == 1
    assert hits[0].metadata["relevance_score"] == hits[0].score
    assert hits[0].metadata["retrieval_score"] != hits[0].score  # embedding similarity kept apart
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


async def test_asearch_matches_search(index, overlap_scorer):
    sync = index.search("Tell me about Mars", k=3)
    asynchronous = await index.asearch("Tell me about Mars", k=3)
    assert [p.id for p in asynchronous] == [p.id for p in sync]
    reranked = await index.asearch("Which planet is red?", k=2, scorer=overlap_scorer)
    assert len(reranked) == 2 and overlap_scorer.calls == 1


def test_add_and_remove_without_rebuilding(embedder):
    idx = MemoryIndex(embedder)
    idx.add_texts([DOCS["france"], DOCS["fruit"]], ids=["france", "fruit"])
    before = idx._entries["france"].vectors["chunk"].copy()
    idx.add_texts([DOCS["space"]], ids=["space"])
    assert idx.doc_ids == ["france", "fruit", "space"]
    assert np.array_equal(idx._entries["france"].vectors["chunk"], before)  # not re-embedded
    assert idx.search("fourth planet", k=1)[0].metadata["doc_id"] == "space"
    removed = idx.remove("space")
    assert removed.doc_id == "space" and "space" not in idx and len(idx) == 2
    assert all(h.metadata["doc_id"] != "space" for h in idx.search("fourth planet", k=5))
    with pytest.raises(KeyError, match="no memory with doc_id 'space'"):
        idx.remove("space")
    with pytest.raises(ValueError, match="already in the index"):
        idx.add_texts(["again"], ids=["france"])
    idx.add_texts(["Paris hosted the 2024 Olympics."], ids=["france"], replace=True)
    assert idx.get("france").source == "Paris hosted the 2024 Olympics."


def test_empty_index_and_bad_queries(embedder):
    idx = MemoryIndex(embedder)
    assert idx.search("anything") == []
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        idx.search("   ")
    with pytest.raises(TypeError, match="query must be a str"):
        idx.search(None)
    with pytest.raises(ValueError, match="k must be >= 1"):
        idx.search("x", k=0)
    idx.add_texts(["Some text."], ids=["t"])
    with pytest.raises(ValueError, match="layers must be a non-empty subset"):
        idx.search("x", layers=["summary"])
    with pytest.raises(TypeError, match="memories\\[0\\] must be a DocumentMemory"):
        idx.add_many(["text"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"chunk_k": -1}, "chunk_k must be >= 0"),
        ({"chunk_k": 0, "outline_k": 0, "core_k": 0}, "at least one"),
        ({"duplicate_threshold": 0}, "duplicate_threshold"),
        ({"layer_words": 0}, "layer_words"),
    ],
)
def test_bad_settings(embedder, options, message):
    with pytest.raises(ValueError, match=message):
        MemoryIndex(embedder, **options)
