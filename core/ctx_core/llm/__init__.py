"""LLM protocols and the local Hugging Face implementation.

Examples:
    >>> from ctx_core.llm import LLM, TransformersLLM
    >>> isinstance(TransformersLLM, type)
    True
"""

from ctx_core.llm.base import (
    LLM,
    BaseLLM,
    CompletionChunk,
    Message,
    Prompt,
    ScoringLLM,
    SequenceScore,
    StreamingLLM,
)
from ctx_core.llm.transformers_llm import TransformersLLM

__all__ = [
    "LLM",
    "BaseLLM",
    "CompletionChunk",
    "Message",
    "Prompt",
    "ScoringLLM",
    "SequenceScore",
    "StreamingLLM",
    "TransformersLLM",
]
