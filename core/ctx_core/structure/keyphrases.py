"""Names for groups of sentences from key phrases chosen by a sentence embedder (KeyBERT-style).

The statistical key phrases of [`ctx_core.structure.keywords`][ctx_core.structure.keywords]
count words: a group about one evening gets "17th, night, 16th, September". Here the same
candidates (runs of one to three content words, the best ``candidates`` of each group by
class-based TF-IDF) are embedded with the sentence embedder the caller already loaded
(all-MiniLM-L6-v2 by default), and a phrase is chosen for what it *means*, as KeyBERT does:

* relevance: cosine similarity between the phrase and its group's text, minus
  ``distinctiveness`` times its best similarity to another group's text (a name should say
  what sets the group apart), plus ``frequency_weight`` times its TF-IDF weight relative to
  the group's best (a phrase the text keeps using is a better name than a one-off);
* candidates with a lower-case ``-ed`` word (``sailed``) are left out: without a
  part-of-speech tagger, past tenses are the verbs that are cheap to tell apart;
* diversity: a second phrase is chosen by maximal marginal relevance (its relevance minus
  its similarity to the first phrase), shares no word with the first, and is kept only
  when its relevance is at least ``second_ratio`` of the first's.

Without a part-of-speech tagger a phrase can still end in a verb (``covers`` below).

Examples:
    >>> from ctx_core.structure.keyphrases import KeyphraseNamer
    >>> namer = KeyphraseNamer()
    >>> namer.names([["The Amazon rainforest covers much of the Amazon basin.",
    ...               "The forest holds the largest number of tree species on Earth."],
    ...              ["Jazz originated in New Orleans.",
    ...               "Famous jazz musicians include Louis Armstrong and Duke Ellington."]])
    ['Amazon rainforest covers', 'Famous jazz musicians']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ctx_core.structure.keywords import Phrase, join_phrases, weighted_phrases

__all__ = ["KeyphraseNamer"]


class KeyphraseNamer:
    """Names groups of sentences with embedding-ranked key phrases.

    Args:
        embedder: Anything with ``embed(texts) -> array`` (an
            [`Embedder`][ctx_core.embeddings.Embedder]), or a model id or path; default the
            packaged all-MiniLM-L6-v2, loaded on first use.
        candidates: Candidate phrases per group (the best by class-based TF-IDF).
        max_phrases: Phrases joined into one name (1 or 2).
        distinctiveness: Weight of a phrase's similarity to the other groups, subtracted.
        diversity: MMR trade-off for the second phrase (0: relevance only, 1: novelty only).
        second_ratio: A second phrase is kept only when its relevance is at least this
            share of the first's.
        frequency_weight: Weight of the phrase's relative TF-IDF weight in its relevance.
    """

    def __init__(
        self,
        embedder: Any | None = None,
        *,
        candidates: int = 20,
        max_phrases: int = 2,
        distinctiveness: float = 0.5,
        diversity: float = 0.5,
        second_ratio: float = 0.85,
        frequency_weight: float = 0.2,
    ) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {candidates}")
        if max_phrases not in (1, 2):
            raise ValueError(f"max_phrases must be 1 or 2, got {max_phrases}")
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity must be in [0, 1], got {diversity}")
        self._embedder = embedder
        self.candidates = candidates
        self.max_phrases = max_phrases
        self.distinctiveness = distinctiveness
        self.diversity = diversity
        self.second_ratio = second_ratio
        self.frequency_weight = frequency_weight

    @property
    def embedder(self) -> Any:
        """The sentence embedder (loaded on first use)."""
        if self._embedder is None or isinstance(self._embedder, str):
            from ctx_core.embeddings import Embedder

            self._embedder = Embedder(self._embedder)
        return self._embedder

    def phrases(
        self,
        groups: Sequence[Sequence[str]],
        *,
        exclude: Sequence[Phrase] = (),
        group_vectors: np.ndarray | None = None,
    ) -> list[list[str]]:
        """Up to ``max_phrases`` key phrases per group, best first.

        Args:
            groups: One list of sentences per group.
            exclude: Phrases (lower-case word tuples) whose words are never used.
            group_vectors: The groups' own embeddings (one row per group), when the caller
                has them; otherwise each group's joined text is embedded.
        """
        weighted = weighted_phrases(groups, exclude=exclude)
        pools = [
            [c for c in pool if not any(_past_tense(w, c[2]) for w in c[1])][: self.candidates]
            for pool in weighted
        ]
        texts = sorted({spelling for pool in pools for _, _, spelling in pool})
        if not texts:
            return [[] for _ in groups]
        if group_vectors is None:
            group_vectors = self._embed([" ".join(group) for group in groups])
        else:
            group_vectors = _normalized(np.asarray(group_vectors, dtype=np.float32))
        phrase_vectors = self._embed(texts)
        row = {text: i for i, text in enumerate(texts)}
        result: list[list[str]] = []
        for g, pool in enumerate(pools):
            if not pool:
                result.append([])
                continue
            vectors = phrase_vectors[[row[spelling] for _, _, spelling in pool]]
            similarity = vectors @ group_vectors.T  # (candidates, groups)
            relevance = similarity[:, g].copy()
            weights = np.asarray([w for w, _, _ in pool], dtype=np.float32)
            relevance += self.frequency_weight * weights / max(float(weights.max()), 1e-12)
            if len(groups) > 1:
                others = np.delete(similarity, g, axis=1).max(axis=1)
                relevance -= self.distinctiveness * others
            first = int(np.argmax(relevance))
            chosen = [first]
            if self.max_phrases == 2 and len(pool) > 1:
                novelty = vectors @ vectors[first]
                mmr = (1.0 - self.diversity) * relevance - self.diversity * novelty
                words = set(pool[first][1])
                order = np.argsort(-mmr, kind="stable")
                for j in order.tolist():
                    if j == first or words & set(pool[j][1]):
                        continue
                    if relevance[j] >= self.second_ratio * relevance[first] > 0:
                        chosen.append(j)
                    break
            result.append([pool[j][2] for j in chosen])
        return result

    def names(
        self,
        groups: Sequence[Sequence[str]],
        *,
        exclude: Sequence[Phrase] = (),
        group_vectors: np.ndarray | None = None,
        fallback: str = "Overview",
    ) -> list[str]:
        """One name per group: its key phrases joined (``"A"`` or ``"A and B"``)."""
        return [
            join_phrases(found, fallback=fallback)
            for found in self.phrases(groups, exclude=exclude, group_vectors=group_vectors)
        ]

    def _embed(self, texts: list[str]) -> np.ndarray:
        return _normalized(np.asarray(self.embedder.embed(texts), dtype=np.float32))


# Nouns ending in -ed that the past-tense rule below must not drop.
_ED_NOUNS = frozenset(
    ["hundred", "kindred", "sacred", "naked", "wicked", "bed", "red", "shed", "sled"]
)


def _past_tense(word: str, spelling: str) -> bool:
    """A lower-case ``-ed`` word (``sailed``, ``originated``): a verb, not a name for a topic.

    Without a part-of-speech tagger this is the one verb form that is cheap to tell apart;
    capitalized words (names) and ``-eed`` words (``speed``) are kept.
    """
    if not word.endswith("ed") or word.endswith("eed") or len(word) < 5 or word in _ED_NOUNS:
        return False
    return word in spelling  # written in lower case somewhere in the phrase's spelling


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
