"""The LLM protocols every capability talks to.

Two levels:

* [`LLM`][ctx_core.llm.base.LLM] generates text (``complete`` / ``acomplete``). Any chat model can
  be wrapped as one (see the LangChain and LlamaIndex adapters).
* [`StreamingLLM`][ctx_core.llm.base.StreamingLLM] also streams its reply as it is generated, piece by piece,
  with the tokens each piece accounts for (frameworks report them as usage).
* [`ScoringLLM`][ctx_core.llm.base.ScoringLLM] also exposes probabilities: the log-probability of given
  next tokens, and of a whole continuation. UDCG utilities, memory-completeness
  scores and boundary questions need these. Local models (``TransformersLLM``)
  provide both; a served model provides next-token log-probabilities when its API
  returns them (``OpenAICompatibleLLM``, and the LangChain / LlamaIndex scoring
  wrappers), and continuation log-probabilities only where the server echoes prompt
  log-probabilities. `supports(llm, feature)` tells which a given model has.

A prompt is either a plain string (sent as one user message) or a list of chat
messages ``{"role": ..., "content": ...}``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "LLM",
    "BaseLLM",
    "CompletionChunk",
    "Message",
    "Prompt",
    "ScoringLLM",
    "SequenceScore",
    "StreamingLLM",
    "supports",
    "to_messages",
]

Message = Mapping[str, str]
Prompt = str | Sequence[Message]

_ROLES = {"system", "user", "assistant", "tool"}


def to_messages(prompt: Prompt, argument: str = "prompt") -> list[dict[str, str]]:
    """Normalize a prompt to a list of ``{"role", "content"}`` dicts, validating it."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if not isinstance(prompt, Sequence) or not prompt:
        raise TypeError(f"{argument} must be a str or a non-empty list of chat messages")
    messages = []
    for i, message in enumerate(prompt):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise TypeError(f"{argument}[{i}] must be a mapping with 'role' and 'content'")
        role, content = message["role"], message["content"]
        if role not in _ROLES:
            raise ValueError(
                f"{argument}[{i}] has unknown role {role!r}; expected one of {sorted(_ROLES)}"
            )
        if not isinstance(content, str):
            raise TypeError(
                f"{argument}[{i}]['content'] must be a str, got {type(content).__name__}"
            )
        messages.append({"role": str(role), "content": content})
    return messages


@dataclass(frozen=True)
class SequenceScore:
    """Log-probability of a continuation: the sum over its tokens, and how many there were."""

    logprob: float
    num_tokens: int

    @property
    def mean_logprob(self) -> float:
        """Length-normalized log-probability (per token)."""
        return self.logprob / max(self.num_tokens, 1)


@runtime_checkable
class LLM(Protocol):
    """Anything that completes a prompt."""

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Return the model's reply to ``prompt``."""
        ...

    async def acomplete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Async twin of [`complete`][ctx_core.llm.base.LLM.complete]."""
        ...


@dataclass(frozen=True)
class CompletionChunk:
    """A piece of a streamed reply and the tokens it accounts for.

    Summed over a stream, ``input_tokens`` is the prompt's length in tokens (the first
    chunk carries it) and ``output_tokens`` the number of tokens generated; the joined
    ``text`` is what [`LLM.complete`][ctx_core.llm.base.LLM.complete] returns for the same call.

    Attributes:
        text: The new text (may be empty, e.g. on the closing chunk).
        input_tokens: Prompt tokens accounted for by this chunk.
        output_tokens: Generated tokens accounted for by this chunk.
        finish_reason: On the last chunk: ``"stop"`` (end of reply or a stop string)
            or ``"length"`` (``max_tokens`` reached); else ``None``.
    """

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None


@runtime_checkable
class StreamingLLM(LLM, Protocol):
    """An LLM that streams its reply as it is generated."""

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[CompletionChunk]:
        """Yield the reply to ``prompt`` as it is generated (see [`CompletionChunk`][ctx_core.llm.base.CompletionChunk])."""
        ...


@runtime_checkable
class ScoringLLM(LLM, Protocol):
    """An LLM that also exposes token probabilities."""

    def next_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """For each prompt, the log-probability that the reply starts with each of ``tokens``.

        Each string in ``tokens`` stands for the first token of its encoding.
        """
        ...

    def continuation_logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[SequenceScore]:
        """For each (prompt, continuation) pair, the log-probability of the continuation as the reply."""
        ...


def supports(llm: object, feature: str) -> bool:
    """Whether ``llm`` can score ``feature``: ``"next_token"`` or ``"continuation"``.

    A [`ScoringLLM`][ctx_core.llm.base.ScoringLLM] supports both unless it narrows them with a
    ``scoring_features`` attribute (a set of those names), as models served behind a
    chat API do (they report log-probabilities of generated tokens only).

    Examples:
        >>> supports(object(), "next_token")
        False
    """
    if feature not in ("next_token", "continuation"):
        raise ValueError(f"feature must be 'next_token' or 'continuation', got {feature!r}")
    if not isinstance(llm, ScoringLLM):
        return False
    features = getattr(llm, "scoring_features", None)
    return True if features is None else feature in features


class BaseLLM(ABC):
    """Convenience base: implement [`complete`][ctx_core.llm.base.BaseLLM.complete]; async and batch come for free.

    The async twin runs the sync call in a worker thread so an event loop is never blocked.
    """

    @abstractmethod
    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Return the model's reply to ``prompt``."""

    async def acomplete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Async twin of [`complete`][ctx_core.llm.base.BaseLLM.complete] (runs it in a thread)."""
        return await asyncio.to_thread(
            self.complete, prompt, max_tokens=max_tokens, temperature=temperature, stop=stop
        )

    def complete_batch(
        self,
        prompts: Sequence[Prompt],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> list[str]:
        """Complete several prompts (one by one unless a subclass batches them)."""
        return [
            self.complete(p, max_tokens=max_tokens, temperature=temperature, stop=stop)
            for p in prompts
        ]


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string."""
    if not stop:
        return text
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]
