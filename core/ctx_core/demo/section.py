"""What a ``ctx demo`` section is: a function of a `DemoContext`.

Examples:
    >>> import io
    >>> from ctx_core.types import Passage
    >>> ctx = DemoContext(corpus=[], questions=[], out=io.StringIO(), width=20)
    >>> ctx.show_passages([Passage("Cats purr.", id="a", score=0.5)])
    >>> print(ctx.out.getvalue(), end="")
      1. [a] score=0.500
          Cats purr.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from ctx_core.types import Passage

__all__ = ["DemoContext", "Section"]


@dataclass
class DemoContext:
    """What every demo section gets: the corpus, the questions and somewhere to print."""

    corpus: list[Passage]
    questions: list[str]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    width: int = 100

    def heading(self, title: str) -> None:
        """Print a section heading."""
        self.out.write(f"\n{'=' * self.width}\n{title}\n{'=' * self.width}\n")

    def line(self, text: str = "") -> None:
        """Print one line."""
        self.out.write(text + "\n")

    def show_passages(self, passages: Sequence[Passage], *, snippet: int = 160) -> None:
        """Print passages with their id, score and the start of their text."""
        if not passages:
            self.line("    (no passage kept)")
        for rank, p in enumerate(passages, start=1):
            score = "" if p.score is None else f" score={p.score:.3f}"
            text = textwrap.shorten(" ".join(p.text.split()), snippet, placeholder=" ...")
            self.line(f"  {rank}. [{p.id}]{score}")
            self.line(textwrap.indent(textwrap.fill(text, self.width - 6), "      "))


#: A demo section: prints its part of the demo through the context it is given.
Section = Callable[[DemoContext], None]
