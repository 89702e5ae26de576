"""The memory evaluation: session documents, evidence recall, word budgets."""

import pytest

from ctx_core.eval.datasets import Conversation, IRCollection, Session, Turn
from ctx_core.eval.datasets import LoCoMoQA as QA
from ctx_core.eval.tasks.memory import (
    ChunkHit,
    FixedChunkMethod,
    MemoryMethod,
    QueryCachingEmbedder,
    _evidence_covered,
    _within_budget,
    evaluate_locomo,
    session_document,
)
from ctx_core.memory import HeuristicMemoryExtractor


def conversation():
    pets = [
        Turn("D1:1", "Ann", "I adopted a grey kitten called Miso last week."),
        Turn("D1:2", "Bob", "Lovely! What does Miso like to eat?"),
        Turn(
            "D1:3", "Ann", "Tuna, and she sleeps in cardboard boxes all day.", "a kitten in a box"
        ),
    ]
    space = [
        Turn("D2:1", "Bob", "My rocket club launched a model rocket to three hundred metres."),
        Turn("D2:2", "Ann", "Wow, how did the parachute work?"),
        Turn("D2:3", "Bob", "It opened at the top and the rocket landed in a field."),
    ]
    return Conversation(
        "conv-x",
        [
            Session("session_1", "1 May 2023", pets),
            Session("session_2", "8 May 2023", space),
            Session("session_3", "", []),
        ],
        [
            QA("What is the kitten called?", "Miso", 1, ["D1:1"]),
            QA("How high did the model rocket fly?", "300 m", 4, ["D2:1", "D2:3"]),
            QA("Unanswerable", "", 5, []),
            QA("Refers to a missing turn", "x", 1, ["D9:9"]),
        ],
    )


def test_session_document_spans_point_at_each_turn():
    session = conversation().sessions[0]
    text, spans = session_document(session)
    assert text.startswith("1 May 2023\n\nAnn: I adopted")
    for (dia_id, start, end), turn in zip(spans, session.turns, strict=True):
        assert text[start:end].startswith(f"{turn.speaker}: {turn.text}")
        assert dia_id == turn.dia_id
    assert text[spans[2][1] : spans[2][2]].endswith("[shares a photo: a kitten in a box]")


def test_coverage_and_budget():
    spans = {"a": ("d", 0, 10), "b": ("d", 12, 20), "c": ("e", 0, 5)}
    assert _evidence_covered([ChunkHit("d", 5, 15, 3)], spans) == {"a", "b"}
    assert _evidence_covered([ChunkHit("d", 10, 12, 1)], spans) == set()
    assert _evidence_covered([ChunkHit("d", 5, 15, 3)], spans, ["b", "c"]) == {"b"}
    hits = [ChunkHit("d", 0, 1, 60), ChunkHit("d", 1, 2, 50), ChunkHit("d", 2, 3, 10)]
    # Greedy packing: the 50-word chunk overflows 100 words after the 60-word one and is
    # skipped; the 10-word chunk after it still fits.
    assert _within_budget(hits, 100) == [hits[0], hits[2]]
    assert _within_budget(hits, 120) == hits
    # A first chunk larger than the budget no longer leaves the budget empty.
    big_first = [ChunkHit("d", 0, 1, 120), ChunkHit("d", 1, 2, 90), ChunkHit("d", 2, 3, 20)]
    assert _within_budget(big_first, 100) == [big_first[1]]
    assert _within_budget(big_first, 40) == [big_first[2]]
    assert _within_budget(big_first, 5) == []


def test_query_caching_embedder_embeds_each_query_once(embedder):
    cached = QueryCachingEmbedder(cache_size=2)
    first = cached.embed_query("where is the cat?")
    assert cached.embed_query("where is the cat?") is first
    assert not first.flags.writeable
    assert first == pytest.approx(embedder.embed_query("where is the cat?"), abs=1e-5)
    cached.embed_query("a")
    cached.embed_query("b")
    assert "where is the cat?" not in cached._queries
    assert cached.embed_query("where is the cat?") is not first


def test_evaluate_locomo_compares_methods(embedder):
    methods = [
        FixedChunkMethod(embedder, 20),
        MemoryMethod(
            HeuristicMemoryExtractor(embedder, max_words=20, min_words=5), embedder, "memory"
        ),
    ]
    saved = []
    results = evaluate_locomo(
        [conversation()], methods, ks=(1, 2), budgets=(30,), on_conversation=saved.append
    )
    assert results["questions"] == 2 and results["conversations_evaluated"] == 1
    assert len(saved) == 1 and saved[0]["metrics"] == results["metrics"]
    assert results["skipped"] == {"no_evidence": 1, "evidence_outside_sessions": 1}
    assert set(results["metrics"]) == {"fixed-20w", "memory", "memory-chunk-layer"}
    for name, metrics in results["metrics"].items():
        assert 0.0 <= metrics["recall@1"] <= metrics["recall@2"] <= 1.0, name
        assert metrics["hit@2"] == 1.0  # two sessions, each with its topic: found by everyone
    first = results["per_query"][0]
    assert first["evidence"] == ["D1:1"] and first["values"]["memory"]["recall@1"] == 1.0
    assert results["methods"]["memory"]["kind"] == "memory"


def test_evaluate_ir_uses_the_harness_metrics(embedder):
    from ctx_core.eval.tasks.memory import WholeDocumentMethod, evaluate_ir
    from ctx_core.types import Passage

    collection = IRCollection(
        "toy",
        [
            Passage("Kittens drink milk.", id="1"),
            Passage("Rockets burn fuel.", id="2"),
            Passage("", id="3"),
        ],
        {"q1": "what do rockets burn", "q2": "no judgments"},
        {"q1": {"2": 1}},
    )
    windows = FixedChunkMethod(embedder, 2, unit="words")
    methods = [WholeDocumentMethod(embedder), FixedChunkMethod(embedder, 2), windows]
    results = evaluate_ir(collection, methods, depth=2, chunk_depth=5)
    assert results["queries"] == 1 and results["documents_without_text"] == 1
    for name in ("whole-document", "fixed-2w", "window-2w"):
        assert results["metrics"][name]["ndcg@10"] == 1.0
    assert results["methods"]["window-2w"]["unit"] == "words"
    # Single-paragraph documents: paragraphs stay whole, windows split them.
    assert [(h.doc_id, h.words) for h in windows._hits] == [("1", 2), ("1", 1), ("2", 2), ("2", 1)]
    with pytest.raises(ValueError, match="unit"):
        FixedChunkMethod(embedder, 2, unit="sentences")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fixed-words", "a,b"], "--fixed-words must be comma-separated integers"),
        (["--memory-words", "0"], "--memory-words needs sizes >= 1"),
        (["--window-words", "0"], "--window-words needs sizes >= 1"),
        (["--limit", "0"], "--limit must be >= 1"),
    ],
)
def test_eval_memory_cli_rejects_bad_options(capsys, argv, message):
    pytest.importorskip("ctx_core.eval.results")
    from ctx_core.cli.main import main

    assert main(["eval", "memory", "--dataset", "locomo", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_eval_memory_cli_on_one_conversation(tmp_path):
    pytest.importorskip("ctx_core.eval.results")
    import json

    from ctx_core.cli.main import main
    from ctx_core.eval.datasets import resolve_data_dir

    try:
        resolve_data_dir()
    except (FileNotFoundError, ValueError):
        pytest.skip("no evaluation data here")
    out = tmp_path / "locomo.json"
    argv = ["eval", "memory", "--dataset", "locomo", "--limit", "1", "--fixed-words", "120"]
    assert main([*argv, "--no-progress", "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["questions"] > 100 and results["kind"] == "memory"
    assert set(results["metrics"]) == {
        "fixed-120w",
        "memory-heuristic-150w",
        "memory-heuristic-150w-chunk-layer",
    }


def test_memory_shape_keeps_spans_and_no_text(embedder):
    from ctx_core.cli.eval_memory import memory_shape

    text = "# Cats\n\nCats purr when content.\n\n# Dogs\n\nDogs bark at the mail carrier."
    memory = HeuristicMemoryExtractor(embedder, max_words=20, min_words=2).extract(
        text, doc_id="pets"
    )
    shape = memory_shape(memory)
    assert shape["source_characters"] == len(text) and shape["doc_id"] == "pets"
    assert [(c["start"], c["end"]) for c in shape["chunks"]] == [
        (c.start, c.end) for c in memory.chunks
    ]
    dumped = repr(shape)
    assert "purr" not in dumped and "bark" not in dumped and "Cats" not in dumped
