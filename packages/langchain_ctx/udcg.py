"""``UDCGReranker``: utility-and-distraction-aware reranking of LangChain documents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import (
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
    StrictInt,
)

from ctx_core.udcg import (
    AbstentionUtility,
    LogisticCalibrator,
    UtilityDistractionReranker,
)
from ctx_core.udcg.reranker import DEFAULT_MIN_PROBABILITY, resolve_reranker_parts
from langchain_ctx._config import Component, write_field
from langchain_ctx.compressor import CtxDocumentCompressor
from langchain_ctx.llm import LangChainScoringLLM

__all__ = ["UDCGReranker"]


def _write_calibrator(value: Any, info: SerializationInfo) -> Any:
    """A fitted calibrator as its parameters; a shipped name or path as it is."""
    if isinstance(value, LogisticCalibrator):
        return value.to_dict()
    return write_field(value, info)


#: A calibrator, a shipped name or path, or a fitted calibrator's parameters (the core
#: reranker reads all three, so nothing is rebuilt here).
CalibratorField = Annotated[Any, PlainSerializer(_write_calibrator, when_used="always")]


class UDCGReranker(CtxDocumentCompressor):
    """Keeps the documents expected to help the reader; drops likely distractors.

    A LangChain document compressor over [`ctx_core.udcg.UtilityDistractionReranker`][ctx_core.udcg.reranker.UtilityDistractionReranker];
    use it in a ``ContextualCompressionRetriever`` or a ``RerankingRetriever``. Kept
    documents are copies whose metadata gains ``relevance_score``,
    ``relevance_probability``, ``utility`` and ``expected_gain``.

    Attributes:
        model: Embedding model id or path of the default hybrid relevance signals
            (MiniLM when not given; another model needs its own ``calibrator``).
        relevance: A core scorer, its ``config()`` dict or a scorer's short name (built
            with ``model``); default: hybrid MiniLM + BM25 signals.
        utility: A core ``AbstentionUtility`` for the reader LLM (or its config), the
            reader's model id or alias (e.g. ``"smollm2"``), or None; a LangChain chat model
            that returns log-probabilities (e.g. ``ChatOpenAI(logprobs=True, top_logprobs=20)``)
            is read through ``AbstentionUtility(LangChainScoringLLM(chat_model))``.
        calibrator: Calibrator, path or shipped name (default for the default scorer).
        token_budget: Most tokens kept.
        top_n: Most documents kept (None: as many as have positive expected gain).
        order: "best_first" or "edges".
        allow_empty: Allow an empty result when every document looks harmful.
        objective: "expected_recall" (default: keep the best document and every document that
            carries more than ``min_share`` of the expected relevant ones), "expected_sum"
            (keep every document with positive expected gain) or "expected_mean" (maximize the
            expected UDCG, a mean: keeps one).
        empty_below: When nothing is kept: "calibrator" (default: the calibrator's list gate,
            or its fitted probability threshold), the best document's relevance probability
            below which nothing is kept, or None (empty exactly when no document has positive
            expected gain).
        min_share: Smallest share of the list's expected relevant documents a kept document
            carries (None: 0.1 with "expected_recall", no limit otherwise).
        min_probability: With "expected_recall", the relevance probability a kept document
            other than the best must exceed (default 0.1).

    Examples:
        >>> from langchain_core.documents import Document
        >>> reranker = UDCGReranker()
        >>> docs = [Document("Hamlet was written by William Shakespeare."), Document("Bananas are yellow.")]
        >>> [d.page_content for d in reranker.compress_documents(docs, "Who wrote Hamlet?")]
        ['Hamlet was written by William Shakespeare.']
    """

    top_n: StrictInt | None = Field(default=None, ge=1, description="Most documents kept.")
    model: str | None = Field(
        default=None, description="Embedding model id or path of the relevance signals."
    )
    relevance: Component = Field(default=None, description="A ctx_core scorer or its config.")
    utility: Component = Field(
        default=None, description="A ctx_core AbstentionUtility or its config, or None."
    )
    calibrator: CalibratorField = Field(
        default=None, description="Calibrator (or its parameters), path or shipped name."
    )
    token_budget: int | None = Field(default=None, ge=1, description="Most tokens kept.")
    order: Literal["best_first", "edges"] = "best_first"
    allow_empty: bool = True
    objective: Literal["expected_recall", "expected_sum", "expected_mean"] = "expected_recall"
    empty_below: float | Literal["calibrator"] | None = Field(default="calibrator")
    min_share: float | None = Field(default=None, ge=0, lt=1)
    min_probability: float = Field(default=DEFAULT_MIN_PROBABILITY, ge=0, lt=1)
    _reranker: UtilityDistractionReranker = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        relevance, utility, calibrator = resolve_reranker_parts(
            self.model, self.relevance, self.utility, self.calibrator
        )
        if isinstance(utility, BaseChatModel):
            utility = AbstentionUtility(LangChainScoringLLM(utility))
        self._reranker = UtilityDistractionReranker(
            relevance,
            utility,
            calibrator,
            token_budget=self.token_budget,
            order=self.order,
            allow_empty=self.allow_empty,
            objective=self.objective,
            empty_below=self.empty_below,
            min_share=self.min_share,
            min_probability=self.min_probability,
        )

    def core_reranker(self) -> UtilityDistractionReranker:
        """The core reranker doing the work (its ``explain`` says why each passage was dropped)."""
        return self._reranker
