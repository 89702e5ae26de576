"""``HeuristicMemoryExtractor``: document memories without an LLM (the offline default).

* **Chunks**: sections under the document's own headings (Markdown, underlined,
  chapter lines, numbered titles, ALL-CAPS lines); a section or heading-less text longer
  than ``max_words`` is cut at embedding topic boundaries - the gaps between units
  (paragraphs, lines or sentences) where the text on either side is least similar.
* **Outline**: the headings; a chunk that is not a whole section gets an entry of its
  own (one level below its section's heading, if any) titled with one or two key phrases
  chosen with the same embedder
  ([`KeyphraseNamer`][ctx_core.structure.keyphrases.KeyphraseNamer], KeyBERT-style;
  ``titles="keywords"``: its most distinctive words, the former titles).
* **Core content**: extractive - the chunk's most central sentences (closest to the
  mean embedding of its sentences), in document order.

Examples:
    >>> from ctx_core.memory import HeuristicMemoryExtractor
    >>> text = "# Cats\\n\\nCats purr when they are content.\\n\\n# Dogs\\n\\nDogs bark at strangers."
    >>> memory = HeuristicMemoryExtractor().extract(text, doc_id="pets")
    >>> [e.title for e in memory.outline]
    ['Cats', 'Dogs']
    >>> [c.core_content for c in memory.chunks]
    ['Cats purr when they are content.', 'Dogs bark at strangers.']
    >>> "".join(memory.chunk_texts()) == text
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ctx_core._registry import Configurable
from ctx_core.embeddings import Embedder, embedder_config
from ctx_core.errors import ConfigError
from ctx_core.memory.base import MemoryExtractorLike, check_document
from ctx_core.memory.model import DocumentMemory, OutlineEntry, ScenarioChunk
from ctx_core.memory.segments import (
    Heading,
    count_words,
    find_headings,
    keywords,
    sentence_spans,
    unit_spans,
    word_set,
)
from ctx_core.models import DEFAULT_EMBEDDER
from ctx_core.structure.keyphrases import KeyphraseNamer
from ctx_core.structure.keywords import join_phrases

__all__ = ["HeuristicMemoryExtractor", "TextAnalysis", "embed_by_length"]

logger = logging.getLogger(__name__)

Span = tuple[int, int]


class HeuristicMemoryExtractor(MemoryExtractorLike, Configurable):
    """Document memories from headings and embedding topic boundaries, with no LLM.

    Args:
        embedder: An [`Embedder`][ctx_core.embeddings.Embedder] to share, a model id or path,
            or ``None`` for the packaged MiniLM (loaded on first use).
        max_words: Longest chunk, in words, before it is cut at a topic boundary.
        min_words: Shortest chunk a cut may leave (a shorter document is one chunk).
        boundary_strictness: A chunk of at most ``max_words`` is still cut where the
            similarity across a gap is below ``mean - boundary_strictness * std`` of all
            gaps in the document; larger values cut less.
        window: Units averaged on each side of a gap when comparing them.
        core_sentences: Sentences in each extractive core content.
        core_max_words: Longest core content in words (longer sentences are shortened).
        use_headings: Cut at the document's headings when it has any.
        titles: How chunks without a heading of their own are titled: ``"keyphrases"``
            (embedding-ranked phrases) or ``"keywords"`` (tf-idf words, comma-joined).
    """

    name = "heuristic"

    def __init__(
        self,
        embedder: Embedder | str | None = None,
        *,
        max_words: int = 150,
        min_words: int = 30,
        boundary_strictness: float = 0.5,
        window: int = 2,
        core_sentences: int = 2,
        core_max_words: int = 60,
        use_headings: bool = True,
        titles: Literal["keyphrases", "keywords"] = "keyphrases",
    ) -> None:
        if max_words < 1:
            raise ValueError(f"max_words must be >= 1, got {max_words}")
        if not 0 <= min_words <= max_words:
            raise ValueError(f"min_words must be in [0, max_words], got {min_words}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if core_sentences < 1:
            raise ValueError(f"core_sentences must be >= 1, got {core_sentences}")
        if core_max_words < 1:
            raise ValueError(f"core_max_words must be >= 1, got {core_max_words}")
        if titles not in ("keyphrases", "keywords"):
            raise ValueError(f"titles must be 'keyphrases' or 'keywords', got {titles!r}")
        self._embedder = embedder if isinstance(embedder, Embedder) else None
        self._embedder_name = None if isinstance(embedder, Embedder) else embedder
        self.max_words = max_words
        self.min_words = min_words
        self.boundary_strictness = boundary_strictness
        self.window = window
        self.core_sentences = core_sentences
        self.core_max_words = core_max_words
        self.use_headings = use_headings
        self.title_method = titles

    @property
    def embedder(self) -> Embedder:
        """The embedder (loaded on first use)."""
        if self._embedder is None:
            self._embedder = Embedder(self._embedder_name)
        return self._embedder

    def config(self) -> dict[str, Any]:
        """The embedder (by model name, without loading it) and the settings."""
        return {
            "type": "HeuristicMemoryExtractor",
            "embedder": self._embedder_value(),
            **self._options(),
        }

    def _embedder_value(self) -> Any:
        if self._embedder is not None:
            return embedder_config(self._embedder)
        return self._embedder_name or DEFAULT_EMBEDDER

    def _options(self) -> dict[str, Any]:
        return {
            "max_words": self.max_words,
            "min_words": self.min_words,
            "boundary_strictness": self.boundary_strictness,
            "window": self.window,
            "core_sentences": self.core_sentences,
            "core_max_words": self.core_max_words,
            "use_headings": self.use_headings,
            "titles": self.title_method,
        }

    def settings(self) -> dict[str, Any]:
        """What ``DocumentMemory.info`` and result files record: the extractor's name and settings.

        An embedder with no config (a framework's embedding model wrapped as an
        ``Embedder``) is recorded by its ``model_name``: extraction over it must not fail
        for want of a config.
        """
        try:
            embedder = self._embedder_value()
        except ConfigError:
            assert self._embedder is not None  # a name always has a value
            embedder = self._embedder.model_name
        return {"extractor": self.name, "embedder": embedder, **self._options()}

    # -- extraction -------------------------------------------------------

    def extract(
        self,
        document: str | bytes,
        *,
        doc_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> DocumentMemory:
        """Build the memory of one document.

        Args:
            document: The text (``bytes`` must be UTF-8).
            doc_id: Its identifier (default: derived from the text).
            metadata: The caller's metadata, copied into every chunk passage.

        Raises:
            ValueError: the document is empty, binary or not UTF-8.
        """
        text = check_document(document)
        analysis = self.analyze(text)
        headings = find_headings(text) if self.use_headings else []
        body_words = count_words(text) - sum(count_words(text[h.start : h.end]) for h in headings)
        if headings and body_words < 3 * len(headings):
            logger.info(
                "%d heading-like lines over %d words of text: ignoring headings",
                len(headings),
                body_words,
            )
            headings = []
        outline: list[OutlineEntry] = []
        spans: list[tuple[Span, int, str]] = []  # (span, outline index, recovery)
        untitled: list[int] = []  # outline entries titled later from their chunk's words
        for start, end, heading, absorbed in _sections(text, headings):
            pieces = self.segment(text, start, end, analysis=analysis)
            # Headings with no text of their own stay in the outline, linked to no chunk.
            outline.extend(OutlineEntry(h.title, h.level) for h in absorbed)
            if heading is not None:
                outline.append(OutlineEntry(heading.title, heading.level))
                if len(pieces) == 1:
                    spans.append((pieces[0], len(outline) - 1, "heading"))
                    continue
            # Topic chunks get entries of their own (under the section's heading, if any).
            level = heading.level + 1 if heading is not None else 1
            for k, piece in enumerate(pieces):
                outline.append(OutlineEntry("untitled", level))
                untitled.append(len(outline) - 1)
                recovery = "heading" if heading is not None and k == 0 else "topic"
                spans.append((piece, len(outline) - 1, recovery))
        only_spans = [span for span, _, _ in spans]
        cores = self.core_contents(
            text, only_spans, analysis=analysis, exclude=[(h.start, h.end) for h in headings]
        )
        if untitled:
            titles = self.titles(text, only_spans, exclude=[(h.start, h.end) for h in headings])
            by_entry = {index: titles[k] for k, (_, index, _) in enumerate(spans)}
            for index in untitled:
                outline[index] = OutlineEntry(by_entry[index], outline[index].level)
        chunks = [
            ScenarioChunk(span[0], span[1], core, index, recovery)
            for (span, index, recovery), core in zip(spans, cores, strict=True)
        ]
        return DocumentMemory(
            doc_id=doc_id or "",
            source=text,
            outline=outline,
            chunks=chunks,
            metadata=dict(metadata or {}),
            info={**self.settings(), "mode": "headings" if headings else "topics"},
        )

    # -- building blocks (shared with the LLM extractor) --------------------

    def analyze(self, text: str, start: int = 0, end: int | None = None) -> TextAnalysis:
        """Units and sentences of ``text[start:end]``, with sentence embeddings.

        Each sentence is embedded once; a unit's vector is the mean of its sentences'.
        Nothing is embedded when the range is too short to cut or summarize.
        """
        stop = len(text) if end is None else end
        units = unit_spans(text, start, stop, max_words=self.max_words)
        sentences: list[Span] = []
        owner: list[int] = []
        for u, (a, b) in enumerate(units):
            pieces = sentence_spans(text, a, b) or [(a, b)]
            sentences.extend(pieces)
            owner.extend([u] * len(pieces))
        words = [count_words(text[a:b]) for a, b in units]
        needed = len(sentences) > self.core_sentences or (
            len(units) >= 2 and sum(words) >= 2 * self.min_words
        )
        dimension = 1
        if needed:
            sentence_vectors = embed_by_length(self.embedder, [text[a:b] for a, b in sentences])
            dimension = sentence_vectors.shape[1]
        else:
            sentence_vectors = np.zeros((len(sentences), dimension), dtype=np.float32)
        unit_vectors = np.zeros((len(units), dimension), dtype=np.float32)
        np.add.at(unit_vectors, np.asarray(owner, dtype=np.int64), sentence_vectors)
        norms = np.linalg.norm(unit_vectors, axis=1, keepdims=True)
        unit_vectors = (unit_vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        return TextAnalysis(units, words, sentences, sentence_vectors, unit_vectors)

    def segment(
        self,
        text: str,
        start: int = 0,
        end: int | None = None,
        *,
        analysis: TextAnalysis | None = None,
    ) -> list[Span]:
        """Cut ``text[start:end]`` into topic chunks; the spans tile that range exactly.

        Args:
            text: The whole document.
            start: Where the range starts.
            end: Where it ends (default: the end of the text).
            analysis: A precomputed [`analyze`][ctx_core.memory.heuristic.HeuristicMemoryExtractor.analyze] of a range covering this one.
        """
        stop = len(text) if end is None else end
        if analysis is None:
            analysis = self.analyze(text, start, stop)
        inside = [u for u, (a, b) in enumerate(analysis.units) if a >= start and b <= stop]
        counts = [analysis.unit_words[u] for u in inside]
        if len(inside) < 2 or sum(counts) < 2 * self.min_words:
            return [(start, stop)]
        words = np.cumsum([0, *counts])
        sims = _gap_similarities(analysis.unit_vectors[inside], self.window)
        threshold = float(sims.mean() - self.boundary_strictness * sims.std())
        groups = self._split(0, len(inside), words, sims, threshold)
        cuts = [analysis.units[inside[a]][0] for a, _ in groups[1:]]
        bounds = [start, *cuts, stop]
        return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]

    def _split(
        self, a: int, b: int, words: np.ndarray, sims: np.ndarray, threshold: float
    ) -> list[Span]:
        """Divisive segmentation of units ``[a, b)`` at the least similar admissible gaps."""
        total = int(words[b] - words[a])
        gaps = [
            g
            for g in range(a + 1, b)
            if words[g] - words[a] >= self.min_words and words[b] - words[g] >= self.min_words
        ]
        if not gaps and total > self.max_words:
            gaps = list(range(a + 1, b))
        if not gaps:
            return [(a, b)]
        best = min(
            gaps, key=lambda g: (float(sims[g - 1]), abs(2 * words[g] - words[a] - words[b]))
        )
        if total <= self.max_words and not (
            total >= 2 * self.min_words and float(sims[best - 1]) < threshold
        ):
            return [(a, b)]
        return self._split(a, best, words, sims, threshold) + self._split(
            best, b, words, sims, threshold
        )

    def core_contents(
        self,
        text: str,
        spans: Sequence[Span],
        *,
        analysis: TextAnalysis | None = None,
        exclude: Sequence[Span] = (),
    ) -> list[str]:
        """An extractive core content for each span: its most central sentences.

        Central = closest to the mean embedding of the span's sentences; sentences of
        fewer than five words are passed over while enough longer ones exist, and so are
        sentences inside ``exclude`` (heading lines) while any other sentence is left.
        """
        if analysis is None:
            analysis = self.analyze(text, spans[0][0], spans[-1][1]) if spans else None
        result: list[str] = []
        for a, b in spans:
            index = (
                [k for k, (s, e) in enumerate(analysis.sentences) if s >= a and e <= b]
                if analysis is not None
                else []
            )
            assert analysis is not None or not index
            body = [
                k
                for k in index
                if analysis is not None
                and not any(
                    x <= analysis.sentences[k][0] and analysis.sentences[k][1] <= y
                    for x, y in exclude
                )
            ]
            index = body or index
            if not index:
                result.append(self._shorten(" ".join(text[a:b].split())))
                continue
            chosen = index
            if len(index) > self.core_sentences:
                assert analysis is not None
                long_enough = [
                    k for k in index if count_words(text[slice(*analysis.sentences[k])]) >= 5
                ]
                pool = long_enough if len(long_enough) >= self.core_sentences else index
                block = analysis.sentence_vectors[index]
                centroid = block.mean(axis=0)
                scores = analysis.sentence_vectors[pool] @ centroid
                order = np.argsort(-scores, kind="stable")[: self.core_sentences]
                chosen = sorted(pool[k] for k in order.tolist())
            assert analysis is not None
            pieces = [" ".join(text[slice(*analysis.sentences[k])].split()) for k in chosen]
            result.append(self._shorten(" ".join(pieces)))
        return result

    def _shorten(self, text: str) -> str:
        words = text.split()
        if len(words) <= self.core_max_words:
            return text
        return " ".join(words[: self.core_max_words]) + " …"

    def titles(
        self, text: str, spans: Sequence[Span], *, exclude: Sequence[Span] = ()
    ) -> list[str]:
        """A short title for each span: one or two key phrases (see ``titles``).

        Text inside ``exclude`` (heading lines) is not counted.
        """
        if exclude:
            chars = list(text)
            for a, b in exclude:
                chars[a:b] = " " * (b - a)
            text = "".join(chars)
        if self.title_method == "keyphrases":
            groups = [
                [text[x:y] for x, y in sentence_spans(text, a, b)] or [text[a:b]] for a, b in spans
            ]
            names = KeyphraseNamer(self.embedder, candidates=12).phrases(groups)
            return [
                join_phrases(found, fallback=" ".join(text[a:b].split()[:8]) or "Text")
                for found, (a, b) in zip(names, spans, strict=True)
            ]
        sets = [word_set(text[a:b]) for a, b in spans]
        frequency: dict[str, int] = {}
        for words in sets:
            for word in words:
                frequency[word] = frequency.get(word, 0) + 1
        titles = []
        for a, b in spans:
            top = keywords(text[a:b], frequency, len(spans))
            titles.append(", ".join(top) if top else " ".join(text[a:b].split()[:8]))
        return titles


@dataclass
class TextAnalysis:
    """Units and sentences of a text range with their embeddings (see ``analyze``).

    Attributes:
        units: Unit spans (paragraphs, lines or sentences).
        unit_words: Word count of each unit.
        sentences: Sentence spans; every sentence lies inside one unit.
        sentence_vectors: One normalized embedding per sentence (zeros when not needed).
        unit_vectors: Normalized mean of each unit's sentence vectors.
    """

    units: list[Span]
    unit_words: list[int]
    sentences: list[Span]
    sentence_vectors: np.ndarray
    unit_vectors: np.ndarray


def embed_by_length(
    embedder: Embedder, texts: Sequence[str], ids: Sequence[str] | None = None
) -> np.ndarray:
    """``embedder.embed(texts)``, computed in order of length (less padding), rows in input order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = embedder.embed(
        [texts[i] for i in order], ids=[ids[i] for i in order] if ids is not None else None
    )
    result = np.empty_like(vectors)
    result[np.asarray(order, dtype=np.int64)] = vectors
    return result


def _gap_similarities(vectors: np.ndarray, window: int) -> np.ndarray:
    """Cosine similarity across each gap ``j`` (between unit ``j`` and ``j + 1``)."""
    n = len(vectors)
    sims = np.zeros(max(n - 1, 0), dtype=np.float32)
    for j in range(n - 1):
        left = vectors[max(0, j - window + 1) : j + 1].mean(axis=0)
        right = vectors[j + 1 : j + 1 + window].mean(axis=0)
        denominator = float(np.linalg.norm(left) * np.linalg.norm(right)) or 1.0
        sims[j] = float(left @ right) / denominator
    return sims


def _sections(
    text: str, headings: list[Heading]
) -> list[tuple[int, int, Heading | None, list[Heading]]]:
    """``(start, end, heading or None, headings absorbed)`` sections tiling the text.

    A section that is only its heading joins the next one, whose (deeper) heading names
    it; the absorbed heading is listed so it still enters the outline.
    """
    if not headings:
        return [(0, len(text), None, [])]
    sections: list[tuple[int, int, Heading | None]] = []
    first = headings[0].start
    if text[:first].strip():
        sections.append((0, first, None))
    for k, found in enumerate(headings):
        start = 0 if k == 0 and not sections else found.start
        end = headings[k + 1].start if k + 1 < len(headings) else len(text)
        sections.append((start, end, found))
    merged: list[tuple[int, int, Heading | None, list[Heading]]] = []
    pending: list[Heading] = []
    pending_start: int | None = None
    for k, (start, end, heading) in enumerate(sections):
        body = text[heading.end if heading else start : end]
        if heading is not None and not body.strip() and k + 1 < len(sections):
            pending.append(heading)
            pending_start = start if pending_start is None else pending_start
            continue
        merged.append((start if pending_start is None else pending_start, end, heading, pending))
        pending, pending_start = [], None
    return merged
