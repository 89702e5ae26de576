"""The config contract: every core component's ``config()`` rebuilds, through JSON, a component
that makes the same decisions on the same input; and what cannot be serialized says so."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ctx_core import Passage, Reranker
from ctx_core._registry import from_config, names, to_config
from ctx_core.errors import ConfigError
from ctx_core.llm import BaseLLM
from ctx_core.scoring import BM25Scorer, EmbeddingScorer
from ctx_core.tokens import TokenCounter
from ctx_core.udcg import (
    AbstentionUtility,
    HybridSignals,
    LogisticCalibrator,
    ScorerSignals,
    UtilityDistractionReranker,
)

from .structure.structure_texts import MARKDOWN, TOPICS

QUERY = "Who wrote Hamlet?"
PASSAGES = [
    Passage(
        "Hamlet is a tragedy written by William Shakespeare.", id="a", metadata={"title": "Hamlet"}
    ),
    Passage("The Thames flows through London.", id="b", metadata={"title": "Thames"}),
    Passage(
        "Shakespeare was born in Stratford-upon-Avon.",
        id="c",
        metadata={"title": "William Shakespeare"},
    ),
    Passage("Bananas are yellow and grow in bunches.", id="d"),
]
DOCUMENT = (
    "# Rice\n\nYoung rice plants are fragile in their first weeks. Growers protect them "
    "with clean seed and clean water.\n\n# Jazz\n\nJazz grew out of blues and ragtime in "
    "New Orleans. Improvisation is a defining feature of jazz performances.\n"
)


def rebuilt(component: Any) -> Any:
    """``from_config`` of the component's config after a trip through JSON text."""
    config = to_config(component)
    assert config["type"] == type(component).__name__
    assert config["type"] in names("component")
    again = from_config(json.loads(json.dumps(config)))
    assert type(again) is type(component)
    assert again.config() == config
    return again


def ids(passages: list[Passage]) -> list[str]:
    return [p.id for p in passages]


# -- small local models (never downloaded) ----------------------------------------


@pytest.fixture(scope="module")
def tiny_llm(tiny_llama_dir):
    from ctx_core.llm import TransformersLLM

    return TransformersLLM(str(tiny_llama_dir), device="cpu", batch_size=4, seed=0)


@pytest.fixture(scope="module")
def tiny_cross_encoder_dir(tmp_path_factory):
    """A randomly initialized 1-layer BERT cross-encoder with MiniLM's tokenizer, saved to disk."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ctx_core.models import resolve_embedder

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedder())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=128,
        num_labels=1,
    )
    path = tmp_path_factory.mktemp("tiny-cross-encoder")
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# -- scorers and rerankers --------------------------------------------------------


def test_bm25_and_embedding_scorers_rebuild_with_the_same_scores():
    for scorer in (BM25Scorer(k1=1.2, b=0.5, stopwords=["who"]), EmbeddingScorer(batch_size=8)):
        assert rebuilt(scorer).score(QUERY, PASSAGES) == scorer.score(QUERY, PASSAGES)


def test_cross_encoder_scorer_rebuilds_with_the_same_scores(tiny_cross_encoder_dir):
    from ctx_core.scoring import CrossEncoderScorer

    scorer = CrossEncoderScorer(str(tiny_cross_encoder_dir), device="cpu", max_length=64)
    assert scorer.config()["model"] == str(tiny_cross_encoder_dir)
    assert rebuilt(scorer).score(QUERY, PASSAGES) == scorer.score(QUERY, PASSAGES)


def test_cohere_scorer_config_never_holds_the_key(monkeypatch):
    pytest.importorskip("cohere")
    from ctx_core.scoring import CohereScorer

    from .scoring.test_cohere import FakeRerankServer

    server = FakeRerankServer()
    try:
        scorer = CohereScorer(
            "rerank-v3.5", api_key="secret-key", base_url=server.url, batch_size=2
        )
        config = scorer.config()
        assert "secret-key" not in json.dumps(config)
        assert "api_key" not in config
        monkeypatch.setenv("CO_API_KEY", "key-from-env")
        again = rebuilt(scorer)
        expected = scorer.score(QUERY, PASSAGES)
        assert again.score(QUERY, PASSAGES) == expected
        assert server.requests[-1]["auth"] == "Bearer key-from-env"
    finally:
        server.close()


def test_reranker_nests_its_scorer_and_keeps_the_same_passages(embedding_scorer):
    for reranker in (
        Reranker(BM25Scorer(), top_n=2, score_threshold=0.1),
        Reranker(embedding_scorer, top_n=3),
    ):
        config = reranker.config()
        assert config["scorer"]["type"] == type(reranker.scorer).__name__
        again = rebuilt(reranker)
        kept = reranker.rerank(QUERY, PASSAGES)
        assert ids(again.rerank(QUERY, PASSAGES)) == ids(kept)
        assert [p.score for p in again.rerank(QUERY, PASSAGES)] == [p.score for p in kept]


# -- the distraction-aware reranker -----------------------------------------------


def decisions(reranker: UtilityDistractionReranker) -> list[tuple[str, bool, str, float]]:
    return [
        (d.passage.id, d.kept, d.reason, round(d.expected_gain, 12))
        for d in reranker.explain(QUERY, PASSAGES)
    ]


def test_default_udcg_reranker_names_its_signals_and_shipped_calibrator():
    reranker = UtilityDistractionReranker(max_passages=2, order="edges")
    config = reranker.config()
    assert config["relevance"] == {
        "type": "HybridSignals",
        "embedder": "all-MiniLM-L6-v2",
        "title_key": "title",
        "bm25": {"type": "BM25Scorer", "k1": 0.9, "b": 0.4},
    }
    assert config["calibrator"] == "hybrid-mixed"
    assert decisions(rebuilt(reranker)) == decisions(reranker)


def test_udcg_reranker_with_a_fitted_calibrator_a_utility_and_a_budget(tiny_llm):
    scorer = BM25Scorer()
    signals = [scorer.score(QUERY, PASSAGES), scorer.score("Where is the Thames?", PASSAGES)]
    calibrator = LogisticCalibrator.fit(
        signals, [[1, 0, 1, 0], [0, 1, 0, 0]], features=("score", "gap_to_best:score")
    )
    reranker = UtilityDistractionReranker(
        ScorerSignals(scorer),
        AbstentionUtility(tiny_llm, max_passage_tokens=64),
        calibrator,
        token_budget=30,
        allow_empty=False,
        counter=TokenCounter("cl100k_base"),
    )
    config = reranker.config()
    assert config["calibrator"]["weights"] == calibrator.weights  # the parameters, inline
    assert config["utility"]["llm"]["model"] == tiny_llm.model_name
    assert config["counter"] == {"type": "TokenCounter", "encoding": "cl100k_base"}
    assert decisions(rebuilt(reranker)) == decisions(reranker)


def test_udcg_reranker_over_a_plain_scorer_and_a_calibrator_file(tmp_path):
    calibrator = LogisticCalibrator([4.0], -1.0)
    path = calibrator.save(tmp_path / "platt.json")
    reranker = UtilityDistractionReranker(BM25Scorer(), calibrator=str(path))
    assert reranker.config()["relevance"] == BM25Scorer().config()
    assert reranker.config()["calibrator"] == str(path)
    assert decisions(rebuilt(reranker)) == decisions(reranker)


def test_signals_and_utility_rebuild_on_their_own(tiny_llm):
    from ctx_core.embeddings import Embedder

    hybrid = HybridSignals(title_key="name")
    assert rebuilt(hybrid).signals(QUERY, PASSAGES) == hybrid.signals(QUERY, PASSAGES)
    prefixed = HybridSignals(Embedder(batch_size=2, query_prefix="query: "))
    assert prefixed.config()["embedder"]["query_prefix"] == "query: "  # all of it, nested
    assert rebuilt(prefixed).signals(QUERY, PASSAGES) == prefixed.signals(QUERY, PASSAGES)
    utility = AbstentionUtility(tiny_llm, cache_size=0)
    assert rebuilt(utility).utilities(QUERY, PASSAGES) == utility.utilities(QUERY, PASSAGES)


# -- LLMs and the in-context ranker -------------------------------------------------


def test_transformers_llm_rebuilds_the_same_model(tiny_llm, tiny_llama_dir):
    config = tiny_llm.config()
    assert config["model"] == str(tiny_llama_dir)
    again = rebuilt(tiny_llm)
    prompt = "Name a colour."
    assert again.complete(prompt, max_tokens=6) == tiny_llm.complete(prompt, max_tokens=6)
    assert again.next_token_logprobs([prompt], ["Red"]) == tiny_llm.next_token_logprobs(
        [prompt], ["Red"]
    )


def test_incontext_ranker_rebuilds_with_the_same_scores(tiny_llama_dir):
    from ctx_core.incontext import InContextRanker, PromptTemplate

    ranker = InContextRanker(
        str(tiny_llama_dir),
        device="cpu",
        backend="sdpa",
        scoring_layer=[0, 1],
        heads=[0, 2],
        labels="id",
        template=PromptTemplate(calibration_query="nothing"),
        mlp_chunk_tokens=32,
    )
    config = ranker.config()
    assert config["template"]["calibration_query"] == "nothing"
    assert (config["compile"], config["mlp_chunk_tokens"]) == (False, 32)
    assert InContextRanker(str(tiny_llama_dir)).config()["template"] is None
    again = rebuilt(ranker)
    assert again.score(QUERY, PASSAGES) == ranker.score(QUERY, PASSAGES)


# -- structurizers ------------------------------------------------------------------


def structure_of(structurizer: Any, text: str) -> dict[str, Any]:
    return structurizer.structurize(text).to_dict()


def test_heuristic_structurizer_rebuilds_with_the_same_structure(embedder):
    from ctx_core.structure import HeuristicStructurizer

    for structurizer, text in (
        (HeuristicStructurizer(max_aspects=3, window=1), MARKDOWN),
        (HeuristicStructurizer(embedder, use_markers=False), TOPICS),
    ):
        assert structurizer.config()["embedder"] == "all-MiniLM-L6-v2"
        assert structure_of(rebuilt(structurizer), text) == structure_of(structurizer, text)


def test_llm_structurizer_rebuilds_with_the_same_structure(tiny_llm, tiny_llama_dir):
    from ctx_core.structure import HeuristicStructurizer, LLMStructurizer

    by_name = LLMStructurizer(str(tiny_llama_dir), chunk_tokens=64)
    assert by_name.config()["llm"] == str(tiny_llama_dir)  # named, not loaded
    assert rebuilt(by_name).config() == by_name.config()
    structurizer = LLMStructurizer(
        tiny_llm,
        fallback=HeuristicStructurizer(max_aspects=2),
        max_tokens=8,
        chunk_tokens=64,
        examples=False,
    )
    assert structurizer.config()["llm"]["type"] == "TransformersLLM"
    assert structurizer.config()["fallback"]["max_aspects"] == 2
    text = "\n\n".join(TOPICS.split("\n\n")[:2])
    assert structure_of(rebuilt(structurizer), text) == structure_of(structurizer, text)


# -- memory -----------------------------------------------------------------------


def test_heuristic_memory_extractor_rebuilds_with_the_same_memories(embedder):
    from ctx_core.memory import HeuristicMemoryExtractor

    extractor = HeuristicMemoryExtractor(embedder, max_words=40, min_words=5)
    memory = extractor.extract(DOCUMENT, doc_id="d")
    assert memory.info["extractor"] == "heuristic"  # the record memories carry is unchanged
    assert rebuilt(extractor).extract(DOCUMENT, doc_id="d").to_dict() == memory.to_dict()


@pytest.fixture(scope="module")
def llm_extractor(tiny_llm):
    from ctx_core.memory import MemoryExtractor

    return MemoryExtractor(
        tiny_llm, paths=[("direct", 0.0), ("direct", 0.8)], max_tokens=16, max_words=40
    )


def test_memory_extractor_config_nests_its_llm(llm_extractor, tiny_llm):
    config = llm_extractor.config()
    assert config["llm"] == tiny_llm.config()
    assert config["evaluator"] is None  # the LLM itself, as by default
    assert rebuilt(llm_extractor).evaluator.config() == tiny_llm.config()


@pytest.mark.slow
def test_memory_extractor_rebuilds_with_the_same_memories(llm_extractor):
    memory = llm_extractor.extract(DOCUMENT, doc_id="d")
    assert memory.info["llm"].startswith("TransformersLLM(")
    assert rebuilt(llm_extractor).extract(DOCUMENT, doc_id="d").to_dict() == memory.to_dict()


def test_memory_index_config_holds_settings_not_rows(embedder):
    from ctx_core.memory import HeuristicMemoryExtractor, MemoryIndex

    index = MemoryIndex(embedder, scorer=BM25Scorer(), chunk_k=3, outline_weight=0.5)
    memory = HeuristicMemoryExtractor(embedder, max_words=40, min_words=5).extract(
        DOCUMENT, doc_id="d"
    )
    index.add(memory)
    config = index.config()
    assert "d" not in json.dumps(config).split('"')  # no document ids, no rows
    again = rebuilt(index)
    assert len(again) == 0
    again.add(memory)
    found = index.search("What protects rice seedlings?", k=2)
    assert [(p.id, p.score) for p in again.search("What protects rice seedlings?", k=2)] == [
        (p.id, p.score) for p in found
    ]


def test_working_context_config_is_its_settings_only():
    from ctx_core.context import WorkingContext

    context = WorkingContext([("user", "one two three")], counter=TokenCounter())
    assert context.config() == {
        "type": "WorkingContext",
        "counter": {"type": "TokenCounter", "encoding": "cl100k_base"},
    }
    again = rebuilt(context)
    assert len(again) == 0
    again.append("user", "one two three")
    assert again.render() == context.render()
    assert WorkingContext().config() == {"type": "WorkingContext", "counter": None}


# -- what cannot be rebuilt says so ---------------------------------------------------


class NoConfigScorer:
    def score(self, query, passages):
        return [float(len(p.text if isinstance(p, Passage) else p)) for p in passages]

    async def ascore(self, query, passages):
        return self.score(query, passages)


class CannedLLM(BaseLLM):
    def complete(self, prompt, *, max_tokens=256, temperature=0.0, stop=None):
        return "scope: x"

    def next_token_logprobs(self, prompts, candidates):
        return [[-1.0] * len(candidates) for _ in prompts]

    def continuation_logprobs(self, prompts, continuations):
        return [-1.0 for _ in prompts]


def test_unknown_type_and_unknown_argument_raise_config_error():
    with pytest.raises(ConfigError, match="unknown component 'NoSuchThing'"):
        from_config({"type": "NoSuchThing"})
    with pytest.raises(ConfigError, match="'type'"):
        from_config({"k1": 1.0})
    with pytest.raises(ConfigError, match=r"does not take \['top_k'\]"):
        from_config({"type": "Reranker", "scorer": BM25Scorer().config(), "top_k": 3})
    with pytest.raises(ConfigError, match="does not take"):
        from_config({"type": "Reranker", "scorer": {"type": "BM25Scorer", "k3": 1}})


def test_live_objects_raise_config_error_saying_what_to_pass(tiny_llama_dir, tiny_llm):
    from ctx_core.incontext import InContextRanker
    from ctx_core.incontext.backends.sdpa import SdpaBackend
    from ctx_core.memory import MemoryExtractor
    from ctx_core.structure import LLMStructurizer

    with pytest.raises(ConfigError, match="scorer holds a NoConfigScorer"):
        Reranker(NoConfigScorer()).config()
    with pytest.raises(ConfigError, match="relevance holds a NoConfigScorer"):
        UtilityDistractionReranker(NoConfigScorer(), calibrator="minilm-dl19").config()
    with pytest.raises(ConfigError, match="llm holds a CannedLLM"):
        AbstentionUtility(CannedLLM()).config()
    with pytest.raises(ConfigError, match="llm holds a CannedLLM"):
        MemoryExtractor(CannedLLM()).config()
    with pytest.raises(ConfigError, match="llm holds a CannedLLM"):
        LLMStructurizer(CannedLLM()).config()
    with pytest.raises(ConfigError, match="model id, path or alias"):
        InContextRanker(tiny_llm.model, tokenizer=tiny_llm.tokenizer).config()
    with pytest.raises(ConfigError, match="pass the backend by name"):
        InContextRanker(str(tiny_llama_dir), backend=SdpaBackend(max_chunk_elements=64)).config()
    assert InContextRanker(str(tiny_llama_dir), backend=SdpaBackend()).config()["backend"] == "sdpa"
    with pytest.raises(ConfigError, match="TokenCounter"):
        TokenCounter(tokenizer=tiny_llm.tokenizer).config()

    class Constant:
        def probabilities(self, signals):
            return [0.9 for _ in signals]

    with pytest.raises(ConfigError, match="calibrator Constant has no config"):
        UtilityDistractionReranker(BM25Scorer(), calibrator=Constant()).config()
