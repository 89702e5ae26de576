"""Passage utility for a reader LLM: how unlikely the reader is to abstain given only that passage."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ctx_core._registry import Configurable, config_value
from ctx_core.llm import ScoringLLM
from ctx_core.progress import progress
from ctx_core.tokens import TokenCounter
from ctx_core.types import Passage, ensure_passages, validate_query

__all__ = ["DEFAULT_ABSTAIN_TOKEN", "DEFAULT_INSTRUCTION", "AbstentionUtility"]

logger = logging.getLogger(__name__)

DEFAULT_ABSTAIN_TOKEN = "NO-RESPONSE"

DEFAULT_INSTRUCTION = (
    "Answer the question using only the document you are given. Reply with the answer "
    "alone, with no introduction or explanation. If the document does not contain the "
    "answer, reply NO-RESPONSE. Do not answer from your own knowledge."
)


class AbstentionUtility(Configurable):
    """Utility ``u = 1 - p(NO-RESPONSE)`` of each passage for a reader LLM.

    For each (question, passage) pair the reader sees only that passage under an
    instruction to answer from it or reply ``NO-RESPONSE``; ``p`` is the probability of
    the first token of ``NO-RESPONSE`` as the first token of the reply (one forward pass,
    nothing decoded). A passage the reader would answer from has utility near 1.

    Args:
        llm: A [`ScoringLLM`][ctx_core.llm.base.ScoringLLM], or a model id / alias for
            [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM] (default: packaged SmolLM2).
        instruction: The system instruction (must tell the reader to reply with
            ``abstain_token`` when the document lacks the answer).
        abstain_token: The abstention reply.
        max_passage_tokens: Longer passages are cut to this many tokens, with a warning.
        cache_size: How many (question, passage) results to remember (0: no cache).
        show_progress: Progress bar over batches (``None``: only for long jobs).

    Examples:
        >>> utility = AbstentionUtility()  # doctest: +SKIP
        >>> utility.utilities("Who wrote Hamlet?", ["Hamlet was written by Shakespeare."])  # doctest: +SKIP
        [0.99]
    """

    def __init__(
        self,
        llm: ScoringLLM | str | None = None,
        *,
        instruction: str = DEFAULT_INSTRUCTION,
        abstain_token: str = DEFAULT_ABSTAIN_TOKEN,
        max_passage_tokens: int = 512,
        cache_size: int = 100_000,
        show_progress: bool | None = None,
    ) -> None:
        if llm is None or isinstance(llm, str):
            from ctx_core.llm import TransformersLLM

            llm = TransformersLLM(llm)
        if not isinstance(llm, ScoringLLM):
            raise TypeError(
                f"llm must provide next_token_logprobs (a ScoringLLM), got {type(llm).__name__}"
            )
        if abstain_token not in instruction:
            raise ValueError(f"instruction must mention the abstain_token {abstain_token!r}")
        if max_passage_tokens < 1:
            raise ValueError(f"max_passage_tokens must be >= 1, got {max_passage_tokens}")
        self.llm = llm
        self.instruction = instruction
        self.abstain_token = abstain_token
        self.max_passage_tokens = max_passage_tokens
        self.cache_size = cache_size
        self.show_progress = show_progress
        tokenizer = getattr(llm, "tokenizer", None)
        self._counter = (
            TokenCounter(tokenizer=tokenizer) if tokenizer is not None else TokenCounter()
        )
        self._cache: OrderedDict[str, float] = OrderedDict()
        # Threads sharing the utility read and evict the cache: one lock, one pass each.
        self._cache_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """Name of the reader model."""
        return str(getattr(self.llm, "model_name", type(self.llm).__name__))

    def prompt(self, question: str, passage: Passage | str) -> list[dict[str, str]]:
        """The chat messages the reader sees for one passage."""
        text = passage.text if isinstance(passage, Passage) else passage
        return [
            {"role": "system", "content": self.instruction},
            {"role": "user", "content": f"Document: {text}\nQuestion: {question}\nAnswer:"},
        ]

    def no_response_probabilities(
        self, question: str, passages: Sequence[Passage | str]
    ) -> list[float]:
        """``p(NO-RESPONSE)`` for each passage, in input order."""
        question = validate_query(question, "question")
        items = ensure_passages(passages)
        keys = [self._key(question, p.text) for p in items]
        with self._cache_lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
        todo = [i for i, k in enumerate(keys) if k not in found]
        batches = [todo[s : s + 64] for s in range(0, len(todo), 64)]
        for batch in progress(batches, desc="utility", show=self.show_progress, unit="batch"):
            prompts = [self.prompt(question, self._fitted(items[i])) for i in batch]
            rows = self.llm.next_token_logprobs(prompts, [self.abstain_token])
            for i, row in zip(batch, rows, strict=True):
                found[keys[i]] = math.exp(row[0])
                self._remember(keys[i], found[keys[i]])
        return [found[k] for k in keys]

    def utilities(self, question: str, passages: Sequence[Passage | str]) -> list[float]:
        """``1 - p(NO-RESPONSE)`` for each passage, in input order."""
        return [1.0 - p for p in self.no_response_probabilities(question, passages)]

    async def autilities(self, question: str, passages: Sequence[Passage | str]) -> list[float]:
        """Async twin of [`utilities`][ctx_core.udcg.utility.AbstentionUtility.utilities] (runs in a worker thread)."""
        return await asyncio.to_thread(self.utilities, question, passages)

    def config(self) -> dict[str, Any]:
        """The reader LLM's config and the settings.

        Raises:
            ConfigError: the reader LLM has no ``config()`` (build it from a model id,
                e.g. ``AbstentionUtility("smollm2")``, to serialize the utility).
        """
        return {
            "type": "AbstentionUtility",
            "llm": config_value(self.llm, "llm"),
            "instruction": self.instruction,
            "abstain_token": self.abstain_token,
            "max_passage_tokens": self.max_passage_tokens,
            "cache_size": self.cache_size,
            "show_progress": self.show_progress,
        }

    def _fitted(self, passage: Passage) -> str:
        if self._counter.count(passage.text) <= self.max_passage_tokens:
            return passage.text
        logger.warning(
            "passage %s is longer than %d tokens; truncated for the utility prompt",
            passage.id,
            self.max_passage_tokens,
        )
        return self._counter.truncate(passage.text, self.max_passage_tokens)

    @staticmethod
    def _key(question: str, text: str) -> str:
        return hashlib.sha256(f"{question}\x00{text}".encode()).hexdigest()

    def _remember(self, key: str, value: float) -> None:
        if self.cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[key] = value
            self._cache.move_to_end(key)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
