"""Rerank methods: the registry, options, and what each built-in method does."""

import pytest

from ctx_core.eval.methods import (
    InputOrder,
    LongContextReorder,
    RerankMethod,
    ScorerMethod,
    TopK,
    build_method,
    long_context_order,
    method_names,
    register_method,
)
from ctx_core.types import Passage

CANDIDATES = [
    Passage("Bananas are yellow.", id="b", metadata={"title": "Banana"}),
    Passage("The Eiffel Tower is in Paris.", id="e", metadata={"title": "Eiffel Tower"}),
    Passage("Rome is the capital of Italy.", id="r", metadata={"title": "Rome"}),
    Passage("Paris is the capital of France.", id="p", metadata={"title": "Paris"}),
]


def ids(passages):
    return [p.id for p in passages]


def test_builtin_names():
    assert {"none", "embedding", "long-context-reorder", "top-k", "random", "scorer"} <= set(
        method_names()
    )


def test_none_keeps_input_order():
    method = build_method("none")
    assert isinstance(method, RerankMethod)
    assert ids(method.rerank("q", CANDIDATES)) == ["b", "e", "r", "p"]
    assert method.config() == {"name": "none"}


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, []),
        (1, [1]),
        (2, [2, 1]),
        (3, [1, 3, 2]),
        (4, [2, 4, 3, 1]),
        (5, [1, 3, 5, 4, 2]),
        (6, [2, 4, 6, 5, 3, 1]),
    ],
)
def test_long_context_order_matches_langchain(n, expected):
    # expected: what LangChain's LongContextReorder returns for documents 1..n (1 = best)
    assert long_context_order(list(range(1, n + 1))) == expected


def test_long_context_reorder_method_keeps_passages_unchanged():
    method = build_method("long-context-reorder")
    out = method.rerank("q", CANDIDATES)
    assert ids(out) == ["e", "p", "r", "b"]
    assert {p.id: p for p in out} == {p.id: p for p in CANDIDATES}
    assert method.config() == {"name": "long-context-reorder", "base": {"name": "none"}}


def test_top_k_method_and_top_k_option():
    method = build_method("top-k", k=2)
    assert method.name == "top-2" and ids(method.rerank("q", CANDIDATES)) == ["b", "e"]
    assert method.config() == {"name": "top-k", "k": 2, "base": {"name": "none"}}
    wrapped = build_method("long-context-reorder", top_k=3)
    assert isinstance(wrapped, TopK) and wrapped.name == "long-context-reorder+top-3"
    assert ids(wrapped.rerank("q", CANDIDATES)) == ["e", "p", "r"]
    assert ids(build_method("top-k", k=10).rerank("q", CANDIDATES)) == ids(CANDIDATES)


def test_random_is_seeded_and_a_permutation():
    a = build_method("random", seed=1).rerank("q", CANDIDATES)
    assert ids(a) == ids(build_method("random", seed=1).rerank("q", CANDIDATES))
    assert sorted(ids(a)) == sorted(ids(CANDIDATES))


def test_scorer_method_sorts_by_score(overlap_scorer):
    method = ScorerMethod(overlap_scorer)
    out = method.rerank("capital of France", CANDIDATES)
    assert ids(out)[0] == "p" and out[0].metadata["relevance_score"] == out[0].score
    assert out[0].text == "Paris is the capital of France."
    assert method.rerank("q", []) == []


def test_scorer_method_with_title_scores_title_but_returns_own_text(overlap_scorer):
    method = ScorerMethod(overlap_scorer, with_title=True)
    out = method.rerank("banana", CANDIDATES)
    assert ids(out)[0] == "b" and out[0].text == "Bananas are yellow."
    assert ScorerMethod(overlap_scorer).rerank("banana", CANDIDATES)[0].score == 0.0


def test_embedding_method_with_top_k():
    method = build_method("embedding", top_k=2)
    out = method.rerank("What is the capital of France?", CANDIDATES)
    assert ids(out)[0] == "p" and len(out) == 2
    config = method.config()
    assert config["name"] == "top-k" and config["base"]["model"] == "all-MiniLM-L6-v2"


def test_bad_names_and_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        build_method("nope")
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['colour'\]"):
        build_method("none", colour="red")
    with pytest.raises(ValueError, match="k must be a positive int"):
        build_method("top-k", k=0)
    with pytest.raises(ValueError, match="method name"):
        register_method("has space", InputOrder)


def test_register_method_in_one_line_also_lazily():
    register_method("reverse-test", "tests_reverse_method:missing")  # not imported until built
    with pytest.raises(ModuleNotFoundError):
        build_method("reverse-test")

    class Reverse:
        name = "reverse"

        def rerank(self, query, candidates):
            return list(reversed(candidates))

        def config(self):
            return {"name": "reverse"}

    register_method("reverse-test", Reverse)
    assert "reverse-test" in method_names()
    assert ids(build_method("reverse-test", top_k=1).rerank("q", CANDIDATES)) == ["p"]


def test_long_context_reorder_over_a_scorer(overlap_scorer):
    method = LongContextReorder(ScorerMethod(overlap_scorer))
    out = method.rerank("capital of France Paris", CANDIDATES)
    # best (p) and second best sit at the ends
    assert {ids(out)[0], ids(out)[-1]} >= {"p"}
