"""Keep a working context under a token budget by folding (or summarizing) its older parts.

`ContextBudget` is the automatic counterpart of an agent folding its own
context: when the rendered context grows past ``max_tokens``, the messages before
the protected tail (by default the current turn: the latest user message and
everything after it) are cut into fragments of about ``window_tokens`` tokens, and
the oldest fragments are folded (or summarized) until the context fits. It acts
only through the context tools (`ctx_core.context.ContextTools`), so each
step is an ordinary, undoable operation, and every folded character stays in the
context: ``restore_fragment`` shows it again byte for byte (and the budget leaves
a restored fragment shown), ``search_context`` finds it while folded.

Framework adapters call `ContextBudget.apply` before each model call (the
LangChain agent middleware, the LlamaIndex memory).

Examples:
    >>> from ctx_core.context import ContextTools, WorkingContext
    >>> from ctx_core.context.budget import ContextBudget
    >>> log = " ".join(f"event {i}: ok;" for i in range(400))
    >>> ctx = WorkingContext([("user", log), ("assistant", "Noted."), ("user", "Any errors?")])
    >>> records = ContextBudget(max_tokens=300, window_tokens=100).apply(ContextTools(ctx))
    >>> [r.name for r in records]
    ['fragment_context', 'fold_fragment']
    >>> ctx.render().total_tokens <= 300 < ctx.original_tokens()
    True
    >>> ctx.render().messages[2]["content"]  # the current turn is never folded
    'Any errors?'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ctx_core.context.agent import ToolCallRecord
from ctx_core.context.fragments import FragmentState
from ctx_core.context.tools import ContextTools
from ctx_core.context.working import RenderedContext, WorkingContext

__all__ = ["MODES", "ContextBudget", "ContextRead"]

logger = logging.getLogger(__name__)

MODES = ("fold", "summarize")


@dataclass(frozen=True)
class ContextRead:
    """What a model was given at one call, in tokens, with and without the folding.

    Attributes:
        messages: Messages given (a system prompt the framework adds not included).
        context_tokens: Tokens of those messages as rendered (folded spans as markers).
        original_tokens: Tokens of the same messages unfolded.
        system_tokens: Tokens of the system prompt (0 without one).
        fragments: Fragments in the working context at that call.
        folded: Of those, how many were folded or summarized.
        budget_calls: Tool calls the budget made just before this call.
    """

    messages: int
    context_tokens: int
    original_tokens: int
    system_tokens: int = 0
    fragments: int = 0
    folded: int = 0
    budget_calls: int = 0

    @property
    def tokens_read(self) -> int:
        """Tokens the model read: system prompt plus (rendered) messages."""
        return self.system_tokens + self.context_tokens

    @property
    def tokens_without(self) -> int:
        """Tokens it would have read with nothing folded."""
        return self.system_tokens + self.original_tokens

    @classmethod
    def of(
        cls,
        context: WorkingContext,
        rendered: RenderedContext,
        *,
        system: str = "",
        budget_calls: int = 0,
    ) -> ContextRead:
        """The record of a model call given ``rendered`` (a render of ``context``)."""
        fragments = context.fragments
        return cls(
            messages=len(rendered.messages),
            context_tokens=rendered.total_tokens,
            original_tokens=rendered.original_total_tokens,
            system_tokens=context.counter.count(system) if system else 0,
            fragments=len(fragments),
            folded=sum(f.state is not FragmentState.SHOWN for f in fragments),
            budget_calls=budget_calls,
        )


def _unfragmented(context: WorkingContext, index: int) -> str:
    """The text of message ``index`` that no fragment covers yet."""
    text = context.messages[index].text
    covered = sorted(
        (f.start[1] if f.start[0] == index else 0, f.end[1] if f.end[0] == index else len(text))
        for f in context.fragments
        if f.start[0] <= index <= f.end[0]
    )
    parts, cursor = [], 0
    for start, end in covered:
        parts.append(text[cursor:start])
        cursor = max(cursor, end)
    parts.append(text[cursor:])
    return "".join(parts)


@dataclass(frozen=True)
class ContextBudget:
    """Fold (or summarize) the oldest parts of a context once it exceeds a token budget.

    Attributes:
        max_tokens: Act when the rendered context has more tokens than this.
        target_tokens: Fold until the rendered context has at most this many tokens
            (default: ``max_tokens``).
        window_tokens: Size of the fragments cut from long messages.
        keep_current_turn: Never touch the latest user message nor anything after it
            (the question being answered and this turn's tool traffic).
        keep_last: Also never touch the last ``keep_last`` messages.
        keep_system: Never touch system messages.
        mode: ``"fold"`` (a one-line marker stands in) or ``"summarize"`` (an LLM-written
            summary stands in; the tools must have an ``llm``).
        focus: For ``"summarize"``: what every summary must keep.
    """

    max_tokens: int = 4000
    target_tokens: int | None = None
    window_tokens: int = 200
    keep_current_turn: bool = True
    keep_last: int = 0
    keep_system: bool = True
    mode: str = "fold"
    focus: str = ""

    def __post_init__(self) -> None:
        for name in ("max_tokens", "window_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        target = self.target_tokens
        if target is not None and (
            isinstance(target, bool) or not isinstance(target, int) or not target >= 0
        ):
            raise ValueError(f"target_tokens must be an integer >= 0, got {target!r}")
        if target is not None and target > self.max_tokens:
            raise ValueError(
                f"target_tokens ({target}) must not exceed max_tokens ({self.max_tokens})"
            )
        keep = self.keep_last
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep_last must be an integer >= 0, got {keep!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {self.mode!r}")

    @property
    def target(self) -> int:
        """The size folding stops at."""
        return self.max_tokens if self.target_tokens is None else self.target_tokens

    def protected_from(self, tools: ContextTools) -> int:
        """Index of the first message that is never folded (``len(context)`` if none is)."""
        messages = tools.context.messages
        start = len(messages) - self.keep_last
        if self.keep_current_turn:
            users = [
                i for i, m in enumerate(messages) if m.role == "user" and not m.is_tool_traffic
            ]
            if users:
                start = min(start, users[-1])
        return max(start, 0)

    def apply(self, tools: ContextTools) -> list[ToolCallRecord]:
        """Fold or summarize until the context fits; the tool calls made, in order.

        Does nothing (returns ``[]``) while the rendered context is within ``max_tokens``.
        Fragments that were restored (by the model, through ``restore_fragment``) are
        never folded again. When even folding every eligible fragment leaves the context
        above the target, it folds them all and logs it: the protected messages and the
        restored fragments alone are longer.
        """
        context = tools.context
        if context.render().total_tokens <= self.max_tokens:
            return []
        records: list[ToolCallRecord] = []

        def call(name: str, arguments: dict[str, Any]) -> ToolCallRecord:
            record = ToolCallRecord(name, arguments, tools.call(name, arguments))
            records.append(record)
            if not record.ok:
                logger.warning("context budget: %s failed: %s", name, record.result["error"])
            return record

        protected = self.protected_from(tools)
        for index in range(protected):
            message = context.messages[index]
            if self.keep_system and message.role == "system":
                continue
            if context.counter.count(message.text) <= self.window_tokens:
                continue  # short messages are not worth a marker of their own
            if _unfragmented(context, index).strip():
                call("fragment_context", {"window_tokens": self.window_tokens, "message": index})
        # a fragment someone restored stays shown: the model asked for it back
        restored = {i for op in context.history if op.kind == "restore" for i in op.fragment_ids}
        shown = [
            f
            for f in context.fragments
            if f.state is FragmentState.SHOWN
            and f.id not in restored
            and f.end[0] < protected
            and not (self.keep_system and context.messages[f.start[0]].role == "system")
        ]
        excess = context.render().total_tokens - self.target
        while excess > 0 and shown:
            batch, freed = [], 0
            while shown and freed < excess:
                frag = shown.pop(0)  # oldest first
                batch.append(frag.id)
                # a marker costs about 15 tokens; count only what folding frees
                freed += max(context.fragment_tokens(frag.id) - 15, 1)
            if self.mode == "summarize":
                arguments: dict[str, Any] = {"fragment_id": ",".join(batch)}
                if self.focus:
                    arguments["focus"] = self.focus
                if not call("summarize_fragment", arguments).ok:
                    break
            elif not call("fold_fragment", {"fragment_id": ",".join(batch)}).ok:
                break
            excess = context.render().total_tokens - self.target
        if excess > 0:
            logger.info(
                "context budget: %d tokens over the target of %d after folding every eligible "
                "fragment (the protected messages and restored fragments alone are longer)",
                excess,
                self.target,
            )
        return records
