"""Read an LLM's structure answer: extract the YAML, validate it, repair small faults.

The answer names a scope and aspects that cover 1-based sentence ranges. This
module turns it into [`Aspect`][ctx_core.structure.tree.Aspect] objects over 0-based
sentence indices, or raises [`StructureParseError`][ctx_core.structure.parse.StructureParseError] when it cannot be trusted.

What is repaired (each repair is reported):

* a truncated answer: trailing lines that do not parse are dropped;
* ranges written as ``3-5``, ``"3 to 5"``, ``[3, 5]``, ``{start: 3, end: 5}`` or ``4``;
  ranges reaching past the last sentence (clipped); reversed ranges (ignored);
* overlaps (the later aspect starts after the earlier one ends);
* gaps of at most ``max_gap`` sentences (given to the aspect before them, or to the
  first aspect at the start);
* sub-aspects of one sentence (merged into a neighbour), a single sub-aspect
  (dropped: its parent keeps the sentences), missing names (key phrases) and a
  missing scope.

What is not (the structurizer falls back instead): no YAML at all, no usable
aspect, a longer run of sentences no aspect covers, or an answer that copies a
worked example of the prompt.

Examples:
    >>> from ctx_core.structure.parse import parse_structure
    >>> reply = "scope: pets\\naspects:\\n  - name: cats\\n    sentences: 1-2\\n  - name: dogs\\n    sentences: 3-4"
    >>> parsed = parse_structure(reply, ["Cats purr.", "Cats nap.", "Dogs bark.", "Dogs run."])
    >>> parsed.scope, [(a.name, a.sentences) for a in parsed.aspects], parsed.repairs
    ('pets', [('cats', (0, 1)), ('dogs', (2, 3))], [])
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import yaml

from ctx_core.structure.keywords import join_phrases, key_phrases
from ctx_core.structure.prompts import EXAMPLE_SCOPES
from ctx_core.structure.tree import Aspect, StructureError

__all__ = ["ParsedStructure", "StructureParseError", "extract_yaml", "parse_structure"]

_FENCE = re.compile(r"```[ \t]*(?:ya?ml)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_KEY_LINE = re.compile(r"^[A-Za-z_][\w ]*:")
_NUMBER = re.compile(r"\d+")
_NAME_JUNK = " \t\"'`*_#:.;,-"
_MAX_DEPTH = 3


class StructureParseError(StructureError):
    """An LLM's structure answer is unusable (the reason says why)."""


@dataclass
class ParsedStructure:
    """A validated, repaired answer.

    Attributes:
        scope: The scope (from the answer, or key phrases when it gave none).
        aspects: Aspects over 0-based indices of the sentences given to the parser,
            covering each exactly once in order.
        repairs: What was fixed, in words (empty when the answer was clean).
    """

    scope: str
    aspects: list[Aspect]
    repairs: list[str] = field(default_factory=list)


@dataclass
class _Span:
    name: str | None
    start: int
    end: int
    children: list[_Span] = field(default_factory=list)


def extract_yaml(reply: str) -> str:
    """The YAML part of ``reply``: a fenced block if any, from its ``scope:``/``aspects:`` line on.

    Raises:
        StructureParseError: No line starts with ``scope:`` or ``aspects:``.
    """
    fenced = _FENCE.search(reply)
    text = fenced.group(1) if fenced else reply
    lines = text.splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if line.strip().lower().startswith(("scope:", "aspects:", "scope :"))
        ),
        None,
    )
    if start is None:
        raise StructureParseError("the answer has no YAML with 'scope:' or 'aspects:'")
    kept = []
    for line in lines[start:]:
        stripped = line.strip()
        top_level = stripped and line == line.lstrip() and not stripped.startswith(("-", "#"))
        if top_level and not _KEY_LINE.match(stripped):
            break  # prose after the YAML
        kept.append(line)
    return "\n".join(kept)


def _load(text: str, repairs: list[str]) -> dict[str, Any]:
    lines = text.splitlines()
    for cut in range(len(lines), 0, -1):
        try:
            data = yaml.safe_load("\n".join(lines[:cut]))
        except yaml.YAMLError:
            continue
        if isinstance(data, dict):
            if cut < len(lines):
                repairs.append(f"dropped {len(lines) - cut} unparsable trailing line(s)")
            return data
    raise StructureParseError("the YAML does not parse into a mapping")


def _get(mapping: Mapping[str, Any], *names: str) -> Any:
    wanted = {n.replace("_", "").lower() for n in names}
    for key, value in mapping.items():
        if isinstance(key, str) and key.replace("_", "").replace(" ", "").lower() in wanted:
            return value
    return None


def _parse_range(value: Any) -> tuple[int, int] | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, float) and value.is_integer():
        return int(value), int(value)
    if isinstance(value, str):
        numbers = [int(n) for n in _NUMBER.findall(value)]
    elif isinstance(value, (list, tuple)):
        numbers = []
        for item in value:
            found = _parse_range(item)
            if found:
                numbers.extend(found)
    elif isinstance(value, Mapping):
        start, end = _get(value, "start", "from", "first"), _get(value, "end", "to", "last")
        first, last = _parse_range(start), _parse_range(end)
        if first and last:
            return first[0], last[1]
        return first or last
    else:
        return None
    if not numbers:
        return None
    if isinstance(value, str) and len(numbers) == 2:
        return numbers[0], numbers[1]
    return min(numbers), max(numbers)


def _clean_name(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = " ".join(str(value).split()).strip(_NAME_JUNK)
    if len(text) > 100:
        text = text[:100].rsplit(" ", 1)[0]
    return text or None


def _read_spans(items: Any, depth: int, repairs: list[str]) -> list[_Span]:
    if items is None:
        return []
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        repairs.append(f"ignored aspects given as {type(items).__name__}")
        return []
    spans = []
    for item in items:
        if not isinstance(item, Mapping):
            repairs.append(f"ignored an aspect that is not a mapping: {item!r:.40}")
            continue
        name = _clean_name(_get(item, "name", "aspect", "aspectname", "title", "topic"))
        own = _parse_range(_get(item, "sentences", "sentencerange", "range", "sentence", "lines"))
        children = (
            _read_spans(
                _get(item, "subaspects", "sub_aspects", "children", "aspects"), depth + 1, repairs
            )
            if depth < _MAX_DEPTH
            else []
        )
        if own and own[0] > own[1]:
            repairs.append(f"ignored the reversed range {own[0]}-{own[1]} of {name!r}")
            own = None
        bounds = [own] if own else []
        bounds += [(c.start, c.end) for c in children]
        if not bounds:
            repairs.append(f"dropped aspect {name!r} without sentences")
            continue
        spans.append(_Span(name, min(b[0] for b in bounds), max(b[1] for b in bounds), children))
    return spans


def _fit(spans: list[_Span], low: int, high: int, repairs: list[str]) -> list[_Span]:
    """Clip to [low, high], sort, and remove overlaps (later spans start after earlier ones)."""
    fitted: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        start, end = max(span.start, low), min(span.end, high)
        if (start, end) != (span.start, span.end):
            repairs.append(f"clipped {span.name!r} to {start}-{end}")
        if fitted and start <= fitted[-1].end:
            start = fitted[-1].end + 1
            repairs.append(f"removed an overlap before {span.name!r}")
        if start > end:
            repairs.append(f"dropped {span.name!r} (no sentence left)")
            continue
        span.start, span.end = start, end
        fitted.append(span)
    return fitted


def _fit_children(span: _Span, repairs: list[str]) -> None:
    children = _fit(span.children, span.start, span.end, repairs)
    merged: list[_Span] = []
    for child in children:
        if child.end == child.start and (merged or len(children) > 1):
            if merged:
                merged[-1].end = max(merged[-1].end, child.end)
            else:
                nxt = children[1]
                nxt.start = min(nxt.start, child.start)
            repairs.append(f"merged one-sentence sub-aspect {child.name!r}")
            continue
        merged.append(child)
    # Fill gaps: after the parent's lead sentences, every sentence goes to a sub-aspect.
    for previous, current in pairwise(merged):
        if current.start > previous.end + 1:
            previous.end = current.start - 1
    if merged and merged[-1].end < span.end:
        merged[-1].end = span.end
    if len(merged) < 2:
        if merged:
            repairs.append(f"flattened the single sub-aspect of {span.name!r}")
        span.children = []
        return
    span.children = merged
    for child in merged:
        _fit_children(child, repairs)


def _to_aspect(span: _Span, names: dict[int, str]) -> Aspect:
    own_end = span.children[0].start if span.children else span.end + 1
    return Aspect(
        name=span.name or names[id(span)],
        sentences=tuple(range(span.start - 1, own_end - 1)),
        subaspects=tuple(_to_aspect(child, names) for child in span.children),
    )


def _all_spans(spans: Sequence[_Span]) -> list[_Span]:
    found = []
    for span in spans:
        found.append(span)
        found.extend(_all_spans(span.children))
    return found


def parse_structure(reply: str, sentences: Sequence[str], *, max_gap: int = 2) -> ParsedStructure:
    """Validate and repair an LLM's structure answer for ``sentences``.

    Args:
        reply: The raw answer.
        sentences: The sentences the model was shown, in order (numbered from 1).
        max_gap: Longest run of sentences no aspect covers that is repaired; a longer
            one makes the answer invalid.

    Raises:
        StructureParseError: The answer cannot be turned into a faithful structure.
    """
    if not isinstance(reply, str):
        raise TypeError(f"reply must be a str, got {type(reply).__name__}")
    n = len(sentences)
    if n == 0:
        raise ValueError("sentences must not be empty")
    repairs: list[str] = []
    data = _load(extract_yaml(reply), repairs)
    scope = _clean_name(_get(data, "scope", "topic", "title"))
    if scope and scope.lower() in EXAMPLE_SCOPES:
        raise StructureParseError(f"the answer copies a worked example (scope {scope!r})")
    spans = _fit(_read_spans(_get(data, "aspects", "aspecthierarchy"), 1, repairs), 1, n, repairs)
    if not spans:
        raise StructureParseError("the answer has no aspect with a usable sentence range")
    covered = [False] * (n + 2)
    for span in spans:
        for i in range(span.start, span.end + 1):
            covered[i] = True
    run = 0
    for i in range(1, n + 1):
        run = 0 if covered[i] else run + 1
        if run > max_gap:
            first = i - run + 1
            raise StructureParseError(
                f"sentences {first}-{_run_end(covered, i, n)} of {n} are in no aspect"
            )
    if spans[0].start > 1:
        repairs.append(f"gave sentences 1-{spans[0].start - 1} to {spans[0].name!r}")
        spans[0].start = 1
    for previous, current in pairwise(spans):
        if current.start > previous.end + 1:
            repairs.append(
                f"gave sentences {previous.end + 1}-{current.start - 1} to {previous.name!r}"
            )
            previous.end = current.start - 1
    if spans[-1].end < n:
        repairs.append(f"gave sentences {spans[-1].end + 1}-{n} to {spans[-1].name!r}")
        spans[-1].end = n
    for span in spans:
        _fit_children(span, repairs)
    unnamed = [span for span in _all_spans(spans) if not span.name]
    names: dict[int, str] = {}
    if unnamed:
        groups = [list(sentences[span.start - 1 : span.end]) for span in unnamed]
        for span, found in zip(unnamed, key_phrases(groups, top=2), strict=True):
            names[id(span)] = join_phrases(found)
        repairs.append(f"named {len(unnamed)} aspect(s) from key phrases")
    if not scope:
        scope = join_phrases(key_phrases([list(sentences)], top=2)[0], fallback="Text")
        repairs.append("made the scope from key phrases")
    return ParsedStructure(scope, [_to_aspect(span, names) for span in spans], repairs)


def _run_end(covered: list[bool], i: int, n: int) -> int:
    while i + 1 <= n and not covered[i + 1]:
        i += 1
    return i
