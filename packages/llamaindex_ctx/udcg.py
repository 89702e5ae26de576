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

from ctx_core.udcg import AbstentionUtility, LogisticCalibrator, UtilityDistractionReranker
from llamaindex_ctx._config import Component, write_field
from llamaindex_ctx.llm import LlamaIndexScoringLLM
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor

__all__ = ["UDCGRerankPostprocessor"]


def _write_calibrator(value: Any, info: SerializationInfo) -> Any:
    """A fitted calibrator as its parameters; a shipped name or path as it is."""
    if isinstance(value, LogisticCalibrator):
        return value.to_dict()
    return write_field(value, info)


#: A calibrator, a shipped name or path, or a fitted calibrator's parameters (the core
#: reranker reads all three, so nothing is rebuilt here).
CalibratorField = Annotated[Any, PlainSerializer(_write_calibrator, when_used="always")]


class UDCGRerankPostprocessor(CtxRerankPostprocessor):
    """Keeps the nodes expected to help the reader; drops likely distractors.

    ``NodeWithScore.score`` becomes the expected gain; the node metadata gains
    ``relevance_score``, ``relevance_probability``, ``utility``, ``expected_gain`` and
    ``retrieval_score`` (all hidden from the LLM and embedding views).

    Attributes:
        relevance: A core scorer or its ``config()`` dict (default: packaged MiniLM);
            also the first positional argument.
        utility: A core ``AbstentionUtility`` for the reader LLM (or its config), or None;
            a LlamaIndex LLM that returns log-probabilities (e.g. ``OpenAILike(...,
            logprobs=True, top_logprobs=20)``) is read through
            ``AbstentionUtility(LlamaIndexScoringLLM(llm))``.
        calibrator: Calibrator, path or shipped name (default for the default scorer).
        top_n: Most nodes kept (None: as many as have positive expected gain).
        token_budget: Most tokens kept.
        order: "best_first" or "edges".
        allow_empty: Allow an empty result when every node looks harmful.

    Examples:
        >>> from llama_index.core.schema import NodeWithScore, TextNode
        >>> post = UDCGRerankPostprocessor()
        >>> nodes = [NodeWithScore(node=TextNode(text="Hamlet was written by William Shakespeare.")),
        ...          NodeWithScore(node=TextNode(text="Bananas are yellow."))]
        >>> [n.node.get_content() for n in post.postprocess_nodes(nodes, query_str="Who wrote Hamlet?")]
        ['Hamlet was written by William Shakespeare.']
    """

    top_n: StrictInt | None = Field(default=None, ge=1, description="Most nodes kept.")
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
        utility = self.utility
        if isinstance(utility, LlamaLLM):
            utility = AbstentionUtility(LlamaIndexScoringLLM(utility))
        self._reranker = UtilityDistractionReranker(
            self.relevance,
            utility,
            self.calibrator,
            token_budget=self.token_budget,
            order=self.order,
            allow_empty=self.allow_empty,
        )

    @classmethod
    def class_name(cls) -> str:
        return "UDCGRerankPostprocessor"

    def model_label(self) -> str:
        return "udcg:" + str(getattr(self._reranker.relevance, "model_name", "scorer"))

    def core_reranker(self) -> UtilityDistractionReranker:
        """The core reranker doing the work."""
        return self._reranker
