"""ActiveContextMiddleware in real ``create_agent`` agents, driven by the core scripted policy."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from ctx_core.context import ContextBudget, FragmentState, ScriptedPolicy
from ctx_core.eval.generators.multi_needle import generate_multi_needle
from ctx_core.eval.generators.pi_llm import generate_pi_llm
from ctx_core.eval.tasks.context import KINSHIP_REGEX
from langchain_ctx import ActiveContextMiddleware, ScriptedPolicyChatModel

SOURCE = {key: [f"{key}-{i:03d}" for i in range(60)] for key in ("bird", "fruit", "tool", "gem")}
HAYSTACK = " ".join(
    f"Paragraph {i} talks about startups, essays and the weather in a plain way."
    for i in range(600)
)


class ReadRecorder(BaseCallbackHandler):
    """Keeps the messages each chat-model call was given (langchain's own callback hook)."""

    def __init__(self) -> None:
        self.calls: list[list] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.append(list(messages[0]))


def _reader(answer: str = "done") -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(answer)]))


def _agent(policy, middleware, answer="done"):
    model = ScriptedPolicyChatModel(policy=policy, reader=_reader(answer))
    return create_agent(model, middleware=[middleware])


def _pi_llm():
    task = generate_pi_llm(4, 40, seed=3, source=SOURCE)
    return task, task.keys[0]


def test_folded_history_shrinks_what_the_model_reads_and_restores_byte_for_byte():
    task, key = _pi_llm()
    middleware = ActiveContextMiddleware(budget=ContextBudget(max_tokens=300, window_tokens=60))
    policy = ScriptedPolicy.last_update([key], window_tokens=None, restore_hits=True)
    recorder = ReadRecorder()
    out = _agent(policy, middleware, answer=task.answers[key]).invoke(
        {"messages": [HumanMessage(task.context), HumanMessage(task.question(key))]},
        config={"callbacks": [recorder]},
    )
    types = [m.type for m in out["messages"]]
    assert types == ["human", "human", "ai", "tool", "ai", "tool", "ai"]
    calls = [m.tool_calls[0]["name"] for m in out["messages"] if getattr(m, "tool_calls", None)]
    assert calls == ["search_context", "restore_fragment"]
    # the agent's state is untouched: the original document, byte for byte
    assert out["messages"][0].content == task.context
    # every model call read far less than the conversation holds
    assert len(middleware.reads) == 3
    for read in middleware.reads:
        assert read.context_tokens < read.original_tokens / 3
    first = recorder.calls[0]
    assert "folded fragments" in first[0].content and first[1].content == task.question(key)
    # the search found the key's last value while it was folded
    hit = out["messages"][3].artifact["hits"][0]
    assert hit["fragment_state"] == "folded"
    assert hit["snippet"] == f"{key}: {task.answers[key]};"
    # after the restore, the model reads the fragment's original text exactly
    fid = hit["fragment_id"]
    frag = middleware.context.fragment(fid)
    assert frag.state is FragmentState.SHOWN
    original = task.context[frag.start[1] : frag.end[1]]
    assert middleware.context.fragment_text(fid) == original
    last = recorder.calls[-1]
    assert original in last[0].content
    assert f"{key}: {task.answers[key]};" in last[0].content
    assert out["messages"][-1].content == task.answers[key]


def test_multi_needle_hits_are_restored_with_every_needle():
    task = generate_multi_needle(3, 3000, seed=1, haystack=HAYSTACK)
    middleware = ActiveContextMiddleware(budget=ContextBudget(max_tokens=500))
    policy = ScriptedPolicy.search_terms(
        [KINSHIP_REGEX], mode="regex", max_results=20, window=150, window_tokens=None
    )
    policy = ScriptedPolicy(**{**policy.__dict__, "restore_hits": True})
    recorder = ReadRecorder()
    _agent(policy, middleware).invoke(
        {"messages": [HumanMessage(task.context), HumanMessage(task.question)]},
        config={"callbacks": [recorder]},
    )
    first, last = middleware.reads[0], middleware.reads[-1]
    assert first.original_tokens > 3000 and first.context_tokens < 500
    assert last.context_tokens < last.original_tokens / 2
    document_read = recorder.calls[-1][0].content
    assert all(needle.text in document_read for needle in task.needles)


def test_below_the_budget_the_model_gets_the_same_message_objects():
    middleware = ActiveContextMiddleware(budget=ContextBudget(max_tokens=10_000))
    policy = ScriptedPolicy(window_tokens=None)
    recorder = ReadRecorder()
    messages = [HumanMessage("short history"), HumanMessage("a question?")]
    out = _agent(policy, middleware).invoke({"messages": messages}, {"callbacks": [recorder]})
    assert [m.content for m in recorder.calls[0]] == ["short history", "a question?"]
    read = middleware.reads[0]
    assert read.context_tokens == read.original_tokens and read.folded == 0
    assert middleware.context.fragments == []
    assert out["messages"][-1].content == "done"


def test_summarize_mode_shows_summaries_and_keeps_originals():
    task, key = _pi_llm()
    summarizer = GenericFakeChatModel(messages=iter([AIMessage(f"updates of {key}")] * 200))
    budget = ContextBudget(max_tokens=600, window_tokens=400, mode="summarize")
    middleware = ActiveContextMiddleware(budget=budget, llm=summarizer)
    recorder = ReadRecorder()
    _agent(ScriptedPolicy(window_tokens=None), middleware).invoke(
        {"messages": [HumanMessage(task.context), HumanMessage(task.question(key))]},
        {"callbacks": [recorder]},
    )
    # the summarizer's calls reach the recorder too: take the agent's model call (the
    # reader's call, given the same messages, follows it)
    call = next(c for c in recorder.calls if c[-1].content == task.question(key))
    read = call[0].content
    assert "[summary of fragment" in read and f"updates of {key}" in read
    summarized = [f for f in middleware.context.fragments if f.state is FragmentState.SUMMARIZED]
    assert summarized
    joined = "".join(middleware.context.fragment_text(f.id) for f in middleware.context.fragments)
    assert joined in task.context and len(joined) > len(task.context) / 2


def test_tool_traffic_of_the_context_tools_is_marked_and_other_tools_are_not():
    task, key = _pi_llm()
    middleware = ActiveContextMiddleware(budget=ContextBudget(max_tokens=300, window_tokens=60))
    policy = ScriptedPolicy.last_update([key], window_tokens=None)
    _agent(policy, middleware).invoke(
        {"messages": [HumanMessage(task.context), HumanMessage(task.question(key))]}
    )
    marks = [m.metadata.get("agent") for m in middleware.context.messages]
    # the final answer comes after the last model call: the context never needed it
    assert marks == [None, None, "tool_call", "tool_result"]
    assert isinstance(middleware.tools[0].context, type(middleware.context))


async def test_async_agent_folds_the_same_way():
    task, key = _pi_llm()
    middleware = ActiveContextMiddleware(budget=ContextBudget(max_tokens=300, window_tokens=60))
    policy = ScriptedPolicy.last_update([key], window_tokens=None, restore_hits=True)
    out = await _agent(policy, middleware, answer="x").ainvoke(
        {"messages": [HumanMessage(task.context), HumanMessage(task.question(key))]}
    )
    assert isinstance(out["messages"][3], ToolMessage)
    assert out["messages"][3].artifact["hits"][0]["snippet"] == f"{key}: {task.answers[key]};"
    assert all(r.context_tokens < r.original_tokens / 3 for r in middleware.reads)


def test_a_second_conversation_on_the_same_middleware_is_an_error():
    middleware = ActiveContextMiddleware()
    agent = _agent(ScriptedPolicy(window_tokens=None), middleware)
    agent.invoke({"messages": [HumanMessage("first conversation")]})
    model = ScriptedPolicyChatModel(policy=ScriptedPolicy(window_tokens=None), reader=_reader())
    again = create_agent(model, middleware=[middleware])
    with pytest.raises(ValueError, match="one conversation"):
        again.invoke({"messages": [HumanMessage("another conversation")]})


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown tool"):
        ActiveContextMiddleware(tool_names=["fold_everything"])
    with pytest.raises(TypeError, match="tool_names"):
        ActiveContextMiddleware(tool_names="search_context")
    with pytest.raises(TypeError, match="budget"):
        ActiveContextMiddleware(budget=300)
    with pytest.raises(ValueError, match="needs an llm"):
        ActiveContextMiddleware(budget=ContextBudget(mode="summarize"))
    with pytest.raises(ValueError, match="window_tokens"):
        ContextBudget(window_tokens=0)
    with pytest.raises(TypeError, match="reader"):
        ScriptedPolicyChatModel(policy=ScriptedPolicy(), reader="smollm2")


def test_the_script_must_match_the_tools_the_agent_offers():
    middleware = ActiveContextMiddleware(tool_names=["list_fragments"])
    policy = ScriptedPolicy.last_update(["bird"], window_tokens=None)
    with pytest.raises(ValueError, match="does not offer"):
        _agent(policy, middleware).invoke({"messages": [HumanMessage("bird: kea")]})


@pytest.mark.slow
def test_smollm2_reads_the_restored_needles(smollm2):
    """The packaged SmolLM2 answers after the middleware folded the haystack and the script
    restored the needles' fragments; what it manages is reported, not asserted."""
    task = generate_multi_needle(2, 1500, seed=2, haystack=HAYSTACK)
    middleware = ActiveContextMiddleware(budget=ContextBudget(max_tokens=400))
    policy = ScriptedPolicy(
        searches=[{"query": KINSHIP_REGEX, "mode": "regex", "max_results": 20, "window": 150}],
        window_tokens=None,
        restore_hits=True,
    )
    model = ScriptedPolicyChatModel(policy=policy, reader=smollm2, answer_max_tokens=24)
    recorder = ReadRecorder()
    out = create_agent(model, middleware=[middleware]).invoke(
        {"messages": [HumanMessage(task.context), HumanMessage(task.question)]},
        config={"callbacks": [recorder]},
    )
    answer = out["messages"][-1].content
    assert isinstance(answer, str) and answer.strip()
    assert all(needle.text in recorder.calls[-1][0].content for needle in task.needles)
    assert all(r.context_tokens < r.original_tokens for r in middleware.reads)
