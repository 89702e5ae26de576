"""langchain-tests' standard embeddings suites, run on CtxEmbeddings (packaged MiniLM)."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_ctx import CtxEmbeddings


class _Settings:
    @property
    def embeddings_class(self) -> type[CtxEmbeddings]:
        return CtxEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "minilm", "batch_size": 8}


class TestCtxEmbeddingsUnit(_Settings, EmbeddingsUnitTests):
    pass


class TestCtxEmbeddingsIntegration(_Settings, EmbeddingsIntegrationTests):
    pass
