"""ActiveContextMemory in real FunctionAgents, driven by the core scripted policy."""

from __future__ import annotations

import pytest
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms import MockLLM

from ctx_core.context import ContextBudget, FragmentState, ScriptedPolicy
from ctx_core.eval.generators.multi_needle import generate_multi_needle
from ctx_core.eval.generators.pi_llm import generate_pi_llm
from ctx_core.eval.tasks.context import KINSHIP_REGEX
from llamaindex_ctx import ActiveContextMemory, ScriptedPolicyLLM

SOURCE = {key: [f"{key}-{i:03d}" for i in range(60)] for key in ("bird", "fruit", "tool", "gem")}
HAYSTACK = " ".join(
    f"Paragraph {i} talks about startups, essays and the weather in a plain way."
    for i in range(600)
)


async def _run(agent, memory, question, **kwargs):
    handler = agent.run(user_msg=question, memory=memory, **kwargs)
    calls = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    return calls, await handler


async def test_function_agent_reads_folded_history_and_restores_byte_for_byte():
    task = generate_pi_llm(4, 40, seed=3, source=SOURCE)
    key = task.keys[0]
    memory = ActiveContextMemory(budget=ContextBudget(max_tokens=300, window_tokens=60))
    memory.put(ChatMessage(role=MessageRole.USER, content=task.context))
    memory.put(ChatMessage(role=MessageRole.ASSISTANT, content="Tracking."))
    reader = MockLLM()  # LlamaIndex's echo LLM: its answer is the prompt it read
    policy = ScriptedPolicy.last_update([key], window_tokens=None, restore_hits=True)
    agent = FunctionAgent(
        tools=memory.tool_spec().to_tool_list(), llm=ScriptedPolicyLLM(policy=policy, reader=reader)
    )
    calls, response = await _run(agent, memory, task.question(key))
    assert [c.tool_name for c in calls] == ["search_context", "restore_fragment"]
    hit = calls[0].tool_output.raw_output
    assert (
        f'"snippet": "{key}: {task.answers[key]};"' in hit and '"fragment_state": "folded"' in hit
    )
    # the three reads the LLM got (start, after each tool round) were far smaller than the
    # history; a fourth read, after the answer was stored, is the agent's closing one
    assert len(memory.reads) == 4
    assert all(r.context_tokens < r.original_tokens / 3 for r in memory.reads[:3])
    # the restored fragment is the original text, byte for byte, and the reader saw it
    restored = [f for f in memory.context.fragments if f.state is FragmentState.SHOWN]
    assert len(restored) == 1
    frag = restored[0]
    original = task.context[frag.start[1] : frag.end[1]]
    assert memory.context.fragment_text(frag.id) == original
    read = str(response)
    assert original in read and "folded fragment" in read
    # the memory keeps everything: history, question, tool traffic, answer
    everything = memory.get_all()
    assert everything[0].content == task.context
    roles = [m.role.value for m in everything]
    assert roles == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]


async def test_multi_needle_in_an_agent_workflow():
    task = generate_multi_needle(3, 3000, seed=1, haystack=HAYSTACK)
    memory = ActiveContextMemory(budget=ContextBudget(max_tokens=500))
    memory.put(ChatMessage(role=MessageRole.USER, content=task.context))
    memory.put(ChatMessage(role=MessageRole.ASSISTANT, content="Read it."))
    reader = MockLLM()  # LlamaIndex's echo LLM: its answer is the prompt it read
    policy = ScriptedPolicy(
        searches=[{"query": KINSHIP_REGEX, "mode": "regex", "max_results": 20, "window": 150}],
        window_tokens=None,
        restore_hits=True,
    )
    agent = FunctionAgent(
        name="reader",
        tools=memory.tool_spec().to_tool_list(),
        llm=ScriptedPolicyLLM(policy=policy, reader=reader),
    )
    workflow = AgentWorkflow(agents=[agent])
    _, response = await _run(workflow, memory, task.question)
    first = memory.reads[0]
    assert first.original_tokens > 3000 and first.context_tokens < 500
    assert all(needle.text in str(response) for needle in task.needles)


def test_set_extends_and_keeps_fragments_or_starts_over():
    memory = ActiveContextMemory(budget=ContextBudget(max_tokens=50, window_tokens=20))
    history = [
        ChatMessage(role="user", content=" ".join(f"item {i}: red;" for i in range(60))),
        ChatMessage(role="user", content="Which items?"),
    ]
    memory.set(history)
    memory.get()
    folded = [f.id for f in memory.context.fragments]
    assert folded
    memory.set([*history, ChatMessage(role="assistant", content="Many.")])
    assert [f.id for f in memory.context.fragments] == folded
    spec = memory.tool_spec()
    memory.set([ChatMessage(role="user", content="A new chat.")])
    assert memory.context.fragments == [] and len(memory.context) == 1
    assert spec.context is memory.context
    memory.reset()
    assert memory.get() == [] and memory.get_all() == []


def test_tool_call_blocks_and_ids_survive_folding():
    call = ToolCallBlock(tool_call_id="c1", tool_name="lookup", tool_kwargs={"q": "x"})
    memory = ActiveContextMemory(budget=ContextBudget(max_tokens=40, window_tokens=10))
    memory.put_messages(
        [
            ChatMessage(role="assistant", blocks=[call]),
            ChatMessage(
                role="tool",
                content=" ".join(f"row {i};" for i in range(80)),
                additional_kwargs={"tool_call_id": "c1"},
            ),
            ChatMessage(role="user", content="Summarize the rows."),
        ]
    )
    shown = memory.get()
    assert shown[0].blocks[-1] == call
    assert shown[1].additional_kwargs == {"tool_call_id": "c1"} and "folded" in shown[1].content
    # the lookup tool is not a context tool: its result stays searchable content
    assert [m.metadata.get("agent") for m in memory.context.messages] == [None, None, None]
    assert memory.get_all()[1].content.startswith("row 0;")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown tool"):
        ActiveContextMemory(tool_names=("fold_everything",))
    with pytest.raises(ValueError, match="needs an llm"):
        ActiveContextMemory(budget=ContextBudget(mode="summarize"))
    with pytest.raises(TypeError, match="ChatMessage"):
        ActiveContextMemory().put("hello")
    with pytest.raises(TypeError, match="reader"):
        ScriptedPolicyLLM(policy=ScriptedPolicy(), reader="smollm2")


@pytest.mark.slow
async def test_smollm2_answers_from_the_folded_memory(smollm2):
    task = generate_pi_llm(3, 30, seed=5, source=SOURCE)
    key = task.keys[0]
    memory = ActiveContextMemory(budget=ContextBudget(max_tokens=250, window_tokens=60))
    memory.put(ChatMessage(role=MessageRole.USER, content=task.context))
    memory.put(ChatMessage(role=MessageRole.ASSISTANT, content="Tracking."))
    policy = ScriptedPolicy.last_update([key], window_tokens=None)
    llm = ScriptedPolicyLLM(policy=policy, reader=smollm2, answer_max_tokens=24)
    agent = FunctionAgent(tools=memory.tool_spec().to_tool_list(), llm=llm)
    calls, response = await _run(agent, memory, task.question(key))
    assert [c.tool_name for c in calls] == ["search_context"]
    assert str(response).strip()
    assert memory.reads[0].context_tokens < memory.reads[0].original_tokens / 3
