"""Token counting and budgets.

Examples:
    >>> from ctx_core.tokens import TokenCounter
    >>> counter = TokenCounter()
    >>> counter.count("Hello world")
    2
    >>> counter.truncate("one two three four", 2)
    'one two'
"""

from __future__ import annotations

import logging
from typing import Any

from ctx_core._registry import Configurable
from ctx_core.errors import ConfigError
from ctx_core.models import tiktoken_encoding

__all__ = ["TokenCounter", "default_counter"]

logger = logging.getLogger(__name__)


class TokenCounter(Configurable):
    """Counts and truncates text in tokens of one tokenizer.

    Args:
        encoding: A tiktoken encoding name (default ``cl100k_base``, works offline).
        tokenizer: A Hugging Face tokenizer to count with instead, e.g. the reader
            LLM's own. When given, ``encoding`` is ignored.
    """

    def __init__(self, encoding: str = "cl100k_base", tokenizer: Any | None = None) -> None:
        self._tokenizer = tokenizer
        self._encoding = None if tokenizer is not None else tiktoken_encoding(encoding)
        self.encoding = encoding
        self.name = getattr(tokenizer, "name_or_path", None) or encoding

    def config(self) -> dict[str, Any]:
        """The tiktoken encoding.

        Raises:
            ConfigError: the counter counts with a tokenizer object, which a config
                cannot hold (count with the model's component instead, or an encoding).
        """
        if self._tokenizer is not None:
            raise ConfigError(
                f"a TokenCounter over the tokenizer {self.name!r} has no config; "
                "pass TokenCounter(encoding=...) to components you want to serialize"
            )
        return {"type": "TokenCounter", "encoding": self.encoding}

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens)."""
        if self._encoding is not None:
            return list(self._encoding.encode(text, disallowed_special=()))
        return list(self._tokenizer.encode(text, add_special_tokens=False))  # type: ignore[union-attr]

    def decode(self, ids: list[int]) -> str:
        """Text of token ids."""
        if self._encoding is not None:
            return str(self._encoding.decode(ids))
        return str(self._tokenizer.decode(ids))  # type: ignore[union-attr]

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self.encode(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that fits ``max_tokens`` tokens."""
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return text
        return self.decode(ids[:max_tokens])


_DEFAULT: TokenCounter | None = None


def default_counter() -> TokenCounter:
    """The shared ``cl100k_base`` counter."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TokenCounter()
    return _DEFAULT
