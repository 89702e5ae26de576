"""The active-context section of ``ctx demo``."""

from __future__ import annotations

import io

from ctx_core.demo import run_demo


def test_active_context_section_folds_searches_and_restores():
    out = io.StringIO()
    assert run_demo(out, only=["active-context"]) == ["40-active-context"]
    text = out.getvalue()
    assert "fold_fragment('all')" in text and "search_context('Ferrars') -> 3 hits" in text
    assert "(folded): Mrs. Ferrars died" in text
    assert "original recovered byte for byte: True" in text
