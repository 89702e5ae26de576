"""``ContextRerankPostprocessor``: rerank LlamaIndex nodes with any core scorer."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr

from ctx_core.rerank import Reranker
from ctx_core.scoring import EmbeddingScorer, Scorer
from ctx_core.scoring.registry import resolve_scorer
from llamaindex_ctx._config import Component
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor
from llamaindex_ctx.settings import settings_embedder

__all__ = ["ContextRerankPostprocessor"]


class ContextRerankPostprocessor(CtxRerankPostprocessor):
    """Reranks retrieved nodes with a core scorer.

    Use it in ``index.as_query_engine(node_postprocessors=[...])`` or
    ``RetrieverQueryEngine``.

    Attributes:
        scorer: Any core scorer, its ``config()`` dict, or a scorer's short name
            (``"embedding"``, ``"cross-encoder"``, ``"bm25"``, ``"cohere"``,
            ``"incontext"``); also the first positional argument. Default: an
            ``EmbeddingScorer`` over ``Settings.embed_model`` when you have set one,
            else over the packaged MiniLM. ``to_dict`` writes its config (or the name).
        model: Model id or path for a scorer given by name (or the default one), e.g.
            ``ContextRerankPostprocessor(model="BAAI/bge-small-en-v1.5")``.
        top_n: How many nodes to keep (``None``: all).
        score_threshold: Drop nodes scoring below this value.

    Examples:
        >>> from llama_index.core.schema import NodeWithScore, TextNode
        >>> post = ContextRerankPostprocessor(top_n=1)
        >>> nodes = [NodeWithScore(node=TextNode(text="Bananas are yellow.")),
        ...          NodeWithScore(node=TextNode(text="Paris is in France."))]
        >>> [n.node.get_content() for n in post.postprocess_nodes(nodes, query_str="Where is Paris?")]
        ['Paris is in France.']
    """

    scorer: Component = Field(
        default=None,
        description="A ctx_core scorer, its config or a scorer name; default: EmbeddingScorer().",
    )
    model: str | None = Field(
        default=None, description="Model id or path of a scorer given by name (or the default)."
    )
    score_threshold: float | None = Field(default=None, description="Minimum score to keep a node.")
    _scorer: Scorer = PrivateAttr()

    def __init__(self, scorer: Scorer | dict[str, Any] | str | None = None, **kwargs: Any) -> None:
        # The base pydantic __init__ does not list this class's fields.
        super().__init__(scorer=scorer, **kwargs)  # type: ignore[call-arg]

    def model_post_init(self, context: Any, /) -> None:
        embedder = settings_embedder() if self.scorer is None and self.model is None else None
        if embedder is not None:
            self._scorer = EmbeddingScorer(embedder)
        else:
            self._scorer = resolve_scorer(self.scorer, self.model)

    @classmethod
    def class_name(cls) -> str:
        return "ContextRerankPostprocessor"

    def model_label(self) -> str:
        return str(getattr(self._scorer, "model_name", type(self._scorer).__name__))

    def core_reranker(self) -> Reranker:
        """A core [`Reranker`][ctx_core.rerank.Reranker] with this postprocessor's settings."""
        return Reranker(self._scorer, score_threshold=self.score_threshold)
