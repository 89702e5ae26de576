"""The public surface of langchain_ctx, pinned (as langchain-cohere's test_imports does)."""

import langchain_ctx

EXPECTED_ALL = [
    "ActiveContextMiddleware",
    "ContextReranker",
    "ContextTool",
    "ContextToolkit",
    "CtxChatModel",
    "CtxDocumentCompressor",
    "CtxEmbeddings",
    "InContextReranker",
    "LangChainLLM",
    "LangChainScoringLLM",
    "MemoryRetriever",
    "RerankingRetriever",
    "ScriptedPolicyChatModel",
    "StructurizeTransformer",
    "UDCGReranker",
]


def test_all_is_pinned() -> None:
    assert sorted(langchain_ctx.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(langchain_ctx, name) is not None, name
