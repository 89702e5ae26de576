"""Reading an LLM's memory reply and finding its chunks in the source by their anchors.

The LLM names each chunk by *anchors* - its first and last few words - instead of
copying it. [`recover_spans`][ctx_core.memory.anchors.recover_spans] finds them in the source: an exact match first
(whitespace may differ), then a fuzzy match (rapidfuzz), then the fallback: a chunk
whose first words cannot be found starts where the previous chunk's last words end;
a chunk with neither is merged into its neighbour. The spans returned always tile the
range exactly; text that no anchor covers comes back as ``"uncovered"`` spans.

Examples:
    >>> from ctx_core.memory.anchors import parse_memory_reply, recover_spans
    >>> reply = '''<outline>
    ... 1. Cats
    ... 2. Dogs
    ... </outline>
    ... <scenario><chunk>Cats purr ... they nap.</chunk>Cats purr and nap.</scenario>
    ... <scenario><chunk>Dogs bark ... at night.</chunk>Dogs bark.</scenario>'''
    >>> parsed = parse_memory_reply(reply)
    >>> parsed.outline
    ['Cats', 'Dogs']
    >>> source = "Cats purr. Then they nap. Dogs bark at night."
    >>> [(s.start, s.end, s.recovery) for s in recover_spans(source, parsed.scenarios)]
    [(0, 26, 'exact'), (26, 45, 'exact')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ctx_core.errors import require
from ctx_core.memory.segments import count_words

__all__ = [
    "AnchorMatch",
    "ParsedMemory",
    "ParsedScenario",
    "RecoveredSpan",
    "find_anchor",
    "parse_memory_reply",
    "recover_spans",
]


@dataclass(frozen=True)
class ParsedScenario:
    """One scenario as the LLM wrote it.

    Attributes:
        head: The chunk's first words (its start anchor).
        tail: The chunk's last words (its end anchor; may be empty).
        core_content: The LLM's description of the chunk's core content.
    """

    head: str
    tail: str
    core_content: str


@dataclass(frozen=True)
class ParsedMemory:
    """An LLM memory reply, parsed.

    Attributes:
        outline: The outline headings, in order.
        scenarios: The scenarios, in order.
    """

    outline: list[str]
    scenarios: list[ParsedScenario]


_TAG_OUTLINE = re.compile(
    r"<outline>(.*?)(?:</outline>|(?=<scenario>|<chunk>)|\Z)", re.DOTALL | re.IGNORECASE
)
_TAG_CHUNK = re.compile(r"<chunk>(.*?)(?:</chunk>|\n|\Z)", re.DOTALL | re.IGNORECASE)
_TAGS = re.compile(r"</?(?:scenario|outline|chunk|document)>", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+(?:\.\d+)*[.):]?|#+)\s*")
# Lines a small model copies from the format example instead of filling in.
_TEMPLATE_ECHO = re.compile(
    r"^(?:heading of part \d+|(?:first|last) words of (?:the )?(?:part|chunk) \d*.*"
    r"|key information of part \d+)$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"\s*(?:\[MASK\]|\[\.\.\.\]|\.\.\.+|…|\[…\])\s*", re.IGNORECASE)

#: Longest anchor kept when an LLM copies a whole chunk instead of its first/last words.
_COPIED_ANCHOR_CHARS = 60


def parse_memory_reply(reply: str) -> ParsedMemory:
    """Parse a reply in the memory format (``<outline>``, ``<scenario>``, ``<chunk>`` tags).

    Lenient: missing closing tags are tolerated; a chunk written without a separator is
    taken as its first words only (or, when long, as a copied chunk whose first and last
    words become the anchors). Lines copied from the format example ("heading of part 1",
    "first words of part 1") are dropped. A reply with no ``<chunk>`` at all parses to no
    scenarios.
    """
    if not isinstance(reply, str):
        raise TypeError(f"reply must be a str, got {type(reply).__name__}")
    outline: list[str] = []
    match = _TAG_OUTLINE.search(reply)
    if match:
        for line in match.group(1).splitlines():
            title = _BULLET.sub("", _TAGS.sub("", line)).strip()
            if title and not _TEMPLATE_ECHO.match(title):
                outline.append(title)
    scenarios: list[ParsedScenario] = []
    chunks = list(_TAG_CHUNK.finditer(reply))
    for k, chunk in enumerate(chunks):
        stop = chunks[k + 1].start() if k + 1 < len(chunks) else len(reply)
        core = reply[chunk.end() : stop]
        core = core.split("<scenario>")[0].split("<SCENARIO>")[0]
        core = " ".join(_TAGS.sub(" ", core).split())
        head, tail = _split_anchor(chunk.group(1))
        head = "" if _TEMPLATE_ECHO.match(head) else head
        tail = "" if _TEMPLATE_ECHO.match(tail) else tail
        if _TEMPLATE_ECHO.match(core):
            core = ""
        if head or tail:
            scenarios.append(ParsedScenario(head, tail, core))
    return ParsedMemory(outline, scenarios)


def _split_anchor(text: str) -> tuple[str, str]:
    text = _TAGS.sub(" ", text).strip().strip("\"'“”")
    parts = [p.strip() for p in _SEPARATOR.split(text, maxsplit=1)]
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(text) > 2 * _COPIED_ANCHOR_CHARS:
        return text[:_COPIED_ANCHOR_CHARS], text[-_COPIED_ANCHOR_CHARS:]
    return text, ""


@dataclass(frozen=True)
class AnchorMatch:
    """Where an anchor was found.

    Attributes:
        start: Offset of the match in the source.
        end: Offset just after it.
        kind: ``"exact"`` (whitespace may differ) or ``"fuzzy"``.
        score: Similarity in [0, 100] (100 for exact matches).
    """

    start: int
    end: int
    kind: str
    score: float


def _same_length_lower(text: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def find_anchor(
    source: str,
    anchor: str,
    lo: int = 0,
    hi: int | None = None,
    *,
    fuzzy_threshold: float = 80.0,
    min_chars: int = 6,
    min_fuzzy_chars: int = 12,
) -> AnchorMatch | None:
    """Find ``anchor`` in ``source[lo:hi]``: exactly, then with any whitespace, then fuzzily.

    Args:
        source: The document.
        anchor: The words to find.
        lo: Search from here.
        hi: Search up to here (default: the end).
        fuzzy_threshold: Least rapidfuzz ``partial_ratio`` (0-100) a fuzzy match needs.
        min_chars: Anchors with fewer non-space characters are ignored (too ambiguous).
        min_fuzzy_chars: Shorter anchors must match exactly.

    Returns:
        The earliest exact match, else the best fuzzy match, else ``None``. A fuzzy match
        is widened to whole words.
    """
    hi = len(source) if hi is None else hi
    needle = anchor.strip()
    if len("".join(needle.split())) < min_chars or lo >= hi:
        return None
    position = source.find(needle, lo, hi)
    if position != -1:
        return AnchorMatch(position, position + len(needle), "exact", 100.0)
    pattern = re.compile(r"\s+".join(re.escape(word) for word in needle.split()))
    found = pattern.search(source, lo, hi)
    if found:
        return AnchorMatch(found.start(), found.end(), "exact", 100.0)
    if len(needle) < min_fuzzy_chars:
        return None
    require("rapidfuzz", "local", "Fuzzy anchor matching")
    from rapidfuzz import fuzz

    haystack = _same_length_lower(source[lo:hi])
    alignment = fuzz.partial_ratio_alignment(
        " ".join(_same_length_lower(needle).split()), haystack, score_cutoff=fuzzy_threshold
    )
    if alignment is None:
        return None
    start, end = lo + alignment.dest_start, lo + alignment.dest_end
    while start > lo and source[start - 1].isalnum() and source[start].isalnum():
        start -= 1
    while end < hi and source[end - 1].isalnum() and source[end].isalnum():
        end += 1
    return AnchorMatch(start, end, "fuzzy", float(alignment.score))


@dataclass(frozen=True)
class RecoveredSpan:
    """A span of the source and the scenario it belongs to.

    Attributes:
        start: Where the span starts.
        end: Where it ends (exclusive).
        scenario: Index of the parsed scenario, ``None`` for text no anchor covered.
        recovery: ``"exact"``, ``"fuzzy"``, ``"tail"`` (started where the previous
            chunk's end anchor ended) or ``"uncovered"``.
        merged: Scenarios that could not be placed and were merged into this one.
        end_confirmed: The span's end was found (its own end anchor, or the next
            chunk's start); ``False`` for a last chunk running to the end unconfirmed.
    """

    start: int
    end: int
    scenario: int | None
    recovery: str
    merged: tuple[int, ...] = ()
    end_confirmed: bool = True


@dataclass
class _Placed:
    scenario: int
    start: int
    kind: str
    tail_end: int | None
    merged: list[int] = field(default_factory=list)


def recover_spans(
    source: str,
    scenarios: Sequence[ParsedScenario],
    *,
    start: int = 0,
    end: int | None = None,
    fuzzy_threshold: float = 80.0,
    min_gap_words: int = 15,
) -> list[RecoveredSpan]:
    """Place each scenario in ``source[start:end]`` by its anchors; the spans tile that range.

    Fallback chain for a scenario's start: its first words exactly, then fuzzily; else,
    when its last words are found, the end of the previous scenario's last words (the
    start of the range for the first scenario); else the scenario is merged into the
    previous placed one (or the next, for leading scenarios). Scenarios must appear in
    order: each is searched after the previous one's start.

    Text before the first chunk, between one chunk's end anchor and the next chunk, or
    after the last end anchor becomes an ``"uncovered"`` span when it holds at least
    ``min_gap_words`` words; shorter leftovers join the neighbouring chunk.
    """
    stop = len(source) if end is None else end
    if not 0 <= start < stop <= len(source):
        raise ValueError(f"start/end must satisfy 0 <= start < end <= {len(source)}")
    placed: list[_Placed] = []
    waiting: list[int] = []  # scenarios placed nowhere yet (merged into the next placed one)
    cursor = start
    for i, scenario in enumerate(scenarios):
        head = find_anchor(source, scenario.head, cursor, stop, fuzzy_threshold=fuzzy_threshold)
        chunk_start: int | None = head.start if head else None
        kind = head.kind if head else ""
        tail_from = chunk_start if chunk_start is not None else cursor
        tail = find_anchor(source, scenario.tail, tail_from, stop, fuzzy_threshold=fuzzy_threshold)
        if chunk_start is None and tail is not None:
            # Fallback: the chunk starts where the previous chunk's end anchor ended (or at
            # the start of the range, for the first chunk) - if its own end anchor follows.
            previous_tail = placed[-1].tail_end if placed else start
            if previous_tail is not None and (not placed or placed[-1].start < previous_tail):
                candidate = previous_tail
                while candidate < tail.start and source[candidate].isspace():
                    candidate += 1
                if candidate < tail.end:
                    chunk_start, kind = candidate, "tail"
        if chunk_start is None:
            if placed:
                placed[-1].merged.append(i)
            else:
                waiting.append(i)
            continue
        placed.append(_Placed(i, chunk_start, kind, tail.end if tail else None, waiting))
        waiting = []
        cursor = head.end if head else chunk_start + 1
    if not placed:
        return [RecoveredSpan(start, stop, None, "uncovered")]

    spans: list[RecoveredSpan] = []
    first = placed[0].start
    least = max(min_gap_words, 1)  # an uncovered span always holds text
    if first > start and count_words(source[start:first]) >= least:
        spans.append(RecoveredSpan(start, first, None, "uncovered"))
    else:
        placed[0].start = start
    for k, item in enumerate(placed):
        following = placed[k + 1].start if k + 1 < len(placed) else stop
        chunk_end = following
        tail_end = item.tail_end
        gap_after = (
            tail_end is not None
            and item.start < tail_end < following
            and count_words(source[tail_end:following]) >= least
        )
        if gap_after:
            assert tail_end is not None
            chunk_end = tail_end
            # Whitespace after the end anchor stays with the chunk.
            while chunk_end < following and source[chunk_end].isspace():
                chunk_end += 1
        confirmed = k + 1 < len(placed) or (tail_end is not None and tail_end <= following)
        spans.append(
            RecoveredSpan(
                item.start, chunk_end, item.scenario, item.kind, tuple(item.merged), confirmed
            )
        )
        if gap_after:
            spans.append(RecoveredSpan(chunk_end, following, None, "uncovered"))
    return spans
