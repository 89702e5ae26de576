"""Lexical relevance: Okapi BM25 over the candidate list itself."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ctx_core._registry import Configurable
from ctx_core.scoring.base import BaseScorer
from ctx_core.types import Passage

__all__ = ["ENGLISH_STOPWORDS", "BM25Scorer", "word_tokens"]

_WORD = re.compile(r"\w+", re.UNICODE)

#: Query words BM25 ignores by default: in a short candidate list they would still get weight.
ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
    ]
)


def word_tokens(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore), the unit BM25 counts.

    Examples:
        >>> word_tokens("Who wrote Hamlet, in 1600?")
        ['who', 'wrote', 'hamlet', 'in', '1600']
    """
    return _WORD.findall(text.lower())


class BM25Scorer(BaseScorer, Configurable):
    """Okapi BM25 of the query against each candidate, no model needed.

    Document frequencies come from the candidate list being scored (a reranker
    rarely has the whole collection), so a word that appears in every candidate
    carries almost no weight. Scores are comparable within one list, not across lists.

    Args:
        k1: Term-frequency saturation.
        b: Length normalization.
        stopwords: Query words to ignore (default: common English function words).

    Examples:
        >>> scorer = BM25Scorer()
        >>> a, b = scorer.score("hamlet author", ["Hamlet's author is Shakespeare.", "Rome is old."])
        >>> a > b == 0.0
        True
    """

    name = "bm25"

    def __init__(
        self, k1: float = 0.9, b: float = 0.4, stopwords: Iterable[str] = ENGLISH_STOPWORDS
    ) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1 = k1
        self.b = b
        self.stopwords = frozenset(stopwords)
        self.model_name = f"bm25(k1={k1},b={b})"

    def config(self) -> dict[str, Any]:
        """``k1``, ``b`` and the stopwords when they are not the default list."""
        config: dict[str, Any] = {"type": "BM25Scorer", "k1": self.k1, "b": self.b}
        if self.stopwords != ENGLISH_STOPWORDS:
            config["stopwords"] = sorted(self.stopwords)
        return config

    def _score(self, query: str, passages: list[Passage]) -> list[float]:
        docs = [word_tokens(p.text) for p in passages]
        n = len(docs)
        average = sum(len(d) for d in docs) / n or 1.0
        frequency = Counter(w for d in docs for w in set(d))
        terms = set(word_tokens(query)) - self.stopwords
        scores = []
        for doc in docs:
            counts = Counter(doc)
            total = 0.0
            for w in terms:
                tf = counts.get(w, 0)
                if tf:
                    idf = math.log(1 + (n - frequency[w] + 0.5) / (frequency[w] + 0.5))
                    norm = tf + self.k1 * (1 - self.b + self.b * len(doc) / average)
                    total += idf * tf * (self.k1 + 1) / norm
            scores.append(total)
        return scores
