"""``UDCGRerankPostprocessor``: utility-and-distraction-aware reranking of LlamaIndex nodes."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from llama_index.core.bridge.pydantic import (
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
    StrictInt,
)
from llama_index.core.llms import LLM as LlamaLLM

from ctx_core.embeddings import Embedder
from ctx_core.models import resolve_embedder
from ctx_core.udcg import (
    AbstentionUtility,
    HybridSignals,
    LogisticCalibrator,
    UtilityDistractionReranker,
)
from ctx_core.udcg.reranker import (
    DEFAULT_CALIBRATOR,
    DEFAULT_MIN_PROBABILITY,
    resolve_reranker_parts,
)
from llamaindex_ctx._config import Component, write_field
from llamaindex_ctx.llm import LlamaIndexScoringLLM
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor
from llamaindex_ctx.settings import settings_embedder

__all__ = ["UDCGRerankPostprocessor"]


def _write_calibrator(value: Any, info: SerializationInfo) -> Any:
    """A fitted calibrator as its parameters; a shipped name or path as it is."""
    if isinstance(value, LogisticCalibrator):
        return value.to_dict()
    return write_field(value, info)


#: A calibrator, a shipped name or path, or a fitted calibrator's parameters (the core
#: reranker reads all three, so nothing is rebuilt here).
CalibratorField = Annotated[Any, PlainSerializer(_write_calibrator, when_used="always")]


def _settings_signals(calibrator: Any) -> tuple[Any, Any]:
    """Hybrid signals over ``Settings.embed_model`` when the user has set one.

    The shipped calibrator is fitted on MiniLM's similarities; another model's need a
    calibrator of their own, so none is assumed for them.
    """
    embedder = settings_embedder()
    if embedder is None:
        return None, calibrator
    if calibrator is None:
        default = resolve_embedder(embedder.model_name) == resolve_embedder(None)
        if type(embedder) is not Embedder or not default:
            raise ValueError(
                f"Settings.embed_model is {embedder.model_name!r}; the shipped calibrator is "
                "fitted on MiniLM similarities: pass calibrator= (fit one with "
                "ctx_core.udcg.fit_calibrator) or model= / relevance= to choose the signals"
            )
        calibrator = DEFAULT_CALIBRATOR
    return HybridSignals(embedder), calibrator


class UDCGRerankPostprocessor(CtxRerankPostprocessor):
    """Keeps the nodes expected to help the reader; drops likely distractors.

    ``NodeWithScore.score`` becomes the expected gain; the node metadata gains
    ``relevance_score``, ``relevance_probability``, ``utility``, ``expected_gain`` and
    ``retrieval_score`` (all hidden from the LLM and embedding views).

    Attributes:
        model: Embedding model id or path of the default hybrid relevance signals
            (MiniLM when not given; another model needs its own ``calibrator``).
        relevance: A core scorer, its ``config()`` dict or a scorer's short name (built
            with ``model``); default: hybrid MiniLM + BM25 signals (over
            ``Settings.embed_model`` when you have set one); also the first positional
            argument.
        utility: A core ``AbstentionUtility`` for the reader LLM (or its config), the
            reader's model id or alias (e.g. ``"smollm2"``), or None; a LlamaIndex LLM that
            returns log-probabilities (e.g. ``OpenAILike(..., logprobs=True, top_logprobs=20)``)
            is read through ``AbstentionUtility(LlamaIndexScoringLLM(llm))``.
        calibrator: Calibrator, path or shipped name (default for the default scorer).
        top_n: Most nodes kept (None: as many as have positive expected gain).
        token_budget: Most tokens kept.
        order: "best_first" or "edges".
        allow_empty: Allow an empty result when every node looks harmful.
        objective: "expected_recall" (default: keep the best node and every node that
            carries more than ``min_share`` of the expected relevant ones), "expected_sum"
            (keep every node with positive expected gain) or "expected_mean" (maximize the
            expected UDCG, a mean: keeps one).
        empty_below: When nothing is kept: "calibrator" (default: the calibrator's list gate,
            or its fitted probability threshold), the best node's relevance probability
            below which nothing is kept, or None (empty exactly when no node has positive
            expected gain).
        min_share: Smallest share of the list's expected relevant nodes a kept node
            carries (None: 0.1 with "expected_recall", no limit otherwise).
        min_probability: With "expected_recall", the relevance probability a kept node
            other than the best must exceed (default 0.1).

    Examples:
        >>> from llama_index.core.schema import NodeWithScore, TextNode
        >>> post = UDCGRerankPostprocessor()
        >>> nodes = [NodeWithScore(node=TextNode(text="Hamlet was written by William Shakespeare.")),
        ...          NodeWithScore(node=TextNode(text="Bananas are yellow."))]
        >>> [n.node.get_content() for n in post.postprocess_nodes(nodes, query_str="Who wrote Hamlet?")]
        ['Hamlet was written by William Shakespeare.']
    """

    top_n: StrictInt | None = Field(default=None, ge=1, description="Most nodes kept.")
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

    # The node score is the expected gain; the raw relevance score stays in metadata.
    score_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, relevance: Any = None, utility: Any = None, calibrator: Any = None, **kwargs: Any
    ) -> None:
        """Args: relevance scorer, utility model and calibrator as for the core reranker."""
        # The base pydantic __init__ does not list this class's fields.
        super().__init__(  # type: ignore[call-arg]
            relevance=relevance, utility=utility, calibrator=calibrator, **kwargs
        )

    def model_post_init(self, context: Any, /) -> None:
        relevance, utility, calibrator = resolve_reranker_parts(
            self.model, self.relevance, self.utility, self.calibrator
        )
        if relevance is None and self.model is None:
            relevance, calibrator = _settings_signals(calibrator)
        if isinstance(utility, LlamaLLM):
            utility = AbstentionUtility(LlamaIndexScoringLLM(utility))
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

    @classmethod
    def class_name(cls) -> str:
        return "UDCGRerankPostprocessor"

    def model_label(self) -> str:
        return "udcg:" + str(getattr(self._reranker.relevance, "model_name", "scorer"))

    def core_reranker(self) -> UtilityDistractionReranker:
        """The core reranker doing the work."""
        return self._reranker
