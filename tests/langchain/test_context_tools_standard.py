"""langchain-tests' standard suites on the context tools."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from ctx_core.context import WorkingContext
from ctx_core.llm import BaseLLM
from langchain_ctx.context_tools import (
    ContextTool,
    FoldFragmentTool,
    FragmentContextTool,
    GetSearchDetailTool,
    RestoreFragmentTool,
    SearchContextTool,
    SummarizeFragmentTool,
)

TEXT = "Intro. bird: kea; fruit: fig; bird: emu. Outro."


def _context() -> WorkingContext:
    return WorkingContext([("user", TEXT), ("assistant", "Noted: bird is emu.")])


def _fragmented(fold: bool = False) -> tuple[WorkingContext, str]:
    """A context with one fragment (``bird: kea`` ... ``emu.``); ids are stable across calls."""
    ctx = _context()
    piece = ctx.fragment_by_markers("bird: kea", "emu.")
    if fold:
        ctx.fold(piece.id)
    return ctx, piece.id


FRAGMENT_ID = _fragmented()[1]


class FixedSummary(BaseLLM):
    """A summarizer that always writes the same line (no model download in tests)."""

    def complete(self, prompt: Any, **kwargs: Any) -> str:
        return "bird went from kea to emu"


class TestSearchContextToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[SearchContextTool]:
        return SearchContextTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _context()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "bird:", "newest_first": True, "max_results": 1}


class TestSearchContextToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[SearchContextTool]:
        return SearchContextTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _context()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "bird:", "newest_first": True, "max_results": 1}


class TestFragmentContextToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[FragmentContextTool]:
        return FragmentContextTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _context()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"start_marker": "bird: kea", "end_marker": "emu."}


class TestFragmentContextToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[FragmentContextTool]:
        return FragmentContextTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _context()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"window_tokens": 5}


class TestFoldFragmentToolIntegration(ToolsIntegrationTests):
    """Folding an unknown id: the tool answers with a readable error, it does not raise."""

    @property
    def tool_constructor(self) -> type[FoldFragmentTool]:
        return FoldFragmentTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _context()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"fragment_id": "abcdef"}


class TestGetSearchDetailToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[GetSearchDetailTool]:
        return GetSearchDetailTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _context()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"hit_id": "h12345", "window": 20}


class TestContextToolInstanceUnit(ToolsUnitTests):
    """The generic class, given as an instance."""

    @property
    def tool_constructor(self) -> ContextTool:
        return ContextTool(name="list_fragments", context=_context())

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {}


class TestContextToolInstanceIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> ContextTool:
        return ContextTool(name="undo_last_operation", context=_context())

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {}


class TestFoldFragmentToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[FoldFragmentTool]:
        return FoldFragmentTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _fragmented()[0]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"fragment_id": FRAGMENT_ID}


class TestSummarizeFragmentToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[SummarizeFragmentTool]:
        return SummarizeFragmentTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _fragmented()[0], "llm": FixedSummary()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"fragment_id": FRAGMENT_ID, "focus": "the bird"}


class TestSummarizeFragmentToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[SummarizeFragmentTool]:
        return SummarizeFragmentTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _fragmented()[0], "llm": FixedSummary()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"fragment_id": FRAGMENT_ID, "focus": "the bird"}


class TestRestoreFragmentToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[RestoreFragmentTool]:
        return RestoreFragmentTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _fragmented(fold=True)[0]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"fragment_id": FRAGMENT_ID}


class TestRestoreFragmentToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[RestoreFragmentTool]:
        return RestoreFragmentTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _fragmented(fold=True)[0]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"fragment_id": FRAGMENT_ID}


class TestGetSearchDetailToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[GetSearchDetailTool]:
        return GetSearchDetailTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": _fragmented()[0]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"hit_id": FRAGMENT_ID, "window": 20}


def test_the_suites_examples_really_succeed():
    """The examples above are successful calls, not error results (besides the fold of an
    unknown id, which checks the error path)."""
    ctx, fid = _fragmented()
    assert (
        SummarizeFragmentTool(context=ctx, llm=FixedSummary())
        .invoke({"fragment_id": fid, "focus": "the bird"})
        .startswith('{"ok": true')
    )
    assert ctx.fragment(fid).state.value == "summarized"
    ctx, fid = _fragmented(fold=True)
    assert '"ok": true' in RestoreFragmentTool(context=ctx).invoke({"fragment_id": fid})
    assert ctx.render().messages == ctx.original()
    detail = GetSearchDetailTool(context=_fragmented()[0]).invoke({"hit_id": fid, "window": 20})
    assert '"ok": true' in detail and "bird: kea" in detail
