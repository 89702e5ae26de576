"""langchain-tests' standard suites on the context tools."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from ctx_core.context import WorkingContext
from langchain_ctx.context_tools import (
    ContextTool,
    FoldFragmentTool,
    FragmentContextTool,
    GetSearchDetailTool,
    SearchContextTool,
)

TEXT = "Intro. bird: kea; fruit: fig; bird: emu. Outro."


def _context() -> WorkingContext:
    return WorkingContext([("user", TEXT), ("assistant", "Noted: bird is emu.")])


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
