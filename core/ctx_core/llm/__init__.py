"""LLM protocols, the local Hugging Face implementation and served models.

Examples:
    >>> from ctx_core.llm import LLM, OpenAICompatibleLLM, TransformersLLM
    >>> isinstance(TransformersLLM, type) and isinstance(OpenAICompatibleLLM, type)
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
from ctx_core.llm.openai_compatible import OpenAICompatibleLLM
from ctx_core.llm.transformers_llm import TransformersLLM

__all__ = [
    "LLM",
    "BaseLLM",
    "CompletionChunk",
    "Message",
    "OpenAICompatibleLLM",
    "Prompt",
    "ScoringLLM",
    "SequenceScore",
    "StreamingLLM",
    "TransformersLLM",
]
