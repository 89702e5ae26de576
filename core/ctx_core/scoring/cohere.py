"""Relevance from Cohere's hosted rerank API."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ctx_core._registry import Configurable
from ctx_core.errors import RemoteServiceError, require
from ctx_core.scoring.base import BaseScorer
from ctx_core.types import Passage

__all__ = ["CohereScorer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The client's own retries skip timeouts; one retry loop of ours covers every case.
_NO_CLIENT_RETRIES: Any = {"max_retries": 0}

#: Cohere recommends at most this many documents per rerank request.
MAX_DOCUMENTS_PER_REQUEST = 1000


class CohereScorer(BaseScorer, Configurable):
    """Scores passages with Cohere's ``/v2/rerank`` endpoint.

    Results come back sorted by relevance with an ``index`` into the request's
    documents; they are mapped back so scores follow the input order. Lists longer
    than ``batch_size`` are sent in several requests (scores stay comparable: the
    endpoint scores each document independently).

    Timeouts, connection errors, HTTP 429 and 5xx answers are retried up to
    ``max_retries`` times with exponential backoff; anything else, or the last
    failure, raises :class:`~ctx_core.errors.RemoteServiceError` with the cause attached.

    Args:
        model: Cohere rerank model name.
        api_key: API key (default: ``$CO_API_KEY`` or ``$COHERE_API_KEY``).
        base_url: API base URL (default: Cohere's; ``$CO_API_URL`` is honoured by the client).
        timeout: Seconds to wait for each request.
        max_retries: Retries after the first attempt.
        retry_backoff: First backoff delay in seconds (doubled each retry).
        batch_size: Documents per request (at most 1000).
        max_tokens_per_doc: Let the API truncate long documents to this many tokens.

    Examples:
        >>> scorer = CohereScorer(api_key="...")  # doctest: +SKIP
        >>> scorer.score("capital of France", ["Paris is the capital.", "Bananas."])  # doctest: +SKIP
        [0.97, 0.02]
    """

    name = "cohere"

    def __init__(
        self,
        model: str = "rerank-v3.5",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        batch_size: int = MAX_DOCUMENTS_PER_REQUEST,
        max_tokens_per_doc: int | None = None,
    ) -> None:
        require("cohere", "cohere", "CohereScorer")
        import cohere

        key = api_key or os.environ.get("CO_API_KEY") or os.environ.get("COHERE_API_KEY")
        if not key:
            raise ValueError("api_key is required: pass api_key=... or set CO_API_KEY")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if not 1 <= batch_size <= MAX_DOCUMENTS_PER_REQUEST:
            raise ValueError(
                f"batch_size must be in 1..{MAX_DOCUMENTS_PER_REQUEST}, got {batch_size}"
            )
        options: dict[str, Any] = {"api_key": key, "timeout": timeout}
        if base_url:
            options["base_url"] = base_url
        self._client = cohere.ClientV2(**options)
        self._async_client = cohere.AsyncClientV2(**options)
        self.model_name = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.batch_size = batch_size
        self.max_tokens_per_doc = max_tokens_per_doc

    def config(self) -> dict[str, Any]:
        """The model and the request settings; never the API key.

        A scorer rebuilt from its config reads the key from ``$CO_API_KEY`` or
        ``$COHERE_API_KEY`` (or takes ``api_key=`` added to the config by the caller).
        """
        return {
            "type": "CohereScorer",
            "model": self.model_name,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "retry_backoff": self.retry_backoff,
            "batch_size": self.batch_size,
            "max_tokens_per_doc": self.max_tokens_per_doc,
        }

    def _request(self, documents: Sequence[str]) -> dict[str, Any]:
        extra = (
            {}
            if self.max_tokens_per_doc is None
            else {"max_tokens_per_doc": self.max_tokens_per_doc}
        )
        return {
            "model": self.model_name,
            "documents": list(documents),
            "request_options": _NO_CLIENT_RETRIES,
            **extra,
        }

    def _score(self, query: str, passages: list[Passage]) -> list[float]:
        scores: list[float] = []
        for batch in self._batches(passages):
            request = self._request(batch)

            def call(request: dict[str, Any] = request) -> Any:
                return self._client.rerank(query=query, **request)

            scores.extend(self._scores_from(self._retrying(call), len(batch)))
        return scores

    async def _ascore(self, query: str, passages: list[Passage]) -> list[float]:
        batches = list(self._batches(passages))

        async def one(batch: list[str]) -> list[float]:
            request = self._request(batch)
            response = await self._aretrying(
                lambda: self._async_client.rerank(query=query, **request)
            )
            return self._scores_from(response, len(batch))

        results = await asyncio.gather(*(one(b) for b in batches))
        return [s for part in results for s in part]

    def _batches(self, passages: list[Passage]) -> list[list[str]]:
        texts = [p.text for p in passages]
        return [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]

    @staticmethod
    def _scores_from(response: Any, expected: int) -> list[float]:
        scores: list[float | None] = [None] * expected
        for result in getattr(response, "results", None) or []:
            index = result.index
            if not 0 <= index < expected:
                raise RemoteServiceError(
                    f"rerank API returned index {index} for {expected} documents"
                )
            scores[index] = float(result.relevance_score)
        missing = [i for i, s in enumerate(scores) if s is None]
        if missing:
            raise RemoteServiceError(
                f"rerank API returned no score for {len(missing)} of {expected} documents (first: {missing[:5]})"
            )
        return [s for s in scores if s is not None]

    def _retrying(self, call: Callable[[], T]) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return call()
            except Exception as err:
                self._give_up_unless_retryable(err, attempt)
                time.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def _aretrying(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return await call()
            except Exception as err:
                self._give_up_unless_retryable(err, attempt)
                await asyncio.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _give_up_unless_retryable(self, err: Exception, attempt: int) -> None:
        import httpx
        from cohere.core.api_error import ApiError

        status = getattr(err, "status_code", None) if isinstance(err, ApiError) else None
        retryable = isinstance(err, (httpx.TimeoutException, httpx.TransportError)) or (
            status is not None and (status == 429 or status >= 500)
        )
        attempts = attempt + 1
        if retryable and attempt < self.max_retries:
            logger.warning("Cohere rerank attempt %d failed (%s); retrying", attempts, err)
            return
        if isinstance(err, httpx.TimeoutException):
            message = f"Cohere rerank timed out after {self.timeout}s ({attempts} attempt(s))"
        elif status is not None:
            body = getattr(err, "body", None)
            message = f"Cohere rerank failed with HTTP {status} after {attempts} attempt(s): {body}"
        else:
            message = f"Cohere rerank failed after {attempts} attempt(s): {err}"
        raise RemoteServiceError(message, status_code=status, attempts=attempts) from err
