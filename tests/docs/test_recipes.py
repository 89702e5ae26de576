"""Every ``python`` code block in docs/concepts and docs/recipes runs, page by page, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted([*DOCS.glob("concepts/*.md"), *DOCS.glob("recipes/*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_page_is_found():
    assert PAGES, "no documentation pages found"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_page_code_runs(page):
    text = page.read_text(encoding="utf-8")
    if "llama_cpp.server" in text:
        # The page starts the llama.cpp server, built by `make server` (it compiles llama.cpp).
        pytest.importorskip("llama_cpp.server.app", reason="run `make server` to build it")
    blocks = BLOCK.findall(text)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(blocks, start=1):
        try:
            exec(compile(code, f"{page.name} block {number}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(
                f"{page.relative_to(DOCS)} code block {number} failed: {err!r}"
            ) from err
