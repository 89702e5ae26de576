"""Running ``ctx demo``: the sections, found and ordered, each printing through one context.

Core sections are listed in `CORE_SECTIONS`; framework sections are plugged in by
the adapter packages through the ``ctx_rag.demo`` entry-point group, so the core never
imports a framework. Sections run in the order of their names.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from typing import TextIO

from ctx_core.demo.book import DEMO_QUESTIONS, load_demo_corpus
from ctx_core.demo.context import context_section
from ctx_core.demo.corpus import corpus_section
from ctx_core.demo.incontext import incontext_section
from ctx_core.demo.memory import memory_section
from ctx_core.demo.section import DemoContext, Section
from ctx_core.demo.structure import structure_section

__all__ = ["CORE_SECTIONS", "demo_sections", "run_demo"]

logger = logging.getLogger(__name__)

#: The sections the core provides, by name (the name orders them among all sections).
CORE_SECTIONS: dict[str, Section] = {
    "00-corpus": corpus_section,
    "30-document-memory": memory_section,
    "30-incontext-ranker": incontext_section,
    "30-structurized-context": structure_section,
    "40-active-context": context_section,
}


def demo_sections() -> list[tuple[str, Section]]:
    """Core sections plus those plugged in through the ``ctx_rag.demo`` entry points, by name."""
    sections: dict[str, Section] = dict(CORE_SECTIONS)
    for entry in metadata.entry_points(group="ctx_rag.demo"):
        try:
            sections[entry.name] = entry.load()
        except ImportError as err:
            logger.warning("demo section %s skipped: %s", entry.name, err)
    return sorted(sections.items())


def run_demo(
    out: TextIO | None = None,
    *,
    questions: Sequence[str] | None = None,
    only: Sequence[str] | None = None,
) -> list[str]:
    """Run the demo sections in order and return the names of those that ran.

    Args:
        out: Where to print (default: stdout).
        questions: Override the demo questions.
        only: Run only sections whose name contains one of these strings.
    """
    ctx = DemoContext(
        corpus=load_demo_corpus(),
        questions=list(questions or DEMO_QUESTIONS),
        out=out or sys.stdout,
    )
    ran = []
    for name, section in demo_sections():
        if only and not any(part in name for part in only):
            continue
        started = time.perf_counter()
        section(ctx)
        ctx.line(f"\n  [{name}: {time.perf_counter() - started:.1f}s]")
        ran.append(name)
    return ran
