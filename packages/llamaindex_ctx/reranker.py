"""``ContextRerankPostprocessor``: rerank LlamaIndex nodes with any core scorer."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr

from ctx_core.rerank import Reranker
from ctx_core.scoring import EmbeddingScorer, Scorer
from llamaindex_ctx._config import Component
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor

__all__ = ["ContextRerankPostprocessor"]


class ContextRerankPostprocessor(CtxRerankPostprocessor):
    """Reranks retrieved nodes with a core scorer.

    Use it in ``index.as_query_engine(node_postprocessors=[...])`` or
    ``RetrieverQueryEngine``.

    Attributes:
        scorer: Any core scorer or its ``config()`` dict (default: packaged MiniLM
            ``EmbeddingScorer``), also the first positional argument; ``to_dict``
            writes its config.
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
        default=None, description="A ctx_core scorer or its config; default: EmbeddingScorer()."
    )
    score_threshold: float | None = Field(default=None, description="Minimum score to keep a node.")
    _scorer: Scorer = PrivateAttr()

    def __init__(self, scorer: Scorer | dict[str, Any] | None = None, **kwargs: Any) -> None:
        # The base pydantic __init__ does not list this class's fields.
        super().__init__(scorer=scorer, **kwargs)  # type: ignore[call-arg]

    def model_post_init(self, context: Any, /) -> None:
        self._scorer = self.scorer if self.scorer is not None else EmbeddingScorer()

    @classmethod
    def class_name(cls) -> str:
        return "ContextRerankPostprocessor"

    def model_label(self) -> str:
        return str(getattr(self._scorer, "model_name", type(self._scorer).__name__))

    def core_reranker(self) -> Reranker:
        """A core :class:`~ctx_core.Reranker` with this postprocessor's settings."""
        return Reranker(self._scorer, score_threshold=self.score_threshold)
