"""The context tools in LangChain: schemas, errors as results, a real tool-calling agent."""

from __future__ import annotations

import json

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolCall, ToolMessage

from ctx_core.context import ContextTools, FragmentState, WorkingContext
from langchain_ctx.context_tools import (
    ContextTool,
    ContextToolkit,
    messages_to_context,
    rendered_to_messages,
)

DOC = "Intro line. bird: kea; fruit: fig; bird: emu; fruit: lime. Outro line."


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel that accepts bind_tools (the scripted AIMessages carry the calls).

    Streaming is off: the fake's chunked stream would drop the tool calls.
    """

    disable_streaming: bool = True

    def bind_tools(self, tools, **kwargs):
        return self


def _ctx() -> WorkingContext:
    return WorkingContext([("user", DOC)])


def test_schemas_match_the_core_specs():
    tools = ContextToolkit(context=_ctx()).get_tools()
    assert [t.name for t in tools] == [s.name for s in ContextTools.specs()]
    for tool, spec in zip(tools, ContextTools.specs(), strict=True):
        schema = tool.args_schema.model_json_schema()
        core = spec.json_schema()
        assert set(schema.get("properties", {})) == set(core["properties"])
        assert set(schema.get("required", [])) == set(core["required"])
        assert tool.description == spec.description
    search = next(t for t in tools if t.name == "search_context")
    props = search.args_schema.model_json_schema()["properties"]
    assert props["mode"]["enum"] == ["exact", "regex", "semantic"]
    assert props["max_results"]["maximum"] == 50


def test_errors_come_back_as_tool_messages():
    tool = ContextTool(name="fold_fragment", context=_ctx())
    message = tool.invoke(
        ToolCall(name="fold_fragment", args={"fragment_id": "zzzzzz"}, id="c1", type="tool_call")
    )
    result = json.loads(message.content)
    assert result["ok"] is False and "no fragment 'zzzzzz'" in result["error"]
    assert message.artifact == result


def test_schema_violation_is_a_validation_error_not_a_crash_of_the_core():
    tool = ContextTool(name="search_context", context=_ctx())
    with pytest.raises(Exception, match="max_results"):
        tool.invoke({"query": "bird", "max_results": 99})


async def test_async_invoke_folds():
    ctx = _ctx()
    tools = {t.name: t for t in ContextToolkit(context=ctx).get_tools()}
    made = json.loads(await tools["fragment_context"].ainvoke({"window_tokens": 6}))
    assert made["ok"] and made["count"] >= 3
    folded = json.loads(await tools["fold_fragment"].ainvoke({"fragment_id": "all"}))
    assert folded["ok"] and all(f.state is FragmentState.FOLDED for f in ctx.fragments)


def test_tool_calling_agent_uses_the_toolkit():
    ctx = _ctx()
    toolkit = ContextToolkit(context=ctx, tool_names=["search_context", "fold_fragment"])
    scripted = ToolCallingFake(
        messages=iter(
            [
                AIMessage(
                    "Searching.",
                    tool_calls=[
                        ToolCall(
                            name="search_context",
                            args={"query": "bird:", "newest_first": True, "max_results": 1},
                            id="call-1",
                        )
                    ],
                ),
                AIMessage("The bird is emu."),
            ]
        )
    )
    agent = create_agent(
        scripted, toolkit.get_tools(), system_prompt="Use the tools to inspect the conversation."
    )
    out = agent.invoke({"messages": [HumanMessage("What is the latest bird?")]})
    assert out["messages"][-1].content == "The bird is emu."
    (result,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert result.name == "search_context"
    hit = json.loads(result.content)["hits"][0]
    assert hit["snippet"] == "bird: emu;"
    assert ctx.hits[hit["hit_id"]].start == DOC.index("bird: emu")


def test_summarize_with_a_langchain_chat_model():
    ctx = _ctx()
    chat = GenericFakeChatModel(messages=iter([AIMessage("Birds and fruits; bird is emu.")]))
    tools = {t.name: t for t in ContextToolkit(context=ctx, llm=chat).get_tools()}
    frag = json.loads(
        tools["fragment_context"].invoke({"start_marker": "bird", "end_marker": "lime."})
    )
    fid = frag["fragments"][0]["id"]
    summary = json.loads(tools["summarize_fragment"].invoke({"fragment_id": fid}))
    assert summary["ok"], summary
    assert "[summary of fragment" in ctx.render().messages[0]["content"]
    assert ctx.fragment_text(fid) == DOC[DOC.index("bird") : DOC.index("lime.") + 5]


def test_messages_round_trip_through_a_working_context():
    messages = [SystemMessage("Be brief."), HumanMessage(DOC), AIMessage("Noted.")]
    ctx = messages_to_context(messages)
    assert [m.role for m in ctx.messages] == ["system", "user", "assistant"]
    back = rendered_to_messages(ctx)
    assert [type(m) for m in back] == [SystemMessage, HumanMessage, AIMessage]
    assert [m.content for m in back] == [m.content for m in messages]
