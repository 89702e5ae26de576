"""LLM protocols and the local Hugging Face implementation.

Examples:
    >>> from ctx_core.llm import LLM, TransformersLLM
    >>> isinstance(TransformersLLM, type)
    True
"""

from ctx_core.llm.base import LLM, BaseLLM, Message, Prompt, ScoringLLM, SequenceScore
from ctx_core.llm.transformers_llm import TransformersLLM

__all__ = [
    "LLM",
    "BaseLLM",
    "Message",
    "Prompt",
    "ScoringLLM",
    "SequenceScore",
    "TransformersLLM",
]
