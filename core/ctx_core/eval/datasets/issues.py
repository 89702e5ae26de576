"""Data problems found while loading: counted, with a few examples, never dropped silently.

A loader that meets something it can repair without guessing (an evidence id written
``D30:05``, two ids in one string) repairs it and counts the repair; something it cannot
place (an evidence id that matches no turn, a judgement on a document the collection does
not hold) is kept as it is and counted. The counts go into every result file
(``data_issues``) and are logged once per kind as a warning. Something that makes the data
unreadable (a qrels line with the wrong number of fields) is an error naming file and line.

Examples:
    >>> issues = DataIssues()
    >>> issues.add("evidence_normalized", "'D30:05' -> 'D30:5'")
    >>> issues.add("evidence_normalized", "'D1:03' -> 'D1:3'")
    >>> issues.to_dict()["evidence_normalized"]["count"]
    2
    >>> bool(DataIssues())
    False
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["DataIssues"]

logger = logging.getLogger(__name__)

#: Examples kept per kind of problem (the count is always complete).
MAX_EXAMPLES = 5


class DataIssues:
    """Counts of data problems by kind, each with its first few examples.

    Args:
        source: What was loaded (a path), named in the warnings.
    """

    def __init__(self, source: str | None = None) -> None:
        self.source = source
        self._counts: dict[str, int] = {}
        self._examples: dict[str, list[str]] = {}

    def add(self, kind: str, example: str, count: int = 1) -> None:
        """Count ``count`` problems of ``kind``; keep ``example`` among the first few."""
        self._counts[kind] = self._counts.get(kind, 0) + count
        examples = self._examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(example)

    def count(self, kind: str) -> int:
        """How many problems of ``kind`` were seen."""
        return self._counts.get(kind, 0)

    def __bool__(self) -> bool:
        return bool(self._counts)

    def to_dict(self) -> dict[str, Any]:
        """``{kind: {"count": n, "examples": [...]}}``, JSON-ready."""
        return {
            kind: {"count": n, "examples": list(self._examples.get(kind, []))}
            for kind, n in self._counts.items()
        }

    def log(self) -> None:
        """One warning per kind of problem, with its count and first examples."""
        where = f"{self.source}: " if self.source else ""
        for kind, n in self._counts.items():
            logger.warning(
                "%s%d data issue(s) %s, e.g. %s", where, n, kind, "; ".join(self._examples[kind])
            )
