"""The agent loop: tool-call parsing, the 20-call cap, batching, and the scripted policy."""

from __future__ import annotations

import json

import pytest

from ctx_core.context import ActiveContextAgent, ContextTools, ScriptedPolicy, WorkingContext
from ctx_core.context.agent import CAP_NOTICE, answer_from_context, parse_tool_calls, run_agents
from ctx_core.llm import BaseLLM

DOC = "price: 3; colour: red; price: 5; colour: blue; price: 8; colour: green."


class ScriptedLLM(BaseLLM):
    """A core LLM that replies from a list, recording prompts and options."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.calls: list[tuple[list, dict]] = []

    def complete(self, prompt, **kwargs):
        self.calls.append((prompt, kwargs))
        return self.replies.pop(0)


class AlwaysCalls(BaseLLM):
    """Calls a tool whenever tools are allowed (a stop string is offered), else answers."""

    def __init__(self):
        self.calls: list[tuple[list, dict]] = []

    def complete(self, prompt, **kwargs):
        self.calls.append((prompt, kwargs))
        if kwargs.get("stop"):
            return '<tool_call>{"name": "list_fragments", "arguments": {}}'  # stop string cut off
        return "I give up."


class LastValueReader(BaseLLM):
    """Answers 'what is the latest <key>' by searching first, then reading the tool result."""

    def complete(self, prompt, **kwargs):
        question = next(m["content"] for m in reversed(prompt) if m["role"] == "user")
        key = question.split("latest ")[1].rstrip("?")
        results = [m["content"] for m in prompt if m["role"] == "tool"]
        if kwargs.get("stop") and not results:
            arguments = {"query": f"{key}:", "newest_first": True, "max_results": 1}
            call = {"name": "search_context", "arguments": arguments}
            return f"<tool_call>{json.dumps(call)}</tool_call>"
        if results:
            return json.loads(results[-1])["hits"][0]["snippet"].split(": ")[1].rstrip(";.")
        return "unknown"


def test_parse_tool_calls_accepts_common_shapes():
    text = (
        '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>'
        '<tool_call>[{"name": "b", "parameters": {"y": 2}}, {"name": "c"}]</tool_call>'
        '<tool_call>{"name": "d", "arguments": "{\\"z\\": 3}"}</tool_call>'
        "<tool_call>{not json}</tool_call>"
        '<tool_call>{"arguments": {}}</tool_call>'
        '<tool_call>{"name": "e", "arguments": {"w": 4}}'
    )
    calls, errors = parse_tool_calls(text)
    assert [(c.name, c.arguments) for c in calls] == [
        ("a", {"x": 1}),
        ("b", {"y": 2}),
        ("c", {}),
        ("d", {"z": 3}),
        ("e", {"w": 4}),
    ]
    assert len(errors) == 2 and "not valid JSON" in errors[0] and "name" in errors[1]
    assert parse_tool_calls("no calls here") == ([], [])


def test_agent_searches_then_answers_and_records_everything():
    ctx = WorkingContext([("user", DOC)])
    llm = ScriptedLLM(
        [
            'Let me check. <tool_call>{"name": "search_context", "arguments": '
            '{"query": "price:", "newest_first": true, "max_results": 1}}',
            "The latest price is 8.",
        ]
    )
    turn = ActiveContextAgent(llm, ctx).run("What is the latest price?")
    assert turn.answer == "The latest price is 8."
    assert [c.name for c in turn.tool_calls] == ["search_context"] and turn.tool_calls[0].ok
    assert turn.tool_calls[0].result["hits"][0]["snippet"] == "price: 8;"
    assert turn.llm_calls == 2 and not turn.hit_cap
    roles = [(m.role, m.metadata.get("agent")) for m in ctx.messages]
    assert roles == [
        ("user", None),
        ("user", None),
        ("assistant", "tool_call"),
        ("tool", "tool_result"),
        ("assistant", None),
    ]
    assert ctx.messages[2].text.endswith("</tool_call>")
    # the model read the tool result on its second call, with the system prompt first
    second_prompt, options = llm.calls[1]
    assert second_prompt[0]["role"] == "system" and "search_context(" in second_prompt[0]["content"]
    assert '"snippet": "price: 8;"' in second_prompt[-1]["content"]
    assert options["stop"] == ["</tool_call>"]
    assert turn.final_prompt == second_prompt
    assert turn.final_prompt_tokens > turn.final_context_tokens > 0


def test_the_cap_stops_the_loop_after_twenty_calls():
    ctx = WorkingContext([("user", DOC)])
    llm = AlwaysCalls()
    turn = ActiveContextAgent(llm, ctx).run("Anything?")
    assert len(turn.tool_calls) == 20 and turn.hit_cap
    assert turn.llm_calls == 21 and turn.answer == "I give up."
    last_prompt, last_options = llm.calls[-1]
    assert "stop" not in last_options
    assert last_prompt[-1]["content"] == CAP_NOTICE.format(cap=20)
    assert all(c.ok for c in turn.tool_calls)


def test_a_smaller_cap_and_no_tools():
    ctx = WorkingContext([("user", DOC)])
    turn = ActiveContextAgent(AlwaysCalls(), ctx, max_tool_calls=3).run("Anything?")
    assert len(turn.tool_calls) == 3 and turn.llm_calls == 4
    llm = AlwaysCalls()
    turn = ActiveContextAgent(llm, WorkingContext([("user", DOC)]), max_tool_calls=0).run("Q?")
    assert turn.tool_calls == [] and turn.llm_calls == 1 and not turn.hit_cap
    with pytest.raises(ValueError, match="max_tool_calls"):
        ActiveContextAgent(llm, ctx, max_tool_calls=-1)


def test_bad_calls_come_back_as_tool_errors_and_count():
    ctx = WorkingContext([("user", DOC)])
    llm = ScriptedLLM(
        [
            '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',
            "<tool_call>{oops</tool_call>",
            '<tool_call>{"name": "fold_fragment", "arguments": {"fragment_id": "nope00"}}</tool_call>',
            "fine",
        ]
    )
    turn = ActiveContextAgent(llm, ctx, tool_names=["fold_fragment", "search_context"]).run("Q?")
    assert [c.ok for c in turn.tool_calls] == [False, False, False]
    errors = [c.result["error"] for c in turn.tool_calls]
    assert "unknown tool 'delete_everything'" in errors[0]
    assert "not valid JSON" in errors[1]
    assert "no fragment 'nope00'" in errors[2]
    assert turn.answer == "fine"


def test_agent_rejects_tools_of_another_context():
    a, b = WorkingContext([("user", "x")]), WorkingContext([("user", "y")])
    with pytest.raises(ValueError, match="same WorkingContext"):
        ActiveContextAgent(ScriptedLLM([]), a, tools=ContextTools(b))
    with pytest.raises(ValueError, match="unknown tool"):
        ActiveContextAgent(ScriptedLLM([]), a, tool_names=["nope"])


def test_batched_agents_equal_single_runs():
    docs = [DOC, DOC.replace("8", "13"), "colour: teal; price: 1."]
    questions = [
        "What is the latest price?",
        "What is the latest price?",
        "What is the latest colour?",
    ]
    single = [
        ActiveContextAgent(LastValueReader(), WorkingContext([("user", d)])).run(q)
        for d, q in zip(docs, questions, strict=True)
    ]
    contexts = [WorkingContext([("user", d)]) for d in docs]
    agents = [ActiveContextAgent(LastValueReader(), c) for c in contexts]
    batched = run_agents(LastValueReader(), agents, questions)
    assert [t.answer for t in batched] == [t.answer for t in single] == ["8", "13", "teal"]
    assert [len(t.tool_calls) for t in batched] == [1, 1, 1]


async def test_arun():
    ctx = WorkingContext([("user", DOC)])
    turn = await ActiveContextAgent(LastValueReader(), ctx).arun("What is the latest colour?")
    assert turn.answer == "green" and turn.tool_calls[0].name == "search_context"


def test_scripted_policy_folds_and_leaves_the_hits_for_the_reader():
    stream = " ".join(f"price: {i}; colour: c{i};" for i in range(300))
    ctx = WorkingContext([("user", stream)])
    records = ScriptedPolicy.last_update(["price", "colour"], window_tokens=100).run(
        ContextTools(ctx)
    )
    assert [r.name for r in records] == [
        "fragment_context",
        "fold_fragment",
        "search_context",
        "search_context",
    ]
    assert all(r.ok for r in records)
    # bookkeeping is not recorded in the context by default; the searches are
    assert [m.metadata.get("agent") for m in ctx.messages[1:]] == ["tool_call", "tool_result"] * 2
    turn = answer_from_context(ScriptedLLM(["299"]), ctx, "What is the latest price?")
    assert "price: 299;" in "\n".join(m["content"] for m in turn.final_prompt)
    assert turn.final_context_tokens < turn.original_context_tokens / 10
    assert ctx.messages[0].text == stream


def test_scripted_policy_can_record_bookkeeping_and_details():
    ctx = WorkingContext([("user", DOC)])
    policy = ScriptedPolicy.search_terms(
        ["colour"], max_results=2, window_tokens=8, detail_window=5, record_bookkeeping=True
    )
    records = policy.run(ContextTools(ctx))
    assert [r.name for r in records] == [
        "fragment_context",
        "fold_fragment",
        "search_context",
        "get_search_detail",
        "get_search_detail",
    ]
    assert len(ctx) == 1 + 2 * len(records)
