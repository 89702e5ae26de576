"""``MemoryExtractor``: document memories written by an LLM, with multi-path selection.

For each window of the document (the whole document when it is short) the extractor:

1. asks the LLM for several *candidate* memories - different prompts and temperatures
   (``paths``) - each an outline plus scenarios given by anchors and core contents;
2. recovers every candidate's chunks from the source by their anchors (exact, fuzzy,
   fallback; see [`ctx_core.memory.anchors`][ctx_core.memory.anchors]); text no anchor covers is cut into
   topic chunks with extractive core contents, so the chunks always tile the source;
3. scores each candidate by chunk clarity and extraction completeness - from the
   evaluator LLM's log-probabilities, or from embeddings when it has none - and keeps
   the candidate with the best reciprocal-rank-fusion score (``k = 60``).

Examples:
    >>> from ctx_core.llm import BaseLLM
    >>> from ctx_core.memory import MemoryExtractor
    >>> class Prepared(BaseLLM):  # any LLM works; this one always gives the same reply
    ...     def complete(self, prompt, *, max_tokens=256, temperature=0.0, stop=None):
    ...         return (
    ...             "<outline>\\nCats\\nDogs\\n</outline>\\n"
    ...             "<scenario><chunk>Cats purr ... they nap.</chunk>Cats purr and nap.</scenario>\\n"
    ...             "<scenario><chunk>Dogs bark ... at night.</chunk>Dogs bark.</scenario>"
    ...         )
    >>> memory = MemoryExtractor(Prepared(), paths=[("direct", 0.0)]).extract(
    ...     "Cats purr. Then they nap. Dogs bark at night.", doc_id="pets"
    ... )
    >>> [(memory.heading(i), memory.chunk_text(i), c.recovery) for i, c in enumerate(memory.chunks)]
    [('Cats', 'Cats purr. Then they nap. ', 'exact'), ('Dogs', 'Dogs bark at night.', 'exact')]
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctx_core._registry import Configurable, config_value
from ctx_core.embeddings import Embedder
from ctx_core.errors import require
from ctx_core.llm.base import LLM, ScoringLLM, supports
from ctx_core.memory.anchors import (
    ParsedMemory,
    ParsedScenario,
    parse_memory_reply,
    recover_spans,
)
from ctx_core.memory.base import MemoryExtractorLike, check_document
from ctx_core.memory.heuristic import HeuristicMemoryExtractor, TextAnalysis
from ctx_core.memory.model import DocumentMemory, OutlineEntry, ScenarioChunk
from ctx_core.memory.prompts import EXTRACTION_PROMPTS, extraction_messages
from ctx_core.memory.segments import count_words, unit_spans
from ctx_core.memory.selection import (
    EmbeddingJudge,
    Judge,
    LogprobJudge,
    reciprocal_rank_fusion,
)

__all__ = ["DEFAULT_PATHS", "MemoryExtractor", "link_outline"]

logger = logging.getLogger(__name__)

#: Default candidate paths: (prompt name, temperature).
DEFAULT_PATHS: tuple[tuple[str, float], ...] = (
    ("direct", 0.0),
    ("expert", 0.0),
    ("direct", 0.8),
)


@dataclass
class _Item:
    start: int
    end: int
    core: str
    outline_ref: int | None  # index into the candidate's LLM outline
    title: str  # used when outline_ref is None
    recovery: str


@dataclass
class _Draft:
    """One candidate memory of one window."""

    path: tuple[str, float]
    outline: list[str]
    items: list[_Item]
    stats: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        return tuple((i.start, i.end, i.core, i.outline_ref, i.title) for i in self.items), tuple(
            self.outline
        )


class MemoryExtractor(MemoryExtractorLike, Configurable):
    """Document memories written by an LLM, the best of several candidates kept.

    Args:
        llm: Any core [`LLM`][ctx_core.llm.base.LLM] (local or wrapped from a framework).
        evaluator: A [`ScoringLLM`][ctx_core.llm.base.ScoringLLM] scoring the candidates (default:
            ``llm`` when it exposes log-probabilities; otherwise embeddings are used).
        embedder: Embedder for uncovered text and the embedding fallbacks (an
            [`Embedder`][ctx_core.embeddings.Embedder], a model id or path; default MiniLM).
        paths: Candidate paths, ``(prompt name, temperature)`` each.
        prompts: Extraction prompt templates by name (each with a ``{document}`` field).
        selection: ``"auto"`` (log-probabilities when the evaluator has them),
            ``"logprobs"`` or ``"embeddings"``.
        max_tokens: Longest LLM reply.
        window_words: Documents longer than this are processed in windows of about this
            many words (cut between paragraphs), each with its own candidates.
        max_words: Longest chunk the fallback segmentation leaves; a last chunk whose end
            anchor was not found and that is longer is cut at topic boundaries.
        min_gap_words: Text of at least this many words that no anchor covers becomes
            chunks of its own; shorter leftovers join a neighbouring chunk.
        fuzzy_threshold: Least rapidfuzz score (0-100) for a fuzzy anchor match.
        rrf_k: The reciprocal-rank-fusion constant.
        core_max_words: An LLM core content longer than this is shortened (small models
            sometimes copy the document into it).
    """

    name = "llm"

    def __init__(
        self,
        llm: LLM,
        *,
        evaluator: ScoringLLM | None = None,
        embedder: Embedder | str | None = None,
        paths: Sequence[tuple[str, float]] | None = None,
        prompts: Mapping[str, str] | None = None,
        selection: str = "auto",
        max_tokens: int = 1024,
        window_words: int = 1000,
        max_words: int = 150,
        min_gap_words: int = 15,
        fuzzy_threshold: float = 80.0,
        rrf_k: int = 60,
        core_max_words: int = 120,
    ) -> None:
        if not isinstance(llm, LLM):
            raise TypeError(f"llm must implement complete()/acomplete(), got {type(llm).__name__}")
        if evaluator is not None and not supports(evaluator, "continuation"):
            raise TypeError(
                "evaluator must implement next_token_logprobs()/continuation_logprobs() "
                "(a served chat model needs OpenAICompatibleLLM(chat_template=...)), "
                f"got {evaluator!r}"
            )
        if selection not in ("auto", "logprobs", "embeddings"):
            raise ValueError(
                f"selection must be 'auto', 'logprobs' or 'embeddings', got {selection!r}"
            )
        self.prompts = dict(EXTRACTION_PROMPTS if prompts is None else prompts)
        self.paths = [
            (str(name), float(t)) for name, t in (DEFAULT_PATHS if paths is None else paths)
        ]
        if not self.paths:
            raise ValueError("paths must name at least one (prompt, temperature) pair")
        for name, temperature in self.paths:
            if name not in self.prompts:
                raise ValueError(
                    f"paths names unknown prompt {name!r}; known: {', '.join(sorted(self.prompts))}"
                )
            if temperature < 0:
                raise ValueError(f"path temperatures must be >= 0, got {temperature}")
        for name, template in self.prompts.items():
            if "{document}" not in template:
                raise ValueError(f"prompt {name!r} has no {{document}} field")
        for label, value in (("max_tokens", max_tokens), ("window_words", window_words)):
            if value < 1:
                raise ValueError(f"{label} must be >= 1, got {value}")
        self.llm = llm
        self.evaluator = evaluator
        self._evaluator_given = evaluator is not None
        self._prompts_given = prompts is not None
        # A served chat model may score next tokens only; the judge needs continuations too.
        if self.evaluator is None and supports(llm, "continuation"):
            self.evaluator = llm  # type: ignore[assignment]
        if selection == "logprobs" and self.evaluator is None:
            raise ValueError(
                "selection='logprobs' needs an evaluator with log-probabilities "
                "(pass evaluator=TransformersLLM(...)) or selection='embeddings'"
            )
        self.selection = selection
        self.heuristic = HeuristicMemoryExtractor(embedder, max_words=max_words)
        self.max_tokens = max_tokens
        self.window_words = window_words
        self.min_gap_words = min_gap_words
        self.fuzzy_threshold = fuzzy_threshold
        self.rrf_k = rrf_k
        self.core_max_words = core_max_words

    @property
    def embedder(self) -> Embedder:
        """The embedder (loaded on first use)."""
        return self.heuristic.embedder

    def judge(self) -> Judge:
        """The judge that scores candidates (log-probabilities or embeddings)."""
        if self.selection != "embeddings" and self.evaluator is not None:
            return LogprobJudge(self.evaluator)
        return EmbeddingJudge(self.embedder)

    def config(self) -> dict[str, Any]:
        """The LLM and evaluator as configs, the embedder by name, and the settings.

        Raises:
            ConfigError: the LLM (or the evaluator) has no ``config()``, e.g. a
                framework model wrapped by an adapter; build the extractor on a
                [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM] to serialize it.
        """
        heuristic = self.heuristic.config()
        return {
            "type": "MemoryExtractor",
            "llm": config_value(self.llm, "llm"),
            # The default evaluator is the LLM itself: recorded only when it was given.
            "evaluator": config_value(self.evaluator, "evaluator")
            if self._evaluator_given
            else None,
            "embedder": heuristic["embedder"],
            "prompts": dict(self.prompts) if self._prompts_given else None,
            **self._choices(),
        }

    def settings(self) -> dict[str, Any]:
        """What ``DocumentMemory.info`` and result files record (models as labels; never fails)."""
        return {
            "extractor": self.name,
            "llm": _label(self.llm),
            "evaluator": _label(self.evaluator) if self.evaluator is not None else None,
            **self._choices(),
        }

    def _choices(self) -> dict[str, Any]:
        # The extraction settings both config() and settings() record.
        return {
            "paths": [list(p) for p in self.paths],
            "selection": self.selection,
            "max_tokens": self.max_tokens,
            "window_words": self.window_words,
            "max_words": self.heuristic.max_words,
            "min_gap_words": self.min_gap_words,
            "fuzzy_threshold": self.fuzzy_threshold,
            "rrf_k": self.rrf_k,
            "core_max_words": self.core_max_words,
        }

    # -- extraction -------------------------------------------------------

    def extract(
        self,
        document: str | bytes,
        *,
        doc_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> DocumentMemory:
        """Build the memory of one document (see the module docstring for the steps).

        Args:
            document: The text (``bytes`` must be UTF-8).
            doc_id: Its identifier (default: derived from the text).
            metadata: The caller's metadata, copied into every chunk passage.

        Raises:
            ValueError: the document is empty, binary or not UTF-8.
        """
        text = check_document(document)
        windows = self.windows(text)
        chosen: list[_Draft] = []
        window_info: list[dict[str, Any]] = []
        for start, end in windows:
            drafts = self._candidates(text, start, end)
            best, info = self._select(text, drafts)
            chosen.append(best)
            window_info.append({"start": start, "end": end, **info})
        outline, chunks = _assemble(chosen)
        located = sum(d.stats["placed"] for d in chosen)
        if located == 0:
            logger.warning(
                "memory %s: the LLM's replies gave no usable anchors; the whole document was "
                "segmented heuristically",
                doc_id or "(unnamed)",
            )
        return DocumentMemory(
            doc_id=doc_id or "",
            source=text,
            outline=outline,
            chunks=chunks,
            metadata=dict(metadata or {}),
            info={**self.settings(), "windows": window_info},
        )

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Spans tiling ``text``, each about ``window_words`` words, cut between units."""
        units = unit_spans(text, max_words=self.window_words)
        bounds = [0]
        words = 0
        for a, b in units:
            n = count_words(text[a:b])
            if words and words + n > self.window_words:
                bounds.append(a)
                words = 0
            words += n
        bounds.append(len(text))
        return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]

    def replies(self, window: str) -> list[str]:
        """The LLM's reply for every path (paths sharing a temperature are batched)."""
        replies: list[str] = [""] * len(self.paths)
        by_temperature: dict[float, list[int]] = {}
        for i, (_, temperature) in enumerate(self.paths):
            by_temperature.setdefault(temperature, []).append(i)
        batch = getattr(self.llm, "complete_batch", None)
        for temperature, index in by_temperature.items():
            prompts = [extraction_messages(self.paths[i][0], window, self.prompts) for i in index]
            if callable(batch) and len(prompts) > 1:
                outs = batch(prompts, max_tokens=self.max_tokens, temperature=temperature)
            else:
                outs = [
                    self.llm.complete(p, max_tokens=self.max_tokens, temperature=temperature)
                    for p in prompts
                ]
            for i, out in zip(index, outs, strict=True):
                replies[i] = out if isinstance(out, str) else str(out)
        return replies

    def _candidates(self, text: str, start: int, end: int) -> list[_Draft]:
        replies = self.replies(text[start:end])
        analysis: list[TextAnalysis] = []  # computed once, when first needed
        drafts = []
        for path, reply in zip(self.paths, replies, strict=True):
            parsed = parse_memory_reply(reply)
            drafts.append(self._draft(text, start, end, path, parsed, analysis))
        return drafts

    def _draft(
        self,
        text: str,
        start: int,
        end: int,
        path: tuple[str, float],
        parsed: ParsedMemory,
        analysis: list[TextAnalysis],
    ) -> _Draft:
        def analyzed() -> TextAnalysis:
            if not analysis:
                analysis.append(self.heuristic.analyze(text, start, end))
            return analysis[0]

        spans = recover_spans(
            text,
            parsed.scenarios,
            start=start,
            end=end,
            fuzzy_threshold=self.fuzzy_threshold,
            min_gap_words=self.min_gap_words,
        )
        links = link_outline(parsed.outline, parsed.scenarios)
        items: list[_Item] = []
        heuristic_spans: list[tuple[int, int]] = []  # items to fill extractively
        for span in spans:
            pieces = [(span.start, span.end)]
            oversized = count_words(text[span.start : span.end]) > self.heuristic.max_words
            if span.scenario is None or (not span.end_confirmed and oversized):
                pieces = self.heuristic.segment(text, span.start, span.end, analysis=analyzed())
            for k, (a, b) in enumerate(pieces):
                if span.scenario is not None and k == 0:
                    scenario = parsed.scenarios[span.scenario]
                    cores = [scenario.core_content] + [
                        parsed.scenarios[m].core_content for m in span.merged
                    ]
                    core = _capped(" ".join(c for c in cores if c), self.core_max_words)
                    items.append(
                        _Item(a, b, core, links[span.scenario], _title(core), span.recovery)
                    )
                    if not core:
                        heuristic_spans.append((a, b))
                else:
                    items.append(_Item(a, b, "", None, "", "uncovered"))
                    heuristic_spans.append((a, b))
        if heuristic_spans:
            cores = self.heuristic.core_contents(text, heuristic_spans, analysis=analyzed())
            titles = self.heuristic.titles(text, heuristic_spans)
            filled = {
                span: (c, t) for span, c, t in zip(heuristic_spans, cores, titles, strict=True)
            }
            for item in items:
                if (item.start, item.end) in filled:
                    core, title = filled[(item.start, item.end)]
                    item.core = item.core or core
                    if item.outline_ref is None and not item.title:
                        item.title = title
        stats = {
            "scenarios": len(parsed.scenarios),
            "outline": len(parsed.outline),
            "placed": sum(1 for s in spans if s.scenario is not None),
            "merged": sum(len(s.merged) for s in spans),
            "exact": sum(1 for s in spans if s.recovery == "exact"),
            "fuzzy": sum(1 for s in spans if s.recovery == "fuzzy"),
            "tail": sum(1 for s in spans if s.recovery == "tail"),
            "uncovered_words": sum(
                count_words(text[s.start : s.end]) for s in spans if s.scenario is None
            ),
            "chunks": len(items),
        }
        return _Draft(path, list(parsed.outline), items, stats)

    # -- selection --------------------------------------------------------

    def _select(self, text: str, drafts: list[_Draft]) -> tuple[_Draft, dict[str, Any]]:
        unique: dict[Any, int] = {}
        for i, draft in enumerate(drafts):
            unique.setdefault(draft.key(), i)
        described = [
            {"prompt": d.path[0], "temperature": d.path[1], **d.stats, "duplicate_of": None}
            for d in drafts
        ]
        for i, draft in enumerate(drafts):
            first = unique[draft.key()]
            if first != i:
                described[i]["duplicate_of"] = first
        if len(unique) == 1:
            return drafts[0], {"method": None, "chosen": 0, "candidates": described}
        judge = self.judge()
        keep = sorted(unique.values())
        pair_keys: dict[tuple[int, int, int, int], int] = {}
        item_keys: dict[tuple[int, int, str], int] = {}
        pairs: list[tuple[str, str]] = []
        items: list[tuple[str, str]] = []
        for i in keep:
            chunks = drafts[i].items
            for a, b in itertools.pairwise(chunks):
                key = (a.start, a.end, b.start, b.end)
                if key not in pair_keys:
                    pair_keys[key] = len(pairs)
                    pairs.append((text[a.start : a.end], text[b.start : b.end]))
            for item in chunks:
                ikey = (item.start, item.end, item.core)
                if ikey not in item_keys:
                    item_keys[ikey] = len(items)
                    items.append((item.core or " ", text[item.start : item.end]))
        separations = judge.separations(pairs)
        completeness = judge.completeness(items)
        clarity_values: list[float | None] = []
        completeness_values: list[float | None] = []
        for i in keep:
            chunks = drafts[i].items
            seps = [
                separations[pair_keys[(a.start, a.end, b.start, b.end)]]
                for a, b in itertools.pairwise(chunks)
            ]
            clarity_values.append(sum(seps) / len(seps) if seps else None)
            scored = [completeness[item_keys[(c.start, c.end, c.core)]] for c in chunks]
            weight = sum(w for _, w in scored)
            completeness_values.append(sum(v * w for v, w in scored) / weight if weight else None)
        fused = reciprocal_rank_fusion([clarity_values, completeness_values], k=self.rrf_k)
        best_position = max(range(len(keep)), key=lambda j: (fused[j], -j))
        for j, i in enumerate(keep):
            described[i].update(
                clarity=clarity_values[j], completeness=completeness_values[j], rrf=fused[j]
            )
        chosen = keep[best_position]
        return drafts[chosen], {"method": judge.method, "chosen": chosen, "candidates": described}


def link_outline(outline: Sequence[str], scenarios: Sequence[ParsedScenario]) -> list[int | None]:
    """Link each scenario to an outline entry, keeping document order.

    Equal counts link one to one. Otherwise each scenario gets the entry most similar
    to its core content and anchors (rapidfuzz token-set ratio), subject to the links
    never going back in the outline. No outline: no links (``None``).

    Examples:
        >>> from ctx_core.memory.anchors import ParsedScenario as S
        >>> link_outline(["Cats", "Dogs"], [S("a", "", "cats purr"), S("b", "", "cats nap"), S("c", "", "dogs bark")])
        [0, 0, 1]
    """
    n, m = len(scenarios), len(outline)
    if m == 0 or n == 0:
        return [None] * n
    if n == m:
        return list(range(n))
    require("rapidfuzz", "local", "Linking scenarios to the outline")
    from rapidfuzz import fuzz

    sim = [
        [
            fuzz.token_set_ratio(outline[j].lower(), f"{s.core_content} {s.head} {s.tail}".lower())
            / 100.0
            for j in range(m)
        ]
        for s in scenarios
    ]
    # best[i][j]: best total similarity of scenarios[: i + 1] with scenario i on entry j.
    best = [[0.0] * m for _ in range(n)]
    back = [[0] * m for _ in range(n)]
    for j in range(m):
        best[0][j] = sim[0][j]
    for i in range(1, n):
        running, arg = -1.0, 0
        for j in range(m):
            if best[i - 1][j] > running:
                running, arg = best[i - 1][j], j
            best[i][j] = running + sim[i][j]
            back[i][j] = arg
    j = max(range(m), key=lambda k: (best[n - 1][k], -k))
    links: list[int | None] = [0] * n
    for i in range(n - 1, -1, -1):
        links[i] = j
        j = back[i][j]
    return links


def _assemble(drafts: Sequence[_Draft]) -> tuple[list[OutlineEntry], list[ScenarioChunk]]:
    """Join the chosen window drafts into one outline and one list of chunks."""
    outline: list[OutlineEntry] = []
    chunks: list[ScenarioChunk] = []
    for draft in drafts:
        mapped: dict[int, int] = {}
        next_entry = 0
        for item in draft.items:
            if item.outline_ref is not None:
                while next_entry <= item.outline_ref:
                    mapped[next_entry] = len(outline)
                    outline.append(OutlineEntry(draft.outline[next_entry]))
                    next_entry += 1
                index = mapped[item.outline_ref]
            else:
                outline.append(OutlineEntry(item.title or "untitled"))
                index = len(outline) - 1
            chunks.append(ScenarioChunk(item.start, item.end, item.core, index, item.recovery))
        outline.extend(OutlineEntry(title) for title in draft.outline[next_entry:])
    return outline, chunks


def _capped(text: str, words: int) -> str:
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[:words]) + " …"


def _title(core: str, words: int = 10) -> str:
    parts = core.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def _label(llm: object) -> str:
    name = getattr(llm, "model_name", None)
    return f"{type(llm).__name__}({name})" if name else type(llm).__name__
