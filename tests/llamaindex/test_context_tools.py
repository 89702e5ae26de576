"""The context tools in LlamaIndex: FunctionTools from a BaseToolSpec, used by a FunctionAgent."""

from __future__ import annotations

import json

from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms import MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from ctx_core.context import ContextTools, FragmentState, WorkingContext
from llamaindex_ctx.context_tools import ContextToolSpec

DOC = "Intro line. bird: kea; fruit: fig; bird: emu; fruit: lime. Outro line."


def _ctx() -> WorkingContext:
    return WorkingContext([("user", DOC)])


def test_tool_list_matches_the_core_specs():
    tools = ContextToolSpec(_ctx()).to_tool_list()
    assert all(isinstance(t, FunctionTool) for t in tools)
    assert [t.metadata.name for t in tools] == [s.name for s in ContextTools.specs()]
    for tool, spec in zip(tools, ContextTools.specs(), strict=True):
        assert tool.metadata.description == spec.description
        params = tool.metadata.get_parameters_dict()
        assert set(params["properties"]) == set(spec.json_schema()["properties"])
        assert set(params.get("required", [])) == set(spec.json_schema()["required"])


def test_errors_are_tool_outputs_not_exceptions():
    tools = {t.metadata.name: t for t in ContextToolSpec(_ctx()).to_tool_list()}
    out = json.loads(tools["restore_fragment"].call(fragment_id="nope00").content)
    assert out["ok"] is False and "no fragment 'nope00'" in out["error"]
    out = json.loads(tools["search_context"].call(query="x", colour="red").content)
    assert out["ok"] is False and "unknown argument" in out["error"]


async def test_async_tools_fold_and_restore_byte_exact():
    ctx = _ctx()
    tools = {t.metadata.name: t for t in ContextToolSpec(ctx).to_tool_list()}
    made = json.loads((await tools["fragment_context"].acall(window_tokens=5)).content)
    assert made["ok"] and made["count"] >= 3
    await tools["fold_fragment"].acall(fragment_id="all")
    assert all(f.state is FragmentState.FOLDED for f in ctx.fragments)
    assert ctx.render().total_tokens < ctx.original_tokens() * 3  # markers, not the text
    await tools["restore_fragment"].acall(fragment_id="all")
    assert ctx.render().messages == ctx.original()


def test_summaries_from_a_llamaindex_llm():
    ctx = _ctx()
    spec = ContextToolSpec(ctx, llm=MockLLM(max_tokens=5))
    tools = {t.metadata.name: t for t in spec.to_tool_list()}
    fid = json.loads(
        tools["fragment_context"].call(start_marker="bird", end_marker="lime.").content
    )["fragments"][0]["id"]
    out = json.loads(tools["summarize_fragment"].call(fragment_id=fid).content)
    assert out["ok"], out
    assert ctx.fragment(fid).state is FragmentState.SUMMARIZED
    assert ctx.fragment_text(fid) == "bird: kea; fruit: fig; bird: emu; fruit: lime."


async def test_function_agent_calls_the_tools():
    ctx = _ctx()
    spec = ContextToolSpec(ctx, tool_names=["search_context", "get_search_detail"])

    def respond(messages, **kwargs):
        if not any(m.role == MessageRole.TOOL for m in messages):
            return ChatMessage(
                role=MessageRole.ASSISTANT,
                blocks=[
                    ToolCallBlock(
                        tool_call_id="call-1",
                        tool_name="search_context",
                        tool_kwargs={"query": "fruit:", "newest_first": True, "max_results": 1},
                    )
                ],
            )
        result = json.loads(next(m for m in messages if m.role == MessageRole.TOOL).content)
        return ChatMessage(role=MessageRole.ASSISTANT, content=result["hits"][0]["snippet"])

    llm = MockFunctionCallingLLM(response_generator=respond)
    agent = FunctionAgent(tools=spec.to_tool_list(), llm=llm)
    handler = agent.run(user_msg="What is the latest fruit?")
    calls = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    response = await handler
    assert [c.tool_name for c in calls] == ["search_context"]
    assert str(response).strip() == "fruit: lime."
    assert len(ctx.hits) == 1
