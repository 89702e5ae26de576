"""LlamaIndex sections of ``ctx demo`` (registered through the ``ctx_rag.demo`` entry points)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llama_index.core import VectorStoreIndex

from ctx_core.llm import TransformersLLM
from llamaindex_ctx.convert import nodes_to_passages, to_node
from llamaindex_ctx.embeddings import CtxEmbedding
from llamaindex_ctx.llm import CtxLLM
from llamaindex_ctx.udcg import UDCGRerankPostprocessor

if TYPE_CHECKING:
    from ctx_core.demo import DemoContext


def query_engine_section(ctx: DemoContext) -> None:
    """A vector index over the book; the query engine drops likely distractors, then SmolLM2 answers."""
    ctx.heading(
        "LlamaIndex: VectorStoreIndex (MiniLM) -> UDCGRerankPostprocessor -> SmolLM2-135M answers"
    )
    nodes = [to_node(p).node for p in ctx.corpus]
    for node in nodes:  # offsets and ids are for us, not for the reader
        node.excluded_llm_metadata_keys = list(node.metadata)
        node.excluded_embed_metadata_keys = list(node.metadata)
    index = VectorStoreIndex(nodes, embed_model=CtxEmbedding())
    engine = index.as_query_engine(
        similarity_top_k=8,
        node_postprocessors=[UDCGRerankPostprocessor(token_budget=600)],
        llm=CtxLLM(TransformersLLM("smollm2"), max_tokens=64),
    )
    for question in ctx.questions:
        response = engine.query(question)
        ctx.line(f"\nQ: {question}")
        ctx.line(f"A (SmolLM2-135M): {str(response).strip()}")
        ctx.line("Context it read:")
        ctx.show_passages(nodes_to_passages(response.source_nodes))
