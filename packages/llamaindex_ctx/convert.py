"""Conversions between LlamaIndex nodes and core ``Passage``.

Ids and metadata survive both ways; results are always copies, the caller's
nodes are never mutated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from ctx_core.types import Passage

__all__ = ["nodes_to_passages", "passages_to_nodes", "to_node", "to_passage"]


def to_passage(node: NodeWithScore, passage_id: str | None = None) -> Passage:
    """A passage with the node's text (without metadata), id, metadata and score."""
    return Passage(
        text=node.node.get_content(metadata_mode=MetadataMode.NONE),
        id=passage_id or node.node.node_id,
        metadata=dict(node.node.metadata),
        score=node.score,
    )


def to_node(passage: Passage) -> NodeWithScore:
    """A new ``TextNode`` (``id_`` = passage id) wrapped with the passage's score."""
    return NodeWithScore(
        node=TextNode(text=passage.text, id_=passage.id, metadata=dict(passage.metadata)),
        score=passage.score,
    )


def nodes_to_passages(nodes: Sequence[NodeWithScore]) -> list[Passage]:
    """Passages for a batch of nodes, with ids unique within the batch.

    A node's ``node_id`` is used unless it repeats in the batch; then the passage
    id comes from its position (``"#3"``) so [`passages_to_nodes`][llamaindex_ctx.convert.passages_to_nodes] still finds it.
    """
    passages = []
    seen: set[str] = set()
    for position, node in enumerate(nodes):
        if not isinstance(node, NodeWithScore):
            raise TypeError(f"nodes[{position}] must be a NodeWithScore, got {type(node).__name__}")
        pid = node.node.node_id if node.node.node_id not in seen else f"#{position}"
        seen.add(pid)
        passages.append(to_passage(node, pid))
    return passages


def passages_to_nodes(
    passages: Sequence[Passage],
    originals: Sequence[NodeWithScore],
    score_keys: Iterable[str] = ("relevance_score",),
) -> list[NodeWithScore]:
    """Copies of the original nodes, in the passages' order, scored by the core.

    ``NodeWithScore.score`` becomes the passage's score; metadata keys the core added
    (e.g. ``retrieval_score``) go into a copy of the node's metadata and are hidden
    from the LLM and embedding views so they never change what the model reads.
    Keys in ``score_keys`` are not added: ``NodeWithScore.score`` already holds them.
    A key the node already carried (e.g. a stale ``relevance_score`` or
    ``retrieval_score`` from an earlier rerank) is replaced by the value the core wrote.
    """
    skip = set(score_keys)
    by_id = dict(zip((p.id for p in nodes_to_passages(originals)), originals, strict=True))
    result = []
    for passage in passages:
        original = by_id[passage.id]
        old = original.node.metadata
        added = {k: v for k, v in passage.metadata.items() if k not in old and k not in skip}
        # A value the core did not touch is the very object the node's metadata holds.
        rewritten = {k: v for k, v in passage.metadata.items() if k in old and old[k] is not v}
        node = original.node.model_copy(deep=False)
        node.metadata = {**old, **rewritten, **added}
        node.excluded_llm_metadata_keys = [*original.node.excluded_llm_metadata_keys, *added]
        node.excluded_embed_metadata_keys = [*original.node.excluded_embed_metadata_keys, *added]
        result.append(NodeWithScore(node=node, score=passage.score))
    return result
