"""Structurization for LlamaIndex: at ingestion (``TransformComponent``) and at query time
(``BaseNodePostprocessor``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from llama_index.core.bridge.pydantic import (
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PrivateAttr,
)
from llama_index.core.llms import LLM as LlamaLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeWithScore,
    QueryBundle,
    TextNode,
    TransformComponent,
)

from ctx_core.structure import BaseStructurizer, LLMStructurizer
from ctx_core.structure import HeuristicStructurizer as _Heuristic
from ctx_core.structure.base import FORMAT_KEY, ORIGINAL_KEY, STRUCTURE_KEY, validate_format
from ctx_core.types import Passage
from llamaindex_ctx._config import JsonConfig, rebuild_field, write_field
from llamaindex_ctx.llm import LlamaIndexLLM
from llamaindex_ctx.settings import settings_embedder

__all__ = ["StructurizePostprocessor", "StructurizeTransform"]

_KEYS = (STRUCTURE_KEY, ORIGINAL_KEY, FORMAT_KEY)
Format = Literal["reading", "outline", "retrieval", "markdown", "json"]


def _from_llm(value: Any) -> Any:
    """A LlamaIndex LLM becomes an LLM structurizer reading with it."""
    if isinstance(value, LlamaLLM):
        return LLMStructurizer(LlamaIndexLLM(value))
    return value


#: A structurizer, its ``config()`` dict, or a LlamaIndex LLM; written as its config.
Structurizer = Annotated[
    BaseStructurizer | None,
    BeforeValidator(rebuild_field),
    BeforeValidator(_from_llm),
    PlainSerializer(write_field, when_used="always"),
]


def _structurizer(structurizer: BaseStructurizer | None, model: str | None) -> BaseStructurizer:
    """The structurizer given, or the heuristic one over ``model`` (or ``Settings.embed_model``)."""
    if structurizer is not None:
        if model is not None:
            raise ValueError(
                f"model={model!r} names the embedding model of the default structurizer; "
                f"the {type(structurizer).__name__} given already has its model"
            )
        return structurizer
    embedder = settings_embedder() if model is None else None
    return _Heuristic(embedder if embedder is not None else model)


def _passages(nodes: Sequence[BaseNode]) -> tuple[list[int], list[Passage]]:
    """Positions and passages of the nodes that hold text (ids unique by position)."""
    positions, passages = [], []
    for position, node in enumerate(nodes):
        if not isinstance(node, BaseNode):
            raise TypeError(f"nodes[{position}] must be a BaseNode, got {type(node).__name__}")
        if isinstance(node, TextNode):
            text = node.get_content(metadata_mode=MetadataMode.NONE)
            positions.append(position)
            passages.append(Passage(text=text, id=f"#{position}", metadata=dict(node.metadata)))
    return positions, passages


def _apply(
    nodes: Sequence[BaseNode], positions: list[int], before: list[Passage], after: list[Passage]
) -> list[BaseNode]:
    """Copies of ``nodes``; those that were structurized get the new text and metadata."""
    result = [node.model_copy(deep=False) for node in nodes]
    for position, old, new in zip(positions, before, after, strict=True):
        if new is old:
            continue  # blank text: returned unchanged
        copy = result[position]
        assert isinstance(copy, TextNode)
        copy.set_content(new.text)
        copy.metadata = dict(new.metadata)
        # The structure and the original text are for programs, not the embedder or the LLM.
        copy.excluded_llm_metadata_keys = _with_keys(copy.excluded_llm_metadata_keys)
        copy.excluded_embed_metadata_keys = _with_keys(copy.excluded_embed_metadata_keys)
    return result


def _with_keys(keys: list[str]) -> list[str]:
    return [*keys, *(k for k in _KEYS if k not in keys)]


class StructurizeTransform(JsonConfig, TransformComponent):
    """Ingestion step: rewrite each text node as its structure (use in an ``IngestionPipeline``).

    The rendered structure becomes the node's text; ``metadata["structure"]`` (JSON),
    ``metadata["original_text"]`` and ``metadata["structure_format"]`` are added and
    hidden from the embedding and LLM views. Node ids, relationships and the other
    metadata are kept; nodes come back as copies, in order.

    Attributes:
        structurizer: Any core structurizer or its ``config()`` dict; default the offline
            heuristic one (over ``Settings.embed_model`` when you have set one, else
            MiniLM). ``to_dict`` writes its config. A LlamaIndex LLM is taken too, as
            ``LLMStructurizer(LlamaIndexLLM(llm))``.
        model: Embedding model id or path of the default heuristic structurizer.
        format: ``"retrieval"`` (default), ``"reading"``, ``"outline"``, ``"markdown"`` or ``"json"``.

    Examples:
        >>> from llama_index.core.schema import TextNode
        >>> from llamaindex_ctx import StructurizeTransform
        >>> [node] = StructurizeTransform()([TextNode(text="Cats purr. Cats nap.", id_="n1")])
        >>> node.node_id, node.metadata["original_text"]
        ('n1', 'Cats purr. Cats nap.')
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    structurizer: Structurizer = None
    model: str | None = None
    format: Format = "retrieval"
    _structurizer: BaseStructurizer = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._structurizer = _structurizer(self.structurizer, self.model)

    @property
    def core_structurizer(self) -> BaseStructurizer:
        """The core structurizer doing the work."""
        return self._structurizer

    @classmethod
    def class_name(cls) -> str:
        """Name used in serialization."""
        return "StructurizeTransform"

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Structurize the nodes (``format=...`` overrides the field for this call)."""
        format = validate_format(kwargs.get("format", self.format))
        if not nodes:
            return []
        positions, passages = _passages(nodes)
        done = self._structurizer.structurize_passages(passages, format=format)
        return _apply(nodes, positions, passages, done)

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Async twin of [`__call__`][llamaindex_ctx.structurize.StructurizeTransform.__call__] (native async for LLM structurizers)."""
        format = validate_format(kwargs.get("format", self.format))
        if not nodes:
            return []
        positions, passages = _passages(nodes)
        done = await self._structurizer.astructurize_passages(passages, format=format)
        return _apply(nodes, positions, passages, done)


class StructurizePostprocessor(JsonConfig, BaseNodePostprocessor):
    """Query-time step: restructure each retrieved node for the reader LLM.

    Order and scores are kept (nothing is dropped); each node is a copy whose text
    is its rendered structure, with the same metadata keys as
    [`StructurizeTransform`][llamaindex_ctx.structurize.StructurizeTransform] (hidden from the LLM view). The query is not needed.

    Attributes:
        structurizer: Any core structurizer or its ``config()`` dict; default the offline
            heuristic one (over ``Settings.embed_model`` when you have set one, else
            MiniLM). ``to_dict`` writes its config.
        model: Embedding model id or path of the default heuristic structurizer.
        format: ``"reading"`` (default: ``This passage talks about ...`` and numbered
            aspects), ``"outline"``, ``"retrieval"``, ``"markdown"`` or ``"json"``.

    Examples:
        >>> from llama_index.core.schema import NodeWithScore, TextNode
        >>> from llamaindex_ctx import StructurizePostprocessor
        >>> [hit] = StructurizePostprocessor().postprocess_nodes(
        ...     [NodeWithScore(node=TextNode(text="Cats purr. Cats nap."), score=0.5)])
        >>> hit.score, hit.node.get_content().startswith("This passage talks about")
        (0.5, True)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    structurizer: Structurizer = None
    model: str | None = None
    format: Format = "reading"
    _structurizer: BaseStructurizer = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._structurizer = _structurizer(self.structurizer, self.model)

    @property
    def core_structurizer(self) -> BaseStructurizer:
        """The core structurizer doing the work."""
        return self._structurizer

    @classmethod
    def class_name(cls) -> str:
        """Name used in serialization."""
        return "StructurizePostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        inner = [n.node for n in nodes]
        positions, passages = _passages(inner)
        done = self._structurizer.structurize_passages(passages, format=self.format)
        copies = _apply(inner, positions, passages, done)
        return [NodeWithScore(node=c, score=n.score) for c, n in zip(copies, nodes, strict=True)]

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        inner = [n.node for n in nodes]
        positions, passages = _passages(inner)
        done = await self._structurizer.astructurize_passages(passages, format=self.format)
        copies = _apply(inner, positions, passages, done)
        return [NodeWithScore(node=c, score=n.score) for c, n in zip(copies, nodes, strict=True)]
