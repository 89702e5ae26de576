"""``InContextRerankPostprocessor``: rerank LlamaIndex nodes with the in-context ranker."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr

from ctx_core.incontext import InContextRanker
from ctx_core.rerank import Reranker
from llamaindex_ctx._config import Component
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor

__all__ = ["InContextRerankPostprocessor"]


class InContextRerankPostprocessor(CtxRerankPostprocessor):
    """Reranks retrieved nodes by the attention an LLM pays them in one block-sparse pass.

    A [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] does the work. Use it in
    ``index.as_query_engine(node_postprocessors=[...])``. ``NodeWithScore.score`` gets the
    new score; the retrieval score moves to ``metadata["retrieval_score"]``; rerank events
    are emitted like LlamaIndex's own rerankers.

    Attributes:
        model: Hugging Face id, local path or alias of a Llama/Mistral/Qwen2/Qwen3/Gemma3
            model (default: the packaged SmolLM2).
        scoring_layer: Layer(s) whose attention is read (default: about 60% depth).
        calibrate: Subtract the scores of a content-free query (ICR calibration).
        options: Any other [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] keyword option.
        top_n: How many nodes to keep (``None``: all).
        score_threshold: Drop nodes scoring below this value.

    A ready [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] (or its ``config()`` dict) can be
    shared with ``ranker=...`` (then ``model``, ``scoring_layer``, ``calibrate`` and
    ``options`` are not used); ``to_dict`` writes its config.

    Examples:
        >>> from llama_index.core.schema import NodeWithScore, TextNode
        >>> post = InContextRerankPostprocessor(model="smollm2", top_n=1)  # doctest: +SKIP
        >>> nodes = [NodeWithScore(node=TextNode(text="Paris is in France."))]
        >>> post.postprocess_nodes(nodes, query_str="Where is Paris?")[0].score  # doctest: +SKIP
        0.0
    """

    model: str | None = Field(
        default=None, description="Model id, path or alias (default SmolLM2)."
    )
    scoring_layer: int | list[int] | None = Field(
        default=None, description="Scoring layer(s), 0-based (default: about 60% depth)."
    )
    calibrate: bool = Field(default=True, description="Subtract content-free query scores.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Other InContextRanker keyword options."
    )
    score_threshold: float | None = Field(default=None, description="Minimum score to keep a node.")
    ranker: Component = Field(
        default=None, description="A ready InContextRanker to share, or its config."
    )
    _ranker: InContextRanker = PrivateAttr()

    def __init__(
        self, ranker: InContextRanker | dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        # The base pydantic __init__ does not list this class's fields.
        super().__init__(ranker=ranker, **kwargs)  # type: ignore[call-arg]

    def model_post_init(self, context: Any, /) -> None:
        ranker = self.ranker
        if ranker is not None and not isinstance(ranker, InContextRanker):
            raise TypeError(f"ranker must be an InContextRanker, got {type(ranker).__name__}")
        self._ranker = ranker or InContextRanker(
            self.model, scoring_layer=self.scoring_layer, calibrate=self.calibrate, **self.options
        )

    @classmethod
    def class_name(cls) -> str:
        return "InContextRerankPostprocessor"

    def model_label(self) -> str:
        return f"incontext:{self._ranker.model_name}"

    @property
    def core_ranker(self) -> InContextRanker:
        """The core [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker]."""
        return self._ranker

    def core_reranker(self) -> Reranker:
        """A core [`Reranker`][ctx_core.rerank.Reranker] over the in-context ranker."""
        return Reranker(self._ranker, score_threshold=self.score_threshold)
