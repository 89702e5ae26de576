"""A LlamaIndex node postprocessor over any core reranker."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from llama_index.core.bridge.pydantic import ConfigDict, Field, StrictInt
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from ctx_core.rerank import PassageReranker
from llamaindex_ctx._config import JsonConfig
from llamaindex_ctx.convert import nodes_to_passages, passages_to_nodes

__all__ = ["CtxRerankPostprocessor"]

dispatcher = get_dispatcher(__name__)


class CtxRerankPostprocessor(JsonConfig, BaseNodePostprocessor):
    """Base of this package's rerankers: convert, delegate to a core reranker, convert back.

    Emits ``ReRankStartEvent`` / ``ReRankEndEvent`` through the instrumentation
    dispatcher and a ``CBEventType.RERANKING`` callback event, like LlamaIndex's own
    rerankers. ``NodeWithScore.score`` gets the new score; the retrieval score is kept
    in ``metadata["retrieval_score"]``. Every node returned is a copy.
    ``to_dict``/``from_dict`` round-trip (core components as their configs, see
    `llamaindex_ctx._config`); an unknown argument is an error.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    top_n: StrictInt | None = Field(
        default=3, ge=1, description="How many nodes to keep (None: all)."
    )

    #: Metadata keys the core writes that ``NodeWithScore.score`` already holds (not copied).
    score_keys: ClassVar[tuple[str, ...]] = ("relevance_score",)

    @abstractmethod
    def core_reranker(self) -> PassageReranker:
        """The framework-neutral reranker doing the work."""

    def model_label(self) -> str:
        """Name reported in rerank events."""
        return self.class_name()

    @contextmanager
    def _events(self, nodes: list[NodeWithScore], query: QueryBundle) -> Iterator[Any]:
        top_n = self.top_n or len(nodes)
        dispatcher.event(
            ReRankStartEvent(query=query, nodes=nodes, top_n=top_n, model_name=self.model_label())
        )
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.model_label(),
                EventPayload.QUERY_STR: query.query_str,
                EventPayload.TOP_K: top_n,
            },
        ) as event:
            yield event

    @staticmethod
    def _finish(event: Any, nodes: list[NodeWithScore]) -> None:
        event.on_end(payload={EventPayload.NODES: nodes})
        dispatcher.event(ReRankEndEvent(nodes=nodes))

    @staticmethod
    def _query(query_bundle: QueryBundle | None) -> QueryBundle:
        if query_bundle is None:
            raise ValueError("query_bundle is required: pass query_bundle=... or query_str=...")
        return query_bundle

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._query(query_bundle)
        if not nodes:
            return []
        passages = nodes_to_passages(nodes)
        with self._events(nodes, query) as event:
            kept = self.core_reranker().rerank(query.query_str, passages, top_n=self.top_n)
            result = passages_to_nodes(kept, nodes, self.score_keys)
            self._finish(event, result)
        return result

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._query(query_bundle)
        if not nodes:
            return []
        passages = nodes_to_passages(nodes)
        with self._events(nodes, query) as event:
            kept = await self.core_reranker().arerank(query.query_str, passages, top_n=self.top_n)
            result = passages_to_nodes(kept, nodes, self.score_keys)
            self._finish(event, result)
        return result
