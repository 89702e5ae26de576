"""An agent loop in which the LLM manages its own context with tools.

[`ActiveContextAgent`][ctx_core.context.agent.ActiveContextAgent] asks a core [`LLM`][ctx_core.llm.base.LLM] a question over a
[`WorkingContext`][ctx_core.context.working.WorkingContext]. Within the turn the model may call the
context tools, one ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` block
at a time; each call and its result are appended to the context (so they too can be
folded later) and the model is asked again on the re-rendered context. A reply
without a tool call is the answer. After ``max_tool_calls`` calls (20 by default)
the model is told to answer without tools.

Examples:
    >>> from ctx_core.context.agent import parse_tool_calls
    >>> calls, errors = parse_tool_calls(
    ...     'Let me look. <tool_call>{"name": "list_fragments", "arguments": {}}</tool_call>'
    ... )
    >>> calls[0].name, errors
    ('list_fragments', [])
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctx_core.context.tools import ContextTools, ToolSpec, format_tool_result
from ctx_core.context.working import WorkingContext
from ctx_core.llm.base import LLM

__all__ = [
    "ActiveContextAgent",
    "AgentTurn",
    "ParsedCall",
    "ToolCallRecord",
    "answer_from_context",
    "build_system_prompt",
    "parse_tool_calls",
    "reader_turn",
    "record_tool_call",
    "run_agents",
]

logger = logging.getLogger(__name__)

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)

CAP_NOTICE = (
    "You have used all {cap} tool calls for this question. Answer it now from the context "
    "above, in plain text, without calling a tool."
)

SYSTEM_PROMPT = """You answer questions about a long conversation. You can manage your \
view of it with tools: fold parts you do not need, summarize them, restore them, and search \
the full original text (folded parts included).

To call a tool, write exactly one block and stop:
<tool_call>{{"name": "TOOL_NAME", "arguments": {{...}}}}</tool_call>
The tool's result comes back in the next message. You may call up to {cap} tools per \
question. When you know the answer, reply with the answer only, with no tool call.

Tools:
{tools}

Example:
<tool_call>{{"name": "search_context", "arguments": {{"query": "price:", "newest_first": true, \
"max_results": 1}}}}</tool_call>"""


@dataclass(frozen=True)
class ParsedCall:
    """A tool call read from a model's reply.

    Attributes:
        name: Tool name.
        arguments: Its arguments (a JSON object).
    """

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolCallRecord:
    """One executed tool call.

    Attributes:
        name: Tool name as the model wrote it.
        arguments: Arguments as the model wrote them.
        result: The tool's result (``result["ok"]`` says whether it worked).
    """

    name: str
    arguments: Mapping[str, Any]
    result: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the tool succeeded."""
        return bool(self.result.get("ok"))


@dataclass
class AgentTurn:
    """What happened while answering one question.

    Attributes:
        question: The question.
        answer: The model's final reply (tool-call blocks removed).
        tool_calls: The tool calls made, in order.
        llm_calls: How many times the LLM was called.
        hit_cap: Whether the tool-call cap was reached.
        final_prompt_tokens: Tokens of the last prompt the LLM read (system prompt and
            rendered context; chat-template tokens not included).
        final_context_tokens: Tokens of the rendered context in that prompt.
        original_context_tokens: Tokens of the same messages unfolded.
        seconds: Wall time of the turn.
        final_prompt: The last prompt the LLM read, as chat messages.
    """

    question: str
    answer: str = ""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    llm_calls: int = 0
    hit_cap: bool = False
    final_prompt_tokens: int = 0
    final_context_tokens: int = 0
    original_context_tokens: int = 0
    seconds: float = 0.0
    final_prompt: list[dict[str, str]] = field(default_factory=list, repr=False)


def parse_tool_calls(text: str) -> tuple[list[ParsedCall], list[str]]:
    """Tool calls in ``text`` (``<tool_call>`` blocks with a JSON object or list), and parse errors.

    ``"parameters"`` is accepted for ``"arguments"``, and arguments given as a JSON
    string are decoded. An unclosed block at the end of ``text`` still counts.
    """
    calls: list[ParsedCall] = []
    errors: list[str] = []
    for match in _TOOL_CALL.finditer(text):
        payload = match.group(1).strip()
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as err:
            errors.append(f"tool call is not valid JSON ({err.msg}): {payload[:120]}")
            continue
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                errors.append(f'tool call needs {{"name": ..., "arguments": {{...}}}}: {item!r}')
                continue
            arguments = item.get("arguments", item.get("parameters", {}))
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError:
                    errors.append(f"arguments of {item['name']} are not a JSON object")
                    continue
            if arguments is None:
                arguments = {}
            if not isinstance(arguments, dict):
                errors.append(f"arguments of {item['name']} must be a JSON object")
                continue
            calls.append(ParsedCall(item["name"], arguments))
    return calls, errors


def strip_tool_calls(text: str) -> str:
    """``text`` without its tool-call blocks."""
    return _TOOL_CALL.sub("", text).strip()


def build_system_prompt(specs: Sequence[ToolSpec], cap: int, template: str = SYSTEM_PROMPT) -> str:
    """The agent's system prompt: how to call tools and one line per tool."""
    lines = [f"- {spec.signature()}: {spec.description}" for spec in specs]
    return template.format(cap=cap, tools="\n".join(lines))


def record_tool_call(
    context: WorkingContext,
    call_text: str,
    record: ToolCallRecord,
    formatter: Callable[[Mapping[str, Any]], str] = format_tool_result,
) -> None:
    """Append a tool call (as the assistant's message) and its result (a tool message)."""
    context.append("assistant", call_text, metadata={"agent": "tool_call"})
    context.append("tool", formatter(record.result), metadata={"agent": "tool_result"})


def call_text(name: str, arguments: Mapping[str, Any]) -> str:
    """The canonical text of a tool call, as the agent format writes it."""
    payload = json.dumps({"name": name, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}{payload}{TOOL_CALL_CLOSE}"


def _prompt_tokens(
    context: WorkingContext, system: str | None
) -> tuple[list[dict[str, str]], int, int]:
    rendered = context.render()
    messages = ([{"role": "system", "content": system}] if system else []) + rendered.messages
    system_tokens = context.counter.count(system) if system else 0
    return messages, rendered.total_tokens + system_tokens, rendered.total_tokens


def reader_turn(
    context: WorkingContext, question: str | None = None, *, system_prompt: str | None = None
) -> AgentTurn:
    """Append ``question`` (if given) and prepare a no-tools turn: ``final_prompt`` holds the
    prompt to send; fill in ``answer`` (see [`answer_from_context`][ctx_core.context.agent.answer_from_context])."""
    if question is not None:
        context.append("user", question)
    turn = AgentTurn(question=question or "")
    turn.final_prompt, turn.final_prompt_tokens, turn.final_context_tokens = _prompt_tokens(
        context, system_prompt
    )
    turn.original_context_tokens = context.original_tokens()
    return turn


def answer_from_context(
    llm: LLM,
    context: WorkingContext,
    question: str | None = None,
    *,
    system_prompt: str | None = None,
    max_tokens: int = 64,
) -> AgentTurn:
    """Ask ``llm`` on the rendered context with no tools (appending ``question`` first, if given).

    This is the reader of the plain baseline (nothing folded) and of a scripted policy
    (after it has folded and searched).
    """
    started = time.perf_counter()
    turn = reader_turn(context, question, system_prompt=system_prompt)
    turn.answer = llm.complete(turn.final_prompt, max_tokens=max_tokens).strip()
    turn.llm_calls = 1
    context.append("assistant", turn.answer)
    turn.seconds = time.perf_counter() - started
    return turn


class ActiveContextAgent:
    """An LLM that answers over a working context, calling context tools within the turn.

    Args:
        llm: Core LLM that decides (follows the ``<tool_call>`` format).
        context: The working context (the question and all tool traffic are appended to it).
        tools: The tools to use (default: ``ContextTools(context)``; give one with an
            ``llm`` to enable ``summarize_fragment``).
        tool_names: Offer only these tools (default: all).
        max_tool_calls: Cap on tool calls per turn (default 20).
        max_tokens: Generation limit of each model reply.
        system_prompt: Replace the system prompt; ``{cap}`` and ``{tools}`` are filled in.
        result_formatter: How tool results are written into the context (default: JSON).

    Examples:
        >>> from ctx_core.llm import BaseLLM
        >>> class Scripted(BaseLLM):
        ...     def __init__(self, replies):
        ...         self.replies = list(replies)
        ...     def complete(self, prompt, **kwargs):
        ...         return self.replies.pop(0)
        >>> ctx = WorkingContext([("user", "price: 3; price: 5")])
        >>> llm = Scripted([
        ...     '<tool_call>{"name": "search_context", "arguments": '
        ...     '{"query": "price:", "newest_first": true, "max_results": 1}}</tool_call>',
        ...     "5",
        ... ])
        >>> turn = ActiveContextAgent(llm, ctx).run("What is the latest price?")
        >>> turn.answer, [c.name for c in turn.tool_calls]
        ('5', ['search_context'])
    """

    def __init__(
        self,
        llm: LLM,
        context: WorkingContext,
        *,
        tools: ContextTools | None = None,
        tool_names: Sequence[str] | None = None,
        max_tool_calls: int = 20,
        max_tokens: int = 256,
        system_prompt: str | None = None,
        result_formatter: Callable[[Mapping[str, Any]], str] = format_tool_result,
    ) -> None:
        if not isinstance(llm, LLM):
            raise TypeError(f"llm must be a ctx_core LLM, got {type(llm).__name__}")
        if not isinstance(context, WorkingContext):
            raise TypeError(f"context must be a WorkingContext, got {type(context).__name__}")
        if isinstance(max_tool_calls, bool) or not isinstance(max_tool_calls, int):
            raise TypeError(f"max_tool_calls must be an integer, got {max_tool_calls!r}")
        if max_tool_calls < 0:
            raise ValueError(f"max_tool_calls must be >= 0, got {max_tool_calls}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.llm = llm
        self.context = context
        self.tools = tools or ContextTools(context)
        if self.tools.context is not context:
            raise ValueError("tools must be bound to the same WorkingContext as the agent")
        self.specs = ContextTools.specs(tool_names)
        self.tool_names = [s.name for s in self.specs]
        self.max_tool_calls = max_tool_calls
        self.max_tokens = max_tokens
        self.system_prompt = build_system_prompt(
            self.specs, max_tool_calls, system_prompt or SYSTEM_PROMPT
        )
        self.result_formatter = result_formatter

    # -- one step ------------------------------------------------------------

    def _prompt(self, turn: AgentTurn) -> list[dict[str, str]]:
        messages, turn.final_prompt_tokens, turn.final_context_tokens = _prompt_tokens(
            self.context, self.system_prompt
        )
        turn.original_context_tokens = self.context.original_tokens()
        turn.final_prompt = messages
        return messages

    def _options(self, tools_allowed: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"max_tokens": self.max_tokens}
        if tools_allowed:
            options["stop"] = [TOOL_CALL_CLOSE]
        return options

    def _handle(self, reply: str, turn: AgentTurn, tools_allowed: bool) -> bool:
        """Act on one reply; True when it is the final answer."""
        if not tools_allowed or TOOL_CALL_OPEN not in reply:
            turn.answer = strip_tool_calls(reply)
            self.context.append("assistant", turn.answer)
            return True
        if reply.count(TOOL_CALL_OPEN) > reply.count(TOOL_CALL_CLOSE):
            reply = reply.rstrip() + TOOL_CALL_CLOSE  # generation stopped at the stop string
        calls, errors = parse_tool_calls(reply)
        self.context.append("assistant", reply.strip(), metadata={"agent": "tool_call"})
        results: list[ToolCallRecord] = []
        for error in errors:
            results.append(ToolCallRecord("?", {}, {"ok": False, "error": error}))
        for call in calls:
            if len(turn.tool_calls) + len(results) >= self.max_tool_calls:
                break
            if call.name not in self.tool_names:
                result: Mapping[str, Any] = {
                    "ok": False,
                    "tool": call.name,
                    "error": f"unknown tool {call.name!r}; available: {', '.join(self.tool_names)}",
                }
            else:
                result = self.tools.call(call.name, call.arguments)
            results.append(ToolCallRecord(call.name, call.arguments, result))
        for record in results:
            logger.debug("tool call %s(%s) -> ok=%s", record.name, record.arguments, record.ok)
            turn.tool_calls.append(record)
            self.context.append(
                "tool", self.result_formatter(record.result), metadata={"agent": "tool_result"}
            )
        return False

    def _cap_reached(self, turn: AgentTurn) -> bool:
        if self.max_tool_calls == 0:
            return True  # no tools at all: nothing to announce
        if len(turn.tool_calls) >= self.max_tool_calls:
            if not turn.hit_cap:
                turn.hit_cap = True
                self.context.append(
                    "user", CAP_NOTICE.format(cap=self.max_tool_calls), metadata={"agent": "notice"}
                )
            return True
        return False

    # -- the turn, step by step ---------------------------------------------------

    def begin(self, question: str) -> AgentTurn:
        """Start a turn: append ``question``; drive it with [`next_request`][ctx_core.context.agent.ActiveContextAgent.next_request] and [`feed`][ctx_core.context.agent.ActiveContextAgent.feed]."""
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        self.context.append("user", question)
        turn = AgentTurn(question=question)
        turn.seconds = -time.perf_counter()
        return turn

    def next_request(self, turn: AgentTurn) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """The prompt for the model's next reply and the ``complete`` options to use."""
        tools_allowed = not self._cap_reached(turn)
        return self._prompt(turn), self._options(tools_allowed)

    def feed(self, turn: AgentTurn, reply: str) -> bool:
        """Act on the model's reply to [`next_request`][ctx_core.context.agent.ActiveContextAgent.next_request]; True when the turn is over."""
        turn.llm_calls += 1
        tools_allowed = not turn.hit_cap and self.max_tool_calls > 0
        done = self._handle(reply, turn, tools_allowed)
        if done:
            turn.seconds += time.perf_counter()
        return done

    def run(self, question: str) -> AgentTurn:
        """Answer ``question``, calling tools as the model asks (at most ``max_tool_calls``)."""
        turn = self.begin(question)
        while True:
            prompt, options = self.next_request(turn)
            if self.feed(turn, self.llm.complete(prompt, **options)):
                return turn

    async def arun(self, question: str) -> AgentTurn:
        """Async twin of [`run`][ctx_core.context.agent.ActiveContextAgent.run] (``acomplete`` on the LLM; tools run in a thread)."""
        turn = self.begin(question)
        while True:
            prompt, options = self.next_request(turn)
            reply = await self.llm.acomplete(prompt, **options)
            if await asyncio.to_thread(self.feed, turn, reply):
                return turn


def run_agents(
    llm: LLM, agents: Sequence[ActiveContextAgent], questions: Sequence[str]
) -> list[AgentTurn]:
    """Run several agents, one question each, batching their model calls.

    At every step the pending prompts of all unfinished agents go to
    ``llm.complete_batch`` together (grouped by generation options), when the LLM has
    it (e.g. [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM]); otherwise one by one. The
    results equal running each agent alone.
    """
    if len(agents) != len(questions):
        raise ValueError(f"{len(agents)} agents but {len(questions)} questions")
    turns = [agent.begin(q) for agent, q in zip(agents, questions, strict=True)]
    active = list(range(len(agents)))
    batch = getattr(llm, "complete_batch", None)
    while active:
        requests = {i: agents[i].next_request(turns[i]) for i in active}
        groups: dict[str, list[int]] = {}
        for i, (_, options) in requests.items():
            groups.setdefault(json.dumps(options, sort_keys=True), []).append(i)
        replies: dict[int, str] = {}
        for key, members in groups.items():
            options = json.loads(key)
            prompts = [requests[i][0] for i in members]
            if batch is not None:
                outputs = batch(prompts, **options)
            else:
                outputs = [llm.complete(p, **options) for p in prompts]
            replies.update(zip(members, outputs, strict=True))
        active = [i for i in active if not agents[i].feed(turns[i], replies[i])]
        logger.info("run_agents: %d of %d agents still calling tools", len(active), len(agents))
    return turns
