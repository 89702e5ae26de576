"""Next-token log-probabilities from the top-k lists that served models return.

A served model reports, for each generated token, its ``k`` likeliest candidates with
their log-probabilities (OpenAI's ``logprobs.content[i].top_logprobs``, LangChain's
``response_metadata["logprobs"]``, LlamaIndex's ``ChatResponse.logprobs``). A requested
token is looked up by spelling; one outside the list gets an upper bound: the smaller
of the lowest listed log-probability and the log of the mass the list leaves over.

Examples:
    >>> listed = [("Paris", -0.5), ("The", -2.5), ("P", -4.0)]
    >>> [round(x, 2) for x in logprobs_from_top(listed, ["Paris is", "London"])]
    [-0.5, -4.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ctx_core.errors import MalformedResponseError, NotSupportedError

__all__ = ["logprobs_from_top", "top_logprobs_of_first_token"]

#: The floor of a bound when the list covers (numerically) all of the probability mass.
_FLOOR = math.log(1e-12)


def logprobs_from_top(
    listed: Sequence[tuple[str, float]],
    tokens: Sequence[str],
    spellings: Sequence[str | None] | None = None,
) -> list[float]:
    """The log-probability of each of ``tokens`` (its first token) from a top-k list.

    Args:
        listed: ``(token text, log-probability)`` pairs of the first generated token.
        tokens: The strings asked about; each stands for the first token of its encoding.
        spellings: The text of each string's first token, when a tokenizer told it
            (``None`` entries, or no list: the longest listed token that starts the string).

    Returns:
        One value per token: exact when the token is listed, else an upper bound.
    """
    if not listed:
        raise ValueError("listed must hold at least one (token, logprob) pair")
    ordered = sorted(listed, key=lambda item: -item[1])
    left = 1.0 - sum(math.exp(lp) for _, lp in ordered)
    bound = min(ordered[-1][1], math.log(left) if left > 1e-12 else _FLOOR)
    spelled = list(spellings) if spellings is not None else [None] * len(tokens)
    if len(spelled) != len(tokens):
        raise ValueError("spellings must have one entry per token")
    row = []
    for token, spelling in zip(tokens, spelled, strict=True):
        found = _match(ordered, token, spelling)
        row.append(bound if found is None else found)
    return row


def top_logprobs_of_first_token(payload: Any, source: str) -> list[tuple[str, float]]:
    """``(token, logprob)`` pairs listed for the first generated token of an OpenAI-style answer.

    Args:
        payload: The ``logprobs`` object of a chat completion choice: a mapping with
            ``content`` (a list of ``{token, logprob, top_logprobs}``), or that list.
        source: Names where the payload came from, for the error messages.

    Raises:
        NotSupportedError: there are no log-probabilities in ``payload``.
        MalformedResponseError: an entry is not ``{token, logprob}``.
    """
    content = payload.get("content") if isinstance(payload, Mapping) else payload
    if not content:
        raise NotSupportedError(
            f"{source} carries no log-probabilities",
            feature="logprobs",
        )
    first = content[0]
    try:
        entries = _field(first, "top_logprobs", None) or [first]
    except TypeError as err:
        raise MalformedResponseError(f"{source} has an unreadable log-probability entry") from err
    listed = []
    for entry in entries:
        try:
            listed.append((str(_field(entry, "token")), float(_field(entry, "logprob"))))
        except (KeyError, TypeError, ValueError) as err:
            raise MalformedResponseError(
                f"{source} has an unreadable log-probability entry: {entry!r}"
            ) from err
    return listed


_REQUIRED = object()


def _field(entry: Any, name: str, default: Any = _REQUIRED) -> Any:
    if isinstance(entry, Mapping):
        return entry[name] if default is _REQUIRED else entry.get(name, default)
    if default is _REQUIRED:
        try:
            return getattr(entry, name)
        except AttributeError as err:
            raise KeyError(name) from err
    return getattr(entry, name, default)


def _match(listed: Sequence[tuple[str, float]], token: str, spelling: str | None) -> float | None:
    """The log-probability of ``token``'s first token among ``listed`` (best first), if there."""
    if spelling is not None:
        return next((lp for text, lp in listed if text == spelling), None)
    # By text: the longest listed token that starts ``token`` (ties: the likelier one).
    best: tuple[int, float] | None = None
    for text, lp in listed:
        if text and token.startswith(text) and (best is None or len(text) > best[0]):
            best = (len(text), lp)
    return None if best is None else best[1]
