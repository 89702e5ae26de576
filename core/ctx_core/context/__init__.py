"""Active context management: a working context of fragments and the tools to manage it.

After "Sculptor: Empowering LLMs with Cognitive Agency via Active Context Management"
(2025). The conversation is kept byte for byte in a [`WorkingContext`][ctx_core.context.working.WorkingContext]; spans
of it become fragments that can be folded, summarized, restored and searched,
through tools an LLM calls ([`ContextTools`][ctx_core.context.tools.ContextTools]), in a loop
([`ActiveContextAgent`][ctx_core.context.agent.ActiveContextAgent]) or by a fixed script ([`ScriptedPolicy`][ctx_core.context.policy.ScriptedPolicy]), or
automatically under a token budget ([`ContextBudget`][ctx_core.context.budget.ContextBudget]).

Examples:
    >>> from ctx_core.context import ContextTools, WorkingContext
    >>> ctx = WorkingContext([("user", "alpha: 1; beta: 2; alpha: 3")])
    >>> tools = ContextTools(ctx)
    >>> tools.search_context("alpha:", newest_first=True, max_results=1)["hits"][0]["start"]
    19
"""

from ctx_core.context.agent import ActiveContextAgent, AgentTurn
from ctx_core.context.budget import ContextBudget
from ctx_core.context.fragments import ContextMessage, Fragment, FragmentState
from ctx_core.context.policy import ScriptedPolicy
from ctx_core.context.tools import TOOL_NAMES, ContextTools, ToolSpec
from ctx_core.context.working import RenderedContext, WorkingContext

__all__ = [
    "TOOL_NAMES",
    "ActiveContextAgent",
    "AgentTurn",
    "ContextBudget",
    "ContextMessage",
    "ContextTools",
    "Fragment",
    "FragmentState",
    "RenderedContext",
    "ScriptedPolicy",
    "ToolSpec",
    "WorkingContext",
]
