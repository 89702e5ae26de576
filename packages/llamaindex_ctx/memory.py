"""Document memories in LlamaIndex: a retriever and an ingestion transform."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.bridge.pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
    TransformComponent,
)

from ctx_core._registry import rebuild
from ctx_core.embeddings import Embedder
from ctx_core.errors import ConfigError
from ctx_core.memory import DocumentMemory, HeuristicMemoryExtractor, MemoryIndex
from ctx_core.memory.base import MemoryExtractorLike
from ctx_core.memory.model import LAYERS
from ctx_core.types import Passage
from llamaindex_ctx._config import (
    Component,
    JsonConfig,
    PlainConfig,
    rebuild_field,
    write_field,
    write_value,
)
from llamaindex_ctx.settings import core_embedder

__all__ = ["MemoryExtractTransform", "MemoryRetriever", "memory_nodes"]

#: Metadata keys the memory adds; hidden from the LLM and embedding views of a node.
_ADDED_KEYS = (
    "doc_id",
    "chunk_index",
    "start",
    "end",
    "core_content",
    "memory_layers",
    "layer_scores",
    "relevance_score",
    "retrieval_score",
)


def _index_config(index: MemoryIndex | None, info: SerializationInfo) -> Any:
    """An empty index as its settings (``config()``); one holding memories as the object
    itself in Python mode, and a ``ConfigError`` in JSON mode (a config has no rows)."""
    if index is not None and len(index):
        if not info.mode_is_json():
            return index
        raise ConfigError(
            f"index holds {len(index)} memories, which a config does not carry; save it "
            "with index.save(path) and rebuild with MemoryIndex.load(path)"
        )
    return write_field(index, info)


def _default_embedder(model: str | None, given: Any, what: str) -> Embedder | str | None:
    """The embedder of a memory built here: ``model``, else ``Settings.embed_model``'s.

    Raises:
        ValueError: ``model`` given beside ``what``, which already has its embedder.
    """
    if given is not None:
        if model is not None:
            raise ValueError(
                f"model={model!r} names the embedding model of a new {what}; "
                f"the {what} given already has its embedder"
            )
        return None
    return model if model is not None else core_embedder(None)


def _node(passage: Passage, source: RelatedNodeInfo, document_keys: Sequence[str]) -> TextNode:
    hidden = [k for k in _ADDED_KEYS if k in passage.metadata and k not in document_keys]
    return TextNode(
        id_=passage.id,
        text=passage.text,
        metadata=dict(passage.metadata),
        start_char_idx=passage.metadata.get("start"),
        end_char_idx=passage.metadata.get("end"),
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=hidden,
        relationships={NodeRelationship.SOURCE: source},
    )


def memory_nodes(memory: DocumentMemory, source: BaseNode | None = None) -> list[TextNode]:
    """One ``TextNode`` per scenario chunk of ``memory``.

    Each node's id is ``f"{doc_id}#{chunk_index}"``; its ``SOURCE`` relationship points to
    ``source`` (or to the memory's ``doc_id``); ``start_char_idx``/``end_char_idx`` give
    its place in the source text.
    """
    info = (
        source.as_related_node_info()
        if source is not None
        else RelatedNodeInfo(node_id=memory.doc_id)
    )
    keys = list(memory.metadata)
    return [_node(memory.passage(i), info, keys) for i in range(len(memory.chunks))]


class MemoryRetriever(PlainConfig, BaseRetriever):
    """Retrieve scenario chunks from a ctx_core memory index (native async).

    ``NodeWithScore.score`` is the rerank score (by default the chunk's embedding
    similarity); ``metadata["retrieval_score"]`` keeps the embedding similarity and
    ``metadata["memory_layers"]`` the layers that found the chunk.

    Args:
        index: The [`ctx_core.memory.MemoryIndex`][ctx_core.memory.index.MemoryIndex] to
            search, or the ``config()`` of an empty one; default: a new empty index over
            ``model``.
        similarity_top_k: How many chunks to return.
        model: Embedding model id or path of a new index (default: ``Settings.embed_model``
            when you have set one, else the packaged MiniLM).
        layers: Layers to search (default all three).
        callback_manager: LlamaIndex callbacks.

    ``to_dict``/``from_dict`` (and ``to_json``/``from_json``) write the settings and an
    empty index's config (an index built from ``model`` or ``Settings`` as ``model``); an
    index holding memories is never written as an empty one: ``to_json`` raises
    ``ConfigError`` (save it with ``index.save(path)``), ``to_dict`` keeps the object.
    An unknown argument is an error.

    Examples:
        >>> from llama_index.core import Document
        >>> from llamaindex_ctx import MemoryRetriever
        >>> retriever = MemoryRetriever.from_documents(
        ...     [Document(text="Paris is the capital of France.", id_="fr"),
        ...      Document(text="Bananas are yellow.", id_="ba")],
        ...     similarity_top_k=1,
        ... )
        >>> [n.node.node_id for n in retriever.retrieve("What is the capital of France?")]
        ['fr#0']
    """

    def __init__(
        self,
        index: MemoryIndex | dict[str, Any] | None = None,
        similarity_top_k: int = 4,
        *,
        model: str | None = None,
        layers: Sequence[str] = LAYERS,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        index = rebuild(index, "index")
        embedder = _default_embedder(model, index, "index")
        if index is None:
            index = MemoryIndex(embedder)
        if not isinstance(index, MemoryIndex):
            raise TypeError(f"index must be a ctx_core MemoryIndex, got {type(index).__name__}")
        if similarity_top_k < 1:
            raise ValueError(f"similarity_top_k must be >= 1, got {similarity_top_k}")
        self.index = index
        self.model = model
        self._index_given = embedder is None
        self.similarity_top_k = similarity_top_k
        self.layers = tuple(layers)
        self.verbose = verbose
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _arguments(self, json_mode: bool) -> dict[str, Any]:
        index: Any = None
        if len(self.index):
            if json_mode:
                raise ConfigError(
                    f"index holds {len(self.index)} memories, which a config does not carry; "
                    "save it with index.save(path) and rebuild with MemoryIndex.load(path)"
                )
            index = self.index
        elif self._index_given:
            index = write_value(self.index, "index", json_mode=json_mode)
        return {
            "index": index,
            "similarity_top_k": self.similarity_top_k,
            "model": None if self._index_given else self.model,
            "layers": list(self.layers),
            "verbose": self.verbose,
        }

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[BaseNode],
        *,
        extractor: MemoryExtractorLike | None = None,
        embedder: Embedder | str | None = None,
        show_progress: bool | None = None,
        **kwargs: Any,
    ) -> MemoryRetriever:
        """Memorize documents (or nodes) into a new in-memory index and retrieve from it.

        Args:
            documents: The documents or nodes; each node id becomes a memory's ``doc_id``.
            extractor: A ctx_core memory extractor (default: the heuristic one over the
                index's embedder).
            embedder: Embedder of the index, or a model id (default:
                ``Settings.embed_model`` when you have set one, else the packaged MiniLM).
            show_progress: Progress bar over documents.
            **kwargs: Other arguments (``similarity_top_k``, ``layers``, ...).
        """
        if "model" in kwargs:
            if embedder is not None:
                raise ValueError("give either embedder= or model=, not both")
            embedder = kwargs.pop("model")
        index = MemoryIndex(core_embedder(embedder))
        MemoryExtractTransform(extractor=extractor, index=index)(
            documents, show_progress=show_progress
        )
        return cls(index, **kwargs)

    def _to_nodes(self, passages: list[Passage]) -> list[NodeWithScore]:
        result = []
        for passage in passages:
            memory = self.index.get(passage.id.rsplit("#", 1)[0])
            node = _node(passage, RelatedNodeInfo(node_id=memory.doc_id), list(memory.metadata))
            result.append(NodeWithScore(node=node, score=passage.score))
        return result

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = self.index.search(
            query_bundle.query_str, k=self.similarity_top_k, layers=self.layers
        )
        return self._to_nodes(passages)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = await self.index.asearch(
            query_bundle.query_str, k=self.similarity_top_k, layers=self.layers
        )
        return self._to_nodes(passages)


class MemoryExtractTransform(JsonConfig, TransformComponent):
    """Ingestion step: build a document memory per node, emit one node per scenario chunk.

    Use it in an ``IngestionPipeline``. Each output node is a chunk of its input node
    (``SOURCE`` relationship), with the input's metadata plus ``heading`` and
    ``core_content``; when ``index`` is given the memories are also added to it, so a
    [`MemoryRetriever`][llamaindex_ctx.memory.MemoryRetriever] can search all three layers.

    Attributes:
        extractor: A ctx_core memory extractor or its ``config()`` dict (default:
            ``HeuristicMemoryExtractor``).
        index: A [`ctx_core.memory.MemoryIndex`][ctx_core.memory.index.MemoryIndex] to add the memories to (optional),
            or the config of an empty one.
        model: Embedding model id or path of the default extractor (default:
            ``Settings.embed_model`` when you have set one, else the packaged MiniLM; with
            ``index`` given, the index's embedder).
        replace: Replace a memory already in ``index`` under the same id.

    ``to_dict`` writes the extractor's config and an empty index's settings; an index
    that holds memories raises ``ConfigError`` (save it with ``index.save(path)``).

    Examples:
        >>> from llama_index.core import Document
        >>> from llama_index.core.ingestion import IngestionPipeline
        >>> from llamaindex_ctx import MemoryExtractTransform
        >>> pipeline = IngestionPipeline(transformations=[MemoryExtractTransform()])
        >>> text = "# Cats\\n\\nCats purr. They nap.\\n\\n# Dogs\\n\\nDogs bark. They fetch."
        >>> nodes = pipeline.run(documents=[Document(text=text, id_="pets")])
        >>> [(n.node_id, n.metadata["heading"]) for n in nodes]
        [('pets#0', 'Cats'), ('pets#1', 'Dogs')]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    extractor: Component = Field(
        default=None, description="A ctx_core memory extractor or its config."
    )
    index: Annotated[
        Any, BeforeValidator(rebuild_field), PlainSerializer(_index_config, when_used="always")
    ] = Field(default=None, description="A ctx_core MemoryIndex to add memories to.")
    model: str | None = Field(
        default=None, description="Embedding model id or path of the default extractor."
    )
    replace: bool = Field(default=True, description="Replace memories already in the index.")
    _extractor: MemoryExtractorLike = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        if self.index is not None and not isinstance(self.index, MemoryIndex):
            raise TypeError(
                f"index must be a ctx_core MemoryIndex, got {type(self.index).__name__}"
            )
        if self.extractor is not None:
            _default_embedder(self.model, self.extractor, "extractor")  # model= is an error
            self._extractor = self.extractor
        elif self.index is not None:
            _default_embedder(self.model, self.index, "index")
            self._extractor = HeuristicMemoryExtractor(self.index.embedder)
        else:
            self._extractor = HeuristicMemoryExtractor(_default_embedder(self.model, None, ""))

    @classmethod
    def class_name(cls) -> str:
        return "MemoryExtractTransform"

    def memories(
        self, nodes: Sequence[BaseNode], show_progress: bool | None = None
    ) -> list[DocumentMemory]:
        """The memory of each node (ids: the nodes' ids; metadata: copies of theirs)."""
        for i, node in enumerate(nodes):
            if not isinstance(node, BaseNode):
                raise TypeError(f"nodes[{i}] must be a LlamaIndex node, got {type(node).__name__}")
        return self._extractor.extract_many(
            [n.get_content(metadata_mode=MetadataMode.NONE) for n in nodes],
            ids=[n.node_id for n in nodes],
            metadatas=[dict(n.metadata) for n in nodes],
            show_progress=show_progress,
        )

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        """Memorize ``nodes`` and return their scenario chunks as nodes."""
        nodes = list(nodes)
        if not nodes:
            return []
        memories = self.memories(nodes, show_progress=kwargs.get("show_progress"))
        if self.index is not None:
            self.index.add_many(memories, replace=self.replace)
        result: list[BaseNode] = []
        for node, memory in zip(nodes, memories, strict=True):
            chunks = memory_nodes(memory, node)
            for chunk in chunks:
                chunk.excluded_embed_metadata_keys = [
                    *node.excluded_embed_metadata_keys,
                    *chunk.excluded_embed_metadata_keys,
                ]
                chunk.excluded_llm_metadata_keys = [
                    *node.excluded_llm_metadata_keys,
                    *chunk.excluded_llm_metadata_keys,
                ]
            result.extend(chunks)
        return result

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        """Async twin of ``__call__`` (extraction runs in a worker thread)."""
        return await asyncio.to_thread(self.__call__, nodes, **kwargs)
