"""Prompt layout and tokenization of the in-context ranker.

A ranking prompt has three kinds of blocks, tokenized one by one so each block's tokens do
not depend on its neighbours:

1. the **instruction** (with the query), preceded by the chat template's opening when the
   model has one;
2. one **candidate** block per passage: an id line, the passage text cut to fit the
   per-block token limit, an end-of-id line;
3. the final **query** block: the query again, the chat template's closing and generation
   prompt, and an answer opening whose last tokens are the *signal tokens*. For calibration
   a twin of this block carries a content-free query (``"N/A"``) instead.

[`PromptBuilder`][ctx_core.incontext.layout.PromptBuilder] turns ``(query, passages)`` into a [`RankingPrompt`][ctx_core.incontext.layout.RankingPrompt]: token ids,
the [`SegmentStructure`][ctx_core.incontext.segments.SegmentStructure] (segments and position ids), and
where the signal tokens are.

Examples:
    >>> t = PromptTemplate()
    >>> t.candidate_parts("3")
    ('\\nID: [3]\\n', '\\nEND ID: [3]')
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ctx_core.incontext.segments import SegmentStructure

__all__ = ["PromptBuilder", "PromptTemplate", "RankingPrompt", "SignalChoice"]

logger = logging.getLogger(__name__)

#: Which tokens of a query block are the signal: the last ``n`` tokens, or ``"query"`` for
#: the tokens of the query text inside the block.
SignalChoice = int | Literal["query"]

_MARK = "\u2063CTXSPLIT\u2063"


@dataclass(frozen=True)
class PromptTemplate:
    """The wording of the ranking prompt (the structure is fixed, the words are yours).

    Attributes:
        instruction: Text of the instruction block; ``{query}`` is replaced by the query
            (leave it out to keep the query out of the candidates' view, as ICR does).
        candidate: A candidate block; must contain ``{content}`` once; ``{label}`` is the
            candidate's id.
        query: The final query block's text; must contain ``{query}``.
        answer: Opening of the answer, after the chat template's generation prompt; its last
            tokens are the default signal tokens.
        calibration_query: The content-free query of the calibration block.
        fixed_instruction: The instruction of the query-free layout
            (``PromptBuilder(query_in_instruction=False)``): fixed text without the query,
            so a candidate's states do not depend on the query and can be cached
            (see [`ctx_core.incontext.states`][ctx_core.incontext.states]).

    Examples:
        >>> PromptTemplate(query="Q: {query}").query
        'Q: {query}'
    """

    instruction: str = (
        "You will be given a search query and a list of passages. Each passage starts with "
        "its ID and ends with END ID. Read all of them and find the passages that best answer "
        "the query.\nQuery: {query}\n\nPassages:"
    )
    candidate: str = "\nID: [{label}]\n{content}\nEND ID: [{label}]"
    query: str = (
        "\n\nQuery: {query}\nWhich passage answers the query best? Answer with the ID of the "
        "passage."
    )
    answer: str = "The most relevant passage is ID: ["
    calibration_query: str = "N/A"
    fixed_instruction: str = (
        "You will be given a list of passages and then a search query. Each passage starts "
        "with its ID and ends with END ID. Read all of them and find the passages that best "
        "answer the query.\n\nPassages:"
    )

    def __post_init__(self) -> None:
        if self.candidate.count("{content}") != 1:
            raise ValueError("template.candidate must contain '{content}' exactly once")
        if self.query.count("{query}") != 1:
            raise ValueError("template.query must contain '{query}' exactly once")
        if not self.calibration_query.strip():
            raise ValueError("template.calibration_query must not be empty")
        if "{query}" in self.fixed_instruction:
            raise ValueError("template.fixed_instruction must not contain '{query}'")

    def candidate_parts(self, label: str) -> tuple[str, str]:
        """Text before and after the passage content in a candidate block."""
        before, after = self.candidate.split("{content}")
        return before.replace("{label}", label), after.replace("{label}", label)

    def query_parts(self) -> tuple[str, str]:
        """Text before and after the query in the final block."""
        before, after = self.query.split("{query}")
        return before, after


@dataclass(frozen=True)
class RankingPrompt:
    """One tokenized ranking prompt (one forward pass).

    Attributes:
        input_ids: All token ids, block after block.
        structure: Segment lengths, attention pattern and position ids.
        labels: The id shown in each candidate block.
        truncated: Whether each candidate's text was cut to fit the block limit.
        query_text_spans: For each query block, the ``(start, stop)`` token indices of the
            query text inside it (the calibration block: of the content-free query).
    """

    input_ids: tuple[int, ...]
    structure: SegmentStructure
    labels: tuple[str, ...]
    truncated: tuple[bool, ...]
    query_text_spans: tuple[tuple[int, int], ...]

    def signal_rows(self, signal: SignalChoice, block: int = 0) -> list[int]:
        """Token indices of the signal tokens of query block ``block``."""
        start, stop = self.structure.query_span(block)
        if signal == "query":
            a, b = self.query_text_spans[block]
            return list(range(a, b))
        if not isinstance(signal, int) or isinstance(signal, bool) or signal < 1:
            raise ValueError(f"signal must be a positive int or 'query', got {signal!r}")
        return list(range(max(start, stop - signal), stop))


@dataclass
class _Tokenized:
    ids: list[int]
    truncated: bool = False


@dataclass
class PromptBuilder:
    """Builds [`RankingPrompt`][ctx_core.incontext.layout.RankingPrompt] objects with a model's tokenizer.

    Args:
        tokenizer: A Hugging Face tokenizer.
        template: The wording (default [`PromptTemplate`][ctx_core.incontext.layout.PromptTemplate]).
        max_block_tokens: Token limit of a candidate block (id lines included); passage text
            beyond it is cut, with a logged warning naming the passages.
        use_chat_template: Wrap the prompt in the tokenizer's chat template (default: when
            it has one).
        query_offset: Position id where the query blocks start (block-sparse mode).
        max_positions: The model's largest usable position + 1; a query block that would run
            past it starts earlier (logged once).
        query_in_instruction: Put the query in the instruction (``template.instruction``, the
            default) or use the query-free ``template.fixed_instruction``: the query then
            appears only in the query blocks and every candidate's states are the same for
            every query.

    Examples:
        >>> builder = PromptBuilder(tokenizer)  # doctest: +SKIP
        >>> prompt = builder.build("who wrote Hamlet?", ["Hamlet is by Shakespeare."])  # doctest: +SKIP
        >>> prompt.structure.num_candidates  # doctest: +SKIP
        1
    """

    tokenizer: Any
    template: PromptTemplate = field(default_factory=PromptTemplate)
    max_block_tokens: int = 160
    use_chat_template: bool | None = None
    query_offset: int = 8192
    max_positions: int | None = None
    query_in_instruction: bool = True

    def __post_init__(self) -> None:
        if self.max_block_tokens < 8:
            raise ValueError(f"max_block_tokens must be >= 8, got {self.max_block_tokens}")
        if self.query_offset < 1:
            raise ValueError(f"query_offset must be >= 1, got {self.query_offset}")
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        if self.use_chat_template is None:
            self.use_chat_template = has_template
        elif self.use_chat_template and not has_template:
            raise ValueError("use_chat_template=True but the tokenizer has no chat template")
        self._chat_prefix, self._chat_suffix = "", ""
        if self.use_chat_template:
            rendered = str(
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": _MARK}], tokenize=False, add_generation_prompt=True
                )
            )
            if rendered.count(_MARK) != 1:
                raise ValueError("could not locate the user message in the chat template")
            self._chat_prefix, self._chat_suffix = rendered.split(_MARK)
        self._leading_special = self._leading_special_ids()
        self._offset_warned = False

    # -- tokenization -----------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _leading_special_ids(self) -> list[int]:
        """The special tokens (e.g. BOS) a plain-text prompt starts with."""
        if self.use_chat_template:
            return []  # a chat template writes them itself
        plain = self._encode("a")
        full = list(self.tokenizer.encode("a", add_special_tokens=True))
        if len(full) > len(plain) and full[len(full) - len(plain) :] == plain:
            return full[: len(full) - len(plain)]
        return []

    def instruction_ids(self, query: str) -> list[int]:
        """Token ids of the instruction block for ``query`` (ignored in the query-free layout)."""
        if self.query_in_instruction:
            body = self.template.instruction.replace("{query}", query)
        else:
            body = self.template.fixed_instruction
        return self._leading_special + self._encode(self._chat_prefix + body)

    def candidate_ids(self, label: str, text: str) -> _Tokenized:
        """Token ids of one candidate block (text cut to fit ``max_block_tokens``)."""
        before, after = self.template.candidate_parts(label)
        head, tail = self._encode(before), self._encode(after)
        room = self.max_block_tokens - len(head) - len(tail)
        if room < 1:
            raise ValueError(
                f"max_block_tokens={self.max_block_tokens} leaves no room for passage text "
                f"after the id lines ({len(head) + len(tail)} tokens)"
            )
        content = self._encode(text.strip())
        cut = len(content) > room
        return _Tokenized(head + content[:room] + tail, truncated=cut)

    def query_block_ids(self, query: str) -> tuple[list[int], tuple[int, int]]:
        """Token ids of a final query block and the span of the query text inside it."""
        before, after = self.template.query_parts()
        head = self._encode(before)
        body = self._encode(query)
        tail = self._encode(after + self._chat_suffix + self.template.answer)
        if not body:
            raise ValueError("the query encodes to no tokens")
        return head + body + tail, (len(head), len(head) + len(body))

    # -- prompts ----------------------------------------------------------

    def build(
        self,
        query: str,
        texts: Sequence[str],
        labels: Sequence[str] | None = None,
        *,
        calibrate: bool = False,
        causal: bool = False,
    ) -> RankingPrompt:
        """Tokenize one ranking prompt.

        Args:
            query: The search query.
            texts: Candidate passage texts, in block order.
            labels: The id shown in each block (default ``"1"``, ``"2"``, ...).
            calibrate: Add the content-free twin of the query block (for calibration).
            causal: Lay the prompt out for ordinary causal attention (the baseline).
        """
        if labels is None:
            labels = [str(i + 1) for i in range(len(texts))]
        if len(labels) != len(texts):
            raise ValueError(f"labels ({len(labels)}) and texts ({len(texts)}) differ in length")
        instruction = self.instruction_ids(query)
        blocks = [
            self.candidate_ids(str(label), text) for label, text in zip(labels, texts, strict=True)
        ]
        queries = [self.query_block_ids(query)]
        if calibrate:
            queries.append(self.query_block_ids(self.template.calibration_query))
        cut = [str(label) for label, b in zip(labels, blocks, strict=True) if b.truncated]
        if cut:
            logger.warning(
                "%d passage(s) cut to max_block_tokens=%d: ids %s",
                len(cut),
                self.max_block_tokens,
                ", ".join(cut[:20]) + (" ..." if len(cut) > 20 else ""),
            )
        query_lengths = tuple(len(ids) for ids, _ in queries)
        structure = SegmentStructure(
            instruction_length=len(instruction),
            candidate_lengths=tuple(len(b.ids) for b in blocks),
            query_lengths=query_lengths,
            query_offset=self._offset(len(instruction), max(query_lengths)),
            causal=causal,
        )
        ids = list(instruction)
        for block in blocks:
            ids.extend(block.ids)
        spans = []
        for j, (q_ids, (first, stop)) in enumerate(queries):
            start = structure.query_span(j)[0]
            spans.append((start + first, start + stop))
            ids.extend(q_ids)
        return RankingPrompt(
            input_ids=tuple(ids),
            structure=structure,
            labels=tuple(str(label) for label in labels),
            truncated=tuple(b.truncated for b in blocks),
            query_text_spans=tuple(spans),
        )

    def _offset(self, instruction_length: int, query_length: int) -> int:
        offset = max(self.query_offset, instruction_length + self.max_block_tokens)
        if self.max_positions is not None and offset + query_length > self.max_positions:
            capped = max(instruction_length, self.max_positions - query_length)
            if not self._offset_warned:
                logger.info(
                    "query_offset %d + query block %d exceeds the model's %d positions; using %d",
                    offset,
                    query_length,
                    self.max_positions,
                    capped,
                )
                self._offset_warned = True
            offset = capped
        return offset
