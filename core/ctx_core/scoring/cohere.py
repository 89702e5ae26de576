"""Relevance from Cohere's hosted rerank API."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ctx_core._registry import Configurable
from ctx_core._retry import aretry_call, retry_after, retry_call
from ctx_core.errors import RemoteServiceError, ScoreError, require
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
    ``max_retries`` times with exponential backoff, or after the wait the server asks
    for in ``Retry-After`` (seconds or an HTTP date) when it sends one; anything else,
    or the last failure, raises [`RemoteServiceError`][ctx_core.errors.RemoteServiceError] with the
    cause attached. ``deadline`` bounds a whole call across its retries (no attempt
    starts, and no wait is begun, that would end after it). An answer with a NaN or
    infinite score raises [`ScoreError`][ctx_core.errors.ScoreError], one naming a document
    twice (or not at all) [`RemoteServiceError`][ctx_core.errors.RemoteServiceError]; neither is retried.

    Args:
        model: Cohere rerank model name.
        api_key: API key (default: ``$CO_API_KEY`` or ``$COHERE_API_KEY``).
        base_url: API base URL (default: ``$CO_API_URL`` as set when the scorer is built,
            else Cohere's).
        timeout: Seconds to wait for each request.
        max_retries: Retries after the first attempt.
        retry_backoff: First backoff delay in seconds (doubled each retry).
        batch_size: Documents per request (at most 1000).
        max_tokens_per_doc: Let the API truncate long documents to this many tokens.
        deadline: Seconds one ``score``/``ascore`` call may take in all, retries and
            waits included (``None``: only ``timeout`` and ``max_retries`` bound it).
        max_concurrency: Most requests in flight at once for one ``ascore`` call that
            spans several batches.

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
        deadline: float | None = None,
        max_concurrency: int = 4,
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
        if deadline is not None and (
            isinstance(deadline, bool)
            or not isinstance(deadline, (int, float))
            or not 0 < deadline < math.inf
        ):
            raise ValueError(
                f"deadline must be a finite number of seconds > 0 or None, got {deadline!r}"
            )
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        options: dict[str, Any] = {"api_key": key, "timeout": timeout}
        # The SDK reads $CO_API_URL once, when it is imported; read it now so setting it
        # any time before the scorer is built works. It is not written into config().
        url = base_url or os.environ.get("CO_API_URL")
        if url:
            options["base_url"] = url
        self._client = cohere.ClientV2(**options)
        self._async_client = cohere.AsyncClientV2(**options)
        self.model_name = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.batch_size = batch_size
        self.max_tokens_per_doc = max_tokens_per_doc
        self.deadline = deadline
        self.max_concurrency = max_concurrency

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
            "deadline": self.deadline,
            "max_concurrency": self.max_concurrency,
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

    def _ends_at(self) -> float:
        return math.inf if self.deadline is None else time.monotonic() + self.deadline

    def _request_options(self, ends_at: float) -> dict[str, Any]:
        # Each attempt's timeout shrinks so the attempt cannot outlive the deadline.
        left = ends_at - time.monotonic()
        if left < self.timeout:
            return {**_NO_CLIENT_RETRIES, "timeout_in_seconds": max(left, 0.001)}
        return _NO_CLIENT_RETRIES

    def _score(self, query: str, passages: list[Passage]) -> list[float]:
        ends_at = self._ends_at()
        scores: list[float] = []
        for batch in self._batches(passages):
            request = self._request(batch)

            def call(request: dict[str, Any] = request) -> Any:
                options = self._request_options(ends_at)
                return self._client.rerank(query=query, **{**request, "request_options": options})

            scores.extend(self._scores_from(self._retrying(call, ends_at), len(batch)))
        return scores

    async def _ascore(self, query: str, passages: list[Passage]) -> list[float]:
        ends_at = self._ends_at()
        batches = list(self._batches(passages))
        # Created here: a semaphore belongs to the running event loop.
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(batch: list[str]) -> list[float]:
            request = self._request(batch)

            async def call() -> Any:
                async with gate:
                    options = self._request_options(ends_at)
                    return await self._async_client.rerank(
                        query=query, **{**request, "request_options": options}
                    )

            response = await self._aretrying(call, ends_at)
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
            if scores[index] is not None:
                raise RemoteServiceError(
                    f"rerank API returned index {index} twice for {expected} documents"
                )
            score = float(result.relevance_score)
            if not math.isfinite(score):
                raise ScoreError(
                    f"Cohere rerank API returned a non-finite score {score!r} for document {index}"
                )
            scores[index] = score
        missing = [i for i, s in enumerate(scores) if s is None]
        if missing:
            raise RemoteServiceError(
                f"rerank API returned no score for {len(missing)} of {expected} documents (first: {missing[:5]})"
            )
        return [s for s in scores if s is not None]

    def _retrying(self, call: Callable[[], T], ends_at: float) -> T:
        return retry_call(
            call,
            lambda err, attempt: self._wait_or_give_up(err, attempt, ends_at),
            self.max_retries,
        )

    async def _aretrying(self, call: Callable[[], Awaitable[T]], ends_at: float) -> T:
        return await aretry_call(
            call,
            lambda err, attempt: self._wait_or_give_up(err, attempt, ends_at),
            self.max_retries,
        )

    def _wait_or_give_up(self, err: Exception, attempt: int, ends_at: float) -> float:
        """Seconds to wait before the next attempt, or raise if there is none to make."""
        import httpx
        from cohere.core.api_error import ApiError

        status = getattr(err, "status_code", None) if isinstance(err, ApiError) else None
        retryable = isinstance(err, (httpx.TimeoutException, httpx.TransportError)) or (
            status is not None and (status == 429 or status >= 500)
        )
        attempts = attempt + 1
        wait = self.retry_backoff * 2**attempt
        asked = retry_after(getattr(err, "headers", None)) if status is not None else None
        if asked is not None:
            wait = asked
        if retryable and attempt < self.max_retries:
            if time.monotonic() + wait >= ends_at:
                raise RemoteServiceError(
                    f"Cohere rerank gave up: the deadline of {self.deadline}s would pass before "
                    f"the next attempt (wait {wait:g}s after attempt {attempts}: {err})",
                    status_code=status,
                    attempts=attempts,
                ) from err
            logger.warning(
                "Cohere rerank attempt %d failed (%s); retrying in %.2fs",
                attempts,
                status if status is not None else type(err).__name__,
                wait,
            )
            return wait
        if retryable and time.monotonic() >= ends_at:
            raise RemoteServiceError(
                f"Cohere rerank exceeded its deadline of {self.deadline}s ({attempts} attempt(s))",
                status_code=status,
                attempts=attempts,
            ) from err
        if isinstance(err, httpx.TimeoutException):
            message = f"Cohere rerank timed out after {self.timeout}s ({attempts} attempt(s))"
        elif status is not None:
            body = getattr(err, "body", None)
            message = f"Cohere rerank failed with HTTP {status} after {attempts} attempt(s): {body}"
        else:
            message = f"Cohere rerank failed after {attempts} attempt(s): {err}"
        raise RemoteServiceError(message, status_code=status, attempts=attempts) from err
