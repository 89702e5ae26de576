"""The heuristic structurizer: no LLM, the offline default.

Two ways to find aspects, tried in order:

1. **Markers.** When the text has at least two headings (Markdown ``#`` lines or
   short title lines of their own) or list items (``-``, ``*``, ``1.``, ``2)``,
   ``(a)``...), they define the tree: each heading or item opens an aspect named
   after it, deeper headings and indented items nest, text follows the aspect it
   sits under. A single heading above everything becomes the scope.
2. **Topics.** Otherwise sentences are embedded (the packaged all-MiniLM-L6-v2 by
   default) and cut where the similarity between the sentences before and after
   a gap is lowest (paragraph breaks count a little extra), into aspects of about
   ``sentences_per_aspect`` sentences, never fewer than ``min_aspect_sentences``. A gap
   whose similarity is below ``boundary_similarity`` is a topic change and is cut even
   when the size target asks for fewer aspects (two unrelated topics in four sentences
   become two aspects).

Aspects found from topics are named from key phrases chosen with the same embedder
([`KeyphraseNamer`][ctx_core.structure.keyphrases.KeyphraseNamer], KeyBERT-style), the
scope from the key phrases of the whole text; ``naming="keywords"`` uses the statistical
phrases of [`ctx_core.structure.keywords`][ctx_core.structure.keywords] instead (and
texts too short to embed always do).

Examples:
    >>> from ctx_core.structure import HeuristicStructurizer
    >>> s = HeuristicStructurizer().structurize(
    ...     "Rice seedlings need care:\\n1. Choose clean seeds. Drop damaged ones.\\n"
    ...     "2. Disinfect the seeds. Soak them for two days.")
    >>> [a.name for a in s.aspects]
    ['Rice seedlings need care', 'Choose clean seeds', 'Disinfect the seeds']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from ctx_core._registry import Configurable, config_value
from ctx_core.progress import progress
from ctx_core.structure.base import BaseStructurizer, validate_text
from ctx_core.structure.keyphrases import KeyphraseNamer
from ctx_core.structure.keywords import join_phrases, key_phrases, phrases
from ctx_core.structure.sentences import HEADING, LIST_ITEM, Sentence, heading_text
from ctx_core.structure.tree import Aspect, Structure

__all__ = ["HeuristicStructurizer"]

logger = logging.getLogger(__name__)

_EMPHASIS = re.compile(r"[*_`]+")
_NAME_CUT = re.compile(r"\s*[:\u2014\u2013]\s+|\s+-\s+")
_INTRO_LEVEL = 1000


@dataclass
class _Node:
    level: int
    name: str | None = None
    sentences: list[int] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)
    heading: bool = False
    title: bool = False


class HeuristicStructurizer(BaseStructurizer, Configurable):
    """Structure text from its headings and enumerations, or by topic segmentation.

    Args:
        embedder: An [`Embedder`][ctx_core.embeddings.Embedder] (or anything with
            ``embed(texts) -> array``), or a model id or path, for topic segmentation.
            Default: the packaged all-MiniLM-L6-v2. A model named by id is loaded on
            first use (texts with markers or very few sentences never load it).
        sentences_per_aspect: Target aspect size for topic segmentation.
        min_aspect_sentences: Smallest aspect topic segmentation may make.
        max_aspects: Most aspects topic segmentation may make.
        use_markers: Use headings and enumerations when the text has them.
        window: Sentences on each side of a gap compared for topic segmentation.
        paragraph_bonus: Added to a gap's dissimilarity when it is a paragraph break.
        scope_phrases: Key phrases joined into a generated scope.
        boundary_similarity: A gap whose similarity (cosine of the mean sentence
            embeddings on each side) is below this is always cut, within
            ``min_aspect_sentences`` and ``max_aspects``; ``None`` cuts by size only.
        naming: ``"keyphrases"`` (embedding-ranked phrases, KeyBERT-style) or
            ``"keywords"`` (class-based TF-IDF phrases) for topic aspects and the scope.
    """

    name = "heuristic"

    def __init__(
        self,
        embedder: Any | None = None,
        *,
        sentences_per_aspect: int = 4,
        min_aspect_sentences: int = 2,
        max_aspects: int = 8,
        use_markers: bool = True,
        window: int = 2,
        paragraph_bonus: float = 0.15,
        scope_phrases: int = 2,
        boundary_similarity: float | None = 0.15,
        naming: Literal["keyphrases", "keywords"] = "keyphrases",
    ) -> None:
        if sentences_per_aspect < 1:
            raise ValueError(f"sentences_per_aspect must be >= 1, got {sentences_per_aspect}")
        if min_aspect_sentences < 1:
            raise ValueError(f"min_aspect_sentences must be >= 1, got {min_aspect_sentences}")
        if max_aspects < 1:
            raise ValueError(f"max_aspects must be >= 1, got {max_aspects}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if scope_phrases < 1:
            raise ValueError(f"scope_phrases must be >= 1, got {scope_phrases}")
        if boundary_similarity is not None and not -1.0 <= boundary_similarity <= 1.0:
            raise ValueError(f"boundary_similarity must be in [-1, 1], got {boundary_similarity}")
        if naming not in ("keyphrases", "keywords"):
            raise ValueError(f"naming must be 'keyphrases' or 'keywords', got {naming!r}")
        self._embedder = embedder
        self.sentences_per_aspect = sentences_per_aspect
        self.min_aspect_sentences = min_aspect_sentences
        self.max_aspects = max_aspects
        self.use_markers = use_markers
        self.window = window
        self.paragraph_bonus = paragraph_bonus
        self.scope_phrases = scope_phrases
        self.boundary_similarity = boundary_similarity
        self.naming = naming

    def __repr__(self) -> str:
        return (
            f"HeuristicStructurizer(sentences_per_aspect={self.sentences_per_aspect}, "
            f"max_aspects={self.max_aspects}, use_markers={self.use_markers})"
        )

    @property
    def embedder(self) -> Any:
        """The sentence embedder (loaded on first use)."""
        if self._embedder is None or isinstance(self._embedder, str):
            from ctx_core.embeddings import Embedder

            self._embedder = Embedder(self._embedder)
        return self._embedder

    def config(self) -> dict[str, Any]:
        """The embedder (by model name, without loading it) and the settings.

        Raises:
            ConfigError: the embedder is an object that is neither an
                [`Embedder`][ctx_core.embeddings.Embedder] nor a component with a config.
        """
        from ctx_core.embeddings import Embedder, embedder_config

        embedder = self._embedder
        return {
            "type": "HeuristicStructurizer",
            "embedder": embedder_config(embedder)
            if embedder is None or isinstance(embedder, (str, Embedder))
            else config_value(embedder, "embedder"),
            "sentences_per_aspect": self.sentences_per_aspect,
            "min_aspect_sentences": self.min_aspect_sentences,
            "max_aspects": self.max_aspects,
            "use_markers": self.use_markers,
            "window": self.window,
            "paragraph_bonus": self.paragraph_bonus,
            "scope_phrases": self.scope_phrases,
            "boundary_similarity": self.boundary_similarity,
            "naming": self.naming,
        }

    # -- public API ----------------------------------------------------------

    def structurize_sentences(self, source: str, sentences: Sequence[Sentence]) -> Structure:
        """Structure ``sentences`` of ``source`` (see the module docs)."""
        sentences = list(sentences)
        if not sentences:
            raise ValueError("sentences must not be empty")
        if self._has_markers(sentences):
            return self._from_markers(source, sentences)
        embeddings = (
            self._embed([s.text for s in sentences]) if self._needs_embedding(sentences) else None
        )
        return self._from_topics(source, sentences, embeddings)

    def structurize_many(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[Structure]:
        """Structure several texts, embedding all their sentences in one batch."""
        split = [validate_text(text, f"texts[{i}]") for i, text in enumerate(texts)]
        needs = [
            not self._has_markers(sentences) and self._needs_embedding(sentences)
            for sentences in split
        ]
        flat = [
            s.text for sentences, need in zip(split, needs, strict=True) if need for s in sentences
        ]
        vectors = self._embed(flat) if flat else None
        results = []
        position = 0
        for text, sentences, need in progress(
            list(zip(texts, split, needs, strict=True)),
            desc="structurizing",
            show=show_progress,
            unit="text",
        ):
            if not need:
                results.append(self.structurize_sentences(text, sentences))
                continue
            assert vectors is not None
            embeddings = vectors[position : position + len(sentences)]
            position += len(sentences)
            results.append(self._from_topics(text, sentences, embeddings))
        return results

    # -- markers -------------------------------------------------------------

    def _has_markers(self, sentences: Sequence[Sentence]) -> bool:
        if not self.use_markers:
            return False
        return sum(s.kind in ("heading", "item") for s in sentences) >= 2

    def _from_markers(self, source: str, sentences: list[Sentence]) -> Structure:
        root = _Node(level=0)
        stack = [root]
        previous_block = -1
        for i, sentence in enumerate(sentences):
            new_block = sentence.block != previous_block
            previous_block = sentence.block
            if sentence.kind in ("heading", "item") and new_block:
                level = sentence.level if sentence.kind == "heading" else 10 + sentence.level
                while stack[-1].level >= level:
                    stack.pop()
                node = _Node(
                    level=level,
                    name=_marker_name(sentence.text),
                    heading=True,
                    title=sentence.kind == "heading",
                )
                stack[-1].children.append(node)
                stack.append(node)
                node.sentences.append(i)
                continue
            if new_block and stack[-1].level >= 10 and stack[-1] is not root:
                # A paragraph after a list, no deeper than the list, closes it.
                column = sentence.start - (source.rfind("\n", 0, sentence.start) + 1)
                while (
                    stack[-1].level >= 10
                    and stack[-1].level != _INTRO_LEVEL
                    and column <= stack[-1].level - 10
                ):
                    stack.pop()
            top = stack[-1]
            if top is root or top.children:
                # Text may not follow a node's children inside it: it opens a new aspect.
                level = top.children[-1].level if top.children else _INTRO_LEVEL
                if top is root and not top.children:
                    level = _INTRO_LEVEL
                node = _Node(level=level)
                top.children.append(node)
                stack.append(node)
                top = node
            top.sentences.append(i)
        scope: str | None = None
        texts = [s.text for s in sentences]
        nodes = root.children
        if len(nodes) == 1 and nodes[0].heading and nodes[0].children:
            only = nodes[0]
            scope = only.name
            lead = _Node(
                level=only.level, name=only.name, sentences=only.sentences, title=only.title
            )
            nodes = [lead, *only.children] if only.sentences else only.children
        texts = [s.text for s in sentences]
        for node in _iter_nodes(nodes):
            if not node.name and node.sentences:
                node.name = _lead_in_name(texts[node.sentences[0]])
        unnamed = [node for node in _iter_nodes(nodes) if not node.name]
        if unnamed:
            groups = [[texts[i] for i in _node_sentences(node)] for node in unnamed]
            for node, found in zip(unnamed, key_phrases(groups, top=2), strict=True):
                node.name = join_phrases(found)
        if not scope:
            scope = self._scope(texts)
        aspects = tuple(_to_aspect(node) for node in nodes)
        structure = Structure(
            scope=scope,
            aspects=aspects,
            sentences=tuple(sentences),
            source=source,
            metadata={"structurizer": self.name, "method": "markers"},
        )
        structure.validate()
        return structure

    # -- topics --------------------------------------------------------------

    def _target_aspects(self, n: int) -> int:
        if n < 2 * self.min_aspect_sentences:
            return 1
        k = round(n / self.sentences_per_aspect)
        return max(1, min(k, self.max_aspects, n // self.min_aspect_sentences))

    def _needs_embedding(self, sentences: Sequence[Sentence]) -> bool:
        if self.boundary_similarity is not None and self.max_aspects > 1:
            return len(sentences) >= 2 * self.min_aspect_sentences  # a topic change may cut
        return self._target_aspects(len(sentences)) > 1

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def _boundaries(self, sentences: Sequence[Sentence], embeddings: np.ndarray) -> list[int]:
        """Sentence indices where a new aspect starts (the first aspect starts at 0)."""
        n = len(sentences)
        k = self._target_aspects(n)
        if n < 2 * self.min_aspect_sentences or (k == 1 and self.boundary_similarity is None):
            return [0]
        w = self.window
        scores = []
        for gap in range(n - 1):  # the gap between sentence gap and gap + 1
            left = embeddings[max(0, gap - w + 1) : gap + 1].mean(axis=0)
            right = embeddings[gap + 1 : gap + 1 + w].mean(axis=0)
            similarity = float(
                left @ right / max(np.linalg.norm(left) * np.linalg.norm(right), 1e-12)
            )
            bonus = (
                self.paragraph_bonus if sentences[gap].block != sentences[gap + 1].block else 0.0
            )
            scores.append((1.0 - similarity + bonus, -gap, similarity))
        cuts: list[int] = []
        size = self.min_aspect_sentences
        limit = self.boundary_similarity
        for _, negative_gap, similarity in sorted(scores, reverse=True):
            start = -negative_gap + 1
            wanted = len(cuts) < k - 1 or (limit is not None and similarity < limit)
            if not wanted or len(cuts) + 1 >= self.max_aspects:
                break  # gaps come most dissimilar first: no later gap is wanted either
            edges = sorted([0, *cuts, start, n])
            if all(b - a >= size for a, b in pairwise(edges)):
                cuts.append(start)
        return sorted([0, *cuts])

    def _from_topics(
        self, source: str, sentences: list[Sentence], embeddings: np.ndarray | None
    ) -> Structure:
        n = len(sentences)
        starts = [0] if embeddings is None else self._boundaries(sentences, embeddings)
        spans = [(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]
        texts = [s.text for s in sentences]
        groups = [texts[a:b] for a, b in spans]
        if self.naming == "keyphrases" and embeddings is not None:
            namer = KeyphraseNamer(self.embedder, max_phrases=min(2, self.scope_phrases))
            whole = embeddings.mean(axis=0, keepdims=True)
            scope_terms = namer.phrases([[*texts, texts[0]]], group_vectors=whole)[0]
            exclude = [tuple(t.lower().split()) for t in scope_terms] if len(spans) == 1 else []
            # each aspect's joined text is embedded as one (as KeyBERT embeds its document)
            names = KeyphraseNamer(self.embedder).phrases(groups, exclude=exclude)
        else:
            scope_terms = _scope_terms(texts, self.scope_phrases)
            exclude = [tuple(t.lower().split()) for t in scope_terms] if len(spans) == 1 else []
            names = key_phrases(groups, top=2, exclude=exclude)
        scope = join_phrases(scope_terms, fallback=_short(texts[0]))
        if sentences[0].kind == "heading":  # a title line on top names the whole
            scope = heading_text(sentences[0].text)
        aspects = tuple(
            Aspect(join_phrases(found, fallback=scope), tuple(range(a, b)))
            for (a, b), found in zip(spans, names, strict=True)
        )
        structure = Structure(
            scope=scope,
            aspects=aspects,
            sentences=tuple(sentences),
            source=source,
            metadata={
                "structurizer": self.name,
                "method": "topics" if len(spans) > 1 else "single",
            },
        )
        structure.validate()
        return structure

    def _scope(self, texts: list[str]) -> str:
        return keyword_scope(texts, self.scope_phrases)


def _scope_terms(texts: Sequence[str], top: int) -> list[str]:
    # The first sentence (often a title or topic sentence) counts twice.
    return key_phrases([[*texts, texts[0]]], top=top)[0] if texts else []


def keyword_scope(texts: Sequence[str], phrases_per_scope: int = 2) -> str:
    """A scope from the key phrases of ``texts`` (used when an LLM gives none)."""
    terms = _scope_terms(texts, phrases_per_scope)
    return join_phrases(terms, fallback=_short(texts[0]) if texts else "Text")


def keyword_names(groups: Sequence[Sequence[str]]) -> list[str]:
    """One key-phrase name per group of sentences."""
    return [join_phrases(found) for found in key_phrases(groups, top=2)]


def _short(text: str, words: int = 8) -> str:
    tokens = text.split()
    name = " ".join(tokens[:words])
    return name.rstrip(".,;:!?") or "Text"


def _marker_name(line: str) -> str:
    """A heading from a heading line or a list item's first sentence."""
    text = line.strip()
    heading = HEADING.match(text)
    if heading:
        text = heading.group("title")
    elif not LIST_ITEM.match(text):
        return " ".join(text.split())  # a plain title line: its own words
    else:
        item = LIST_ITEM.match(text)
        if item:
            text = text[item.end() :]
    text = _EMPHASIS.sub("", " ".join(text.split())).strip()
    parts = _NAME_CUT.split(text, maxsplit=1)
    if len(parts) == 2 and 0 < len(parts[0].split()) <= 8:
        text = parts[0]
    words = text.split()
    if len(words) > 10:
        found = [p[1] for p in phrases(text)]
        text = " ".join(words[:8]) if not found else join_phrases(found[:1])
    text = text.rstrip(".,;:!? ")
    return text or "Item"


def _lead_in_name(sentence: str) -> str | None:
    """``"Prevention works in three steps"`` for a short lead-in ending with a colon."""
    text = " ".join(_EMPHASIS.sub("", sentence).split())
    if text.endswith(":") and 0 < len(text.split()) <= 10:
        return text.rstrip(": ") or None
    return None


def _iter_nodes(nodes: Sequence[_Node]) -> list[_Node]:
    result = []
    for node in nodes:
        result.append(node)
        result.extend(_iter_nodes(node.children))
    return result


def _node_sentences(node: _Node) -> list[int]:
    indices = list(node.sentences)
    for child in node.children:
        indices.extend(_node_sentences(child))
    return indices


def _to_aspect(node: _Node) -> Aspect:
    return Aspect(
        name=node.name or "Overview",
        sentences=tuple(node.sentences),
        subaspects=tuple(_to_aspect(child) for child in node.children),
        title=node.title,
    )
