"""Cached document states: the query path over a DocumentStateCache equals a full pass.

Engine-level checks build tiny random models of several families from a config (no
tokenizer) and compare, for the same token ids, the full block-sparse pass with the cold
path (states captured into the cache) followed by the cached query path. Ranker-level checks
use SmolLM2's tokenizer with a tiny random Llama. GPU checks (``gpu`` marker) run the
``triton`` backend's cached kernels against the reference arithmetic.
"""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from ctx_core.incontext.cached import QueryLayout, encode_blocks, run_cached
from ctx_core.incontext.engine import InContextEngine
from ctx_core.incontext.segments import SegmentStructure
from ctx_core.incontext.states import DocumentStateCache, StateSpec, block_key

CUDA = torch.cuda.is_available()
VOCAB = 101
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=512,
    initializer_range=0.3,
)


def _tiny(family: str, dtype=torch.float32, device="cpu", **extra):
    torch.manual_seed(1)
    if family == "llama":
        model = LlamaForCausalLM(LlamaConfig(**COMMON, **extra))
    elif family == "mistral":  # a window shorter than the blocks
        model = MistralForCausalLM(MistralConfig(**COMMON, sliding_window=6))
    elif family == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**COMMON))
    elif family == "gemma3":
        config = Gemma3TextConfig(
            **COMMON,
            sliding_window=5,
            layer_types=[
                "sliding_attention",
                "full_attention",
                "sliding_attention",
                "full_attention",
            ],
            query_pre_attn_scalar=8,
        )
        model = Gemma3ForCausalLM(config)
    else:  # pragma: no cover
        raise ValueError(family)
    return model.to(device=device, dtype=dtype).eval()


def _spec(model, layer: int, block: int) -> StateSpec:
    c = model.config
    return StateSpec(
        model="test",
        template="test",
        layer=layer,
        dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
        max_block_tokens=block,
        kv_heads=c.num_key_value_heads,
        head_dim=c.head_dim,
    )


def _case(seed: int, n: int, query_lengths=(4, 3), offset=64, full=False):
    g = torch.Generator().manual_seed(seed)
    L = 5
    lengths = [int(x) for x in torch.randint(1, 12, (n,), generator=g)]
    if full:  # every block fills its arena slot: neighbours lie back to back
        lengths = [16] * n
    instruction = torch.randint(0, VOCAB, (L,), generator=g).tolist()
    blocks = [torch.randint(0, VOCAB, (k,), generator=g).tolist() for k in lengths]
    queries = [torch.randint(0, VOCAB, (k,), generator=g).tolist() for k in query_lengths]
    structure = SegmentStructure(L, tuple(lengths), tuple(query_lengths), query_offset=offset)
    ids = instruction + [t for b in blocks for t in b] + [t for q in queries for t in q]
    layout = QueryLayout(tuple(query_lengths), offset)
    # Signals: the last two tokens of every query segment.
    rel = [i for j in range(len(query_lengths)) for i in range(*layout.span(j))[-2:]]
    return instruction, blocks, queries, structure, ids, layout, rel


def _full_and_cached(
    model,
    backend,
    seed=0,
    n=6,
    layer=2,
    query_lengths=(4, 3),
    cache=None,
    full=False,
    precision="model",
):
    engine = InContextEngine(model, backend=backend, precision=precision)
    instruction, blocks, queries, structure, ids, layout, rel = _case(
        seed, n, query_lengths, full=full
    )
    rows = [structure.prefix_length + r for r in rel]
    with torch.no_grad():
        full = engine.run(ids, structure, signal_rows=rows, layers=[layer]).logmass[layer]
    if cache is None:
        cache = DocumentStateCache(2**24)
    cache.bind(_spec(model, layer, 16), model.device)
    keys = [block_key(b) for b in blocks]
    with torch.no_grad():
        encode_blocks(engine, cache, instruction, list(zip(keys, blocks, strict=True)))
        with cache.pool(keys) as view:
            got = run_cached(
                engine, view, layout, [t for q in queries for t in q], signal_rows=rel,
                layers=[layer],
            )[layer]  # fmt: skip
    return full, got


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


# -- engine level, CPU ------------------------------------------------------------------


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "gemma3"])
@pytest.mark.parametrize("backend", ["reference", "sdpa", "flex"])
def test_cached_query_path_equals_the_full_pass(family, backend):
    if backend == "flex" and family not in ("llama", "gemma3"):
        pytest.skip("flex: one plain and one windowed family keep the run short")
    model = _tiny(family)
    full, got = _full_and_cached(model, backend, layer=3 if family == "gemma3" else 2)
    assert full.shape == got.shape == (4, 4, 6)
    assert torch.isfinite(got).all()
    assert _rel(got, full) < 1e-5


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_cached_query_path_in_emulated_fp8_equals_the_full_fp8_pass(family):
    # Activations are quantized per token, so a query token's FP8 products do not depend on
    # what else is in the pass: cached and full FP8 passes agree to float rounding.
    from ctx_core.incontext.fp8 import Fp8Weights

    model = _tiny(family)
    layer = 3 if family == "gemma3" else 2
    fp8 = Fp8Weights(emulate=True)
    full, got = _full_and_cached(model, "reference", layer=layer, precision=fp8)
    exact, _ = _full_and_cached(model, "reference", layer=layer)
    assert _rel(got, full) < 1e-5
    assert _rel(full, exact) > 1e-4  # the FP8 rounding is there


def test_the_check_can_fail_states_of_another_model_differ():
    model = _tiny("llama")
    other = copy.deepcopy(model)  # one weight changed: other candidate states
    with torch.no_grad():
        other.model.layers[0].mlp.down_proj.weight.mul_(1.5)
    engine = InContextEngine(model, backend="reference")
    instruction, blocks, queries, structure, ids, layout, rel = _case(0, 5)
    rows = [structure.prefix_length + r for r in rel]
    with torch.no_grad():
        full = engine.run(ids, structure, signal_rows=rows, layers=[2]).logmass[2]
        cache = DocumentStateCache(2**24)
        cache.bind(_spec(other, 2, 16), "cpu")
        keys = [block_key(b) for b in blocks]
        encode_blocks(InContextEngine(other, backend="reference"), cache, instruction,
                      list(zip(keys, blocks, strict=True)))  # fmt: skip
        with cache.pool(keys) as view:
            got = run_cached(engine, view, layout, [t for q in queries for t in q],
                             signal_rows=rel, layers=[2])[2]  # fmt: skip
    assert _rel(got, full) > 1e-3


def test_float64_is_exact_to_rounding():
    model = _tiny("qwen2", dtype=torch.float64)
    full, got = _full_and_cached(model, "sdpa", n=9, query_lengths=(1, 5, 2))
    assert _rel(got, full) < 1e-12


def test_encoding_skips_cached_blocks_and_mixes_hits_with_misses():
    model = _tiny("llama")
    engine = InContextEngine(model, backend="sdpa")
    cache = DocumentStateCache(2**24)
    cache.bind(_spec(model, 2, 16), "cpu")
    instruction, blocks, *_ = _case(3, 8)
    keys = [block_key(b) for b in blocks]
    pairs = list(zip(keys, blocks, strict=True))
    with torch.no_grad():
        assert encode_blocks(engine, cache, instruction, pairs[::2]) == 4
        assert encode_blocks(engine, cache, instruction, pairs, max_pass_tokens=24) == 4
        assert encode_blocks(engine, cache, instruction, pairs) == 0
    assert len(cache) == 8
    full, got = _full_and_cached(model, "sdpa", seed=3, n=8, cache=cache)
    assert _rel(got, full) < 1e-5


def test_triton_pool_tiles_cover_the_pool_and_merge_neighbours():
    from ctx_core.incontext.backends.triton import TritonBackend

    cache, keys, _ = _filled(n=6)
    backend = TritonBackend(cached_block_n=16, cached_chunks=3)
    layout = QueryLayout((4, 3), 64)
    with cache.pool(keys[::-1]) as view:
        for window in (None, 4):
            plan = backend._cached_plan(view, layout, 4, 2, "cpu", window)
            tiles = plan["tiles"].tolist()
            covered = [i for a, b, _, _ in tiles for i in range(a, b)]
            assert sorted(covered) == sorted(view.token_index().tolist())
            assert all(0 < b - a <= 16 for a, b, _, _ in tiles)
            assert plan["chunks"] * plan["per_chunk"] >= len(tiles)
            if window is not None:  # positions: 0.. for the instruction, from L per block
                pos = {i: p + (i - a) for a, b, p, _ in tiles for i in range(a, b)}
                expect = dict(
                    zip(view.token_index().tolist(), view.prefix_positions().tolist(), strict=True)
                )
                assert pos == expect
    full = DocumentStateCache(2**24)
    full.bind(cache.spec, "cpu")
    full.set_instruction(*cache.instruction_states())
    state_k, state_v = cache.get(keys[0])
    pad = torch.zeros(state_k.shape[0], 2, 16, 8)
    for i in range(4):  # full 16-token blocks in consecutive slots: one merged range
        k = pad.clone()
        k[:, :, : state_k.shape[2]] = state_k
        full.put(f"f{i}", k, torch.zeros(state_v.shape[0], 2, 16, 8))
    with full.pool([f"f{i}" for i in range(4)]) as view:
        tiles = backend._cached_plan(view, layout, 4, 2, "cpu", None)["tiles"].tolist()
        assert len(tiles) == 1 + 4  # the instruction's tile, then 64 tokens in 4 full tiles
        assert [b - a for a, b, _, _ in tiles[1:]] == [16] * 4


# -- the cache itself ---------------------------------------------------------------------


def _filled(max_bytes=2**24, cpu_bytes=0, n=6):
    model = _tiny("llama")
    engine = InContextEngine(model, backend="sdpa")
    cache = DocumentStateCache(max_bytes, cpu_bytes=cpu_bytes)
    cache.bind(_spec(model, 2, 16), "cpu")
    instruction, blocks, *_ = _case(5, n)
    keys = [block_key(b) for b in blocks]
    with torch.no_grad():
        encode_blocks(engine, cache, instruction, list(zip(keys, blocks, strict=True)))
    return cache, keys, blocks


def test_bytes_per_token_and_stats():
    cache, keys, blocks = _filled()
    # keys of layers 0..2 and values of 0..1, 2 kv heads x 8 dims, float32
    assert cache.bytes_per_token() == (3 + 2) * 2 * 8 * 4
    stats = cache.stats()
    assert stats["entries"] == 6 and stats["device_tokens"] == sum(len(b) for b in blocks)
    k, v = cache.get(keys[0])
    assert k.shape == (3, 2, len(blocks[0]), 8) and v.shape == (2, 2, len(blocks[0]), 8)


def test_lru_eviction_moves_states_to_the_cpu_tier_unchanged():
    cache, keys, _ = _filled()
    slot = cache.slot_bytes
    sizes = [sum(t.numel() * t.element_size() for t in cache.get(k)) for k in keys]
    # 4 slots: 1 for the instruction, 3 candidates; the CPU tier fits the 2nd and 3rd evicted
    small = DocumentStateCache(max_bytes=4 * slot, cpu_bytes=sizes[1] + sizes[2])
    small.bind(cache.spec, "cpu")
    small.set_instruction(*cache.instruction_states())
    for key in keys:
        small.put(key, *cache.get(key))
    stats = small.stats()
    assert stats["device_entries"] == 3 and stats["evictions"] == 3
    assert stats["cpu_entries"] == 2  # the CPU tier holds two; the oldest was dropped
    assert keys[0] not in small and keys[1] in small and keys[5] in small
    k, v = small.get(keys[1])  # from the CPU tier
    ref_k, ref_v = cache.get(keys[1])
    assert torch.equal(k, ref_k) and torch.equal(v, ref_v)
    with small.pool(keys[1:3]) as view:  # a CPU-tier entry comes back to the arena
        assert view.num_candidates == 2
        got, _ = view.gathered(0)
        assert torch.equal(got[0, :, view.instruction_length :][:, : k.shape[2]], k[0])
    with pytest.raises(MemoryError, match="max_bytes"), small.pool(keys[1:]):
        pass
    with pytest.raises(KeyError), small.pool([keys[0]]):
        pass


def test_pinned_entries_survive_eviction_pressure():
    cache, keys, _ = _filled()
    small = DocumentStateCache(max_bytes=4 * cache.slot_bytes)
    small.bind(cache.spec, "cpu")
    small.set_instruction(*cache.instruction_states())
    small.put(keys[0], *cache.get(keys[0]))
    with small.pool([keys[0]]):
        for key in keys[1:]:
            small.put(key, *cache.get(key))
        assert keys[0] in small  # pinned: the others were evicted instead


def test_save_and_load_round_trip(tmp_path):
    cache, keys, _ = _filled()
    path = cache.save(tmp_path / "states.safetensors")
    spec, stored = DocumentStateCache.read_spec(path)
    assert spec == cache.spec and sorted(stored) == sorted(keys)
    loaded = DocumentStateCache()
    assert loaded.load(path) == len(keys)
    assert loaded.spec == cache.spec
    for key in keys:
        for a, b in zip(loaded.get(key), cache.get(key), strict=True):
            assert torch.equal(a, b)
    assert loaded.load(tmp_path) == 0  # a folder of files; nothing new
    other = DocumentStateCache()
    other.bind(StateSpec(**{**cache.spec.__dict__, "layer": 1}), "cpu")
    with pytest.raises(ValueError, match="layer"):
        other.load(path)


def test_bind_refuses_another_configuration():
    cache, _, _ = _filled()
    wrong = StateSpec(**{**cache.spec.__dict__, "model": "another"})
    with pytest.raises(ValueError, match="model: cache 'test' vs ranker 'another'"):
        cache.bind(wrong, "cpu")


def test_argument_validation():
    with pytest.raises(ValueError, match="max_bytes"):
        DocumentStateCache(0)
    with pytest.raises(ValueError, match="cpu_bytes"):
        DocumentStateCache(cpu_bytes=-1)
    with pytest.raises(ValueError, match="lengths"):
        QueryLayout((), 3)
    with pytest.raises(ValueError, match="offset"):
        QueryLayout((2, 3), (1,))
    cache, keys, _ = _filled()
    k, v = cache.get(keys[0])
    with pytest.raises(ValueError, match="do not match"):
        cache.put("x", k[:1], v)
    with pytest.raises(RuntimeError, match="not bound"):
        DocumentStateCache().bytes_per_token()


# -- ranker level -----------------------------------------------------------------------

PASSAGES = [
    "Paris is the capital of France.",
    "Bananas are yellow.",
    "The Eiffel Tower is in Paris.",
    "Berlin is the capital of Germany.",
    "Mount Everest is the highest mountain.",
]
QUERIES = ["What is the capital of France?", "Which fruit is yellow?", "highest mountain"]


@pytest.fixture(scope="module")
def tiny_llama(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(tiny_llama_dir)


def _ranker(tiny, cache=None, **options):
    from ctx_core.incontext import InContextRanker

    model, tokenizer = tiny
    return InContextRanker(
        model, tokenizer=tokenizer, query_in_instruction=False, cache=cache, **options
    )


def _close(a, b, tol=1e-5):
    return all(abs(x - y) <= tol * max(1e-3, abs(y)) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("backend", ["reference", "sdpa"])
def test_ranker_cached_scores_equal_uncached_query_free(tiny_llama, backend):
    plain = _ranker(tiny_llama, backend=backend)
    cache = DocumentStateCache(2**24)
    cached = _ranker(tiny_llama, cache=cache, backend=backend)
    for query in QUERIES:
        a, b = plain.explain(query, PASSAGES), cached.explain(query, PASSAGES)
        assert _close(b.raw, a.raw) and _close(b.calibration, a.calibration)
        assert _close(b.scores, a.scores, tol=1e-4)
    stats = cache.stats()
    assert stats["entries"] == len(PASSAGES)  # encoded once, reused by every query
    assert stats["hits"] == len(PASSAGES) * len(QUERIES)
    # The layouts differ: with the query in the instruction the scores change.
    other = _ranker(tiny_llama, backend=backend)
    other.query_in_instruction = True
    assert not _close(
        other.explain(QUERIES[0], PASSAGES).raw, plain.explain(QUERIES[0], PASSAGES).raw
    )


def test_query_free_instruction_does_not_depend_on_the_query(tiny_llama):
    builder = _ranker(tiny_llama).builder
    assert builder.instruction_ids("a question") == builder.instruction_ids("another one")
    text = builder.tokenizer.decode(builder.instruction_ids("zebra"))
    assert "zebra" not in text and "Passages:" in text


def test_ranker_batched_queries_equal_one_at_a_time(tiny_llama):
    cached = _ranker(tiny_llama, cache=DocumentStateCache(2**24), labels="id")
    many = cached.explain_pool(QUERIES, PASSAGES)
    for query, got in zip(QUERIES, many, strict=True):
        one = cached.explain(query, PASSAGES)
        assert _close(got.raw, one.raw) and _close(got.calibration, one.calibration)
    assert cached.score_pool(QUERIES[:1], PASSAGES) == [many[0].scores]
    plain = _ranker(tiny_llama, labels="id")
    assert _close(plain.score_pool(QUERIES, PASSAGES)[1], many[1].scores, tol=1e-4)
    with pytest.raises(TypeError, match="queries"):
        cached.explain_pool("one string", PASSAGES)


def test_ranker_save_load_and_index(tiny_llama, tmp_path):
    first = _ranker(tiny_llama, cache=DocumentStateCache(2**24), labels="id")
    assert first.index(PASSAGES) == len(PASSAGES)
    assert first.index(PASSAGES) == 0
    before = first.explain(QUERIES[0], PASSAGES)
    first.cache.save(tmp_path / "s.safetensors")
    cache = DocumentStateCache(2**24)
    cache.load(tmp_path / "s.safetensors")
    second = _ranker(tiny_llama, cache=cache, labels="id")
    after = second.explain(QUERIES[0], PASSAGES)
    assert after.scores == before.scores
    assert cache.stats()["entries"] == len(PASSAGES)  # nothing was re-encoded


def test_ranker_refuses_a_cache_of_another_model(tiny_llama, tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    cache = DocumentStateCache(2**24)
    _ranker(tiny_llama, cache=cache).score(QUERIES[0], PASSAGES)
    other = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        other.model.norm.weight.add_(1.0)
        other.lm_head.weight.mul_(2.0)
    ranker = _ranker((other, tiny_llama[1]), cache=cache)
    with pytest.raises(ValueError, match=r"another configuration.*model"):
        ranker.score(QUERIES[0], PASSAGES)


def test_ranker_cache_options_are_validated(tiny_llama):
    from ctx_core.incontext import InContextRanker

    model, tokenizer = tiny_llama
    with pytest.raises(ValueError, match="query_in_instruction=False"):
        InContextRanker(model, tokenizer=tokenizer, cache=DocumentStateCache())
    with pytest.raises(ValueError, match="attention='block'"):
        InContextRanker(model, tokenizer=tokenizer, query_in_instruction=False,
                        attention="causal", cache=DocumentStateCache())  # fmt: skip
    with pytest.raises(TypeError, match="DocumentStateCache"):
        InContextRanker(model, tokenizer=tokenizer, query_in_instruction=False, cache={})
    with pytest.raises(ValueError, match="needs a ranker built with cache"):
        _ranker(tiny_llama).index(PASSAGES)


def test_ranker_cache_is_thread_safe(tiny_llama):
    cached = _ranker(tiny_llama, cache=DocumentStateCache(2**24), labels="id")
    expected = {q: cached.score(q, PASSAGES) for q in QUERIES}
    results: list[tuple[str, list[float]]] = []
    errors: list[BaseException] = []

    def work(query: str) -> None:
        try:
            for _ in range(3):
                results.append((query, cached.score(query, PASSAGES)))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(q,)) for q in QUERIES * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 18
    for query, scores in results:
        assert scores == expected[query]


# -- GPU ----------------------------------------------------------------------------------

gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("family", ["llama", "mistral", "gemma3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_triton_cached_path_equals_the_full_pass(family, dtype):
    model = _tiny(family, dtype=dtype, device="cuda")
    layer = 3 if family == "gemma3" else 2
    for seed, n, whole in ((0, 1, False), (1, 7, False), (2, 60, False), (3, 40, True)):
        full, got = _full_and_cached(model, "triton", seed=seed, n=n, layer=layer, full=whole)
        ref, _ = _full_and_cached(
            model.to(torch.float64), "reference", seed=seed, n=n, layer=layer, full=whole
        )
        model.to(dtype)
        tol = 1e-5 if dtype == torch.float32 else 3e-2
        assert _rel(got.double(), ref) < tol, (family, dtype, n)
        assert _rel(full.double(), ref) < tol


@pytest.mark.gpu
@pytest.mark.skipif(
    not CUDA or torch.cuda.get_device_capability() < (8, 9), reason="needs a GPU with FP8"
)
@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_cuda_fp8_cached_path_equals_the_full_fp8_pass(family):
    model = _tiny(family, dtype=torch.bfloat16, device="cuda")
    layer = 3 if family == "gemma3" else 2
    for seed, n in ((0, 1), (1, 7), (2, 60)):
        full, got = _full_and_cached(model, "triton", seed=seed, n=n, layer=layer, precision="fp8")
        assert torch.isfinite(got).all()
        assert _rel(got.double(), full.double()) < 3e-2, (family, n)


def test_cli_index_states_is_resumable_and_loads_into_a_ranker(tiny_llama_dir, tmp_path, capsys):
    import json

    from ctx_core.cli.main import main
    from ctx_core.incontext import InContextRanker

    source = tmp_path / "docs.jsonl"
    source.write_text(
        "\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(PASSAGES)) + "\n"
    )
    out = tmp_path / "states"
    command = ["incontext", "index-states", "-i", str(source), "-o", str(out),
               "--model", str(tiny_llama_dir), "--device", "cpu", "--batch", "2", "--no-progress"]  # fmt: skip
    assert main(command) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["encoded"] == 5 and first["shards"] == 3
    assert len(list(out.glob("states-*.safetensors"))) == 3
    assert main(command) == 0  # resumed: nothing left to do
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["encoded"] == 0 and again["skipped"] == 5
    cache = DocumentStateCache()
    assert cache.load(out) == 5
    ranker = InContextRanker(str(tiny_llama_dir), device="cpu", labels="id",
                             query_in_instruction=False, cache=cache)  # fmt: skip
    from ctx_core import Passage

    docs = [Passage(t, id=f"d{i}") for i, t in enumerate(PASSAGES)]
    assert ranker.index(docs) == 0  # every state came from the files
    plain = InContextRanker(str(tiny_llama_dir), device="cpu", labels="id",
                            query_in_instruction=False)  # fmt: skip
    assert _close(ranker.score(QUERIES[0], docs), plain.score(QUERIES[0], docs), tol=1e-4)
    assert main([*command[:-3], "--max-block-tokens", "64", "--no-progress"]) == 2
    assert "another configuration" in capsys.readouterr().err


@pytest.mark.gpu
@gpu
def test_cuda_graph_replays_equal_eager_runs_for_new_queries():
    from ctx_core.incontext.cached import CachedQueryGraph

    model = _tiny("llama", device="cuda")
    engine = InContextEngine(model, backend="triton")
    instruction, blocks, _, _, _, layout, rel = _case(4, 30)
    cache = DocumentStateCache(2**26)
    cache.bind(_spec(model, 2, 16), "cuda")
    keys = [block_key(b) for b in blocks]
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        encode_blocks(engine, cache, instruction, list(zip(keys, blocks, strict=True)))
        with cache.pool(keys) as view:
            graph = CachedQueryGraph(engine, view, layout, signal_rows=rel, layers=[2])
            for _ in range(3):
                # Garbage in freed memory: a replay that read a freed tensor would fail here.
                junk = torch.full((1 << 20,), 10**9, dtype=torch.long, device="cuda")
                del junk
                q = torch.randint(0, VOCAB, (layout.total,), generator=g).tolist()
                eager = run_cached(engine, view, layout, q, signal_rows=rel, layers=[2])[2]
                assert torch.equal(graph(q)[2], eager)


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_many_batched_queries_use_the_wide_tiling_and_stay_exact(dtype):
    model = _tiny("llama", dtype=dtype, device="cuda")
    lengths = (40,) * 28  # 2 query heads per key head x 1,120 tokens: >= 2,048 rows
    assert 2 * sum(lengths) >= 2048  # so the triton backend picks its wide tiling
    full, got = _full_and_cached(model, "triton", seed=5, n=50, query_lengths=lengths, full=True)
    ref, _ = _full_and_cached(
        model.to(torch.float64), "reference", seed=5, n=50, query_lengths=lengths, full=True
    )
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    assert _rel(got.double(), ref) < tol and _rel(full.double(), ref) < tol
