"""``InContextReranker``: rerank LangChain documents with the in-context block-sparse ranker."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr

from ctx_core.incontext import InContextRanker
from ctx_core.rerank import Reranker
from langchain_ctx._config import Component
from langchain_ctx.compressor import CtxDocumentCompressor

__all__ = ["InContextReranker"]


class InContextReranker(CtxDocumentCompressor):
    """Reranks documents by the attention an LLM pays them in one block-sparse forward pass.

    A [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] does the work: every document becomes a
    block of one prompt, and the attention of the prompt's final query tokens at a middle
    layer is each document's score. Use it in a ``ContextualCompressionRetriever``; scores
    land in ``metadata["relevance_score"]``.

    Attributes:
        model: Hugging Face id, local path or alias of a Llama/Mistral/Qwen2/Qwen3/Gemma3
            model (default: the packaged SmolLM2).
        scoring_layer: Layer(s) whose attention is read (default: about 60% depth).
        calibrate: Subtract the scores of a content-free query (ICR calibration).
        options: Any other [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] keyword option
            (``backend``, ``heads``, ``signal_tokens``, ``length_normalization``, ...).
        ranker: A ready [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] to share, or its
            ``config()`` dict (then ``model``, ``scoring_layer``, ``calibrate`` and
            ``options`` are not used).
        top_n: How many documents to keep (``None``: all).
        score_threshold: Drop documents scoring below this value.

    Examples:
        >>> from langchain_core.documents import Document
        >>> from langchain_ctx import InContextReranker
        >>> reranker = InContextReranker(model="smollm2", top_n=1)  # doctest: +SKIP
        >>> docs = [Document("Bananas are yellow."), Document("Paris is in France.")]
        >>> reranker.compress_documents(docs, "Where is Paris?")[0].metadata["relevance_score"]  # doctest: +SKIP
        0.12
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
    ranker: Component = Field(
        default=None, description="A ready InContextRanker to share, or its config."
    )
    score_threshold: float | None = Field(
        default=None, description="Minimum score to keep a document."
    )
    _ranker: InContextRanker = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        if self.ranker is not None:
            if not isinstance(self.ranker, InContextRanker):
                raise TypeError(
                    f"ranker must be an InContextRanker, got {type(self.ranker).__name__}"
                )
            self._ranker = self.ranker
        else:
            self._ranker = InContextRanker(
                self.model,
                scoring_layer=self.scoring_layer,
                calibrate=self.calibrate,
                **self.options,
            )

    @property
    def core_ranker(self) -> InContextRanker:
        """The core [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker]."""
        return self._ranker

    def core_reranker(self) -> Reranker:
        """A core [`Reranker`][ctx_core.rerank.Reranker] over the in-context ranker."""
        return Reranker(self._ranker, score_threshold=self.score_threshold)
