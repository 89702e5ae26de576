"""Text units (paragraphs, lines, sentences) with exact offsets, and heading detection.

Every span is a ``(start, end)`` pair of offsets into the text it came from and never
includes surrounding whitespace.

Examples:
    >>> from ctx_core.memory.segments import sentence_spans, unit_spans
    >>> text = "One. Two!\\n\\nThree four."
    >>> [text[a:b] for a, b in unit_spans(text)]
    ['One. Two!', 'Three four.']
    >>> [text[a:b] for a, b in sentence_spans(text, 0, 9)]
    ['One.', 'Two!']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ctx_core.scoring.bm25 import ENGLISH_STOPWORDS

__all__ = [
    "Heading",
    "count_words",
    "find_headings",
    "keywords",
    "sentence_spans",
    "unit_spans",
    "word_set",
]

Span = tuple[int, int]

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
# A sentence ends at . ! ? or … (plus closing quotes) before a capital; a line break ends
# one only before a list item or a "Speaker:" label (hard-wrapped prose keeps its lines).
_SENTENCE_END = re.compile(
    r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]*[A-Z0-9À-Ý])"
    r"|\n+(?=[ \t]*(?:[-*•][ \t]|\d+[.)][ \t]|[A-Z][\w.'’ -]{0,30}:[ \t]))"
)
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "prof",
        "sr",
        "jr",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "fig",
        "no",
        "mt",
        "capt",
        "col",
        "gen",
        "lt",
        "sgt",
        "rev",
        "hon",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def count_words(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def _trimmed(text: str, start: int, end: int) -> Span | None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(stripped)


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[Span]:
    spans: list[Span] = []
    position = start
    for match in pattern.finditer(text, start, end):
        span = _trimmed(text, position, match.start())
        if span:
            spans.append(span)
        position = match.end()
    span = _trimmed(text, position, end)
    if span:
        spans.append(span)
    return spans


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of ``text[start:end]`` (list items and ``Speaker:`` lines count as sentences).

    A period after a common abbreviation (``Mr.``, ``Dr.``, ``e.g.``) does not end a sentence.
    """
    spans = _split(text, start, len(text) if end is None else end, _SENTENCE_END)
    merged: list[Span] = []
    for span in spans:
        if merged:
            previous = text[merged[-1][0] : merged[-1][1]]
            last_word = previous.rsplit(None, 1)[-1].lower().rstrip(".") if previous else ""
            if previous.endswith(".") and last_word in _ABBREVIATIONS:
                merged[-1] = (merged[-1][0], span[1])
                continue
        merged.append(span)
    return merged


def unit_spans(
    text: str, start: int = 0, end: int | None = None, max_words: int = 120
) -> list[Span]:
    """The units topic segmentation works on.

    Paragraphs (separated by blank lines); a text with few blank lines but many lines
    (a chat log, a list) is split into lines; a unit longer than ``max_words`` is split
    into sentences.
    """
    stop = len(text) if end is None else end
    paragraphs = _split(text, start, stop, _BLANK_LINE)
    lines = _split(text, start, stop, re.compile(r"\n"))
    if len(lines) >= 3 * max(len(paragraphs), 1):
        paragraphs = lines
    units: list[Span] = []
    for a, b in paragraphs:
        if count_words(text[a:b]) > max_words:
            units.extend(sentence_spans(text, a, b))
        else:
            units.append((a, b))
    return units


@dataclass(frozen=True)
class Heading:
    """A heading line found in a document.

    Attributes:
        start: Offset where the heading line starts (the section starts here).
        end: Offset where the heading text ends (after a chapter line's title line).
        title: The heading text, cleaned of markup.
        level: 1 for top-level headings.
    """

    start: int
    end: int
    title: str
    level: int


_MARKDOWN = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_CHAPTER = re.compile(
    r"^(?:CHAPTER|Chapter|PART|Part|BOOK|Book|SECTION|Section|ACT|Act)[ \t]+"
    r"(?:[IVXLC]+|\d+|[A-Z][a-z]+)\b[.:]?[ \t]*(.{0,80})$"
)
_NUMBERED = re.compile(r"^(\d+(?:\.\d+){0,3})\.?[ \t]+([A-Z][^.!?]{1,80})$")
_UNDERLINE = re.compile(r"^(=+|-+)[ \t]*$")


def _is_caps_title(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    words = line.split()
    return (
        len(letters) >= 4
        and all(c.isupper() for c in letters)
        and 1 <= len(words) <= 12
        and not line.rstrip().endswith((",", ";"))
    )


def find_headings(text: str) -> list[Heading]:
    """Heading lines of ``text``: Markdown ``#`` headings, underlined (setext) headings,
    chapter/part lines, numbered section titles and isolated ALL-CAPS title lines.

    A heading must stand on its own line with a blank line (or the text's start or end)
    before it and after it (or, for Markdown headings, anything after it). A chapter line
    directly followed by an ALL-CAPS title becomes one heading (``"CHAPTER I: THE TITLE"``).
    """
    lines: list[tuple[int, int, str]] = []
    position = 0
    for raw in text.split("\n"):
        lines.append((position, position + len(raw), raw))
        position += len(raw) + 1

    def blank(i: int) -> bool:
        return i < 0 or i >= len(lines) or not lines[i][2].strip()

    headings: list[Heading] = []
    skip: set[int] = set()
    for i, (a, _b, raw) in enumerate(lines):
        if i in skip:
            continue
        line = raw.strip()
        if not line or len(line) > 100:
            continue
        lead = a + len(raw) - len(raw.lstrip())
        end = lead + len(line)
        markdown = _MARKDOWN.match(line)
        if markdown and blank(i - 1):
            headings.append(Heading(lead, end, markdown.group(2).strip(), len(markdown.group(1))))
            continue
        if not blank(i - 1):
            continue
        nxt = lines[i + 1][2].strip() if i + 1 < len(lines) else ""
        if nxt and _UNDERLINE.match(nxt) and len(nxt) >= max(3, len(line) // 2) and blank(i + 2):
            level = 1 if nxt.startswith("=") else 2
            headings.append(Heading(lead, end, line, level))
            skip.add(i + 1)
            continue
        if not blank(i + 1):
            continue
        chapter = _CHAPTER.match(line)
        if chapter:
            title = line
            # A chapter line followed (after blank lines) by an ALL-CAPS title line.
            j = i + 1
            while j < len(lines) and blank(j) and j - i <= 3:
                j += 1
            if j < len(lines) and blank(j + 1) and _is_caps_title(lines[j][2].strip()):
                title = f"{line}: {lines[j][2].strip()}"
                skip.add(j)
                end = lines[j][0] + len(lines[j][2].rstrip())
            headings.append(Heading(lead, end, title, 1))
            continue
        numbered = _NUMBERED.match(line)
        if numbered:
            headings.append(Heading(lead, end, line, numbered.group(1).count(".") + 1))
            continue
        if _is_caps_title(line):
            headings.append(Heading(lead, end, line, 2))
    return headings


_STOPWORDS = ENGLISH_STOPWORDS | frozenset(
    [
        "also",
        "amazing",
        "awesome",
        "cool",
        "could",
        "definitely",
        "get",
        "go",
        "going",
        "gonna",
        "good",
        "got",
        "gotta",
        "great",
        "hey",
        "hi",
        "know",
        "let",
        "like",
        "lot",
        "lots",
        "many",
        "much",
        "oh",
        "ok",
        "okay",
        "one",
        "really",
        "said",
        "say",
        "says",
        "something",
        "sure",
        "thank",
        "thanks",
        "thing",
        "things",
        "think",
        "totally",
        "two",
        "wanna",
        "way",
        "well",
        "wow",
        "yeah",
        "yes",
        "yourselves",
    ]
)


def keywords(text: str, document_frequency: dict[str, int], n_docs: int, top: int = 4) -> list[str]:
    """The ``top`` most distinctive words of ``text`` (tf-idf against a set of texts)."""
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}
    for match in _WORD.finditer(text):
        word = match.group(0)
        key = word.lower()
        if key in _STOPWORDS or len(key) < 3 or key.isdigit():
            continue
        counts[key] = counts.get(key, 0) + 1
        if key not in shown or word[0].isupper():
            shown[key] = word
    scored = sorted(
        counts,
        key=lambda k: -counts[k] * math.log((1 + n_docs) / max(document_frequency.get(k, 0), 1)),
    )
    return [shown[k] for k in scored[:top]]


def word_set(text: str) -> set[str]:
    """Lower-cased content words of ``text`` (for document frequencies)."""
    return {
        w.lower()
        for w in _WORD.findall(text)
        if w.lower() not in _STOPWORDS and len(w) >= 3 and not w.isdigit()
    }
