import numpy as np

from ctx_core.embeddings import Embedder


def test_cache_serves_repeats_without_encoding(embedder):
    fresh = Embedder(cache_size=3)
    calls = []
    original = fresh._encode
    fresh._encode = lambda texts: calls.append(list(texts)) or original(texts)
    first = fresh.embed(["alpha", "beta", "alpha"])
    again = fresh.embed(["beta", "alpha"])
    assert calls == [["alpha", "beta"]]  # each text encoded once; the second call hit the cache
    assert np.allclose(again, first[[1, 0]])
    assert np.allclose(first[0], embedder.embed(["alpha"])[0], atol=1e-6)
    fresh.embed(["gamma", "delta"])  # cache holds 3: "beta" (least recently used) is evicted
    assert set(fresh.cached_vectors()) == {"alpha", "gamma", "delta"}


def test_warm_cache_round_trip():
    source = Embedder(cache_size=10)
    vectors = source.embed(["one", "two"])
    target = Embedder(cache_size=10)
    target.warm_cache(source.cached_vectors())
    target._encode = lambda texts: (_ for _ in ()).throw(AssertionError("should not encode"))
    assert np.allclose(target.embed(["two", "one"]), vectors[::-1])
    assert Embedder(cache_size=0).embed([]).shape == (0, 384)


def test_default_embedders_share_one_cache():
    # The harness's embedding scorer and the UDCG reranker's default signals each built
    # their own Embedder and encoded every passage again.
    from ctx_core.scoring import EmbeddingScorer
    from ctx_core.udcg import HybridSignals

    texts = ["a text both components embed", "another text both embed"]
    first = EmbeddingScorer().embedder
    vectors = first.embed(texts)
    second = HybridSignals().embedder
    assert second is not first
    second._encode = lambda texts: (_ for _ in ()).throw(AssertionError("encoded again"))
    assert np.allclose(second.embed(texts), vectors)
    # an embedder with cache settings of its own keeps a cache of its own
    assert not Embedder(cache_bytes=1 << 20).cached_vectors()
