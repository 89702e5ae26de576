"""Core rerankers as rerank-task methods: ``incontext`` (one forward pass serves several
scoring variants) and ``udcg``."""

import pytest

from ctx_core import Passage
from ctx_core.eval import rerankers
from ctx_core.eval.methods import build_method
from ctx_core.eval.rerankers import InContextMethod

CANDIDATES = [
    Passage("Paris is the capital of France.", id="a", metadata={"title": "Paris"}),
    Passage("Bananas are yellow.", id="b", metadata={"title": "Banana"}),
    Passage("Berlin is the capital of Germany.", id="c"),
]


def test_variants_share_one_pass_and_differ_as_expected(tiny_llama_dir):
    model = str(tiny_llama_dir)
    calibrated = build_method("incontext", model=model)
    raw = InContextMethod(model, calibrate=False)
    assert calibrated.ranker is raw.ranker  # same options: one shared ranker
    before = len(rerankers._PASSES)
    ranked = calibrated.rerank("capital of France?", CANDIDATES)
    assert len(rerankers._PASSES) == before + 1
    raw_ranked = raw.rerank("capital of France?", CANDIDATES)
    assert len(rerankers._PASSES) == before + 1  # memoized: no second forward pass
    details = calibrated._details("capital of France?", CANDIDATES)
    by_id = {p.id: p.score for p in raw_ranked}
    for i, p in enumerate(CANDIDATES):
        assert abs(by_id[p.id] - details.raw[i]) < 1e-6
    assert [p.score for p in ranked] == sorted((p.score for p in ranked), reverse=True)
    assert {p.id for p in ranked} == {"a", "b", "c"}
    config = calibrated.config()
    assert config["calibrate"] is True and config["layers"] == [1]
    assert config["forward_cpu_seconds_per_query"] >= 0 and config["tokens_per_query"] > 0
    assert raw.config()["calibrate"] is False


def test_heads_length_and_titles(tiny_llama_dir):
    model = str(tiny_llama_dir)
    one_head = InContextMethod(model, heads=[0], length_normalization="length", with_title=True)
    scores = one_head.scores("capital of France?", CANDIDATES)
    details = one_head._details("capital of France?", [one_head._view(p) for p in CANDIDATES])
    assert details.token_counts[0] > InContextMethod._view(CANDIDATES[2]).text.count(" ")
    assert len(scores) == 3 and one_head.config()["heads"] == [0]
    assert one_head.rerank("q", []) == []
    with pytest.raises(ValueError):
        InContextMethod(model, length_normalization="log")


def test_use_layers_picks_from_one_pass(tiny_llama_dir):
    model = str(tiny_llama_dir)
    both = InContextMethod(model, scoring_layer=[0, 1])
    first = InContextMethod(model, scoring_layer=[0, 1], use_layers=[0])
    assert both.ranker is first.ranker
    a = first.scores("capital of France?", CANDIDATES)
    only = InContextMethod(model, scoring_layer=0).scores("capital of France?", CANDIDATES)
    assert max(abs(x - y) for x, y in zip(a, only, strict=True)) < 1e-6
    assert both.scores("capital of France?", CANDIDATES) != a
    with pytest.raises(ValueError, match="not scored"):
        InContextMethod(model, scoring_layer=[0, 1], use_layers=[5]).scores("q", CANDIDATES)


def test_udcg_method_is_the_core_reranker_with_its_options():
    from ctx_core.udcg import UtilityDistractionReranker

    method = build_method("udcg", max_passages=2)
    assert isinstance(method.reranker, UtilityDistractionReranker)
    assert method.reranker.max_passages == 2
    config = method.config()
    assert config["name"] == "udcg" and config["max_passages"] == 2
    assert config["calibrator"] == "hybrid-mixed" and "reranker" in config
    assert "hotpotqa" in config["calibrator_fitted_on"]  # runs there are in-sample
    kept = method.rerank("capital of France?", CANDIDATES)
    assert len(kept) <= 2 and {p.id for p in kept} <= {"a", "b", "c"}


def test_udcg_method_builds_the_signals_its_calibrator_reads():
    from ctx_core.scoring import EmbeddingScorer
    from ctx_core.udcg import HybridSignals

    minilm = build_method("udcg", calibrator="minilm-dl19", device="cpu")
    assert isinstance(minilm.reranker.relevance, EmbeddingScorer)
    assert minilm.config()["device"] == "cpu"
    assert minilm.config()["reranker"]["relevance"]["type"] == "EmbeddingScorer"
    kept = minilm.rerank("capital of France?", CANDIDATES)
    assert {p.id for p in kept} <= {"a", "b", "c"}
    hybrid = build_method("udcg", calibrator="hybrid-hotpotqa", device="cpu")
    assert isinstance(hybrid.reranker.relevance, HybridSignals)


def test_a_run_on_a_data_set_the_calibrator_was_fitted_on_says_in_sample():
    from ctx_core.eval.tasks.rerank import RerankEvaluator

    evaluator = RerankEvaluator("hotpotqa", limit=2, show_progress=False)
    assert evaluator(build_method("udcg"))["in_sample"] is True
    assert evaluator(build_method("none"))["in_sample"] is False


def test_udcg_method_records_each_candidates_decision_in_the_rerank_task():
    from ctx_core.eval.tasks.rerank import RerankEvaluator

    method = build_method("udcg")
    kept = method.rerank("capital of France?", CANDIDATES)
    decisions = method.query_details()["decisions"]
    # one decision per candidate; the kept ones are exactly what rerank returned
    assert sorted(d["id"] for d in decisions) == sorted(p.id for p in CANDIDATES)
    assert {d["id"] for d in decisions if d["kept"]} == {p.id for p in kept}
    assert all(d["reason"] in ("kept", "likely distractor", "unrelated list") for d in decisions)
    assert [p.id for p in kept] == [
        p.id for p in method.reranker.rerank("capital of France?", CANDIDATES)
    ]

    result = RerankEvaluator("hotpotqa", limit=2, show_progress=False)(method)
    for row in result["per_query"]:
        assert row["query"] and len(row["decisions"]) == row["num_candidates"]
        assert {d["id"] for d in row["decisions"] if d["kept"]} == set(row["ranking"])


def test_icr_defaults_and_options(tiny_llama_dir):
    model = str(tiny_llama_dir)
    icr = InContextMethod(model, icr=True)
    assert icr.options["scoring_layer"] == "all" and icr.aggregation == "sequence"
    assert icr.masked_calibration and icr.calibrate
    # The BlockRank-style single layer comes from the same pass as ICR's sum over layers.
    single = InContextMethod(model, scoring_layer="all", use_layers=[1])
    unmasked = InContextMethod(model, icr=True, masked_calibration=False)
    assert single.ranker is icr.ranker is unmasked.ranker
    scores = icr.scores("capital of France?", CANDIDATES)
    details = icr._details("capital of France?", CANDIDATES)
    assert details.token_mass is not None and details.layers == [0, 1]
    plain = [
        float((q.sum(0) - c.sum(0)).sum())
        for q, c in zip(details.token_mass, details.calibration_token_mass, strict=True)
    ]
    assert unmasked.scores("capital of France?", CANDIDATES) == pytest.approx(plain, abs=1e-6)
    assert len(scores) == 3
    assert single.scores("capital of France?", CANDIDATES) != scores
    config = icr.config()
    assert config["aggregation"] == "sequence" and config["masked_calibration"] is True
    with pytest.raises(ValueError, match="scoring_layer"):
        InContextMethod(model, icr=True, scoring_layer=1)
    with pytest.raises(ValueError, match="use_layers"):
        InContextMethod(model, aggregation="sequence", use_layers=[1])
    with pytest.raises(ValueError, match="masked_calibration"):
        InContextMethod(model, masked_calibration=True)
    with pytest.raises(ValueError, match="aggregation"):
        InContextMethod(model, aggregation="layers")
