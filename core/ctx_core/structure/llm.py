"""The LLM structurizer: an LLM maps numbered sentences to scope and aspects, we keep the text.

The input is split into sentences and numbered; the LLM answers with YAML that
names a scope and aspects covering sentence ranges (see
[`ctx_core.structure.prompts`][ctx_core.structure.prompts]). Because the answer only points at sentences,
the structure cannot invent or lose text. The answer is validated and small faults
are repaired ([`ctx_core.structure.parse`][ctx_core.structure.parse]); when it is unusable (no YAML,
truncated beyond repair, large gaps...) that part of the text is structured by
the fallback structurizer (the heuristic one by default) instead, so
[`structurize`][ctx_core.structure.llm.LLMStructurizer.structurize] never fails because of what the model wrote.

Long inputs are cut into chunks of about ``chunk_tokens`` tokens on sentence
boundaries; each chunk is structured on its own (all chunks in one batch), their
aspects are concatenated in order, and the LLM names one scope covering the
chunks' scopes.

Examples:
    >>> from ctx_core.llm import BaseLLM
    >>> from ctx_core.structure import LLMStructurizer
    >>> class Canned(BaseLLM):
    ...     def complete(self, prompt, *, max_tokens=256, temperature=0.0, stop=None):
    ...         return "scope: pets\\naspects:\\n  - name: cats\\n    sentences: 1-2\\n  - name: dogs\\n    sentences: 3-4"
    >>> s = LLMStructurizer(Canned()).structurize("Cats purr. Cats nap. Dogs bark. Dogs run.")
    >>> s.scope, [a.name for a in s.aspects], s.metadata["structurizer"]
    ('pets', ['cats', 'dogs'], 'llm')
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctx_core._registry import Configurable, config_value
from ctx_core.llm.base import LLM, Prompt
from ctx_core.models import DEFAULT_LLM
from ctx_core.progress import progress
from ctx_core.structure.base import BaseStructurizer, validate_text
from ctx_core.structure.heuristic import keyword_scope
from ctx_core.structure.parse import parse_structure
from ctx_core.structure.prompts import scope_messages, structure_messages
from ctx_core.structure.sentences import Sentence
from ctx_core.structure.tree import Aspect, Structure, StructureError
from ctx_core.tokens import TokenCounter, default_counter

__all__ = ["LLMStructurizer"]

logger = logging.getLogger(__name__)

_SCOPE_JUNK = " \t\"'`*_#:.;,-\u2022"


@dataclass
class _Chunk:
    sentences: list[Sentence]
    offset: int
    scope: str = ""
    aspects: list[Aspect] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    fallback: str | None = None


@dataclass
class _Job:
    source: str
    sentences: list[Sentence]
    chunks: list[_Chunk]
    scope: str = ""


class LLMStructurizer(BaseStructurizer, Configurable):
    """Structure text with an LLM in the sentence-referencing form, with repair and fallback.

    Args:
        llm: Any core [`LLM`][ctx_core.llm.base.LLM] (wrap LangChain or LlamaIndex models
            with the adapters), or a model id / path / alias for a local
            [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM] (default
            `ctx_core.models.DEFAULT_LLM`, loaded on first use).
        fallback: Structurizer for chunks whose answer is unusable (default: a
            [`HeuristicStructurizer`][ctx_core.structure.heuristic.HeuristicStructurizer]).
        chunk_tokens: Longest chunk given to the LLM at once, in tokens of ``counter``.
        max_tokens: Longest answer; default ``64 + 12`` per sentence of the chunk, at most 1024
            (prompts are batched with others of similar length).
        max_gap: Longest run of uncovered sentences that is repaired (see
            [`parse_structure`][ctx_core.structure.parse.parse_structure]).
        examples: Include the two worked examples in the prompt.
        counter: Token counter for chunking (default: tiktoken ``cl100k_base``).
        batch_size: Prompts per `complete_batch` call when the LLM has one.
        temperature: Sampling temperature (0: greedy).
        show_progress: Show a progress bar over LLM batches (``None``: for long jobs).
    """

    name = "llm"

    def __init__(
        self,
        llm: LLM | str | None = None,
        *,
        fallback: BaseStructurizer | None = None,
        chunk_tokens: int = 1024,
        max_tokens: int | None = None,
        max_gap: int = 2,
        examples: bool = True,
        counter: TokenCounter | None = None,
        batch_size: int = 8,
        temperature: float = 0.0,
        show_progress: bool | None = None,
    ) -> None:
        if llm is not None and not isinstance(llm, (str, LLM)):
            raise TypeError(f"llm must be an LLM or a model name, got {type(llm).__name__}")
        if chunk_tokens < 16:
            raise ValueError(f"chunk_tokens must be >= 16, got {chunk_tokens}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if max_gap < 0:
            raise ValueError(f"max_gap must be >= 0, got {max_gap}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if fallback is not None and not isinstance(fallback, BaseStructurizer):
            raise TypeError(f"fallback must be a BaseStructurizer, got {type(fallback).__name__}")
        self._llm = llm if llm is not None else DEFAULT_LLM
        # A model named by id stays named so in config() after it is loaded.
        self._llm_name = self._llm if isinstance(self._llm, str) else None
        self._fallback = fallback
        self._fallback_given = fallback is not None
        self.chunk_tokens = chunk_tokens
        self.max_tokens = max_tokens
        self.max_gap = max_gap
        self.examples = examples
        self.counter = counter
        self.batch_size = batch_size
        self.temperature = temperature
        self.show_progress = show_progress

    def config(self) -> dict[str, Any]:
        """The LLM (by id, or its config), the fallback's config when given, and the settings.

        Raises:
            ConfigError: the LLM (or the fallback, or the counter) has no config, e.g. a
                framework model wrapped by an adapter; name a local model instead.
        """
        return {
            "type": "LLMStructurizer",
            "llm": self._llm_name if self._llm_name is not None else config_value(self._llm, "llm"),
            "fallback": config_value(self._fallback, "fallback") if self._fallback_given else None,
            "chunk_tokens": self.chunk_tokens,
            "max_tokens": self.max_tokens,
            "max_gap": self.max_gap,
            "examples": self.examples,
            "counter": config_value(self.counter, "counter"),
            "batch_size": self.batch_size,
            "temperature": self.temperature,
            "show_progress": self.show_progress,
        }

    def __repr__(self) -> str:
        return f"LLMStructurizer(llm={self.model_name!r}, chunk_tokens={self.chunk_tokens})"

    @property
    def model_name(self) -> str:
        """The LLM's name, for metadata."""
        if isinstance(self._llm, str):
            return self._llm
        return str(getattr(self._llm, "model_name", type(self._llm).__name__))

    @property
    def llm(self) -> LLM:
        """The LLM (a local model named by a string is loaded on first use)."""
        if isinstance(self._llm, str):
            from ctx_core.llm import TransformersLLM

            # One generate() call per batch: the model's own batch size must not re-split it.
            self._llm = TransformersLLM(self._llm, batch_size=self.batch_size)
        return self._llm

    @property
    def fallback(self) -> BaseStructurizer:
        """The structurizer used where the LLM's answer is unusable."""
        if self._fallback is None:
            from ctx_core.structure.heuristic import HeuristicStructurizer

            self._fallback = HeuristicStructurizer()
        return self._fallback

    # -- sync ------------------------------------------------------------------

    def structurize_sentences(self, source: str, sentences: Sequence[Sentence]) -> Structure:
        """Structure ``sentences`` of ``source`` (one job of [`structurize_many`][ctx_core.structure.llm.LLMStructurizer.structurize_many])."""
        return self._run([self._plan(source, list(sentences))])[0]

    def structurize_many(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[Structure]:
        """Structure several texts; all chunks of all texts go to the LLM in batches."""
        jobs = [
            self._plan(text, validate_text(text, f"texts[{i}]")) for i, text in enumerate(texts)
        ]
        return self._run(jobs, show_progress)

    def _run(self, jobs: list[_Job], show_progress: bool | None = None) -> list[Structure]:
        chunks = [chunk for job in jobs for chunk in job.chunks]
        replies = self._complete_all(
            [self._prompt(c) for c in chunks],
            [self._answer_tokens([c]) for c in chunks],
            show_progress,
        )
        for chunk, reply in zip(chunks, replies, strict=True):
            self._read(chunk, reply)
        self._fallbacks(jobs)
        merged = [job for job in jobs if len(job.chunks) > 1]
        scope_replies = self._complete_all(
            [scope_messages([c.scope for c in job.chunks]) for job in merged],
            [32] * len(merged),
            False,
        )
        for job, reply in zip(merged, scope_replies, strict=True):
            job.scope = self._merged_scope(job, reply)
        return [self._assemble(job) for job in jobs]

    def _complete_all(
        self, prompts: list[Prompt], limits: list[int], show_progress: bool | None
    ) -> list[str]:
        """Replies in the order of ``prompts``; batches group prompts of similar answer length."""
        if not prompts:
            return []
        llm = self.llm
        batch = getattr(llm, "complete_batch", None)
        order = sorted(range(len(prompts)), key=lambda i: limits[i])
        groups = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        show = self.show_progress if show_progress is None else show_progress
        replies: list[str] = [""] * len(prompts)
        for group in progress(
            groups,
            desc="structurizing (LLM)",
            show=show if show is not None else len(prompts) >= 64,
        ):
            max_tokens = max(limits[i] for i in group)
            if callable(batch):
                answers = batch(
                    [prompts[i] for i in group], max_tokens=max_tokens, temperature=self.temperature
                )
            else:
                answers = [
                    llm.complete(prompts[i], max_tokens=max_tokens, temperature=self.temperature)
                    for i in group
                ]
            for i, answer in zip(group, answers, strict=True):
                replies[i] = answer
        return replies

    # -- async -----------------------------------------------------------------

    async def astructurize(self, text: str) -> Structure:
        """Async twin of [`structurize`][ctx_core.structure.llm.LLMStructurizer.structurize]: the LLM is called with ``acomplete``."""
        return (await self.astructurize_many([text]))[0]

    async def astructurize_many(self, texts: Sequence[str]) -> list[Structure]:
        """Async twin of [`structurize_many`][ctx_core.structure.llm.LLMStructurizer.structurize_many] (chunks are sent concurrently)."""
        jobs = [
            self._plan(text, validate_text(text, f"texts[{i}]")) for i, text in enumerate(texts)
        ]
        chunks = [chunk for job in jobs for chunk in job.chunks]
        llm = self.llm
        replies = await asyncio.gather(
            *(
                llm.acomplete(
                    self._prompt(c),
                    max_tokens=self._answer_tokens([c]),
                    temperature=self.temperature,
                )
                for c in chunks
            )
        )
        for chunk, reply in zip(chunks, replies, strict=True):
            self._read(chunk, reply)
        await asyncio.to_thread(self._fallbacks, jobs)
        merged = [job for job in jobs if len(job.chunks) > 1]
        scope_replies = await asyncio.gather(
            *(
                llm.acomplete(scope_messages([c.scope for c in job.chunks]), max_tokens=32)
                for job in merged
            )
        )
        for job, reply in zip(merged, scope_replies, strict=True):
            job.scope = self._merged_scope(job, reply)
        return [self._assemble(job) for job in jobs]

    # -- steps -----------------------------------------------------------------

    def _plan(self, source: str, sentences: list[Sentence]) -> _Job:
        """Cut the sentences into balanced chunks of at most about ``chunk_tokens`` tokens."""
        if not sentences:
            raise ValueError("sentences must not be empty")
        counter = self.counter or default_counter()
        sizes = [counter.count(s.text) + 4 for s in sentences]  # + the "[12] " label
        total = sum(sizes)
        parts = max(1, math.ceil(total / self.chunk_tokens))
        target = total / parts
        chunks: list[_Chunk] = []
        current: list[Sentence] = []
        used = 0
        offset = 0
        for sentence, size in zip(sentences, sizes, strict=True):
            if current and (used + size > self.chunk_tokens or used >= target):
                chunks.append(_Chunk(current, offset))
                offset += len(current)
                current, used = [], 0
            current.append(sentence)
            used += size
        chunks.append(_Chunk(current, offset))
        return _Job(source, sentences, chunks)

    def _prompt(self, chunk: _Chunk) -> Prompt:
        return structure_messages([s.text for s in chunk.sentences], examples=self.examples)

    def _answer_tokens(self, chunks: Sequence[_Chunk]) -> int:
        if self.max_tokens is not None:
            return self.max_tokens
        longest = max((len(c.sentences) for c in chunks), default=1)
        return min(1024, 64 + 12 * longest)

    def _read(self, chunk: _Chunk, reply: str) -> None:
        try:
            parsed = parse_structure(reply, [s.text for s in chunk.sentences], max_gap=self.max_gap)
        except StructureError as err:
            chunk.fallback = str(err)
            logger.info("LLM structure answer unusable (%s); using the fallback", err)
            return
        chunk.scope, chunk.aspects, chunk.repairs = parsed.scope, parsed.aspects, parsed.repairs

    def _fallbacks(self, jobs: Sequence[_Job]) -> None:
        for job in jobs:
            for chunk in job.chunks:
                if chunk.fallback is None:
                    continue
                structure = self.fallback.structurize_sentences(job.source, chunk.sentences)
                chunk.scope, chunk.aspects = structure.scope, list(structure.aspects)

    def _merged_scope(self, job: _Job, reply: str) -> str:
        line = next((x for x in reply.splitlines() if x.strip()), "")
        line = re.sub(r"^\s*(scope|topic|answer)\s*:\s*", "", line, flags=re.IGNORECASE)
        scope = " ".join(line.split()).strip(_SCOPE_JUNK)
        if scope and len(scope.split()) <= 12:
            return scope
        return keyword_scope([s.text for s in job.sentences])

    def _assemble(self, job: _Job) -> Structure:
        aspects: list[Aspect] = []
        for chunk in job.chunks:
            aspects.extend(_shift(a, chunk.offset) for a in chunk.aspects)
        fallbacks = [
            {"chunk": i, "reason": c.fallback} for i, c in enumerate(job.chunks) if c.fallback
        ]
        if not fallbacks:
            kind = "llm"
        elif len(fallbacks) == len(job.chunks):
            kind = self.fallback.name
        else:
            kind = f"llm+{self.fallback.name}"
        metadata: dict[str, Any] = {
            "structurizer": kind,
            "model": self.model_name,
            "chunks": len(job.chunks),
        }
        repairs = [r for c in job.chunks for r in c.repairs]
        if repairs:
            metadata["repairs"] = repairs
        if fallbacks:
            metadata["fallbacks"] = fallbacks
        scope = job.scope if len(job.chunks) > 1 else job.chunks[0].scope
        structure = Structure(
            scope=scope,
            aspects=tuple(aspects),
            sentences=tuple(job.sentences),
            source=job.source,
            metadata=metadata,
        )
        structure.validate()
        return structure


def _shift(aspect: Aspect, offset: int) -> Aspect:
    return Aspect(
        name=aspect.name,
        sentences=tuple(i + offset for i in aspect.sentences),
        subaspects=tuple(_shift(sub, offset) for sub in aspect.subaspects),
        title=aspect.title,
    )
