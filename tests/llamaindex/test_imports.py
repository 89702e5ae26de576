"""The public surface of llamaindex_ctx, pinned (as langchain-cohere's test_imports does)."""

import llamaindex_ctx

EXPECTED_ALL = [
    "ActiveContextMemory",
    "ContextRerankPostprocessor",
    "ContextToolSpec",
    "CtxEmbedding",
    "CtxLLM",
    "CtxRerankPostprocessor",
    "InContextRerankPostprocessor",
    "LlamaIndexLLM",
    "LlamaIndexScoringLLM",
    "MemoryExtractTransform",
    "MemoryRetriever",
    "ScriptedPolicyLLM",
    "StructurizePostprocessor",
    "StructurizeTransform",
    "UDCGRerankPostprocessor",
]


def test_all_is_pinned() -> None:
    assert sorted(llamaindex_ctx.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(llamaindex_ctx, name) is not None, name


def test_renamed_adapter_still_imports_with_a_warning() -> None:
    import pytest

    with pytest.warns(DeprecationWarning, match="UDCGRerankPostprocessor"):
        old = llamaindex_ctx.UDCGPostprocessor
    assert old is llamaindex_ctx.UDCGRerankPostprocessor
