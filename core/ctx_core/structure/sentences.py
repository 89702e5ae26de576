"""Sentence splitting with exact character offsets, and the line structure around sentences.

Every [`Sentence`][ctx_core.structure.sentences.Sentence] is an exact slice of the source text
(``text[s.start:s.end] == s.text``), so a structure built on sentences can always
point back to where each description came from. The splitter is rule based (no
model): it knows common abbreviations, initials, decimal numbers, enumeration
markers and Markdown headings, and treats blank lines, headings and list items as
hard boundaries. Hard-wrapped paragraphs (one sentence across several lines) stay
whole.

Examples:
    >>> from ctx_core.structure.sentences import split_sentences
    >>> [s.text for s in split_sentences("Dr. Watson met Mr. Holmes at 3.15 p.m. today. It rained!")]
    ['Dr. Watson met Mr. Holmes at 3.15 p.m. today.', 'It rained!']
    >>> s = split_sentences("Title\\n\\nFirst one. Second one.")[2]
    >>> (s.text, s.start, s.end, s.block)
    ('Second one.', 18, 29, 1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "HEADING",
    "LIST_ITEM",
    "Sentence",
    "heading_level",
    "heading_text",
    "list_marker",
    "split_sentences",
]

#: A Markdown ATX heading line: ``## Title``.
HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(?P<title>.+?)[ \t#]*$")
#: An enumeration or bullet marker at the start of a line: ``- ``, ``* ``, ``1. ``, ``2) ``, ``(a) ``.
LIST_ITEM = re.compile(
    r"^(?P<indent>[ \t]*)(?P<marker>[-*+\u2022\u2023\u25e6]|\(?\d{1,3}[.)]|\(?[a-z][.)]|\([ivx]{1,4}\))[ \t]+(?=\S)"
)

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "mt", "ft", "gen", "col", "capt", "lt",
    "sgt", "rev", "hon", "gov", "pres", "sen", "rep", "messrs", "mme", "mlle",
    "vs", "etc", "e.g", "i.e", "cf", "al", "viz", "approx", "ca", "fig", "figs", "eq", "eqs",
    "no", "nos", "vol", "vols", "pp", "p", "ch", "sec", "art", "ed", "eds", "ref", "refs",
    "inc", "ltd", "co", "corp", "dept", "univ", "assn", "bros",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "a.m", "p.m", "u.s", "u.k", "u.s.a", "ph.d", "b.c", "a.d",
}  # fmt: skip
# Abbreviations that often end a sentence too: split after them when a capital follows.
_MAY_END = {"etc", "al", "inc", "ltd", "co", "corp", "a.m", "p.m", "u.s", "u.k", "u.s.a", "a.d", "b.c"}  # fmt: skip

_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*")
_CANDIDATE = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)")
_OPENERS = "\"'\u201c\u2018([*#-"
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


@dataclass(frozen=True)
class Sentence:
    """One sentence: its exact text and where it sits in the source.

    Attributes:
        text: The sentence, an exact slice ``source[start:end]``.
        start: Offset of its first character in the source.
        end: Offset just after its last character.
        block: Index of the block (paragraph, heading line or list item) it belongs to.
        kind: ``"text"``, ``"heading"`` (a heading line) or ``"item"`` (the first
            sentence of a list item).
        level: For headings, the Markdown level (1-6, or 7 for a plain title line);
            for list items, the indentation in columns; else 0.
    """

    text: str
    start: int
    end: int
    block: int = 0
    kind: str = "text"
    level: int = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "block": self.block,
            "kind": self.kind,
            "level": self.level,
        }


def heading_level(line: str) -> int:
    """Markdown heading level of ``line`` (1-6), or 0 when it is not a heading.

    Examples:
        >>> heading_level("## Results"), heading_level("Results.")
        (2, 0)
    """
    match = HEADING.match(line)
    return len(match.group(1)) if match else 0


def heading_text(line: str) -> str:
    """A heading line without its Markdown markers and surrounding white space.

    Examples:
        >>> heading_text("## Results ##"), heading_text("  CHAPTER I ")
        ('Results', 'CHAPTER I')
    """
    match = HEADING.match(line)
    return " ".join((match.group("title") if match else line).split())


def list_marker(line: str) -> str | None:
    """The enumeration marker ``line`` starts with (``"1."``, ``"-"``, ``"(a)"``), else ``None``.

    Examples:
        >>> list_marker("  2) Seed disinfection."), list_marker("2019 was a good year.")
        ('2)', None)
    """
    match = LIST_ITEM.match(line)
    return match.group("marker") if match else None


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences with exact offsets.

    Blocks are separated by blank lines; a heading line or a list item always
    starts a new block, even without a blank line before it. Inside a block,
    a sentence ends at ``.``, ``!``, ``?`` or ``...`` (with closing quotes or
    brackets) followed by white space, unless the word before is a known
    abbreviation or an initial, or the next word starts in lower case in text that
    otherwise uses capitals. Whitespace between sentences belongs to no sentence.

    Args:
        text: Any text.

    Returns:
        The sentences in order; ``[]`` for empty or blank text.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    caseless = _is_caseless(text)
    sentences: list[Sentence] = []
    for block, (start, end, kind, level) in enumerate(_blocks(text)):
        for a, b in _split_block(text, start, end, caseless):
            first = a == start
            sentences.append(
                Sentence(
                    text=text[a:b],
                    start=a,
                    end=b,
                    block=block,
                    kind=kind if first or kind == "heading" else "text",
                    level=level if first else 0,
                )
            )
    return sentences


def _is_caseless(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    return sum(c.isupper() for c in letters) < 0.01 * len(letters)


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    lines = []
    position = start
    while position < end:
        newline = text.find("\n", position, end)
        stop = end if newline == -1 else newline
        lines.append((position, stop))
        position = stop + 1
    return lines


def _blocks(text: str) -> list[tuple[int, int, str, int]]:
    """(start, end, kind, level) of each block, stripped of surrounding white space."""
    blocks: list[tuple[int, int, str, int]] = []
    position = 0
    for match in [*_BLOCK_BREAK.finditer(text), None]:
        stop = match.start() if match else len(text)
        blocks.extend(_split_paragraph(text, position, stop))
        if match:
            position = match.end()
    return blocks


def _split_paragraph(text: str, start: int, end: int) -> list[tuple[int, int, str, int]]:
    """Cut a paragraph at heading lines and list items; plain lines continue the block."""
    pieces: list[tuple[int, int, str, int]] = []
    lines = [(a, b) for a, b in _lines(text, start, end) if text[a:b].strip()]
    if not lines:
        return pieces
    single_line = len(lines) == 1
    for a, b in lines:
        line = text[a:b]
        level = heading_level(line)
        marker = list_marker(line)
        if level:
            pieces.append((a, b, "heading", level))
        elif marker is not None:
            indent = len(line) - len(line.lstrip())
            pieces.append((a, b, "item", indent))
        elif single_line and _looks_like_title(line):
            pieces.append((a, b, "heading", 7))
        elif pieces and pieces[-1][2] != "heading":
            pieces[-1] = (pieces[-1][0], b, pieces[-1][2], pieces[-1][3])
        else:
            pieces.append((a, b, "text", 0))
    result = []
    for a, b, kind, level in pieces:
        lead = len(text[a:b]) - len(text[a:b].lstrip())
        trail = len(text[a:b].rstrip())
        result.append((a + lead, a + trail, kind, level))
    return result


def _looks_like_title(line: str) -> bool:
    """A short line of its own with no closing punctuation (``CHAPTER I``, ``Methods``)."""
    stripped = line.strip()
    words = stripped.split()
    if not words or len(words) > 12 or len(stripped) > 100:
        return False
    if stripped[-1] in ".!?,;:\u2026\"'\u201d\u2019)":
        return False
    return stripped[0].isupper() or stripped[0].isdigit()


def _split_block(text: str, start: int, end: int, caseless: bool) -> list[tuple[int, int]]:
    segment = text[start:end]
    spans = []
    begin = 0
    for match in _CANDIDATE.finditer(segment):
        stop = match.end()
        nxt = _next_nonspace(segment, stop)
        if nxt == -1:
            break
        if not _is_boundary(segment, begin, match.start(), stop, nxt, caseless):
            continue
        spans.append((begin, stop))
        begin = nxt
    if begin < len(segment):
        spans.append((begin, len(segment.rstrip())))
    return [(start + a, start + b) for a, b in spans if b > a]


def _next_nonspace(segment: str, position: int) -> int:
    for i in range(position, len(segment)):
        if not segment[i].isspace():
            return i
    return -1


def _is_boundary(segment: str, begin: int, punct: int, stop: int, nxt: int, caseless: bool) -> bool:
    following = segment[nxt]
    mark = segment[punct]
    before = segment[begin:punct]
    if mark == "." and punct + 1 == stop:  # a lone period (no quote or bracket after it)
        word_match = _WORD_BEFORE.search(segment[begin : punct + 1])
        word = word_match.group(1).lower() if word_match else ""
        abbreviation = word and (word in _ABBREVIATIONS or word.rstrip(".") in _ABBREVIATIONS)
        if abbreviation and not (word.rstrip(".") in _MAY_END and following.isupper()):
            return False
        if word_match and len(word_match.group(1)) == 1 and word_match.group(1).isupper():
            return False  # an initial: "J. Smith"
        if not before.strip():  # nothing before the period: an enumeration marker "1."
            return False
        stripped = before.strip()
        if len(stripped) <= 3 and stripped.rstrip(".").isdigit():
            return False
    if following.isupper() or following.isdigit() or following in _OPENERS:
        return True
    if segment[punct - 1 : punct].isspace():  # tokenized text: "... the end .  the next"
        return True
    return caseless and following.isalpha()
